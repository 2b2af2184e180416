// A model's folder in a model repository (`vitorch serve --model-repository DIR`, `--model NAME=DIR`): its
// config.json (what `vitorch train` writes: the model's options, its classes, its preprocessing) and one weights
// file, .pth or .safetensors. A `vitorch train` save folder holds several (the best, the last, one every few
// epochs): its best_epoch_weights.pth is the one served. Anything else ambiguous is refused with the names found.
// A folder whose config.json is not vitorch's (a Hugging Face transformers ViT folder: config.json with
// model.safetensors or pytorch_model.bin) is served as loadPretrained reads it (isVitorchModelFolder says which).
import * as fs from 'fs';
import * as path from 'path';

export const WEIGHTS_EXTENSIONS = ['.pth', '.pt', '.safetensors'];
/** What `vitorch train` names the weights of its lowest validation loss. */
const TRAINED_BEST = 'best_epoch_weights.pth';

export class ModelFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelFolderError';
  }
}

/** Whether a parsed config.json is vitorch's (`vitorch train` and `convert` write `model` and `classes`), the one
 *  test loadPretrained and the model repository both use to tell a vitorch folder from another family's. */
export function isVitorchConfig(config: Record<string, unknown>): boolean {
  return 'model' in config && 'classes' in config;
}

/** Whether `dir` is read by readModelFolder's rules (a vitorch config.json, or no readable config.json: those rules
 *  then say what is missing); false for another family's folder, which loadPretrained reads. */
export function isVitorchModelFolder(dir: string): boolean {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  } catch {
    return true;
  }
  return (
    typeof raw !== 'object' || raw === null || Array.isArray(raw) || isVitorchConfig(raw as Record<string, unknown>)
  );
}

export interface ModelFolder {
  dir: string;
  config: string;
  weights: string;
}

/** The config and weights of the model in `dir`; a ModelFolderError saying what is missing or ambiguous. */
export function readModelFolder(dir: string): ModelFolder {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFolderError(
      code === 'ENOENT'
        ? `${dir}: no such folder; expected a model folder (config.json and one .pth or .safetensors file)`
        : `${dir}: cannot read the model folder: ${(error as Error).message}`,
    );
  }
  // Mounted volumes (a Kubernetes ConfigMap, KServe's storage) often hold links to the files: followed.
  const files = entries
    .filter((e) => e.isFile() || (e.isSymbolicLink() && isFile(path.join(dir, e.name))))
    .map((e) => e.name);
  if (!files.includes('config.json')) {
    throw new ModelFolderError(
      `${dir}: no config.json; expected the config vitorch train writes beside the weights, or a transformers ` +
        `folder's (found ${listed(files)})`,
    );
  }
  const weights = files.filter((f) => WEIGHTS_EXTENSIONS.includes(path.extname(f).toLowerCase())).sort();
  let chosen: string;
  if (weights.includes(TRAINED_BEST)) chosen = TRAINED_BEST;
  else if (weights.length === 1) chosen = weights[0];
  else if (weights.length === 0) {
    throw new ModelFolderError(
      `${dir}: no weights file; expected one .pth or .safetensors file (found ${listed(files)})`,
    );
  } else {
    throw new ModelFolderError(
      `${dir}: ${weights.length} weights files (${listed(weights)}); expected one, or a ${TRAINED_BEST} to serve`,
    );
  }
  return { dir, config: path.join(dir, 'config.json'), weights: path.join(dir, chosen) };
}

/** The model folders of a repository: its subfolders, by name (the model's name), sorted. Hidden ones are skipped. */
export function listRepository(repository: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(repository, { withFileTypes: true });
  } catch (error) {
    throw new ModelFolderError(`${repository}: cannot read the model repository: ${(error as Error).message}`);
  }
  return entries
    .filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.'))
    .map((e) => e.name)
    .filter((name) => {
      try {
        return fs.statSync(path.join(repository, name)).isDirectory();
      } catch {
        return false;
      }
    })
    .sort();
}

function isFile(file: string): boolean {
  try {
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

function listed(names: string[]): string {
  if (names.length === 0) return 'nothing';
  const shown = names.slice(0, 8).join(', ');
  return names.length > 8 ? `${shown} and ${names.length - 8} more` : shown;
}
