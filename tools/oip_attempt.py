"""What the Open Inference Protocol judges (oip_conformance.py, oip_conformance_grpc.py) record of one client call:
its value, or the error tritonclient raised with its status, so that one refused call does not stop the report."""

from tritonclient.utils import InferenceServerException


def attempt(call):
    try:
        return {"value": call()}
    except InferenceServerException as error:
        return {"error": error.message(), "status": error.status()}
