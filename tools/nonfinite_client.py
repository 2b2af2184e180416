"""Sends NaN and the infinities to an Open Inference Protocol server in JSON, as Python clients write them.

Two real clients, each with the same seeded FP32 input in which a few values are NaN, Infinity and -Infinity:
Python's own json.dumps (allow_nan=True, its default: unquoted NaN, Infinity, -Infinity) posted with urllib, and
NVIDIA's tritonclient.http with binary_data=False, whose python-rapidjson writes the same literals and reads them back
in the response. Prints one JSON object: for each client the status and the logits it received, non-finite values
spelled as the strings "nan", "inf", "-inf" (so that the report itself is plain JSON), and the input it sent.

    python tools/nonfinite_client.py --url HOST:PORT --model NAME
"""

import argparse
import json
import math
import urllib.error
import urllib.request

import numpy as np
import tritonclient.http as httpclient


def the_input(shape):
    values = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    flat = values.reshape(-1)
    flat[3] = np.nan
    flat[10] = np.inf
    flat[20] = -np.inf
    return values


def spelled(values):
    return [v if math.isfinite(v) else repr(v) for v in np.asarray(values, dtype=np.float64).reshape(-1).tolist()]


def with_json_dumps(url, model, values):
    body = json.dumps(
        {
            "inputs": [
                {"name": "input", "shape": list(values.shape), "datatype": "FP32", "data": values.reshape(-1).tolist()}
            ]
        }
    ).encode()
    assert b"NaN" in body and b"-Infinity" in body, "json.dumps wrote no literal"
    request = urllib.request.Request(f"http://{url}/v2/models/{model}/infer", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return {"status": error.code, "error": error.read().decode()}
    # json.loads takes the literals back, as Python clients read Triton's answers.
    answer = json.loads(text)
    return {"status": status, "logits": spelled(answer["outputs"][0]["data"]), "literals_in_body": "NaN" in text}


def with_tritonclient(url, model, values):
    client = httpclient.InferenceServerClient(url)
    tensor = httpclient.InferInput("input", list(values.shape), "FP32")
    tensor.set_data_from_numpy(values, binary_data=False)
    output = httpclient.InferRequestedOutput("logits", binary_data=False)
    try:
        result = client.infer(model, [tensor], outputs=[output])
    except Exception as error:  # noqa: BLE001 -- the report carries whatever the client raised
        return {"status": "error", "error": str(error)}
    return {"status": 200, "logits": spelled(result.as_numpy("logits"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="HOST:PORT")
    parser.add_argument("--model", required=True)
    parser.add_argument("--shape", default="1,1,28,28")
    args = parser.parse_args()
    values = the_input([int(d) for d in args.shape.split(",")])
    print(
        json.dumps(
            {
                "input": spelled(values),
                "json_dumps": with_json_dumps(args.url, args.model, values),
                "tritonclient": with_tritonclient(args.url, args.model, values),
            }
        )
    )


if __name__ == "__main__":
    main()
