#!/usr/bin/env python3
"""Load a burngan safetensors export into PyTorch and run it.

PyTorch twins of burngan's generators, with the attribute names the export uses
(see the burngan-export crate documentation):

- DcganGenerator: dense.{0,1}.linear (Linear), dense_norms.{0,1} (BatchNorm1d),
  ups.{i} (ConvTranspose2d k4 s2 p1), up_norms.{i} (BatchNorm2d);
  z -> (Linear -> BN -> ReLU) x 2 -> view [c0, s, s]
    -> (ConvTranspose2d -> BN -> ReLU)* -> ConvTranspose2d -> tanh.
- MlpGenerator: layers.{i} (Linear); activation between layers, output activation
  on the last one (not stored in the file: --activation, --output-activation).

The architecture (sizes) is read from the tensor shapes in the file; the model is
then built, loaded with load_state_dict(strict=True) and run in eval mode on a
latent batch given as raw little-endian float32 (shape [batch, latent_dim]).
With --reference (raw little-endian float32, the Burn output on the same batch)
it prints the largest absolute difference and exits with status 1 when it is
above --tolerance.

Usage:
  cargo run --release -p burngan-export --example export_for_torch -- DIR
  python3 scripts/torch_load_export.py DIR/dcgan.safetensors \
      --latent DIR/dcgan_latent.f32 --reference DIR/dcgan_burn.f32

Needs torch and safetensors (pip install safetensors); not numpy.
"""

import argparse
import array
import math
import sys

import torch
from torch import nn
from torch.nn import functional as F

try:
    from safetensors import safe_open
    from safetensors.torch import load_file
except ImportError:  # pragma: no cover - depends on the environment
    sys.exit("the safetensors package is missing: pip install safetensors")


ACTIVATIONS = {
    "relu": F.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "identity": lambda x: x,
}


def activation(name):
    """An activation by its burngan config name; leaky_relu:SLOPE for LeakyReLU."""
    if name.startswith("leaky_relu"):
        _, _, slope = name.partition(":")
        slope = float(slope or 0.2)
        return lambda x: F.leaky_relu(x, slope)
    try:
        return ACTIVATIONS[name]
    except KeyError:
        sys.exit(f"unknown activation {name!r}; use relu, leaky_relu:SLOPE, tanh, sigmoid or identity")


class Dense(nn.Module):
    """burngan's Dense without spectral norm: one Linear named `linear`."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.linear = nn.Linear(d_in, d_out)

    def forward(self, x):
        return self.linear(x)


class DcganGenerator(nn.Module):
    """burngan's DcganGenerator: [batch, latent] -> [batch, c, h, w] in [-1, 1]."""

    def __init__(self, latent_dim, hidden, channels, image_channels, side):
        super().__init__()
        first = channels[0] * side * side
        self.base = (channels[0], side, side)
        self.dense = nn.ModuleList([Dense(latent_dim, hidden), Dense(hidden, first)])
        # burngan's BatchNorm: epsilon 1e-5, momentum 0.1 (PyTorch's defaults).
        self.dense_norms = nn.ModuleList([nn.BatchNorm1d(hidden), nn.BatchNorm1d(first)])
        outputs = list(channels[1:]) + [image_channels]
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1)
            for c_in, c_out in zip(channels, outputs)
        )
        self.up_norms = nn.ModuleList(nn.BatchNorm2d(c) for c in outputs[:-1])

    def forward(self, z):
        x = z
        for layer, norm in zip(self.dense, self.dense_norms):
            x = F.relu(norm(layer(x)))
        x = x.view(x.shape[0], *self.base)
        last = len(self.ups) - 1
        for i, up in enumerate(self.ups):
            x = up(x)
            x = F.relu(self.up_norms[i](x)) if i < last else torch.tanh(x)
        return x

    @staticmethod
    def from_shapes(shapes):
        latent_dim = shapes["dense.0.linear.weight"][1]
        hidden = shapes["dense.0.linear.weight"][0]
        first = shapes["dense.1.linear.weight"][0]
        n_ups = sum(1 for k in shapes if k.startswith("ups.") and k.endswith(".weight"))
        channels = [shapes[f"ups.{i}.weight"][0] for i in range(n_ups)]
        image_channels = shapes[f"ups.{n_ups - 1}.weight"][1]
        side = math.isqrt(first // channels[0])
        if channels[0] * side * side != first:
            sys.exit(f"dense.1 has {first} outputs, not {channels[0]} channels of a square map")
        return DcganGenerator(latent_dim, hidden, channels, image_channels, side)


class MlpGenerator(nn.Module):
    """burngan's MlpGenerator: Linear layers named `layers.{i}`."""

    def __init__(self, sizes, hidden_activation, output_activation):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.act = hidden_activation
        self.out_act = output_activation

    def forward(self, z):
        x = z
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            x = self.act(x) if i < last else self.out_act(x)
        return x

    @staticmethod
    def from_shapes(shapes, hidden_activation, output_activation):
        n = sum(1 for k in shapes if k.startswith("layers.") and k.endswith(".weight"))
        sizes = [shapes["layers.0.weight"][1]] + [shapes[f"layers.{i}.weight"][0] for i in range(n)]
        return MlpGenerator(sizes, hidden_activation, output_activation)


def read_f32(path):
    """A 1-D float32 tensor from a raw little-endian float32 file."""
    values = array.array("f")
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % 4:
        sys.exit(f"{path}: {len(data)} bytes is not a whole number of float32 values")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return torch.tensor(values, dtype=torch.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="the .safetensors file burngan-export wrote")
    parser.add_argument("--latent", required=True, help="raw little-endian f32 latent batch")
    parser.add_argument("--reference", help="raw little-endian f32 Burn output to compare with")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed")
    parser.add_argument("--activation", default="relu", help="MLP hidden activation")
    parser.add_argument("--output-activation", default="identity", help="MLP output activation")
    parser.add_argument("--print", action="store_true", help="print the outputs")
    args = parser.parse_args()

    with safe_open(args.weights, framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != "pt":
        print(f"warning: metadata {metadata} has no format=pt", file=sys.stderr)
    state = load_file(args.weights)
    shapes = {name: list(t.shape) for name, t in state.items()}
    if "ups.0.weight" in shapes:
        model = DcganGenerator.from_shapes(shapes)
    elif "layers.0.weight" in shapes:
        model = MlpGenerator.from_shapes(
            shapes, activation(args.activation), activation(args.output_activation)
        )
    else:
        sys.exit(f"{args.weights}: neither a DcganGenerator nor an MlpGenerator export: {sorted(shapes)}")
    model.load_state_dict(state, strict=True)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{type(model).__name__}: loaded {len(state)} tensors strictly, {n_params} parameters")

    latent_dim = (
        shapes["dense.0.linear.weight"][1] if isinstance(model, DcganGenerator) else shapes["layers.0.weight"][1]
    )
    z = read_f32(args.latent)
    if z.numel() % latent_dim:
        sys.exit(f"{args.latent}: {z.numel()} values is not a whole number of {latent_dim}-vectors")
    z = z.view(-1, latent_dim)
    with torch.no_grad():
        out = model(z)
    print(f"latent {list(z.shape)} -> output {list(out.shape)}")
    if args.print:
        torch.set_printoptions(precision=6, threshold=10_000)
        print(out)
    if args.reference:
        ref = read_f32(args.reference)
        if ref.numel() != out.numel():
            sys.exit(f"{args.reference}: {ref.numel()} values, the model gave {out.numel()}")
        diff = (out.reshape(-1) - ref).abs().max().item()
        print(f"max |torch - burn| = {diff:.3e} (tolerance {args.tolerance:g})")
        if not diff <= args.tolerance:
            sys.exit(1)


if __name__ == "__main__":
    main()
