// The load generator of the serving benchmarks, in a process of its own so that it never shares an event loop with
// the code that measures: `node dist/bench/load-process.js '<LoadSpec as JSON>'` prints one JSON line (LoadRecord)
// when done. Every request carries the same body (one image) over HTTP/1.1 keep-alive on loopback.
//
//   closed  `connections` clients, each sending its next request when the last one is answered: autocannon
//   open    arrivals at a fixed `rate` per second whatever the answers (an overload does not slow its clients down,
//           as it would slow closed-loop ones); each arrival takes an idle connection or opens one, up to
//           `maxInFlight` at once (an arrival beyond that is counted as `skipped`, not sent)
import * as fs from 'fs';
import * as http from 'http';

export type LoadSpec = {
  url: string;
  headers: Record<string, string>;
  bodyFile: string;
  durationSeconds: number;
  /** Seconds a request may take before the client gives up on it (counted as a timeout). */
  timeoutSeconds: number;
} & ({ mode: 'closed'; connections: number } | { mode: 'open'; rate: number; maxInFlight: number });

/** One answered request: [completed at (ms since the epoch), HTTP status, latency ms]. */
export type Answer = [number, number, number];

export interface LoadRecord {
  startedAtMs: number;
  endedAtMs: number;
  answers: Answer[];
  /** Requests that got no HTTP answer (connection errors and client timeouts), with the first few messages. */
  errors: number;
  /** The client timeouts among `errors`. */
  timeouts: number;
  errorMessages: string[];
  skipped: number;
}

interface AutocannonInstance {
  on(event: 'response', listener: (client: unknown, status: number, bytes: number, latencyMs: number) => void): void;
  on(event: 'reqError', listener: (error: Error) => void): void;
  on(event: 'done', listener: (result: { timeouts: number }) => void): void;
}
// autocannon ships no types; this is the part of its programmatic API used here.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- no types to import it with (above)
const autocannon = require('autocannon') as (options: Record<string, unknown>) => AutocannonInstance;

const MAX_MESSAGES = 5;

/** A record started now, with nothing in it yet. */
function emptyRecord(): LoadRecord {
  return { startedAtMs: Date.now(), endedAtMs: 0, answers: [], errors: 0, timeouts: 0, errorMessages: [], skipped: 0 };
}

/** Counts an error; its message is kept while there are fewer than MAX_MESSAGES. */
function countError(record: LoadRecord, message: string): void {
  record.errors++;
  if (record.errorMessages.length < MAX_MESSAGES) record.errorMessages.push(message);
}

function closedLoop(spec: LoadSpec & { mode: 'closed' }, body: Buffer): Promise<LoadRecord> {
  const record = emptyRecord();
  return new Promise((resolve) => {
    const instance = autocannon({
      url: spec.url,
      method: 'POST',
      headers: spec.headers,
      body,
      connections: spec.connections,
      pipelining: 1,
      duration: spec.durationSeconds,
      timeout: spec.timeoutSeconds,
    });
    instance.on('response', (_client, status, _bytes, latencyMs) =>
      record.answers.push([Date.now(), status, latencyMs]),
    );
    instance.on('reqError', (error) => countError(record, error.message));
    instance.on('done', (result) => {
      record.timeouts = result.timeouts;
      record.endedAtMs = Date.now();
      resolve(record);
    });
  });
}

function openLoop(spec: LoadSpec & { mode: 'open' }, body: Buffer): Promise<LoadRecord> {
  const record = emptyRecord();
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.maxInFlight });
  const url = new URL(spec.url);
  const headers = { ...spec.headers, 'content-length': String(body.byteLength) };
  let inFlight = 0;
  const fail = (message: string) => countError(record, message);
  const send = () => {
    if (inFlight >= spec.maxInFlight) {
      record.skipped++;
      return;
    }
    inFlight++;
    const started = performance.now();
    let settled = false;
    // Exactly one of answer, timeout and error counts for each request.
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      inFlight--;
      return true;
    };
    const request = http.request(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers },
      (response) => {
        response.on('data', () => {});
        response.on('end', () => {
          if (settle()) record.answers.push([Date.now(), response.statusCode ?? 0, performance.now() - started]);
        });
      },
    );
    request.setTimeout(spec.timeoutSeconds * 1000, () => {
      if (settle()) {
        record.timeouts++;
        fail('request timed out');
      }
      request.destroy();
    });
    request.on('error', (error) => {
      if (settle()) fail(error.message);
    });
    request.end(body);
  };
  return new Promise((resolve) => {
    const intervalMs = 1000 / spec.rate;
    const total = Math.round(spec.durationSeconds * spec.rate);
    const origin = performance.now();
    let sent = 0;
    // Arrivals on a fixed schedule: each timer fires every arrival that is due, so a late timer does not lower the rate.
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - origin) / intervalMs) + 1);
      while (sent < due) {
        send();
        sent++;
      }
      if (sent < total) {
        setTimeout(tick, Math.max(0, origin + sent * intervalMs - performance.now()));
        return;
      }
      const finish = () => {
        if (inFlight > 0) {
          setTimeout(finish, 50);
          return;
        }
        agent.destroy();
        record.endedAtMs = Date.now();
        resolve(record);
      };
      finish();
    };
    tick();
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2]) as LoadSpec;
  const body = fs.readFileSync(spec.bodyFile);
  const record = spec.mode === 'closed' ? await closedLoop(spec, body) : await openLoop(spec, body);
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

if (require.main === module)
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
