"""Open Inference Protocol conformance of a running server, judged by a real client: NVIDIA's tritonclient.http
(PyPI, pinned in tools/requirements.txt), not one written here. Prints one JSON object with what the client saw,
for test/server-conformance.test.ts to compare with vitorch's own forward pass.

    python tools/oip_conformance.py --url 127.0.0.1:PORT --model vit

Inputs are seeded (numpy), so the caller can recompute them; every client call that raises is recorded as
{"error": message, "status": status} instead of stopping the script.
"""

import argparse
import json
import sys

import numpy as np
import tritonclient.http as httpclient

from oip_attempt import attempt


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    client = httpclient.InferenceServerClient(url=args.url)
    report = {
        "server_live": client.is_server_live(),
        "server_ready": client.is_server_ready(),
        "model_ready": client.is_model_ready(args.model),
        "model_ready_v1": client.is_model_ready(args.model, "1"),
        "unknown_model_ready": client.is_model_ready("no-such-model"),
        "server_metadata": client.get_server_metadata(),
        "model_metadata": client.get_model_metadata(args.model),
        "model_metadata_v1": client.get_model_metadata(args.model, "1"),
        "model_config": client.get_model_config(args.model),
        "unknown_model_metadata": attempt(lambda: client.get_model_metadata("no-such-model")),
    }
    metadata = report["model_metadata"]
    sample_shape = metadata["inputs"][0]["shape"][1:]
    batch = 3
    x = np.random.default_rng(7).standard_normal((batch, *sample_shape)).astype(np.float32)
    report["input"] = x.reshape(-1).tolist()
    report["input_shape"] = list(x.shape)

    def infer(binary_in, binary_out, class_count=0, **kwargs):
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x, binary_data=binary_in)
        output = httpclient.InferRequestedOutput("logits", binary_data=binary_out, class_count=class_count)
        result = client.infer(args.model, [tensor], outputs=[output], **kwargs)
        array = result.as_numpy("logits")
        response = result.get_response()
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
            "datatype": response["outputs"][0]["datatype"],
        }

    report["json"] = attempt(lambda: infer(False, False, request_id="json-1"))
    report["binary"] = attempt(lambda: infer(True, True, request_id="binary-1"))
    report["binary_in_json_out"] = attempt(lambda: infer(True, False))
    report["gzip"] = attempt(lambda: infer(True, True, request_compression_algorithm="gzip"))
    report["versioned"] = attempt(lambda: infer(True, True, model_version="1"))
    report["timeout_parameter"] = attempt(lambda: infer(True, True, timeout=10_000_000))
    report["classification_json"] = attempt(lambda: infer(False, False, class_count=3))
    report["classification_binary"] = attempt(lambda: infer(True, True, class_count=3))

    # No outputs listed: the client asks for every output in binary (binary_data_output).
    def infer_default():
        tensor = httpclient.InferInput("input", list(x.shape), "FP32")
        tensor.set_data_from_numpy(x)
        return client.infer(args.model, [tensor]).as_numpy("logits").reshape(-1).tolist()

    report["default_outputs"] = attempt(infer_default)

    def infer_bad(shape, datatype, model=args.model):
        data = np.zeros(shape, np.float64 if datatype == "FP64" else np.float32)
        tensor = httpclient.InferInput("input", list(shape), datatype)
        tensor.set_data_from_numpy(data)
        return client.infer(model, [tensor]).as_numpy("logits").tolist()

    report["unknown_model_infer"] = attempt(lambda: infer_bad((1, *sample_shape), "FP32", "no-such-model"))
    report["bad_shape"] = attempt(lambda: infer_bad((1, sample_shape[0] + 2, *sample_shape[1:]), "FP32"))
    report["bad_datatype"] = attempt(lambda: infer_bad((1, *sample_shape), "FP64"))

    # Triton's statistics and model repository extensions, read and driven by the client's own calls.
    report["statistics"] = client.get_inference_statistics(args.model)
    report["statistics_v1"] = client.get_inference_statistics(args.model, "1")
    report["statistics_all"] = client.get_inference_statistics()
    report["unknown_model_statistics"] = attempt(lambda: client.get_inference_statistics("no-such-model"))
    report["repository_index"] = client.get_model_repository_index()
    client.unload_model(args.model)
    report["ready_after_unload"] = client.is_model_ready(args.model)
    report["index_after_unload"] = client.get_model_repository_index()
    client.load_model(args.model)
    report["ready_after_load"] = client.is_model_ready(args.model)
    report["infer_after_load"] = attempt(lambda: infer(True, True))
    report["load_unknown"] = attempt(lambda: client.load_model("no-such-model"))
    client.close()
    json.dump(report, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
