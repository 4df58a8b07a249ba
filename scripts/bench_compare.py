#!/usr/bin/env python3
"""Interleaved benchmark: burngan against PyTorch (or against an older burngan), in rounds.

    python3 scripts/bench_compare.py [--quick] [--rounds N] [--seconds S | --iterations N]
        [--threads T] [--workload NAME[,NAME]|all] [--burngan PATH] [--backend flex]
        [--device cpu|cuda] [--batch N[,N]] [--baseline PATH [--baseline-threads T]]
        [--json FILE] [--markdown FILE] [--timeout S] [--python PY] [--dry-run]
    python3 scripts/bench_compare.py --render SITTING.json --markdown FILE

Why: one sitting that runs all of PyTorch and then all of burngan on a shared machine can flatter
either side (a compile that starts halfway slows whichever side runs second). Here each round
runs every chosen workload once per side, side after side (A B, A B, ...), each run in a fresh
process, so both sides see the same machine over the same minutes. Per workload and side the
report gives the median iterations/s over the rounds and the spread, (max - min) / median; a side
whose spread exceeds 10 % is marked "noisy", and so is a ratio that rests on a noisy side. The
ratio is that of the medians (burngan / PyTorch, or new / baseline); the range of the per-round
ratios is given beside it.

The two sides, each run as its own process (and process group) with the same timing rules (10
warm-up iterations, then at least --seconds and at least 10 iterations, or exactly --iterations):
  burngan: RAYON_NUM_THREADS=T BURNGAN bench --backend B --workload W --seconds S [--batch N]
           --json FILE
  PyTorch: python3 scripts/pytorch_bench.py --device D --threads T --workload W --seconds S
           [--batch N] [--no-peak] --json FILE    (only the first run measures the matmul peak)
With --baseline OLD the two sides are OLD and --burngan (both `bench` on the same backend), and
PyTorch is not run: that shows whether a change made burngan slower. --baseline-threads T1 runs
the baseline side with T1 threads instead of T: with the same binary on both sides
(--baseline B --burngan B --baseline-threads 1 --threads 2) the ratio is the speed-up from one
thread to two.

Both sides run with the glibc malloc settings the burngan binary gives itself (GLIBC_TUNABLES,
unless the caller set it). Recorded at the start: CPU model, AVX-512 (avx512f in /proc/cpuinfo),
logical cores, the load average (and again before every run and at the end), threads, the malloc
settings, the PyTorch version, the git commit of this checkout, and the binary's modification
time and SHA-256 (the binary does not carry its commit). --quick is 3 rounds of 1 s per run;
with PyTorch on the CPU, mnist-dcgan and mnist-dcgan-gp are timed by exactly 5 and 3 iterations
instead (10 warm-up iterations come first on both sides, so those runs still take up to a minute
or two on 2 cores). Measured: 11.1 minutes
for the four CPU workloads on the 2-core development machine at a load average of 3-4.8.

Outputs: a table on stdout; --json FILE (settings, machine, every sample, the summary);
--markdown FILE (BENCHMARKS.md: machine class, summary, every run, caveats); --render writes the
Markdown of an earlier sitting from its JSON. --dry-run prints the machine record and the
commands of the first round, and runs nothing.

Exit codes: 0 done; 1 a side failed (its command and the end of its stderr are printed) or the
sitting was stopped (SIGTERM, e.g. from `timeout`, or Ctrl-C): the runs done so far are still
summarised and written, marked incomplete; 2 bad arguments (the message names the value and the
fix); 3 a prerequisite is missing (PyTorch not installed, or --device cuda without a CUDA
device), nothing timed.
"""
import argparse
import datetime
import hashlib
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from pytorch_bench import workload_batch

WORKLOADS = ["ring8-mlp", "mnist-mlp", "mnist-dcgan", "mnist-dcgan-gp"]
BACKENDS = ["flex", "ndarray", "wgpu", "vulkan", "metal", "cuda"]
NOISY = 0.10
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_BINARY = "/tmp/bench-bin/burngan"
QUICK = {"rounds": 3, "seconds": 1.0}
# --quick with PyTorch on the CPU times the two convolutional workloads by a fixed count of
# iterations (each takes seconds on a CPU, long enough to time on its own); 10 warm-up
# iterations still come first on both sides. On a GPU every workload is timed by --seconds.
QUICK_ITERATIONS = {"mnist-dcgan": 5, "mnist-dcgan-gp": 3}
MISSING = 3
# glibc's malloc settings that the `burngan` binary gives itself (crates/burngan-cli/src/malloc.rs:
# freed pages stay in the heap instead of being unmapped every step). Both sides get them, unless
# the caller set GLIBC_TUNABLES, so that neither runs with an allocator setting the other lacks.
MALLOC_TUNABLES = ("glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864:"
                   "glibc.malloc.top_pad=16777216")


class SideFailed(Exception):
    """A run of one side exited non-zero or gave no result."""


class Missing(Exception):
    """A prerequisite of a side is not there (PyTorch, a CUDA device)."""


class Stopped(Exception):
    """SIGTERM (e.g. from `timeout`): the report is written from the runs done so far."""


def stop_on_sigterm(signum, frame):
    raise Stopped("stopped by SIGTERM (a time limit?)")


def usage_error(message):
    print(f"bench_compare.py: {message}", file=sys.stderr)
    sys.exit(2)


# ----------------------------------------------------------------------------- arguments

def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--burngan", default=DEFAULT_BINARY,
                   help=f"the burngan binary to time (default {DEFAULT_BINARY}: copy the release "
                        "build there first, so that a rebuild cannot swap it mid-sitting)")
    p.add_argument("--baseline", default=None, help="an older burngan binary: time it against "
                   "--burngan instead of PyTorch")
    p.add_argument("--baseline-threads", type=int, default=None, help="threads of the "
                   "--baseline side (default --threads); same binary on both sides: the ratio is "
                   "the speed-up from these threads to --threads")
    p.add_argument("--workload", default="all", help="NAME[,NAME...] or all")
    p.add_argument("--rounds", type=int, default=None, help="rounds (default 3; at least 3)")
    p.add_argument("--seconds", type=float, default=None, help="minimum timed seconds per run "
                   "(default 5; --quick 1)")
    p.add_argument("--iterations", type=int, default=None, help="time exactly N iterations "
                   "per run (both sides) instead of --seconds")
    p.add_argument("--threads", type=int, default=2, help="CPU threads of both sides")
    p.add_argument("--backend", default="flex", help="burngan's backend (default flex)")
    p.add_argument("--device", default="cpu", help="PyTorch's device: cpu or cuda")
    p.add_argument("--batch", default=None, help="N[,N...]: batch of the image workloads "
                   "(ring8-mlp is always 512)")
    p.add_argument("--python", default=sys.executable, help="Python that runs pytorch_bench.py")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take")
    p.add_argument("--quick", action="store_true", help="3 rounds of 1 s per run (on a CPU, "
                   "mnist-dcgan and mnist-dcgan-gp: 5 and 3 iterations)")
    p.add_argument("--json", default=None, help="write every sample and the summary to FILE")
    p.add_argument("--markdown", default=None, help="write the Markdown report to FILE")
    p.add_argument("--dry-run", action="store_true", help="print what would run; run nothing")
    p.add_argument("--render", default=None, metavar="JSON", help="run nothing: write the "
                   "--markdown report of an earlier sitting from its --json file")
    args = p.parse_args(argv)
    check_args(args)
    return args


def check_args(args):
    """Validates and normalises the arguments; exits 2 naming the bad value."""
    if args.rounds is None:
        args.rounds = QUICK["rounds"] if args.quick else 3
    if args.seconds is None:
        args.seconds = QUICK["seconds"] if args.quick else 5.0
    if args.rounds < 3:
        usage_error(f"--rounds {args.rounds}: at least 3 rounds are needed for a median and a "
                    "spread; pass --rounds 3 or more")
    if not args.seconds > 0:
        usage_error(f"--seconds {args.seconds}: give a number of seconds > 0, e.g. --seconds 5")
    if args.iterations is not None and args.iterations < 1:
        usage_error(f"--iterations {args.iterations}: give a whole number >= 1, or leave it out "
                    "to time by --seconds")
    if args.threads < 1:
        usage_error(f"--threads {args.threads}: give a whole number >= 1, e.g. --threads 2")
    if args.baseline_threads is not None:
        if args.baseline is None:
            usage_error("--baseline-threads needs --baseline OLD: it sets the threads of that "
                        "side (to time one binary against itself, pass it to both --baseline and "
                        "--burngan)")
        if args.baseline_threads < 1:
            usage_error(f"--baseline-threads {args.baseline_threads}: give a whole number >= 1, "
                        "e.g. --baseline-threads 1")
    if not args.timeout > 0:
        usage_error(f"--timeout {args.timeout}: give a number of seconds > 0")
    if args.backend not in BACKENDS:
        usage_error(f"--backend {args.backend!r}: choose one of {', '.join(BACKENDS)}")
    if args.device not in ("cpu", "cuda"):
        usage_error(f"--device {args.device!r}: choose cpu or cuda")
    args.workloads = parse_workloads(args.workload)
    args.batches = parse_batches(args.batch)
    if args.render is None:
        check_binary("--burngan", args.burngan)
    if args.baseline is not None:
        check_binary("--baseline", args.baseline)
    for flag in ("json", "markdown"):
        check_output(f"--{flag}", getattr(args, flag))


def parse_workloads(text):
    if text == "all":
        return list(WORKLOADS)
    names = [n.strip() for n in text.split(",") if n.strip()]
    for name in names:
        if name not in WORKLOADS:
            usage_error(f"--workload {name!r}: choose from {', '.join(WORKLOADS)}, or all")
    if not names:
        usage_error(f"--workload {text!r}: name at least one workload, or all")
    return names


def parse_batches(text):
    if text is None:
        return [None]
    batches = []
    for part in text.split(","):
        if not part.strip().isdigit() or int(part) < 1:
            usage_error(f"--batch {text!r}: give whole numbers >= 1 separated by commas, "
                        "e.g. --batch 64,512")
        batches.append(int(part))
    return batches


def check_binary(flag, path):
    if not os.path.isfile(path):
        usage_error(f"{flag} {path}: no such file; build it (cargo build --release) and copy "
                    f"it, e.g. cp target/release/burngan {DEFAULT_BINARY}, or pass {flag} PATH")
    if not os.access(path, os.X_OK):
        usage_error(f"{flag} {path}: not executable; chmod +x it")


def check_output(flag, path):
    if path is None:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        usage_error(f"{flag} {path}: folder {directory} does not exist; create it or choose "
                    "another path")


# ----------------------------------------------------------------------------- machine

def cpu_record():
    """CPU model and flags from /proc/cpuinfo (empty where it cannot be read)."""
    model, flags = "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model == "unknown":
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {"cpu_model": model, "avx512f": "avx512f" in flags, "avx2": "avx2" in flags,
            "logical_cores": os.cpu_count()}


def git_record():
    def git(*words):
        done = subprocess.run(["git", "-C", ROOT, *words], capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None
            else None}


def binary_record(path):
    """Path, version line, modification time (UTC) and SHA-256 of a burngan binary."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    mtime = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
    return {"path": os.path.abspath(path), "version": version or None,
            "modified_utc": mtime.strftime("%Y-%m-%d %H:%M"), "sha256": digest.hexdigest()}


def load_average():
    return [round(x, 2) for x in os.getloadavg()]


def machine_record(args):
    record = cpu_record()
    record["load_average_start"] = load_average()
    record["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES", MALLOC_TUNABLES)
    record["git"] = git_record()
    record["burngan"] = binary_record(args.burngan)
    if args.baseline:
        record["baseline"] = binary_record(args.baseline)
    try:
        record["torch"] = None if args.baseline else torch_record(args)
    except Missing as why:
        if not args.dry_run:
            raise
        record["torch"] = {"missing": str(why)}
    return record


def torch_record(args):
    """PyTorch's version (and CUDA device), asked of the Python that will run the benchmark."""
    probe = ("import json, torch; cuda = torch.cuda.is_available(); "
             "print(json.dumps({'version': torch.__version__, 'cuda_available': cuda, "
             "'cuda_device': torch.cuda.get_device_name(0) if cuda else None}))")
    try:
        done = subprocess.run([args.python, "-c", probe], capture_output=True, text=True,
                              timeout=300)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise Missing(f"cannot run {args.python} to find PyTorch ({error})")
    if done.returncode != 0:
        raise Missing(f"PyTorch is not installed for {args.python} (pip install torch), "
                      "so the PyTorch side cannot run")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    if args.device == "cuda" and not record["cuda_available"]:
        raise Missing("--device cuda but PyTorch sees no CUDA device")
    return record


# ----------------------------------------------------------------------------- the two sides

def cases(args):
    """(workload, batch) pairs; ring8-mlp is always batch 512, so it is timed once."""
    out = []
    for workload in args.workloads:
        for batch in args.batches:
            batch = workload_batch(workload, batch)
            if (workload, batch) not in out:
                out.append((workload, batch))
    return out


def sides(args):
    """The two sides in running order: (name, kind, binary)."""
    if args.baseline:
        return [("baseline", "burngan", args.baseline), ("burngan", "burngan", args.burngan)]
    return [("burngan", "burngan", args.burngan), ("pytorch", "pytorch", None)]


def timing_flags(args, workload):
    """--iterations N (given, or --quick's count for a convolutional workload) or --seconds S."""
    count = args.iterations
    if count is None and args.quick and args.device == "cpu":
        count = QUICK_ITERATIONS.get(workload)
    return ["--iterations", str(count)] if count else ["--seconds", str(args.seconds)]


def timing_rule(args, workload):
    flags = timing_flags(args, workload)
    if flags[0] == "--iterations":
        return f"exactly {flags[1]} timed iterations"
    return f"at least {float(flags[1]):g} s and at least 10 iterations"


def burngan_command(binary, args, workload, batch, out):
    command = [binary, "bench", "--backend", args.backend, "--workload", workload,
               *timing_flags(args, workload), "--json", out]
    if batch is not None and workload != "ring8-mlp":
        command += ["--batch", str(batch)]
    return command


def pytorch_command(args, workload, batch, out, with_peak):
    command = [args.python, os.path.join(HERE, "pytorch_bench.py"), "--device", args.device,
               "--threads", str(args.threads), "--workload", workload,
               *timing_flags(args, workload), "--json", out]
    if batch is not None and workload != "ring8-mlp":
        command += ["--batch", str(batch)]
    if not with_peak:
        command.append("--no-peak")
    return command


def side_command(side, args, workload, batch, out, with_peak):
    _, kind, binary = side
    if kind == "burngan":
        return burngan_command(binary, args, workload, batch, out)
    return pytorch_command(args, workload, batch, out, with_peak)


def threads_of(side, args):
    """The CPU threads a side runs with: --baseline-threads for the baseline where given."""
    if side[0] == "baseline" and args.baseline_threads is not None:
        return args.baseline_threads
    return args.threads


def run_side(side, args, command, out):
    """Runs one side once; returns its parsed JSON report."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads_of(side, args)))
    env.setdefault("GLIBC_TUNABLES", MALLOC_TUNABLES)
    try:
        # Its own process group, so that a stop also ends pytorch_bench.py's child process.
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT, start_new_session=True)
    except OSError as error:
        raise SideFailed(f"{side[0]}: cannot start {command[0]} ({error})")
    try:
        _, stderr = proc.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        raise SideFailed(f"{side[0]}: no result within --timeout {args.timeout:g} s:\n  "
                         f"{shlex.join(command)}")
    except BaseException:
        kill_group(proc)
        raise
    if proc.returncode != 0 or not os.path.isfile(out):
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        raise SideFailed(f"{side[0]} failed (exit {proc.returncode}):\n  {shlex.join(command)}"
                         f"\n{tail}")
    with open(out) as f:
        return json.load(f)


def kill_group(proc):
    """Ends a side's process and everything it started."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def sample_of(report, side, workload):
    """The one result of a side's report, as a sample row."""
    rows = [r for r in report.get("results", []) if r.get("workload") == workload]
    if not rows:
        why = "; ".join(report.get("skipped", [])) or "no result in its JSON"
        raise SideFailed(f"{side[0]}: {workload} was not timed ({why})")
    row = rows[0]
    return {"side": side[0], "workload": workload, "batch": row["batch"],
            "iterations": row["iterations"], "seconds": row["seconds"],
            "it_per_s": row["iterations_per_second"],
            "gflop_per_iteration": row.get("gflop_per_iteration"),
            "device": row.get("device") or report.get("device_name")}


# ----------------------------------------------------------------------------- the sitting

def sitting(args, scratch, on_sample, state):
    """Runs the rounds: per round, per case, each side once (A B, A B, ...). Samples and the
    matmul peak go into state as they come, so a sitting cut short still has them."""
    samples = state["samples"]
    for rnd in range(1, args.rounds + 1):
        for workload, batch in cases(args):
            for side in sides(args):
                out = os.path.join(scratch, f"r{rnd}-{side[0]}-{workload}-{batch}.json")
                with_peak = state["peak"] is None and side[1] == "pytorch"
                command = side_command(side, args, workload, batch, out, with_peak)
                load = load_average()[0]
                started = time.monotonic()
                report = run_side(side, args, command, out)
                sample = sample_of(report, side, workload)
                sample.update(round=rnd, load_1min=load, wall=time.monotonic() - started)
                if with_peak:
                    state["peak"] = report.get("matmul_peak_gflops")
                samples.append(sample)
                on_sample(sample, args)


def print_sample(sample, args):
    print(f"round {sample['round']}/{args.rounds}  {sample['workload']:<15} "
          f"batch {sample['batch']:>4}  {sample['side']:<9} {sample['it_per_s']:>9.3f} it/s  "
          f"({sample['iterations']} it, {sample['wall']:.1f} s wall, load {sample['load_1min']})",
          flush=True)


def spread_of(values):
    middle = statistics.median(values)
    return (max(values) - min(values)) / middle if middle > 0 else float("inf")


def summarise(samples, args):
    """Per case: each side's median, min, max, spread, noisy flag; the ratio of the medians."""
    names = [s[0] for s in sides(args)]
    rows = []
    for workload, batch in cases(args):
        mine = [s for s in samples if s["workload"] == workload and
                (batch is None or s["batch"] == batch)]
        if not mine:
            continue
        row = {"workload": workload, "batch": mine[0]["batch"], "sides": {}}
        for name in names:
            values = [s["it_per_s"] for s in mine if s["side"] == name]
            if not values:
                row["sides"][name] = None
                continue
            spread = spread_of(values)
            row["sides"][name] = {"median": statistics.median(values), "min": min(values),
                                  "max": max(values), "spread": spread,
                                  "noisy": spread > NOISY, "values": values}
        add_ratio(row, names, mine)
        rows.append(row)
    return rows


def add_ratio(row, names, mine):
    """burngan / other: ratio of the medians, and the range of the per-round ratios."""
    other, ours = names[0] if names[1] == "burngan" else names[1], "burngan"
    a, b = row["sides"][ours], row["sides"][other]
    row["ratio_of"] = f"{ours} / {other}"
    gflop = next((s["gflop_per_iteration"] for s in mine if s.get("gflop_per_iteration")), None)
    row["gflop_per_iteration"] = gflop
    if a is None or b is None:
        row.update(ratio=None, round_ratios=[], noisy=False)
        return
    row["ratio"] = a["median"] / b["median"]
    per_round = {}
    for s in mine:
        per_round.setdefault(s["round"], {})[s["side"]] = s["it_per_s"]
    ratios = [r[ours] / r[other] for r in per_round.values() if ours in r and other in r]
    row["round_ratios"] = ratios
    row["noisy"] = a["noisy"] or b["noisy"]


def print_summary(rows, args):
    other = "baseline" if args.baseline else "pytorch"
    print(f"\n{'workload':<15} {'batch':>5} {'burngan it/s':>13} {'spread':>7} "
          f"{other + ' it/s':>13} {'spread':>7} {'ratio':>7}  per-round ratios")
    for row in rows:
        a, b = row["sides"]["burngan"], row["sides"][other]
        flag = "  noisy" if row["noisy"] else ""
        print(f"{row['workload']:<15} {row['batch']:>5} {median_text(a):>13} "
              f"{spread_text(a):>7} {median_text(b):>13} {spread_text(b):>7} "
              f"{ratio_text(row):>7}  {ratio_range(row)}{flag}")


def median_text(side):
    return f"{side['median']:.3f}" if side else "–"


def spread_text(side):
    return pct(side["spread"]) if side else "–"


def ratio_text(row):
    return f"{row['ratio']:.2f}×" if row["ratio"] is not None else "–"


def pct(x):
    return f"{100 * x:.0f} %" if x != float("inf") else "–"


def ratio_range(row):
    r = row["round_ratios"]
    return f"{min(r):.2f}–{max(r):.2f}" if r else "–"


# ----------------------------------------------------------------------------- reports

def write_json(path, report):
    with open(path + ".partial", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(path + ".partial", path)
    print(f"wrote {path}")


def machine_class(m):
    return (f"{m['cpu_model']}, {m['logical_cores']} logical cores, "
            f"AVX-512 {'yes' if m['avx512f'] else 'no'}")


def markdown(report):
    """The Markdown report (BENCHMARKS.md is this file)."""
    m, s = report["machine"], report["settings"]
    lines = md_header(report, m, s) + md_summary(report) + md_rounds(report) + md_caveats(report)
    return "\n".join(lines) + "\n"


def md_header(report, m, s):
    other = "an older burngan binary" if s["baseline"] else f"PyTorch ({s['device']})"
    torch = m.get("torch") or {}
    git = m["git"]
    lines = [
        "# Benchmarks", "",
        "<!-- Generated by scripts/bench_compare.py. Do not edit by hand: run it again "
        "(docs/benchmarks.md says how). -->", "",
        f"Generated by `{report['command']}`, started {report['started_utc']} (UTC), "
        f"{report['wall_seconds'] / 60:.1f} minutes of wall time{rendered(report)}. burngan "
        f"against {other}, "
        f"interleaved: {s['rounds']} rounds, each running every workload once per side, side "
        "after side, each run a fresh process.", "",
        "## Machine class", "",
        f"**Every number below belongs to this machine class: {machine_class(m)}.** "
        "Numbers from another CPU model or core count, and above all from a CPU that differs in "
        "AVX-512, are another class and not comparable with these." + gpu_class(report), "",
        f"- CPU: {m['cpu_model']} ({m['logical_cores']} logical cores); AVX-512 (avx512f): "
        f"{'yes' if m['avx512f'] else 'no'}; AVX2: {'yes' if m['avx2'] else 'no'}",
        f"- Load average (1, 5, 15 min) at the start: {fmt_load(m['load_average_start'])}; "
        f"at the end: {fmt_load(report['load_average_end'])}; 1-min load before each run: "
        f"{min_max(report['samples'], 'load_1min')}",
        threads_line(s),
        "- glibc malloc settings of both sides: " + (
            f"`GLIBC_TUNABLES={m['glibc_tunables']}`" if m.get("glibc_tunables")
            else "not recorded (a sitting before the tool recorded them)"),
        f"- burngan: `{m['burngan']['version']}`, backend `{s['backend']}`, binary built "
        f"{m['burngan']['modified_utc']} UTC (sha256 {m['burngan']['sha256'][:12]}…), "
        f"checkout at commit `{(git['commit'] or 'unknown')[:12]}`"
        f"{' (uncommitted changes in the tree)' if git['dirty'] else ''}",
    ]
    if m.get("baseline"):
        lines.append(f"- baseline: `{m['baseline']['version']}`, binary built "
                     f"{m['baseline']['modified_utc']} UTC (sha256 "
                     f"{m['baseline']['sha256'][:12]}…)")
    if torch:
        device = torch.get("cuda_device") if s["device"] == "cuda" else m["cpu_model"]
        lines.append(f"- PyTorch {torch['version']} on {s['device']} ({device}), eager, "
                     "`scripts/pytorch_bench.py`")
    if report.get("matmul_peak_gflops"):
        lines.append(f"- Matrix-multiply peak (PyTorch, f32, 2048², same threads, measured "
                     f"once in round 1): {report['matmul_peak_gflops']:.1f} GFLOP/s")
    rules = {}
    for workload in s["workloads"]:
        rules.setdefault(report["timing"][workload], []).append(f"`{workload}`")
    lines.append("- Per run, on both sides: 10 warm-up iterations, then " + "; ".join(
        f"{rule} ({', '.join(names)})" for rule, names in rules.items()))
    return lines + [""]


def threads_line(s):
    t, base = s["threads"], s.get("baseline_threads")
    if base is not None and base != t:
        return (f"- Threads: baseline {base} (`RAYON_NUM_THREADS={base}`), burngan {t} "
                f"(`RAYON_NUM_THREADS={t}`): the ratio is the gain from {base} to {t} threads")
    return (f"- Threads: {t} on both sides (`RAYON_NUM_THREADS={t}` for burngan" +
            ("" if s["baseline"] else f", `torch.set_num_threads({t})` for PyTorch") + ")")


def gpu_class(report):
    """For GPU sittings: the devices the two sides ran on (they belong to the class too)."""
    s, torch = report["settings"], report["machine"].get("torch") or {}
    if s["backend"] in ("flex", "ndarray") and s["device"] == "cpu":
        return ""
    ours = next((x["device"] for x in report["samples"] if x["side"] == "burngan"), None)
    theirs = torch.get("cuda_device") if s["device"] == "cuda" else "the CPU"
    return (f" **Devices:** burngan `{s['backend']}` on {ours or 'an unknown device'}"
            + ("" if s["baseline"] else f"; PyTorch on {theirs}") + ".")


def rendered(report):
    """Where the Markdown was written again from the sitting's JSON by --render."""
    by = report.get("rendered_by")
    return f" (this Markdown written from its JSON by `{by}`)" if by else ""


def fmt_load(load):
    return ", ".join(f"{x:.2f}" for x in load)


def min_max(samples, key):
    values = [s[key] for s in samples]
    return f"{min(values):.2f}–{max(values):.2f}" if values else "–"


def md_summary(report):
    other = "baseline" if report["settings"]["baseline"] else "pytorch"
    label = "baseline" if other == "baseline" else "PyTorch"
    peak = report.get("matmul_peak_gflops")
    lines = ["## Results", ""]
    if report.get("stopped_early"):
        done = max(s["round"] for s in report["samples"])
        lines += [f"**Incomplete:** the sitting stopped in round {done} of "
                  f"{report['settings']['rounds']}: {report['stopped_early']}. Medians and "
                  "spreads rest on the runs listed under Every run; with fewer than 3 rounds they "
                  "are no protection against a slow run.", ""]
    if was_busy(report):
        lines += [f"**A busy sitting:** the 1-minute load average reached "
                  f"{highest_load(report):.2f} on {report['machine']['logical_cores']} logical "
                  f"cores while it ran, above the {busy_threshold(report):.1f} that the "
                  "sitting's own threads explain (see Caveats). These ratios are what was "
                  "measured then, not those of a quiet machine.", ""]
    lines += [f"Median iterations/s over the rounds; spread = (max − min) / median; a side whose "
             f"spread exceeds {pct(NOISY)} is **noisy**, and so is a ratio resting on it. ratio = "
             f"burngan median ÷ {label} median (above 1 burngan is faster); beside it the range "
             "of the ratios of the single rounds.", "",
             f"| workload | batch | burngan it/s | spread | {label} it/s | spread | ratio | "
             "per-round ratios | burngan GFLOP/s" + (" | % of matmul peak |" if peak else " |"),
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:" +
             (" | ---: |" if peak else " |")]
    for row in report["summary"]:
        lines.append(md_row(row, other, peak))
    noisy = [r["workload"] for r in report["summary"] if r["noisy"]]
    lines += ["", f"Noisy: {', '.join(noisy)} — read those ratios as a range, not a number."
              if noisy else "No side was noisy in this sitting."]
    return lines + [""]


def md_row(row, other, peak):
    a, b = row["sides"]["burngan"], row["sides"][other]
    gflops = a["median"] * row["gflop_per_iteration"] if a and row["gflop_per_iteration"] \
        else None
    ratio = f"**{ratio_text(row)}**" if row["ratio"] is not None else "–"
    cells = [f"`{row['workload']}`", str(row["batch"]), median_text(a), side_spread(a),
             median_text(b), side_spread(b), ratio + (" (noisy)" if row["noisy"] else ""),
             ratio_range(row), f"{gflops:.1f}" if gflops else "–"]
    if peak:
        cells.append(f"{100 * gflops / peak:.0f} %" if gflops else "–")
    return "| " + " | ".join(cells) + " |"


def side_spread(side):
    return spread_text(side) + (" noisy" if side and side["noisy"] else "")


def md_rounds(report):
    lines = ["## Every run", "",
             "In running order; load = 1-minute load average just before the run.", "",
             "| round | workload | batch | side | it/s | timed iterations | wall s | load |",
             "| ---: | --- | ---: | --- | ---: | ---: | ---: | ---: |"]
    for s in report["samples"]:
        lines.append(f"| {s['round']} | `{s['workload']}` | {s['batch']} | {s['side']} | "
                     f"{s['it_per_s']:.3f} | {s['iterations']} | {s['wall']:.1f} | "
                     f"{s['load_1min']:.2f} |")
    return lines + [""]


def highest_load(report):
    """The highest 1-minute load average seen: at the start, before any run, at the end."""
    return max([report["machine"]["load_average_start"][0], report["load_average_end"][0]] +
               [s["load_1min"] for s in report["samples"]])


def busy_threshold(report):
    """The 1-minute load above which other work must have shared the machine: the sitting's
    own threads (each side runs T of them, so the load it causes itself approaches T) plus half
    the logical cores."""
    cores = max(report["machine"]["logical_cores"] or 1, 1)
    threads = report["settings"].get("threads") or cores
    return threads + 0.5 * cores


def was_busy(report):
    """Whether other work used the machine: a 1-minute load above `busy_threshold`."""
    return highest_load(report) > busy_threshold(report)


def md_caveats(report):
    m = report["machine"]
    lines = ["## Caveats", ""]
    if was_busy(report):
        lines.append(f"- The machine was not quiet: the 1-minute load average reached "
                     f"{highest_load(report):.2f} on {m['logical_cores']} logical cores (other "
                     "work shared the cores). Both sides saw that load, interleaved, but they "
                     "need not suffer it equally, so neither these rates nor these ratios are "
                     "those of a quiet machine.")
        if report["machine"].get("torch") and report["settings"]["device"] == "cpu":
            lines.append("- PyTorch's CPU kernels run on an OpenMP thread team whose parallel "
                         "regions wait for their slowest thread, so a core taken by another "
                         "process can slow it far more than burngan's work-stealing (rayon) "
                         "pool, so a busy sitting can favour burngan.")
        if report.get("matmul_peak_gflops"):
            lines.append("- The matmul peak was measured under that load too; a depressed peak "
                         "makes the \"% of matmul peak\" column too high.")
    lines += noisy_caveats(report)
    lines += [
        "- One sitting on one machine. The median of a few rounds damps a slow run; it does not "
        "remove a load that lasts the whole sitting, and a few rounds give a coarse spread.",
        f"- The numbers belong to this machine class ({machine_class(m)}). Both sides' matrix "
        "kernels pick their instruction set at run time, so the ratio on an AVX-512 CPU (or "
        "another core count) can differ.",
        "- Within a round the sides run in a fixed order (A then B); a load that rises or falls "
        "steadily through the sitting favours one side slightly.",
        "- Timing rules are the same on both sides (10 warm-up iterations, then the timed span "
        "given under Machine class, the last iteration reading its losses back). "
        "burngan draws its noise from the seeded host RNG and uploads it; PyTorch draws it on "
        "the device. One burngan iteration is one `GanTrainer::step`, what `burngan train` runs.",
        "- GFLOP/s counts matrix multiplies and convolutions only (`Workload::flops`); the matmul "
        "peak is PyTorch's 2048² f32 product measured once, under the same load.",
    ]
    return lines + [""]


def noisy_caveats(report):
    """One line naming the range of every noisy side."""
    ranges = []
    for row in report["summary"]:
        for name, side in row["sides"].items():
            if side and side["noisy"]:
                ranges.append(f"{name} `{row['workload']}` {side['min']:.3f}–{side['max']:.3f}")
    if not ranges:
        return []
    return [f"- Noisy sides, lowest–highest it/s over the rounds: {'; '.join(ranges)}."]


def full_report(args, machine, state, started, wall, stopped):
    samples, peak = state["samples"], state["peak"]
    return {"tool": "bench_compare", "command": command_line(), "started_utc": started,
            "stopped_early": stopped,
            "wall_seconds": wall, "settings": settings_of(args), "machine": machine,
            "timing": {w: timing_rule(args, w) for w in args.workloads},
            "matmul_peak_gflops": peak, "load_average_end": load_average(),
            "samples": samples, "summary": summarise(samples, args)}


def settings_of(args):
    return {"rounds": args.rounds, "seconds": args.seconds, "iterations": args.iterations,
            "threads": args.threads, "baseline_threads": args.baseline_threads,
            "backend": args.backend, "device": args.device, "workloads": args.workloads,
            "batches": args.batches, "quick": args.quick, "baseline": args.baseline is not None,
            "noisy_spread": NOISY}


def command_line():
    words = [os.path.relpath(sys.argv[0], ROOT) if os.path.isabs(sys.argv[0]) else sys.argv[0]]
    return "python3 " + shlex.join(words + sys.argv[1:])


# ----------------------------------------------------------------------------- main

def dry_run(args, machine):
    print(json.dumps(machine, indent=2))
    print("commands of round 1 (then again each round, the matmul peak left out):")
    first = True
    for workload, batch in cases(args):
        for side in sides(args):
            out = f"/tmp/{side[0]}-{workload}.json"
            with_peak = first and side[1] == "pytorch"
            first = first and not with_peak
            print("  " + shlex.join(side_command(side, args, workload, batch, out, with_peak)))


def render(args):
    """--render: the Markdown of an earlier sitting, from its JSON, nothing timed."""
    if not args.markdown:
        usage_error(f"--render {args.render}: also pass --markdown FILE to say where to write")
    try:
        with open(args.render) as f:
            report = json.load(f)
        report["rendered_by"] = command_line()
        text = markdown(report)
    except (OSError, ValueError, KeyError, TypeError) as error:
        usage_error(f"--render {args.render}: not a readable bench_compare.py --json file "
                    f"({error!r})")
    with open(args.markdown, "w") as f:
        f.write(text)
    print(f"wrote {args.markdown} from {args.render}")
    return 0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.render:
        return render(args)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M")
    try:
        machine = machine_record(args)
    except Missing as why:
        print(f"bench_compare.py: {why}; nothing timed", file=sys.stderr)
        return MISSING
    machine["threads"] = args.threads
    if args.dry_run:
        dry_run(args, machine)
        return 0
    print(f"machine: {machine_class(machine)}; load average "
          f"{fmt_load(machine['load_average_start'])}; {args.rounds} rounds, {args.threads} "
          "threads; per run: " + "; ".join(f"{w} {timing_rule(args, w)}" for w in args.workloads),
          flush=True)
    t0 = time.monotonic()
    state, stopped = {"samples": [], "peak": None}, None
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with tempfile.TemporaryDirectory(prefix="bench_compare-") as scratch:
        try:
            sitting(args, scratch, print_sample, state)
        except (SideFailed, Stopped, KeyboardInterrupt) as why:
            stopped = str(why).strip() or "interrupted (Ctrl-C)"
            print(f"bench_compare.py: {stopped}", file=sys.stderr)
    if not state["samples"]:
        print("bench_compare.py: no run finished; nothing written", file=sys.stderr)
        return 1
    report = full_report(args, machine, state, started, time.monotonic() - t0,
                         stopped.splitlines()[0] if stopped else None)
    write_outputs(args, report)
    return 1 if stopped else 0


def write_outputs(args, report):
    """The summary on stdout, then --json and --markdown."""
    print_summary(report["summary"], args)
    print(f"wall time {report['wall_seconds']:.0f} s; load average at the end "
          f"{fmt_load(report['load_average_end'])}")
    if args.json:
        write_json(args.json, report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown(report))
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench_compare.py: interrupted; nothing written", file=sys.stderr)
        sys.exit(130)
