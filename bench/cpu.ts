// The machine a figure was measured on, as lscpu names it, with the reduced-precision features that decide whether
// bfloat16 pays off there.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';

export interface Cpu {
  model: string;
  family?: string;
  logicalCpus: number;
  avx512Bf16: boolean;
  amxBf16: boolean;
}

export function describeCpu(): Cpu {
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' });
  const field = (name: string) => lscpu.stdout?.match(new RegExp(`^${name}:\\s*(.+)$`, 'm'))?.[1].trim();
  // /proc/cpuinfo is what the kernel reports; lscpu's Flags line is the same list where lscpu exists.
  const flags = (
    field('Flags') ?? (fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '')
  ).split(/\s+/);
  return {
    model: field('Model name') ?? os.cpus()[0]?.model ?? 'unknown CPU',
    family: field('CPU family'),
    logicalCpus: os.cpus().length,
    avx512Bf16: flags.includes('avx512_bf16'),
    amxBf16: flags.includes('amx_bf16'),
  };
}
