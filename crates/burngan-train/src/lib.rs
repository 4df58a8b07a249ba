//! The training loop and everything around it: the TOML run configuration, optimizers, the
//! alternating [`GanTrainer`], step metrics, observers (metrics file, progress bar, plots),
//! checkpoints, and [`train_toy`] / [`train_images`], which run a whole experiment from a
//! config.
//!
//! The trainer never prints and never chooses a device; it reports to [`Observer`]s and works
//! on the device it is given. It trains any modules implementing the core traits: an
//! application drives it with [`GanTrainer::step`] on its own batches or
//! [`GanTrainer::fit`] on a sample source, and stores it with
//! [`GanTrainer::save_checkpoint`] / [`GanTrainer::load_checkpoint`] (the `burngan` crate's
//! documentation has a complete example with custom modules).
//!
//! # Example
//!
//! ```
//! use burngan_train::{TrainConfig, train_toy};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let text = std::fs::read_to_string(
//!     concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/configs/ring8-ns.toml"),
//! ).unwrap();
//! let mut config = TrainConfig::from_toml(&text, "ring8-ns.toml").unwrap();
//! config.run.steps = 3;
//! let run = train_toy(&config, &device, &mut []).unwrap();
//! assert_eq!(run.summary.steps, 3);
//! assert_eq!(run.summary.evaluation.unwrap().modes_total, 8);
//! ```

mod checkpoint;
mod config;
mod data;
mod ema;
mod error;
mod evaluate;
mod grid;
pub mod hooks;
mod lock;
mod models;
mod observer;
mod optim;
mod penalties;
mod plots;
mod run;
mod schedule;
mod trainer;

pub use checkpoint::{
    CHECKPOINT_FORMAT, CheckpointState, LATEST, TrainerIdentity, files, find_checkpoint,
    load_module, module_bytes, read_checkpoint_state, save_module, write_atomically,
    write_checkpoint,
};
pub use config::{
    CONFIG_FORMAT, EmaConfig, EvalConfig, IMAGE_EVAL_SAMPLES, LoopConfig, LrDecay,
    OptimizersConfig, RunConfig, TrainConfig,
};
pub use data::{DEFAULT_IMAGES, DataConfig, ImageDataConfig};
pub use ema::EmaRule;
pub use error::TrainError;
pub use evaluate::{EVAL_SPLIT_SEED, ImageEvaluator};
pub use grid::{GRID_PADDING, image_grid_png};
pub use hooks::{Checkpoints, Hook, HookDone, StepEnd, Stop};
pub use lock::{LOCK_FILE, RunLock, Taken};
pub use models::{DiscriminatorConfig, GeneratorConfig, ImageDiscriminator, ImageGenerator};
pub use observer::{JsonlMetrics, NonFiniteEntry, Observer, Progress, RunInfo, RunSummary};
pub use optim::{
    GradientClip, Optimizer, OptimizerConfig, OptimizerRule, ParamState, TrainingTime,
    gradient_norm,
};
pub use penalties::PenaltyTerm;
pub use plots::{PlotWriter, curves_png, eval_png, register_font, scatter_png};
pub use run::{
    EVAL_METRICS, GRID_COLUMNS, ImageRun, Run, RunControl, ToyRun, grid_inputs, image_eval_values,
    image_evaluator, load_image_generator, load_images, periodic_score_settings, toy_eval_values,
    train_images, train_images_on, train_toy, train_toy_with,
};
pub use schedule::{Schedule, Scheduled, Shape};
pub use trainer::{
    CheckpointPolicy, FitSummary, GanTrainer, MAX_SKIPPED_STEPS, NonFinitePolicy, StepMetrics,
    TrainerSettings, clip_parameters, generate_on_host,
};
