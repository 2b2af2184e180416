// `vitorch train --config FILE --save-dir DIR [--time-limit MINUTES] [--resume DIR] [--weights FILE]
//  [--skip-unknown-globals] [--<config.key> VALUE ...]`
//
// Trains as the article's train.py does and writes what it writes, into DIR: last_epoch_weights.pth after every
// epoch, best_epoch_weights.pth when the validation loss is the lowest so far, ep%03d-loss%.3f-val_loss%.3f.pth
// every savePeriod epochs (state dicts that torch.load and the article's model read), plus config.json (the resolved
// config: model, class names, preprocessing as numbers), training_state.pt (weights, optimizer, random state and
// the position, for --resume), curves.csv and curves.svg. Ctrl-C, SIGTERM and --time-limit finish the running
// step, save the training state and exit 0; a second signal exits at once.
import * as fs from 'fs';
import * as path from 'path';
import { CheckpointError, StateDictError } from '../errors';
import { DataError } from '../data/errors';
import { writeFileAtomicSync } from '../atomic-write';
import { confusion } from '../report/confusion';
import { writeConfusionFiles } from '../report/confusion-files';
import { EpochRecord, writeCurvesCsv } from '../report/curves';
import { curvesSvg } from '../report/curves-svg';
import type { EpochTotals } from '../train/trainer';
import { numberFlag, parseArgs, stringFlag, UsageError } from './args';
import { createProgressReporter } from './progress';
import { ConfigError, loadTrainConfig, TrainConfig, trainingData } from './train-config';
import { buildTrainingRun } from './train-run';

export const TRAIN_USAGE =
  'usage: vitorch train --config FILE --save-dir DIR [--time-limit MINUTES] [--resume DIR] ' +
  '[--weights FILE] [--skip-unknown-globals] [--<config.key> VALUE ...]';

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
}

export function checkpointName(epoch: number, loss: number, valLoss: number): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'nan');
  return `ep${String(epoch).padStart(3, '0')}-loss${f(loss)}-val_loss${f(valLoss)}.pth`;
}

export async function trainCommand(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(args, ['config', 'save-dir', 'time-limit', 'resume', 'weights'], ['skip-unknown-globals'], {
      positionals: false,
    });
  } catch (error) {
    console.error(`vitorch train: ${(error as Error).message}\n${TRAIN_USAGE}`);
    return 2;
  }
  const resumeDir = stringFlag(parsed, 'resume');
  const saveDir = stringFlag(parsed, 'save-dir') ?? resumeDir;
  const configFile = stringFlag(parsed, 'config') ?? (resumeDir ? path.join(resumeDir, 'config.json') : undefined);
  let timeLimit: number | undefined;
  try {
    if (!configFile || !saveDir) throw new UsageError('--config and --save-dir are required (or --resume DIR)');
    timeLimit = numberFlag(parsed, 'time-limit', (n) => n > 0, 'a positive number of minutes');
  } catch (error) {
    console.error(`vitorch train: ${(error as Error).message}\n${TRAIN_USAGE}`);
    return 2;
  }
  try {
    return await train(configFile, saveDir, parsed.overrides, {
      resumeDir,
      timeLimit,
      weights: stringFlag(parsed, 'weights'),
      skipUnknownGlobals: parsed.flags.has('skip-unknown-globals'),
    });
  } catch (error) {
    if (
      error instanceof ConfigError ||
      error instanceof DataError ||
      error instanceof CheckpointError ||
      error instanceof StateDictError ||
      error instanceof RangeError ||
      error instanceof TypeError
    ) {
      console.error(`vitorch train: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

interface TrainFlags {
  resumeDir?: string;
  timeLimit?: number;
  weights?: string;
  skipUnknownGlobals: boolean;
}

async function train(
  configFile: string,
  saveDir: string,
  overrides: Record<string, unknown>,
  flags: TrainFlags,
): Promise<number> {
  const config: TrainConfig = await loadTrainConfig(configFile, overrides);
  trainingData(config, configFile);
  const run = await buildTrainingRun(config, { weights: flags.weights, skipUnknownGlobals: flags.skipUnknownGlobals });
  const reporter = createProgressReporter();
  for (const note of run.notes) reporter.message(`note: ${note}`);
  fs.mkdirSync(saveDir, { recursive: true });

  let resume: ResumePoint = { epoch: 0, step: 0, history: [], bestValLoss: null, seconds: 0 };
  if (flags.resumeDir) {
    resume = (await run.trainer.loadState(path.join(flags.resumeDir, TRAINING_STATE))) as ResumePoint;
    // 1-based, as the stop message counts: the step that runs next.
    reporter.message(`resuming at epoch ${resume.epoch + 1}${resume.step > 0 ? `, step ${resume.step + 1}` : ''}`);
  }
  // Written with the first weights or state, not before: a run that fails on its first batches (an image that does
  // not decode) must not replace the config.json that describes the weights already in saveDir.
  let configSaved = false;
  const saveConfig = () => {
    if (!configSaved) writeFileAtomicSync(path.join(saveDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    configSaved = true;
  };

  const controller = new AbortController();
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) process.exit(130);
    reporter.message(`${signal}: finishing the running step, then saving`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const timer =
    flags.timeLimit === undefined
      ? undefined
      : setTimeout(() => {
          reporter.message(`time limit of ${flags.timeLimit} minutes reached: finishing the running step, then saving`);
          controller.abort();
        }, flags.timeLimit * 60_000);
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
        saveConfig();
        await run.model.saveStateDictAsync(path.join(saveDir, 'last_epoch_weights.pth'));
        if (bestValLoss === null || valLoss <= bestValLoss) {
          bestValLoss = valLoss;
          await run.model.saveStateDictAsync(path.join(saveDir, 'best_epoch_weights.pth'));
        }
        if ((event.epoch + 1) % config.train.savePeriod === 0 || event.epoch + 1 === config.train.epochs) {
          await run.model.saveStateDictAsync(path.join(saveDir, checkpointName(event.epoch + 1, event.loss, valLoss)));
        }
        writeCurvesCsv(path.join(saveDir, 'curves.csv'), history);
        writeFileAtomicSync(
          path.join(saveDir, 'curves.svg'),
          curvesSvg(history, { title: `vitorch train: ${path.basename(configFile)}` }),
        );
        if (v) {
          writeConfusionFiles(
            saveDir,
            confusion(v.labels, v.predictions, config.classes),
            `validation after epoch ${event.epoch + 1}`,
          );
        }
        await run.trainer.saveState(path.join(saveDir, TRAINING_STATE), state(event.epoch + 1, 0));
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
        saveConfig();
        await run.trainer.saveState(path.join(saveDir, TRAINING_STATE), state(event.epoch, event.step, event.totals));
        reporter.stop();
        console.error(
          `vitorch train: stopped before epoch ${event.epoch + 1}${event.step > 0 ? ` step ${event.step + 1}` : ''} ` +
            `after ${elapsed().toFixed(0)} s; saved ${path.join(saveDir, TRAINING_STATE)}; continue with --resume ${saveDir}`,
        );
        return 0;
      }
    }
  } finally {
    reporter.stop();
    if (timer) clearTimeout(timer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const last = history[history.length - 1];
  console.error(
    `vitorch train: done, ${config.train.epochs} epochs in ${elapsed().toFixed(0)} s` +
      (last?.top1 !== undefined ? `; last validation top-1 ${(last.top1 * 100).toFixed(2)}%` : ''),
  );
  return 0;
}
