//! The blocks without weights: element-wise nonlinearities ([`Nonlinear`], with its
//! [`Nonlinearity`]), 2×2 average pooling ([`AvgPool2`]), nearest upsampling by 2
//! ([`UpsampleNearest2`]), bilinear upsampling by 2 ([`UpsampleBilinear2`]) and the reshapes between vectors and feature maps ([`Flatten`],
//! [`Unflatten`]). Each VJP is written with forward ops.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::ops::PadMode;
use serde::{Deserialize, Serialize};

use super::{Block, Cache, CacheKind, Features, wrong_cache};
use crate::{Activation, ModelError};

/// An element-wise nonlinearity with its derivative. In TOML: `"relu"`, `"tanh"`, `"sigmoid"`,
/// `"silu"`, `"gelu"` or `{ leaky_relu = 0.2 }`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nonlinearity {
    /// max(x, 0); derivative 0 at 0 (PyTorch's convention).
    Relu,
    /// x for x > 0, slope·x otherwise (the slope in [0, 1)); derivative the slope at 0.
    LeakyRelu(f64),
    /// tanh(x).
    Tanh,
    /// σ(x) = 1 / (1 + e^{−x}).
    Sigmoid,
    /// SiLU (swish) x·σ(x); derivative σ(x)·(1 + x·(1 − σ(x))).
    Silu,
    /// The exact GELU x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)) (PyTorch's default
    /// `approximate='none'`, not the tanh approximation); derivative Φ(x) + x·φ(x) with
    /// φ(x) = e^{−x²/2}/√(2π).
    Gelu,
}

impl Nonlinearity {
    /// The equivalent [`Activation`] of the hand-written critics, for the four they share.
    fn as_activation(self) -> Option<Activation> {
        match self {
            Nonlinearity::Relu => Some(Activation::Relu),
            Nonlinearity::LeakyRelu(slope) => Some(Activation::LeakyRelu(slope)),
            Nonlinearity::Tanh => Some(Activation::Tanh),
            Nonlinearity::Sigmoid => Some(Activation::Sigmoid),
            Nonlinearity::Silu | Nonlinearity::Gelu => None,
        }
    }

    /// Checks the parameter: a leaky slope must be finite and in [0, 1).
    pub fn validate(&self, field: &str) -> Result<(), ModelError> {
        match self.as_activation() {
            Some(activation) => activation.validate(field),
            None => Ok(()),
        }
    }

    /// Φ(x) = ½(1 + erf(x/√2)), any shape.
    fn normal_cdf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
        x.mul_scalar(std::f64::consts::FRAC_1_SQRT_2)
            .erf()
            .add_scalar(1.0)
            .mul_scalar(0.5)
    }

    /// Applies the nonlinearity; any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match (self.as_activation(), self) {
            (Some(activation), _) => activation.forward(x),
            (None, Nonlinearity::Silu) => x.clone().mul(crate::activation::sigmoid(x)),
            (None, _) => x.clone().mul(Self::normal_cdf(x)),
        }
    }

    /// The derivative at `x`, element-wise, same shape and dtype as `x`.
    pub fn derivative<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match (self.as_activation(), self) {
            (Some(activation), _) => activation.derivative(x),
            (None, Nonlinearity::Silu) => {
                let s = crate::activation::sigmoid(x.clone());
                let one_minus = s.clone().neg().add_scalar(1.0);
                s.mul(x.mul(one_minus).add_scalar(1.0))
            }
            (None, _) => {
                // φ(x) = exp(−x²/2)/√(2π).
                let inv_sqrt_2pi =
                    0.5 * std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2;
                let density = x
                    .clone()
                    .powi_scalar(2)
                    .mul_scalar(-0.5)
                    .exp()
                    .mul_scalar(inv_sqrt_2pi);
                Self::normal_cdf(x.clone()).add(x.mul(density))
            }
        }
    }
}

/// An element-wise nonlinearity block, any shape to the same shape; its VJP is g ⊙ f′(x) at
/// the cached input.
#[derive(Module, Debug)]
pub struct Nonlinear {
    #[module(skip)]
    kind: Nonlinearity,
}

impl Nonlinear {
    /// The block applying `kind`.
    pub fn new(kind: Nonlinearity) -> Self {
        Self { kind }
    }

    /// The nonlinearity it applies.
    pub fn kind(&self) -> Nonlinearity {
        self.kind
    }
}

impl Block for Nonlinear {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let y = match x.clone() {
            Features::Flat(x) => Features::Flat(self.kind.forward(x)),
            Features::Maps(x) => Features::Maps(self.kind.forward(x)),
        };
        (y, Cache(CacheKind::Input(x)))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Input(x) = cache.0 else {
            wrong_cache("Nonlinear")
        };
        match (x, grad) {
            (Features::Flat(x), Features::Flat(g)) => {
                Features::Flat(g.mul(self.kind.derivative(x)))
            }
            (Features::Maps(x), Features::Maps(g)) => {
                Features::Maps(g.mul(self.kind.derivative(x)))
            }
            _ => panic!("Nonlinear: the gradient's rank differs from the input's"),
        }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        self.kind.validate("nonlinearity")?;
        Ok(input.to_vec())
    }
}

/// A per-sample shape that must be feature maps `[c, h, w]`.
fn maps_shape(block: &str, input: &[usize]) -> Result<[usize; 3], ModelError> {
    match *input {
        [c, h, w] => Ok([c, h, w]),
        _ => Err(ModelError::BadShape {
            message: format!(
                "{block} takes feature maps [c, h, w], got a per-sample shape {input:?}"
            ),
        }),
    }
}

/// Each 2×2 block of `x` `[b, c, h, w]` repeated: `[b, c, 2h, 2w]`.
fn repeat2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c, h, 1, w, 1])
        .expand([b, c, h, 2, w, 2])
        .reshape([b, c, 2 * h, 2 * w])
}

/// The sum over each 2×2 block of `x` `[b, c, 2h, 2w]`: `[b, c, h, w]`.
fn sum2(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h2, w2] = x.dims();
    let (h, w) = (h2 / 2, w2 / 2);
    x.reshape([b, c, h, 2, w, 2])
        .sum_dim(5)
        .sum_dim(3)
        .reshape([b, c, h, w])
}

/// 2×2 average pooling with stride 2, `[batch, c, h, w] → [batch, c, ⌊h/2⌋, ⌊w/2⌋]` (an odd
/// last row or column is dropped, as PyTorch's `avg_pool2d(x, 2)`). Its VJP spreads each
/// gradient value over its 2×2 block times ¼, zeros in a dropped row or column.
#[derive(Module, Debug)]
pub struct AvgPool2;

impl Block for AvgPool2 {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("AvgPool2");
        let dims = x.dims();
        let [b, c, h, w] = dims;
        let even = x.slice([0..b, 0..c, 0..h / 2 * 2, 0..w / 2 * 2]);
        let y = sum2(even).mul_scalar(0.25);
        (Features::Maps(y), Cache(CacheKind::Dims(dims.to_vec())))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Dims(dims) = cache.0 else {
            wrong_cache("AvgPool2")
        };
        let g = repeat2(grad.into_maps("AvgPool2")).mul_scalar(0.25);
        let [_, _, h2, w2] = g.dims();
        let (h, w) = (dims[2], dims[3]);
        let g = if (h, w) == (h2, w2) {
            g
        } else {
            g.pad([(0, h - h2), (0, w - w2)], PadMode::Constant(0.0))
        };
        Features::Maps(g)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c, h, w] = maps_shape("2×2 average pooling", input)?;
        if h < 2 || w < 2 {
            return Err(ModelError::BadShape {
                message: format!("2×2 average pooling needs maps of at least 2×2, got {h}×{w}"),
            });
        }
        Ok(vec![c, h / 2, w / 2])
    }
}

/// Nearest-neighbour upsampling by 2, `[batch, c, h, w] → [batch, c, 2h, 2w]`; its VJP sums
/// the gradient over each 2×2 block.
#[derive(Module, Debug)]
pub struct UpsampleNearest2;

impl Block for UpsampleNearest2 {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let y = repeat2(x.into_maps("UpsampleNearest2"));
        (Features::Maps(y), Cache(CacheKind::Dims(Vec::new())))
    }

    fn input_vjp(&self, _cache: Cache, grad: Features) -> Features {
        Features::Maps(sum2(grad.into_maps("UpsampleNearest2")))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c, h, w] = maps_shape("nearest upsampling", input)?;
        Ok(vec![c, 2 * h, 2 * w])
    }
}

/// Bilinear upsampling by 2 along the last axis (PyTorch's `align_corners=False`):
/// `[b, c, h, n] → [b, c, h, 2n]`, out[2i] = ¾x[i] + ¼x[i − 1], out[2i + 1] = ¾x[i] + ¼x[i + 1],
/// with the edge value repeated outside.
fn bilinear_last_axis(x: Tensor<4>) -> Tensor<4> {
    let [b, c, h, n] = x.dims();
    let padded = x.pad([(1, 1)], PadMode::Edge);
    let at = |start: usize| padded.clone().slice([0..b, 0..c, 0..h, start..start + n]);
    let centre = at(1).mul_scalar(0.75);
    let even = centre.clone().add(at(0).mul_scalar(0.25));
    let odd = centre.add(at(2).mul_scalar(0.25));
    Tensor::stack::<5>(vec![even, odd], 4).reshape([b, c, h, 2 * n])
}

/// The transpose of [`bilinear_last_axis`]: `[b, c, h, 2n] → [b, c, h, n]`.
fn bilinear_last_axis_vjp(g: Tensor<4>) -> Tensor<4> {
    let [b, c, h, n2] = g.dims();
    let n = n2 / 2;
    let g = g.reshape([b, c, h, n, 2]);
    let part = |k: usize| {
        g.clone()
            .slice([0..b, 0..c, 0..h, 0..n, k..k + 1])
            .reshape([b, c, h, n])
    };
    let (even, odd) = (part(0), part(1));
    let zero = PadMode::Constant(0.0);
    // The gradient of the edge-padded input, n + 2 values.
    let padded = even
        .clone()
        .add(odd.clone())
        .mul_scalar(0.75)
        .pad([(1, 1)], zero)
        .add(even.mul_scalar(0.25).pad([(0, 2)], zero))
        .add(odd.mul_scalar(0.25).pad([(2, 0)], zero));
    let at = |range: std::ops::Range<usize>| padded.clone().slice([0..b, 0..c, 0..h, range]);
    // The repeated edges flow back into the first and last values.
    at(1..n + 1)
        .add(at(0..1).pad([(0, n - 1)], zero))
        .add(at(n + 1..n + 2).pad([(n - 1, 0)], zero))
}

/// Bilinear upsampling by 2, `[batch, c, h, w] → [batch, c, 2h, 2w]`, as PyTorch's
/// `interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)`: each output pixel
/// mixes the nearest input pixel (¾ per axis) with its neighbour on the output's side (¼),
/// the edges repeated. Its VJP applies the transposed weights.
#[derive(Module, Debug)]
pub struct UpsampleBilinear2;

impl Block for UpsampleBilinear2 {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = bilinear_last_axis(x.into_maps("UpsampleBilinear2"));
        let y = bilinear_last_axis(x.swap_dims(2, 3)).swap_dims(2, 3);
        (Features::Maps(y), Cache(CacheKind::Dims(Vec::new())))
    }

    fn input_vjp(&self, _cache: Cache, grad: Features) -> Features {
        let g = bilinear_last_axis_vjp(grad.into_maps("UpsampleBilinear2"));
        Features::Maps(bilinear_last_axis_vjp(g.swap_dims(2, 3)).swap_dims(2, 3))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c, h, w] = maps_shape("bilinear upsampling", input)?;
        Ok(vec![c, 2 * h, 2 * w])
    }
}

/// `[batch, c, h, w] → [batch, c·h·w]` (row-major, as PyTorch's `flatten(1)`); its VJP
/// reshapes back.
#[derive(Module, Debug)]
pub struct Flatten;

impl Block for Flatten {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("Flatten");
        let dims = x.dims();
        let [b, c, h, w] = dims;
        (
            Features::Flat(x.reshape([b, c * h * w])),
            Cache(CacheKind::Dims(dims.to_vec())),
        )
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Dims(dims) = cache.0 else {
            wrong_cache("Flatten")
        };
        let [b, c, h, w] = [dims[0], dims[1], dims[2], dims[3]];
        Features::Maps(grad.into_flat("Flatten").reshape([b, c, h, w]))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c, h, w] = maps_shape("Flatten", input)?;
        Ok(vec![c * h * w])
    }
}

/// `[batch, c·h·w] → [batch, c, h, w]` for a fixed `[c, h, w]` (a generator's first feature
/// map); its VJP flattens back.
#[derive(Module, Debug)]
pub struct Unflatten {
    #[module(skip)]
    shape: [usize; 3],
}

impl Unflatten {
    /// Reshapes vectors of c·h·w values to maps `[c, h, w]`.
    pub fn new(shape: [usize; 3]) -> Self {
        Self { shape }
    }
}

impl Block for Unflatten {
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let x = x.into_flat("Unflatten");
        let [b, _] = x.dims();
        let [c, h, w] = self.shape;
        (
            Features::Maps(x.reshape([b, c, h, w])),
            Cache(CacheKind::Dims(Vec::new())),
        )
    }

    fn input_vjp(&self, _cache: Cache, grad: Features) -> Features {
        let g = grad.into_maps("Unflatten");
        let [b, c, h, w] = g.dims();
        Features::Flat(g.reshape([b, c * h * w]))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c, h, w] = self.shape;
        match input {
            [n] if *n == c * h * w => Ok(self.shape.to_vec()),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "Unflatten to {c}×{h}×{w} takes vectors of {} values, got a per-sample \
                     shape {input:?}",
                    c * h * w
                ),
            }),
        }
    }
}
