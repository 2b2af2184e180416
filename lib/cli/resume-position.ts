// Where a resumed `vitorch train` goes on in an epoch that was stopped in the middle, when the run that stopped had
// another number of processes or another per-process batch. An epoch's sample order is the same for any number of
// processes (BatchLoader's shards: step s of every rank together trains block s of the one-process order at the global
// batch), so a stop is a position in samples: step x batch x processes. The resumed run goes on at the step that
// starts at or before it; whatever the two steps do not share is trained again. An epoch boundary needs none of this
// and resumes exactly.
import { requireInteger } from '../validate';

export interface StoppedAt {
  /** The next step to run, counted at the stopped run's batch. */
  step: number;
  /** The stopped run's processes and per-process batch in that epoch. */
  worldSize: number;
  batchSize: number;
}

export interface ResumingWith {
  worldSize: number;
  batchSize: number;
  /** Steps of that epoch at this batch and number of processes (the resumed step cannot go past them). */
  steps: number;
}

export interface ResumeStep {
  /** The next step to run in this run's counting. */
  step: number;
  /** The samples of the epoch the stopped run trained (its global order's first `samples`). */
  samples: number;
  /** How many of those the resumed run trains again (0 when the global batches divide the position). */
  repeated: number;
}

/** The step a run of `now` resumes an epoch at that a run of `stopped` left after its `stopped.step` steps. */
export function resumeStep(stopped: StoppedAt, now: ResumingWith): ResumeStep {
  const step = requireInteger(stopped.step, 'stopped step', 0);
  const samples =
    step *
    requireInteger(stopped.batchSize, 'stopped batchSize', 1) *
    requireInteger(stopped.worldSize, 'stopped worldSize', 1);
  const globalBatch = requireInteger(now.batchSize, 'batchSize', 1) * requireInteger(now.worldSize, 'worldSize', 1);
  const steps = requireInteger(now.steps, 'steps', 0);
  const resumed = Math.floor(samples / globalBatch);
  // Past this run's last step (fewer processes pad less, dropLast drops more): the epoch is done, nothing repeats.
  if (resumed >= steps) return { step: steps, samples, repeated: 0 };
  return { step: resumed, samples, repeated: samples - resumed * globalBatch };
}
