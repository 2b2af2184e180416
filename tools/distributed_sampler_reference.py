"""Reference shards for test/distributed-shard.test.ts: what PyTorch's DistributedSampler gives each rank.

Reads {"cases": [{"order": [...], "count": C}, ...]} as JSON on stdin: "order" is one epoch's sample order of a
one-process loader. Writes {"results": [{"padded": [[...], ...], "uneven": [[...], ...]}, ...]} on stdout, one
list per rank:

  padded  DistributedSampler(dataset of len(order) items, num_replicas=C, rank=r, shuffle=False) (its default
          drop_last=False: the epoch padded with its own first items to a multiple of C), each position it yields
          mapped through "order": how a DistributedSampler wrapped around the loader's order shards it.
  uneven  the same positions without padding (order[r::C]): every item exactly once, the shards uneven, as an
          evaluation wants them.
"""

import json
import sys

from torch.utils.data import DistributedSampler


def shards(order, count):
    padded = []
    for rank in range(count):
        sampler = DistributedSampler(range(len(order)), num_replicas=count, rank=rank, shuffle=False)
        padded.append([order[position] for position in sampler])
    uneven = [order[rank::count] for rank in range(count)]
    return {"padded": padded, "uneven": uneven}


def main():
    cases = json.load(sys.stdin)["cases"]
    json.dump({"results": [shards(case["order"], case["count"]) for case in cases]}, sys.stdout)


if __name__ == "__main__":
    main()
