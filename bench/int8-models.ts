// What bench/inference.ts's int8 and OpenVINO contestants need beyond the float32 ones: Python packages that are
// not in tools/requirements.txt (bench/requirements-int8.txt; CI does not install them), and the int8 models those
// packages make once from the float32 ONNX graph into model_data/. A contestant whose part is missing is skipped,
// with the reason, instead of failing the run.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { root, runSetupStep } from './bench-inputs';

/** tools/quantize_onnx.py's dynamic int8 graph, run by onnxruntime-node. */
export const onnxInt8Model = path.join(root, 'model_data', 'vit-patch_16-int8.onnx');
/** tools/quantize_openvino.py's NNCF int8 IR (its weights in openvino-int8.bin beside it). */
export const openvinoInt8Model = path.join(root, 'model_data', 'openvino-int8.xml');

const INSTALL_HINT = 'pip install -r bench/requirements-int8.txt';
/** The Python modules each contestant needs; onnxruntime-int8 runs on onnxruntime-node, Python only quantizes. */
const PYTHON_MODULES: Record<string, string[]> = {
  'onnxruntime-int8': ['onnxruntime'],
  'openvino-bf16': ['openvino'],
  'openvino-int8': ['openvino', 'nncf'],
};
/** The model each contestant needs made, by which tools/ script. */
const QUANTIZE_STEPS: Record<string, { script: string; out: string; what: string }> = {
  'onnxruntime-int8': { script: 'quantize_onnx.py', out: onnxInt8Model, what: 'quantize the ONNX graph to int8' },
  'openvino-int8': { script: 'quantize_openvino.py', out: openvinoInt8Model, what: 'quantize with NNCF' },
};

/** Which of `modules` `python` cannot import (found by importlib, without importing them: openvino is slow to). */
function missingPythonModules(python: string, modules: string[]): string[] {
  const probe =
    'import importlib.util, json, sys; print(json.dumps([m for m in sys.argv[1:] if importlib.util.find_spec(m) is None]))';
  const run = spawnSync(python, ['-c', probe, ...modules], { encoding: 'utf8' });
  if (run.status !== 0) return modules;
  return JSON.parse(run.stdout) as string[];
}

/** Makes the int8 models the selected contestants need (each step does nothing when its model is up to date) and
 *  returns, for each selected contestant that cannot run here, why. */
export function prepareInt8Models(python: string, selected: string[], onnxModel: string): Map<string, string> {
  const skipped = new Map<string, string>();
  const needing = selected.filter((contestant) => contestant in PYTHON_MODULES);
  if (!needing.length) return skipped;
  const missing = new Set(missingPythonModules(python, [...new Set(needing.flatMap((c) => PYTHON_MODULES[c]))]));
  for (const contestant of needing) {
    const absent = PYTHON_MODULES[contestant].filter((module) => missing.has(module));
    if (absent.length)
      skipped.set(
        contestant,
        `${python} lacks the Python package${absent.length > 1 ? 's' : ''} ${absent.join(', ')} (${INSTALL_HINT})`,
      );
  }
  for (const contestant of needing.filter((c) => !skipped.has(c) && c in QUANTIZE_STEPS)) {
    const step = QUANTIZE_STEPS[contestant];
    try {
      runSetupStep(python, [step.script, '--onnx', onnxModel, '--out', step.out], step.what);
    } catch {
      skipped.set(contestant, `tools/${step.script} failed (its output is above)`);
    }
  }
  for (const [contestant, reason] of skipped) process.stderr.write(`skipping ${contestant}: ${reason}\n`);
  return skipped;
}
