//! The traits that connect models, losses, data and the trainer.
//!
//! A user who embeds burngan implements [`Generator`] and [`Discriminator`] for their own Burn
//! modules (and [`InputGradient`] for a critic that gradient penalties should accept) and picks
//! an [`AdversarialLoss`]; the trainer needs nothing else.

use burn::module::Module;
use burn::tensor::{Device, Tensor};

use crate::HostRng;

/// A generator network G: latent codes in, samples out.
///
/// `D` is the rank of one batch of samples: 2 for vectors `[batch, features]`, 4 for images
/// `[batch, channels, height, width]`.
pub trait Generator<const D: usize>: Module {
    /// The size of one latent code z.
    fn latent_dim(&self) -> usize;

    /// Maps a batch of latent codes `[batch, latent_dim]` to a batch of samples.
    fn forward(&self, z: Tensor<2>) -> Tensor<D>;
}

/// A discriminator (or critic) D: samples in, one unnormalised logit per sample out.
///
/// For the probabilistic losses D(x) = sigmoid(logit); critics of Wasserstein losses use the
/// logit itself as the critic value.
pub trait Discriminator<const D: usize>: Module {
    /// Maps a batch of samples to logits of shape `[batch, 1]`.
    fn forward(&self, x: Tensor<D>) -> Tensor<2>;

    /// Named scalar diagnostics of the current weights, each of shape `[1]` and outside any
    /// autodiff graph (for example `sigma.layers.0`, the spectral norm of a layer's weight).
    /// The trainer logs them on recorded steps. None by default.
    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        Vec::new()
    }
}

/// A critic that can give the gradient of its output with respect to its input, built from
/// ordinary forward tensor operations.
///
/// Burn has first-order autodiff only, so a gradient penalty such as WGAN-GP cannot
/// differentiate `autodiff(∂D/∂x)` a second time. A critic implementing this trait writes the
/// input gradient out as the transposed chain of its layers (Linear → matmul by Wᵀ, activation →
/// mask from the forward pre-activation, …). The result is an ordinary tensor expression in the
/// critic's parameters, so a penalty on it backpropagates to those parameters exactly.
pub trait InputGradient<const D: usize>: Discriminator<D> {
    /// ∂(Σ_batch D(x))/∂x, with the same shape as `x`. Row i is ∇ₓD(xᵢ) because samples do
    /// not interact inside the critic.
    fn input_gradient(&self, x: Tensor<D>) -> Tensor<D>;

    /// The first layer (its path in the module and its kind) through which the input gradient
    /// cannot be written per sample, such as a BatchNorm that mixes the samples of a batch.
    /// `None` (the default) when [`input_gradient`](InputGradient::input_gradient) is exact;
    /// gradient penalties refuse a critic that names a layer here.
    fn unsupported_layer(&self) -> Option<String> {
        None
    }
}

/// An adversarial objective written over discriminator logits.
///
/// Both losses are minimised: the discriminator minimises [`discriminator_loss`], the
/// generator minimises [`generator_loss`].
///
/// [`discriminator_loss`]: AdversarialLoss::discriminator_loss
/// [`generator_loss`]: AdversarialLoss::generator_loss
pub trait AdversarialLoss: Send + Sync {
    /// A short stable name, as used in configs and logs (`"non-saturating"`).
    fn name(&self) -> &'static str;

    /// The discriminator's loss from real logits `[batch, 1]` and fake logits `[batch, 1]`;
    /// returns a tensor of shape `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1>;

    /// The generator's loss from real logits `[batch, 1]` and fake logits `[batch, 1]`;
    /// returns a tensor of shape `[1]`. Relativistic losses and Softmax GAN read the real
    /// logits; the others ignore them.
    fn generator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1>;

    /// Whether [`generator_loss`](AdversarialLoss::generator_loss) reads the real logits.
    /// When it does not, the trainer saves a discriminator pass and passes an empty
    /// `[0, 1]` tensor instead.
    fn generator_uses_real(&self) -> bool {
        false
    }

    /// The bound c of WGAN's weight clipping: when `Some(c)`, the trainer clamps every critic
    /// parameter to [−c, c] after each critic update.
    fn critic_weight_clip(&self) -> Option<f64> {
        None
    }
}

/// Where real samples come from: a toy distribution, a dataset, or the application's own
/// pipeline. Any randomness must be drawn from `rng` so runs stay reproducible.
pub trait SampleSource<const D: usize> {
    /// A batch of `batch` real samples on `device`.
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<D>;
}
