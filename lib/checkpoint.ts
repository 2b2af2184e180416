// Reading checkpoints without a model: the tensors of a torch.save'd state_dict by name.
import { binding } from './binding';
import { Tensor } from './tensor';
import { requireString, withCallerStack } from './validate';

/** The tensors of a checkpoint file, by name, in file order (read on the calling thread). */
export function loadCheckpoint(path: string): Map<string, Tensor> {
  const entries = binding.loadCheckpoint(requireString(path, 'path'));
  return new Map(entries.map(([name, value]) => [name, new Tensor(value)]));
}

/** loadCheckpoint on a libuv pool thread. */
export function loadCheckpointAsync(path: string): Promise<Map<string, Tensor>> {
  const callerStack = new Error().stack;
  const reading = binding.loadCheckpointAsync(requireString(path, 'path'));
  return withCallerStack(
    reading.then((entries) => new Map(entries.map(([name, value]) => [name, new Tensor(value)]))), callerStack);
}
