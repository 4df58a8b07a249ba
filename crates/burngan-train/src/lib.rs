//! The training library: the [`GanTrainer`] (alternating or simultaneous updates,
//! [`UpdateOrder`]) and its one loop ([`GanTrainer::fit_with_hooks`]), its
//! [`TrainerSettings`], the [`Hook`] and [`Observer`] traits, optimizers behind
//! [`OptimizerRule`], [`Schedule`]s for any scalar hyperparameter, the application of several
//! eager or lazy [`PenaltyTerm`]s, the generator's moving average ([`EmaRule`]), the extension
//! point for differentiable augmentation ([`Augment`], [`Augmented`]) and the checkpoint format.
//!
//! The library never prints, never parses a configuration file, never chooses a device and
//! never names a command-line flag: its errors ([`TrainError`]) say what is wrong with a value,
//! a file or a setting, and an application maps them to its own remedies. It trains any
//! modules implementing the core traits: an application drives it with [`GanTrainer::step`] on
//! its own batches or [`GanTrainer::fit`] on a sample source, and stores it with
//! [`GanTrainer::save_checkpoint`] / [`GanTrainer::load_checkpoint`]. burngan's own
//! application (TOML configs, run directories, plots, the progress bar) is the `burngan-app`
//! crate, built on this one.
//!
//! # Example
//!
//! ```
//! use burngan_core::HostRng;
//! use burngan_data::ToyConfig;
//! use burngan_losses::LossConfig;
//! use burngan_models::{MlpDiscriminatorConfig, MlpGeneratorConfig};
//! use burngan_train::{GanTrainer, TrainerSettings};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let device = device.autodiff();
//! let mut rng = HostRng::seed_from(0);
//! let generator = MlpGeneratorConfig::new(2, vec![16]).init(2, &mut rng, &device).unwrap();
//! let critic = MlpDiscriminatorConfig::new(vec![16]).init(2, &mut rng, &device).unwrap();
//! let settings = TrainerSettings { steps: 3, log_every: 1, ..TrainerSettings::default() };
//! let loss = LossConfig::NonSaturating.build();
//! let mut trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
//! let mut ring = ToyConfig::default_ring().build().unwrap();
//! let fit = trainer.fit(&mut ring, &mut []).unwrap();
//! assert_eq!(fit.steps, 3);
//! assert_eq!(fit.metrics.len(), 3);
//! ```

mod augment;
mod checkpoint;
#[cfg(test)]
mod dirac_tests;
mod ema;
mod error;
pub mod hooks;
mod observer;
mod optim;
mod penalties;
mod schedule;
#[cfg(test)]
mod stacking_tests;
mod trainer;

pub use augment::{Augment, AugmentTransform, Augmented};
pub use checkpoint::{
    CHECKPOINT_FORMAT, CheckpointState, LATEST, TrainerIdentity, files, find_checkpoint,
    load_module, module_bytes, read_checkpoint_state, save_module, write_atomically,
    write_checkpoint,
};
pub use ema::EmaRule;
pub use error::{CheckpointFault, TrainError};
pub use hooks::{Checkpoints, Hook, HookDone, StepEnd, Stop};
pub use observer::{NonFiniteEntry, Observer, RunInfo, RunSummary};
pub use optim::{
    GradientClip, Optimizer, OptimizerConfig, OptimizerRule, ParamState, TrainingTime,
    gradient_norm,
};
pub use penalties::PenaltyTerm;
pub use schedule::{Schedule, Scheduled, Shape};
pub use trainer::{
    CheckpointPolicy, FitSummary, GanTrainer, MAX_SKIPPED_STEPS, NonFinitePolicy, StepMetrics,
    TrainerSettings, UpdateOrder, clip_parameters, generate_on_host,
};
