// One vitorch rank of a data-parallel job of the distributed tests, run as its own Node process:
//
//   node test/distributed-rank.js JOB RANK PORT OUT
//   node test/distributed-rank.js JOB - - OUT        (under torchrun: everything from its environment)
//
// JOB is the job file tools/ddp_reference.py documents (the same file its PyTorch ranks and its single-process
// reference read). The rank joins the job (rank 0 hosts the rendezvous at 127.0.0.1:PORT), trains with
// Trainer.step() on its own batch of every step, evaluates its shard of the validation set with evaluateAll() over
// a BatchLoader shard (pad: false), and writes OUT.json (the parameters' names and shapes, every step's result,
// the evaluation) and OUT.f32 (the final parameters, concatenated in namedParameters() order), the files
// ddp_reference.py writes ("{rank}" in OUT becomes the rank). It prints "step N" after each step, so that a test
// can act mid-training. A failure is written to OUT.json as { error: { name, message, distributed } } and the
// process exits with status 2.
//
// A job with a "fit" entry runs Trainer.fit() instead of the steps (vitorch only; the steps then describe the
// global batches for the reference):
//   fit: { train: { images, labels, count }, batchSize, epochs, seed, lr, stopAt?: { rank, epoch, step } }
// over a shuffled BatchLoader shard of the training set (pad: true) at batchSize per rank, at a constant rate, with
// the validation set's shard evaluated after every epoch; rank stopAt.rank aborts its fit() signal after the step
// event (epoch, step). OUT.json then holds fit()'s events instead of the steps.
'use strict';
const fs = require('fs');
const path = require('path');
const lib = require(path.join(__dirname, '..', 'dist', 'lib'));

function readF32(file) {
  const bytes = fs.readFileSync(file);
  return Float32Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
}

function readI32(file) {
  const bytes = fs.readFileSync(file);
  return Int32Array.from(new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
}

function buildOptimizer(spec, model) {
  if (spec.kind === 'sgd') {
    const { lr, momentum, dampening, nesterov, weightDecay } = spec;
    return lib.sgd(model, { lr, momentum, dampening, nesterov, weightDecay });
  }
  const options = { lr: spec.lr, betas: spec.betas, eps: spec.eps, weightDecay: spec.weightDecay, fused: spec.fused };
  return spec.kind === 'adam' ? lib.adam(model, options) : lib.adamw(model, options);
}

/** The images and labels of FILES in memory, as BatchLoader reads a dataset. */
function memoryDataset(job, files) {
  const { inChans, inputShape } = job.config;
  const perImage = inChans * inputShape[0] * inputShape[1];
  const images = readF32(files.images);
  const labels = readI32(files.labels);
  return {
    length: labels.length,
    sampleShape: [inChans, inputShape[0], inputShape[1]],
    labelOf: (index) => labels[index],
    labels: () => labels.slice(),
    async load(indices) {
      const out = new Float32Array(indices.length * perImage);
      Array.from(indices).forEach((index, i) =>
        out.set(images.subarray(index * perImage, (index + 1) * perImage), i * perImage),
      );
      return { images: out, labels: Int32Array.from(indices, (index) => labels[index]) };
    },
  };
}

function writeWeights(out, model, record) {
  const entries = model.namedParameters();
  const values = entries.map(([, parameter]) => parameter.toFloat32Array());
  const all = new Float32Array(values.reduce((n, v) => n + v.length, 0));
  let offset = 0;
  for (const v of values) {
    all.set(v, offset);
    offset += v.length;
  }
  fs.writeFileSync(`${out}.f32`, Buffer.from(all.buffer));
  record.parameters = entries.map(([name, parameter]) => ({ name, shape: parameter.shape }));
  fs.writeFileSync(`${out}.json`, JSON.stringify(record));
}

function validationLoader(job, rank) {
  return new lib.BatchLoader(memoryDataset(job, job.validation), {
    batchSize: job.validation.batchSize,
    shard: { rank, count: job.worldSize, pad: false },
  });
}

/** Runs fit() as the job's "fit" entry says; returns its events, the evaluations' arrays as plain arrays. */
async function fit(job, rank, trainer) {
  const { train, batchSize, epochs, seed, lr, stopAt } = job.fit;
  const trainSet = memoryDataset(job, train);
  const controller = new AbortController();
  const events = [];
  const fitting = trainer.fit({
    epochs,
    batchSize,
    train: (epoch, size, startStep) => {
      const loader = new lib.BatchLoader(trainSet, {
        batchSize: size,
        shuffle: true,
        seed,
        shard: { rank, count: job.worldSize },
      });
      return { batches: loader.epoch(epoch, startStep), steps: loader.length };
    },
    validation: job.validation
      ? () => {
          const loader = validationLoader(job, rank);
          return { batches: loader.epoch(0), steps: loader.length };
        }
      : undefined,
    schedule: () => ({ lrAt: () => lr }),
    signal: controller.signal,
    topk: job.validation ? job.validation.topk : undefined,
  });
  for await (const event of fitting) {
    const { validation } = event;
    events.push(
      validation
        ? {
            ...event,
            validation: {
              ...validation,
              predictions: Array.from(validation.predictions),
              labels: Array.from(validation.labels),
            },
          }
        : event,
    );
    if (event.type !== 'step') continue;
    process.stdout.write(`epoch ${event.epoch} step ${event.step}\n`);
    if (stopAt && stopAt.rank === rank && stopAt.epoch === event.epoch && stopAt.step === event.step)
      controller.abort();
  }
  return events;
}

async function main(jobFile, rankText, portText, outPattern) {
  const job = JSON.parse(fs.readFileSync(jobFile, 'utf8'));
  const group = await lib.initProcessGroup(
    rankText === '-'
      ? { timeoutMs: job.timeoutMs }
      : { rank: Number(rankText), worldSize: job.worldSize, masterPort: Number(portText), timeoutMs: job.timeoutMs },
  );
  const rank = group.rank;
  out = outPattern.replace('{rank}', String(rank));
  const model = new lib.VisionTransformer(job.config);
  model.loadStateDict(job.initialWeights[rank]);
  model.train();
  const trainer = new lib.Trainer(model, {
    optimizer: buildOptimizer(job.optimizer, model),
    processGroup: group,
    accumulationSteps: job.accumulationSteps,
  });
  if (job.fit) {
    writeWeights(out, model, { events: await fit(job, rank, trainer) });
    group.destroy();
    return;
  }
  const { inChans, inputShape } = job.config;
  const steps = [];
  let frozen = false;
  for (const [index, step] of job.steps.entries()) {
    if (step.frozen !== frozen) {
      if (step.frozen) model.freezeBackbone();
      else model.unfreezeBackbone();
      frozen = step.frozen;
    }
    const batch = step.batches[rank];
    const images = lib.tensor(readF32(batch.images), [batch.count, inChans, inputShape[0], inputShape[1]]);
    const labels = lib.tensor(readI32(batch.labels), [batch.count]);
    const result = await trainer.step(images, labels, { lr: step.lr, update: step.update });
    images.dispose();
    labels.dispose();
    steps.push({
      loss: result.loss,
      correct: result.correct,
      count: result.count,
      global: result.global,
      stop: result.stop,
    });
    process.stdout.write(`step ${index}\n`);
  }
  const record = { steps };
  if (job.validation) {
    const loader = validationLoader(job, rank);
    const evaluation = await trainer.evaluateAll(loader.epoch(0), job.validation.topk);
    record.evaluation = {
      ...evaluation,
      predictions: Array.from(evaluation.predictions),
      labels: Array.from(evaluation.labels),
      shard: Array.from(loader.order(0)),
    };
  }
  writeWeights(out, model, record);
  group.destroy();
}

const [jobFile, rankText, portText, outPattern] = process.argv.slice(2);
// Where a failure is written: known once the rank is (from the arguments, or from the group).
let out = outPattern.replace('{rank}', rankText);
lib.setNumThreads(1);
main(jobFile, rankText, portText, outPattern).catch((error) => {
  const record = {
    error: { name: error.name, message: error.message, distributed: error instanceof lib.DistributedError },
  };
  fs.writeFileSync(`${out}.json`, JSON.stringify(record));
  process.stderr.write(`${error.stack}\n`);
  process.exit(2);
});
