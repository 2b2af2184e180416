// The Node side of `npm run check:releases`, run by it in a child process per torch release, so that each release's
// libtorch is loaded into a fresh process (a process can hold only one libtorch). The parent sets the environment
// that makes vitorch pick what is checked: PREBUILDS_ONLY=1 (skip the checkout's local build), LIBTORCH unset and
// PYTHON=<the release's venv python> (so libtorch is that venv's torch package).
//
//   node scripts/release-probe.js REFERENCE_DIR RESULT_JSON
//
// REFERENCE_DIR is what tools/release_reference.py wrote. RESULT_JSON receives what was measured, or the error
// that stopped it: a file rather than stdout, so that nothing vitorch or libtorch prints can garble it.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const [referenceDir, resultFile] = process.argv.slice(2);

/** Requires the compiled package the way a user's require('vitorch') does, timing it: finding libtorch, loading its
 *  libraries and the addon is where a release's difference would show. */
function timedLoad() {
  const started = process.hrtime.bigint();
  const vitorch = require(path.join(root, 'dist', 'lib', 'index.js'));
  const loadMs = Number(process.hrtime.bigint() - started) / 1e6;
  const { addonFiles, libtorch, cudaProblem } = require(path.join(root, 'dist', 'lib', 'binding.js'));
  return { vitorch, loadMs, addonFiles, libtorch, cudaProblem };
}

function readF32(file) {
  const bytes = fs.readFileSync(path.join(referenceDir, file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function cosine(a, b) {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

function forwardOnce(vitorch, model, testCase) {
  const input = vitorch.tensor(readF32(testCase.input), testCase.inputShape);
  const outputTensor = model.forward(input);
  const output = outputTensor.toFloat32Array();
  input.dispose();
  outputTensor.dispose();
  return output;
}

/** Forwards one reference case through vitorch; returns its max |error| against PyTorch and the output's scale, and
 *  the cosine of its int8 output (model.quantize(): the release's oneDNN int8 kernels) with PyTorch's float32 one. */
function compareCase(vitorch, testCase) {
  const model = new vitorch.VisionTransformer(testCase.config);
  try {
    model.loadStateDict(path.join(referenceDir, testCase.checkpoint), { strict: true });
    model.eval();
    const output = forwardOnce(vitorch, model, testCase);
    const expected = readF32(testCase.output);
    if (output.length !== expected.length) {
      throw new Error(`${testCase.name}: ${output.length} output values, PyTorch gave ${expected.length}`);
    }
    let maxAbsError = 0;
    let scale = 0;
    for (let i = 0; i < expected.length; i++) {
      // NaN must count as an error, so compare with !(a <= b) rather than Math.max, which NaN would poison.
      const error = Math.abs(output[i] - expected[i]);
      if (!(error <= maxAbsError)) maxAbsError = error;
      scale = Math.max(scale, Math.abs(expected[i]));
    }
    const int8Cosine = cosine(forwardOnce(vitorch, model.quantize(), testCase), expected);
    return { name: testCase.name, maxAbsError, scale, int8Cosine };
  } finally {
    model.dispose();
  }
}

function probe() {
  const reference = JSON.parse(fs.readFileSync(path.join(referenceDir, 'reference.json'), 'utf8'));
  const loaded = timedLoad();
  // Like the Python side: two threads, on a shared machine.
  loaded.vitorch.setNumThreads(2);
  const result = {
    loadMs: loaded.loadMs,
    addonFiles: loaded.addonFiles,
    libtorch: loaded.libtorch,
    cudaProblem: loaded.cudaProblem,
    pytorchVersion: reference.torchVersion,
    cases: [],
  };
  // Written before the forwards, so that a crash in one still leaves what the load said.
  fs.writeFileSync(resultFile, JSON.stringify(result));
  result.cases = reference.cases.map((testCase) => compareCase(loaded.vitorch, testCase));
  return result;
}

try {
  fs.writeFileSync(resultFile, JSON.stringify(probe()));
} catch (error) {
  const partial = fs.existsSync(resultFile) ? JSON.parse(fs.readFileSync(resultFile, 'utf8')) : {};
  fs.writeFileSync(resultFile, JSON.stringify({ ...partial, error: error.message || String(error) }));
  process.exitCode = 1;
}
