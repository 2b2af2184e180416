// Data-parallel training on CUDA: the NCCL backend (PyTorch's "cpu:gloo,cuda:nccl") and Gloo reducing CUDA
// gradients, each in a one-rank group on the one GPU a machine has (two NCCL ranks cannot share a GPU: the
// two-process case needs a machine with two). A one-rank DDP step averages over one rank, so it must equal the same
// step without a process group, from the same weights and batch. bench/gpu.sh runs this file on a GPU machine; here
// the CUDA cases are skipped and what runs checks the refusal and the plugin.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cuda, initProcessGroup, sgd, tensor, Trainer, VisionTransformer } from '../lib';
import { addonFiles } from '../lib/binding';
import { expectRejects } from './expect-error';
import { python } from './python';
import { freePort } from '../lib/cli/train-launcher';

const visible = cuda.isAvailable();
const onCuda = visible ? describe : describe.skip;
const skipNote = visible ? '' : ' [skipped: no CUDA device visible]';
const plugin = path.join(path.dirname(addonFiles.addon), 'libvitorch_nccl.so');

const SMALL = { inputShape: [8, 8] as [number, number], patchSize: 4, inChans: 1, numClasses: 3, numFeatures: 16 };
const SMALL_MODEL = { ...SMALL, depth: 2, numHeads: 2 };

if (!visible) {
  test("backend 'nccl' without a CUDA device is refused with a RangeError that says so", async () => {
    const port = await freePort();
    await expectRejects(
      initProcessGroup({ rank: 0, worldSize: 1, masterPort: port, backend: 'nccl' }),
      RangeError,
      "expected a CUDA device for backend 'nccl', received none: use 'gloo' on the CPU",
    );
  });
}

(fs.existsSync(plugin) ? test : test.skip)(
  "the NCCL plugin loads beside PyTorch's libtorch_cuda and exports its factory",
  () => {
    const script = [
      'import ctypes, sys, torch',
      'library = ctypes.CDLL(sys.argv[1])',
      'print(hasattr(library, "vitorch_make_nccl_backend"))',
    ].join('\n');
    const run = spawnSync(python(), ['-c', script, plugin], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('True');
  },
);

async function oneStep(backend: 'gloo' | 'nccl' | null): Promise<Map<string, Float32Array>> {
  const model = new VisionTransformer(SMALL_MODEL);
  // The same initial weights for every run: a fixed deterministic fill.
  for (const [name, parameter] of model.namedParameters()) {
    const values = new Float32Array(parameter.numel).map((_, i) => Math.sin(i * 0.37 + name.length) * 0.05);
    model.loadStateDict(new Map([[name, tensor(values, parameter.shape)]]), { strict: false });
  }
  model.to('cuda').train();
  const group = backend
    ? await initProcessGroup({ rank: 0, worldSize: 1, masterPort: await freePort(), backend })
    : undefined;
  const trainer = new Trainer(model, { optimizer: sgd(model, { lr: 0.1 }), processGroup: group });
  const images = tensor(
    new Float32Array(4 * 64).map((_, i) => Math.cos(i * 0.11)),
    [4, 1, 8, 8],
  ).to('cuda');
  const labels = tensor(new Int32Array([0, 1, 2, 1]), [4]);
  for (let step = 0; step < 3; step++) await trainer.step(images, labels);
  const weights = new Map(model.namedParameters().map(([name, p]) => [name, p.to('cpu').toFloat32Array()]));
  trainer.dispose();
  group?.destroy();
  return weights;
}

onCuda(`one-rank data-parallel steps on CUDA equal plain steps${skipNote}`, () => {
  test.each(['gloo', 'nccl'] as const)('backend %s', async (backend) => {
    const plain = await oneStep(null);
    const parallel = await oneStep(backend);
    for (const [name, reference] of plain) {
      const received = parallel.get(name)!;
      let worst = 0;
      for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(received[i] - reference[i]));
      // Averaging over one rank divides by 1: only the order of float32 additions can differ.
      expect(worst).toBeLessThan(1e-6);
    }
  });
});
