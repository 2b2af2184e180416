// One rank of test/distributed-two-hosts.test.ts: joins the job described by torchrun's variables (and
// GLOO_SOCKET_IFNAME), trains a small model for a few SGD steps on batches that depend on the rank and the step,
// and prints its final weights as JSON on stdout.
'use strict';
const { initProcessGroup, manualSeed, sgd, tensor, Trainer, VisionTransformer } = require('../../dist/lib');

async function main() {
  const group = await initProcessGroup({ timeoutMs: 30000 });
  // Different initial weights per rank: the first step must start from rank 0's broadcast.
  manualSeed(100 + group.rank);
  const model = new VisionTransformer({
    inputShape: [8, 8],
    patchSize: 4,
    inChans: 1,
    numClasses: 3,
    numFeatures: 16,
    depth: 2,
    numHeads: 2,
  }).train();
  const trainer = new Trainer(model, { optimizer: sgd(model, { lr: 0.05 }), processGroup: group });
  for (let step = 0; step < 4; step++) {
    const images = new Float32Array(4 * 64).map((_, i) => Math.sin(0.1 * i + step + 7 * group.rank));
    const labels = new Int32Array(4).map((_, i) => (i + step + group.rank) % 3);
    await trainer.step(tensor(images, [4, 1, 8, 8]), tensor(labels, [4]));
  }
  const weights = Object.fromEntries(
    model.namedParameters().map(([name, p]) => [name, Array.from(p.toFloat32Array())]),
  );
  process.stdout.write(JSON.stringify(weights));
  group.destroy();
}

main().catch((error) => {
  process.stderr.write(`${error.name}: ${error.message}\n`);
  process.exit(1);
});
