// The training `vitorch train` runs in this process: alone, or as one rank of a data-parallel job.
//
// Trains as the article's train.py does and writes what it writes, into DIR: last_epoch_weights.pth after every
// epoch, best_epoch_weights.pth when the validation loss is the lowest so far, ep%03d-loss%.3f-val_loss%.3f.pth
// every savePeriod epochs (state dicts that torch.load and the article's model read), plus config.json (the resolved
// config: model, class names, preprocessing as numbers), training_state.pt (weights, optimizer, random state and
// the position, for --resume), curves.csv and curves.svg. Ctrl-C, SIGTERM and --time-limit finish the running
// step, save the training state and exit 0; a second signal exits at once.
//
// As a rank (torchrun's RANK and WORLD_SIZE are set): it joins the process group, trains on its shard, and rank 0
// alone writes DIR and reports progress; the others print a line when they join and when they end. A signal to any
// rank stops every rank after the same step (the stop request rides on a step), and rank 0 saves the state. Every
// rank loads the same training state on --resume, so DIR must be one folder that all of them read.
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomicSync } from '../atomic-write';
import { initProcessGroup, ProcessGroup } from '../distributed/process-group';
import { DistributedError } from '../errors';
import { confusion } from '../report/confusion';
import { writeConfusionFiles } from '../report/confusion-files';
import { EpochRecord, writeCurvesCsv } from '../report/curves';
import { curvesSvg } from '../report/curves-svg';
import type { EpochTotals } from '../train/trainer';
import { createProgressReporter, ProgressReporter, silentProgressReporter } from './progress';
import { resumeStep } from './resume-position';
import { loadTrainConfig, TrainConfig, trainingData } from './train-config';
import { buildTrainingRun, epochBatchSize, TrainingRun } from './train-run';

export const TRAINING_STATE = 'training_state.pt';

/** What training_state.pt carries besides the tensors: where to go on, and what happened so far. */
export interface ResumePoint {
  epoch: number;
  step: number;
  history: EpochRecord[];
  bestValLoss: number | null;
  seconds: number;
  /** A mid-epoch stop's totals of that epoch so far (absent in states of older versions). */
  totals?: EpochTotals;
  /** The processes that trained, and their per-process batch in the stopped epoch: a mid-epoch resume with other
   *  ones maps the position in samples (absent in states of older versions: one process, the config's batch). */
  worldSize?: number;
  batchSize?: number;
}

export interface TrainJobOptions {
  configFile: string;
  saveDir: string;
  overrides: Record<string, unknown>;
  resumeDir?: string;
  /** Resume from saveDir's training state when there is one (a launcher's restart), else start afresh. */
  autoResume: boolean;
  timeLimit?: number;
  weights?: string;
  skipUnknownGlobals: boolean;
  /** Run as a rank of the job torchrun's environment describes, or alone (null). */
  distributed: { timeoutMs?: number } | null;
}

export function checkpointName(epoch: number, loss: number, valLoss: number): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'nan');
  return `ep${String(epoch).padStart(3, '0')}-loss${f(loss)}-val_loss${f(valLoss)}.pth`;
}

export async function trainJob(options: TrainJobOptions): Promise<number> {
  const config: TrainConfig = await loadTrainConfig(options.configFile, options.overrides);
  trainingData(config, options.configFile);
  if (options.distributed === null) return train(config, options, null);
  const timeoutMs = options.distributed.timeoutMs;
  const group = await initProcessGroup(timeoutMs === undefined ? {} : { timeoutMs });
  try {
    console.error(
      `vitorch train: rank ${group.rank} of ${group.worldSize} (local rank ${group.localRank}, pid ${process.pid}) ` +
        `joined${group.rank === 0 ? `; it reports progress and writes ${options.saveDir}` : ''}`,
    );
    return await train(config, options, group);
  } finally {
    // Gloo's threads must be gone before the process exits, whatever ended the training.
    group.destroy();
  }
}

async function train(config: TrainConfig, options: TrainJobOptions, group: ProcessGroup | null): Promise<number> {
  const { saveDir } = options;
  const lead = group === null || group.rank === 0;
  const rankName = group ? `rank ${group.rank} of ${group.worldSize}` : '';
  const run = await buildTrainingRun(config, {
    weights: options.weights,
    skipUnknownGlobals: options.skipUnknownGlobals,
    ...(group ? { processGroup: group } : {}),
  });
  const reporter = lead ? createProgressReporter() : silentProgressReporter();
  for (const note of run.notes) reporter.message(`note: ${note}`);
  for (const warning of run.warnings) reporter.message(`warning: ${warning}`);
  if (lead) fs.mkdirSync(saveDir, { recursive: true });

  const resume = await resumePoint(run, options, reporter);
  if (group) await agreeOnStart(group, resume);
  // Written with the first weights or state, not before: a run that fails on its first batches (an image that does
  // not decode) must not replace the config.json that describes the weights already in saveDir.
  let configSaved = false;
  const saveConfig = () => {
    if (!configSaved) writeFileAtomicSync(path.join(saveDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    configSaved = true;
  };

  const controller = new AbortController();
  let signals = 0;
  const requestStop = (why: string) => {
    if (group === null) reporter.message(`${why}: finishing the running step, then saving`);
    else {
      // Data-parallel, the request rides on the next step that starts: every rank stops after that one.
      const line = `vitorch train: ${rankName}: ${why}: every rank stops after the next step, then rank 0 saves`;
      if (lead) reporter.message(line);
      else console.error(line);
    }
    controller.abort();
  };
  const stopOn = (why: string) => {
    signals++;
    if (signals > 1) process.exit(130);
    requestStop(why);
  };
  const onSignal = (signal: NodeJS.Signals) => stopOn(signal);
  // `vitorch train --nproc-per-node` gave this worker a channel that closes when the launcher dies: stop with the
  // others rather than train on as an orphan.
  const onLauncherGone = () => stopOn('the launcher exited');
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (group && process.channel) {
    process.channel.unref();
    process.once('disconnect', onLauncherGone);
  }
  const timer =
    options.timeLimit === undefined
      ? undefined
      : setTimeout(() => requestStop(`time limit of ${options.timeLimit} minutes reached`), options.timeLimit * 60_000);
  timer?.unref();

  const history = [...resume.history];
  let bestValLoss = resume.bestValLoss;
  const started = performance.now();
  const elapsed = () => resume.seconds + (performance.now() - started) / 1000;
  let shownEpoch = -1;
  let epochStarted = performance.now();
  const state = (epoch: number, step: number, totals?: EpochTotals): ResumePoint => ({
    epoch,
    step,
    history,
    bestValLoss,
    seconds: elapsed(),
    ...(totals ? { totals } : {}),
    worldSize: run.worldSize,
    batchSize: epochBatchSize(config, epoch),
  });
  try {
    for await (const event of run.trainer.fit({
      ...run.fitOptions,
      startEpoch: resume.epoch,
      startStep: resume.step,
      signal: controller.signal,
      ...(resume.totals ? { startTotals: resume.totals } : {}),
    })) {
      if (event.type === 'step') {
        if (event.epoch !== shownEpoch) {
          shownEpoch = event.epoch;
          epochStarted = performance.now();
          reporter.epochStart({ epoch: event.epoch + 1, epochs: config.train.epochs, steps: event.steps });
        }
        reporter.step({
          step: event.step,
          loss: event.loss,
          accuracy: event.accuracy,
          lr: event.lr,
          imagesPerSecond: event.imagesPerSecond,
        });
      } else if (event.type === 'epoch') {
        const v = event.validation;
        const record: EpochRecord = {
          epoch: event.epoch + 1,
          trainLoss: event.loss,
          lr: event.lr,
          imagesPerSecond: event.imagesPerSecond,
          seconds: (performance.now() - epochStarted) / 1000,
          ...(v ? { valLoss: v.loss, top1: v.top1, top5: v.topk } : {}),
        };
        history.push(record);
        const valLoss = v ? v.loss : event.loss;
        const best = bestValLoss === null || valLoss <= bestValLoss;
        if (best) bestValLoss = valLoss;
        // The figures are every rank's (fit() reports them so): every rank keeps the same history, rank 0 writes.
        if (lead) {
          saveConfig();
          await run.model.saveStateDictAsync(path.join(saveDir, 'last_epoch_weights.pth'));
          if (best) await run.model.saveStateDictAsync(path.join(saveDir, 'best_epoch_weights.pth'));
          if ((event.epoch + 1) % config.train.savePeriod === 0 || event.epoch + 1 === config.train.epochs) {
            await run.model.saveStateDictAsync(
              path.join(saveDir, checkpointName(event.epoch + 1, event.loss, valLoss)),
            );
          }
          writeCurvesCsv(path.join(saveDir, 'curves.csv'), history);
          writeFileAtomicSync(
            path.join(saveDir, 'curves.svg'),
            curvesSvg(history, { title: `vitorch train: ${path.basename(options.configFile)}` }),
          );
          if (v) {
            writeConfusionFiles(
              saveDir,
              confusion(v.labels, v.predictions, config.classes),
              `validation after epoch ${event.epoch + 1}`,
            );
          }
          await run.trainer.saveState(path.join(saveDir, TRAINING_STATE), state(event.epoch + 1, 0));
        }
        reporter.epochEnd({
          loss: event.loss,
          accuracy: event.accuracy,
          lr: event.lr,
          imagesPerSecond: event.imagesPerSecond,
          seconds: record.seconds,
          dataWaitSeconds: event.dataWaitMs / 1000,
          ...(v ? { valLoss: v.loss, valTop1: v.top1, valTop5: v.topk } : {}),
        });
        shownEpoch = -1;
      } else {
        const where = `epoch ${event.epoch + 1}${event.step > 0 ? ` step ${event.step + 1}` : ''}`;
        if (!lead) {
          console.error(`vitorch train: ${rankName} stopped with the others before ${where}`);
          return 0;
        }
        saveConfig();
        await run.trainer.saveState(path.join(saveDir, TRAINING_STATE), state(event.epoch, event.step, event.totals));
        reporter.stop();
        console.error(
          `vitorch train: stopped before ${where} after ${elapsed().toFixed(0)} s; ` +
            `saved ${path.join(saveDir, TRAINING_STATE)}; continue with --resume ${saveDir}`,
        );
        return 0;
      }
    }
  } finally {
    reporter.stop();
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('disconnect', onLauncherGone);
  }
  if (!lead) {
    console.error(`vitorch train: ${rankName} done`);
    return 0;
  }
  const last = history[history.length - 1];
  console.error(
    `vitorch train: done, ${config.train.epochs} epochs in ${elapsed().toFixed(0)} s` +
      (last?.top1 !== undefined ? `; last validation top-1 ${(last.top1 * 100).toFixed(2)}%` : ''),
  );
  return 0;
}

/** Where the run starts: the training state of --resume DIR (or, with --auto-resume, of saveDir when it has one),
 *  loaded into the model and optimizer, or the first step. A mid-epoch position saved by another number of processes
 *  or another batch is mapped to this run's steps (./resume-position). */
async function resumePoint(
  run: TrainingRun,
  options: TrainJobOptions,
  reporter: ProgressReporter,
): Promise<ResumePoint> {
  const fresh: ResumePoint = { epoch: 0, step: 0, history: [], bestValLoss: null, seconds: 0 };
  const autoState = path.join(options.saveDir, TRAINING_STATE);
  const file = options.resumeDir
    ? path.join(options.resumeDir, TRAINING_STATE)
    : options.autoResume && fs.existsSync(autoState)
      ? autoState
      : undefined;
  if (file === undefined) return fresh;
  const resume = (await run.trainer.loadState(file)) as ResumePoint;
  let note = '';
  if (resume.step > 0) {
    const batchSize = epochBatchSize(run.config, resume.epoch);
    const stopped = { step: resume.step, worldSize: resume.worldSize ?? 1, batchSize: resume.batchSize ?? batchSize };
    if (stopped.worldSize !== run.worldSize || stopped.batchSize !== batchSize) {
      const mapped = resumeStep(stopped, { worldSize: run.worldSize, batchSize, steps: run.trainSteps(batchSize) });
      note =
        ` (the stopped run had trained ${mapped.samples} images of this epoch, as ${processes(stopped.worldSize)} ` +
        `of batch ${stopped.batchSize}; this run, ${processes(run.worldSize)} of batch ${batchSize}, goes on from ` +
        `there${mapped.repeated > 0 ? ` and trains the last ${mapped.repeated} of them again` : ''})`;
      resume.step = mapped.step;
    }
  }
  // 1-based, as the stop message counts: the step that runs next.
  reporter.message(
    `resuming at epoch ${resume.epoch + 1}${resume.step > 0 ? `, step ${resume.step + 1}` : ''}${note}` +
      (options.resumeDir ? '' : ` from ${file}`),
  );
  return resume;
}

function processes(count: number): string {
  return count === 1 ? '1 process' : `${count} processes`;
}

/** Every rank must start at the same place (one training state, read by all): a sum over the ranks equals the
 *  number of ranks times a rank's own value for every rank only when all values are equal. */
async function agreeOnStart(group: ProcessGroup, resume: ResumePoint): Promise<void> {
  const own = [resume.epoch, resume.step];
  const sums = await group.allReduceSum(own);
  if (own.some((value, i) => sums[i] !== value * group.worldSize)) {
    throw new DistributedError(
      `rank ${group.rank} of ${group.worldSize} starts at epoch ${resume.epoch + 1}, step ${resume.step + 1}, but ` +
        `the ranks disagree (on average epoch ${sums[0] / group.worldSize + 1}, ` +
        `step ${sums[1] / group.worldSize + 1}): ` +
        'every rank must read the same training state (a save directory that all of them share)',
    );
  }
}
