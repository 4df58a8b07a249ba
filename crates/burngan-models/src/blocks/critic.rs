//! [`BlockCritic`]: a critic composed from blocks, whose
//! [`InputGradient`](burngan_core::InputGradient) is its body's input VJP of ones, with no
//! hand-written chain.

use burn::module::Module;
use burn::tensor::Tensor;
use burngan_core::{Discriminator, InputGradient};

use super::{Block, Features, Sequential};
use crate::ModelError;

/// A critic `[batch, …] → [batch, 1]` of rank `D` (2 for vectors `[batch, n]`, 4 for images
/// `[batch, c, h, w]`) made of one [`Sequential`] body that maps a sample to one logit
/// (typically ending in [`Flatten`](super::Flatten) and a dense layer to 1).
///
/// [`InputGradient`] is derived: `input_gradient(x)` runs the body forward with the stored
/// spectral-norm state (no power-iteration step) and then its VJP of ones, so every row is
/// ∇ₓD(xᵢ) with the weights the training forward used.
///
/// # Example
///
/// ```
/// use burngan_core::{Discriminator, HostRng, InputGradient};
/// use burngan_models::{AvgPool2, BlockCritic, Conv2d, Conv2dOptions, Dense, Flatten};
/// use burngan_models::{Nonlinearity, Residual, Sequential};
/// # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
///
/// let mut rng = HostRng::seed_from(0);
/// let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
/// let main = Sequential::new(vec![
///     Nonlinearity::LeakyRelu(0.2).into(),
///     Conv2d::new(8, 8, k3.with_groups(2), &mut rng, &device).unwrap().into(),
/// ]);
/// let body = Sequential::new(vec![
///     Conv2d::new(1, 8, k3.with_stride([2, 2]), &mut rng, &device).unwrap().into(),
///     Residual::identity(main).into(),
///     AvgPool2.into(),
///     Flatten.into(),
///     Dense::new(8 * 7 * 7, 1, true, &mut rng, &device).into(), // spectral
/// ]);
/// let critic = BlockCritic::<4>::new(&[1, 28, 28], body).unwrap();
/// let x = rng.normal([5, 1, 28, 28], &device);
/// assert_eq!(critic.forward(x.clone()).dims(), [5, 1]);
/// assert_eq!(critic.input_gradient(x).dims(), [5, 1, 28, 28]); // no backward code written
/// ```
#[derive(Module, Debug)]
pub struct BlockCritic<const D: usize> {
    /// The blocks, input side first; the last gives one logit per sample.
    pub body: Sequential,
    #[module(skip)]
    input: Vec<usize>,
}

impl<const D: usize> BlockCritic<D> {
    /// A critic for samples of per-sample shape `input`: `[n]` for `D` = 2, `[c, h, w]` for
    /// `D` = 4. Errors when a block cannot take the shape it receives (naming the block, e.g.
    /// `blocks.3: main.blocks.0: …`) or when the body does not end in one value per sample.
    pub fn new(input: &[usize], body: Sequential) -> Result<Self, ModelError> {
        if !matches!(D, 2 | 4) || input.len() + 1 != D || input.contains(&0) {
            return Err(ModelError::BadShape {
                message: format!(
                    "a block critic of rank {D} takes samples of shape {} with no zero size, \
                     got {input:?}",
                    if D == 2 { "[n]" } else { "[c, h, w]" }
                ),
            });
        }
        let output = body.output_shape(input)?;
        if output != [1] {
            return Err(ModelError::BadShape {
                message: format!(
                    "a critic's body must end in one logit per sample, but gives {output:?}; \
                     end it with Flatten and a dense layer to 1"
                ),
            });
        }
        Ok(Self {
            body,
            input: input.to_vec(),
        })
    }

    /// The per-sample input shape, `[n]` or `[c, h, w]`.
    pub fn input_shape(&self) -> &[usize] {
        &self.input
    }

    /// Multiply-adds of one forward pass per sample ([`Block::multiply_adds`]).
    pub fn multiply_adds(&self) -> f64 {
        self.body.multiply_adds(&self.input)
    }

    /// The logits `[batch, 1]` of a training forward.
    fn logits(&self, x: Features) -> Tensor<2> {
        self.body.forward(x).into_flat("BlockCritic output")
    }

    /// ∂(Σ_batch D)/∂x: the body's VJP of ones after a forward without a power-iteration step.
    fn vjp_of_ones(&self, x: Features) -> Features {
        let (y, cache) = self.body.forward_cached(x, false);
        self.body.input_vjp(cache, y.ones_like())
    }

    /// σ of every spectral layer, named `sigma.body.<path>` (e.g. `sigma.body.2.main.0`).
    fn sigma_diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        let mut out = Vec::new();
        self.body.sigmas("sigma.body", &mut out);
        out
    }
}

impl Discriminator<4> for BlockCritic<4> {
    /// `[batch, c, h, w] → [batch, 1]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.logits(Features::Maps(x))
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        self.sigma_diagnostics()
    }

    fn judges_stacked_batches(&self) -> bool {
        self.body.splits_over_batches()
    }
}

impl Discriminator<2> for BlockCritic<2> {
    /// `[batch, n] → [batch, 1]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.logits(Features::Flat(x))
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        self.sigma_diagnostics()
    }

    fn judges_stacked_batches(&self) -> bool {
        self.body.splits_over_batches()
    }
}

impl InputGradient<4> for BlockCritic<4> {
    /// `[batch, c, h, w] → [batch, c, h, w]`.
    fn input_gradient(&self, x: Tensor<4>) -> Tensor<4> {
        self.vjp_of_ones(Features::Maps(x))
            .into_maps("BlockCritic input gradient")
    }

    fn unsupported_layer(&self) -> Option<String> {
        Block::unsupported_layer(&self.body).map(|l| format!("body.{l}"))
    }
}

impl InputGradient<2> for BlockCritic<2> {
    /// `[batch, n] → [batch, n]`.
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        self.vjp_of_ones(Features::Flat(x))
            .into_flat("BlockCritic input gradient")
    }

    fn unsupported_layer(&self) -> Option<String> {
        Block::unsupported_layer(&self.body).map(|l| format!("body.{l}"))
    }
}
