#!/usr/bin/env python3
"""burngan's PyTorch side of the benchmark: the four workloads of WORKLOADS.md in PyTorch eager.

    python3 scripts/pytorch_bench.py [--device cpu|cuda] [--threads 2] [--workload NAME|all]
                                   [--seconds 10] [--batch N] [--seed 0] [--json FILE]
                                   [--iterations N] [--no-peak]

What is timed (as WORKLOADS.md defines it): training iterations per second after 10 warm-up
iterations, over at least --seconds and at least 10 iterations (or exactly --iterations N, as
`burngan bench --iterations N`). One iteration is one
discriminator step then one generator step (five critic steps then one generator step for
mnist-dcgan-gp). Real data is one fixed tensor uniform in [-1, 1] on the device; latent noise is
drawn on the device for every step; the timed loop ends by reading the last loss back with
`.item()` (and on CUDA the clock starts after a synchronize), so all queued work is counted.
In a generator step the discriminator's parameters have requires_grad switched off, so only the
generator's gradients are computed and only the generator is updated. The WGAN-GP penalty uses
PyTorch's double backward (autograd.grad with create_graph=True).

Each workload runs in a child process of this script (the script calls itself with --child), so
the peak resident memory (ru_maxrss) belongs to that workload alone; the child prints one JSON
line that the parent collects. --batch changes the batch of the three image workloads only
(ring8-mlp is always 512 points).

With --json FILE the parent writes
  {"tool": "pytorch", "torch_version", "device", "device_name", "threads", "seconds",
   "matmul_peak_gflops", "results": [{"workload", "backend", "batch", "iterations", "seconds",
   "iterations_per_second", "peak_rss_bytes", "rss_start_bytes", "rss_end_bytes",
   "peak_device_bytes"}]}
which `burngan bench --torch FILE` reads (`cargo xtask bench --compare-torch` does both).
matmul_peak_gflops is the best rate of a 2048 x 2048 f32 matrix product on the same threads
(about 2 s; --no-peak skips it and writes null, as scripts/bench_compare.py does after its first
PyTorch run).

Exit codes: 0 done, 1 a workload failed, 2 bad arguments, 3 skipped (PyTorch not installed, or
--device cuda without a CUDA device).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

NAMES = ["ring8-mlp", "mnist-mlp", "mnist-dcgan", "mnist-dcgan-gp"]
SKIPPED = 3


def fail_usage(message):
    print(f"pytorch_bench.py: {message}", file=sys.stderr)
    sys.exit(2)


def import_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        print("pytorch_bench.py: PyTorch is not installed (pip install torch); skipping the "
              "PyTorch side", file=sys.stderr)
        sys.exit(SKIPPED)
    return torch


def resident_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(name, torch, nn):
    """(generator, discriminator, latent size, sample shape) of a workload, as WORKLOADS.md."""
    def chain(widths, act, out_act=None, norm_from=None):
        layers = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            last = i == len(widths) - 2
            if not last:
                if norm_from is not None and i >= norm_from:
                    layers.append(nn.BatchNorm1d(b, eps=1e-5, momentum=0.1))
                layers.append(act())
            elif out_act is not None:
                layers.append(out_act())
        return nn.Sequential(*layers)

    leaky = lambda: nn.LeakyReLU(0.2)  # noqa: E731
    if name == "ring8-mlp":
        return (chain([2, 256, 256, 256, 2], nn.ReLU),
                chain([2, 256, 256, 256, 1], leaky), 2, (2,))
    if name == "mnist-mlp":
        gen = nn.Sequential(chain([100, 128, 256, 512, 1024, 784], leaky, nn.Tanh, norm_from=1),
                            nn.Unflatten(1, (1, 28, 28)))
        disc = nn.Sequential(nn.Flatten(), chain([784, 512, 256, 1], leaky))
        return gen, disc, 100, (1, 28, 28)
    gen = nn.Sequential(
        nn.Linear(100, 1024), nn.BatchNorm1d(1024), nn.ReLU(),
        nn.Linear(1024, 128 * 7 * 7), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(),
        nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    disc = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1), leaky(), nn.Conv2d(64, 128, 4, 2, 1), leaky(),
        nn.Flatten(), nn.Linear(128 * 7 * 7, 1024), leaky(), nn.Linear(1024, 1))
    return gen, disc, 100, (1, 28, 28)


def make_iteration(name, gen, disc, opt_g, opt_d, real, latent, torch, F):
    batch, dev = real.shape[0], real.device

    def noise():
        return torch.randn(batch, latent, device=dev)

    def generator_step(loss_of_logits):
        for p in disc.parameters():
            p.requires_grad_(False)
        loss = loss_of_logits(disc(gen(noise())))
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        for p in disc.parameters():
            p.requires_grad_(True)
        return loss

    if name != "mnist-dcgan-gp":
        def iteration():
            fake = gen(noise()).detach()
            loss_d = F.softplus(-disc(real)).mean() + F.softplus(disc(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            return generator_step(lambda logits: F.softplus(-logits).mean())
        return iteration

    def iteration():
        for _ in range(5):
            fake = gen(noise()).detach()
            eps = torch.rand(batch, 1, 1, 1, device=dev)
            mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
            (grad,) = torch.autograd.grad(disc(mixed).sum(), mixed, create_graph=True)
            penalty = (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
            loss_d = disc(fake).mean() - disc(real).mean() + 10.0 * penalty
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
        return generator_step(lambda logits: -logits.mean())
    return iteration


def workload_batch(name, batch=None):
    """The batch of workload `name`: ring8-mlp always 512 points, the image workloads `batch`
    (default 64)."""
    return 512 if name == "ring8-mlp" else (batch or 64)


def workload_iteration(name, batch, device, torch, nn, F):
    """The networks, Adam optimizers and fixed real batch of workload `name` on `device`, and
    the function that runs one training iteration and returns its last loss (a tensor)."""
    gen, disc, latent, shape = build(name, torch, nn)
    gen, disc = gen.to(device), disc.to(device)
    gen.train()
    disc.train()
    lr, betas = {"ring8-mlp": (1e-4, (0.5, 0.999)), "mnist-mlp": (2e-4, (0.5, 0.999)),
                 "mnist-dcgan": (2e-4, (0.5, 0.999)), "mnist-dcgan-gp": (1e-4, (0.0, 0.9))}[name]
    opt_g = torch.optim.Adam(gen.parameters(), lr=lr, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=betas)
    real = torch.rand(batch, *shape, device=device) * 2 - 1
    return make_iteration(name, gen, disc, opt_g, opt_d, real, latent, torch, F)


def child(args):
    """Runs one workload and prints its JSON line."""
    torch = import_torch()
    import torch.nn as nn
    import torch.nn.functional as F
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    name = args.workload
    batch = workload_batch(name, args.batch)
    iteration = workload_iteration(name, batch, args.device, torch, nn, F)

    cuda = args.device == "cuda"
    for _ in range(10):
        iteration()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    rss_start = resident_bytes()
    start = time.perf_counter()
    count = 0
    while True:
        loss = iteration()
        count += 1
        if args.iterations is not None:
            if count >= args.iterations:
                break
        elif count >= 10 and time.perf_counter() - start >= args.seconds:
            break
    loss.item()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(json.dumps({
        "workload": name, "backend": f"pytorch-{args.device}", "batch": batch,
        "iterations": count, "seconds": seconds, "iterations_per_second": count / seconds,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "rss_start_bytes": rss_start, "rss_end_bytes": resident_bytes(),
        "peak_device_bytes": torch.cuda.max_memory_allocated() if cuda else None,
    }))


def matmul_peak(torch, device):
    """Best GFLOP/s of a 2048² f32 product over about 2 s."""
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    best = 0.0
    end = time.perf_counter() + 2.0
    while time.perf_counter() < end:
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(4):
            c = a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        else:
            c.sum().item()
        best = max(best, 4 * 2 * 2048 ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def device_name(torch, device):
    if device == "cuda":
        return torch.cuda.get_device_name(0)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workload", default="all")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--iterations", type=int, default=None,
                        help="time exactly N iterations instead of --seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    parser.add_argument("--no-peak", action="store_true",
                        help="skip the 2048² matrix-multiply peak (matmul_peak_gflops: null)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.device not in ("cpu", "cuda"):
        fail_usage(f"--device {args.device!r}: choose cpu or cuda")
    if args.workload != "all" and args.workload not in NAMES:
        fail_usage(f"unknown workload {args.workload!r}; choose one of: {', '.join(NAMES)}, or all")
    if args.threads < 1:
        fail_usage(f"--threads must be at least 1, got {args.threads}")
    if not args.seconds >= 0:
        fail_usage(f"--seconds must be a number >= 0, got {args.seconds}")
    if args.batch is not None and args.batch < 1:
        fail_usage(f"--batch must be at least 1, got {args.batch}")
    if args.iterations is not None and args.iterations < 1:
        fail_usage(f"--iterations must be at least 1 (or leave it out to time by --seconds), "
                   f"got {args.iterations}")
    if args.child:
        child(args)
        return

    torch = import_torch()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("pytorch_bench.py: --device cuda but PyTorch sees no CUDA device; skipping",
              file=sys.stderr)
        sys.exit(SKIPPED)
    if args.device == "cpu":
        torch.set_num_threads(args.threads)
    names = NAMES if args.workload == "all" else [args.workload]
    results = []
    print(f"{'workload':<15} {'device':<6} {'batch':>5} {'it/s':>9} {'iters':>6} {'seconds':>8} "
          f"{'peak MiB':>9}")
    for name in names:
        command = [sys.executable, os.path.abspath(__file__), "--child", "--workload", name,
                   "--device", args.device, "--threads", str(args.threads),
                   "--seconds", str(args.seconds), "--seed", str(args.seed)]
        if args.batch is not None:
            command += ["--batch", str(args.batch)]
        if args.iterations is not None:
            command += ["--iterations", str(args.iterations)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"pytorch_bench.py: {name} failed (exit {done.returncode}):\n{done.stderr}",
                  file=sys.stderr)
            sys.exit(1)
        record = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(record)
        print(f"{name:<15} {args.device:<6} {record['batch']:>5} "
              f"{record['iterations_per_second']:>9.3f} {record['iterations']:>6} "
              f"{record['seconds']:>8.2f} {record['peak_rss_bytes'] / 2**20:>9.0f}", flush=True)
    report = {
        "tool": "pytorch", "torch_version": torch.__version__, "device": args.device,
        "device_name": device_name(torch, args.device),
        "threads": args.threads if args.device == "cpu" else None,
        "seconds": args.seconds,
        "matmul_peak_gflops": None if args.no_peak else matmul_peak(torch, args.device),
        "results": results,
    }
    if report["matmul_peak_gflops"] is not None:
        print(f"matrix-multiply peak (2048², f32): {report['matmul_peak_gflops']:.1f} GFLOP/s")
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json + ".partial", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(args.json + ".partial", args.json)
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
