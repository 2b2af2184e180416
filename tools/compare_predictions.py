"""How often vitorch and PyTorch predict the same class for the same weights and images: reads the JSON of
`eval_reference.py eval` and the CSV of `vitorch eval --predictions`, prints one JSON line (count, agreement, each
side's top-1) and exits 1 when the two lists are not of the same images.

    python tools/eval_reference.py eval --config C --weights W --images I --labels L > reference.json
    node dist/lib/cli/vitorch.js eval --config C --weights W --predictions predictions.csv
    python tools/compare_predictions.py --reference reference.json --vitorch predictions.csv
"""

import argparse
import csv
import json
import sys


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True)
    parser.add_argument("--vitorch", required=True)
    args = parser.parse_args()
    reference = json.load(open(args.reference))
    with open(args.vitorch, newline="") as f:
        rows = list(csv.reader(f))[1:]
    ours = [int(row[3]) for row in rows]
    labels = [int(row[1]) for row in rows]
    if labels != list(reference["labels"]):
        print("the two files do not list the same images", file=sys.stderr)
        return 1
    same = sum(a == b for a, b in zip(ours, reference["predictions"], strict=True))
    print(
        json.dumps(
            {
                "count": len(ours),
                "agreement": same / len(ours),
                "disagreements": len(ours) - same,
                "vitorchTop1": sum(a == label for a, label in zip(ours, labels, strict=True)) / len(ours),
                "pytorchTop1": reference["top1"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
