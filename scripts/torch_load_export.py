#!/usr/bin/env python3
"""Load a burngan safetensors export into PyTorch and run it.

PyTorch twins of burngan's generators and critics, with the attribute names the
export uses (see the burngan-export crate documentation):

- DcganGenerator: dense.{0,1}.linear (Linear), dense_norms.{0,1} (BatchNorm1d),
  ups.{i} (ConvTranspose2d k4 s2 p1), up_norms.{i} (BatchNorm2d);
  z -> (Linear -> BN -> ReLU) x 2 -> view [c0, s, s]
    -> (ConvTranspose2d -> BN -> ReLU)* -> ConvTranspose2d -> tanh.
- MlpGenerator: layers.{i} (Linear); activation between layers, output activation
  on the last one (not stored in the file: --activation, --output-activation).
- DcganDiscriminator: convs.{i} (Conv2d k4 s2 p1), hidden.linear, output.linear
  (Linear); x -> (Conv2d -> act)* -> flatten -> Linear -> act -> Linear -> logit.
- MlpDiscriminator: layers.{i}.linear (Linear), norms.{i} (BatchNorm1d, only
  with normalization = "batch"); (Linear [-> BN] -> act)* -> Linear -> logit.
  The critics' activation is --activation (default leaky_relu:0.2).

A layer whose file holds weight_orig, weight_u and weight_v instead of weight
is wrapped in torch.nn.utils.spectral_norm (n_power_iterations=1, eps=1e-12):
an nn.Linear at P.linear, an nn.Conv2d at P.

The architecture (sizes) is read from the tensor shapes in the file; the model is
then built, loaded with load_state_dict(strict=True) and run in eval mode on an
input batch given as raw little-endian float32 (--input, or --latent for a
generator: [batch, latent_dim] or [batch, c, h, w]). With --reference (raw
little-endian float32, the Burn output on the same batch) it prints the largest
absolute difference and exits with status 1 when it is above --tolerance. With
--train-reference it then runs one training-mode forward on the same batch
(spectral norm takes one power-iteration step per layer, as in Burn's next
training forward) and compares it the same way.

Usage:
  cargo run --release -p burngan-export --example export_for_torch -- DIR
  python3 scripts/torch_load_export.py DIR/dcgan.safetensors \
      --latent DIR/dcgan_latent.f32 --reference DIR/dcgan_burn.f32
  python3 scripts/torch_load_export.py DIR/dcgan_critic_sn.safetensors \
      --input DIR/dcgan_critic_sn_input.f32 --reference DIR/dcgan_critic_sn_burn.f32 \
      --train-reference DIR/dcgan_critic_sn_burn_train.f32

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


def weight_key(shapes, prefix):
    """The weight of the layer at prefix in the file and whether it is spectrally normalised."""
    if f"{prefix}.weight_orig" in shapes:
        return f"{prefix}.weight_orig", True
    return f"{prefix}.weight", False


def maybe_spectral(module, spectral):
    """module wrapped in torch.nn.utils.spectral_norm (PyTorch's defaults) when spectral."""
    return nn.utils.spectral_norm(module) if spectral else module


class Dense(nn.Module):
    """burngan's Dense: one Linear named `linear`, optionally spectrally normalised."""

    def __init__(self, d_in, d_out, spectral=False):
        super().__init__()
        self.linear = maybe_spectral(nn.Linear(d_in, d_out), spectral)

    def forward(self, x):
        return self.linear(x)

    @staticmethod
    def from_shapes(shapes, prefix):
        key, spectral = weight_key(shapes, f"{prefix}.linear")
        d_out, d_in = shapes[key]
        return Dense(d_in, d_out, spectral)


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

    def input_shape(self):
        return (self.dense[0].linear.in_features,)

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

    def input_shape(self):
        return (self.layers[0].in_features,)

    @staticmethod
    def from_shapes(shapes, hidden_activation, output_activation):
        n = sum(1 for k in shapes if k.startswith("layers.") and k.endswith(".weight"))
        sizes = [shapes["layers.0.weight"][1]] + [shapes[f"layers.{i}.weight"][0] for i in range(n)]
        return MlpGenerator(sizes, hidden_activation, output_activation)


class DcganDiscriminator(nn.Module):
    """burngan's DcganDiscriminator: [batch, c, h, w] -> [batch, 1] logits."""

    def __init__(self, convs, hidden, output, act, image):
        super().__init__()
        self.convs = nn.ModuleList(convs)
        self.hidden = hidden
        self.output = output
        self.act = act
        self.image = image

    def forward(self, x):
        for conv in self.convs:
            x = self.act(conv(x))
        x = self.act(self.hidden(x.flatten(1)))
        return self.output(x)

    def input_shape(self):
        return self.image

    @staticmethod
    def from_shapes(shapes, act):
        n = sum(1 for k in shapes if k.startswith("convs.") and k.endswith(".bias"))
        convs = []
        for i in range(n):
            key, spectral = weight_key(shapes, f"convs.{i}")
            c_out, c_in, k, _ = shapes[key]
            convs.append(maybe_spectral(nn.Conv2d(c_in, c_out, k, stride=2, padding=1), spectral))
        hidden = Dense.from_shapes(shapes, "hidden")
        output = Dense.from_shapes(shapes, "output")
        c_last = convs[-1].out_channels
        flat = hidden.linear.in_features
        side = math.isqrt(flat // c_last)
        if c_last * side * side != flat:
            sys.exit(f"hidden has {flat} inputs, not {c_last} channels of a square map")
        image = (convs[0].in_channels, side << n, side << n)
        return DcganDiscriminator(convs, hidden, output, act, image)


class MlpDiscriminator(nn.Module):
    """burngan's MlpDiscriminator: Dense layers `layers.{i}`, BatchNorm1d `norms.{i}`."""

    def __init__(self, layers, norms, act):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norms = nn.ModuleList(norms)
        self.act = act

    def forward(self, x):
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers[:last]):
            x = layer(x)
            if i < len(self.norms):
                x = self.norms[i](x)
            x = self.act(x)
        return self.layers[last](x)

    def input_shape(self):
        return (self.layers[0].linear.in_features,)

    @staticmethod
    def from_shapes(shapes, act):
        n = sum(1 for k in shapes if k.startswith("layers.") and k.endswith(".linear.bias"))
        layers = [Dense.from_shapes(shapes, f"layers.{i}") for i in range(n)]
        n_norms = sum(1 for k in shapes if k.startswith("norms.") and k.endswith(".running_mean"))
        norms = [nn.BatchNorm1d(shapes[f"norms.{i}.running_mean"][0]) for i in range(n_norms)]
        return MlpDiscriminator(layers, norms, act)


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


def build(shapes, args):
    """The twin of the exported module, chosen by the names in the file."""
    critic_act = activation(args.activation or "leaky_relu:0.2")
    if "ups.0.weight" in shapes:
        return DcganGenerator.from_shapes(shapes)
    if "convs.0.bias" in shapes:
        return DcganDiscriminator.from_shapes(shapes, critic_act)
    if "layers.0.linear.bias" in shapes:
        return MlpDiscriminator.from_shapes(shapes, critic_act)
    if "layers.0.weight" in shapes:
        return MlpGenerator.from_shapes(
            shapes, activation(args.activation or "relu"), activation(args.output_activation)
        )
    sys.exit(
        f"{args.weights}: not a DcganGenerator, MlpGenerator, DcganDiscriminator or "
        f"MlpDiscriminator export: {sorted(shapes)}"
    )


def compare(out, path, tolerance, what):
    """Prints max |out - Burn's output in path|; False when it is above tolerance."""
    ref = read_f32(path)
    if ref.numel() != out.numel():
        sys.exit(f"{path}: {ref.numel()} values, the model gave {out.numel()}")
    diff = (out.reshape(-1) - ref).abs().max().item()
    print(f"{what}: max |torch - burn| = {diff:.3e} (tolerance {tolerance:g})")
    return diff <= tolerance


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("weights", help="the .safetensors file burngan-export wrote")
    parser.add_argument(
        "--input", "--latent", dest="input", required=True,
        help="raw little-endian f32 input batch (latent codes for a generator)",
    )
    parser.add_argument("--reference", help="raw little-endian f32 Burn output to compare with")
    parser.add_argument(
        "--train-reference",
        help="raw little-endian f32 output of Burn's next training forward on the same batch",
    )
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max abs difference allowed")
    parser.add_argument(
        "--activation", help="hidden activation (default relu for the MLP generator, "
        "leaky_relu:0.2 for the critics)",
    )
    parser.add_argument("--output-activation", default="identity", help="MLP generator output activation")
    parser.add_argument("--print", action="store_true", help="print the outputs")
    args = parser.parse_args()

    with safe_open(args.weights, framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != "pt":
        print(f"warning: metadata {metadata} has no format=pt", file=sys.stderr)
    state = load_file(args.weights)
    shapes = {name: list(t.shape) for name, t in state.items()}
    model = build(shapes, args)
    model.load_state_dict(state, strict=True)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    n_spectral = sum(1 for k in state if k.endswith(".weight_orig"))
    print(
        f"{type(model).__name__}: loaded {len(state)} tensors strictly, {n_params} parameters, "
        f"{n_spectral} spectral_norm layers"
    )

    shape = model.input_shape()
    x = read_f32(args.input)
    if x.numel() % math.prod(shape):
        sys.exit(f"{args.input}: {x.numel()} values is not a whole number of {list(shape)} samples")
    x = x.view(-1, *shape)
    with torch.no_grad():
        out = model(x)
    print(f"input {list(x.shape)} -> output {list(out.shape)}")
    if args.print:
        torch.set_printoptions(precision=6, threshold=10_000)
        print(out)
    ok = True
    if args.reference:
        ok = compare(out, args.reference, args.tolerance, "eval") and ok
    if args.train_reference:
        model.train()
        with torch.no_grad():
            out = model(x)
        ok = compare(out, args.train_reference, args.tolerance, "train (one power-iteration step)") and ok
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
