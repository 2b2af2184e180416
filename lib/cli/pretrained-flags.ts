// The flags that tell loadPretrained what a checkpoint cannot say (a bare state dict records neither its heads, its
// GELU form nor its LayerNorm eps): `convert` and `inspect` take them, and `predict`, `eval` and `serve` when
// `--weights` comes without `--config`. With a config they are refused: the config already states the model.
import { ACTIVATIONS } from '../model';
import type { LoadPretrainedOptions } from '../pretrained/load-pretrained';
import { choiceFlag, integerFlag, numberFlag, ParsedArgs, UsageError } from './args';

export const PRETRAINED_FLAGS = ['num-heads', 'activation', 'layer-norm-eps'];

/** loadPretrained's options from the flags; `--skip-unknown-globals` where the command declares it. */
export function pretrainedOptions(parsed: ParsedArgs): LoadPretrainedOptions {
  return {
    numHeads: integerFlag(parsed, 'num-heads'),
    activation: choiceFlag(parsed, 'activation', ACTIVATIONS),
    layerNormEps: numberFlag(parsed, 'layer-norm-eps', (n) => n > 0 && n < 1, 'a number in (0, 1)'),
    skipUnknownGlobals: parsed.flags.has('skip-unknown-globals'),
  };
}

/** A UsageError when any of the flags is given beside --config, whose model they would contradict. */
export function refusePretrainedFlagsWithConfig(parsed: ParsedArgs): void {
  const given = PRETRAINED_FLAGS.filter((name) => parsed.flags.has(name));
  if (given.length > 0) {
    throw new UsageError(
      `${given.map((name) => `--${name}`).join(', ')} describe a checkpoint read without --config; ` +
        "with --config the config's model options apply",
    );
  }
}
