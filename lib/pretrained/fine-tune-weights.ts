// `vitorch train --weights W`: the weights a fine-tuning run starts from, loaded into the config's model with the
// adaptation rules of fine-tuning (the model's own head kept when the checkpoint's is for another class count or
// absent, a position table of another grid resampled). A file is an article-named state dict (the article's, timm's,
// a `vitorch train` save) read natively as ever; a folder is read as loadPretrained reads it (a transformers ViT
// folder, its names mapped to the article's; a vitorch model folder). Where the checkpoint's own model differs from
// the config's in what no shape shows (the GELU form, the LayerNorm eps, the number of heads), the load succeeds,
// since the tensors fit, but the run would fine-tune a different network than the one trained: a warning says which
// option to set.
import * as fs from 'fs';
import { StateDictError } from '../errors';
import type { VisionTransformer, VisionTransformerOptions } from '../model';
import { readPretrained } from './load-pretrained';

export interface FineTuneWeights {
  /** What was adapted and mapped, one line each. */
  notes: string[];
  /** Where the checkpoint's network differs from the config's, with the option that would make them agree. */
  warnings: string[];
}

const ADAPT = { strict: true, keepModelHead: true, resamplePosEmbed: true } as const;

/** The options no tensor shape shows, with the model's defaults for those a vitorch config leaves out. */
function unseen(options: VisionTransformerOptions) {
  return {
    activation: options.activation ?? 'gelu-tanh',
    layerNormEps: options.layerNormEps ?? 1e-6,
    numHeads: options.numHeads ?? 12,
  };
}

function disagreements(checkpoint: VisionTransformerOptions, model: VisionTransformer, weights: string): string[] {
  const theirs = unseen(checkpoint);
  const ours = unseen(model.options);
  const why = {
    activation: 'its MLPs would run another GELU than the one its weights were trained with',
    layerNormEps: 'its LayerNorms would divide by other numbers than in training',
    numHeads: 'its attention weights would be split into other heads than they were trained in',
  };
  return (Object.keys(theirs) as (keyof typeof theirs)[])
    .filter((key) => theirs[key] !== ours[key])
    .map(
      (key) =>
        `${weights} was trained with ${key} ${JSON.stringify(theirs[key])}, the config's model has ` +
        `${JSON.stringify(ours[key])}: ${why[key]}; set model.${key} to ${JSON.stringify(theirs[key])} to fine-tune ` +
        'the network it was',
    );
}

/** Loads `weights` (a file or a folder) into `model` for fine-tuning; the checkpoint's tensors are read off the
 *  event loop. Errors: a PretrainedError for a folder loadPretrained cannot read, a CheckpointError or a
 *  StateDictError (naming `weights`) for tensors that do not fit. */
export async function loadFineTuneWeights(
  model: VisionTransformer,
  weights: string,
  options: { skipUnknownGlobals?: boolean } = {},
): Promise<FineTuneWeights> {
  const skipUnknownGlobals = options.skipUnknownGlobals ?? false;
  if (!(await isFolder(weights))) {
    const report = await model.loadStateDictAsync(weights, { ...ADAPT, skipUnknownGlobals });
    const notes = [...report.notes];
    if (model.options.activation === 'gelu-tanh') {
      notes.push(
        "a state dict does not record its GELU: fine-tuning with the config's 'gelu-tanh' (the article's); timm's " +
          "weights were trained with the exact form: set model.activation to 'gelu' for them",
      );
    }
    return { notes, warnings: [] };
  }
  const read = await readPretrained(weights, { skipUnknownGlobals });
  try {
    let report;
    try {
      // A copy of tensors already read, as loadPretrained's own load.
      report = model.loadStateDict(read.stateDict, ADAPT);
    } catch (error) {
      if (error instanceof StateDictError) {
        throw new StateDictError(`${weights}: not weights the config's model can start from; ${error.message}`);
      }
      throw error;
    }
    return { notes: [...read.notes, ...report.notes], warnings: disagreements(read.options, model, weights) };
  } finally {
    read.dispose();
  }
}

async function isFolder(file: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(file)).isDirectory();
  } catch {
    // A missing file is the native reader's to name.
    return false;
  }
}
