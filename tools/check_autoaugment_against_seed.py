"""Cross-checks tools/make_autoaugment_fixtures.py against the seed's own AutoAugment code (its utils/utils_aug.py,
from bubbliiiing/classification-pytorch), as check_against_timm.py does for the model: same table, same bytes.

    python tools/check_autoaugment_against_seed.py PATH/TO/utils_aug.py

For each of the seed's 25 sub-policies, on real Fashion-MNIST and the generated RGB images, every reachable
combination of "applies" and signs is forced through Python's random (random.random and random.choice are replaced
for the call) and the seed's SubPolicy output is compared with the reference's. Exits non-zero on any difference.
Needs nothing of the seed but that one file; numpy 2 lacks np.int, which it uses, so an alias is put back first.
"""

import importlib.util
import itertools
import random
import sys

import numpy as np
from PIL import Image

import make_autoaugment_fixtures as ref


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    np.int = int  # the seed's SubPolicy calls .astype(np.int)
    spec = importlib.util.spec_from_file_location("seed_utils_aug", sys.argv[1])
    seed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(seed)
    policies = seed.ImageNetPolicy().policies
    problems = []
    if len(policies) != len(ref.POLICY):
        problems.append(f"the seed has {len(policies)} sub-policies, the reference {len(ref.POLICY)}")
    for number, (sub, (p1, op1, bin1, p2, op2, bin2)) in enumerate(zip(policies, ref.POLICY, strict=False)):
        ours = (p1, op1.lower(), float(ref.BINS[op1][bin1]), p2, op2.lower(), float(ref.BINS[op2][bin2]))
        theirs = (
            sub.p1,
            type(sub.operation1).__name__.lower(),
            float(sub.magnitude1),
            sub.p2,
            type(sub.operation2).__name__.lower(),
            float(sub.magnitude2),
        )
        if ours != theirs:
            problems.append(f"sub-policy {number}: the seed has {theirs}, the reference {ours}")
    images = {**ref.fashion_images([0, 19]), **ref.synthetic_images()}
    cases = 0
    for (name, array), (number, sub) in itertools.product(images.items(), enumerate(policies)):
        p1, op1, bin1, p2, op2, bin2 = ref.POLICY[number]
        image = Image.fromarray(array).convert("RGB")
        for a1, a2, s1, s2 in itertools.product((False, True), (False, True), (-1, 1), (-1, 1)):
            # random() < p never holds for p = 0 and always for p = 1.
            if (a1 and p1 == 0) or (a2 and p2 == 0) or (not a1 and p1 == 1) or (not a2 and p2 == 1):
                continue
            uniforms = iter([0.0 if a1 else 1 - 1e-9, 0.0 if a2 else 1 - 1e-9])
            signs = iter(([s1] if a1 and op1 in ref.SIGNED else []) + ([s2] if a2 and op2 in ref.SIGNED else []))
            saved = random.random, random.choice
            random.random, random.choice = (lambda u=uniforms: next(u)), (lambda seq, s=signs: next(s))
            try:
                theirs = np.asarray(sub(image))
            finally:
                random.random, random.choice = saved
            expected = image
            if a1:
                expected = ref.apply_op(expected, op1, ref.BINS[op1][bin1], s1)
            if a2:
                expected = ref.apply_op(expected, op2, ref.BINS[op2][bin2], s2)
            cases += 1
            if not np.array_equal(theirs, np.asarray(expected)):
                problems.append(f"{name}, sub-policy {number}, applies {a1} {a2}, signs {s1} {s2}: different bytes")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{cases} forced sub-policy runs compared with the seed's code: {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
