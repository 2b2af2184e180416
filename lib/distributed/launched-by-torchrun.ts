// Whether this process is a rank of a job that a launcher started: torchrun, Kubeflow's PyTorchJob (torchrun in each
// pod) and `vitorch train --nproc-per-node` all give each worker RANK and WORLD_SIZE. Apart from process-group.ts
// because it loads no native code: the CLI asks before it knows whether it will train here or start workers.

/** Whether this process was started by torchrun (or another launcher that sets its variables). */
export function launchedByTorchrun(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.RANK !== undefined && env.WORLD_SIZE !== undefined;
}
