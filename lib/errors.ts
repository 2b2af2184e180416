// The error classes vitorch throws besides JavaScript's own TypeError (wrong kind of argument) and RangeError
// (right kind, wrong value). Native code throws these very classes (lib/binding.ts registers them), so
// `instanceof` works for errors from both layers.

/** A checkpoint file is missing, unreadable, corrupt, hostile or not a checkpoint. */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** A state dict does not fit the model: missing keys, unexpected keys or mismatched shapes, all listed. */
export class StateDictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateDictError';
  }
}

/** A Tensor or model was used after dispose(). */
export class DisposedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DisposedError';
  }
}

/** A config file (the config.json `vitorch train` writes, or one a user wrote) cannot be read or does not describe
 *  a model: the message starts with the file. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** A data-parallel job failed: a peer was lost, a collective timed out, or the rendezvous did not complete. The
 *  message names this rank and what it was doing. */
export class DistributedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DistributedError';
  }
}

/** A checkpoint of another family (timm, Hugging Face transformers) that loadPretrained cannot turn into the
 *  article's ViT: a variant it cannot represent (named), a tensor with no place in it, or a fact neither the file
 *  nor the options give (such as numHeads). */
export class PretrainedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PretrainedError';
  }
}
