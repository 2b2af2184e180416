// A torch installed without (some of) its CUDA dependencies, as `pip install --no-deps torch` or a trimmed image
// leaves it. The PyPI wheel's libraries find CUDA's pip packages through their RPATH ($ORIGIN/../../nvidia/...), so a
// folder of links to the real torch/lib beside an nvidia/ folder holding only what the test chooses is such a torch.
// Oracles: readelf (which CUDA libraries libtorch_cpu.so needs), PyTorch's output for the parity fixture, and the
// file system (the library named as missing really is absent). Children run dist/ (npm test compiles it first).
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { FIXTURES, relativeMaxError, PARITY_TOLERANCE } from './fixtures';

const dist = path.join(__dirname, '..', 'dist', 'lib');
const cli = path.join(dist, 'cli', 'vitorch.js');
const torchRoot = spawnSync(
  process.env.PYTHON || 'python3',
  ['-c', 'import os, torch; print(os.path.dirname(torch.__file__))'],
  { encoding: 'utf8' },
).stdout.trim();
const torchLib = path.join(torchRoot, 'lib');

/** The CUDA libraries libtorch_cpu.so itself needs (libcudart, libcupti in the PyPI wheel; none in a CPU build). */
const cudaNeededByCpu = (
  spawnSync('readelf', ['-d', path.join(torchLib, 'libtorch_cpu.so')], { encoding: 'utf8' }).stdout.match(
    /\(NEEDED\)\s+Shared library: \[(lib(?:cuda|cupti|cublas|nv)[^\]]*)\]/g,
  ) ?? []
).map((line) => /\[(.+)\]/.exec(line)![1]);
const wheelWithCuda = fs.existsSync(path.join(torchLib, 'libtorch_cuda.so')) && cudaNeededByCpu.length > 0;
const describeWheel = wheelWithCuda ? describe : describe.skip;

/** Where the real torch's nvidia packages are, by library name (the RPATH's folders). */
function findNvidiaLibrary(name: string): string {
  const nvidia = path.join(torchRoot, '..', 'nvidia');
  for (const entry of fs.readdirSync(nvidia)) {
    const candidate = path.join(nvidia, entry, 'lib', name);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is in none of ${nvidia}/*/lib`);
}

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vitorch-missing-'));
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** A site-packages with torch (links to the real one's libraries) and only `kept` of the CUDA libraries. */
function trimmedTorch(name: string, kept: string[]): { torch: string; nvidia: string } {
  const site = path.join(scratch, name);
  const torch = path.join(site, 'torch');
  fs.mkdirSync(path.join(torch, 'lib'), { recursive: true });
  for (const file of fs.readdirSync(torchLib)) fs.symlinkSync(path.join(torchLib, file), path.join(torch, 'lib', file));
  fs.copyFileSync(path.join(torchRoot, 'version.py'), path.join(torch, 'version.py'));
  const nvidia = path.join(site, 'nvidia');
  for (const library of kept) {
    const real = findNvidiaLibrary(library);
    const folder = path.join(nvidia, path.basename(path.dirname(path.dirname(real))), 'lib');
    fs.mkdirSync(folder, { recursive: true });
    fs.symlinkSync(real, path.join(folder, library));
  }
  return { torch, nvidia };
}

function runNode(code: string, env: Record<string, string>) {
  return spawnSync(process.execPath, ['-e', `const v = require(${JSON.stringify(dist)}); ${code}`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

describeWheel('a CUDA wheel whose CUDA libraries are missing', () => {
  test("with the runtime libraries libtorch_cpu.so needs, it runs on the CPU with PyTorch's numbers; CUDA is off, and doctor names the missing library", () => {
    const { torch, nvidia } = trimmedTorch('cpu-needs-met', cudaNeededByCpu);
    const manifest = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'manifest.json'), 'utf8'));
    const fixture = manifest.cases.find((c: { name: string }) => c.name === 'small-b1');
    const model = manifest.models[fixture.model];
    const result = runNode(
      `
      const fs = require('fs'), path = require('path');
      const read = (f) => { const b = fs.readFileSync(path.join(${JSON.stringify(FIXTURES)}, f)); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
      const model = new v.VisionTransformer(${JSON.stringify(model.config)});
      model.loadStateDict(path.join(${JSON.stringify(FIXTURES)}, ${JSON.stringify(model.checkpoint)}), { strict: true });
      model.eval();
      const output = model.forward(v.tensor(read(${JSON.stringify(fixture.input)}), ${JSON.stringify(fixture.inputShape)})).toFloat32Array();
      console.log(JSON.stringify({ problem: v.cuda.problem, available: v.cuda.isAvailable(), root: v.libtorch.root, output: Array.from(output) }));`,
      { LIBTORCH: torch },
    );
    expect(result.stderr).toBe('');
    const report = JSON.parse(result.stdout);
    expect(report.root).toBe(torch);
    expect(report.available).toBe(false);
    const expected = fs.readFileSync(path.join(FIXTURES, fixture.output));
    expect(
      relativeMaxError(
        Float32Array.from(report.output),
        new Float32Array(expected.buffer, expected.byteOffset, expected.byteLength / 4),
      ),
    ).toBeLessThan(PARITY_TOLERANCE);
    const match =
      /^(\S+\.so[.\d]*) \(needed by libtorch_cuda\.so\) was not found, so CUDA is off and vitorch runs on the CPU$/.exec(
        report.problem,
      );
    expect(match).not.toBeNull();
    const missing = match![1];
    expect(cudaNeededByCpu).not.toContain(missing);
    expect(fs.existsSync(path.join(torch, 'lib', missing))).toBe(false);
    if (fs.existsSync(nvidia)) {
      for (const folder of fs.readdirSync(nvidia))
        expect(fs.existsSync(path.join(nvidia, folder, 'lib', missing))).toBe(false);
    }

    const doctor = spawnSync(process.execPath, [cli, 'doctor'], {
      encoding: 'utf8',
      env: { ...process.env, LIBTORCH: torch },
    });
    expect(doctor.status).toBe(0);
    expect(doctor.stdout).toContain(
      `CUDA       no CUDA device visible; libtorch's CUDA libraries not loaded: ${report.problem}`,
    );
  });

  test('without the runtime libraries libtorch_cpu.so needs, loading throws a LibtorchError naming one and the ways out', () => {
    const { torch } = trimmedTorch('cpu-needs-unmet', []);
    const result = runNode('', { LIBTORCH: torch });
    expect(result.status).toBe(1);
    const match =
      /LibtorchError: vitorch could not load libtorch \S+ found at (\S+): could not load \S+libtorch_cpu\.so: (\S+): cannot open shared object file/.exec(
        result.stderr,
      );
    expect(match).not.toBeNull();
    expect(match![1]).toBe(torch);
    expect(cudaNeededByCpu).toContain(match![2]);
    expect(result.stderr).toContain(`${match![2]} is missing: the PyPI wheel's libtorch_cpu.so needs CUDA's runtime`);
    expect(result.stderr).toContain('install torch with its dependencies');
    expect(result.stderr).toContain('download a CPU libtorch archive');

    const doctor = spawnSync(process.execPath, [cli, 'doctor'], {
      encoding: 'utf8',
      env: { ...process.env, LIBTORCH: torch },
    });
    expect(doctor.status).toBe(1);
    expect(doctor.stdout).toContain(`problem    vitorch could not load libtorch`);
  });
});
