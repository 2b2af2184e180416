"""TorchServe handler for bench/serve.ts: the seed's ViT-B/16 with the benchmark's weights, in batches.

Each request body is one image as raw little-endian float32 ([1, 3, 224, 224], 602 112 bytes, Content-Type
application/octet-stream) on TorchServe's own /predictions/{model} API; each answer is that image's 1000 logits as
raw float32 (4 000 bytes). TorchServe's frontend groups the requests (batchSize / maxBatchDelay of the model's
config) and hands this handler a list; the handler stacks it into one forward pass.

The model is bench/inference_torch.py's best-eager (the seed's module tree and state_dict, attention through
scaled_dot_product_attention, tanh GELU from torch), under torch.inference_mode(): PyTorch's fastest eager form, so
that the peer is the strongest plain-PyTorch server, not the seed's slower attention. Both files ship in the
archive as extra files (torch-model-archiver --extra-files), so they sit beside this one in the model directory.
"""

import logging
import os

import numpy as np
import torch

from inference_torch import load_seed_model, make_best_eager

logger = logging.getLogger(__name__)

IMAGE_SHAPE = (1, 3, 224, 224)
IMAGE_BYTES = int(np.prod(IMAGE_SHAPE)) * 4
# The intra-op thread count, the same vitorch is given (VITORCH_NUM_THREADS); bench/serve.ts sets it.
THREADS_VARIABLE = "VITORCH_BENCH_THREADS"


class VitHandler:
    def __init__(self):
        self.model = None
        self.initialized = False

    def initialize(self, context):
        threads = int(os.environ.get(THREADS_VARIABLE, "2"))
        torch.set_num_threads(threads)
        model_dir = context.system_properties["model_dir"]
        weights = os.path.join(model_dir, context.manifest["model"]["serializedFile"])
        self.model = make_best_eager(load_seed_model(weights))
        with torch.inference_mode():
            self.model(torch.zeros(IMAGE_SHAPE))
        # bench/serve.ts reads this line from the worker's log to report the thread count the model ran with.
        logger.info("vitorch-bench handler ready: torch %s, %d intra-op threads", torch.__version__,
                    torch.get_num_threads())
        self.initialized = True

    def handle(self, data, context):
        bodies = [request.get("body") or request.get("data") for request in data]
        for body in bodies:
            if not isinstance(body, (bytes, bytearray)) or len(body) != IMAGE_BYTES:
                size = len(body) if isinstance(body, (bytes, bytearray)) else type(body).__name__
                raise ValueError(f"expected a raw float32 body of {IMAGE_BYTES} bytes, got {size}")
        images = torch.cat([torch.frombuffer(bytearray(body), dtype=torch.float32).reshape(IMAGE_SHAPE)
                            for body in bodies])
        with torch.inference_mode():
            logits = self.model(images)
        answers = []
        for index, row in enumerate(logits.numpy()):
            context.set_response_content_type(index, "application/octet-stream")
            answers.append(row.astype("<f4").tobytes())
        return answers


_service = VitHandler()


def handle(data, context):
    """TorchServe's entry point for a module handler: initialise once, then answer each batch."""
    if not _service.initialized:
        _service.initialize(context)
    if data is None:
        return None
    return _service.handle(data, context)
