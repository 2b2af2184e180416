// Resident memory of a server under test, read from /proc: the process and every descendant (TorchServe is a Java
// frontend with Python workers; vitorch is one Node process), so that both are measured the same way.
import * as fs from 'fs';

function childrenByParent(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    } // exited meanwhile
    // The command name (field 2) is in parentheses and may hold spaces; the parent pid is the second field after it.
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(parent) ?? [];
    list.push(Number(entry));
    children.set(parent, list);
  }
  return children;
}

function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Sum of VmRSS over `pid` and its descendants, in bytes; 0 once it has exited. */
export function processTreeRss(pid: number): number {
  const children = childrenByParent();
  let total = 0;
  const pending = [pid];
  while (pending.length) {
    const next = pending.pop() as number;
    total += residentBytes(next);
    pending.push(...(children.get(next) ?? []));
  }
  return total;
}

export interface RssSample {
  seconds: number;
  bytes: number;
}

/** Samples processTreeRss(pid) every `intervalMs` until stopped; the samples carry seconds since the start. */
export function sampleRss(pid: number, intervalMs: number): { samples: RssSample[]; stop(): RssSample[] } {
  const started = Date.now();
  const samples: RssSample[] = [];
  const take = () => samples.push({ seconds: (Date.now() - started) / 1000, bytes: processTreeRss(pid) });
  take();
  const timer = setInterval(take, intervalMs);
  return {
    samples,
    stop: () => {
      clearInterval(timer);
      take();
      return samples;
    },
  };
}
