//! The traits that connect models, losses, data and the trainer.
//!
//! A user who embeds burngan implements [`Generator`] and [`Discriminator`] for their own Burn
//! modules (and [`InputGradient`] for a critic that gradient penalties should accept) and picks
//! an [`AdversarialLoss`]; the trainer needs nothing else.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};

use crate::HostRng;

/// A generator network G: latent codes in, samples out.
///
/// `D` is the rank of one batch of samples: 2 for vectors `[batch, features]`, 4 for images
/// `[batch, channels, height, width]`.
pub trait Generator<const D: usize>: Module {
    /// The size of one latent code z.
    fn latent_dim(&self) -> usize;

    /// Maps a batch of latent codes `[batch, latent_dim]` to a batch of samples.
    ///
    /// A class-conditional generator called without labels generates class `i mod
    /// num_classes` in row `i`.
    fn forward(&self, z: Tensor<2>) -> Tensor<D>;

    /// The number of classes of a class-conditional generator; 0 (the default) for an
    /// unconditional one. The trainer passes labels only when this is positive.
    fn num_classes(&self) -> usize {
        0
    }

    /// Samples of the requested classes: latent codes `[batch, latent_dim]` and labels
    /// `[batch]` in `0..num_classes`. An unconditional generator ignores the labels (default).
    fn forward_labeled(&self, z: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<D> {
        let _ = labels;
        self.forward(z)
    }
}

/// A discriminator (or critic) D: samples in, one unnormalised logit per sample out.
///
/// For the probabilistic losses D(x) = sigmoid(logit); critics of Wasserstein losses use the
/// logit itself as the critic value.
pub trait Discriminator<const D: usize>: Module {
    /// Maps a batch of samples to logits of shape `[batch, 1]`.
    ///
    /// A class-conditional critic called without labels gives its unconditional part only
    /// (for a projection discriminator, the logit without the class projection).
    fn forward(&self, x: Tensor<D>) -> Tensor<2>;

    /// The number of classes of a class-conditional critic; 0 (the default) for an
    /// unconditional one.
    fn num_classes(&self) -> usize {
        0
    }

    /// Logits `[batch, 1]` of samples with their labels `[batch]` in `0..num_classes`. An
    /// unconditional critic ignores the labels (default).
    fn forward_labeled(&self, x: Tensor<D>, labels: Tensor<1, Int>) -> Tensor<2> {
        let _ = labels;
        self.forward(x)
    }

    /// Named scalar diagnostics of the current weights, each of shape `[1]` and outside any
    /// autodiff graph (for example `sigma.layers.0`, the spectral norm of a layer's weight).
    /// The trainer logs them on recorded steps. None by default.
    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        Vec::new()
    }

    /// Whether one training forward over two batches stacked along the batch dimension
    /// (`[b, …]` and `[b, …]` as `[2b, …]`, in any order of whole packs of
    /// [`samples_per_logit`](Self::samples_per_logit) samples) gives the logits of the two
    /// forwards (`[2n, 1]`, one per pack, in the packs' order) and leaves the same state.
    ///
    /// True for a critic that judges each sample (or each pack of samples) by itself and
    /// changes nothing in a training forward — no BatchNorm, no minibatch standard
    /// deviation, no spectral-norm power iteration. A trainer asked to stack batches
    /// (burngan-train's `TrainerSettings::stack_batches`) then judges the real and the
    /// generated batch of an update in one forward, their packs interleaved: larger matrix
    /// products and half the element-wise kernels, the same logits up to the rounding of the
    /// larger products. `false` by default: a critic that does not say so is called once per
    /// batch.
    fn judges_stacked_batches(&self) -> bool {
        false
    }

    /// How many consecutive samples of a batch the critic judges together as one logit: a
    /// pack's size (PacGAN), so a batch `[b, …]` gives `[b / samples_per_logit, 1]` logits.
    /// 1 (the default) for a critic that judges each sample by itself. A critic that packs
    /// and [judges stacked batches](Self::judges_stacked_batches) must return its pack here:
    /// burngan-train refuses a stacked forward whose logit count disagrees with it.
    fn samples_per_logit(&self) -> usize {
        1
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
///
/// Only critics that implement this trait can be given a penalty
/// (`GanTrainer::with_penalty` requires it), so asking for a penalty on a critic without it is
/// a compile error that names this trait.
///
/// # Implementing it
///
/// Run the forward pass keeping each layer's pre-activation, then walk the layers backwards
/// starting from a gradient of ones at the output: a dense layer `x·W + b` (weight `[d_in,
/// d_out]`) maps the gradient `g` `[batch, d_out]` to `g·Wᵀ`; an elementwise activation
/// multiplies `g` by its derivative at the stored pre-activation. For a critic
/// `x → W₂ᵀ·act(x·W₁ + b₁) + b₂`:
///
/// ```text
/// pre = x·W₁ + b₁                   [batch, hidden]
/// g   = (1·W₂ᵀ) ⊙ act′(pre)          [batch, hidden]   (W₂ is [hidden, 1])
/// ∇ₓ  = g·W₁ᵀ                        [batch, d_in]
/// ```
///
/// Use the weights the forward pass uses (after spectral normalisation, if any). A layer that
/// mixes the samples of a batch (BatchNorm) has no per-sample input gradient: report it from
/// [`unsupported_layer`](InputGradient::unsupported_layer) instead.
#[diagnostic::on_unimplemented(
    message = "the critic `{Self}` does not implement `InputGradient<{D}>`, which gradient penalties need",
    label = "a penalty needs this critic's input gradient",
    note = "implement `burngan::InputGradient<{D}>` for `{Self}` (its input gradient written with forward tensor ops; see the trait's documentation), or train without a penalty"
)]
pub trait InputGradient<const D: usize>: Discriminator<D> {
    /// ∂(Σ_batch D(x))/∂x, with the same shape as `x`. Row i is ∇ₓD(xᵢ) because samples do
    /// not interact inside the critic.
    fn input_gradient(&self, x: Tensor<D>) -> Tensor<D>;

    /// ∂(Σ_batch D(x, y))/∂x for samples with labels `[batch]`, the input gradient of
    /// [`forward_labeled`](Discriminator::forward_labeled). Unconditional critics ignore the
    /// labels (default).
    fn input_gradient_labeled(&self, x: Tensor<D>, labels: Tensor<1, Int>) -> Tensor<D> {
        let _ = labels;
        self.input_gradient(x)
    }

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

/// A boxed loss (as built from a config by `LossConfig::build`) is a loss.
impl<L: AdversarialLoss + ?Sized> AdversarialLoss for Box<L> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        (**self).discriminator_loss(real, fake)
    }

    fn generator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        (**self).generator_loss(real, fake)
    }

    fn generator_uses_real(&self) -> bool {
        (**self).generator_uses_real()
    }

    fn critic_weight_clip(&self) -> Option<f64> {
        (**self).critic_weight_clip()
    }
}

/// Where real samples come from: a toy distribution, a dataset, or the application's own
/// pipeline. Any randomness must be drawn from `rng` so runs stay reproducible.
pub trait SampleSource<const D: usize> {
    /// A batch of `batch` real samples on `device`.
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<D>;

    /// A batch with its class labels `[batch]`, when the source has labels; `None` (the
    /// default) otherwise. Class-conditional training draws its real batches here.
    fn sample_labeled(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Tensor<D>, Option<Tensor<1, Int>>) {
        (self.sample(batch, rng, device), None)
    }
}
