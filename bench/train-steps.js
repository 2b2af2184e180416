// Milliseconds per Trainer.step (wall and process CPU, median and fastest) of the checkout whose lib/index.js is
// given, on bench/train.ts's fmnist configuration (batch 128, no dropout, AdamW). Usage: node bench/train-steps.js
// CHECKOUT/dist/lib/index.js [steps=20]; bench/compare-checkouts.sh runs it on two checkouts in turn.
const v = require(process.argv[2]);
const steps = Number(process.argv[3] ?? 20);
(async () => {
  v.setNumThreads(2);
  v.manualSeed(0);
  const model = new v.VisionTransformer({ inputShape: [28, 28], patchSize: 4, inChans: 1, numClasses: 10, numFeatures: 64,
    depth: 6, numHeads: 4, mlpRatio: 2, dropRate: 0, attnDropRate: 0, dropPathRate: 0 }).train();
  const batch = 128;
  const images = v.tensor(Float32Array.from({ length: batch * 784 }, (_, i) => Math.sin(i)), [batch, 1, 28, 28]);
  const labels = v.tensor(Int32Array.from({ length: batch }, (_, i) => (i * 7) % 10), [batch]);
  const trainer = new v.Trainer(model, { optimizer: v.adamw(model, { lr: 2e-3, weightDecay: 0.05 }), labelSmoothing: 0.1 });
  for (let i = 0; i < 3; i++) await trainer.step(images, labels);
  const wall = [], cpu = [];
  for (let i = 0; i < steps; i++) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    await trainer.step(images, labels);
    wall.push(performance.now() - t0); const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
  }
  const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
  console.log(JSON.stringify({ wallMedian: med(wall), wallMin: Math.min(...wall), cpuMedian: med(cpu), cpuMin: Math.min(...cpu) }));
})();
