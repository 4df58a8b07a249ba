//! # burngan
//!
//! Generative adversarial networks on [Burn](burn) 0.22, for applications that bring their own
//! models. This crate re-exports the public API of burngan's library crates in one place: the
//! traits a generator and a critic implement, the adversarial losses and gradient penalties,
//! the [`GanTrainer`] (alternating or simultaneous updates) with its optimizers, observers and
//! checkpoints, data sources, metrics, and [`backend`] to create a Burn `Device` by name.
//!
//! The same code runs on every Burn backend compiled in (ndarray, flex and wgpu by default;
//! vulkan, metal and cuda as features): a Burn 0.22 `Device` carries its backend, so nothing
//! here has a backend type parameter. The trainer never prints, holds no global state and only
//! uses the device the application passes in.
//!
//! # Train your own modules
//!
//! A generator implements [`Generator`], a critic [`Discriminator`] (one logit per sample,
//! `[batch, 1]`). To use a gradient penalty the critic also implements [`InputGradient`]:
//! ∂(Σ D(x))/∂x written with forward tensor ops (Burn has first-order autodiff only, so the
//! penalty cannot differentiate an autodiff gradient a second time). The layer helpers in
//! [`models`] ([`Dense`](models::Dense), [`Conv`](models::Conv),
//! [`Activation`](models::Activation) with its derivative) make that a few lines:
//!
//! ```
//! use burngan::burn; // the Burn this burngan is built on; `#[derive(Module)]` needs it in scope
//! use burn::module::Module;
//! use burn::tensor::Tensor;
//! use burngan::models::{Activation, Dense};
//! use burngan::{
//!     Discriminator, GanTrainer, Generator, HostRng, InputGradient, LossConfig, PenaltyConfig,
//!     TrainerSettings,
//! };
//!
//! /// 4-d latent codes → 2-d points.
//! #[derive(Module, Debug)]
//! struct Points {
//!     hidden: Dense,
//!     out: Dense,
//! }
//!
//! impl Generator<2> for Points {
//!     fn latent_dim(&self) -> usize {
//!         4
//!     }
//!     /// `[batch, 4] → [batch, 2]`.
//!     fn forward(&self, z: Tensor<2>) -> Tensor<2> {
//!         self.out.forward(Activation::Relu.forward(self.hidden.forward(z)))
//!     }
//! }
//!
//! /// 2-d points → one logit each, x ↦ W₂ᵀ·lrelu(x·W₁ + b₁) + b₂.
//! #[derive(Module, Debug)]
//! struct Critic {
//!     hidden: Dense,
//!     out: Dense,
//! }
//!
//! const ACT: Activation = Activation::LeakyRelu(0.2);
//!
//! impl Discriminator<2> for Critic {
//!     /// `[batch, 2] → [batch, 1]`.
//!     fn forward(&self, x: Tensor<2>) -> Tensor<2> {
//!         self.out.forward(ACT.forward(self.hidden.forward(x)))
//!     }
//! }
//!
//! impl InputGradient<2> for Critic {
//!     /// The transposed chain: (1·W₂ᵀ ⊙ lrelu′(x·W₁ + b₁))·W₁ᵀ, `[batch, 2] → [batch, 2]`.
//!     fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
//!         let [batch, _] = x.dims();
//!         let (w1, w2) = (self.hidden.weight(false), self.out.weight(false)); // [2, 32], [32, 1]
//!         let pre = self.hidden.forward_with(x, w1.clone()); // [batch, 32]
//!         let g = w2.transpose().expand([batch as i64, -1]); // [batch, 32]
//!         g.mul(ACT.derivative(pre)).matmul(w1.transpose()) // [batch, 2]
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The application chooses the device (here by name; `burn::tensor::Device::flex()` works
//! // too). Modules live on its autodiff version.
//! let device = burngan::backend::device(burngan::backend::BackendKind::Flex)?.autodiff();
//!
//! // Every weight and every batch from one seeded host RNG: the same numbers on every backend.
//! let mut rng = HostRng::seed_from(7);
//! let generator = Points {
//!     hidden: Dense::new(4, 32, false, &mut rng, &device),
//!     out: Dense::new(32, 2, false, &mut rng, &device),
//! };
//! let critic = Critic {
//!     hidden: Dense::new(2, 32, false, &mut rng, &device),
//!     out: Dense::new(32, 1, false, &mut rng, &device),
//! };
//!
//! // WGAN-GP: the Wasserstein loss without clipping, λ = 10, two critic steps per G step.
//! let settings = TrainerSettings { critic_steps: 2, seed: 1, ..TrainerSettings::default() };
//! let mut trainer =
//!     GanTrainer::new(generator, critic, LossConfig::Wasserstein.build(), &settings, &device)?
//!         .with_penalty(PenaltyConfig::WganGp { weight: 10.0, one_sided: false })?;
//!
//! // The application's own loop over its own batches.
//! for _ in 0..3 {
//!     let real = rng.normal([64, 2], &device).add_scalar(3.0); // N((3, 3), I), [64, 2]
//!     let metrics = trainer.step(real)?;
//!     assert!(metrics.loss_d.is_finite() && metrics.loss_g.is_finite());
//!     assert!(metrics.penalty > 0.0); // part of loss_d
//! }
//! assert_eq!(trainer.steps_done(), 3);
//! # Ok(())
//! # }
//! ```
//!
//! [`GanTrainer::fit`] trains a whole run from a [`SampleSource`] instead, reporting to
//! [`Observer`]s and writing checkpoints ([`TrainerSettings::checkpoint`]);
//! [`GanTrainer::load_checkpoint`] resumes it. `examples/custom-models` in the repository is
//! a complete application: its own modules, data source and observer, the backend named on its
//! command line.
//!
//! # Today's recipes: schedules, several and lazy penalties, a half-life average
//!
//! Every hyperparameter a recipe ramps is a [`Scheduled`] value (a number, or a [`Schedule`]
//! with a shape and a warm-up, read at the generator step); [`GanTrainer::with_penalty`] is
//! called once per penalty, and a [`PenaltyTerm`] makes one lazy (every N-th critic update,
//! weight × N, as StyleGAN2); [`EmaRule::HalfLife`] averages by a half-life in images with
//! StyleGAN2-ADA's ramp-up. An application's own [`OptimizerRule`] plugs in with
//! [`Optimizer::new`] and [`GanTrainer::with_optimizers`].
//!
//! ```
//! use burngan::models::{MlpDiscriminatorConfig, MlpGeneratorConfig};
//! use burngan::{
//!     EmaRule, GanTrainer, HostRng, LossConfig, OptimizerConfig, PenaltyConfig, PenaltyTerm,
//!     Schedule, Shape, TrainerSettings,
//! };
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burngan::backend::device(burngan::backend::BackendKind::Flex)?.autodiff();
//! let mut rng = HostRng::seed_from(3);
//! let generator = MlpGeneratorConfig::new(2, vec![16]).init(2, &mut rng, &device)?;
//! let critic = MlpDiscriminatorConfig::new(vec![16]).init(2, &mut rng, &device)?;
//! let ramp = |from, to, shape, warmup| Schedule {
//!     from,
//!     to: Some(to),
//!     shape,
//!     warmup,
//!     steps: None,
//!     every: None,
//!     factor: None,
//! };
//! // Cosine learning rate after a 10-step warm-up; β₂ ramped from 0.9 to 0.99 (R3GAN-style).
//! let adam = OptimizerConfig::Adam {
//!     lr: ramp(2e-3, 2e-4, Shape::Cosine, 10).into(),
//!     beta1: 0.0.into(),
//!     beta2: ramp(0.9, 0.99, Shape::Linear, 0).into(),
//!     epsilon: 1e-8,
//!     clip: None,
//! };
//! let settings = TrainerSettings {
//!     steps: 40,
//!     batch_size: 32,
//!     generator_optimizer: adam.clone(),
//!     discriminator_optimizer: adam,
//!     ..TrainerSettings::default()
//! };
//! let mut trainer = GanTrainer::new(generator, critic, LossConfig::Rsgan.build(), &settings, &device)?
//!     .with_penalty(PenaltyConfig::R1 { gamma: 0.1 })?
//!     .with_penalty(PenaltyTerm::eager(PenaltyConfig::R2 { gamma: 0.1 }).lazy(4))?
//!     .with_ema_rule(EmaRule::HalfLife { images: 500.0.into(), ramp: Some(0.05) })?;
//! let mut ring = burngan::data::ToyConfig::default_ring().build()?;
//! let fit = trainer.fit(&mut ring, &mut [])?;
//! assert_eq!(fit.steps, 40);
//! // R2 runs on steps 1, 5, 9, …, 37 (critic updates 0, 4, 8, …) with γ × 4; the logged
//! // steps 10, 20, 30 and 40 are not among them, so each logs R1 alone.
//! let logged: Vec<_> = fit.metrics.iter().map(|m| (m.step, m.penalties.len())).collect();
//! assert_eq!(logged, [(10, 1), (20, 1), (30, 1), (40, 1)]);
//! assert!(fit.metrics.iter().all(|m| m.penalties.contains_key("r1")));
//! # Ok(())
//! # }
//! ```
//!
//! # A critic composed from blocks: no backward code
//!
//! [`models::BlockCritic`] wraps a [`models::Sequential`] of blocks ([`models::Dense`],
//! [`models::Conv2d`] with any kernel, stride, padding and groups, [`models::Nonlinearity`],
//! [`models::Residual`], [`models::GroupNorm`], pooling, upsampling, flatten, spectral norm)
//! ending in one logit; each block writes its own input VJP, so the critic's
//! [`InputGradient`] is derived and it trains with any penalty as it is:
//!
//! ```
//! use burngan::models::{BlockCritic, Dense, MlpGeneratorConfig, Nonlinearity, Residual, Sequential};
//! use burngan::{GanTrainer, HostRng, LossConfig, PenaltyConfig, TrainerSettings};
//! use burngan::check_input_gradient;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burngan::backend::device(burngan::backend::BackendKind::Flex)?.autodiff();
//! let mut rng = HostRng::seed_from(4);
//! let generator = MlpGeneratorConfig::new(2, vec![16]).init(2, &mut rng, &device)?;
//! // 2 → 16, a residual block (SiLU → dense 16 → 16), LeakyReLU, 16 → 1 spectrally normalised.
//! let residual = Sequential::new(vec![
//!     Nonlinearity::Silu.into(),
//!     Dense::new(16, 16, false, &mut rng, &device).into(),
//! ]);
//! let body = Sequential::new(vec![
//!     Dense::new(2, 16, false, &mut rng, &device).into(),
//!     Residual::identity(residual).into(),
//!     Nonlinearity::LeakyRelu(0.2).into(),
//!     Dense::new(16, 1, true, &mut rng, &device).into(),
//! ]);
//! let critic = BlockCritic::<2>::new(&[2], body)?;
//! check_input_gradient(&critic, rng.normal([8, 2], &device))?.ensure(1e-5)?;
//! let settings = TrainerSettings { steps: 5, log_every: 5, ..TrainerSettings::default() };
//! let mut trainer =
//!     GanTrainer::new(generator, critic, LossConfig::NonSaturating.build(), &settings, &device)?
//!         .with_penalty(PenaltyConfig::R1 { gamma: 1.0 })?;
//! let mut ring = burngan::data::ToyConfig::default_ring().build()?;
//! let fit = trainer.fit(&mut ring, &mut [])?;
//! assert!(fit.metrics[0].penalties["r1"].is_finite() && fit.metrics[0].penalties["r1"] > 0.0);
//! # Ok(())
//! # }
//! ```
//!
//! # A penalty needs `InputGradient`
//!
//! [`GanTrainer::with_penalty`] exists only for critics that implement [`InputGradient`], so
//! forgetting it is a compile error (E0277) that names the trait and says what to implement:
//!
//! ```compile_fail,E0277
//! use burngan::burn;
//! use burn::module::Module;
//! use burn::tensor::Tensor;
//! use burngan::models::Dense;
//! use burngan::{Discriminator, GanTrainer, Generator, HostRng, LossConfig, PenaltyConfig};
//!
//! #[derive(Module, Debug)]
//! struct Points { out: Dense }
//! impl Generator<2> for Points {
//!     fn latent_dim(&self) -> usize { 2 }
//!     fn forward(&self, z: Tensor<2>) -> Tensor<2> { self.out.forward(z) }
//! }
//!
//! /// A critic without `InputGradient`.
//! #[derive(Module, Debug)]
//! struct Linear { out: Dense }
//! impl Discriminator<2> for Linear {
//!     fn forward(&self, x: Tensor<2>) -> Tensor<2> { self.out.forward(x) }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burngan::backend::device(burngan::backend::BackendKind::Flex)?.autodiff();
//! let mut rng = HostRng::seed_from(0);
//! let generator = Points { out: Dense::new(2, 2, false, &mut rng, &device) };
//! let critic = Linear { out: Dense::new(2, 1, false, &mut rng, &device) };
//! let trainer = GanTrainer::new(generator, critic, LossConfig::Wasserstein.build(),
//!     &Default::default(), &device)?
//!     .with_penalty(PenaltyConfig::R1 { gamma: 10.0 })?; // error[E0277]: `Linear` does not
//!                                                        // implement `InputGradient<2>`
//! # Ok(())
//! # }
//! ```
//!
//! A critic that implements [`InputGradient`] but contains a layer that mixes the samples of a
//! batch (BatchNorm) names it in [`InputGradient::unsupported_layer`]; `with_penalty` then
//! returns a [`TrainError::Config`] naming that layer.
//!
//! # Check a hand-written `InputGradient`
//!
//! A wrong input gradient trains silently with a wrong penalty. [`check_input_gradient`]
//! compares it with autodiff on a batch; [`check_penalty_gradients`] compares, in f64, the
//! penalty's parameter gradients that training takes (autodiff through `input_gradient`) with
//! finite differences of the penalty, which also catches a weight the input gradient detaches.
//! Both report the worst element and both values there, and fit in an application's tests:
//!
//! ```
//! use burngan::models::MlpDiscriminatorConfig; // or the application's own critic
//! use burngan::{HostRng, PenaltyConfig, check_input_gradient, check_penalty_gradients};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let device = burngan::backend::device(burngan::backend::BackendKind::Flex)?.autodiff();
//! let mut rng = HostRng::seed_from(0);
//! let critic = MlpDiscriminatorConfig::new(vec![16]).init(2, &mut rng, &device)?;
//! let (real, fake) = (rng.normal([8, 2], &device), rng.normal([8, 2], &device)); // [8, 2]
//! check_input_gradient(&critic, real.clone())?.ensure(1e-5)?; // in the batch's f32
//! let r1 = PenaltyConfig::R1 { gamma: 10.0 };
//! check_penalty_gradients(&critic, &r1, real, fake, &mut rng)?.ensure(1e-6)?; // in f64
//! # Ok(())
//! # }
//! ```
//!
//! # Reproducible weights with Burn's own layers
//!
//! Burn's `LinearConfig::init` (like its other layer configs) draws the weights lazily, at
//! their first use, from the device's random number generator: `device.seed(0)` before
//! building a network does not give the same network twice in one process, nor the same
//! numbers on two backends. [`models::linear_from_host`] builds Burn's `nn::Linear` from a
//! [`HostRng`] when it is called (PyTorch's default initialisation), so one seed gives the
//! same weights every time, on every backend; burngan's own layers draw the same way.
//! `examples/custom-models/src/linear_critic.rs` is a critic over `nn::Linear` built so, with
//! its `InputGradient` and the checks above.
//!
//! # The crates behind this one
//!
//! | module | crate | job |
//! | --- | --- | --- |
//! | (root) | `burngan-core` | [`Generator`], [`Discriminator`], [`InputGradient`], [`AdversarialLoss`], [`SampleSource`], [`HostRng`] |
//! | [`train`] | `burngan-train` | [`GanTrainer`] and its one loop, [`TrainerSettings`], [`Hook`]s and [`Observer`]s, optimizers, schedules, penalty terms, the moving average, checkpoints |
//! | [`losses`] | `burngan-losses` | the adversarial losses over logits, the gradient penalties and the checks of an [`InputGradient`] |
//! | [`models`] | `burngan-models` | MLP, DCGAN and conditional networks and the layers they are built from |
//! | [`data`] | `burngan-data` | toy mixtures, MNIST IDX files, image folders, epoch sampling |
//! | [`metrics`] | `burngan-metrics` | mode coverage, Fréchet distance, KID, precision/recall and more, on host buffers |
//! | [`eval`] | `burngan-eval` | the feature network and scores for image generators |
//! | [`export`] | `burngan-export` | weights as safetensors with PyTorch's names |
//! | [`backend`] | `burngan-backend` | a Burn `Device` by backend name, with a clear error when one is missing |

pub use burn;
pub use burngan_backend as backend;
pub use burngan_core::{
    AdversarialLoss, Discriminator, Generator, HostRng, InputGradient, RngState, SampleSource,
};
pub use burngan_data as data;
pub use burngan_eval as eval;
pub use burngan_export as export;
pub use burngan_losses as losses;
pub use burngan_losses::{
    CheckError, GradientCheck, check_input_gradient, check_input_gradient_labeled,
    check_penalty_gradients, check_penalty_gradients_labeled,
};
pub use burngan_losses::{LossConfig, PenaltyConfig};
pub use burngan_metrics as metrics;
pub use burngan_models as models;
pub use burngan_train as train;
pub use burngan_train::{
    CheckpointFault, CheckpointPolicy, EmaRule, FitSummary, GanTrainer, GradientClip, Hook,
    HookDone, NonFinitePolicy, Observer, Optimizer, OptimizerConfig, OptimizerRule, ParamState,
    PenaltyTerm, RunInfo, RunSummary, Schedule, Scheduled, Shape, StepEnd, StepMetrics, TrainError,
    TrainerSettings, TrainingTime, UpdateOrder,
};

/// The names most applications import: `use burngan::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AdversarialLoss, CheckpointPolicy, Discriminator, GanTrainer, Generator, HostRng,
        InputGradient, LossConfig, Observer, OptimizerConfig, PenaltyConfig, SampleSource,
        StepMetrics, TrainerSettings,
    };
}
