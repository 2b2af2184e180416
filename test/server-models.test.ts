// A server of several models: a model repository folder (one folder per model, as `vitorch train` leaves them) and
// `models` by name; each model answers with its own network (its logits equal a direct forward pass of the same
// folder's weights), Triton's statistics count exactly the requests sent, and the repository routes load, reload
// and unload one model while the other keeps answering.
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { createServer, defaultModelDir, loadClassifier, manualSeed, tensor, VisionTransformer } from '../lib';
import { PARITY_TOLERANCE, relativeMaxError } from './fixtures';
import { inferBinary, inferJson, jsonBody, request, RunningServer, seededFloats, startServer } from './server-fixtures';

// A second model unlike the embedded one: RGB 16x16 input, 3 classes.
const SMALL = {
  model: { inputShape: [16, 16], patchSize: 8, inChans: 3, numClasses: 3, numFeatures: 32, depth: 1, numHeads: 2 },
  classes: ['red', 'green', 'blue'],
};
const SMALL_SAMPLE = 3 * 16 * 16;
const FASHION_SAMPLE = 28 * 28;

let root: string;
let repository: string;

/** A model folder of SMALL with weights seeded by `seed`, written as `files` (all the same weights but the first). */
async function writeSmallModel(dir: string, seed: number, files = ['weights.pth']): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(SMALL));
  for (const [i, file] of files.entries()) {
    manualSeed(seed + i);
    using model = new VisionTransformer(SMALL.model);
    await model.saveStateDictAsync(path.join(dir, file));
  }
}

/** Logits of `input` by the model in `dir`, loaded directly (the oracle for what the server answers). */
async function directLogits(config: string, weights: string, input: Float32Array, shape: number[]) {
  const classifier = await loadClassifier(config, weights);
  try {
    using x = tensor(input, shape);
    using y = await classifier.model.forwardAsync(x);
    return y.toFloat32Array();
  } finally {
    classifier.model.dispose();
  }
}

function logitsOf(answer: { json(): { outputs: { data: number[] }[] } }): Float32Array {
  return Float32Array.from(answer.json().outputs[0].data);
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-models-'));
  repository = path.join(root, 'repository');
  const fashion = path.join(repository, 'fashion');
  fs.mkdirSync(fashion, { recursive: true });
  for (const file of ['config.json', 'weights.pth']) {
    fs.copyFileSync(path.join(defaultModelDir(), file), path.join(fashion, file));
  }
  // As `vitorch train` leaves a save folder: the best weights served, the others ignored.
  await writeSmallModel(path.join(repository, 'small'), 7, ['best_epoch_weights.pth', 'last_epoch_weights.pth']);
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('a model repository', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ modelRepository: repository, maxBatch: 4, maxDelayMs: 0 });
  });
  afterAll(() => server.close());

  test('each folder is a model named by the folder, answering with its own weights', async () => {
    const index = await request(`${server.url}/v2/repository/index`, { method: 'POST' });
    expect(index.status).toBe(200);
    expect(index.json()).toEqual([
      { name: 'fashion', version: '1', state: 'READY', reason: '' },
      { name: 'small', version: '1', state: 'READY', reason: '' },
    ]);
    const small = seededFloats(2 * SMALL_SAMPLE, 1);
    const answer = await request(`${server.url}/v2/models/small/infer`, { body: inferJson(small, [2, 3, 16, 16]) });
    expect(answer.status).toBe(200);
    const expected = await directLogits(
      path.join(repository, 'small', 'config.json'),
      path.join(repository, 'small', 'best_epoch_weights.pth'),
      small,
      [2, 3, 16, 16],
    );
    expect(relativeMaxError(logitsOf(answer), expected)).toBeLessThan(PARITY_TOLERANCE);

    const image = seededFloats(FASHION_SAMPLE, 2);
    const fashion = await request(`${server.url}/v2/models/fashion/infer`, { body: inferJson(image, [1, 1, 28, 28]) });
    expect(fashion.status).toBe(200);
    expect(fashion.json().outputs[0].shape).toEqual([1, 10]);
    // A model's input shape is its own: the fashion model's image does not fit the small model.
    const wrong = await request(`${server.url}/v2/models/small/infer`, { body: inferJson(image, [1, 1, 28, 28]) });
    expect(wrong.status).toBe(400);
    expect(wrong.json().error).toMatch(/expected shape \[-1, 3, 16, 16\]/);
    const metadata = await request(`${server.url}/v2/models/small`);
    expect(metadata.json().inputs[0].shape).toEqual([-1, 3, 16, 16]);
    const unknown = await request(`${server.url}/v2/models/nope/infer`, { body: inferJson(small, [2, 3, 16, 16]) });
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toMatch(/unknown model 'nope': this server serves 'fashion', 'small'/);
  });

  test('/v1/classify takes ?model=, the first model by default', async () => {
    const png = fs.readFileSync(
      path.join(defaultModelDir(), 'images', fs.readdirSync(path.join(defaultModelDir(), 'images'))[0]),
    );
    const fashion = await request(`${server.url}/v1/classify?k=2`, { body: png });
    expect(fashion.status).toBe(200);
    expect(fashion.json().model_name).toBe('fashion');
    const small = await request(`${server.url}/v1/classify?model=small&k=3`, { body: png });
    expect(small.status).toBe(200);
    expect(small.json().model_name).toBe('small');
    expect(
      small
        .json()
        .top.map((t: { label: string }) => t.label)
        .sort(),
    ).toEqual(['blue', 'green', 'red']);
  });

  test("statistics count exactly the requests sent, in Triton's format", async () => {
    const before = (await request(`${server.url}/v2/models/small/stats`)).json().model_stats[0];
    const sizes = [1, 2, 1, 3, 2];
    const answers = await Promise.all(
      sizes.map((n, i) => {
        const { body, headers } = inferBinary(seededFloats(n * SMALL_SAMPLE, 10 + i), [n, 3, 16, 16]);
        return request(`${server.url}/v2/models/small/versions/1/infer`, { body, headers });
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(sizes.map(() => 200));
    const bad = await request(`${server.url}/v2/models/small/infer`, { body: jsonBody({ inputs: [] }) });
    expect(bad.status).toBe(400);

    const stats = await request(`${server.url}/v2/models/small/versions/1/stats`);
    expect(stats.status).toBe(200);
    const after = stats.json().model_stats[0];
    expect(after.name).toBe('small');
    expect(after.version).toBe('1');
    const delta = (key: string) => after.inference_stats[key].count - before.inference_stats[key].count;
    expect(after.inference_count - before.inference_count).toBe(9);
    expect(delta('success')).toBe(5);
    expect(delta('fail')).toBe(1);
    for (const key of ['queue', 'compute_input', 'compute_infer', 'compute_output']) expect(delta(key)).toBe(5);
    const executions = after.execution_count - before.execution_count;
    // Five concurrent requests of 9 samples with at most 4 per batch: at least 3 forward passes, at most 5.
    expect(executions).toBeGreaterThanOrEqual(3);
    expect(executions).toBeLessThanOrEqual(5);
    // Every nanosecond figure grew, and a request's parts fit inside its whole time.
    const ns = (key: string) => after.inference_stats[key].ns - before.inference_stats[key].ns;
    expect(ns('success')).toBeGreaterThan(0);
    expect(ns('queue') + ns('compute_input') + ns('compute_output')).toBeLessThan(ns('success'));
    expect(after.last_inference).toBeGreaterThan(Date.now() - 60_000);
    expect(after.last_inference).toBeLessThanOrEqual(Date.now());
    expect(
      after.batch_stats.reduce((s: number, b: { compute_infer: { count: number } }) => s + b.compute_infer.count, 0),
    ).toBe(after.execution_count);

    const all = (await request(`${server.url}/v2/models/stats`)).json();
    expect(all.model_stats.map((m: { name: string }) => m.name)).toEqual(['fashion', 'small']);
    expect((await request(`${server.url}/v2/models/nope/stats`)).status).toBe(404);
    expect((await request(`${server.url}/v2`)).json().extensions).toEqual(
      expect.arrayContaining(['statistics', 'model_repository']),
    );
  });

  test('unload and load one model while the other keeps answering', async () => {
    let stop = false;
    const statuses: number[] = [];
    const image = seededFloats(FASHION_SAMPLE, 3);
    const traffic = (async () => {
      while (!stop) {
        const answer = await request(`${server.url}/v2/models/fashion/infer`, {
          body: inferJson(image, [1, 1, 28, 28]),
        });
        statuses.push(answer.status);
      }
    })();
    try {
      const unload = await request(`${server.url}/v2/repository/models/small/unload`, { method: 'POST' });
      expect(unload.status).toBe(200);
      const index = (await request(`${server.url}/v2/repository/index`, { method: 'POST' })).json();
      expect(index).toContainEqual({ name: 'small', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' });
      const ready = await request(`${server.url}/v2/repository/index`, {
        method: 'POST',
        body: jsonBody({ ready: true }),
      });
      expect(ready.json().map((m: { name: string }) => m.name)).toEqual(['fashion']);
      expect((await request(`${server.url}/v2/models/small/ready`)).status).toBe(400);
      const gone = await request(`${server.url}/v2/models/small/infer`, {
        body: inferJson(seededFloats(SMALL_SAMPLE, 4), [1, 3, 16, 16]),
      });
      expect(gone.status).toBe(404);
      expect(gone.json().error).toMatch(
        /model 'small' is not loaded \(unloaded\); POST \/v2\/repository\/models\/small\/load/,
      );
      // Statistics of an unloaded model stay readable.
      expect((await request(`${server.url}/v2/models/small/stats`)).status).toBe(200);

      const load = await request(`${server.url}/v2/repository/models/small/load`, { method: 'POST' });
      expect(load.status).toBe(200);
      expect((await request(`${server.url}/v2/models/small/ready`)).status).toBe(200);
      const back = await request(`${server.url}/v2/models/small/infer`, {
        body: inferJson(seededFloats(SMALL_SAMPLE, 4), [1, 3, 16, 16]),
      });
      expect(back.status).toBe(200);
      // A reload of the model under traffic: the old copy answers until the new one is ready.
      expect((await request(`${server.url}/v2/repository/models/fashion/load`, { method: 'POST' })).status).toBe(200);
    } finally {
      stop = true;
      await traffic;
    }
    expect(statuses.length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200)).toBe(true);
  });

  test('a folder added at run time is listed and loads; a broken one is refused with its reason', async () => {
    await writeSmallModel(path.join(repository, 'late'), 11);
    const broken = path.join(repository, 'broken');
    fs.mkdirSync(broken);
    fs.writeFileSync(path.join(broken, 'config.json'), JSON.stringify(SMALL));
    fs.copyFileSync(path.join(defaultModelDir(), 'weights.pth'), path.join(broken, 'weights.pth'));
    try {
      const index = (await request(`${server.url}/v2/repository/index`, { method: 'POST' })).json();
      expect(index).toContainEqual({ name: 'late', version: '1', state: 'UNAVAILABLE', reason: '' });
      expect((await request(`${server.url}/v2/repository/models/late/load`, { method: 'POST' })).status).toBe(200);
      const answer = await request(`${server.url}/v2/models/late/infer`, {
        body: inferJson(seededFloats(SMALL_SAMPLE, 5), [1, 3, 16, 16]),
      });
      expect(answer.status).toBe(200);

      const refused = await request(`${server.url}/v2/repository/models/broken/load`, { method: 'POST' });
      expect(refused.status).toBe(400);
      expect(refused.json().error).toMatch(/cannot load model 'broken': .*weights\.pth: not the weights of the model/);
      const after = (await request(`${server.url}/v2/repository/index`, { method: 'POST' })).json();
      const entry = after.find((m: { name: string }) => m.name === 'broken');
      expect(entry.state).toBe('UNAVAILABLE');
      expect(entry.reason).toMatch(/not the weights of the model/);
      const parameters = await request(`${server.url}/v2/repository/models/late/load`, {
        body: jsonBody({ parameters: { config: '{}' } }),
      });
      expect(parameters.status).toBe(400);
      expect(parameters.json().error).toMatch(/unsupported load parameter 'config'/);
      const missing = await request(`${server.url}/v2/repository/models/absent/load`, { method: 'POST' });
      expect(missing.status).toBe(404);
    } finally {
      await request(`${server.url}/v2/repository/models/late/unload`, { method: 'POST' });
    }
  });
});

test('models by name; a folder that is not a model is refused at startup with what it holds', async () => {
  // A folder of links to the files, as mounted volumes have them.
  const linked = path.join(root, 'linked');
  fs.mkdirSync(linked, { recursive: true });
  for (const file of ['config.json', 'weights.pth']) {
    fs.symlinkSync(path.join(repository, 'fashion', file), path.join(linked, file));
  }
  const server = await startServer({
    models: { a: path.join(repository, 'small'), b: linked },
    maxDelayMs: 0,
  });
  try {
    const index = (await request(`${server.url}/v2/repository/index`, { method: 'POST' })).json();
    expect(index.map((m: { name: string; state: string }) => `${m.name}:${m.state}`)).toEqual(['a:READY', 'b:READY']);
  } finally {
    await server.close();
  }

  const empty = path.join(root, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  const app = createServer({ logger: false, models: { x: empty } });
  try {
    await expect(app.vitorch.whenReady()).rejects.toThrow(/model 'x' failed to load: .*empty: no config\.json/);
  } finally {
    await app.close();
  }
  expect(() => createServer({ logger: false, models: { 'a b': empty } })).toThrow(
    /expected model names of 1 to 64 letters, digits, _ \. or - for models, received the string 'a b'/,
  );
  expect(() => createServer({ logger: false, models: {}, weights: 'w.pth' })).toThrow(/not both/);
});

describe('vitorch serve with several models', () => {
  const CLI = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'vitorch.js');
  /** Runs the command until it says it is ready (then stops it) or exits; its exit code and stderr. */
  function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--grpc-port', '0', ...args], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr += chunk;
        if (/ready: model 'b'/.test(stderr)) child.kill('SIGTERM');
      });
      child.on('close', (code) => resolve({ code, stderr }));
    });
  }

  test('--model NAME=DIR, repeated: one ready line per model; bad flags exit 2, a bad folder 1', async () => {
    const served = await run([
      '--model',
      `a=${path.join(repository, 'small')}`,
      '--model',
      `b=${path.join(repository, 'fashion')}`,
    ]);
    expect(served.stderr).toMatch(
      /ready: model 'a' from .*best_epoch_weights\.pth; input FP32 \[-1, 3, 16, 16\], 3 classes/,
    );
    expect(served.stderr).toMatch(/ready: model 'b' from .*weights\.pth; input FP32 \[-1, 1, 28, 28\], 10 classes/);
    expect(served.code).toBe(0);

    const noName = await run(['--model', path.join(repository, 'small')]);
    expect(noName.code).toBe(2);
    expect(noName.stderr).toMatch(/expected NAME=DIR for --model, received '.*small'/);
    const twice = await run(['--model', `a=${repository}`, '--model', `a=${repository}`]);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/--model a is given twice/);
    const both = await run(['--model-repository', repository, '--weights', 'w.pth']);
    expect(both.code).toBe(2);
    const missing = await run(['--model-repository', path.join(root, 'nowhere')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/nowhere: cannot read the model repository: ENOENT/);
  });
});

test('requests naming made-up models share one metrics label instead of growing the metrics', async () => {
  const server = await startServer({ models: { known: path.join(repository, 'small') }, maxDelayMs: 0 });
  try {
    for (let i = 0; i < 5; i++) {
      expect((await request(`${server.url}/v2/models/made-up-${i}/infer`, { body: jsonBody({}) })).status).toBe(404);
    }
    const text = (await request(`${server.url}/metrics`)).body.toString('utf8');
    expect(text).not.toMatch(/made-up/);
    expect(text).toMatch(/vitorch_requests_total\{model="",route="\/v2\/models\/:name\/infer",outcome="not_found"\} 5/);
  } finally {
    await server.close();
  }
});
