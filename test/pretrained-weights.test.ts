// `--weights` without `--config` everywhere reads what loadPretrained reads (issue 20): predict and eval on a
// transformers folder give transformers' own numbers (tools/make_pretrained_fixtures.py: its ViTImageProcessor's
// preparation of a PNG and the classifier's logits on it), serve answers with them under --weights and --model, and
// train fine-tunes from the folder's mapped weights. Bad cases: a folder of no family, a model without a head, the
// pretrained flags beside --config, and --config with a transformers folder (strict as ever: refused by name).
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { loadCheckpoint, loadPretrained } from '../lib';
import { vitorch } from './cli-fixtures';
import { FIXTURES } from './fixtures';
import { inferBinary, request, startServer } from './server-fixtures';
import { CLI } from './train-cli-fixtures';

// transformers' logits against vitorch's through the whole path (PNG decode, normalisation, forward): measured
// 4e-8; the library's own bound for loadPretrained's logits (test/pretrained.test.ts) applies.
const TOLERANCE = 1e-4;

const DIR = path.join(FIXTURES, 'pretrained');
const HF = path.join(DIR, 'hf-classifier');
const IMAGE = path.join(DIR, 'image.png');
const fixtures = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as {
  inputShape: number[];
  classes: string[];
};

function readFloat32(file: string): Float32Array {
  const bytes = fs.readFileSync(path.join(DIR, file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function softmax(logits: Float32Array): number[] {
  const max = Math.max(...logits);
  const e = Array.from(logits, (x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

function maxDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

let work: string;
beforeAll(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-pretrained-weights-'));
});
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
});

describe('predict and eval without --config', () => {
  test("predict on a transformers folder: transformers' own probabilities, its id2label and preprocessing", () => {
    const run = vitorch(['predict', '--weights', HF, IMAGE, '--json']);
    expect(run.status).toBe(0);
    const [prediction] = JSON.parse(run.stdout) as {
      top: { label: string; index: number; probability: number }[];
    }[];
    const probabilities = softmax(readFloat32('hf-classifier-image.f32'));
    const order = probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]);
    expect(prediction.top.map((t) => t.index)).toEqual(order.map(([, i]) => i));
    expect(prediction.top.map((t) => t.label)).toEqual(order.map(([, i]) => fixtures.classes[i]));
    expect(
      maxDifference(
        prediction.top.map((t) => t.probability),
        order.map(([p]) => p),
      ),
    ).toBeLessThanOrEqual(TOLERANCE);
    // The notes say where the model, classes and preprocessing came from, on stderr.
    expect(run.stderr).toMatch(/^vitorch predict: note: a Hugging Face transformers ViT/m);
    expect(run.stderr).toMatch(/note: preprocess: mean \[0\.5, 0\.4, 0\.3\] and std \[0\.2, 0\.25, 0\.3\] from/);
  });

  test("without preprocessor_config.json the article's ImageNet preprocessing, said so", () => {
    const run = vitorch(['predict', '--weights', path.join(DIR, 'hf-classifier-bin'), IMAGE, '--top', '2']);
    expect(run.status).toBe(0);
    expect(run.stdout.split('\n')).toHaveLength(4);
    expect(run.stderr).toMatch(/note: preprocess: the article's \(ImageNet mean and std\)/);
  });

  test('eval on a transformers folder: its classes name the data, its preprocessing prepares it', () => {
    // One image in the folder of the class transformers gives it.
    const probabilities = softmax(readFloat32('hf-classifier-image.f32'));
    const top = fixtures.classes[probabilities.indexOf(Math.max(...probabilities))];
    const root = path.join(work, 'val');
    for (const name of fixtures.classes) fs.mkdirSync(path.join(root, name), { recursive: true });
    fs.copyFileSync(IMAGE, path.join(root, top, 'image.png'));
    const out = path.join(work, 'eval');
    const run = vitorch([
      'eval',
      '--weights',
      HF,
      '--data.val.format',
      'folder',
      '--data.val.root',
      root,
      '--out',
      out,
      '--json',
    ]);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ config: null, count: 1, top1: 1, classes: fixtures.classes });
    expect(fs.existsSync(path.join(out, 'confusion.csv'))).toBe(true);
    const noData = vitorch(['eval', '--weights', HF]);
    expect(noData.status).toBe(1);
    expect(noData.stderr).toMatch(/no data\.val to evaluate: without --config give it with --data\.val\.format/);
  });

  test('bad cases: no family, no head, flags beside --config, --config with a transformers folder', () => {
    const empty = path.join(work, 'empty');
    fs.mkdirSync(empty);
    const neither = vitorch(['predict', '--weights', empty, IMAGE]);
    expect(neither.status).toBe(1);
    expect(neither.stderr).toMatch(/a folder without config\.json; expected a transformers folder or a vitorch model/);
    const deit = path.join(work, 'deit');
    fs.mkdirSync(deit);
    fs.writeFileSync(path.join(deit, 'config.json'), JSON.stringify({ model_type: 'deit' }));
    expect(vitorch(['predict', '--weights', deit, IMAGE]).stderr).toMatch(/DeiT's distillation token/);
    const headless = vitorch(['predict', '--weights', path.join(DIR, 'hf-model'), IMAGE]);
    expect(headless.status).toBe(1);
    expect(headless.stderr).toMatch(/without a classifier head .* gives features, not classes/);
    const config = path.join(work, 'converted');
    expect(vitorch(['convert', HF, config]).status).toBe(0);
    const flags = vitorch([
      'predict',
      '--weights',
      HF,
      '--config',
      path.join(config, 'config.json'),
      '--num-heads',
      '3',
      IMAGE,
    ]);
    expect(flags.status).toBe(2);
    expect(flags.stderr).toMatch(/--num-heads describe a checkpoint read without --config/);
    // --config keeps loadClassifier's strict reading of one weights file: a folder is not one, and says so.
    const strict = vitorch(['predict', '--weights', HF, '--config', path.join(config, 'config.json'), IMAGE]);
    expect(strict.status).toBe(1);
    expect(strict.stderr).toContain(HF);
  });
});

describe('serve', () => {
  test("--weights on a transformers folder answers V2 infer with transformers' logits", async () => {
    const served = await startServer({ weights: HF });
    try {
      const metadata = (await request(`${served.url}/v2/models/vit`)).json();
      expect(metadata.outputs[0].shape).toEqual([-1, fixtures.classes.length]);
      const answer = await request(
        `${served.url}/v2/models/vit/infer`,
        inferBinary(readFloat32('input.f32'), fixtures.inputShape),
      );
      expect(answer.status).toBe(200);
      const logits = answer.json().outputs[0].data as number[];
      expect(maxDifference(logits, readFloat32('hf-classifier.f32'))).toBeLessThanOrEqual(TOLERANCE);
      const model = served.app.vitorch.serving('vit').model;
      expect(model.classes).toEqual(fixtures.classes);
      expect(model.notes[0]).toMatch(/^a Hugging Face transformers ViT/);
    } finally {
      await served.close();
    }
  });

  test('--model NAME=<transformers folder> serves beside a vitorch folder; a folder of no family does not', async () => {
    const converted = path.join(work, 'served-converted');
    expect(vitorch(['convert', path.join(DIR, 'timm-vit.pth'), converted, '--activation', 'gelu']).status).toBe(0);
    const served = await startServer({ models: { hf: HF, timm: converted } });
    try {
      const answer = await request(
        `${served.url}/v2/models/hf/infer`,
        inferBinary(readFloat32('input.f32'), fixtures.inputShape),
      );
      expect(maxDifference(answer.json().outputs[0].data, readFloat32('hf-classifier.f32'))).toBeLessThanOrEqual(
        TOLERANCE,
      );
      const timm = await request(
        `${served.url}/v2/models/timm/infer`,
        inferBinary(readFloat32('input.f32'), fixtures.inputShape),
      );
      expect(maxDifference(timm.json().outputs[0].data, readFloat32('timm-vit.f32'))).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      await served.close();
    }
    const deit = path.join(work, 'served-deit');
    fs.mkdirSync(deit);
    fs.writeFileSync(path.join(deit, 'config.json'), JSON.stringify({ model_type: 'deit' }));
    await expect(startServer({ models: { deit } })).rejects.toThrow(/model 'deit' failed to load: .*model_type "deit"/);
  });

  test('the CLI prints the notes once, after the ready line; the pretrained flags need --weights', async () => {
    const served = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--no-grpc', '--weights', HF], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        // The preprocessing note is the last of a transformers folder's.
        if (/note: preprocess: /.test(stderr)) child.kill('SIGTERM');
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(served.code).toBe(0);
    expect(served.stderr).toMatch(
      /ready: model 'vit' from .*hf-classifier \(transformers\); input FP32 \[-1, 3, 224, 224\], 5 classes.*\n(vitorch serve: note: .*\n)+/,
    );
    expect(served.stderr.match(/note: a Hugging Face transformers ViT/g)).toHaveLength(1);
    const usage = spawnSync(process.execPath, [CLI, 'serve', '--num-heads', '3'], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--num-heads, --activation, --layer-norm-eps describe --weights/);
  });
});

describe('train --weights from a transformers folder', () => {
  test('one step starts from the mapped weights, the head replaced, a GELU that differs warned of', async () => {
    // Two classes of two 224-pixel images each (the fixture's image): enough for one step of a batch of 4.
    const root = path.join(work, 'train-data');
    for (const name of ['a', 'b']) {
      fs.mkdirSync(path.join(root, name), { recursive: true });
      fs.copyFileSync(IMAGE, path.join(root, name, '1.png'));
      fs.copyFileSync(IMAGE, path.join(root, name, '2.png'));
    }
    const options = JSON.parse(fs.readFileSync(path.join(HF, 'config.json'), 'utf8'));
    const config = {
      // The transformers model's shapes and heads, another class count, and the article's GELU and eps.
      model: {
        inputShape: [224, 224],
        patchSize: options.patch_size,
        numFeatures: options.hidden_size,
        depth: options.num_hidden_layers,
        numHeads: options.num_attention_heads,
        numClasses: 2,
      },
      classes: ['a', 'b'],
      data: { train: { format: 'folder', root }, val: { format: 'folder', root } },
      augment: { horizontalFlip: false, randomResizedCrop: false },
      // A learning rate so small that the saved weights are the loaded ones to float32's precision.
      train: {
        epochs: 1,
        batchSize: 4,
        lr: 1e-12,
        minLr: 1e-12,
        lrScaling: 'none',
        optimizer: { kind: 'sgd' },
        schedule: { kind: 'constant' },
        threads: 1,
      },
    };
    const configFile = path.join(work, 'train.json');
    fs.writeFileSync(configFile, JSON.stringify(config));
    const saveDir = path.join(work, 'trained');
    const run = spawnSync(
      process.execPath,
      [CLI, 'train', '--config', configFile, '--save-dir', saveDir, '--weights', HF],
      {
        encoding: 'utf8',
      },
    );
    expect(run.stderr).toMatch(/vitorch train: done/);
    expect(run.status).toBe(0);
    expect(run.stderr).toMatch(/note: .*head/);
    expect(run.stderr).toMatch(
      /warning: .*hf-classifier was trained with activation "gelu", the config's model has "gelu-tanh"/,
    );
    expect(run.stderr).toMatch(/warning: .*layerNormEps 1e-12, the config's model has 0\.000001/);
    expect(run.stderr).not.toMatch(/warning: .*numHeads/);
    {
      const loaded = await loadPretrained(HF);
      const saved = loadCheckpoint(path.join(saveDir, 'last_epoch_weights.pth'));
      try {
        const start = loaded.model.stateDict();
        for (const key of ['blocks.1.attn.qkv.weight', 'pos_embed', 'norm.weight']) {
          expect(maxDifference(saved.get(key)!.toFloat32Array(), start.get(key)!.toFloat32Array())).toBeLessThan(1e-6);
        }
        expect(saved.get('head.weight')!.shape).toEqual([2, options.hidden_size]);
      } finally {
        saved.dispose();
        loaded.model.dispose();
      }
    }
  });

  test('a folder of no family is an error naming it', () => {
    const configFile = path.join(work, 'train.json');
    const empty = path.join(work, 'empty-train');
    fs.mkdirSync(empty);
    const run = spawnSync(
      process.execPath,
      [CLI, 'train', '--config', configFile, '--save-dir', path.join(work, 'never'), '--weights', empty],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^vitorch train: .*empty-train: a folder without config\.json/m);
  });
});
