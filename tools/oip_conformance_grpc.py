"""Open Inference Protocol conformance of a running server over gRPC, judged by a real client: NVIDIA's
tritonclient.grpc (PyPI, pinned in tools/requirements.txt). Prints one JSON object with what the client saw, for
test/server-grpc.test.ts to compare with vitorch's own forward pass and statistics; the gRPC twin of
tools/oip_conformance.py.

    python tools/oip_conformance_grpc.py --url 127.0.0.1:PORT --model vit

Inputs are seeded (numpy), so the caller can recompute them. Every call that raises is recorded as
{"error": message, "status": "StatusCode.X"} instead of stopping the script. "sent" counts the inference requests
that named the model, split by how they ended, and their samples, for the statistics check. The model is unloaded
and loaded again last, so the script wants a server of its own.
"""

import argparse
import json
import sys

import numpy as np
import tritonclient.grpc as grpcclient

from oip_attempt import attempt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    client = grpcclient.InferenceServerClient(url=args.url)
    model = args.model
    report = {
        "server_live": client.is_server_live(),
        "server_ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(model),
        "model_ready_v1": client.is_model_ready(model, "1"),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server_metadata": client.get_server_metadata(as_json=True),
        "model_metadata": client.get_model_metadata(model, as_json=True),
        "model_metadata_v1": client.get_model_metadata(model, "1", as_json=True),
        "model_config": client.get_model_config(model, as_json=True),
        "unknown_model_metadata": attempt(lambda: client.get_model_metadata("no-such-model", as_json=True)),
        "unknown_version_config": attempt(lambda: client.get_model_config(model, "2", as_json=True)),
        "statistics_before": client.get_inference_statistics(model, as_json=True),
    }
    # protobuf's JSON writes int64 as strings: the shape ["-1", "1", "28", "28"].
    sample_shape = [int(d) for d in report["model_metadata"]["inputs"][0]["shape"][1:]]
    batch = 3
    x = np.random.default_rng(7).standard_normal((batch, *sample_shape)).astype(np.float32)
    report["input"] = x.reshape(-1).tolist()
    report["input_shape"] = list(x.shape)
    sent = {"success": 0, "fail": 0, "samples": 0}

    def infer(class_count=0, **kwargs):
        tensor = grpcclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        output = grpcclient.InferRequestedOutput("logits", class_count=class_count)
        result = client.infer(model, [tensor], outputs=[output], **kwargs)
        array = result.as_numpy("logits")
        response = result.get_response(as_json=True)
        values = (
            [v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1)]
            if array.dtype == np.object_
            else array.reshape(-1).tolist()
        )
        return {
            "shape": list(array.shape),
            "values": values,
            "id": response.get("id"),
            "model_name": response.get("model_name"),
            "model_version": response.get("model_version"),
            "datatype": response["outputs"][0]["datatype"],
        }

    def counted(call):
        result = attempt(call)
        sent["success" if "value" in result else "fail"] += 1
        if "value" in result:
            sent["samples"] += batch
        return result

    report["raw"] = counted(lambda: infer(request_id="grpc-1"))
    report["versioned"] = counted(lambda: infer(model_version="1"))
    report["timeout_parameter"] = counted(lambda: infer(timeout=10_000_000))
    report["client_timeout"] = counted(lambda: infer(client_timeout=60.0))
    report["gzip"] = counted(lambda: infer(compression_algorithm="gzip"))
    report["classification"] = counted(lambda: infer(class_count=3, request_id="top-3"))

    # No outputs listed: every output the model has.
    def infer_default():
        tensor = grpcclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        return client.infer(model, [tensor]).as_numpy("logits").reshape(-1).tolist()

    report["default_outputs"] = counted(infer_default)

    def infer_bad(shape, datatype, name=model):
        data = np.zeros(shape, np.float64 if datatype == "FP64" else np.float32)
        tensor = grpcclient.InferInput("input", list(shape), datatype)
        tensor.set_data_from_numpy(data)
        return client.infer(name, [tensor]).as_numpy("logits").tolist()

    report["unknown_model_infer"] = attempt(lambda: infer_bad((1, *sample_shape), "FP32", "no-such-model"))
    report["bad_shape"] = counted(lambda: infer_bad((1, sample_shape[0] + 2, *sample_shape[1:]), "FP32"))
    report["bad_datatype"] = counted(lambda: infer_bad((1, *sample_shape), "FP64"))
    report["sent"] = sent
    report["statistics"] = client.get_inference_statistics(model, as_json=True)
    report["all_statistics"] = client.get_inference_statistics(as_json=True)
    report["unimplemented"] = attempt(lambda: client.get_log_settings(as_json=True))

    report["repository_index"] = client.get_model_repository_index(as_json=True)
    report["unload"] = attempt(lambda: client.unload_model(model))
    report["ready_after_unload"] = client.is_model_ready(model)
    report["infer_after_unload"] = attempt(lambda: infer_bad((1, *sample_shape), "FP32"))
    report["load"] = attempt(lambda: client.load_model(model))
    report["ready_after_load"] = client.is_model_ready(model)
    report["load_unknown"] = attempt(lambda: client.load_model("no-such-model"))
    client.close()
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
