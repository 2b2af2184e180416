// Where vitorch finds libtorch at run time, and what it says when it finds none or a wrong one. The oracle for
// "which libtorch" is Python itself (torch.__file__, torch.__version__ after a real import), for "is the binary
// relocatable" readelf, and for "did the addon bind to it" the dynamic linker (/proc/<pid>/maps, LD_DEBUG).
// Loading is checked in child processes running dist/ (npm test compiles it first): a process loads one libtorch.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { findAddon, LOADER_FILE } from '../lib/addon-loading';
import { checkLibtorchFits, LibtorchError, locateLibtorch, readCxx11Abi } from '../lib/libtorch-locator';

const dist = path.join(__dirname, '..', 'dist', 'lib');
const python = process.env.PYTHON || 'python3';
const torch = JSON.parse(
  spawnSync(
    python,
    [
      '-c',
      'import json, os, torch; print(json.dumps({"root": os.path.dirname(torch.__file__), "version": torch.__version__}))',
    ],
    { encoding: 'utf8' },
  ).stdout,
) as { root: string; version: string };
const release = torch.version.split('+')[0];

/** Runs `code` in a fresh Node with dist/lib as `v`, with env changes (undefined removes a variable). */
function runNode(code: string, env: Record<string, string | undefined> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  return spawnSync(process.execPath, ['-e', `const v = require(${JSON.stringify(dist)}); ${code}`], {
    encoding: 'utf8',
    env: childEnv,
  });
}

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-locator-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A folder shaped like a libtorch, with empty libraries: enough to be found, never loaded. */
function fakeLibtorch(name: string, version: string, abi: '0' | '1'): string {
  const root = path.join(scratch, name);
  fs.mkdirSync(path.join(root, 'lib'), { recursive: true });
  fs.mkdirSync(path.join(root, 'share', 'cmake', 'Torch'), { recursive: true });
  fs.writeFileSync(path.join(root, 'lib', 'libtorch_cpu.so'), '');
  fs.writeFileSync(path.join(root, 'build-version'), `${version}\n`);
  fs.writeFileSync(
    path.join(root, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'),
    `set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=${abi}")\n`,
  );
  return root;
}

test('without LIBTORCH, the torch package of python3 is found, with its version, without importing it', () => {
  const found = locateLibtorch('0.0.0', { PATH: process.env.PATH, PYTHON: process.env.PYTHON });
  expect(found.root).toBe(torch.root);
  expect(found.version).toBe(torch.version);
  expect(found.foundBy).toBe('python');
  expect(found.hasCuda).toBe(fs.existsSync(path.join(torch.root, 'lib', 'libtorch_cuda.so')));
});

test('LIBTORCH comes first, and the addon loads from it and binds to its libraries', () => {
  const result = runNode(
    `
    const { libtorch } = require(${JSON.stringify(path.join(dist, 'binding'))});
    const model = new v.VisionTransformer({ inputShape: [16, 16], patchSize: 8, inChans: 1, numClasses: 3, numFeatures: 8, depth: 1, numHeads: 2 });
    model.forward(v.tensor(new Float32Array(256), [1, 1, 16, 16]));
    const maps = require('fs').readFileSync('/proc/self/maps', 'utf8');
    const mapped = [...new Set(maps.split('\\n').map((l) => l.split(/\\s+/)[5]).filter((f) => f && /libtorch_cpu\\.so$/.test(f)))];
    console.log(JSON.stringify({ libtorch, mapped }));`,
    { LIBTORCH: torch.root, PYTHON: '/nonexistent/python' },
  );
  expect(result.stderr).toBe('');
  const { libtorch, mapped } = JSON.parse(result.stdout);
  expect(libtorch.foundBy).toBe('LIBTORCH');
  expect(libtorch.version).toBe(torch.version);
  expect(mapped).toEqual([path.join(torch.root, 'lib', 'libtorch_cpu.so')]);
});

test('the addon and its loader carry no RPATH or RUNPATH (readelf -d)', () => {
  const { addon, loader } = findAddon();
  for (const file of [addon, loader]) {
    const dynamic = spawnSync('readelf', ['-d', file], { encoding: 'utf8' });
    expect(dynamic.status).toBe(0);
    expect(dynamic.stdout).toMatch(/\(NEEDED\)/);
    expect(dynamic.stdout).not.toMatch(/\((RPATH|RUNPATH)\)/);
  }
  expect(spawnSync('readelf', ['-d', addon], { encoding: 'utf8' }).stdout).toMatch(/\[libtorch_cpu\.so\]/);
});

test("MKL's vendor check binds to the loader's answer, which joined the global scope before libtorch", () => {
  const log = path.join(scratch, 'ld-debug');
  const result = runNode(
    `
    const model = new v.VisionTransformer({ inputShape: [16, 16], patchSize: 8, inChans: 1, numClasses: 3, numFeatures: 64, depth: 1, numHeads: 2 });
    model.forward(v.tensor(new Float32Array(8 * 256), [8, 1, 16, 16]));`,
    { LD_DEBUG: 'bindings', LD_DEBUG_OUTPUT: log },
  );
  expect(result.status).toBe(0);
  const [own] = fs.readdirSync(scratch).filter((f) => f === `ld-debug.${result.pid}`);
  const bindings = fs
    .readFileSync(path.join(scratch, own), 'utf8')
    .split('\n')
    .filter((l) => l.includes("`mkl_serv_intel_cpu_true'"));
  expect(bindings.length).toBeGreaterThan(0);
  for (const line of bindings) expect(line).toMatch(new RegExp(`libtorch_cpu\\.so .*to \\S*/${LOADER_FILE} `));
});

test('LIBTORCH pointing at nothing: the error names it and how to get libtorch', () => {
  const result = runNode('', { LIBTORCH: path.join(scratch, 'nothing-here') });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain(
    `LibtorchError: LIBTORCH=${path.join(scratch, 'nothing-here')} is not a libtorch: ` +
      `${path.join(scratch, 'nothing-here', 'lib', 'libtorch_cpu.so')} does not exist`,
  );
  expect(result.stderr).toContain(`pip install torch==${release}`);
  expect(result.stderr).toContain('set LIBTORCH=/path/to/libtorch');
});

test('a libtorch of another release is refused, naming both versions and the fixes', () => {
  const other = fakeLibtorch('other-release', '2.4.0+cpu', '0');
  const result = runNode('', { LIBTORCH: other });
  expect(result.status).toBe(1);
  const minor = release.split('.').slice(0, 2).join('.');
  expect(result.stderr).toContain(
    `LibtorchError: vitorch's addon was built against libtorch ${release}, but the ` +
      `libtorch found at ${other} (from LIBTORCH) is 2.4.0+cpu. Use libtorch ${minor} (any patch release):`,
  );
  expect(result.stderr).toContain(`pip install "torch==${minor}.*"`);
  expect(result.stderr).toContain('VITORCH_FORCE_BUILD=1 npm rebuild vitorch');
});

test('a libtorch of the same release with the other C++ ABI is refused too; CPU and CUDA builds of it fit', () => {
  const build = { torchVersion: torch.version, cxx11Abi: readCxx11Abi(torch.root) ?? '1' };
  const otherAbi = build.cxx11Abi === '1' ? '0' : '1';
  const found = locateLibtorch(release, { LIBTORCH: fakeLibtorch('other-abi', `${release}+cpu`, otherAbi) });
  expect(() => checkLibtorchFits(found, build)).toThrow(LibtorchError);
  expect(() => checkLibtorchFits(found, build)).toThrow(
    `uses ${otherAbi === '1' ? 'the C++11 ABI' : 'the pre-C++11 ABI'}`,
  );
  const sameAbi = locateLibtorch(release, { LIBTORCH: fakeLibtorch('cpu-build', `${release}+cpu`, build.cxx11Abi) });
  expect(() => checkLibtorchFits(sameAbi, build)).not.toThrow();
});

test('PYTHON pointing at a Python without torch: the error names that Python and how to get torch', () => {
  // A virtual environment of the same Python, without its site-packages: a real interpreter that has no torch.
  const venv = path.join(scratch, 'venv');
  expect(spawnSync(python, ['-m', 'venv', '--without-pip', venv]).status).toBe(0);
  const bare = path.join(venv, 'bin', 'python');
  const result = runNode('', { LIBTORCH: undefined, PYTHON: bare });
  expect(result.status).toBe(1);
  expect(result.stderr).toContain(`LibtorchError: libtorch not found: LIBTORCH is not set and PYTHON=${bare} (`);
  expect(result.stderr).toContain(') has no torch package.');
  expect(result.stderr).toContain(`pip install torch==${release}`);
  const missing = runNode('', { LIBTORCH: undefined, PYTHON: path.join(scratch, 'no-such-python') });
  expect(missing.stderr).toContain(`PYTHON=${path.join(scratch, 'no-such-python')} could not be run (spawnSync`);
});
