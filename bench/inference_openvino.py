"""The OpenVINO contestants of bench/inference.ts, one per process. Prints one JSON line on stdout at the end, in
bench/inference_torch.py's format.

  openvino-bf16  tools/export_onnx.py's graph compiled by OpenVINO's CPU plugin with INFERENCE_PRECISION_HINT bf16.
                 Native bfloat16 only where the CPU has AVX-512 BF16 or AMX-BF16: the plugin also takes the hint on
                 other AVX-512 CPUs, where oneDNN emulates bfloat16, and runs float32 without a word on AVX2-only
                 ones; the JSON line says which precision the compiled model has ("inferencePrecision").
  openvino-int8  tools/quantize_openvino.py's NNCF int8 model of the same graph, the rest in float32 (hint f32).

Both compile for the batch size measured (the graph's batch axis is dynamic; a static one is how OpenVINO is
deployed and lets it plan its memory), with --threads inference threads in one stream under the latency hint,
as the other contestants run with --threads intra-op threads one call at a time. The input tensor is set on the
infer request before the clock starts; only infer() is timed.

    python bench/inference_openvino.py --contestant openvino-bf16|openvino-int8 --model FILE.onnx|FILE.xml
        --batch B --threads T --warmup W --reps N --input FILE.f32 [--save-output FILE.f32]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import openvino as ov

IMAGE_SHAPE = (3, 224, 224)
PRECISION_HINTS = {"openvino-bf16": "bf16", "openvino-int8": "f32"}


def read_images(path, batch):
    values = np.fromfile(path, dtype="<f4")
    expected = batch * int(np.prod(IMAGE_SHAPE))
    if values.size != expected:
        raise SystemExit(f"{path} holds {values.size} floats, expected {expected} for batch {batch}")
    return values.reshape(batch, *IMAGE_SHAPE)


def compile_for(core, model_file, batch, threads, precision_hint):
    model = core.read_model(model_file)
    model.reshape([batch, *IMAGE_SHAPE])
    return core.compile_model(
        model,
        "CPU",
        {
            "INFERENCE_PRECISION_HINT": precision_hint,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
        },
    )


def time_infer(request, warmup, reps):
    for _ in range(warmup):
        request.infer()
    seconds = []
    for _ in range(reps):
        started = time.perf_counter()
        request.infer()
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--contestant", required=True, choices=sorted(PRECISION_HINTS))
    parser.add_argument("--model", type=Path, required=True, help="the ONNX graph, or the int8 IR's .xml")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--reps", type=int, required=True)
    parser.add_argument("--input", type=Path, required=True, help="B*3*224*224 little-endian float32 values")
    parser.add_argument("--save-output", type=Path, help="write the last timed iteration's logits here, float32")
    args = parser.parse_args(argv)
    core = ov.Core()
    compiled = compile_for(core, args.model, args.batch, args.threads, PRECISION_HINTS[args.contestant])
    request = compiled.create_infer_request()
    request.set_input_tensor(ov.Tensor(read_images(args.input, args.batch)))
    seconds = time_infer(request, args.warmup, args.reps)
    if args.save_output:
        request.get_output_tensor(0).data.astype("<f4").tofile(args.save_output)
    print(
        json.dumps(
            {
                "contestant": args.contestant,
                "batch": args.batch,
                # What the compiled model runs with, read back: the plugin may adjust what it was asked for.
                "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
                "streams": int(compiled.get_property("NUM_STREAMS")),
                "inferencePrecision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
                "openvinoVersion": ov.get_version(),
                "seconds": seconds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
