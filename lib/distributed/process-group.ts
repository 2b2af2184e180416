// initProcessGroup(): joins a data-parallel job on c10d, PyTorch's own collective engine, the way
// torch.distributed.init_process_group joins one (native/distributed/process_group.h), so PyTorch and vitorch
// processes can be ranks of one job. By default it reads what torchrun (and so Kubeflow's PyTorchJob) gives each
// worker: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, and with TORCHELASTIC_USE_AGENT_STORE the store its
// agent hosts (native/distributed/process_group.cc says how a restarted attempt keys into it).
import { binding, NativeProcessGroup } from '../binding';
import { Tensor } from '../tensor';
import { expected, rejectUnknownKeys, requireInteger, requireNumber, requireObject } from '../validate';

export type ProcessGroupBackend = 'gloo' | 'nccl';

export interface ProcessGroupOptions {
  /** This process's rank in [0, worldSize). Default: $RANK. */
  rank?: number;
  /** How many processes take part. Default: $WORLD_SIZE. */
  worldSize?: number;
  /** This process's rank on its machine (which GPU it takes). Default: $LOCAL_RANK, else `rank`. */
  localRank?: number;
  /** Where rank 0 (or torchrun's agent) hosts the rendezvous store. Default: $MASTER_ADDR, else 127.0.0.1. */
  masterAddr?: string;
  /** Default: $MASTER_PORT, else 29500. */
  masterPort?: number;
  /** 'gloo' (CPU tensors, and CUDA tensors through host memory), or 'nccl' on CUDA (PyTorch's "cpu:gloo,cuda:nccl":
   *  the gradients of a model on the GPU through NCCL, figures on the CPU through Gloo; needs the NCCL plugin, built
   *  with a CUDA torch). Default 'gloo'. */
  backend?: ProcessGroupBackend;
  /** How long the rendezvous and each collective may wait for the other ranks before failing with a
   *  DistributedError. A rank that dies is noticed at once through its closed connections; this bounds a rank that
   *  hangs. Default: $VITORCH_DIST_TIMEOUT_MS, else 600 000 (10 minutes, NCCL's default in PyTorch). */
  timeoutMs?: number;
}

const OPTIONS = ['rank', 'worldSize', 'localRank', 'masterAddr', 'masterPort', 'backend', 'timeoutMs'] as const;
export const DEFAULT_TIMEOUT_MS = 600_000;

function fromEnvironment(name: string, env: NodeJS.ProcessEnv): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`expected a non-negative integer in the environment variable ${name}, received '${text}'`);
  }
  return value;
}

export { launchedByTorchrun } from './launched-by-torchrun';

export class ProcessGroup {
  /** @internal */
  readonly native: NativeProcessGroup;
  private destroyed_ = false;

  /** @internal initProcessGroup() makes them. */
  constructor(
    native: NativeProcessGroup,
    readonly rank: number,
    readonly worldSize: number,
    readonly localRank: number,
    readonly backend: ProcessGroupBackend,
    readonly timeoutMs: number,
  ) {
    this.native = native;
  }

  /** Sums the values over every rank; each rank receives the totals. */
  allReduceSum(values: ArrayLike<number>): Promise<Float64Array> {
    return this.native.allReduceSumAsync(Float64Array.from(values));
  }

  /** Reduces the tensors in place over every rank (the element-wise sum, max or min), in one coalesced collective,
   *  off the event loop: a custom loop's own gradient averaging (sum, then divide by worldSize), or any figure of
   *  yours. Dense tensors of one device and dtype; each rank passes tensors of the same shapes in the same order. */
  allReduce(tensors: Tensor[], op: 'sum' | 'max' | 'min' = 'sum'): Promise<void> {
    if (!Array.isArray(tensors) || !tensors.every((t) => t instanceof Tensor)) {
      throw new TypeError(expected('an array of Tensors', 'tensors', tensors));
    }
    if (op !== 'sum' && op !== 'max' && op !== 'min') throw new RangeError(expected("'sum', 'max' or 'min'", 'op', op));
    return this.native.allReduceAsync(
      tensors.map((t) => t.native),
      op,
    );
  }

  /** Resolves when every rank has called it. */
  barrier(): Promise<void> {
    return this.native.barrierAsync();
  }

  /** Closes the connections to the other ranks (torch.distributed.destroy_process_group). A Trainer using this group
   *  can no longer step. */
  destroy(): void {
    if (this.destroyed_) return;
    this.destroyed_ = true;
    this.native.destroy();
  }
  [Symbol.dispose](): void {
    this.destroy();
  }
  get destroyed(): boolean {
    return this.destroyed_;
  }
}

/** Joins the job: resolves when every rank has joined (the rendezvous), with the group a data-parallel Trainer takes
 *  (`new Trainer(model, { optimizer, processGroup })`). Options override torchrun's environment variables. */
export async function initProcessGroup(
  options: ProcessGroupOptions = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<ProcessGroup> {
  const o = requireObject(options, 'initProcessGroup options');
  rejectUnknownKeys(o, OPTIONS, 'initProcessGroup options');
  const worldSize =
    o.worldSize === undefined ? fromEnvironment('WORLD_SIZE', env) : requireInteger(o.worldSize, 'worldSize', 1);
  const rank = o.rank === undefined ? fromEnvironment('RANK', env) : requireInteger(o.rank, 'rank', 0);
  if (worldSize === undefined || rank === undefined) {
    throw new RangeError(
      'expected rank and worldSize, as options or in the environment variables RANK and WORLD_SIZE that torchrun ' +
        `sets, received rank ${rank ?? 'none'} and worldSize ${worldSize ?? 'none'}`,
    );
  }
  if (rank >= worldSize) throw new RangeError(`expected a rank in [0, ${worldSize - 1}], received ${rank}`);
  const localRank =
    o.localRank === undefined
      ? (fromEnvironment('LOCAL_RANK', env) ?? rank)
      : requireInteger(o.localRank, 'localRank', 0);
  const masterAddr = o.masterAddr === undefined ? env.MASTER_ADDR || '127.0.0.1' : o.masterAddr;
  if (typeof masterAddr !== 'string' || masterAddr === '') {
    throw new TypeError(expected('a host name or address', 'masterAddr', masterAddr));
  }
  const masterPort =
    o.masterPort === undefined
      ? (fromEnvironment('MASTER_PORT', env) ?? 29500)
      : requireInteger(o.masterPort, 'masterPort', 0, 65535);
  const backend = o.backend === undefined ? 'gloo' : o.backend;
  if (backend !== 'gloo' && backend !== 'nccl') throw new RangeError(expected("'gloo' or 'nccl'", 'backend', backend));
  const timeoutMs =
    o.timeoutMs === undefined
      ? (fromEnvironment('VITORCH_DIST_TIMEOUT_MS', env) ?? DEFAULT_TIMEOUT_MS)
      : requireNumber(o.timeoutMs, 'timeoutMs', (n) => n >= 1, 'a positive number of milliseconds');
  // As PyTorch's env:// decides (torch/distributed/rendezvous.py, _agent_store_serves): torchrun's agent serves the
  // store only at its own MASTER_ADDR:MASTER_PORT.
  const agentStore =
    env.TORCHELASTIC_USE_AGENT_STORE === 'True' &&
    env.MASTER_ADDR === masterAddr &&
    env.MASTER_PORT === String(masterPort);
  const native = new binding.NativeProcessGroup();
  // Failures come back typed: RangeError for a refused option, DistributedError naming this rank for the rest.
  await native.connectAsync({
    rank,
    worldSize,
    masterAddr,
    masterPort,
    backend,
    timeoutMs,
    agentStore,
    restartCount: fromEnvironment('TORCHELASTIC_RESTART_COUNT', env) ?? 0,
  });
  return new ProcessGroup(native, rank, worldSize, localRank, backend, timeoutMs);
}
