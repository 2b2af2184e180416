// scripts/install.js, npm's install hook: it keeps the binary node-gyp-build finds when the libtorch found fits it,
// keeps it too when no libtorch is found yet (loading says what to do then), and builds from source when the
// libtorch found is of another release. Run on this checkout's own build; the build from source is only started
// where it must fail at once (a fake libtorch has no headers), so the test stays quick.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const script = path.join(__dirname, '..', 'scripts', 'install.js');
const install = (env: Record<string, string>) =>
  spawnSync(process.execPath, [script], { encoding: 'utf8', env: { ...process.env, ...env } });
const torchRoot = spawnSync(
  process.env.PYTHON || 'python3',
  ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'],
  { encoding: 'utf8' },
).stdout.trim();

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-install-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

test('a binary that fits the libtorch found is kept, nothing is built', () => {
  const result = install({ LIBTORCH: torchRoot });
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^vitorch: using \S+vitorch\.node with libtorch \S+ at /);
  expect(result.stdout).toContain(` at ${torchRoot}\n`);
  expect(result.stdout.split('\n').length).toBe(2);
});

test('with no libtorch yet, the binary is kept and the message says what it will need', () => {
  const result = install({ LIBTORCH: path.join(scratch, 'absent') });
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('it will need a libtorch at run time:');
  expect(result.stdout).toContain(`LIBTORCH=${path.join(scratch, 'absent')} is not a libtorch`);
});

test('a libtorch of another release makes it build from source (here failing at once: no headers)', () => {
  const other = path.join(scratch, 'other');
  fs.mkdirSync(path.join(other, 'lib'), { recursive: true });
  fs.writeFileSync(path.join(other, 'lib', 'libtorch_cpu.so'), '');
  fs.writeFileSync(path.join(other, 'build-version'), '2.4.0\n');
  const result = install({ LIBTORCH: other });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain("vitorch: cannot build from source (vitorch's addon was built against libtorch");
  expect(result.stderr).toContain(`the libtorch at ${other} has no C++ headers`);
});
