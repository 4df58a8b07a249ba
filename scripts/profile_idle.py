#!/usr/bin/env python3
"""What a two-thread burngan run does while its second thread waits: reads a `perf script` dump
of a recording with call graphs, counts each thread's samples and idle samples (rayon's
sleeping, spinning and stealing), and for every sample of the worker thread finds the calling
thread's nearest sample (within --window seconds) and files both under what the calling thread
was doing there — the operation it was in (convolution weight gradient, batch norm, matrix
product, the host optimizer, …) and whether gemm, a strided copy or other code ran.

Record and dump (DWARF stacks of 64 KB: 32 KB cut most of flex's stacks short):

    RAYON_NUM_THREADS=2 perf record -F 999 --call-graph dwarf,65528 -o perf.data \\
        burngan bench --backend flex --workload mnist-dcgan --seconds 8
    perf script -F tid,time,ip,sym -i perf.data > perf.txt
    python3 scripts/profile_idle.py perf.txt [--main TID] [--window 0.003]

Prints, per thread, samples and idle samples; then one row per category of the calling
thread: worker idle / worker busy samples (PATCH.md's "idle in 22 % of its samples" is the
worker's idle count over its samples). The calling thread is --main, by default the thread with
the lowest id (the process's first). Exit codes: 0 done, 2 bad arguments or a dump without two
threads.
"""
import argparse
import bisect
import collections
import re
import sys

# Frames (of a stack's first 12) that mark a thread as waiting for work.
IDLE_FRAMES = ("sched_yield", "wait::spin", "wait_until", "find_work", "yield_now",
               "sleep::Sleep", "steal")

# (substring of a frame, category), first match wins: the operation a stack is inside.
OPERATIONS = [
    ("optim::host", "host optimizer"),
    ("HostRng", "host rng"),
    ("conv2d_weight_backward", "conv weight backward"),
    ("conv_transpose2d_weight_bac", "convT weight backward"),
    ("conv_transpose2d_x_backward", "convT x backward"),
    ("conv2d_x_backward", "conv x backward"),
    ("batch_norm", "batch norm"),
    ("conv_transpose2d", "convT forward"),
    ("conv2d", "conv forward"),
    ("matmul", "matmul"),
    ("leaky_relu", "leaky relu"),
    ("relu", "relu"),
]


def read_samples(path):
    """The samples of a `perf script -F tid,time,ip,sym` dump: {tid: [(time, [frame, …])]},
    each thread's list sorted by time, frames innermost first."""
    by_thread = collections.defaultdict(list)
    current = None
    with open(path, errors="replace") as dump:
        for line in dump:
            if not line.strip():
                if current:
                    by_thread[current[0]].append((current[1], current[2]))
                current = None
            elif not line.startswith("\t"):
                head = re.match(r"\s*(\d+)\s+([\d.]+):", line)
                current = (int(head.group(1)), float(head.group(2)), []) if head else None
            elif current:
                parts = line.strip().split(" ", 1)
                current[2].append(parts[1] if len(parts) > 1 else parts[0])
    if current:
        by_thread[current[0]].append((current[1], current[2]))
    return {tid: sorted(samples, key=lambda s: s[0]) for tid, samples in by_thread.items()}


def is_idle(frames):
    """Whether a stack is a thread waiting for work."""
    return any(mark in frame for frame in frames[:12] for mark in IDLE_FRAMES)


def category(frames):
    """The operation a stack is in, and whether gemm, a strided copy or other code ran."""
    text = " ".join(frames)
    for key, name in OPERATIONS:
        if key in text:
            if frames and ("gemm" in frames[0] or "pack" in text[:300]):
                return f"{name} / gemm"
            return f"{name} / {'copy' if 'copy_2d' in text else 'other'}"
    return "other: " + (frames[0][:50] if frames else "?")


def nearest(times, samples, time, window):
    """The sample of `samples` (times `times`) nearest to `time`, or None beyond `window`."""
    i = bisect.bisect_left(times, time)
    candidates = [j for j in (i - 1, i) if 0 <= j < len(times)]
    if not candidates:
        return None
    j = min(candidates, key=lambda j: abs(times[j] - time))
    return samples[j][1] if abs(times[j] - time) <= window else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dump", help="output of perf script -F tid,time,ip,sym")
    parser.add_argument("--main", type=int, help="the calling thread's id (default: lowest)")
    parser.add_argument("--window", type=float, default=0.003,
                        help="seconds within which two threads' samples are matched")
    parser.add_argument("--rows", type=int, default=40)
    args = parser.parse_args()
    try:
        by_thread = read_samples(args.dump)
    except OSError as err:
        parser.error(f"cannot read {args.dump}: {err}")
    threads = sorted(by_thread, key=lambda t: -len(by_thread[t]))[:2]
    if len(threads) < 2:
        parser.error(f"{args.dump} has samples of {len(threads)} thread(s); record a run with "
                     "RAYON_NUM_THREADS=2 and perf's call graphs")
    main_tid = args.main if args.main is not None else min(threads)
    if main_tid not in threads:
        parser.error(f"--main {main_tid} is not one of the two busiest threads {threads}")
    worker = next(t for t in threads if t != main_tid)
    for tid in threads:
        idle = sum(1 for _, frames in by_thread[tid] if is_idle(frames))
        total = len(by_thread[tid])
        role = "calling" if tid == main_tid else "worker"
        print(f"thread {tid} ({role}): {total} samples, idle {idle} ({100 * idle / total:.1f} %)")
    times = [time for time, _ in by_thread[main_tid]]
    idle_by, busy_by = collections.Counter(), collections.Counter()
    for time, frames in by_thread[worker]:
        other = nearest(times, by_thread[main_tid], time, args.window)
        if other is None or is_idle(other):
            continue
        (idle_by if is_idle(frames) else busy_by)[category(other)] += 1
    print("\ncalling thread's category: worker idle / worker busy samples")
    ranked = sorted(set(idle_by) | set(busy_by), key=lambda k: -idle_by[k] - busy_by[k])
    for key in ranked[:args.rows]:
        print(f"{idle_by[key]:6d} {busy_by[key]:6d}  {key}")
    print(f"{sum(idle_by.values()):6d} {sum(busy_by.values()):6d}  (all matched samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
