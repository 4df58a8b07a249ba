#!/usr/bin/env python3
"""Compare the losses of two `burngan train` runs, step by step, to a relative tolerance.

    python3 scripts/compare_metrics.py REFERENCE/metrics.jsonl OTHER/metrics.jsonl
        [--tolerance 1e-4] [--strict-steps N --drift-tolerance 1e-2]
        [--fields loss_d,loss_g,penalty]

The cross-backend regression of a carried release binary (scripts/gpu-check.sh): the same
config and seed trained on flex (REFERENCE) and on another backend (OTHER) must give the same
losses up to floating-point reduction order. For every step logged in both files and every field,
relative = |other - reference| / max(|reference|, 1e-12), as tests/integration/cross_backend.rs
computes it; a step logged in one file only is a failure. Prints the steps compared, the largest
relative difference (field and step) and the first step over the tolerance, if any.

A GAN's training amplifies the first rounding differences: on ring8-ns (lr 5e-4, batch 512), flex
against wgpu on Mesa's lavapipe differed by 5e-7 relative at step 1, 5e-6 by step 40, 1.3e-4 at
step 72 and at most 1.8e-3 over 200 steps (measured 2026-12-05). So a long run is compared in two
tiers: steps up to --strict-steps at --tolerance, the later ones at --drift-tolerance (a wrong
kernel differs by far more, mostly from the first step on). Without --strict-steps every step is
held to --tolerance.

Exit codes: 0 every value within the tolerance; 1 a value over it (or steps missing);
2 bad arguments or an unreadable file.
"""
import argparse
import json
import math
import sys


def fail_usage(message):
    print(f"compare_metrics.py: {message}", file=sys.stderr)
    sys.exit(2)


def read_metrics(path):
    """step -> record of one metrics.jsonl (lines without a step are skipped)."""
    try:
        with open(path) as f:
            lines = [line for line in f if line.strip()]
    except OSError as error:
        fail_usage(f"{path}: cannot read it ({error.strerror}); pass the metrics.jsonl of a run")
    records = {}
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            fail_usage(f"{path}:{number}: not a JSON line; is this a metrics.jsonl?")
        if isinstance(record, dict) and "step" in record:
            records[record["step"]] = record
    if not records:
        fail_usage(f"{path}: no logged step; did the run train?")
    return records


def relative(a, b):
    if a == b:
        return 0.0
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return math.inf
    return abs(a - b) / max(abs(b), 1e-12)


def compare(reference, other, fields, bound):
    """(steps compared, worst (rel, field, step), first over its bound or None, missing steps);
    bound(step) is the tolerance of a step."""
    missing = sorted(set(reference) ^ set(other))
    worst, first = (0.0, None, None), None
    steps = sorted(set(reference) & set(other))
    for step in steps:
        for field in fields:
            rel = relative(other[step].get(field), reference[step].get(field))
            if rel > worst[0]:
                worst = (rel, field, step)
            if rel > bound(step) and first is None:
                first = (step, field, other[step].get(field), reference[step].get(field), rel,
                         bound(step))
    return steps, worst, first, missing


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("reference")
    p.add_argument("other")
    p.add_argument("--tolerance", type=float, default=1e-4)
    p.add_argument("--strict-steps", type=int, default=None,
                   help="hold only steps <= N to --tolerance; later ones to --drift-tolerance")
    p.add_argument("--drift-tolerance", type=float, default=1e-2)
    p.add_argument("--fields", default="loss_d,loss_g,penalty")
    args = p.parse_args()
    for flag in ("tolerance", "drift_tolerance"):
        if not getattr(args, flag) > 0:
            fail_usage(f"--{flag.replace('_', '-')} {getattr(args, flag)}: give a number > 0, "
                       "e.g. 1e-4")
    if args.strict_steps is not None and args.strict_steps < 1:
        fail_usage(f"--strict-steps {args.strict_steps}: give a whole number >= 1")
    fields = [f for f in args.fields.split(",") if f]

    def bound(step):
        strict = args.strict_steps is None or step <= args.strict_steps
        return args.tolerance if strict else args.drift_tolerance

    reference, other = read_metrics(args.reference), read_metrics(args.other)
    steps, worst, first, missing = compare(reference, other, fields, bound)
    if args.strict_steps is not None:
        early = {k: v for k, v in reference.items() if k <= args.strict_steps}
        _, strict_worst, _, _ = compare(early, other, fields, bound)
        print(f"tolerance {args.tolerance:g} up to step {args.strict_steps} (largest relative "
              f"difference there {strict_worst[0]:.2e}), {args.drift_tolerance:g} after it")
    print(f"compared {len(steps)} steps ({', '.join(fields)}); largest relative difference "
          f"{worst[0]:.2e}" + (f" ({worst[1]} at step {worst[2]})" if worst[1] else ""))
    if missing:
        print(f"steps logged in one run only: {missing[:10]}", file=sys.stderr)
    if first:
        step, field, a, b, rel, tolerance = first
        print(f"first over {tolerance:g}: step {step} {field} {a} vs reference {b} "
              f"(relative {rel:.2e})", file=sys.stderr)
    return 1 if first or missing or not steps else 0


if __name__ == "__main__":
    sys.exit(main())
