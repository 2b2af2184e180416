"""The peer of bench/augment.ts: the seed's AutoAugment ImageNet policy as the seed runs it, with PIL on PIL images
(tools/make_autoaugment_fixtures.py's restatement of it, checked against the seed's own code), per batch.

    python bench/augment_pil.py IMAGES.u8 WIDTH HEIGHT CHANNELS BATCH REPS

Each image goes through Image.fromarray, convert('RGB') when grey (the seed's cvtColor), a uniformly chosen
sub-policy with Python's random, and back to a numpy array, as the seed's DataGenerator does after its crop and
flip. Prints one JSON line: the seconds of each timed batch, after one warm-up batch.
"""
import json
import os
import random
import sys
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tools'))
from make_autoaugment_fixtures import BINS, POLICY, SIGNED, apply_op  # noqa: E402


def policy(image):
    p1, op1, bin1, p2, op2, bin2 = POLICY[random.randint(0, len(POLICY) - 1)]
    for p, op, index in ((p1, op1, bin1), (p2, op2, bin2)):
        if random.random() < p:
            image = apply_op(image, op, BINS[op][index], random.choice([-1, 1]) if op in SIGNED else 1)
    return image


def main():
    file, width, height, channels, batch, reps = sys.argv[1], *map(int, sys.argv[2:7])
    shape = (-1, height, width) if channels == 1 else (-1, height, width, channels)
    images = np.fromfile(file, dtype=np.uint8).reshape(shape)[:batch]
    random.seed(0)
    seconds = []
    for rep in range(reps + 1):
        start = time.perf_counter()
        out = [np.asarray(policy(Image.fromarray(a).convert('RGB'))) for a in images]
        elapsed = time.perf_counter() - start
        assert len(out) == batch
        if rep > 0:
            seconds.append(elapsed)
    print(json.dumps({'seconds': seconds}))


if __name__ == '__main__':
    main()
