// The oracle itself is checked: tools/reference_vit.py (written from the seed article) must agree with timm's
// VisionTransformer loaded with the same weights, where their semantics agree (tanh GELU, LayerNorm eps 1e-6,
// class-token pooling), and its GELU with torch's. The script exits non-zero on any disagreement.
import { spawnSync } from 'child_process';
import * as path from 'path';

test('the PyTorch reference agrees with timm', () => {
  const root = path.join(__dirname, '..');
  const run = spawnSync(
    process.execPath,
    [path.join(root, 'scripts', 'python.js'), path.join(root, 'tools', 'check_against_timm.py')],
    { cwd: root, encoding: 'utf8' },
  );
  if (run.status !== 0) console.error(run.stdout, run.stderr);
  expect(run.status).toBe(0);
});
