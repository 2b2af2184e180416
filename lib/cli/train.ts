// `vitorch train --config FILE --save-dir DIR [--time-limit MINUTES] [--resume DIR] [--auto-resume] [--weights FILE|DIR]
//  [--skip-unknown-globals] [--nproc-per-node N [--master-port PORT]] [--dist-timeout-ms MS]
//  [--<config.key> VALUE ...]`
//
// The command: its flags, and which way it runs. Alone, or as one rank of a data-parallel job when torchrun (or
// Kubeflow's PyTorchJob, or --nproc-per-node) started it: ./train-job trains (and is what loads libtorch). With
// --nproc-per-node it starts that many ranks of itself on this machine (./train-launcher) and waits for them.
import * as path from 'path';
import { DataError } from '../data/errors';
import { launchedByTorchrun } from '../distributed/launched-by-torchrun';
import { CheckpointError, ConfigError, DistributedError, PretrainedError, StateDictError } from '../errors';
import { integerFlag, numberFlag, parseArgs, ParsedArgs, stringFlag, UsageError } from './args';

export const TRAIN_USAGE =
  'usage: vitorch train --config FILE --save-dir DIR [--time-limit MINUTES] [--resume DIR] [--auto-resume] ' +
  '[--weights FILE|DIR] [--skip-unknown-globals] [--nproc-per-node N [--master-port PORT]] [--dist-timeout-ms MS] ' +
  '[--<config.key> VALUE ...]';

const VALUED = [
  'config',
  'save-dir',
  'time-limit',
  'resume',
  'weights',
  'nproc-per-node',
  'master-port',
  'dist-timeout-ms',
] as const;
const BOOLEANS = ['skip-unknown-globals', 'auto-resume'] as const;

/** The flags only the launcher reads: its workers get the rest. */
const LAUNCHER_FLAGS = ['nproc-per-node', 'master-port'];

/** `args` less the launcher's flags (`--name VALUE` or `--name=VALUE`; util.parseArgs has checked each has a value). */
export function withoutLauncherFlags(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') {
      kept.push(...args.slice(i));
      break;
    }
    const name = arg.startsWith('--') ? arg.slice(2).split('=')[0] : '';
    if (!LAUNCHER_FLAGS.includes(name)) kept.push(arg);
    else if (!arg.includes('=')) i++;
  }
  return kept;
}

export async function trainCommand(args: string[]): Promise<number> {
  let options: ReturnType<typeof readFlags>;
  try {
    options = readFlags(parseArgs(args, VALUED, BOOLEANS, { positionals: false }));
  } catch (error) {
    console.error(`vitorch train: ${(error as Error).message}\n${TRAIN_USAGE}`);
    return 2;
  }
  if (options.nprocPerNode !== undefined) {
    const { launchWorkers } = await import('./train-launcher');
    return launchWorkers({
      nprocPerNode: options.nprocPerNode,
      masterPort: options.masterPort,
      args: withoutLauncherFlags(args),
    });
  }
  const { trainJob } = await import('./train-job');
  try {
    return await trainJob(options.job);
  } catch (error) {
    if (
      error instanceof ConfigError ||
      error instanceof DataError ||
      error instanceof CheckpointError ||
      error instanceof StateDictError ||
      error instanceof PretrainedError ||
      error instanceof DistributedError ||
      error instanceof RangeError ||
      error instanceof TypeError
    ) {
      console.error(`vitorch train: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

function readFlags(parsed: ParsedArgs) {
  const resumeDir = stringFlag(parsed, 'resume');
  const saveDir = stringFlag(parsed, 'save-dir') ?? resumeDir;
  const configFile = stringFlag(parsed, 'config') ?? (resumeDir ? path.join(resumeDir, 'config.json') : undefined);
  if (!configFile || !saveDir) throw new UsageError('--config and --save-dir are required (or --resume DIR)');
  const autoResume = parsed.flags.has('auto-resume');
  if (autoResume && resumeDir !== undefined) {
    throw new UsageError('--auto-resume resumes from --save-dir when it holds a training state; leave out --resume');
  }
  const timeLimit = numberFlag(parsed, 'time-limit', (n) => n > 0, 'a positive number of minutes');
  const nprocPerNode = integerFlag(parsed, 'nproc-per-node');
  const masterPort = integerFlag(parsed, 'master-port');
  if (masterPort !== undefined && masterPort > 65535) {
    throw new UsageError(`expected a port in [1, 65535] for --master-port, received '${masterPort}'`);
  }
  const distTimeoutMs = integerFlag(parsed, 'dist-timeout-ms');
  const asRank = launchedByTorchrun(process.env);
  if (nprocPerNode !== undefined && asRank) {
    throw new UsageError(
      `--nproc-per-node starts the processes itself; this one is already rank ${process.env.RANK} of ` +
        `${process.env.WORLD_SIZE} (RANK and WORLD_SIZE are set, as torchrun sets them): leave --nproc-per-node out`,
    );
  }
  if (masterPort !== undefined && nprocPerNode === undefined) {
    throw new UsageError('--master-port goes with --nproc-per-node (under torchrun, give torchrun --master-port)');
  }
  if (distTimeoutMs !== undefined && nprocPerNode === undefined && !asRank) {
    throw new UsageError(
      '--dist-timeout-ms applies to a run on several processes (under torchrun, or with --nproc-per-node)',
    );
  }
  return {
    nprocPerNode,
    masterPort,
    job: {
      configFile,
      saveDir,
      overrides: parsed.overrides,
      resumeDir,
      autoResume,
      timeLimit,
      weights: stringFlag(parsed, 'weights'),
      skipUnknownGlobals: parsed.flags.has('skip-unknown-globals'),
      distributed: asRank ? { timeoutMs: distTimeoutMs } : null,
    },
  };
}
