//! The GAN trainer: K discriminator updates, then one generator update, each with the other
//! network frozen — alternating, or simultaneous (both gradients at one point, K = 1); driven
//! one step at a time by the application ([`GanTrainer::step`]
//! on its own batches) or for a whole run ([`GanTrainer::fit`] with observers and
//! checkpoints).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::activation::sigmoid;
use burn::tensor::kind::Basic;
use burn::tensor::{Device, Int, Tensor, TensorData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burngan_core::{
    AdversarialLoss, Discriminator, Generator, HostRng, InputGradient, SampleSource,
};
use burngan_losses::value_estimate;
use serde::{Deserialize, Serialize};

use crate::EmaRule;
use crate::augment::{Augment, Augmented, UpdateDraws};
use crate::checkpoint::{
    files, find_checkpoint, load_module, load_optimizer, module_bytes, read_checkpoint_state,
};
use crate::ema::ema_update;
use crate::hooks::{Checkpoints, Hook, StepEnd};
use crate::observer::{Observer, RunInfo, RunSummary, notify_non_finite, stop_non_finite};
use crate::penalties::log_names;
use crate::{
    CHECKPOINT_FORMAT, CheckpointState, Optimizer, OptimizerConfig, PenaltyTerm, TrainError,
    TrainerIdentity, TrainingTime, gradient_norm, write_checkpoint,
};

/// What one training step measured.
///
/// `d_real`, `d_fake` and `value` read the critic's output as a logit, D(·) = sigmoid(logit):
/// that is the model of the minimax, non-saturating and relativistic losses. For losses on a
/// raw critic value (WGAN, hinge, LSGAN, Softmax GAN) they are still defined but not
/// probabilities of anything; `logit_real` and `logit_fake`, the mean raw outputs, are the
/// quantities to read there (their difference is the critic's Wasserstein estimate under WGAN).
///
/// In JSON (`metrics.jsonl`) a NaN or infinite value is written as `null` and read back as NaN.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    /// The generator update this step ends with, counted from 1.
    pub step: usize,
    /// Discriminator loss of the step's last discriminator update (before that update),
    /// gradient penalty included.
    #[serde(deserialize_with = "nan_if_null")]
    pub loss_d: f64,
    /// Generator loss of the step's generator update (before that update).
    #[serde(deserialize_with = "nan_if_null")]
    pub loss_g: f64,
    /// Mean D(x) over the real batch of the last discriminator update.
    #[serde(deserialize_with = "nan_if_null")]
    pub d_real: f64,
    /// Mean D(G(z)) over the fake batch of the last discriminator update.
    #[serde(deserialize_with = "nan_if_null")]
    pub d_fake: f64,
    /// The batch estimate of V(D, G) = E[log D(x)] + E[log(1 − D(G(z)))].
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    /// Euclidean norm of the generator's parameter gradient.
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_norm_g: f64,
    /// Euclidean norm of the discriminator's parameter gradient (last update).
    #[serde(deserialize_with = "nan_if_null")]
    pub grad_norm_d: f64,
    /// Mean raw critic output on the real batch of the last discriminator update.
    #[serde(deserialize_with = "nan_if_null")]
    pub logit_real: f64,
    /// Mean raw critic output on the fake batch of the last discriminator update.
    #[serde(deserialize_with = "nan_if_null")]
    pub logit_fake: f64,
    /// The gradient penalties' part of `loss_d` (0 without a penalty).
    #[serde(deserialize_with = "nan_if_null")]
    pub penalty: f64,
    /// Each penalty that was applied in the last discriminator update, by name (`r1`, `r2`,
    /// `wgan-gp`; `r1#2` for a second R1), weight and laziness factor included; a lazy
    /// penalty is absent on the updates it skips. Empty without a penalty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub penalties: BTreeMap<String, f64>,
    /// The critic's [diagnostics](Discriminator::diagnostics) after the step, by name (e.g.
    /// `sigma.layers.0` under spectral norm); empty for most critics.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub diagnostics: BTreeMap<String, f64>,
    /// The periodic evaluation of the sampling generator at this step (`[eval]`), by metric
    /// name: `fd`, `classifier_score`, `class_kl`, `classes_covered`, `precision`, `recall`,
    /// `density`, `coverage` for image runs; `modes_covered`, `high_quality_fraction`,
    /// `mode_kl` for toy runs. Only finite values are kept (`mode_kl` is left out when no
    /// sample is of high quality); the map is empty when a metric rejected the step's images
    /// (the run goes on). `None` on steps that were not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<BTreeMap<String, f64>>,
    /// How many of this step's updates (`critic_steps` discriminator updates and one
    /// generator update) were skipped because their loss or gradient was NaN or infinite
    /// ([`NonFinitePolicy::Skip`]); always 0 under [`NonFinitePolicy::Stop`]. Left out of
    /// JSON when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub skipped_updates: usize,
    /// The augmentation probability p after the step, when the trainer augments
    /// ([`GanTrainer::with_augment`]); left out of JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment_p: Option<f64>,
    /// The generator's learning rate in this step's update (its schedule's value at the step,
    /// [`Optimizer::learning_rate`]); `None` only in lines written before it was logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_g: Option<f64>,
    /// The discriminator's learning rate in this step's updates, as `lr_g`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_d: Option<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What a trainer does when an update's loss or gradient norm is NaN or infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonFinitePolicy {
    /// Stop with [`TrainError::NonFinite`] at the first measured step with a non-finite loss,
    /// probability or gradient norm (the default). Steps are only checked when measured
    /// (logged or checkpointed), so training costs no extra device reads.
    #[default]
    Stop,
    /// Check every update before it is applied and skip one whose loss or gradient norm is
    /// not finite: the weights, optimizer state and moving average stay as they were, the
    /// step's batches are still drawn (so the RNG stays in step with an unskipped run), and
    /// the step is measured and reported ([`StepMetrics::skipped_updates`]) whether or not it
    /// is due for logging. After [`MAX_SKIPPED_STEPS`] such steps in a row the run stops with
    /// [`TrainError::TooManySkipped`]. Costs one read from the device per update.
    Skip,
}

/// Which parameters a step's generator update sees: those the discriminator update left, or
/// those it started from. In TOML (`train.updates`): `"alternating"` or `"simultaneous"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOrder {
    /// K discriminator updates, then a generator update against the updated discriminator on
    /// fresh noise (Goodfellow et al. 2014, Algorithm 1; the default).
    #[default]
    Alternating,
    /// Simultaneous gradient descent: the generator's gradient is taken against the
    /// discriminator as it was before the step's discriminator update, on that update's noise
    /// (and real batch and labels), so both gradients are those of one point (θ_D, θ_G) — as
    /// the ALI and PacGAN reference code train. Augmentation, if any, is drawn afresh for the
    /// generator's update. Needs `critic_steps = 1`.
    Simultaneous,
}

/// Under [`NonFinitePolicy::Skip`], a run stops when this many consecutive steps each skipped
/// an update: the weights are then almost surely beyond repair.
pub const MAX_SKIPPED_STEPS: usize = 10;

/// JSON has no NaN or infinity (serde_json writes them as `null`): a `null` reads back as NaN,
/// so a line describing a blow-up round-trips.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

impl StepMetrics {
    /// The first non-finite quantity, by name, if any.
    pub fn first_non_finite(&self) -> Option<(&'static str, f64)> {
        [
            ("loss_d", self.loss_d),
            ("loss_g", self.loss_g),
            ("d_real", self.d_real),
            ("d_fake", self.d_fake),
            ("value", self.value),
            ("grad_norm_g", self.grad_norm_g),
            ("grad_norm_d", self.grad_norm_d),
            ("logit_real", self.logit_real),
            ("logit_fake", self.logit_fake),
            ("penalty", self.penalty),
        ]
        .into_iter()
        .find(|(_, v)| !v.is_finite())
    }
}

/// The settings of a [`GanTrainer`]: batch size, K, optimizers, the seed of its own
/// host RNG, and how long [`fit`](GanTrainer::fit) trains, logs and checkpoints.
///
/// Start from [`TrainerSettings::default`] and change what you need:
///
/// ```
/// use burngan_train::{OptimizerConfig, TrainerSettings};
///
/// let settings = TrainerSettings {
///     batch_size: 128,
///     critic_steps: 5,
///     discriminator_optimizer: OptimizerConfig::adam(1e-4, 0.5, 0.9),
///     ..TrainerSettings::default()
/// };
/// assert!(settings.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct TrainerSettings {
    /// Real and fake samples per batch of [`fit`](GanTrainer::fit) and
    /// [`step_with`](GanTrainer::step_with) (default 64). [`step`](GanTrainer::step) uses the
    /// size of the batch it is given.
    pub batch_size: usize,
    /// Discriminator updates per generator update, K (default 1).
    pub critic_steps: usize,
    /// The generator's optimizer (default Adam, lr 2e-4, β₁ 0.5, β₂ 0.999: DCGAN's); its
    /// learning rate and betas may follow [schedules](crate::Schedule) over
    /// [`steps`](Self::steps).
    pub generator_optimizer: OptimizerConfig,
    /// The discriminator's optimizer (default as the generator's).
    pub discriminator_optimizer: OptimizerConfig,
    /// Seed of the trainer's own [`HostRng`], which draws the latent noise (and penalty factors)
    /// of [`step`](GanTrainer::step) and [`fit`](GanTrainer::fit) (default 0).
    pub seed: u64,
    /// The generator step [`fit`](GanTrainer::fit) trains up to (default 1000).
    pub steps: usize,
    /// [`fit`](GanTrainer::fit) reports a step's metrics to its observers every this many
    /// steps and at the last step (default 10).
    pub log_every: usize,
    /// Checkpoints written by [`fit`](GanTrainer::fit) (default none).
    pub checkpoint: Option<CheckpointPolicy>,
    /// Stop at a non-finite loss or gradient, or skip the update (default
    /// [`NonFinitePolicy::Stop`]).
    pub on_non_finite: NonFinitePolicy,
    /// Judge the real and the generated batch of an update in one critic forward over the two
    /// stacked along the batch dimension, when the critic
    /// [judges stacked batches](Discriminator::judges_stacked_batches) (default false: one
    /// forward per batch). Faster on convolutional critics (larger matrix products, half the
    /// element-wise kernels); the same training up to float rounding, but the larger products
    /// round differently on each backend, and where training amplifies rounding (a
    /// relativistic loss with Adam β₁ = 0) runs on different backends drift apart: see
    /// docs/benchmarks.md.
    pub stack_batches: bool,
    /// Alternating (the default) or simultaneous updates ([`UpdateOrder`]).
    pub updates: UpdateOrder,
}

impl Default for TrainerSettings {
    fn default() -> Self {
        let adam = OptimizerConfig::adam(2e-4, 0.5, 0.999);
        Self {
            batch_size: 64,
            critic_steps: 1,
            generator_optimizer: adam.clone(),
            discriminator_optimizer: adam,
            seed: 0,
            steps: 1000,
            log_every: 10,
            checkpoint: None,
            on_non_finite: NonFinitePolicy::Stop,
            stack_batches: false,
            updates: UpdateOrder::Alternating,
        }
    }
}

impl TrainerSettings {
    /// Checks every value; the error names the field, the value and the fix.
    pub fn validate(&self) -> Result<(), TrainError> {
        let positive = crate::error::require_positive;
        positive("TrainerSettings::batch_size", self.batch_size)?;
        positive("TrainerSettings::critic_steps", self.critic_steps)?;
        positive("TrainerSettings::log_every", self.log_every)?;
        if self.updates == UpdateOrder::Simultaneous && self.critic_steps != 1 {
            return Err(TrainError::config(format!(
                "TrainerSettings::updates = Simultaneous takes both gradients at one point, so \
                 it needs critic_steps = 1, got {}; set critic_steps to 1 or use Alternating",
                self.critic_steps
            )));
        }
        self.generator_optimizer
            .validate("TrainerSettings::generator_optimizer")?;
        self.discriminator_optimizer
            .validate("TrainerSettings::discriminator_optimizer")?;
        if let Some(policy) = &self.checkpoint {
            positive("TrainerSettings::checkpoint.keep", policy.keep)?;
        }
        Ok(())
    }
}

/// Where and how often [`GanTrainer::fit`] writes checkpoints. Each is a directory
/// `DIR/step-NNNNNNNN/` (see [`save_checkpoint`](GanTrainer::save_checkpoint)); `DIR/latest`
/// names the newest complete one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointPolicy {
    /// The directory that holds the checkpoints (created when missing).
    pub dir: PathBuf,
    /// Write one every this many generator steps; 0: only at the end of `fit`.
    pub every: usize,
    /// Keep the newest this many, at least 1.
    pub keep: usize,
}

/// What [`GanTrainer::fit`] did.
#[derive(Debug, Clone)]
pub struct FitSummary {
    /// Generator steps done when `fit` returned (the trainer's
    /// [`steps_done`](GanTrainer::steps_done)).
    pub steps: usize,
    /// The metrics of every step reported to the observers, in order.
    pub metrics: Vec<StepMetrics>,
    /// The last checkpoint written by the [`CheckpointPolicy`], if any.
    pub checkpoint: Option<PathBuf>,
    /// The step after which a [`Hook`] stopped the run before its total, if one did.
    pub stopped_after: Option<usize>,
}

/// A gradient penalty bound to the critic type it evaluates; with an update's augmentation
/// draws it sees the critic through them ([`Augmented`]).
type PenaltyFn<C, const D: usize> = fn(
    &burngan_losses::PenaltyConfig,
    &C,
    Tensor<D>,
    Tensor<D>,
    Option<Tensor<1, Int>>,
    Option<&UpdateDraws<D>>,
    &mut HostRng,
) -> Tensor<1>;

/// Trains a generator `G` against a discriminator `C` on samples of rank `D` (2 for vectors
/// `[batch, features]`, 4 for images `[batch, channels, height, width]`).
///
/// Any modules that implement [`Generator`] and [`Discriminator`] can be trained; a gradient
/// penalty ([`with_penalty`](GanTrainer::with_penalty)) needs a critic that also implements
/// [`InputGradient`]. The trainer never prints, holds no global state and never picks a
/// device: the modules must live on the autodiff device passed to
/// [`new`](GanTrainer::new), which the trainer uses for noise as well.
///
/// Three ways to drive it:
/// - [`step`](GanTrainer::step) on the application's own real batches, returning the step's
///   [`StepMetrics`] (noise from the trainer's own [`HostRng`], seeded by
///   [`TrainerSettings::seed`]);
/// - [`fit`](GanTrainer::fit) on a [`SampleSource`] up to [`TrainerSettings::steps`],
///   reporting to [`Observer`]s and writing checkpoints;
/// - [`step_with`](GanTrainer::step_with) on a source with the caller's own RNG (what the
///   `burngan train` runs use, so that one RNG draws weights, data and noise).
///
/// [`save_checkpoint`](GanTrainer::save_checkpoint) and
/// [`load_checkpoint`](GanTrainer::load_checkpoint) store and restore the whole training
/// state, so a resumed `fit` continues bit for bit on the same backend.
pub struct GanTrainer<G, C, const D: usize> {
    // Options only so the optimizers can take the modules by value (no extra reference
    // keeps the old parameters alive during the update); always `Some` between steps.
    generator: Option<G>,
    discriminator: Option<C>,
    loss: Box<dyn AdversarialLoss>,
    optimizer_g: Optimizer,
    optimizer_d: Optimizer,
    ema: Option<(G, EmaRule)>,
    batch_size: usize,
    critic_steps: usize,
    penalties: Vec<(PenaltyTerm, PenaltyFn<C, D>)>,
    /// The shape of one generated sample, `[…]` without the batch: what a real batch must
    /// have after its first dimension.
    sample_dims: Vec<usize>,
    /// Why the last step could not run (a real batch of the wrong shape), for its caller.
    refused: Option<TrainError>,
    device: Device,
    step: usize,
    /// The trainer's own RNG (for `step` and `fit`).
    rng: HostRng,
    /// `fit`'s length, cadence and checkpoints.
    total_steps: usize,
    log_every: usize,
    checkpoint: Option<CheckpointPolicy>,
    on_non_finite: NonFinitePolicy,
    /// [`TrainerSettings::stack_batches`].
    stack_batches: bool,
    /// Updates of the current step skipped under [`NonFinitePolicy::Skip`].
    skipped_in_step: usize,
    /// Consecutive steps, up to the last, that skipped at least one update.
    skipped_steps_in_a_row: usize,
    /// The augmentation of the critic's inputs, if any.
    augment: Option<Box<dyn Augment<D>>>,
    /// [`TrainerSettings::updates`].
    updates: UpdateOrder,
    /// Under simultaneous updates, what the step's discriminator update drew and the
    /// discriminator it started from, for the step's generator update; `None` between steps.
    shared: Option<SharedInputs<C, D>>,
}

/// What a simultaneous step's generator update takes from the discriminator update.
struct SharedInputs<C, const D: usize> {
    /// The discriminator before its update (a clone sharing the old parameters).
    critic: C,
    /// The noise `[batch, latent_dim]`, the real batch and its labels.
    z: Tensor<2>,
    real: Tensor<D>,
    labels: Option<Tensor<1, Int>>,
}

/// The inputs of a generator update: noise, the fakes' labels, the (augmented) real batch when
/// the loss reads one, and the frozen critic that judges them.
struct GeneratorInputs<C, const D: usize> {
    z: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
    real: Option<(Tensor<D>, Option<Tensor<1, Int>>)>,
    frozen: C,
}

/// The application's real batch, returned for every draw of one [`GanTrainer::step`].
struct FixedBatch<const D: usize> {
    real: Tensor<D>,
    labels: Option<Tensor<1, Int>>,
}

impl<const D: usize> SampleSource<D> for FixedBatch<D> {
    fn sample(&mut self, _batch: usize, _rng: &mut HostRng, _device: &Device) -> Tensor<D> {
        self.real.clone()
    }

    fn sample_labeled(
        &mut self,
        _batch: usize,
        _rng: &mut HostRng,
        _device: &Device,
    ) -> (Tensor<D>, Option<Tensor<1, Int>>) {
        (self.real.clone(), self.labels.clone())
    }
}

/// Scalars `[1]` gathered on the device and read back to the host in one transfer; each
/// [`push`](HostRead::push) returns the position of its value in [`values`](HostRead::values).
#[derive(Default)]
struct HostRead {
    parts: Vec<Tensor<1>>,
}

impl HostRead {
    fn push(&mut self, scalar: Tensor<1>) -> usize {
        self.parts.push(scalar);
        self.parts.len() - 1
    }

    /// The values in push order; NaN for any the device could not give.
    fn values(self) -> Vec<f64> {
        let n = self.parts.len();
        let values: Vec<f32> = Tensor::cat(self.parts, 0)
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .unwrap_or_default();
        (0..n)
            .map(|i| values.get(i).copied().map_or(f64::NAN, f64::from))
            .collect()
    }
}

/// Tensors kept from a discriminator update for the metrics of a recorded step.
struct CriticRecord {
    loss: Tensor<1>,
    penalty: Tensor<1>,
    /// Each applied penalty, by its position in the trainer's list.
    penalties: Vec<(usize, Tensor<1>)>,
    real_logits: Tensor<2>,
    fake_logits: Tensor<2>,
    grad_norm: Tensor<1>,
}

impl<G, C, const D: usize> GanTrainer<G, C, D>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    /// A trainer for `generator` and `discriminator`, which must live on `device`, an
    /// autodiff device (`device.autodiff()`), with `loss` (any [`AdversarialLoss`], or the
    /// `Box` that `LossConfig::build` returns).
    ///
    /// Fails with [`TrainError::Config`] when a setting is out of range
    /// ([`TrainerSettings::validate`]) or `device` has no autodiff.
    pub fn new(
        generator: G,
        discriminator: C,
        loss: impl AdversarialLoss + 'static,
        settings: &TrainerSettings,
        device: &Device,
    ) -> Result<Self, TrainError> {
        settings.validate()?;
        if !device.is_autodiff() {
            return Err(TrainError::config(format!(
                "GanTrainer::new needs an autodiff device, got {device:?}: create the modules \
                 on `device.autodiff()` and pass that device"
            )));
        }
        for (name, plain) in [
            ("generator", untracked_parameter(&generator)),
            ("discriminator", untracked_parameter(&discriminator)),
        ] {
            if plain {
                return Err(TrainError::config(format!(
                    "the {name}'s parameters are not on an autodiff device, so no gradient \
                     would reach them: build the {name} on `device.autodiff()` (the device \
                     passed to GanTrainer::new), not on the plain device"
                )));
            }
        }
        let sample_dims = sample_dims(&generator, device);
        Ok(Self {
            generator: Some(generator),
            discriminator: Some(discriminator),
            loss: Box::new(loss),
            optimizer_g: settings.generator_optimizer.init(),
            optimizer_d: settings.discriminator_optimizer.init(),
            batch_size: settings.batch_size,
            critic_steps: settings.critic_steps,
            penalties: Vec::new(),
            sample_dims,
            refused: None,
            ema: None,
            device: device.clone(),
            step: 0,
            rng: HostRng::seed_from(settings.seed),
            total_steps: settings.steps,
            log_every: settings.log_every,
            checkpoint: settings.checkpoint.clone(),
            on_non_finite: settings.on_non_finite,
            stack_batches: settings.stack_batches,
            skipped_in_step: 0,
            skipped_steps_in_a_row: 0,
            augment: None,
            updates: settings.updates,
            shared: None,
        })
    }

    /// Adds a gradient penalty to the discriminator's loss: a `PenaltyConfig` (applied at
    /// every discriminator update with its own weight) or a [`PenaltyTerm`] (a scheduled
    /// weight, and lazy with `every = N`). Call it once per penalty: R1 on reals and R2 on
    /// fakes together, for example. The penalties' random factors are drawn from the step's
    /// host RNG after the real batch and the noise of each discriminator update, in the order
    /// the penalties were added.
    ///
    /// Fails with [`TrainError::Config`] when the penalty's weights are invalid or the critic
    /// names an [unsupported layer](InputGradient::unsupported_layer).
    ///
    /// Only a critic that implements [`InputGradient`] has this method's bound satisfied:
    /// asking for a penalty on any other critic does not compile (error E0277 naming
    /// `InputGradient`).
    pub fn with_penalty(mut self, penalty: impl Into<PenaltyTerm>) -> Result<Self, TrainError>
    where
        C: InputGradient<D>,
    {
        let term = penalty.into();
        term.validate("penalty")?;
        if let Some(layer) = self.discriminator().unsupported_layer() {
            return Err(TrainError::config(format!(
                "penalty {} needs the critic's input gradient, which discriminator layer \
                 {layer} cannot provide (it mixes the samples of a batch); remove that \
                 normalisation from the critic, or train without a penalty (no [penalty] \
                 section in a config)",
                term.name()
            )));
        }
        self.penalties.push((
            term,
            |config, critic, real, fake, labels, draws, rng| match draws {
                None => config.compute_labeled(critic, real, fake, labels, rng),
                Some(draws) => {
                    let seen = Augmented::new(critic.clone(), draws.for_penalty(config));
                    config.compute_labeled(&seen, real, fake, labels, rng)
                }
            },
        ));
        Ok(self)
    }

    /// The gradient penalties in use, in the order they are applied.
    pub fn penalties(&self) -> impl Iterator<Item = &PenaltyTerm> {
        self.penalties.iter().map(|(term, _)| term)
    }

    /// Keeps an exponential moving average of the generator's weights: after generator update
    /// t (counted from 1), θ_ema ← β_t·θ_ema + (1 − β_t)·θ (BatchNorm running statistics
    /// averaged the same way). β_t is `decay`; with `warmup` it is
    /// β_t = min(decay, (1 + t)/(10 + t)), see [`EmaRule::Decay`]. The average starts as a
    /// copy of the current generator, outside autodiff.
    ///
    /// Fails with [`TrainError::Config`] unless 0 ≤ decay < 1.
    pub fn with_ema(self, decay: f64, warmup: bool) -> Result<Self, TrainError> {
        self.with_ema_rule(EmaRule::Decay {
            decay: decay.into(),
            warmup,
        })
    }

    /// [`with_ema`](Self::with_ema) with any [`EmaRule`]: a scheduled decay, or a half-life
    /// in images with StyleGAN2-ADA's ramp-up.
    pub fn with_ema_rule(mut self, rule: EmaRule) -> Result<Self, TrainError> {
        rule.validate("ema")?;
        self.ema = Some((self.generator().valid(), rule));
        Ok(self)
    }

    /// Replaces both optimizers, e.g. with an application's own [`OptimizerRule`](crate::OptimizerRule)
    /// through [`Optimizer::new`]. Their state starts empty; call it
    /// before training or loading a checkpoint.
    pub fn with_optimizers(mut self, generator: Optimizer, discriminator: Optimizer) -> Self {
        self.optimizer_g = generator.fresh();
        self.optimizer_d = discriminator.fresh();
        self
    }

    /// Augments the critic's inputs with `augment` (differentiable augmentation, e.g.
    /// DiffAugment with a fixed or adaptive probability from `burngan-augment`).
    ///
    /// Each discriminator update draws two transforms from the step's host RNG right after
    /// its latent codes, the real batch's and then the fake batch's, and judges T_r(real) and
    /// T_f(fake). Its penalties are taken with respect to the *un-augmented* batches through
    /// the same draws, as StyleGAN2-ADA's R1: R1, WGAN-GP and DRAGAN see the critic D∘T_r,
    /// R2 sees D∘T_f ([`Augmented`]: input gradient Aᵀ·∇D(T x)). The generator update draws a
    /// fresh transform for its fakes after its noise and labels (and one for its real batch,
    /// drawn right after that batch, when the loss reads real logits); autodiff carries the
    /// generator's gradient through it. The real logits of every applied discriminator update
    /// go to [`Augment::observe_real_logits`] (an adaptive p reads one value back from the
    /// device every few updates). The current p is logged as [`StepMetrics::augment_p`] and
    /// the augmentation's state is part of a checkpoint.
    ///
    /// Without this call the trainer draws nothing for augmentation: training is bit for bit
    /// what it was.
    pub fn with_augment(mut self, augment: Box<dyn Augment<D>>) -> Self {
        self.augment = Some(augment);
        self
    }

    /// The augmentation of the critic's inputs, when set.
    pub fn augment(&self) -> Option<&dyn Augment<D>> {
        self.augment.as_deref()
    }

    /// The moving average of the generator (outside autodiff), when enabled.
    pub fn ema(&self) -> Option<&G> {
        self.ema.as_ref().map(|(ema, _)| ema)
    }

    /// The generator to sample from: the moving average when enabled, else the generator
    /// itself; outside autodiff and in evaluation mode either way.
    pub fn sampling_generator(&self) -> G {
        match &self.ema {
            Some((ema, _)) => ema.valid(),
            None => self.generator().valid(),
        }
    }

    /// The generator's and the discriminator's optimizers.
    pub fn optimizers(&self) -> (&Optimizer, &Optimizer) {
        (&self.optimizer_g, &self.optimizer_d)
    }

    /// The generator.
    pub fn generator(&self) -> &G {
        self.generator
            .as_ref()
            .expect("generator present between steps")
    }

    /// The discriminator.
    pub fn discriminator(&self) -> &C {
        self.discriminator
            .as_ref()
            .expect("discriminator present between steps")
    }

    /// Generator updates done so far.
    pub fn steps_done(&self) -> usize {
        self.step
    }

    /// The loss being optimised.
    pub fn loss(&self) -> &dyn AdversarialLoss {
        self.loss.as_ref()
    }

    /// The device the trainer works on (the one passed to [`new`](Self::new)).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The trainer's own host RNG: its position is part of a checkpoint.
    pub fn rng(&self) -> &HostRng {
        &self.rng
    }

    /// The trainer's own host RNG, for an application that draws its data from the same
    /// seeded stream as the noise.
    pub fn rng_mut(&mut self) -> &mut HostRng {
        &mut self.rng
    }

    /// Replaces the trainer's own host RNG, e.g. with the stream that drew the weights, so
    /// that one seeded RNG draws weights, data and noise (what `burngan train` does), or with
    /// a checkpoint's position.
    pub fn set_rng(&mut self, rng: HostRng) {
        self.rng = rng;
    }

    /// One training step on the application's real batch `real` (`[n, …]`, on any device;
    /// it is moved to the trainer's): `critic_steps` discriminator updates, each on `real`
    /// and a fresh fake batch of n samples (the generator frozen), then one generator update
    /// on n fresh latent codes (the discriminator frozen). The noise comes from the trainer's
    /// own RNG. Returns the step's metrics (one device-to-host transfer).
    ///
    /// Fails with [`TrainError::Config`] for an empty batch or a class-conditional generator
    /// (use [`step_labeled`](Self::step_labeled)), and with [`TrainError::NonFinite`] when a
    /// loss or gradient norm of the step is NaN or infinite (the update has been applied).
    /// Under [`NonFinitePolicy::Skip`] such an update is skipped instead and the step returns
    /// its metrics with [`StepMetrics::skipped_updates`] set, until
    /// [`TrainError::TooManySkipped`].
    pub fn step(&mut self, real: Tensor<D>) -> Result<StepMetrics, TrainError> {
        if self.conditional() {
            return Err(TrainError::config(format!(
                "the generator has {} classes: train it with step_labeled(real, labels)",
                self.generator().num_classes()
            )));
        }
        self.step_on_batch(real, None)
    }

    /// [`step`](Self::step) for class-conditional models: real samples `[n, …]` with their
    /// labels `[n]` in `0..num_classes`. The fakes of each critic update get the real
    /// batch's labels; the generator update draws uniform labels from the trainer's RNG.
    pub fn step_labeled(
        &mut self,
        real: Tensor<D>,
        labels: Tensor<1, Int>,
    ) -> Result<StepMetrics, TrainError> {
        let [n] = labels.dims();
        if n != real.dims()[0] {
            return Err(TrainError::config(format!(
                "step_labeled got {} samples but {n} labels; pass one label per sample",
                real.dims()[0]
            )));
        }
        self.step_on_batch(real, Some(labels))
    }

    fn step_on_batch(
        &mut self,
        real: Tensor<D>,
        labels: Option<Tensor<1, Int>>,
    ) -> Result<StepMetrics, TrainError> {
        let n = real.dims()[0];
        if n == 0 {
            return Err(TrainError::config(
                "the real batch is empty; pass at least one sample",
            ));
        }
        self.check_batch(&real.dims())?;
        let on_device = |t: Tensor<D>, device: &Device| {
            if t.device() == *device {
                t
            } else {
                t.to_device(device)
            }
        };
        let real = on_device(real, &self.device);
        let labels = labels.map(|l| {
            if l.device() == self.device {
                l
            } else {
                l.to_device(&self.device)
            }
        });
        let mut source = FixedBatch { real, labels };
        let mut rng = self.take_rng();
        let metrics = self.step_sized(&mut source, &mut rng, n, true);
        self.rng = rng;
        if let Some(error) = self.refused.take() {
            return Err(error);
        }
        let metrics = metrics.expect("a recorded step returns its metrics");
        self.vet(&metrics, &mut [])?;
        Ok(metrics)
    }

    /// Whether a run can go on after a step measured as `metrics`, under the trainer's
    /// [`NonFinitePolicy`]: otherwise tells `observers` ([`Observer::on_non_finite`]) and
    /// returns the run's error ([`TrainError::NonFinite`] or [`TrainError::TooManySkipped`]).
    pub(crate) fn vet(
        &self,
        metrics: &StepMetrics,
        observers: &mut [&mut dyn Observer],
    ) -> Result<(), TrainError> {
        let non_finite = metrics.first_non_finite();
        if metrics.skipped_updates > 0 {
            if self.skipped_steps_in_a_row < MAX_SKIPPED_STEPS {
                return Ok(());
            }
            let (quantity, value) = non_finite.unwrap_or(("grad_norm_d", f64::NAN));
            notify_non_finite(observers, metrics, quantity, value);
            return Err(TrainError::TooManySkipped {
                step: metrics.step,
                steps: self.skipped_steps_in_a_row,
            });
        }
        match non_finite {
            Some((quantity, value)) => Err(stop_non_finite(observers, metrics, quantity, value)),
            None => Ok(()),
        }
    }

    /// The trainer's [`NonFinitePolicy`].
    pub fn non_finite_policy(&self) -> NonFinitePolicy {
        self.on_non_finite
    }

    /// The generator step [`fit`](Self::fit) trains up to, and the length schedules span
    /// ([`TrainerSettings::steps`]).
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// Sets [`total_steps`](Self::total_steps), e.g. to train a loaded checkpoint further.
    /// Schedules that span the whole run stretch with it.
    pub fn set_total_steps(&mut self, total: usize) {
        self.total_steps = total;
    }

    /// Under [`NonFinitePolicy::Skip`]: whether an update with this loss and gradient norm
    /// may be applied (one read from the device). Always true under
    /// [`NonFinitePolicy::Stop`], without a read.
    fn may_apply(&mut self, loss: Tensor<1>, grad_norm: Option<&Tensor<1>>) -> bool {
        if self.on_non_finite == NonFinitePolicy::Stop {
            return true;
        }
        let Some(grad_norm) = grad_norm else {
            return true;
        };
        // NaN and ±∞ survive the sum: one value tells whether both are finite.
        let total = loss.add(grad_norm.clone());
        let finite = total
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .ok()
            .and_then(|v| v.first().copied())
            .is_some_and(f32::is_finite);
        if !finite {
            self.skipped_in_step += 1;
        }
        finite
    }

    /// Moves the trainer's RNG out (a placeholder stays until it is put back).
    fn take_rng(&mut self) -> HostRng {
        std::mem::replace(&mut self.rng, HostRng::seed_from(0))
    }

    /// One training step on batches of [`TrainerSettings::batch_size`] drawn from `source`
    /// with the caller's `rng`: `critic_steps` discriminator updates on fresh real and
    /// (detached) fake batches, then one generator update on fresh noise with the
    /// discriminator frozen.
    ///
    /// Nothing is read back from the device unless `record` is true; then the step's
    /// [`StepMetrics`] are returned (one device-to-host transfer).
    pub fn step_with(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        record: bool,
    ) -> Option<StepMetrics> {
        self.step_sized(source, rng, self.batch_size, record)
    }

    fn step_sized(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        batch: usize,
        record: bool,
    ) -> Option<StepMetrics> {
        // Under `Skip` every step is measured: a skipped update must be reported.
        let record = record || self.on_non_finite == NonFinitePolicy::Skip;
        self.skipped_in_step = 0;
        self.refused = None;
        let mut critic_record = None;
        for k in 0..self.critic_steps {
            let keep = record && k + 1 == self.critic_steps;
            let update = self.step * self.critic_steps + k;
            critic_record = self
                .discriminator_update(source, rng, batch, update, keep)
                .or(critic_record);
            if self.refused.is_some() {
                self.shared = None;
                return None;
            }
        }
        let (loss_g, grad_norm_g) = self.generator_update(source, rng, batch, record);
        if self.refused.is_some() {
            return None;
        }
        self.step += 1;
        if self.skipped_in_step > 0 {
            self.skipped_steps_in_a_row += 1;
        } else {
            self.skipped_steps_in_a_row = 0;
        }
        let critic = critic_record?;
        let grad_norm_g = grad_norm_g?;
        Some(self.measure(critic, loss_g, grad_norm_g))
    }

    /// The metrics of a step from the tensors its updates kept, read from the device in one
    /// transfer.
    fn measure(
        &self,
        critic: CriticRecord,
        loss_g: Tensor<1>,
        grad_norm_g: Tensor<1>,
    ) -> StepMetrics {
        let mut read = HostRead::default();
        let d_real = read.push(sigmoid(critic.real_logits.clone()).mean());
        let d_fake = read.push(sigmoid(critic.fake_logits.clone()).mean());
        let logit_real = read.push(critic.real_logits.clone().mean());
        let logit_fake = read.push(critic.fake_logits.clone().mean());
        let value = read.push(value_estimate(critic.real_logits, critic.fake_logits));
        let loss_d = read.push(critic.loss);
        let loss_g = read.push(loss_g);
        let grad_norm_g = read.push(grad_norm_g);
        let grad_norm_d = read.push(critic.grad_norm);
        let device = critic.penalty.device();
        let penalty = read.push(critic.penalty);
        let names = log_names(&self.penalties().copied().collect::<Vec<_>>());
        let penalties: Vec<(String, usize)> = critic
            .penalties
            .into_iter()
            .map(|(i, t)| (names[i].clone(), read.push(t)))
            .collect();
        let diagnostics: Vec<(String, usize)> = self
            .discriminator()
            .diagnostics()
            .into_iter()
            .map(|(name, t)| (name, read.push(t.to_device(&device))))
            .collect();
        let values = read.values();
        // `measure` runs after the step counter moved on: the updates ran one step earlier.
        let updated = TrainingTime {
            step: self.step.saturating_sub(1),
            total: self.total_steps,
        };
        let by_name = |list: Vec<(String, usize)>| -> BTreeMap<String, f64> {
            list.into_iter()
                .map(|(name, at)| (name, values[at]))
                .collect()
        };
        StepMetrics {
            step: self.step,
            loss_d: values[loss_d],
            loss_g: values[loss_g],
            d_real: values[d_real],
            d_fake: values[d_fake],
            value: values[value],
            grad_norm_g: values[grad_norm_g],
            grad_norm_d: values[grad_norm_d],
            logit_real: values[logit_real],
            logit_fake: values[logit_fake],
            penalty: values[penalty],
            penalties: by_name(penalties),
            diagnostics: by_name(diagnostics),
            eval: None,
            skipped_updates: self.skipped_in_step,
            augment_p: self.augment.as_ref().map(|a| a.probability()),
            lr_g: Some(self.optimizer_g.learning_rate(updated)),
            lr_d: Some(self.optimizer_d.learning_rate(updated)),
        }
    }

    /// One discriminator update on a fresh real batch and a fresh, detached fake batch: the
    /// generator is frozen. [`step`](GanTrainer::step) calls this `critic_steps` times; call it
    /// directly to train D against a fixed G (as in the optimal-discriminator experiments).
    ///
    /// A real batch whose sample shape is not the generator's, or a critic whose stacked
    /// forward miscounts its logits, is a [`TrainError::Config`] and leaves both networks as
    /// they were.
    pub fn train_discriminator(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
    ) -> Result<(), TrainError> {
        let update = self.step * self.critic_steps;
        self.refused = None;
        self.discriminator_update(source, rng, self.batch_size, update, false);
        self.shared = None;
        self.refused.take().map_or(Ok(()), Err)
    }

    /// One generator update on fresh noise, with the discriminator frozen. Does not count as a
    /// [`step`](GanTrainer::step). Refuses what [`train_discriminator`] refuses (a real batch
    /// is read only by losses that compare with one), leaving both networks as they were.
    ///
    /// [`train_discriminator`]: GanTrainer::train_discriminator
    pub fn train_generator(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
    ) -> Result<(), TrainError> {
        self.refused = None;
        self.shared = None;
        self.generator_update(source, rng, self.batch_size, false);
        self.refused.take().map_or(Ok(()), Err)
    }

    fn latent(&self, batch: usize, rng: &mut HostRng) -> Tensor<2> {
        let latent_dim = self.generator().latent_dim();
        rng.normal([batch, latent_dim], &self.device)
    }

    fn discriminator_update(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        batch: usize,
        update: usize,
        keep: bool,
    ) -> Option<CriticRecord> {
        let (real, labels) = match self.real_batch(source, rng, batch) {
            Ok(batch) => batch,
            Err(error) => {
                self.refused = Some(error);
                return None;
            }
        };
        let z = self.latent(batch, rng);
        let z_kept = (self.updates == UpdateOrder::Simultaneous).then(|| z.clone());
        // The generator is frozen: its output enters the discriminator's graph as a constant,
        // and its forward records no graph (a `no_grad` copy shares the parameters and
        // BatchNorm's running statistics, so the values are those of a tracked forward).
        let frozen = self.generator().clone().no_grad();
        let fake = generate(&frozen, z, labels.clone()).detach();
        let discriminator = self
            .discriminator
            .take()
            .expect("discriminator present between steps");
        if self.updates == UpdateOrder::Simultaneous {
            self.shared = Some(SharedInputs {
                critic: discriminator.clone(),
                z: z_kept.expect("kept under simultaneous updates"),
                real: real.clone(),
                labels: labels.clone(),
            });
        }
        let judged = self.judge_update(&discriminator, &real, &fake, labels.clone(), rng);
        let (draws, real_logits, fake_logits) = match judged {
            Ok(judged) => judged,
            Err(error) => {
                self.discriminator = Some(discriminator);
                self.refused = Some(error);
                return None;
            }
        };
        let loss = self
            .loss
            .discriminator_loss(real_logits.clone(), fake_logits.clone());
        let time = self.time();
        let batches = (real, fake, labels);
        let (penalty, applied) =
            self.penalty_terms(&discriminator, batches, draws.as_ref(), update, rng);
        let loss = match &penalty {
            Some(penalty) => loss.add(penalty.clone()),
            None => loss,
        };
        let grads = GradientsParams::from_grads(loss.backward(), &discriminator);
        let skipping = self.on_non_finite == NonFinitePolicy::Skip;
        let grad_norm =
            (keep || skipping).then(|| gradient_norm(&discriminator, &grads, &self.device));
        let apply = self.may_apply(loss.clone().inner(), grad_norm.as_ref());
        if apply && let Some(augment) = self.augment.as_mut() {
            augment.observe_real_logits(real_logits.clone().inner());
        }
        let record = keep.then(|| CriticRecord {
            loss: loss.clone().inner(),
            penalty: penalty.map_or_else(
                || Tensor::zeros([1], &self.device.clone().without_autodiff()),
                |p| p.inner(),
            ),
            penalties: applied.into_iter().map(|(i, v)| (i, v.inner())).collect(),
            real_logits: real_logits.inner(),
            fake_logits: fake_logits.inner(),
            grad_norm: grad_norm.expect("measured when kept"),
        });
        if !apply {
            self.discriminator = Some(discriminator);
            return record;
        }
        let mut discriminator = self.optimizer_d.step(time, discriminator, grads);
        if let Some(bound) = self.loss.critic_weight_clip() {
            discriminator = clip_parameters(discriminator, bound);
        }
        self.discriminator = Some(discriminator);
        record
    }

    /// A discriminator update's real batch (`[batch, …]`, rank `D`) and, for class-conditional
    /// training, its labels (`[batch]`), which the update's fakes share so that both sides (and
    /// a penalty's interpolates) are judged for the same classes; a batch of the wrong shape is
    /// refused.
    fn real_batch(
        &self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        batch: usize,
    ) -> Result<(Tensor<D>, Option<Tensor<1, Int>>), TrainError> {
        let (real, labels) = if self.conditional() {
            let (real, labels) = source.sample_labeled(batch, rng, &self.device);
            let labels = labels.expect(
                "a class-conditional model needs a labelled sample source (checked by the run \
                 builder)",
            );
            (real, Some(labels))
        } else {
            (source.sample(batch, rng, &self.device), None)
        };
        self.check_batch(&real.dims())?;
        Ok((real, labels))
    }

    /// The penalties due at critic update `update` of this step, evaluated on `batches` (real,
    /// fake, labels) in the order they were added: their sum (`[1]`, `None` when none is due)
    /// and each one's value with its index, for the step's record.
    fn penalty_terms(
        &self,
        critic: &C,
        batches: (Tensor<D>, Tensor<D>, Option<Tensor<1, Int>>),
        draws: Option<&UpdateDraws<D>>,
        update: usize,
        rng: &mut HostRng,
    ) -> (Option<Tensor<1>>, Vec<(usize, Tensor<1>)>) {
        let time = self.time();
        let due: Vec<(usize, _)> = self
            .penalties
            .iter()
            .enumerate()
            .filter_map(|(i, (term, _))| term.at(update, time.step, time.total).map(|c| (i, c)))
            .collect();
        // The batches move into the last penalty (no extra owner keeps their buffers alive, so
        // the CPU backends can reuse them in place); earlier ones get clones.
        let mut batches = Some(batches);
        let mut applied = Vec::with_capacity(due.len());
        for (n, (i, config)) in due.iter().enumerate() {
            let (real, fake, labels) = match (n + 1 == due.len(), &batches) {
                (false, Some((r, f, l))) => (r.clone(), f.clone(), l.clone()),
                _ => batches.take().expect("the batches are moved only once"),
            };
            let penalty_fn = self.penalties[*i].1;
            let value = penalty_fn(config, critic, real, fake, labels, draws, rng);
            applied.push((*i, value));
        }
        let penalty = applied
            .iter()
            .map(|(_, value)| value.clone())
            .reduce(|a, b| a.add(b));
        (penalty, applied)
    }

    /// The critic's logits on the real and the fake batch of a discriminator update, through
    /// two fresh augmentation draws (the real batch's, then the fake batch's) when the trainer
    /// augments; returns the draws for the update's penalties.
    fn judge_update(
        &mut self,
        critic: &C,
        real: &Tensor<D>,
        fake: &Tensor<D>,
        labels: Option<Tensor<1, Int>>,
        rng: &mut HostRng,
    ) -> Result<(Option<UpdateDraws<D>>, Tensor<2>, Tensor<2>), TrainError> {
        let draws = self.augment.as_mut().map(|augment| UpdateDraws {
            real: augment.draw(real.dims(), rng),
            fake: augment.draw(fake.dims(), rng),
        });
        let (real, fake) = match &draws {
            Some(draws) => (
                draws.real.apply(real.clone()),
                draws.fake.apply(fake.clone()),
            ),
            None => (real.clone(), fake.clone()),
        };
        let (real_logits, fake_logits) = judge_pair(
            critic,
            (real, labels.clone()),
            (fake, labels),
            self.stack_batches,
        )?;
        Ok((draws, real_logits, fake_logits))
    }

    /// `batch` through a fresh augmentation draw, when the trainer augments.
    fn augmented(&mut self, batch: Tensor<D>, rng: &mut HostRng) -> Tensor<D> {
        match self.augment.as_mut() {
            Some(augment) => augment.draw(batch.dims(), rng).apply(batch),
            None => batch,
        }
    }

    fn generator_update(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        batch: usize,
        keep: bool,
    ) -> (Tensor<1>, Option<Tensor<1>>) {
        let GeneratorInputs {
            z,
            labels,
            real,
            frozen,
        } = match self.generator_inputs(source, rng, batch) {
            Ok(inputs) => inputs,
            Err(error) => {
                self.refused = Some(error);
                return (Tensor::zeros([1], &self.device), None);
            }
        };
        let generator = self
            .generator
            .take()
            .expect("generator present between steps");
        let fake = generate(&generator, z, labels.clone());
        let fake = self.augmented(fake, rng);
        let judged = match real {
            Some(real) => judge_pair(&frozen, real, (fake, labels), self.stack_batches)
                .map(|(real_logits, fake_logits)| (real_logits.detach(), fake_logits)),
            None => Ok((
                Tensor::zeros([0, 1], &self.device),
                judge(&frozen, fake, labels),
            )),
        };
        let (real_logits, fake_logits) = match judged {
            Ok(logits) => logits,
            Err(error) => {
                self.generator = Some(generator);
                self.refused = Some(error);
                return (Tensor::zeros([1], &self.device), None);
            }
        };
        let loss = self.loss.generator_loss(real_logits, fake_logits);
        let grads = GradientsParams::from_grads(loss.backward(), &generator);
        // `inner` drops the autodiff graph: metrics are plain tensors on the same backend.
        let skipping = self.on_non_finite == NonFinitePolicy::Skip;
        let norm = (keep || skipping).then(|| gradient_norm(&generator, &grads, &self.device));
        if !self.may_apply(loss.clone().inner(), norm.as_ref()) {
            self.generator = Some(generator);
            return (loss.inner(), norm);
        }
        let time = self.time();
        let generator = self.optimizer_g.step(time, generator, grads);
        if let Some((ema, rule)) = self.ema.take() {
            let decay = rule.decay_at(time, batch);
            self.ema = Some((ema_update(ema, &generator, decay), rule));
        }
        self.generator = Some(generator);
        (loss.inner(), norm)
    }

    /// The noise, labels, real batch and frozen critic of a generator update: drawn afresh
    /// against the current discriminator (alternating), or those the step's discriminator
    /// update kept (simultaneous). Fails on a real batch of the wrong shape.
    fn generator_inputs(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        batch: usize,
    ) -> Result<GeneratorInputs<C, D>, TrainError> {
        let uses_real = self.loss.generator_uses_real();
        if let Some(shared) = self.shared.take() {
            let real = uses_real.then(|| (self.augmented(shared.real, rng), shared.labels.clone()));
            return Ok(GeneratorInputs {
                z: shared.z,
                labels: shared.labels,
                real,
                frozen: shared.critic.no_grad(),
            });
        }
        let z = self.latent(batch, rng);
        let labels = self.conditional().then(|| {
            let classes = self.generator().num_classes();
            let labels: Vec<i64> = (0..batch).map(|_| rng.index(classes) as i64).collect();
            Tensor::<1, Int>::from_data(TensorData::new(labels, [batch]), &self.device)
        });
        // The discriminator is frozen: gradients flow through it to the generator, but none
        // are computed for its parameters.
        let frozen = self.discriminator().clone().no_grad();
        let real = if uses_real {
            let (real, real_labels) = if self.conditional() {
                source.sample_labeled(batch, rng, &self.device)
            } else {
                (source.sample(batch, rng, &self.device), None)
            };
            // Checked before augmenting: the augmentation expects the networks' shape.
            self.check_batch(&real.dims())?;
            Some((self.augmented(real, rng), real_labels))
        } else {
            None
        };
        Ok(GeneratorInputs {
            z,
            labels,
            real,
            frozen,
        })
    }

    /// Where the coming update stands in the run, for schedules.
    fn time(&self) -> TrainingTime {
        TrainingTime {
            step: self.step,
            total: self.total_steps,
        }
    }

    /// Refuses a real batch `[n, …]` whose sample shape is not the generator's.
    fn check_batch(&self, dims: &[usize]) -> Result<(), TrainError> {
        if dims.get(1..) == Some(self.sample_dims.as_slice()) {
            return Ok(());
        }
        Err(TrainError::config(format!(
            "a real batch of shape {dims:?} does not fit the networks: the generator makes \
             samples of shape {:?}, so real batches must be [n, {}]; reshape the data or build \
             the networks for its shape",
            self.sample_dims,
            self.sample_dims
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )))
    }

    /// What identifies how this trainer was built, as recorded in its checkpoints.
    pub fn identity(&self) -> TrainerIdentity {
        TrainerIdentity {
            loss: self.loss.name().to_string(),
            penalties: self
                .penalties()
                .map(|t| match t.every {
                    1 => t.name().to_string(),
                    every => format!("{} every {every}", t.name()),
                })
                .collect(),
            generator: short_type_name::<G>(),
            discriminator: short_type_name::<C>(),
            optimizers: [
                self.optimizer_g.kind().to_string(),
                self.optimizer_d.kind().to_string(),
            ],
            augment: self.augment.as_ref().map(|a| a.describe()),
            updates: Some(self.updates),
        }
    }

    fn conditional(&self) -> bool {
        self.generator().num_classes() > 0
    }

    /// Runs the [sampling generator](Self::sampling_generator) on latent codes `[n,
    /// latent_dim]` (from the host, row-major) and returns the samples on the host, row-major.
    pub fn generate_host(&self, latent: &[f32]) -> Vec<f32> {
        generate_on_host(&self.sampling_generator(), latent, None, &self.device)
    }

    /// [`generate_host`](Self::generate_host) with one class label per latent code, for
    /// class-conditional generators.
    pub fn generate_host_labeled(&self, latent: &[f32], labels: &[usize]) -> Vec<f32> {
        generate_on_host(
            &self.sampling_generator(),
            latent,
            Some(labels),
            &self.device,
        )
    }

    /// Trains on `source` from the current step up to [`TrainerSettings::steps`], in batches
    /// of [`TrainerSettings::batch_size`] drawn with the trainer's own RNG, reporting to
    /// `observers`: `on_start`, `on_step` every [`TrainerSettings::log_every`] steps and at
    /// the last, `on_end`. With a [`CheckpointPolicy`] it writes a checkpoint every
    /// `policy.every` steps and at the last step; a checkpoint step is measured first, so
    /// only finite weights are saved.
    ///
    /// After [`load_checkpoint`](Self::load_checkpoint) it continues where the checkpoint
    /// left off, bit for bit on the same backend when `source` draws only from the RNG it is
    /// given (an application source that keeps its own position must restore it itself).
    ///
    /// Fails with [`TrainError::Config`] when there is nothing to train (the steps done are
    /// already at or past the total), with [`TrainError::NonFinite`] (naming the step and the
    /// quantity) when a measured loss or gradient norm is NaN or infinite, after telling the
    /// observers ([`Observer::on_non_finite`]) and leaving the last checkpoint as it was
    /// (under [`NonFinitePolicy::Skip`], with [`TrainError::TooManySkipped`] instead), and
    /// with the first error an observer or a checkpoint write returns.
    pub fn fit(
        &mut self,
        source: &mut dyn SampleSource<D>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<FitSummary, TrainError> {
        self.fit_with_hooks(source, observers, &mut [])
    }

    /// [`fit`](Self::fit) with [`Hook`]s: the one training loop, which `burngan train` runs
    /// too (its evaluations, sample grids, checkpoints, `--stop-at` and Ctrl-C are hooks).
    /// The hooks are called in order at the points the [`hooks`](crate::hooks) module
    /// describes; the [`CheckpointPolicy`] of the settings, if any, runs after them.
    pub fn fit_with_hooks(
        &mut self,
        source: &mut dyn SampleSource<D>,
        observers: &mut [&mut dyn Observer],
        hooks: &mut [&mut dyn Hook<G, C, D>],
    ) -> Result<FitSummary, TrainError> {
        let total = self.total_steps;
        if total <= self.step {
            return Err(TrainError::config(format!(
                "fit has nothing to train: the trainer has done {} steps and \
                 TrainerSettings::steps, the total to train up to, is {total}; set steps above \
                 {} (it counts all steps, not more steps) or call set_total_steps",
                self.step, self.step
            )));
        }
        let mut policy = self
            .checkpoint
            .as_ref()
            .map(|p| Checkpoints::new(&p.dir, p.every, p.keep));
        let mut all: Vec<&mut dyn Hook<G, C, D>> = Vec::with_capacity(hooks.len() + 1);
        for hook in hooks.iter_mut() {
            all.push(&mut **hook);
        }
        if let Some(policy) = policy.as_mut() {
            all.push(policy);
        }
        let info = RunInfo {
            total_steps: total,
            start_step: self.step,
        };
        for observer in observers.iter_mut() {
            observer.on_start(&info)?;
        }
        let mut rng = self.take_rng();
        let looped = self.steps_loop(source, &mut rng, observers, &mut all);
        self.rng = rng;
        let (metrics, stopped_after) = looped?;
        let summary = RunSummary { steps: self.step };
        for hook in all.iter_mut() {
            hook.on_end(self, &summary)?;
        }
        for observer in observers.iter_mut() {
            observer.on_end(&summary)?;
        }
        drop(all);
        Ok(FitSummary {
            steps: self.step,
            metrics,
            checkpoint: policy.and_then(|p| p.written().cloned()),
            stopped_after,
        })
    }

    /// The steps of [`fit_with_hooks`](Self::fit_with_hooks): the steps reported to the
    /// observers, and the step a hook stopped the run after, if one did.
    fn steps_loop(
        &mut self,
        source: &mut dyn SampleSource<D>,
        rng: &mut HostRng,
        observers: &mut [&mut dyn Observer],
        hooks: &mut [&mut dyn Hook<G, C, D>],
    ) -> Result<(Vec<StepMetrics>, Option<usize>), TrainError> {
        let total = self.total_steps;
        let mut reported = Vec::new();
        for step in self.step + 1..=total {
            let last = step == total;
            let logged = last || step % self.log_every == 0;
            // Every hook is asked (no short cut): each sees every step.
            let measured = hooks
                .iter_mut()
                .fold(logged, |m, hook| hook.measures(step, total) | m);
            let measured = self.step_with(source, rng, measured);
            if let Some(error) = self.refused.take() {
                return Err(error);
            }
            if let Some(mut metrics) = measured {
                // On a non-finite value the last checkpoint stays as it was (it holds finite
                // weights) and the observers hear what went wrong.
                self.vet(&metrics, observers)?;
                // A step that skipped an update is always reported.
                let mut report = logged || metrics.skipped_updates > 0;
                for hook in hooks.iter_mut() {
                    report |= hook.on_metrics(self, &mut metrics)?;
                }
                if report {
                    for observer in observers.iter_mut() {
                        observer.on_step(&metrics)?;
                    }
                    reported.push(metrics);
                }
            }
            let stopping = !last && hooks.iter_mut().fold(false, |s, h| h.stops_after(step) | s);
            let end = StepEnd {
                step,
                total,
                rng,
                stopping,
            };
            let mut allocated = false;
            for hook in hooks.iter_mut() {
                allocated |= hook.after_step(self, &end, observers)?.allocated;
            }
            if allocated {
                // Evaluations, sample grids and checkpoints allocate in shapes the training
                // step does not (batches of 500 images, whole-model reads): a pooled device
                // (wgpu, CUDA) keeps the pages they grew as long as the run lasts unless asked
                // to give back the empty ones (docs/reliability.md, Soak). A no-op on the CPU
                // backends.
                self.device().memory_cleanup();
            }
            if stopping {
                return Ok((reported, Some(step)));
            }
        }
        Ok((reported, None))
    }

    /// Writes the whole training state as checkpoint `dir/step-NNNNNNNN/` (the current step)
    /// and points `dir/latest` at it; older checkpoints in `dir` are kept. Returns the
    /// checkpoint's directory.
    ///
    /// The state: both modules with their buffers (`generator.bpk`, `discriminator.bpk`,
    /// Burn's burnpack), both optimizer states (safetensors), the moving average when kept
    /// (`generator_ema.bpk`) and `state.json` (format version, step, the trainer's RNG
    /// position, the device). Written atomically: a crash leaves the previous checkpoint
    /// intact.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<PathBuf, TrainError> {
        let state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            step: self.step,
            rng: self.rng.state(),
            sampler: None,
            backend: format!("{:?}", self.device),
            trainer: Some(self.identity()),
        };
        write_checkpoint(dir, &self.checkpoint_parts()?, &state, usize::MAX)
    }

    /// The serialised modules and optimizer states of a checkpoint, by file name.
    pub(crate) fn checkpoint_parts(&self) -> Result<Vec<(&'static str, Vec<u8>)>, TrainError> {
        let state_bytes = |optimizer: &Optimizer| {
            optimizer
                .state_bytes()
                .map_err(|e| TrainError::Output(format!("cannot serialise an optimizer: {e}")))
        };
        let mut parts = vec![
            (files::GENERATOR, module_bytes(self.generator())?),
            (files::DISCRIMINATOR, module_bytes(self.discriminator())?),
            (files::OPTIMIZER_G, state_bytes(&self.optimizer_g)?),
            (files::OPTIMIZER_D, state_bytes(&self.optimizer_d)?),
        ];
        if let Some((ema, _)) = &self.ema {
            parts.push((files::EMA, module_bytes(ema)?));
        }
        if let Some(augment) = &self.augment {
            let json = serde_json::to_vec_pretty(&augment.state()).map_err(|e| {
                TrainError::Output(format!("cannot encode the augmentation state: {e}"))
            })?;
            parts.push((files::AUGMENT, json));
        }
        Ok(parts)
    }

    /// Restores the training state from the newest complete checkpoint under `dir` (a
    /// checkpoint directory, or one holding `step-N/` directories and `latest`): both
    /// modules, both optimizer states, the moving average, the step and the trainer's RNG
    /// position. Returns the checkpoint's step. The trainer must have been built as the one
    /// that wrote it (same module shapes, optimizer kinds, moving average or not); the
    /// trainer is unchanged when anything does not fit.
    pub fn load_checkpoint(&mut self, dir: &Path) -> Result<usize, TrainError> {
        let found = find_checkpoint(dir)?;
        let state = read_checkpoint_state(&found)?;
        self.restore(&found, &state)?;
        Ok(state.step)
    }

    /// [`load_checkpoint`](Self::load_checkpoint) of checkpoint directory `found` (as
    /// [`find_checkpoint`] returns it) whose `state.json` the caller has already read into
    /// `state` ([`read_checkpoint_state`]): the modules, optimizer states, moving average,
    /// step and RNG position, all or nothing.
    pub fn restore(&mut self, found: &Path, state: &CheckpointState) -> Result<(), TrainError> {
        self.load_parts(found, state)?;
        self.step = state.step;
        self.rng = HostRng::from_state(&state.rng);
        Ok(())
    }

    /// Loads the modules, optimizer states and moving average of checkpoint directory
    /// `found`, whose `state.json` says `state`, into the trainer, all or nothing; refuses a
    /// checkpoint written by a trainer built differently.
    fn load_parts(&mut self, found: &Path, state: &CheckpointState) -> Result<(), TrainError> {
        if let Some(written) = &state.trainer {
            written.check_matches(&self.identity(), found)?;
        }
        let generator = load_module(self.generator().clone(), &found.join(files::GENERATOR))?;
        let discriminator = load_module(
            self.discriminator().clone(),
            &found.join(files::DISCRIMINATOR),
        )?;
        let optimizer_g = load_optimizer(
            &self.optimizer_g,
            &found.join(files::OPTIMIZER_G),
            &generator,
            &self.device,
        )?;
        let optimizer_d = load_optimizer(
            &self.optimizer_d,
            &found.join(files::OPTIMIZER_D),
            &discriminator,
            &self.device,
        )?;
        let ema_path = found.join(files::EMA);
        let ema = match &self.ema {
            Some((ema, _)) => {
                if !ema_path.is_file() {
                    return Err(TrainError::config(format!(
                        "checkpoint {} has no moving average ({}), but this trainer keeps one; \
                         build it without with_ema, as the run that wrote the checkpoint",
                        found.display(),
                        files::EMA
                    )));
                }
                Some(load_module(ema.clone(), &ema_path)?)
            }
            None => None,
        };
        // Last, so that nothing can fail after it: the augmentation is unchanged on an error.
        if let Some(augment) = self.augment.as_mut() {
            load_augment_state(augment.as_mut(), found)?;
        }
        self.generator = Some(generator);
        self.discriminator = Some(discriminator);
        self.optimizer_g = optimizer_g;
        self.optimizer_d = optimizer_d;
        if let (Some((current, _)), Some(ema)) = (self.ema.as_mut(), ema) {
            *current = ema;
        }
        Ok(())
    }

    /// Consumes the trainer and returns the generator and the discriminator.
    pub fn into_parts(self) -> (G, C) {
        (
            self.generator.expect("generator present between steps"),
            self.discriminator
                .expect("discriminator present between steps"),
        )
    }
}

/// Restores `augment`'s state from `augment.json` of checkpoint directory `found`.
fn load_augment_state<const D: usize>(
    augment: &mut dyn Augment<D>,
    found: &Path,
) -> Result<(), TrainError> {
    let path = found.join(files::AUGMENT);
    let damaged = |what: String| {
        TrainError::checkpoint(
            found,
            crate::CheckpointFault::Damaged,
            format!(
                "checkpoint file {} {what}; delete {} to resume from the checkpoint before it, \
                 or start the run again",
                path.display(),
                found.display()
            ),
        )
    };
    if !path.is_file() {
        return Err(TrainError::config(format!(
            "checkpoint {} has no augmentation state ({}), but this trainer augments; build it \
             without with_augment, as the run that wrote the checkpoint",
            found.display(),
            files::AUGMENT
        )));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| TrainError::io("cannot read augmentation state", &path, e))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| damaged(format!("is corrupt: {e}")))?;
    augment
        .load_state(&value)
        .map_err(|e| damaged(format!("does not fit this augmentation: {e}")))
}

/// Whether `module` has float tensors but none of them on an autodiff device (it was built
/// on the plain device, so no gradient would reach it). Buffers, such as a spectral norm's
/// power-iteration vector, may live outside autodiff in a module built correctly.
fn untracked_parameter<M: Module>(module: &M) -> bool {
    #[derive(Default)]
    struct Count {
        tensors: usize,
        tracked: usize,
    }
    impl ModuleVisitor for Count {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            self.tensors += 1;
            self.tracked += usize::from(param.val().is_autodiff());
        }
    }
    let mut count = Count::default();
    module.visit(&mut count);
    count.tensors > 0 && count.tracked == 0
}

/// The shape of one sample of `generator` (without the batch dimension), from one forward
/// pass on a zero latent code outside autodiff.
fn sample_dims<G: Generator<D>, const D: usize>(generator: &G, device: &Device) -> Vec<usize> {
    let device = device.clone().without_autodiff();
    let generator = generator.valid();
    let z = Tensor::<2>::zeros([1, generator.latent_dim()], &device);
    let labels = (generator.num_classes() > 0).then(|| Tensor::<1, Int>::zeros([1], &device));
    generate(&generator, z, labels).dims()[1..].to_vec()
}

/// The last segment of a type's path, generics included (`MlpGenerator`).
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    let short = base.rsplit("::").next().unwrap_or(base);
    format!("{short}{}", &full[base.len()..])
}

/// Runs `generator` outside autodiff on `device` for latent codes `[n, latent_dim]` (host,
/// row-major) and, for a conditional generator, labels `[n]`; returns the samples row-major.
/// Call it with a generator in evaluation mode (`module.valid()`).
pub fn generate_on_host<G: Generator<D>, const D: usize>(
    generator: &G,
    latent: &[f32],
    labels: Option<&[usize]>,
    device: &Device,
) -> Vec<f32> {
    let latent_dim = generator.latent_dim();
    let n = latent.len() / latent_dim.max(1);
    let device = device.clone().without_autodiff();
    let z = Tensor::from_data(TensorData::new(latent.to_vec(), [n, latent_dim]), &device);
    let labels = labels.map(|labels| {
        let labels: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
        Tensor::<1, Int>::from_data(TensorData::new(labels, [n]), &device)
    });
    generate(generator, z, labels)
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap_or_default()
}

/// G(z), or G(z, y) for labelled generation.
fn generate<G: Generator<D>, const D: usize>(
    generator: &G,
    z: Tensor<2>,
    labels: Option<Tensor<1, Int>>,
) -> Tensor<D> {
    match labels {
        Some(labels) => generator.forward_labeled(z, labels),
        None => generator.forward(z),
    }
}

/// The critic's logits on two batches with their labels (the real and the fake batch of an
/// update): one forward over the two interleaved along the batch dimension when `stack` is
/// asked for, the critic [judges stacked batches](Discriminator::judges_stacked_batches) and
/// the batches agree in shape, in whole packs and in having labels, else one forward each.
/// `([b, …], labels), ([b, …], labels) → ([n, 1], [n, 1])`, n = b / samples per logit.
///
/// Interleaved pack by pack (first₀, second₀, first₁, second₁, …), not concatenated: a
/// relativistic loss gives the two logits of a pair gradients of opposite sign and equal
/// size, so the critic's last bias has an exactly zero gradient when judged once per batch.
/// Summed over a concatenated batch those gradients cancel only up to a rounding that differs
/// between backends, which Adam scales up to full-size steps; summed over interleaved pairs
/// they cancel exactly (measured on flex, ndarray and wgpu), as they do unstacked.
///
/// A stacked forward that gives other than one logit per `samples_per_logit` samples comes
/// from a critic that packs samples without saying so: its packs mixed the two batches, and
/// the result is a [`TrainError::Config`] naming the fix, not logits.
pub(crate) fn judge_pair<C: Discriminator<D>, const D: usize>(
    critic: &C,
    (first, first_labels): (Tensor<D>, Option<Tensor<1, Int>>),
    (second, second_labels): (Tensor<D>, Option<Tensor<1, Int>>),
    stack: bool,
) -> Result<(Tensor<2>, Tensor<2>), TrainError> {
    let pack = critic.samples_per_logit().max(1);
    let stack = stack
        && critic.judges_stacked_batches()
        && first.dims() == second.dims()
        && first.dims()[0].is_multiple_of(pack)
        && first_labels.is_some() == second_labels.is_some();
    if !stack {
        return Ok((
            judge(critic, first, first_labels),
            judge(critic, second, second_labels),
        ));
    }
    let samples = 2 * first.dims()[0];
    let labels = first_labels
        .zip(second_labels)
        .map(|(a, b)| interleave(a, b, pack));
    let logits = judge(critic, interleave(first, second, pack), labels);
    let n = logits.dims()[0];
    if n * pack != samples {
        return Err(TrainError::config(format!(
            "the critic {} gave {n} logits for {samples} samples judged in one stacked forward, \
             not the {} that its samples_per_logit() of {pack} implies: a critic that judges \
             packs of samples must return its pack size from \
             Discriminator::samples_per_logit (or answer false from judges_stacked_batches, \
             or turn stack_batches off)",
            short_type_name::<C>(),
            samples / pack
        )));
    }
    let pairs = logits.reshape([n / 2, 2]);
    Ok((pairs.clone().narrow(1, 0, 1), pairs.narrow(1, 1, 1)))
}

/// Two batches of equal shape (samples or their labels) interleaved along the batch
/// dimension in packs of `pack` samples: `[b, …], [b, …] → [2b, …]` with the packs first₀,
/// second₀, first₁, second₁, ….
fn interleave<const D: usize, K: Basic>(
    first: Tensor<D, K>,
    second: Tensor<D, K>,
    pack: usize,
) -> Tensor<D, K> {
    let mut dims = first.dims();
    let packs = dims[0] / pack;
    let size = pack * dims[1..].iter().product::<usize>();
    let pairs = Tensor::cat(
        vec![
            first.reshape([packs, 1, size]),
            second.reshape([packs, 1, size]),
        ],
        1,
    );
    dims[0] *= 2;
    pairs.reshape(dims)
}

/// D(x), or D(x, y) for labelled samples.
fn judge<C: Discriminator<D>, const D: usize>(
    critic: &C,
    x: Tensor<D>,
    labels: Option<Tensor<1, Int>>,
) -> Tensor<2> {
    match labels {
        Some(labels) => critic.forward_labeled(x, labels),
        None => critic.forward(x),
    }
}

/// Clamps every float parameter of `module` to [−bound, bound] (WGAN's weight clipping). On an
/// autodiff device the clamp happens outside the graph: the clipped weights are fresh leaves.
pub fn clip_parameters<M: Module>(module: M, bound: f64) -> M {
    struct Clip(f64);
    impl ModuleMapper for Clip {
        fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
            let bound = self.0;
            param.map(|tensor| {
                if !tensor.is_autodiff() {
                    return tensor.clamp(-bound, bound);
                }
                let tracked = tensor.is_require_grad();
                let clipped = Tensor::from_inner(tensor.inner().clamp(-bound, bound));
                if tracked {
                    clipped.require_grad()
                } else {
                    clipped
                }
            })
        }
    }
    module.map(&mut Clip(bound))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Schedule, Scheduled, Shape};
    use burn::module::{Module, ModuleVisitor, Param};
    use burngan_backend::{BackendKind, device};
    use burngan_data::{GaussianMixture, ToyConfig};
    use burngan_losses::LossConfig;
    use burngan_models::{
        MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig,
    };

    type ToyTrainer = GanTrainer<MlpGenerator, MlpDiscriminator, 2>;

    /// Every float parameter of `module`, flattened in visiting order.
    pub(crate) fn parameters<M: Module>(module: &M) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl ModuleVisitor for Collect {
            fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
                self.0
                    .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
            }
        }
        let mut collect = Collect(Vec::new());
        module.visit(&mut collect);
        collect.0
    }

    fn adam(lr: f64) -> OptimizerConfig {
        OptimizerConfig::adam(lr, 0.5, 0.999)
    }

    /// A 2 → 16 → 2 generator against a 2 → 16 → 1 critic on the ring, on flex.
    fn toy_trainer(
        seed: u64,
        batch_size: usize,
        critic_steps: usize,
        optimizer: OptimizerConfig,
        loss: LossConfig,
    ) -> (ToyTrainer, HostRng, GaussianMixture) {
        let settings = TrainerSettings {
            batch_size,
            critic_steps,
            generator_optimizer: optimizer.clone(),
            discriminator_optimizer: optimizer,
            ..TrainerSettings::default()
        };
        let (trainer, rng) = toy_trainer_with(seed, &settings, loss);
        (trainer, rng, ToyConfig::default_ring().build().unwrap())
    }

    /// The 2 → 16 → 2 generator and 2 → 16 → 1 critic of [`toy_trainer`] under `settings`,
    /// and the RNG after the weights were drawn.
    fn toy_trainer_with(
        seed: u64,
        settings: &TrainerSettings,
        loss: LossConfig,
    ) -> (ToyTrainer, HostRng) {
        let device = device(BackendKind::Flex).unwrap().autodiff();
        let mut rng = HostRng::seed_from(seed);
        let generator = MlpGeneratorConfig::new(2, vec![16])
            .init(2, &mut rng, &device)
            .unwrap();
        let critic = MlpDiscriminatorConfig::new(vec![16])
            .init(2, &mut rng, &device)
            .unwrap();
        let trainer = GanTrainer::new(generator, critic, loss.build(), settings, &device).unwrap();
        (trainer, rng)
    }

    /// The ring, except that the real batches of draws `poisoned` (counted from 0) are NaN.
    struct Poisoned {
        ring: GaussianMixture,
        draws: usize,
        poisoned: std::ops::RangeFrom<usize>,
        until: usize,
    }

    impl SampleSource<2> for Poisoned {
        fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
            let real = self.ring.sample(batch, rng, device);
            let draw = self.draws;
            self.draws += 1;
            if self.poisoned.contains(&draw) && draw < self.until {
                real.mul_scalar(f32::NAN)
            } else {
                real
            }
        }
    }

    #[test]
    fn skip_leaves_both_networks_as_they_were_and_goes_on() {
        // Non-saturating loss, K = 1: the generator update never reads a real batch, so real
        // draw n is the discriminator batch of step n + 1. Draw 2 (step 3) is NaN.
        let (mut trainer, mut rng, ring) =
            toy_trainer(11, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        trainer.on_non_finite = NonFinitePolicy::Skip;
        let mut source = Poisoned {
            ring,
            draws: 0,
            poisoned: 2..,
            until: 3,
        };
        for _ in 0..2 {
            let m = trainer.step_with(&mut source, &mut rng, false).unwrap();
            assert_eq!(m.skipped_updates, 0, "{m:?}");
        }
        let d_before = parameters(trainer.discriminator());
        let g_before = parameters(trainer.generator());
        // Under `Skip` the step is measured although `record` is false.
        let m = trainer.step_with(&mut source, &mut rng, false).unwrap();
        assert_eq!(m.step, 3);
        assert_eq!(m.skipped_updates, 1, "{m:?}");
        assert!(m.loss_d.is_nan() && m.grad_norm_d.is_nan(), "{m:?}");
        assert!(m.loss_g.is_finite() && m.grad_norm_g.is_finite(), "{m:?}");
        assert_eq!(
            parameters(trainer.discriminator()),
            d_before,
            "the NaN discriminator update was skipped"
        );
        assert_ne!(
            parameters(trainer.generator()),
            g_before,
            "the finite generator update was applied"
        );
        assert!(trainer.vet(&m, &mut []).is_ok(), "one skipped step goes on");
        let m = trainer.step_with(&mut source, &mut rng, false).unwrap();
        assert_eq!(m.skipped_updates, 0);
        assert_eq!(m.first_non_finite(), None, "{m:?}");
        assert_ne!(parameters(trainer.discriminator()), d_before);
    }

    #[test]
    fn stop_names_the_step_and_the_quantity() {
        let (mut trainer, mut rng, ring) =
            toy_trainer(11, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        let mut source = Poisoned {
            ring,
            draws: 0,
            poisoned: 2..,
            until: 3,
        };
        for step in 1..=3 {
            let m = trainer
                .step_with(&mut source, &mut rng, step == 3)
                .map(|m| {
                    assert_eq!(m.skipped_updates, 0, "Stop never skips");
                    trainer.vet(&m, &mut [])
                });
            if step < 3 {
                assert!(m.is_none(), "Stop measures only recorded steps");
            } else {
                match m {
                    Some(Err(TrainError::NonFinite { step, quantity, .. })) => {
                        assert_eq!((step, quantity), (3, "loss_d"));
                    }
                    other => panic!("expected NonFinite, got {other:?}"),
                }
            }
        }
    }

    #[test]
    fn skip_gives_up_after_max_skipped_steps_in_a_row() {
        let (trainer, _, ring) = toy_trainer(11, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        let settings = TrainerSettings {
            batch_size: 32,
            steps: 100,
            log_every: 50,
            on_non_finite: NonFinitePolicy::Skip,
            ..TrainerSettings::default()
        };
        let (generator, critic) = (trainer.generator().clone(), trainer.discriminator().clone());
        let device = trainer.device().clone();
        let mut trainer = GanTrainer::new(
            generator,
            critic,
            LossConfig::NonSaturating.build(),
            &settings,
            &device,
        )
        .unwrap();
        // Every real batch from draw 4 (step 5) on is NaN.
        let mut source = Poisoned {
            ring,
            draws: 0,
            poisoned: 4..,
            until: usize::MAX,
        };
        let mut jsonl = Recorder::default();
        let error = trainer.fit(&mut source, &mut [&mut jsonl]).unwrap_err();
        match error {
            TrainError::TooManySkipped { step, steps } => {
                assert_eq!((step, steps), (4 + MAX_SKIPPED_STEPS, MAX_SKIPPED_STEPS));
            }
            other => panic!("expected TooManySkipped, got {other}"),
        }
        // Every skipped step before the last was reported although log_every is 50; the last
        // one was reported as the stop.
        let steps: Vec<usize> = jsonl.steps.iter().map(|m| m.step).collect();
        assert_eq!(steps, (5..4 + MAX_SKIPPED_STEPS).collect::<Vec<_>>());
        assert!(jsonl.steps.iter().all(|m| m.skipped_updates == 1));
        assert_eq!(
            jsonl.stopped,
            Some((4 + MAX_SKIPPED_STEPS, "loss_d".into()))
        );
    }

    /// Keeps what an observer is told.
    #[derive(Default)]
    struct Recorder {
        steps: Vec<StepMetrics>,
        stopped: Option<(usize, String)>,
    }

    impl Observer for Recorder {
        fn on_step(&mut self, metrics: &StepMetrics) -> Result<(), TrainError> {
            self.steps.push(metrics.clone());
            Ok(())
        }

        fn on_non_finite(
            &mut self,
            metrics: &StepMetrics,
            quantity: &str,
            _value: f64,
        ) -> Result<(), TrainError> {
            self.stopped = Some((metrics.step, quantity.to_string()));
            Ok(())
        }
    }

    #[test]
    fn each_update_changes_only_its_own_network() {
        let (mut trainer, mut rng, mut ring) =
            toy_trainer(4, 32, 3, adam(1e-2), LossConfig::NonSaturating);
        let (g0, d0) = (
            parameters(trainer.generator()),
            parameters(trainer.discriminator()),
        );
        trainer.train_discriminator(&mut ring, &mut rng).unwrap();
        let (g1, d1) = (
            parameters(trainer.generator()),
            parameters(trainer.discriminator()),
        );
        assert_eq!(
            g1, g0,
            "the generator is frozen during a discriminator update"
        );
        assert_ne!(d1, d0);
        trainer.train_generator(&mut ring, &mut rng).unwrap();
        let (g2, d2) = (
            parameters(trainer.generator()),
            parameters(trainer.discriminator()),
        );
        assert_eq!(
            d2, d1,
            "the discriminator is frozen during a generator update"
        );
        assert_ne!(g2, g1);
        // The frozen copy used in the generator update must not disable later critic updates.
        trainer.train_discriminator(&mut ring, &mut rng).unwrap();
        assert_ne!(parameters(trainer.discriminator()), d2);
    }

    /// A trainer as [`toy_trainer`]'s (batch 32, SGD lr 0.05, non-saturating loss) with the
    /// given update order, and the RNG after the weights were drawn.
    fn ordered_trainer(seed: u64, updates: UpdateOrder) -> (ToyTrainer, HostRng) {
        let settings = TrainerSettings {
            batch_size: 32,
            generator_optimizer: OptimizerConfig::sgd(0.05),
            discriminator_optimizer: OptimizerConfig::sgd(0.05),
            updates,
            ..TrainerSettings::default()
        };
        toy_trainer_with(seed, &settings, LossConfig::NonSaturating)
    }

    /// A simultaneous step makes the alternating step's discriminator update (same real batch
    /// and noise), and the generator update an alternating trainer makes against the *old*
    /// discriminator on that same noise — bit for bit; the alternating step's generator (fresh
    /// noise, updated critic) differs.
    #[test]
    fn a_simultaneous_step_takes_both_gradients_at_the_same_point() {
        for seed in [3, 8] {
            let ring = || ToyConfig::default_ring().build().unwrap();
            let (mut simultaneous, rng) = ordered_trainer(seed, UpdateOrder::Simultaneous);
            let (mut alternating, _) = ordered_trainer(seed, UpdateOrder::Alternating);
            let (mut reference, _) = ordered_trainer(seed, UpdateOrder::Alternating);
            simultaneous.step_with(&mut ring(), &mut rng.clone(), false);
            alternating.step_with(&mut ring(), &mut rng.clone(), false);
            // The reference skips the real batch the discriminator update drew, then draws
            // the same noise for its generator update, against the untouched critic.
            let mut skip = rng.clone();
            ring().sample(32, &mut skip, reference.device());
            reference.train_generator(&mut ring(), &mut skip).unwrap();
            let d = parameters(simultaneous.discriminator());
            assert_eq!(d, parameters(alternating.discriminator()), "seed {seed}");
            assert_ne!(d, parameters(reference.discriminator()), "seed {seed}");
            let g = parameters(simultaneous.generator());
            assert_eq!(g, parameters(reference.generator()), "seed {seed}");
            assert_ne!(g, parameters(alternating.generator()), "seed {seed}");
            assert_eq!(simultaneous.steps_done(), 1);
        }
    }

    /// Two simultaneous steps, a checkpoint, and two more in a fresh trainer give the weights
    /// of four uninterrupted steps bit for bit; an alternating trainer refuses the checkpoint,
    /// naming the update order.
    #[test]
    fn a_simultaneous_run_resumes_bit_for_bit_and_only_as_simultaneous() {
        let ring = || ToyConfig::default_ring().build().unwrap();
        let (mut straight, rng) = ordered_trainer(5, UpdateOrder::Simultaneous);
        let mut straight_rng = rng.clone();
        let mut source = ring();
        for _ in 0..4 {
            straight.step_with(&mut source, &mut straight_rng, false);
        }
        let (mut first, _) = ordered_trainer(5, UpdateOrder::Simultaneous);
        let (mut split_rng, mut source) = (rng.clone(), ring());
        for _ in 0..2 {
            first.step_with(&mut source, &mut split_rng, false);
        }
        let dir = tempfile::tempdir().unwrap();
        first.save_checkpoint(dir.path()).unwrap();
        let (mut second, _) = ordered_trainer(5, UpdateOrder::Simultaneous);
        assert_eq!(second.load_checkpoint(dir.path()).unwrap(), 2);
        for _ in 0..2 {
            second.step_with(&mut source, &mut split_rng, false);
        }
        assert_eq!(
            parameters(second.generator()),
            parameters(straight.generator())
        );
        assert_eq!(
            parameters(second.discriminator()),
            parameters(straight.discriminator())
        );
        let (mut other, _) = ordered_trainer(5, UpdateOrder::Alternating);
        let error = other.load_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("update order simultaneous there, alternating here"),
            "{error}"
        );
        // A checkpoint of an earlier build records no order and is not judged by it.
        let earlier = TrainerIdentity {
            updates: None,
            ..second.identity()
        };
        assert!(earlier.check_matches(&other.identity(), dir.path()).is_ok());
        let json = serde_json::to_value(&earlier).unwrap();
        assert!(json.get("updates").is_none(), "{json}");
    }

    #[test]
    fn simultaneous_updates_need_one_critic_step() {
        let settings = TrainerSettings {
            critic_steps: 5,
            updates: UpdateOrder::Simultaneous,
            ..TrainerSettings::default()
        };
        assert_eq!(
            settings.validate().unwrap_err().to_string(),
            TrainError::config(
                "TrainerSettings::updates = Simultaneous takes both gradients at one point, so \
                 it needs critic_steps = 1, got 5; set critic_steps to 1 or use Alternating"
            )
            .to_string()
        );
    }

    /// Ring points with a third coordinate: samples of shape [3] for networks of shape [2].
    struct ThreeWide(GaussianMixture);

    impl SampleSource<2> for ThreeWide {
        fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
            let real = self.0.sample(batch, rng, device);
            Tensor::cat(vec![real, Tensor::zeros([batch, 1], device)], 1)
        }
    }

    /// Driven one update at a time, each update reports a misshapen real batch itself (not at
    /// the next `step`), names the shapes, and leaves both networks bit for bit as they were;
    /// the generator update checks the batch only where its loss reads one (RSGAN).
    #[test]
    fn single_updates_report_a_misshapen_batch_and_change_nothing() {
        let (mut trainer, mut rng, ring) = toy_trainer(5, 32, 1, adam(1e-2), LossConfig::Rsgan);
        let mut wide = ThreeWide(ring);
        let before = (
            parameters(trainer.generator()),
            parameters(trainer.discriminator()),
        );
        for generator in [false, true] {
            let error = if generator {
                trainer.train_generator(&mut wide, &mut rng)
            } else {
                trainer.train_discriminator(&mut wide, &mut rng)
            }
            .unwrap_err();
            assert!(matches!(error, TrainError::Config { .. }), "{error}");
            let message = error.to_string();
            assert!(message.contains("[32, 3]"), "{message}");
            assert!(message.contains("must be [n, 2]"), "{message}");
            let after = (
                parameters(trainer.generator()),
                parameters(trainer.discriminator()),
            );
            assert_eq!(after, before, "generator update: {generator}");
        }
        // The refusal is not kept: the next well-shaped update runs and reports nothing.
        trainer.train_discriminator(&mut wide.0, &mut rng).unwrap();
        assert_ne!(parameters(trainer.discriminator()), before.1);
        // NS never reads a real batch in the generator update, so nothing is checked there.
        let (mut trainer, mut rng, ring) =
            toy_trainer(5, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        trainer
            .train_generator(&mut ThreeWide(ring), &mut rng)
            .unwrap();
    }

    #[test]
    fn wgan_clipping_bounds_every_critic_weight_after_each_update() {
        let rmsprop = OptimizerConfig::rmsprop(5e-5);
        let (mut trainer, mut rng, mut ring) =
            toy_trainer(6, 32, 5, rmsprop, LossConfig::Wgan { clip: 0.01 });
        // PyTorch-default init bounds are 1/sqrt(2) and 1/4, far outside the clip.
        assert!(
            parameters(trainer.discriminator())
                .iter()
                .any(|w| w.abs() > 0.2)
        );
        trainer.train_discriminator(&mut ring, &mut rng).unwrap();
        let clipped = parameters(trainer.discriminator());
        assert!(
            clipped.iter().all(|w| w.abs() <= 0.01),
            "a weight escaped the clip"
        );
        assert!(clipped.iter().filter(|w| w.abs() == 0.01).count() > clipped.len() / 2);
        // Clipped weights are still trainable leaves.
        let m = trainer.step_with(&mut ring, &mut rng, true).unwrap();
        assert!(m.grad_norm_d > 0.0 && m.grad_norm_g > 0.0, "{m:?}");
        assert_ne!(parameters(trainer.discriminator()), clipped);
    }

    #[test]
    fn clipping_a_module_on_a_plain_device_keeps_it_plain() {
        let device = device(BackendKind::Flex).unwrap();
        let critic = MlpDiscriminatorConfig::new(vec![8])
            .init(2, &mut HostRng::seed_from(2), &device)
            .unwrap();
        let before = parameters(&critic);
        let clipped = clip_parameters(critic, 0.05);
        let expected: Vec<f32> = before.iter().map(|w| w.clamp(-0.05, 0.05)).collect();
        assert_eq!(parameters(&clipped), expected);
        assert!(!clipped.layers[0].linear.weight.val().is_autodiff());
    }

    /// σ_max of a row-major `[rows, cols]` matrix by 2000 power iterations in f64.
    fn largest_singular_value(w: &[f32], rows: usize, cols: usize) -> f64 {
        let mut v = vec![1.0f64; cols];
        let mut sigma = 0.0;
        for _ in 0..2000 {
            let u: Vec<f64> = (0..rows)
                .map(|i| (0..cols).map(|j| f64::from(w[i * cols + j]) * v[j]).sum())
                .collect();
            let wt_u: Vec<f64> = (0..cols)
                .map(|j| (0..rows).map(|i| f64::from(w[i * cols + j]) * u[i]).sum())
                .collect();
            let norm = wt_u.iter().map(|x| x * x).sum::<f64>().sqrt();
            sigma = norm.sqrt();
            v = wt_u.iter().map(|x| x / norm).collect();
        }
        sigma
    }

    #[test]
    fn spectral_norm_sigmas_are_logged_and_track_the_largest_singular_value() {
        let device = device(BackendKind::Flex).unwrap().autodiff();
        let mut rng = HostRng::seed_from(12);
        let generator = MlpGeneratorConfig::new(2, vec![16])
            .init(2, &mut rng, &device)
            .unwrap();
        let critic = MlpDiscriminatorConfig::new(vec![24, 16])
            .with_normalization(burngan_models::Normalization::Spectral)
            .init(2, &mut rng, &device)
            .unwrap();
        let settings = TrainerSettings {
            batch_size: 64,
            critic_steps: 2,
            generator_optimizer: adam(1e-3),
            discriminator_optimizer: adam(1e-5),
            ..TrainerSettings::default()
        };
        let loss = LossConfig::Hinge.build();
        let mut trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
        let mut ring = ToyConfig::default_ring().build().unwrap();
        let mut last = None;
        for step in 1..=25 {
            last = trainer.step_with(&mut ring, &mut rng, step == 25);
        }
        let metrics = last.unwrap();
        let names: Vec<&str> = metrics.diagnostics.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["sigma.layers.0", "sigma.layers.1", "sigma.layers.2"]
        );
        for (i, layer) in trainer.discriminator().layers.iter().enumerate() {
            let [rows, cols] = layer.linear.weight.dims();
            let w: Vec<f32> = layer.linear.weight.val().into_data().try_to_vec().unwrap();
            let exact = largest_singular_value(&w, rows, cols);
            let logged = metrics.diagnostics[&format!("sigma.layers.{i}")];
            // 100 training forwards (two per critic update) advanced u while W moved slowly
            // (critic lr 1e-5). At lr 1e-3 the estimate lags the moving weights by a few per
            // cent, as one power iteration per forward does in any implementation.
            assert!(
                (logged - exact).abs() < 1e-3 * exact,
                "layer {i}: logged σ {logged}, exact {exact}"
            );
        }
    }

    #[test]
    fn the_moving_average_follows_its_recurrence() {
        let (trainer, mut rng, mut ring) =
            toy_trainer(9, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        let decay = 0.3;
        let mut trainer = trainer.with_ema(decay, true).unwrap();
        let mut expected = parameters(trainer.generator());
        assert_eq!(parameters(trainer.ema().unwrap()), expected);
        for t in 1..=4 {
            trainer.step_with(&mut ring, &mut rng, false);
            let current = parameters(trainer.generator());
            // θ_ema ← β·θ_ema + (1 − β)·θ with the warm-up β = min(d, (1 + t)/(10 + t)):
            // 2/11 and 3/12 for t = 1, 2, then the cap d = 0.3 (4/13 > 0.3).
            let beta = decay.min((1.0 + t as f64) / (10.0 + t as f64));
            for (e, c) in expected.iter_mut().zip(&current) {
                *e = *e * beta as f32 + *c * (1.0 - beta) as f32;
            }
            let ema = parameters(trainer.ema().unwrap());
            let worst = ema
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-6, "max deviation {worst}");
            assert_ne!(ema, current);
        }
        for bad in [-0.1, 1.0, f64::NAN] {
            let (t, _, _) = toy_trainer(9, 8, 1, adam(1e-2), LossConfig::NonSaturating);
            let error = t.with_ema(bad, false).err().unwrap().to_string();
            assert!(error.contains("ema.decay must be in [0, 1)"), "{error}");
        }
    }

    /// StyleGAN2-ADA's half-life rule: β = 0.5^(batch / min(h, r·images seen)), images seen
    /// = steps done × batch; at the first update nothing has been seen, so β = 0 (a copy).
    #[test]
    fn the_half_life_average_follows_stylegan2_adas_rule() {
        let (trainer, mut rng, mut ring) =
            toy_trainer(9, 32, 1, adam(1e-2), LossConfig::NonSaturating);
        let rule = EmaRule::HalfLife {
            images: 200.0.into(),
            ramp: Some(2.0),
        };
        let mut trainer = trainer.with_ema_rule(rule).unwrap();
        let mut expected = parameters(trainer.generator());
        for step in 0..4usize {
            trainer.step_with(&mut ring, &mut rng, false);
            let current = parameters(trainer.generator());
            // h′ = min(200, 2·32·step): 0, 64, 128, 192 images.
            let half_life = (2.0 * 32.0 * step as f64).min(200.0);
            let beta = 0.5f64.powf(32.0 / half_life.max(1e-8));
            for (e, c) in expected.iter_mut().zip(&current) {
                *e = *e * beta as f32 + *c * (1.0 - beta) as f32;
            }
            let ema = parameters(trainer.ema().unwrap());
            let worst = ema
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(worst < 1e-6, "step {step}: max deviation {worst}");
        }
    }

    /// A lazy R1 (every 4, weight × 4) on the update where it runs equals 4 times the eager
    /// R1 on the same weights and batch; on the next update it is absent.
    #[test]
    fn a_lazy_penalty_is_n_times_the_eager_one_where_it_runs() {
        let r1 = burngan_losses::PenaltyConfig::R1 { gamma: 0.5 };
        let (eager, mut rng_a, mut ring_a) =
            toy_trainer(4, 32, 1, adam(1e-3), LossConfig::NonSaturating);
        let (lazy, mut rng_b, mut ring_b) =
            toy_trainer(4, 32, 1, adam(1e-3), LossConfig::NonSaturating);
        let mut eager = eager.with_penalty(r1).unwrap();
        let mut lazy = lazy.with_penalty(PenaltyTerm::eager(r1).lazy(4)).unwrap();
        let a = eager.step_with(&mut ring_a, &mut rng_a, true).unwrap();
        let b = lazy.step_with(&mut ring_b, &mut rng_b, true).unwrap();
        assert!(a.penalty > 0.0);
        let ratio = b.penalties["r1"] / a.penalties["r1"];
        assert!((ratio - 4.0).abs() < 1e-6, "lazy/eager = {ratio}");
        assert_eq!(b.penalty, b.penalties["r1"]);
        let next = lazy.step_with(&mut ring_b, &mut rng_b, true).unwrap();
        assert!(next.penalties.is_empty() && next.penalty == 0.0, "{next:?}");
    }

    /// Refused, with a message: training past nothing, modules outside autodiff, a batch of
    /// the wrong shape, a checkpoint written by a trainer built differently.
    #[test]
    fn what_cannot_be_meant_is_refused_with_a_message() {
        let (mut trainer, _, mut ring) =
            toy_trainer(3, 16, 1, adam(1e-3), LossConfig::NonSaturating);
        trainer.set_total_steps(0);
        let error = trainer.fit(&mut ring, &mut []).unwrap_err().to_string();
        assert!(error.contains("fit has nothing to train"), "{error}");
        let plain = device(BackendKind::Flex).unwrap();
        let mut rng = HostRng::seed_from(1);
        let generator = MlpGeneratorConfig::new(2, vec![4])
            .init(2, &mut rng, &plain)
            .unwrap();
        let critic = MlpDiscriminatorConfig::new(vec![4])
            .init(2, &mut rng, &plain)
            .unwrap();
        let loss = LossConfig::NonSaturating.build();
        let settings = TrainerSettings::default();
        let error = GanTrainer::new(
            generator,
            critic,
            loss,
            &settings,
            &plain.clone().autodiff(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(error.contains("not on an autodiff device"), "{error}");
        let (mut trainer, _, _) = toy_trainer(3, 16, 1, adam(1e-3), LossConfig::NonSaturating);
        let wide = HostRng::seed_from(2).normal([8, 3], trainer.device());
        let error = trainer.step(wide).unwrap_err().to_string();
        assert!(
            error.contains("[8, 3] does not fit") && error.contains("[n, 2]"),
            "{error}"
        );
        assert_eq!(trainer.steps_done(), 0);
        // The same from a source that `fit` draws from: an error, not a silent no-op.
        struct Wide;
        impl SampleSource<2> for Wide {
            fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
                rng.normal([batch, 3], device)
            }
        }
        let error = trainer.fit(&mut Wide, &mut []).unwrap_err().to_string();
        assert!(error.contains("[16, 3] does not fit"), "{error}");
        assert_eq!(trainer.steps_done(), 0);
        let dir = tempfile::tempdir().unwrap();
        trainer.save_checkpoint(dir.path()).unwrap();
        let (other, _, _) = toy_trainer(3, 16, 1, adam(1e-3), LossConfig::Hinge);
        let mut other = other
            .with_penalty(burngan_losses::PenaltyConfig::R1 { gamma: 1.0 })
            .unwrap();
        let error = other.load_checkpoint(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("loss non-saturating there, hinge here")
                && error.contains("penalties no penalty there, r1 here"),
            "{error}"
        );
    }

    #[test]
    fn a_recorded_step_reports_consistent_metrics() {
        let (mut trainer, mut rng, mut ring) =
            toy_trainer(8, 64, 2, adam(1e-3), LossConfig::NonSaturating);
        assert!(trainer.step_with(&mut ring, &mut rng, false).is_none());
        let m = trainer.step_with(&mut ring, &mut rng, true).unwrap();
        assert_eq!(m.step, 2);
        assert_eq!(m.first_non_finite(), None);
        // For the cross-entropy discriminator loss, V = -L_D on the same batch.
        assert!((m.value + m.loss_d).abs() < 1e-6, "{m:?}");
        assert!(m.d_real > 0.0 && m.d_real < 1.0 && m.d_fake > 0.0 && m.d_fake < 1.0);
        assert!(m.grad_norm_g > 0.0 && m.grad_norm_d > 0.0);
    }

    #[test]
    fn logged_learning_rates_are_the_schedules_values_at_the_updated_step() {
        // Generator: 1e-3 falling linearly to 0 over a 10-step run, so the update of step k
        // (counted from 1) runs at 1e-3·(1 − (k − 1)/10); the discriminator keeps 2e-4.
        let (mut trainer, mut rng, mut ring) =
            toy_trainer(3, 32, 1, adam(2e-4), LossConfig::NonSaturating);
        let mut generator = adam(1e-3);
        *generator.learning_rate_mut() = Scheduled::Ramp(Schedule {
            from: 1e-3,
            to: Some(0.0),
            shape: Shape::Linear,
            warmup: 0,
            steps: None,
            every: None,
            factor: None,
        });
        trainer.optimizer_g = generator.init();
        trainer.set_total_steps(10);
        for k in 1..=4 {
            let m = trainer.step_with(&mut ring, &mut rng, true).unwrap();
            let expected = 1e-3 * (1.0 - (k - 1) as f64 / 10.0);
            assert_eq!(m.step, k);
            assert!((m.lr_g.unwrap() - expected).abs() < 1e-18, "{k}: {m:?}");
            assert_eq!(m.lr_d, Some(2e-4));
        }
    }

    #[test]
    fn step_metrics_without_an_evaluation_read_and_write_as_before() {
        let old = r#"{"step":3,"loss_d":1.5,"loss_g":0.5,"d_real":0.6,"d_fake":0.4,"value":-1.2,"grad_norm_g":2.0,"grad_norm_d":3.0,"logit_real":0.3,"logit_fake":-0.2,"penalty":0.0}"#;
        let metrics: StepMetrics = serde_json::from_str(old).unwrap();
        assert_eq!(metrics.eval, None);
        assert_eq!(serde_json::to_string(&metrics).unwrap(), old);
        let evaluated = StepMetrics {
            eval: Some(BTreeMap::from([
                ("fd".to_string(), 12.25),
                ("classes_covered".to_string(), 9.0),
            ])),
            ..metrics
        };
        let line = serde_json::to_string(&evaluated).unwrap();
        assert!(
            line.ends_with(r#""eval":{"classes_covered":9.0,"fd":12.25}}"#),
            "{line}"
        );
        let back: StepMetrics = serde_json::from_str(&line).unwrap();
        assert_eq!(back, evaluated);
    }
}
