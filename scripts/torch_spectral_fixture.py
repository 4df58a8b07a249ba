#!/usr/bin/env python3
"""Write golden values of torch.nn.utils.spectral_norm for burngan's PyTorch convention.

burngan-models' `SpectralConvention::Pytorch` claims to compute what
`torch.nn.utils.spectral_norm` computes (defaults: n_power_iterations=1, eps=1e-12,
dim=0, or dim=1 for transposed convolutions). This script records what PyTorch does
on four small layers, the kinds burngan's blocks spectrally normalise:

- linear:    nn.Linear(6, 4)                         (weight [4, 6], PyTorch layout)
- conv2d:    nn.Conv2d(2, 3, 3, stride=2, padding=1) (weight [3, 2, 3, 3], input 5x5)
- embedding: nn.Embedding(4, 5)                      (the projection critic's table)
- conv_transpose2d: nn.ConvTranspose2d(2, 3, (4, 3), stride=2, padding=1,
                    output_padding=(1, 0))           (weight [2, 3, 4, 3], input 3x4;
                                                      viewed as [3, 2*4*3], dim=1)

Each layer gets fixed weights and fixed initial u and v (written over the random
ones spectral_norm draws), then runs PASSES training-mode forward passes. After
each pass the fixture holds the weight the pass started from (weight_orig), the
updated buffers u and v, sigma = dot(u, W v) (the value the hook divides by),
the normalised weight W / sigma, the output on a fixed input, and the gradients
of the loss sum(output * loss_weights) with respect to weight_orig, the bias and
the input. Between passes the weight takes one SGD step (learning rate
LEARNING_RATE) along that gradient, so the power iteration follows a moving
weight, as in training. A final evaluation-mode forward (no iteration; sigma from
the stored u and v) is recorded under "eval".

All inputs come from Python's random.Random with fixed seeds (not from torch's
generator) and all computation is float32 on the CPU with one thread, so the
file is the same on every run with the same PyTorch. Numbers are written with
Python's repr of the float32 values, which reads back exactly.

Usage (needs torch; CPU is enough):
  python3 scripts/torch_spectral_fixture.py \
      [--out crates/burngan-models/fixtures/spectral_norm_pytorch.json]

The Rust test `spectral::pytorch_tests` in burngan-models reads the file.
"""

import argparse
import json
import random

import torch

PASSES = 3
LEARNING_RATE = 0.1
DEFAULT_OUT = "crates/burngan-models/fixtures/spectral_norm_pytorch.json"


def uniform(rng, shape, scale):
    """A float32 tensor of `shape` with entries from U(-scale, scale) drawn on `rng`."""
    count = 1
    for size in shape:
        count *= size
    values = [rng.uniform(-scale, scale) for _ in range(count)]
    return torch.tensor(values, dtype=torch.float32).reshape(shape)


def unit(rng, size):
    """A float32 unit vector of `size` entries (uniform draws, then normalised)."""
    x = uniform(rng, [size], 1.0)
    return x / x.norm()


def dump(tensor):
    """{"shape": [...], "values": [...]} of a tensor, row-major, as exact floats."""
    t = tensor.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "values": [float(x) for x in t.reshape(-1).tolist()]}


def sigma_of(module):
    """dot(u, W v) with the module's current buffers and weight_orig viewed as a matrix
    [shape[dim], rest] (dim=0; dim=1 for a transposed convolution, spectral_norm's
    default there), the expression the spectral_norm hook divides by."""
    w = module.weight_orig.detach()
    if isinstance(module, torch.nn.ConvTranspose2d):
        w = w.transpose(0, 1)
    matrix = w.reshape(w.shape[0], -1)
    return torch.dot(module.weight_u, torch.mv(matrix, module.weight_v))


def one_pass(module, inputs, loss_weights):
    """One training-mode forward and backward; returns the record of the pass."""
    weight_before = module.weight_orig.detach().clone()
    x = inputs.clone().requires_grad_(inputs.is_floating_point())
    module.zero_grad()
    out = module(x)
    sigma = sigma_of(module)
    assert torch.equal(module.weight, weight_before / sigma), "sigma is not the hook's"
    (out * loss_weights).sum().backward()
    record = {
        "weight_orig": dump(weight_before),
        "sigma": float(sigma),
        "u": dump(module.weight_u),
        "v": dump(module.weight_v),
        "weight": dump(module.weight),
        "output": dump(out),
        "grad_weight_orig": dump(module.weight_orig.grad),
    }
    if getattr(module, "bias", None) is not None:
        record["grad_bias"] = dump(module.bias.grad)
    if x.is_floating_point():
        record["grad_input"] = dump(x.grad)
    with torch.no_grad():
        module.weight_orig -= LEARNING_RATE * module.weight_orig.grad
    return record


def run(module, seed, inputs_of, output_shape):
    """Fixes the weights and vectors of `module`, wraps it with spectral_norm and records
    PASSES training passes and one evaluation pass."""
    rng = random.Random(seed)
    with torch.no_grad():
        module.weight.copy_(uniform(rng, list(module.weight.shape), 0.8))
        if getattr(module, "bias", None) is not None:
            module.bias.copy_(uniform(rng, list(module.bias.shape), 0.5))
    bias = dump(module.bias) if getattr(module, "bias", None) is not None else None
    torch.nn.utils.spectral_norm(module)
    rows, cols = module.weight_u.shape[0], module.weight_v.shape[0]
    with torch.no_grad():
        module.weight_u.copy_(unit(rng, rows))
        module.weight_v.copy_(unit(rng, cols))
    case = {"u0": dump(module.weight_u), "v0": dump(module.weight_v)}
    if bias is not None:
        case["bias"] = bias
    inputs = inputs_of(rng)
    loss_weights = uniform(rng, output_shape, 1.0)
    case["input"] = dump(inputs)
    case["loss_weights"] = dump(loss_weights)
    module.train()
    case["passes"] = [one_pass(module, inputs, loss_weights) for _ in range(PASSES)]
    module.eval()
    with torch.no_grad():
        out = module(inputs)
        case["eval"] = {
            "weight_orig": dump(module.weight_orig),
            "sigma": float(sigma_of(module)),
            "weight": dump(module.weight),
            "output": dump(out),
        }
    return case


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="the JSON file to write")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cases = {
        "linear": run(
            torch.nn.Linear(6, 4),
            seed=1,
            inputs_of=lambda rng: uniform(rng, [3, 6], 1.0),
            output_shape=[3, 4],
        ),
        "conv2d": run(
            torch.nn.Conv2d(2, 3, 3, stride=2, padding=1),
            seed=2,
            inputs_of=lambda rng: uniform(rng, [2, 2, 5, 5], 1.0),
            output_shape=[2, 3, 3, 3],
        ),
        "embedding": run(
            torch.nn.Embedding(4, 5),
            seed=3,
            inputs_of=lambda rng: torch.tensor([2, 0, 3, 2], dtype=torch.int64),
            output_shape=[4, 5],
        ),
        "conv_transpose2d": run(
            torch.nn.ConvTranspose2d(2, 3, (4, 3), stride=2, padding=1, output_padding=(1, 0)),
            seed=4,
            inputs_of=lambda rng: uniform(rng, [2, 2, 3, 4], 1.0),
            output_shape=[2, 3, 7, 7],
        ),
    }
    fixture = {
        "made_by": "scripts/torch_spectral_fixture.py",
        "torch_version": torch.__version__.split("+")[0],
        "spectral_norm": {
            "n_power_iterations": 1,
            "eps": 1e-12,
            "dim": "0; 1 for conv_transpose2d",
        },
        "passes": PASSES,
        "learning_rate": LEARNING_RATE,
        "layers": {
            "linear": "Linear(6, 4)",
            "conv2d": "Conv2d(2, 3, kernel_size=3, stride=2, padding=1)",
            "embedding": "Embedding(4, 5)",
            "conv_transpose2d": "ConvTranspose2d(2, 3, kernel_size=(4, 3), stride=2, "
            "padding=1, output_padding=(1, 0))",
        },
        "cases": cases,
    }
    with open(args.out, "w", encoding="utf-8") as file:
        json.dump(fixture, file, indent=1, sort_keys=True)
        file.write("\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
