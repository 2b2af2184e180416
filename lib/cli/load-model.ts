// The trained model a command runs: built from a config's `model` options and given a checkpoint's weights
// strictly, in evaluation mode. `vitorch eval` and `vitorch predict` (and later `serve`) share it, so that they all
// refuse the same way a checkpoint that is not the config's model, rather than adapting it as fine-tuning does.
import { StateDictError } from '../errors';
import { VisionTransformer } from '../model';
import { ConfigError, TrainConfig } from './train-config';

export interface LoadModelOptions {
  /** Read training checkpoints that pickle other objects too (timm's model_best.pth.tar). */
  skipUnknownGlobals?: boolean;
}

/**
 * Builds the model `config.model` describes (an error in those options is a ConfigError naming `configFile`) and
 * loads `weightsFile` into it strictly: every key present, none extra, every shape equal. A CheckpointError already
 * names the file; a StateDictError is given the file and config names, since the native message cannot know them.
 */
export async function loadTrainedModel(
  config: TrainConfig, configFile: string, weightsFile: string, options: LoadModelOptions = {},
): Promise<VisionTransformer> {
  let model: VisionTransformer;
  try {
    model = new VisionTransformer(config.model);
  } catch (error) {
    if (error instanceof RangeError || error instanceof TypeError) throw new ConfigError(configFile, `model: ${error.message}`);
    throw error;
  }
  try {
    await model.loadStateDictAsync(weightsFile, { strict: true, skipUnknownGlobals: options.skipUnknownGlobals ?? false });
  } catch (error) {
    model.dispose();
    if (error instanceof StateDictError) {
      throw new StateDictError(`${weightsFile}: not the weights of the model that ${configFile} describes ` +
        `(its 'model' options); ${error.message}`);
    }
    throw error;
  }
  return model.eval();
}
