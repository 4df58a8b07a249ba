#!/usr/bin/env python3
"""Write golden values of gradient penalties from PyTorch's double backward for burngan's
block critics.

burngan differentiates only to first order: a critic's input gradient is written as forward
ops (its blocks' vector-Jacobian products), and a penalty's parameter gradients are autodiff
through that chain. This script records what PyTorch's double backward
(`torch.autograd.grad(D(x).sum(), x, create_graph=True)`, then the gradient of the penalty
with respect to every parameter) gives for small versions of:

- sngan:    burngan's `ResnetDiscriminatorConfig` (SNGAN's ResNet critic) with
            `channels = [4, 4, 6, 6]`, `downsample = 2`, spectral norm on every weight under
            `spectral_convention = "pytorch"` (`torch.nn.utils.spectral_norm`), on images
            [3, 8, 8]. Its four residual blocks cover the optimised first block, a block with
            a learned shortcut that pools, one that widens without pooling, and an identity
            block.
- r3gan:    burngan's `R3ganDiscriminatorConfig` with `widths = [4, 8]`, `blocks = 1`,
            `expansion = 2`, `group_width = 4` (grouped 3x3 convolutions of 2 and 4
            groups), on images [1, 8, 8].
- composed: a critic composed from burngan's blocks (the same composition is written in
            tests/integration/golden.rs), on images [2, 9, 9]:
              conv 3x3 2->4 stride 2 padding 1 (9 -> 5, the stride does not divide 9)
              residual: main GroupNorm(2 groups) -> SiLU -> conv 3x3 4->6 padding 1 groups 2,
                        learned shortcut conv 1x1 4->6
              minibatch stddev (groups of 2) -> GELU (exact)
              -> conv 3x3 7->8 stride 2 padding 1, spectral (5 -> 3)
              -> 2x2 average pooling (3 -> 1, floor) -> flatten
              -> dense 8->4 spectral -> tanh -> dense 4->1.

Spectral norm is evaluated as burngan's input-gradient pass evaluates it: with the stored u
and v and no power-iteration step, i.e. PyTorch's evaluation mode (sigma = dot(u, W v), u and v
constants, the gradient flowing through sigma to `weight_orig`).

For each critic and for two penalties, R1 (gamma/2 * mean ||grad D(real)||^2, gamma = 10) and
WGAN-GP (lambda * mean (||grad D(x_hat)|| - 1)^2, lambda = 10, x_hat = fake + eps * (real -
fake), the norm taken as sqrt(||grad||^2 + 1e-12) as burngan's penalty.rs takes it), in float32 and in float64, the fixture holds the penalty value, the critic's logits and
input gradient at the penalty's points, and the gradient of the penalty with respect to every
parameter. Weights, spectral vectors and inputs are float32 values drawn from Python's
random.Random with fixed seeds (the float64 run uses the same values, widened), so both runs
and both sides start from identical numbers.

WGAN-GP's eps (one per sample) is what burngan's penalty draws from its host RNG:
`HostRng::seed_from(WGAN_GP_SEED).uniform_vec(batch, 0.0, 1.0)` (ChaCha8), copied below; the
Rust test checks the fixture's eps against a fresh draw bit for bit and then runs burngan's
real `PenaltyConfig::compute` with that RNG.

Parameters are listed in burngan's visiting order under burngan's module paths and layouts
(a dense weight is [d_in, d_out], the transpose of nn.Linear's); "state" entries are spectral
norm's u and v (PyTorch's weight_u and weight_v), which have no gradient.

Float64 numbers are written in Python's shortest round-trip form, float32 results in
numpy's shortest float32 form; weights and inputs as the exact double of the float32 value.
All computation is on the CPU with one thread.

Usage (needs torch and numpy; CPU is enough), from the repository root:
  python3 scripts/torch_arch_fixtures.py [--out-dir crates/burngan-models/fixtures]

It writes golden_sngan.json, golden_r3gan.json and golden_composed.json, read by
tests/integration/golden.rs.
"""

import argparse
import json
import math
import os
import random
import re

import numpy
import torch
import torch.nn.functional as F

DEFAULT_OUT_DIR = "crates/burngan-models/fixtures"
BATCH = 4
R1_GAMMA = 10.0
WGAN_GP_WEIGHT = 10.0


def f32(x):
    """x rounded to float32, as a Python float (exact)."""
    return float(numpy.float32(x))


# HostRng::seed_from(22).uniform_vec(4, 0.0, 1.0) in burngan (burngan-core's ChaCha8 host RNG),
# printed by Rust in their shortest float32 form and copied here; tests/integration/golden.rs
# checks them against a fresh draw bit for bit.
WGAN_GP_SEED = 22
WGAN_GP_EPS = [f32(e) for e in [0.7744329, 0.7219954, 0.5437648, 0.16289812]]


class Registry:
    """The parameters and spectral vectors of a critic in burngan's visiting order."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.entries = []  # (name, kind, getter of the torch tensor, to burngan layout)

    def uniform(self, shape, bound):
        count = math.prod(shape)
        values = [f32(self.rng.uniform(-bound, bound)) for _ in range(count)]
        return torch.tensor(values, dtype=torch.float64).reshape(shape)

    def singular_vectors(self, matrix):
        """u `[rows]` and v `[cols]` for spectral norm's state on `matrix` `[rows, cols]`: u
        drawn from N(0, 1), then three power-iteration steps in float64 (as a trained layer's
        state would be, so that dot(u, W v) is near the largest singular value and W/sigma
        stays of order 1), each rounded to float32."""
        u = torch.tensor([self.rng.gauss(0.0, 1.0) for _ in range(matrix.shape[0])],
                         dtype=torch.float64)
        u = u / u.norm()
        for _ in range(3):
            v = F.normalize(matrix.t() @ u, dim=0)
            u = F.normalize(matrix @ v, dim=0)
        return [torch.tensor([f32(x) for x in t.tolist()], dtype=torch.float64) for t in (u, v)]

    def add(self, name, kind, getter, to_burngan=lambda t: t):
        self.entries.append((name, kind, getter, to_burngan))


# The blocks. Each is a small object with `forward(x)` and `register(registry, path)`, where
# `path` is burngan's module path of the block (e.g. "body.blocks.0.Residual").


class Conv:
    """burngan's Conv2d block: nn.Conv2d, optionally under torch.nn.utils.spectral_norm."""

    def __init__(self, reg, c_in, c_out, k, stride=1, padding=0, groups=1, bias=True,
                 spectral=False):
        self.module = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding,
                                      groups=groups, bias=bias).double()
        bound = 1.0 / math.sqrt(c_in // groups * k * k)
        with torch.no_grad():
            self.module.weight.copy_(reg.uniform(list(self.module.weight.shape), bound))
            if bias:
                self.module.bias.copy_(reg.uniform([c_out], bound))
        self.spectral = spectral
        if spectral:
            torch.nn.utils.spectral_norm(self.module)
            with torch.no_grad():
                matrix = self.module.weight_orig.reshape(c_out, -1)
                u, v = reg.singular_vectors(matrix)
                self.module.weight_u.copy_(u)
                self.module.weight_v.copy_(v)

    def forward(self, x):
        return self.module(x)

    def register(self, reg, path):
        m = self.module
        p = f"{path}.Conv2d"
        if self.spectral:
            reg.add(f"{p}.weight", "param", lambda: m.weight_orig)
        else:
            reg.add(f"{p}.weight", "param", lambda: m.weight)
        if m.bias is not None:
            reg.add(f"{p}.bias", "param", lambda: m.bias)
        if self.spectral:
            reg.add(f"{p}.spectral.u", "state", lambda: m.weight_u)
            reg.add(f"{p}.spectral.v", "state", lambda: m.weight_v)


class Dense:
    """burngan's Dense block: nn.Linear (burngan stores its weight transposed, [d_in, d_out]),
    optionally under torch.nn.utils.spectral_norm (u has d_out entries, v d_in)."""

    def __init__(self, reg, d_in, d_out, bias=True, spectral=False):
        self.module = torch.nn.Linear(d_in, d_out, bias=bias).double()
        bound = 1.0 / math.sqrt(d_in)
        with torch.no_grad():
            self.module.weight.copy_(reg.uniform([d_in, d_out], bound).t())
            if bias:
                self.module.bias.copy_(reg.uniform([d_out], bound))
        self.spectral = spectral
        if spectral:
            torch.nn.utils.spectral_norm(self.module)
            with torch.no_grad():
                u, v = reg.singular_vectors(self.module.weight_orig)
                self.module.weight_u.copy_(u)
                self.module.weight_v.copy_(v)

    def forward(self, x):
        return self.module(x)

    def register(self, reg, path):
        m = self.module
        p = f"{path}.Dense"
        transpose = lambda t: t.t()  # noqa: E731
        if self.spectral:
            reg.add(f"{p}.linear.weight", "param", lambda: m.weight_orig, transpose)
        else:
            reg.add(f"{p}.linear.weight", "param", lambda: m.weight, transpose)
        if m.bias is not None:
            reg.add(f"{p}.linear.bias", "param", lambda: m.bias)
        if self.spectral:
            reg.add(f"{p}.spectral.u", "state", lambda: m.weight_u)
            reg.add(f"{p}.spectral.v", "state", lambda: m.weight_v)


class GroupNorm:
    """burngan's GroupNorm block: nn.GroupNorm (eps 1e-5) with gamma and beta drawn near 1
    and 0."""

    def __init__(self, reg, groups, channels):
        self.module = torch.nn.GroupNorm(groups, channels, eps=1e-5).double()
        with torch.no_grad():
            self.module.weight.copy_(1.0 + reg.uniform([channels], 0.3))
            self.module.bias.copy_(reg.uniform([channels], 0.3))

    def forward(self, x):
        return self.module(x)

    def register(self, reg, path):
        m = self.module
        reg.add(f"{path}.GroupNorm.gamma", "param", lambda: m.weight)
        reg.add(f"{path}.GroupNorm.beta", "param", lambda: m.bias)


class Fn:
    """A block without parameters."""

    def __init__(self, fn):
        self.fn = fn

    def forward(self, x):
        return self.fn(x)

    def register(self, reg, path):
        pass


def minibatch_stddev(group):
    """burngan's MinibatchStdDev (StyleGAN2's layout: sample n in group n mod (batch/group))."""

    def apply(x):
        n, c, h, w = x.shape
        g = group
        m = n // g
        y = x.reshape(g, m, c, h, w)
        y = y - y.mean(dim=0, keepdim=True)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()  # [m, c, h, w]
        y = y.mean(dim=(1, 2, 3))  # [m]
        y = y.reshape(1, m, 1, 1, 1).expand(g, m, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, y], dim=1)

    return Fn(apply)


RELU = Fn(F.relu)
LEAKY = Fn(lambda x: F.leaky_relu(x, 0.2))
SILU = Fn(F.silu)
GELU = Fn(lambda x: F.gelu(x, approximate="none"))
TANH = Fn(torch.tanh)
POOL = Fn(lambda x: F.avg_pool2d(x, 2))  # floor: an odd last row or column is dropped
SUM_POOL = Fn(lambda x: x.sum(dim=(2, 3)))
FLATTEN = Fn(lambda x: x.reshape(x.shape[0], -1))

# burngan's Layer variant of each block kind, which its module path names.
VARIANT = {Conv: "Conv2d", Dense: "Dense", GroupNorm: "GroupNorm"}


class Seq:
    """burngan's Sequential: blocks in order, path `<path>.blocks.<i>`."""

    def __init__(self, blocks):
        self.blocks = blocks

    def forward(self, x):
        for block in self.blocks:
            x = block.forward(x)
        return x

    def register(self, reg, path):
        for i, block in enumerate(self.blocks):
            block.register(reg, f"{path}.blocks.{i}")


class Residual:
    """burngan's Residual: main(x) + shortcut(x) (identity when shortcut is None)."""

    def __init__(self, main, shortcut=None):
        self.main = Seq(main)
        self.shortcut = Seq(shortcut) if shortcut is not None else None

    def forward(self, x):
        skip = x if self.shortcut is None else self.shortcut.forward(x)
        return self.main.forward(x) + skip

    def register(self, reg, path):
        self.main.register(reg, f"{path}.Residual.main")
        if self.shortcut is not None:
            self.shortcut.register(reg, f"{path}.Residual.shortcut")


def sngan(reg):
    """ResnetDiscriminatorConfig { channels: [4, 4, 6, 6], downsample: 2, spectral_norm: true,
    spectral_convention: "pytorch" } on [3, 8, 8] (resnet.rs: first_block, critic_block)."""

    def conv(c_in, c_out, k):
        return Conv(reg, c_in, c_out, k, padding=k // 2, spectral=True)

    body = Seq([
        # The optimised first block, pooling: main conv-relu-conv-pool, shortcut pool-conv1.
        Residual([conv(3, 4, 3), RELU, conv(4, 4, 3), POOL], [POOL, conv(3, 4, 1)]),
        # Same width, pooling: shortcut conv1-pool.
        Residual([RELU, conv(4, 4, 3), RELU, conv(4, 4, 3), POOL], [conv(4, 4, 1), POOL]),
        # Wider, no pooling: shortcut conv1.
        Residual([RELU, conv(4, 6, 3), RELU, conv(6, 6, 3)], [conv(4, 6, 1)]),
        # Same width, no pooling: identity shortcut.
        Residual([RELU, conv(6, 6, 3), RELU, conv(6, 6, 3)]),
        RELU,
        SUM_POOL,
        Dense(reg, 6, 1, spectral=True),
    ])
    return body, [3, 8, 8]


def r3gan(reg):
    """R3ganDiscriminatorConfig { widths: [4, 8], blocks: 1, expansion: 2, group_width: 4 }
    on [1, 8, 8] (r3gan.rs: Stack::block, pointwise, the depthwise head)."""

    def block(c):
        wide = 2 * c
        return Residual([
            Conv(reg, c, wide, 1),
            LEAKY,
            Conv(reg, wide, wide, 3, padding=1, groups=wide // 4),
            LEAKY,
            Conv(reg, wide, c, 1, bias=False),
        ])

    body = Seq([
        Conv(reg, 1, 4, 1, bias=False),
        block(4),
        POOL,
        Conv(reg, 4, 8, 1, bias=False),
        block(8),
        Conv(reg, 8, 8, 4, groups=8, bias=False),  # depthwise over the whole 4x4 map
        FLATTEN,
        Dense(reg, 8, 1, bias=False),
    ])
    return body, [1, 8, 8]


def composed(reg):
    """The composed block critic of tests/integration/golden.rs on [2, 9, 9]."""
    body = Seq([
        Conv(reg, 2, 4, 3, stride=2, padding=1),
        Residual(
            [GroupNorm(reg, 2, 4), SILU, Conv(reg, 4, 6, 3, padding=1, groups=2)],
            [Conv(reg, 4, 6, 1)],
        ),
        minibatch_stddev(2),
        GELU,
        Conv(reg, 7, 8, 3, stride=2, padding=1, spectral=True),
        POOL,
        FLATTEN,
        Dense(reg, 8, 4, spectral=True),
        TANH,
        Dense(reg, 4, 1),
    ])
    return body, [2, 9, 9]


CRITICS = {"sngan": (sngan, 11), "r3gan": (r3gan, 12), "composed": (composed, 13)}


def build(name, dtype):
    """The critic `name` in `dtype`, evaluation mode, with its registry and input shape."""
    make, seed = CRITICS[name]
    reg = Registry(seed)
    body, image = make(reg)
    body.register(reg, "body")
    shape = [BATCH] + image
    real = reg.uniform(shape, 1.0)
    fake = reg.uniform(shape, 1.0)
    modules = []

    def collect(block):
        if isinstance(block, Seq):
            for b in block.blocks:
                collect(b)
        elif isinstance(block, Residual):
            collect(block.main)
            if block.shortcut is not None:
                collect(block.shortcut)
        elif hasattr(block, "module"):
            modules.append(block.module)

    collect(body)
    for module in modules:
        module.to(dtype)
        module.eval()
    return body, reg, real.to(dtype), fake.to(dtype), image


def penalty_run(body, reg, real, fake, kind):
    """The penalty `kind` by double backward: its value, the logits and input gradient at
    its points, and its gradient with respect to every parameter (None -> zeros)."""
    if kind == "r1":
        x = real.clone()
    else:
        eps = torch.tensor(WGAN_GP_EPS, dtype=real.dtype).reshape(-1, 1, 1, 1)
        x = fake + eps * (real - fake)
    x.requires_grad_(True)
    logits = body.forward(x)
    (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    squared = g.reshape(g.shape[0], -1).square().sum(dim=1)
    if kind == "r1":
        penalty = R1_GAMMA / 2.0 * squared.mean()
    else:
        # burngan's penalty.rs takes ||g|| as sqrt(||g||^2 + 1e-12) (differentiable at a zero
        # gradient); the same here, so that float64 compares the architectures, not that
        # constant (without it the two differ by 1e-12 / (2 ||g||^2) relative: 6e-10 for the
        # r3gan fixture's input gradients of norm 0.03).
        penalty = WGAN_GP_WEIGHT * ((squared + 1e-12).sqrt() - 1.0).square().mean()
    params = [getter() for _, k, getter, _ in reg.entries if k == "param"]
    grads = torch.autograd.grad(penalty, params, allow_unused=True)
    gradients = {}
    found = [(n, t) for n, k, _, t in reg.entries if k == "param"]
    for (name, to_burngan), param, grad in zip(found, params, grads):
        grad = torch.zeros_like(param) if grad is None else grad
        gradients[name] = to_burngan(grad.detach())
    return {
        "value": penalty.detach().reshape(1),
        "logits": logits.detach(),
        "input_gradient": g.detach(),
        "gradients": gradients,
    }


class Raw:
    """JSON text kept as written (a tensor on one line) inside an indented document."""

    def __init__(self, text):
        self.text = text


def tensor(t, precision):
    """{"shape": [...], "values": [...]} of a tensor, row-major, on one line: "exact" writes the
    double of each value (weights and inputs, float32 values), "float64" the shortest
    round-trip double, "float32" numpy's shortest float32 form."""
    t = t.detach().contiguous()
    values = t.reshape(-1).tolist()
    if precision == "float32":
        text = [str(numpy.float32(v)) for v in values]
    else:
        text = [repr(float(v)) for v in values]
    for v in text:
        assert re.fullmatch(r"-?\d+(\.\d+)?(e[-+]?\d+)?", v), f"not a JSON number: {v}"
    shape = json.dumps(list(t.shape))
    return Raw(f'{{"shape": {shape}, "values": [{", ".join(text)}]}}')


def render(document):
    """json.dumps with indent 1 and sorted keys, Raw values inlined."""
    raws = []

    def placeholder(value):
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"@@{len(raws) - 1}@@"
        if isinstance(value, dict):
            return {k: placeholder(v) for k, v in value.items()}
        if isinstance(value, list):
            return [placeholder(v) for v in value]
        return value

    text = json.dumps(placeholder(document), indent=1, sort_keys=True)
    return re.sub(r'"@@(\d+)@@"', lambda m: raws[int(m.group(1))], text) + "\n"


def fixture(name):
    """The fixture document of critic `name`."""
    _, reg, real, fake, image = build(name, torch.float64)
    parameters = [
        {"name": n, "kind": k, "value": tensor(t(g().detach()), "exact")}
        for n, k, g, t in reg.entries
    ]
    results = {}
    for dtype, precision in [(torch.float32, "float32"), (torch.float64, "float64")]:
        body, reg, real_d, fake_d, _ = build(name, dtype)
        results[precision] = {}
        for kind in ["r1", "wgan_gp"]:
            run = penalty_run(body, reg, real_d, fake_d, kind)
            results[precision][kind] = {
                "value": tensor(run["value"], precision),
                "logits": tensor(run["logits"], precision),
                "input_gradient": tensor(run["input_gradient"], precision),
                "gradients": [
                    {"name": n, "value": tensor(g, precision)}
                    for n, g in run["gradients"].items()
                ],
            }
    return {
        "made_by": "scripts/torch_arch_fixtures.py",
        "torch_version": torch.__version__.split("+")[0],
        "critic": name,
        "description": (CRITICS[name][0].__doc__ or "").strip(),
        "image": image,
        "batch": BATCH,
        "penalties": {
            "r1": {"gamma": R1_GAMMA},
            "wgan_gp": {"weight": WGAN_GP_WEIGHT, "seed": WGAN_GP_SEED,
                        "eps": tensor(torch.tensor(WGAN_GP_EPS, dtype=torch.float64), "exact")},
        },
        "parameters": parameters,
        "real": tensor(real, "exact"),
        "fake": tensor(fake, "exact"),
        "results": results,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out-dir", default=DEFAULT_OUT_DIR, help="where to write the files")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in CRITICS:
        path = os.path.join(args.out_dir, f"golden_{name}.json")
        text = render(fixture(name))
        with open(path, "w", encoding="utf-8") as file:
            file.write(text)
        print(f"wrote {path} ({len(text) // 1024} KiB)")


if __name__ == "__main__":
    main()
