// What the load benchmarks of one vitorch server (serve-overload.ts, serve-soak.ts) share: their common flags and the
// server they start.
import { SERVED_PRECISIONS } from './offline-throughput';
import type { ServedPrecision } from './offline-throughput';
import { parseFlags, prepare, ServerSettings, UsageError, wholeNumber } from './serve-options';
import { ServerUnderTest } from './server-under-test';
import { startVitorchServer } from './vitorch-server';

export interface LoadFlags {
  values: Record<string, string | boolean | undefined>;
  durationSeconds: number;
  warmupSeconds: number;
  clients: number;
  dtype: ServedPrecision;
}

/** The flags (`own` with --duration, --warmup, --clients and --dtype among them), and those four checked. */
export function parseLoadFlags(argv: string[], own: Parameters<typeof parseFlags>[1]): LoadFlags {
  const values = parseFlags(argv, own);
  const durationSeconds = wholeNumber(values, 'duration');
  const warmupSeconds = wholeNumber(values, 'warmup', 0);
  const clients = wholeNumber(values, 'clients');
  const dtype = values.dtype as ServedPrecision;
  if (!SERVED_PRECISIONS.includes(dtype))
    throw new UsageError(`--dtype must be one of ${SERVED_PRECISIONS.join(', ')}, got ${String(dtype)}`);
  return { values, durationSeconds, warmupSeconds, clients, dtype };
}

/** `vitorch serve` of the bench checkpoint with `settings`; every request carries the first seeded image. */
export function startLoadServer(dtype: LoadFlags['dtype'], settings: ServerSettings): Promise<ServerUnderTest> {
  const prepared = prepare([1]);
  return startVitorchServer({ weights: prepared.weights, image: prepared.image, dtype, ...settings });
}
