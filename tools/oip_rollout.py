"""The `attention_rollout` output of a running server as real Open Inference Protocol clients receive it: NVIDIA's
tritonclient.http (JSON and binary data) and tritonclient.grpc (raw_output_contents), both pinned in
tools/requirements.txt. Prints one JSON object with what each client saw, for test/server-rollout.test.ts to compare
with vitorch's own model.attentionRollout of the same inputs.

    python tools/oip_rollout.py --http 127.0.0.1:PORT --grpc 127.0.0.1:PORT --model vit

Inputs are seeded (numpy), so the report carries them for the caller to recompute. The clients' InferRequestedOutput
has no argument for an output's own parameters, so the case with head_fusion and discard_ratio sets them where each
client keeps an output's parameters (the HTTP one's dict, the gRPC one's protobuf map). A call that raises is
recorded as {"error": message}.
"""

import argparse
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

ROLLOUT = "attention_rollout"


def attempt(call):
    try:
        return call()
    except InferenceServerException as error:
        return {"error": error.message()}


def seen(result, names):
    """Each requested output's shape and values, and the outputs the response holds, in its order."""
    response = result.get_response() if hasattr(result, "get_response") else None
    if not isinstance(response, dict):
        response = result.get_response(as_json=True)
    report = {"names": [output["name"] for output in response["outputs"]]}
    for name in names:
        array = result.as_numpy(name)
        report[name] = {"shape": list(array.shape), "values": array.reshape(-1).tolist()}
    return report


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", required=True)
    parser.add_argument("--grpc", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    http = httpclient.InferenceServerClient(url=args.http)
    grpc = grpcclient.InferenceServerClient(url=args.grpc)
    metadata = http.get_model_metadata(args.model)
    sample_shape = metadata["inputs"][0]["shape"][1:]
    x = np.random.default_rng(11).standard_normal((3, *sample_shape)).astype(np.float32)
    report = {"input": x.reshape(-1).tolist(), "input_shape": list(x.shape), "metadata_outputs": metadata["outputs"]}

    def over_http(names, binary, parameters=None):
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in names]
        for output in outputs:
            if output.name() == ROLLOUT and parameters:
                output._parameters.update(parameters)
        return seen(http.infer(args.model, [tensor], outputs=outputs), names)

    def over_grpc(names, parameters=None):
        tensor = grpcclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        outputs = [grpcclient.InferRequestedOutput(name) for name in names]
        for output in outputs:
            if output.name() == ROLLOUT and parameters:
                for key, value in parameters.items():
                    field = "string_param" if isinstance(value, str) else "double_param"
                    setattr(output._get_tensor().parameters[key], field, value)
        return seen(grpc.infer(args.model, [tensor], outputs=outputs), names)

    both = ["logits", ROLLOUT]
    tuned = {"head_fusion": "max", "discard_ratio": 0.5}
    report["http_json"] = attempt(lambda: over_http(both, False))
    report["http_binary"] = attempt(lambda: over_http(both, True))
    report["http_rollout_only"] = attempt(lambda: over_http([ROLLOUT], True))
    report["http_tuned"] = attempt(lambda: over_http([ROLLOUT], False, tuned))
    report["http_bad_fusion"] = attempt(lambda: over_http([ROLLOUT], False, {"head_fusion": "median"}))
    report["grpc_both"] = attempt(lambda: over_grpc([ROLLOUT, "logits"]))
    report["grpc_rollout_only"] = attempt(lambda: over_grpc([ROLLOUT]))
    report["grpc_tuned"] = attempt(lambda: over_grpc([ROLLOUT], tuned))
    report["statistics"] = http.get_inference_statistics(args.model)
    http.close()
    grpc.close()
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
