// What the CPU can do, read once from /proc/cpuinfo (Linux; elsewhere nothing is known and nothing is claimed).
// lib/precision-advice.ts turns the flags into which precisions are fast; `vitorch doctor` lists them.
import * as fs from 'fs';

let flags: Set<string> | null | undefined;

/** The CPU's feature flags, or null where they cannot be read. */
export function cpuFlags(): Set<string> | null {
  if (flags !== undefined) return flags;
  try {
    const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^flags\s*:(.*)$/m.exec(info);
    flags = line ? new Set(line[1].trim().split(/\s+/)) : null;
  } catch {
    flags = null;
  }
  return flags;
}
