// `vitorch doctor` on this machine, against independent facts: Python's own torch (imported for real: its folder,
// version and CUDA verdict), /proc/cpuinfo's flags read here, and the thread count the environment asks for.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const cli = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'vitorch.js');
function doctor(args: string[], env: Record<string, string | undefined> = {}) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  return spawnSync(process.execPath, [cli, 'doctor', ...args], { encoding: 'utf8', env: childEnv });
}

const torch = JSON.parse(
  spawnSync(
    process.env.PYTHON || 'python3',
    [
      '-c',
      'import json, os, torch; print(json.dumps({"root": os.path.dirname(torch.__file__), "version": torch.__version__, ' +
        '"cuda": torch.cuda.is_available(), "devices": torch.cuda.device_count()}))',
    ],
    { encoding: 'utf8' },
  ).stdout,
);
const cpuinfo = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
const hasFlag = (flag: string) => new RegExp(`^flags\\s*:.*\\b${flag}\\b`, 'm').test(cpuinfo);
const computesBf16 = hasFlag('avx512_bf16') || hasFlag('amx_bf16');
const hasInt8DotProducts = hasFlag('avx512_vnni') || hasFlag('avx_vnni') || hasFlag('amx_int8');
// The fastest CPU precision by the project's measurements (lib/precision-advice.ts): int8 with int8 dot products,
// then bfloat16 where the CPU computes in it.
const fastest = hasInt8DotProducts ? 'int8' : computesBf16 ? 'bfloat16' : 'float32';

test('--json: libtorch, CUDA, CPU features, threads, cache and precisions as this machine has them', () => {
  const result = doctor(['--json'], {
    LIBTORCH: undefined,
    VITORCH_NUM_THREADS: undefined,
    OMP_NUM_THREADS: undefined,
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  const report = JSON.parse(result.stdout);
  expect(report.problem).toBeNull();
  expect(report.libtorch).toMatchObject({ root: torch.root, version: torch.version, foundBy: 'python' });
  expect(report.addon.builtAgainst.torchVersion.split('+')[0]).toBe(torch.version.split('+')[0]);
  expect(report.cuda).toEqual({
    libraries: fs.existsSync(path.join(torch.root, 'lib', 'libtorch_cuda.so')),
    problem: null,
    available: torch.cuda,
    deviceCount: torch.devices,
  });
  expect(report.cpu.logicalCpus).toBe(os.availableParallelism());
  expect(report.cpu.features).toEqual({
    AVX2: hasFlag('avx2'),
    'AVX-512': hasFlag('avx512f'),
    'AVX-512 BF16': hasFlag('avx512_bf16'),
    'AVX-512 FP16': hasFlag('avx512_fp16'),
    'AMX-BF16': hasFlag('amx_bf16'),
    'AMX-FP16': hasFlag('amx_fp16'),
    'AVX-512 VNNI': hasFlag('avx512_vnni'),
    'AVX-VNNI': hasFlag('avx_vnni'),
    'AMX-INT8': hasFlag('amx_int8'),
  });
  expect(report.threads).toEqual({ intraOp: os.availableParallelism(), setBy: 'os.availableParallelism()' });
  expect(report.cpuCache).toEqual(expect.objectContaining({ limitBytes: 2 ** 30 }));
  expect(report.precisions.map((p: { dtype: string; fast: boolean }) => [p.dtype, p.fast])).toEqual([
    ['float32', true],
    ['bfloat16', computesBf16],
    ['float16', false],
    ['int8', hasInt8DotProducts],
  ]);
  expect(report.recommendedCpuPrecision).toBe(fastest);
});

test("OMP_NUM_THREADS (torchrun's and --nproc-per-node's share of the cores) sets the threads, after VITORCH_NUM_THREADS", () => {
  const omp = doctor(['--json'], { VITORCH_NUM_THREADS: undefined, OMP_NUM_THREADS: '1' });
  expect(JSON.parse(omp.stdout).threads).toEqual({ intraOp: 1, setBy: 'OMP_NUM_THREADS=1' });
  const both = doctor(['--json'], { VITORCH_NUM_THREADS: '2', OMP_NUM_THREADS: '1' });
  expect(JSON.parse(both.stdout).threads).toEqual({ intraOp: 2, setBy: 'VITORCH_NUM_THREADS=2' });
});

test('the text form says the same in a few lines; LIBTORCH and VITORCH_NUM_THREADS show', () => {
  const result = doctor([], { LIBTORCH: torch.root, VITORCH_NUM_THREADS: '1' });
  expect(result.status).toBe(0);
  const text = result.stdout;
  expect(text).toContain(`libtorch   ${torch.version} at ${torch.root}\n           found by LIBTORCH`);
  expect(text).toContain('threads    1 intra-op (set by VITORCH_NUM_THREADS=1)');
  expect(text).toMatch(
    new RegExp(
      `^features   AVX2 ${hasFlag('avx2') ? 'yes' : 'no'}, AVX-512 ${hasFlag('avx512f') ? 'yes' : 'no'}, `,
      'm',
    ),
  );
  expect(text).toMatch(torch.cuda ? /^CUDA {7}\d+ device\(s\) visible/m : /^CUDA {7}no CUDA device visible/m);
  expect(text).toMatch(/^precision {2}float32 {2}fast: /m);
  expect(text).toMatch(/^ {11}float16 {2}slow: /m);
  expect(text).toMatch(new RegExp(`^ {11}int8 {5}${hasInt8DotProducts ? 'fast' : 'slow'}: `, 'm'));
  const pick = {
    int8: 'int8 (model.quantize(), --dtype int8) for the most images per second here; float32 for PyTorch-identical numbers',
    bfloat16:
      "bfloat16 (model.to('bfloat16'), --dtype bfloat16) for the most images per second here; float32 for PyTorch-identical numbers",
    float32: 'float32 for CPU inference here',
  }[fastest];
  expect(text.split('\n').find((line) => line.startsWith('pick'))).toBe(
    `pick       ${pick}${torch.cuda ? '; on the GPU, float16 or bfloat16' : ''}`,
  );
  expect(text.split('\n').length).toBeLessThan(20);
});

test('without a usable libtorch it says why, still reports the CPU, and exits 1', () => {
  const missing = path.join(os.tmpdir(), 'vitorch-doctor-no-libtorch');
  const result = doctor([], { LIBTORCH: missing });
  expect(result.status).toBe(1);
  expect(result.stdout).toContain(`problem    LIBTORCH=${missing} is not a libtorch`);
  expect(result.stdout).toContain('pip install torch==');
  expect(result.stdout).toMatch(/^features {3}AVX2 /m);
  expect(result.stdout).not.toMatch(/^threads/m);
  const json = JSON.parse(doctor(['--json'], { LIBTORCH: missing }).stdout);
  expect(json.libtorch).toBeNull();
  expect(json.problem).toMatch(/is not a libtorch/);
});

test('bad usage exits 2 with the usage line', () => {
  const result = doctor(['--yaml']);
  expect(result.status).toBe(2);
  expect(result.stderr).toBe('vitorch doctor: unknown option --yaml\nusage: vitorch doctor [--json]\n');
});
