//! Building blocks whose input gradients compose: each block runs its forward pass keeping what
//! its backward needs (a [`Cache`]) and writes its vector–Jacobian product with respect to its
//! input ([`Block::input_vjp`]) as ordinary forward tensor ops, so autodiff can differentiate
//! that product with respect to the weights (what gradient penalties need, see
//! [`InputGradient`](burngan_core::InputGradient)).
//!
//! A [`Sequential`] runs its blocks in order and their VJPs in reverse; a [`Residual`] adds a
//! main path and an identity or learned shortcut; a [`BlockCritic`] wraps a sequential body
//! ending in one logit and implements [`Discriminator`](burngan_core::Discriminator) and
//! [`InputGradient`](burngan_core::InputGradient) with no hand-written chain.
//!
//! # Values between blocks
//!
//! Blocks pass [`Features`]: a batch of vectors `[batch, n]` or of feature maps `[batch, c, h,
//! w]`. One container can hold convolutions, a [`Flatten`] and dense layers; the per-sample
//! shapes (`[n]` or `[c, h, w]`) are checked when a [`BlockCritic`] is built
//! ([`Block::output_shape`]), so a forward pass meets no rank it does not expect.
//!
//! # Exact weights
//!
//! A weighted block caches the weight its forward used (W/σ(W) under spectral norm) and its VJP
//! multiplies by that tensor, so the power iteration runs at most once per pass: a training
//! forward ([`Block::forward`], or [`Block::forward_cached`] with `iterate = true`) advances it
//! once where the weights are tracked by autodiff; an input-gradient pass (`iterate = false`)
//! uses the stored state, as burngan's hand-written critics do.
//!
//! # Per-sample only
//!
//! Every block but two acts on each sample separately, so the VJP of ones is row by row
//! ∇ₓD(xᵢ). The critic's normalisation is per sample ([`GroupNorm`], LayerNorm).
//! [`MinibatchStdDev`] is cross-sample by design; its VJP is the exact ∂(ΣD)/∂x of the whole
//! batch, cross terms included (what PyTorch's double backward penalises in StyleGAN2).
//! [`BatchNorm`] exists for generators: it names itself in [`Block::unsupported_layer`], so
//! that a [`BlockCritic`] containing it reports it to gradient penalties as
//! [`unsupported_layer`](burngan_core::InputGradient::unsupported_layer) and they refuse it.
//!
//! # The blocks
//!
//! | block | shapes (per sample) | input VJP |
//! |---|---|---|
//! | [`Dense`](crate::Dense) (spectral optional) | `[d_in] → [d_out]` | g·Wᵀ |
//! | [`Conv2d`] (any kernel, stride, padding, groups; spectral optional) | `[c, h, w] → [c′, h′, w′]` | transposed convolution, output padding (h + 2p − k) mod s |
//! | [`ConvTranspose2d`] (spectral optional) | `[c, h, w] → [c′, h′, w′]` | convolution with the same kernel |
//! | [`Nonlinear`] ([`Nonlinearity`]: ReLU, LeakyReLU, tanh, sigmoid, SiLU, exact GELU) | any | g ⊙ f′(x) |
//! | [`GroupNorm`] (LayerNorm with one group) | `[c, h, w]` or `[c]` | (ĝ − mean ĝ − x̂·mean(ĝx̂))/s |
//! | [`AvgPool2`] | `[c, h, w] → [c, ⌊h/2⌋, ⌊w/2⌋]` | ¼ spread over each 2×2 block |
//! | [`UpsampleNearest2`], [`UpsampleBilinear2`] | `[c, h, w] → [c, 2h, 2w]` | transposed weights |
//! | [`Flatten`], [`Unflatten`] | `[c, h, w] ↔ [c·h·w]` | reshape back |
//! | [`GlobalSumPool`] | `[c, h, w] → [c]` | g spread over the h·w positions |
//! | [`Basis`] (R3GAN's generative basis) | `[d] → [c, h, w]` | (Σ_ij g ⊙ basis)·Wᵀ |
//! | [`BatchNorm`] (generators only) | `[c, h, w]` or `[c]` | none: refused by penalties |
//! | [`MinibatchStdDev`] (cross-sample) | `[c, h, w] → [c + 1, h, w]` | g[:c] + Gₘ(x − x̄)/(G·c·h·w·s) |
//! | [`Residual`] (identity or learned shortcut) | main path's | sum of both paths' VJPs |
//! | [`Sequential`] | last block's | the blocks' VJPs in reverse |

mod basis;
mod conv;
mod critic;
mod elementwise;
mod generator;
mod minibatch;
mod normalization;
mod sequential;
#[cfg(test)]
mod tests;

use burn::module::Module;
use burn::tensor::Tensor;

use crate::layers::is_training;
use crate::{Dense, ModelError};

pub use basis::{Basis, BatchNorm, GlobalSumPool};
pub use conv::{Conv2d, Conv2dOptions, ConvTranspose2d};
pub use critic::BlockCritic;
pub use elementwise::{
    AvgPool2, Flatten, Nonlinear, Nonlinearity, Unflatten, UpsampleBilinear2, UpsampleNearest2,
};
pub use generator::BlockGenerator;
pub use minibatch::MinibatchStdDev;
pub use normalization::GroupNorm;
pub use sequential::{Residual, Sequential};

/// A batch flowing between blocks: vectors `[batch, n]` or feature maps `[batch, c, h, w]`.
#[derive(Debug, Clone)]
pub enum Features {
    /// `[batch, n]`.
    Flat(Tensor<2>),
    /// `[batch, c, h, w]`.
    Maps(Tensor<4>),
}

impl Features {
    /// The vectors `[batch, n]`. Panics, naming `block`, on feature maps (a composition
    /// [`BlockCritic::new`] would have refused).
    pub fn into_flat(self, block: &str) -> Tensor<2> {
        match self {
            Features::Flat(x) => x,
            Features::Maps(x) => panic!(
                "{block} takes vectors [batch, n] but got feature maps of shape {:?}; put a \
                 Flatten block before it",
                x.dims()
            ),
        }
    }

    /// The feature maps `[batch, c, h, w]`. Panics, naming `block`, on vectors.
    pub fn into_maps(self, block: &str) -> Tensor<4> {
        match self {
            Features::Maps(x) => x,
            Features::Flat(x) => panic!(
                "{block} takes feature maps [batch, c, h, w] but got vectors of shape {:?}; put \
                 an Unflatten block before it",
                x.dims()
            ),
        }
    }

    /// The full shape, batch first.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Features::Flat(x) => x.dims().to_vec(),
            Features::Maps(x) => x.dims().to_vec(),
        }
    }

    /// Ones of the same shape, dtype and device (the cotangent of Σ over every value).
    pub fn ones_like(&self) -> Self {
        match self {
            Features::Flat(x) => Features::Flat(x.ones_like()),
            Features::Maps(x) => Features::Maps(x.ones_like()),
        }
    }
}

/// The element-wise sum of two batches of one shape (panics for different ranks).
impl std::ops::Add for Features {
    type Output = Features;

    fn add(self, other: Self) -> Self {
        match (self, other) {
            (Features::Flat(a), Features::Flat(b)) => Features::Flat(a.add(b)),
            (Features::Maps(a), Features::Maps(b)) => Features::Maps(a.add(b)),
            (a, b) => panic!(
                "cannot add features of shapes {:?} and {:?}",
                a.dims(),
                b.dims()
            ),
        }
    }
}

impl From<Tensor<2>> for Features {
    fn from(x: Tensor<2>) -> Self {
        Features::Flat(x)
    }
}

impl From<Tensor<4>> for Features {
    fn from(x: Tensor<4>) -> Self {
        Features::Maps(x)
    }
}

/// What a block's forward pass keeps for its input VJP (the weight it used, a pre-activation,
/// an input shape, the caches of nested blocks). Opaque: made by
/// [`Block::forward_cached`] and consumed by [`Block::input_vjp`] of the same block.
#[derive(Debug, Clone)]
pub struct Cache(pub(crate) CacheKind);

#[derive(Debug, Clone)]
pub(crate) enum CacheKind {
    /// A dense layer's weight `[d_in, d_out]` as used by the forward.
    Weight(Tensor<2>),
    /// A convolution's kernel as used by the forward, and the input's spatial size.
    Conv {
        kernel: Tensor<4>,
        input_hw: [usize; 2],
    },
    /// An element-wise block's input.
    Input(Features),
    /// A group norm's normalised values `[b, groups, m]`, √(var + ε) `[b, groups, 1]` and γ.
    Norm(Box<normalization::NormCache>),
    /// The input's full shape, batch first.
    Dims(Vec<usize>),
    /// The caches of a sequence of blocks, in forward order.
    Sequence(Vec<Cache>),
    /// A minibatch standard deviation's centred values and deviations.
    MinibatchStd(Box<minibatch::StdCache>),
    /// The main path's and (for a learned shortcut) the shortcut's caches.
    Residual(Box<Cache>, Option<Box<Cache>>),
}

/// A building block of a critic (or generator) with an input gradient that composes.
///
/// `x` is `[batch, …]` ([`Features`]); the per-sample shapes are `[n]` or `[c, h, w]`.
pub trait Block {
    /// The forward pass, keeping what [`input_vjp`](Block::input_vjp) needs.
    ///
    /// `iterate`: whether this is a training forward, in which spectral norm advances its
    /// power iteration by one step where the weights are tracked by autodiff; `false` uses the
    /// stored state (an input-gradient pass, evaluation).
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache);

    /// The vector–Jacobian product with respect to the input: given `grad` = ∂L/∂y (the
    /// output's shape), ∂L/∂x (the input's shape), written as forward ops with the cached
    /// weights so autodiff can differentiate it with respect to them.
    fn input_vjp(&self, cache: Cache, grad: Features) -> Features;

    /// The per-sample output shape for a per-sample input shape (`[n]` or `[c, h, w]`), or why
    /// the block cannot take that input.
    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError>;

    /// Multiply-adds of one forward pass of one sample of per-sample shape `input` (matrix
    /// products and convolutions only: element-wise work, normalisation and pooling count 0),
    /// the model-FLOP convention of the benchmarks. 0 for a shape the block cannot take.
    fn multiply_adds(&self, input: &[usize]) -> f64 {
        let _ = input;
        0.0
    }

    /// A training forward: [`forward_cached`](Block::forward_cached) with `iterate = true`,
    /// without the cache.
    fn forward(&self, x: Features) -> Features {
        self.forward_cached(x, true).0
    }

    /// σ (detached, `[1]`) of every spectrally normalised weight, named `prefix` plus the
    /// block's path.
    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        let _ = (prefix, out);
    }

    /// The path and kind of the first block that mixes the samples of a batch, through which
    /// the input gradient is not per sample; `None` for every block of this module.
    fn unsupported_layer(&self) -> Option<String> {
        None
    }

    /// Whether a training forward of two batches stacked along the batch dimension gives the
    /// two forwards' outputs and leaves the same state: false for a block that mixes the
    /// samples of a batch (BatchNorm, the minibatch standard deviation) or advances state in
    /// a training forward (spectral norm's power iteration); containers ask their blocks.
    /// True by default.
    fn splits_over_batches(&self) -> bool {
        true
    }
}

/// Panics for a cache made by another block's forward (a programming error of the caller).
fn wrong_cache(block: &str) -> ! {
    panic!("{block}: input_vjp was given a cache made by another block's forward_cached")
}

impl Block for Dense {
    /// `[batch, d_in] → [batch, d_out]`, caching the weight used (W or W/σ).
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        let x = x.into_flat("Dense");
        let w = self.weight(iterate && is_training(&self.linear.weight.val()));
        let y = self.forward_with(x, w.clone());
        (Features::Flat(y), Cache(CacheKind::Weight(w)))
    }

    /// g `[batch, d_out]` → g·Wᵀ `[batch, d_in]`.
    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Weight(w) = cache.0 else {
            wrong_cache("Dense")
        };
        Features::Flat(grad.into_flat("Dense").matmul(w.transpose()))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [d_in, d_out] = self.linear.weight.dims();
        match input {
            [n] if *n == d_in => Ok(vec![d_out]),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a dense layer {d_in} → {d_out} takes vectors of {d_in} values, got a \
                     per-sample shape {input:?}"
                ),
            }),
        }
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        if let Some(sigma) = self.sigma() {
            out.push((prefix.to_string(), sigma));
        }
    }

    /// True without spectral norm.
    fn splits_over_batches(&self) -> bool {
        self.spectral.is_none()
    }

    /// d_in · d_out.
    fn multiply_adds(&self, _input: &[usize]) -> f64 {
        let [d_in, d_out] = self.linear.weight.dims();
        (d_in * d_out) as f64
    }
}

/// One block of a [`Sequential`]: a Burn module enum (records, optimizers and checkpoints see
/// the parameters of whichever variant it is).
#[derive(Module, Debug)]
pub enum Layer {
    /// A fully connected layer `[batch, d_in] → [batch, d_out]`, optionally spectral.
    Dense(Dense),
    /// A 2-D convolution with any kernel, stride, padding and groups, optionally spectral.
    Conv2d(Conv2d),
    /// A transposed 2-D convolution (learned upsampling).
    ConvTranspose2d(ConvTranspose2d),
    /// GroupNorm / LayerNorm, per sample.
    GroupNorm(GroupNorm),
    /// An element-wise nonlinearity.
    Nonlinear(Nonlinear),
    /// 2×2 average pooling with stride 2.
    AvgPool2(AvgPool2),
    /// Nearest-neighbour upsampling by 2.
    UpsampleNearest2(UpsampleNearest2),
    /// Bilinear upsampling by 2 (`align_corners=False`).
    UpsampleBilinear2(UpsampleBilinear2),
    /// `[batch, c, h, w] → [batch, c·h·w]`.
    Flatten(Flatten),
    /// `[batch, c·h·w] → [batch, c, h, w]`.
    Unflatten(Unflatten),
    /// main(x) + shortcut(x).
    Residual(Residual),
    /// Nested blocks in order.
    Sequential(Sequential),
    /// Σ over the spatial positions, `[batch, c, h, w] → [batch, c]`.
    GlobalSumPool(GlobalSumPool),
    /// R3GAN's generative basis, `[batch, d] → [batch, c, h, w]`.
    Basis(Basis),
    /// Batch normalisation (generators only: it has no per-sample input gradient).
    BatchNorm(BatchNorm),
    /// StyleGAN's minibatch standard deviation, `[c, h, w] → [c + 1, h, w]`.
    MinibatchStdDev(MinibatchStdDev),
}

macro_rules! layer_dispatch {
    ($self:expr, $block:ident => $body:expr) => {
        match $self {
            Layer::Dense($block) => $body,
            Layer::Conv2d($block) => $body,
            Layer::ConvTranspose2d($block) => $body,
            Layer::GroupNorm($block) => $body,
            Layer::Nonlinear($block) => $body,
            Layer::AvgPool2($block) => $body,
            Layer::UpsampleNearest2($block) => $body,
            Layer::UpsampleBilinear2($block) => $body,
            Layer::Flatten($block) => $body,
            Layer::Unflatten($block) => $body,
            Layer::Residual($block) => $body,
            Layer::Sequential($block) => $body,
            Layer::GlobalSumPool($block) => $body,
            Layer::Basis($block) => $body,
            Layer::BatchNorm($block) => $body,
            Layer::MinibatchStdDev($block) => $body,
        }
    };
}

impl Block for Layer {
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        layer_dispatch!(self, b => b.forward_cached(x, iterate))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        layer_dispatch!(self, b => b.input_vjp(cache, grad))
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        layer_dispatch!(self, b => b.output_shape(input))
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        layer_dispatch!(self, b => b.sigmas(prefix, out))
    }

    fn unsupported_layer(&self) -> Option<String> {
        layer_dispatch!(self, b => b.unsupported_layer())
    }

    fn splits_over_batches(&self) -> bool {
        layer_dispatch!(self, b => b.splits_over_batches())
    }

    fn multiply_adds(&self, input: &[usize]) -> f64 {
        layer_dispatch!(self, b => b.multiply_adds(input))
    }
}

macro_rules! layer_from {
    ($($variant:ident),*) => {
        $(impl From<$variant> for Layer {
            fn from(block: $variant) -> Self {
                Layer::$variant(block)
            }
        })*
    };
}

layer_from!(
    Dense,
    Conv2d,
    ConvTranspose2d,
    GroupNorm,
    Nonlinear,
    AvgPool2,
    UpsampleNearest2,
    UpsampleBilinear2,
    Flatten,
    Unflatten,
    Residual,
    Sequential,
    GlobalSumPool,
    Basis,
    BatchNorm,
    MinibatchStdDev
);

impl From<Nonlinearity> for Layer {
    fn from(kind: Nonlinearity) -> Self {
        Layer::Nonlinear(Nonlinear::new(kind))
    }
}
