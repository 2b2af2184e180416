// `vitorch train --nproc-per-node N`: runs N processes of this same command on this machine as the ranks of one
// data-parallel job, the way `torchrun --standalone --nproc-per-node N` starts its workers: each gets torchrun's
// environment (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and OMP_NUM_THREADS, and
// rank 0 hosts the rendezvous on a free port. Each worker runs in a session of its own, as torchrun's do, so that
// Ctrl-C on a terminal reaches only this process, which passes SIGINT and SIGTERM on to every worker once: they stop
// together after the same step. When a worker fails, the others are stopped (SIGTERM, then SIGKILL after a grace
// period) and this process exits with the first failure's code. Nothing here loads libtorch.
import { ChildProcess, spawn } from 'child_process';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

/** How long stopped workers get to exit before SIGKILL, as torchrun gives them. */
export const STOP_GRACE_MS = 30_000;

export interface LaunchOptions {
  /** Processes to start. */
  nprocPerNode: number;
  /** The rendezvous port; default a free one. */
  masterPort?: number;
  /** The `vitorch train` arguments of every worker (without the launcher's own flags). */
  args: string[];
  /** The environment the workers inherit; default process.env. */
  env?: NodeJS.ProcessEnv;
}

/** A TCP port nobody listens on now (the kernel's pick), as torchrun finds one for --standalone. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** torchrun's worker environment for rank `rank` of `worldSize` on one machine. */
export function workerEnvironment(
  base: NodeJS.ProcessEnv,
  rank: number,
  worldSize: number,
  masterPort: number,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    RANK: String(rank),
    LOCAL_RANK: String(rank),
    GROUP_RANK: '0',
    WORLD_SIZE: String(worldSize),
    LOCAL_WORLD_SIZE: String(worldSize),
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: String(masterPort),
    // The cores shared out, so that N processes do not each start a thread per core (torchrun sets 1).
    OMP_NUM_THREADS: base.OMP_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / worldSize))),
  };
  // Rank 0 hosts the store here: an agent's store from an outer torchrun does not exist for these workers.
  delete env.TORCHELASTIC_USE_AGENT_STORE;
  delete env.TORCHELASTIC_RESTART_COUNT;
  return env;
}

/** The exit code a shell gives a process that ended this way. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal !== null) return 128 + (os.constants.signals[signal] ?? 0);
  return code ?? 1;
}

/** Starts the workers and resolves with the job's exit code when every one has exited. */
export async function launchWorkers(options: LaunchOptions): Promise<number> {
  const worldSize = options.nprocPerNode;
  const masterPort = options.masterPort ?? (await freePort());
  const base = options.env ?? process.env;
  const cli = path.join(__dirname, 'vitorch.js');
  const threads = workerEnvironment(base, 0, worldSize, masterPort).OMP_NUM_THREADS;
  console.error(
    `vitorch train: starting ${worldSize} processes (rendezvous at 127.0.0.1:${masterPort}, ` +
      `OMP_NUM_THREADS=${threads})`,
  );

  const workers: ChildProcess[] = [];
  const running = new Set<ChildProcess>();
  let failure: number | undefined;
  let killTimer: NodeJS.Timeout | undefined;

  // A worker's whole process group, as torchrun signals it (os.killpg): anything the worker started goes too.
  const signalWorker = (worker: ChildProcess, signal: NodeJS.Signals) => {
    if (!running.has(worker) || worker.pid === undefined) return;
    try {
      process.kill(-worker.pid, signal);
    } catch {
      // Already gone: its exit event is on the way.
    }
  };
  const stopOthers = () => {
    for (const worker of running) signalWorker(worker, 'SIGTERM');
    killTimer = setTimeout(() => {
      for (const worker of running) signalWorker(worker, 'SIGKILL');
    }, STOP_GRACE_MS);
    killTimer.unref();
  };
  const forward = (signal: NodeJS.Signals) => {
    for (const worker of running) signalWorker(worker, signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);

  try {
    return await new Promise<number>((resolve) => {
      const exited = (rank: number, worker: ChildProcess, code: number, how: string) => {
        if (!running.delete(worker)) return;
        if (code !== 0 && failure === undefined) {
          failure = code;
          if (running.size > 0) {
            console.error(`vitorch train: rank ${rank} (pid ${worker.pid}) ${how}; stopping the other ranks`);
            stopOthers();
          }
        }
        if (running.size === 0) resolve(failure ?? 0);
      };
      for (let rank = 0; rank < worldSize; rank++) {
        const worker = spawn(process.execPath, [...process.execArgv, cli, 'train', ...options.args], {
          env: workerEnvironment(base, rank, worldSize, masterPort),
          // An IPC channel that closes when this process dies: orphaned workers notice and stop.
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          detached: true,
        });
        workers.push(worker);
        running.add(worker);
        worker.on('error', (error) => {
          console.error(`vitorch train: could not start rank ${rank}: ${error.message}`);
          exited(rank, worker, 1, 'could not start');
        });
        worker.on('exit', (code, signal) => {
          const how = signal === null ? `exited with code ${code}` : `was killed by ${signal}`;
          exited(rank, worker, exitCodeOf(code, signal), how);
        });
      }
    });
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    for (const worker of workers) if (worker.connected) worker.disconnect();
  }
}
