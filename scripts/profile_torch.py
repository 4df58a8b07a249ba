#!/usr/bin/env python3
"""Where PyTorch spends one training iteration of a benchmark workload: the operator table of
`torch.profiler` over the iterations of `scripts/pytorch_bench.py` (same networks, optimizers,
fixed real batch and iteration as the benchmark), sorted by self CPU time.

    python3 scripts/profile_torch.py [--workload mnist-dcgan] [--threads 2] [--warmup 10]
                                     [--iterations 20] [--rows 30] [--seed 0]

Prints the unprofiled rate of the warm-up-then-`--iterations` loop first (iterations/s), then
the table; divide an operator's self CPU total by `--iterations` for its time per iteration
(docs/benchmarks.md quotes convolutions, matrix products and the optimizer per iteration this
way). CPU only. Exit codes: 0 done, 2 bad arguments, 3 PyTorch not installed.
"""
import argparse
import importlib.util
import os
import sys
import time


def load_bench():
    """scripts/pytorch_bench.py as a module (it is a script, not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pytorch_bench.py")
    spec = importlib.util.spec_from_file_location("pytorch_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    bench = load_bench()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="mnist-dcgan", choices=bench.NAMES)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--rows", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for flag in ("threads", "iterations", "rows"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} is {getattr(args, flag)}; give 1 or more")
    if args.warmup < 0:
        parser.error(f"--warmup is {args.warmup}; give 0 or more")
    torch = bench.import_torch()
    import torch.nn as nn
    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    batch = bench.workload_batch(args.workload)
    iteration = bench.workload_iteration(args.workload, batch, "cpu", torch, nn, F)
    for _ in range(args.warmup):
        iteration()
    start = time.perf_counter()
    for _ in range(args.iterations):
        loss = iteration()
    loss.item()
    rate = args.iterations / (time.perf_counter() - start)
    print(f"{args.workload}, threads {args.threads}: {rate:.3f} iterations/s unprofiled")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.iterations):
            loss = iteration()
        loss.item()
    print(f"profiled {args.iterations} iterations; per-iteration time = total / {args.iterations}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
