#!/usr/bin/env node
// Prints vitorch's max error against PyTorch for every parity fixture case (npm run build:ts and npm run fixtures first):
// the figures behind test/parity.test.ts's assertion (max abs error <= 1e-4 of the output's scale).
'use strict';
const fs = require('fs');
const path = require('path');
const v = require(path.join(__dirname, '..', 'dist', 'lib'));
const dir = path.join(__dirname, '..', 'test', 'fixtures', 'generated');
const m = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json')));
const read = (f) => { const b = fs.readFileSync(path.join(dir, f)); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
for (const c of m.cases) {
  const fx = m.models[c.model];
  const model = new v.VisionTransformer(fx.config); model.loadStateDict(path.join(dir, fx.checkpoint)); model.eval();
  const out = model.forward(v.tensor(Float32Array.from(read(c.input)), c.inputShape)).toFloat32Array();
  const exp = read(c.output); let e = 0, s = 0;
  for (let i = 0; i < exp.length; i++) { e = Math.max(e, Math.abs(out[i] - exp[i])); s = Math.max(s, Math.abs(exp[i])); }
  console.log(`${c.name.padEnd(24)} input ${JSON.stringify(c.inputShape).padEnd(18)} max|err| ${e.toExponential(2)}  scale ${s.toFixed(2)}  rel ${(e / s).toExponential(2)}`);
  model.dispose();
}
