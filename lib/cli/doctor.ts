// `vitorch doctor [--json]`: what vitorch found on this machine and what it means, short enough to paste into a bug
// report: the addon and what it was built against, the libtorch found (version, folder, how it was found), CUDA,
// the CPU features that decide which precisions are fast, intra-op threads, the CPU cache, and which precision to
// pick. It works when libtorch cannot be loaded too: it then says why, and exits 1.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { AddonFiles, packageRoot, prebuiltReleases, resolveAddon } from '../addon-loading';
import { cpuFlags } from '../cpu-features';
import { LibtorchBuild, LibtorchError, LibtorchLocation } from '../libtorch-locator';
import { cpuPrecisions, PrecisionVerdict, recommendedCpuPrecision } from '../precision-advice';
import type { CpuCacheStats } from '../binding';
import { parseArgs } from './args';
import { runCommand } from './run-command';

export const DOCTOR_USAGE = 'usage: vitorch doctor [--json]';

/** The CPU features that decide precision and kernel choice, by /proc/cpuinfo flag. */
const CPU_FEATURES: [string, string][] = [
  ['AVX2', 'avx2'],
  ['AVX-512', 'avx512f'],
  ['AVX-512 BF16', 'avx512_bf16'],
  ['AVX-512 FP16', 'avx512_fp16'],
  ['AMX-BF16', 'amx_bf16'],
  ['AMX-FP16', 'amx_fp16'],
  ['AVX-512 VNNI', 'avx512_vnni'],
  ['AVX-VNNI', 'avx_vnni'],
  ['AMX-INT8', 'amx_int8'],
];

export interface DoctorReport {
  vitorch: string;
  node: string;
  platform: string;
  addon: (AddonFiles & { builtAgainst: LibtorchBuild }) | null;
  /** The torch minor releases the package has prebuilt addons for. */
  prebuiltReleases: string[];
  libtorch: LibtorchLocation | null;
  /** Why vitorch cannot run here, when it cannot (then the fields that need libtorch are null). */
  problem: string | null;
  /** libraries: whether libtorch has CUDA libraries; problem: why they did not load, when they did not. */
  cuda: { libraries: boolean; problem: string | null; available: boolean; deviceCount: number } | null;
  /** Data-parallel backends: Gloo is always there; NCCL needs its plugin (built with a CUDA torch) and a GPU. */
  distributed: { gloo: boolean; ncclPlugin: string | null } | null;
  cpu: { model: string | null; logicalCpus: number; features: Record<string, boolean> | null };
  threads: { intraOp: number; setBy: string } | null;
  cpuCache: CpuCacheStats | null;
  precisions: PrecisionVerdict[];
  /** The precision that runs CPU inference fastest here (int8, bfloat16 or float32), as the text's pick line says. */
  recommendedCpuPrecision: string;
}

function cpuModel(): string | null {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    return match ? match[1].trim() : null;
  } catch {
    return null;
  }
}

export function diagnose(): DoctorReport {
  const flags = cpuFlags();
  const report: DoctorReport = {
    vitorch: JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version,
    node: process.versions.node,
    platform: `${process.platform}-${process.arch}`,
    addon: null,
    prebuiltReleases: prebuiltReleases(),
    libtorch: null,
    problem: null,
    cuda: null,
    distributed: null,
    threads: null,
    cpuCache: null,
    cpu: {
      model: cpuModel(),
      logicalCpus: os.availableParallelism(),
      features: flags === null ? null : Object.fromEntries(CPU_FEATURES.map(([name, flag]) => [name, flags.has(flag)])),
    },
    precisions: cpuPrecisions(),
    recommendedCpuPrecision: recommendedCpuPrecision(),
  };
  try {
    const resolved = resolveAddon();
    report.addon = { ...resolved.files, builtAgainst: resolved.build };
    report.libtorch = resolved.libtorch;
    // Loads the addon (the checks above passed, so this finds the same libtorch).
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only once the checks above passed
    const runtime = require('../runtime') as typeof import('../runtime');
    report.cuda = {
      libraries: resolved.libtorch.hasCuda,
      problem: runtime.cuda.problem,
      available: runtime.cuda.isAvailable(),
      deviceCount: runtime.cuda.deviceCount(),
    };
    const plugin = path.join(path.dirname(resolved.files.addon), 'libvitorch_nccl.so');
    report.distributed = { gloo: true, ncclPlugin: fs.existsSync(plugin) ? plugin : null };
    report.threads = {
      intraOp: runtime.getNumThreads(),
      setBy: runtime.threadCountSource().setBy,
    };
    report.cpuCache = runtime.cpuCache.stats();
  } catch (error) {
    if (!(error instanceof LibtorchError)) throw error;
    report.problem = (error as Error).message;
  }
  return report;
}

const yesNo = (value: boolean) => (value ? 'yes' : 'no');

function bytes(count: number): string {
  if (count >= 2 ** 30) return `${(count / 2 ** 30).toFixed(1)} GiB`;
  if (count >= 2 ** 20) return `${(count / 2 ** 20).toFixed(1)} MiB`;
  return `${count} B`;
}

function foundBy(libtorch: LibtorchLocation): string {
  return libtorch.foundBy === 'LIBTORCH' ? 'LIBTORCH' : `the torch package of ${libtorch.python}`;
}

export function formatReport(r: DoctorReport): string {
  const abi = (value: string) => (value === '1' ? 'C++11 ABI' : 'pre-C++11 ABI');
  const lines = [`vitorch ${r.vitorch}, Node ${r.node}, ${r.platform}`];
  if (r.addon) {
    lines.push(
      `addon      ${r.addon.addon} (${r.addon.kind === 'local' ? 'a local build' : 'prebuilt'})`,
      `           built against libtorch ${r.addon.builtAgainst.torchVersion} (${abi(r.addon.builtAgainst.cxx11Abi)})`,
    );
  }
  if (r.libtorch) {
    lines.push(`libtorch   ${r.libtorch.version} at ${r.libtorch.root}`, `           found by ${foundBy(r.libtorch)}`);
  }
  if (r.addon?.kind !== 'local') lines.push(`prebuilt   for torch ${r.prebuiltReleases.join(', ') || 'no release'}`);
  if (r.problem) lines.push(`problem    ${r.problem.split('\n').join('\n           ')}`);
  if (r.cuda) {
    const devices = r.cuda.available ? `${r.cuda.deviceCount} device(s) visible` : 'no CUDA device visible';
    const libraries = !r.cuda.libraries
      ? 'absent (a CPU-only libtorch)'
      : r.cuda.problem === null
        ? 'present'
        : `not loaded: ${r.cuda.problem}`;
    lines.push(`CUDA       ${devices}; libtorch's CUDA libraries ${libraries}`);
  }
  if (r.distributed) {
    const nccl = r.distributed.ncclPlugin
      ? r.cuda?.available
        ? 'nccl (plugin present)'
        : 'nccl plugin present, but no CUDA device for it'
      : 'no nccl plugin (a build without the CUDA and NCCL headers)';
    lines.push(`parallel   initProcessGroup backends: gloo; ${nccl}`);
  }
  lines.push(`CPU        ${r.cpu.model ?? 'unknown model'}, ${r.cpu.logicalCpus} logical CPUs`);
  lines.push(
    `features   ${
      r.cpu.features === null
        ? 'unknown (no /proc/cpuinfo)'
        : Object.entries(r.cpu.features)
            .map(([name, has]) => `${name} ${yesNo(has)}`)
            .join(', ')
    }`,
  );
  if (r.threads) lines.push(`threads    ${r.threads.intraOp} intra-op (set by ${r.threads.setBy})`);
  if (r.cpuCache) {
    const c = r.cpuCache;
    lines.push(
      `CPU cache  ${bytes(c.cachedBytes)} cached, ${bytes(c.inUseBytes)} in use, limit ${bytes(c.limitBytes)}; ` +
        `${c.reuses} reuses, ${c.freshAllocations} fresh allocations`,
    );
  }
  for (const v of r.precisions) {
    const verdict = v.fast === null ? 'unknown' : v.fast ? 'fast' : 'slow';
    lines.push(
      `${v.dtype === r.precisions[0].dtype ? 'precision ' : '          '} ${v.dtype.padEnd(9)}${verdict}: ${v.reason}`,
    );
  }
  lines.push(
    `pick       ${pickLine(r.recommendedCpuPrecision)}${r.cuda?.available ? '; on the GPU, float16 or bfloat16' : ''}`,
  );
  return lines.join('\n');
}

/** What to pick for CPU inference, and how to ask for it, by the fastest precision here. */
function pickLine(fastest: string): string {
  switch (fastest) {
    case 'int8':
      return (
        'int8 (model.quantize(), --dtype int8) for the most images per second here; ' +
        'float32 for PyTorch-identical numbers'
      );
    case 'bfloat16':
      return (
        "bfloat16 (model.to('bfloat16'), --dtype bfloat16) for the most images per second here; " +
        'float32 for PyTorch-identical numbers'
      );
    default:
      return 'float32 for CPU inference here';
  }
}

export async function doctorCommand(args: string[]): Promise<number> {
  return runCommand('doctor', DOCTOR_USAGE, async () => {
    const parsed = parseArgs(args, [], ['json'], { overrides: false, positionals: false });
    const report = diagnose();
    console.log(parsed.flags.has('json') ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.problem === null ? 0 : 1;
  });
}
