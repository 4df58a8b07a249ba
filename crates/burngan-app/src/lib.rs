//! burngan's application layer over the training library (`burngan-train`): the TOML run
//! configuration ([`TrainConfig`]), the run builders that turn a config into data, networks
//! and a trainer in a fixed order of host-RNG draws ([`train_toy`], [`train_images`]), the
//! observers it attaches (metrics file, progress bar, plots and sample grids), the run lock,
//! the evaluation glue and every message a user of the command line reads.
//!
//! Applications that embed burngan use the training library through the `burngan` facade;
//! this crate is what `burngan train` runs, and what the lab and the test suite use to run a
//! whole experiment from a config.
//!
//! # Example
//!
//! ```
//! use burngan_app::{TrainConfig, train_toy};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let text = std::fs::read_to_string(
//!     concat!(env!("CARGO_MANIFEST_DIR"), "/../../assets/configs/ring8-ns.toml"),
//! ).unwrap();
//! let mut config = TrainConfig::from_toml(&text, "ring8-ns.toml").unwrap();
//! config.run.steps = 3;
//! let run = train_toy(&config, &device, &mut []).unwrap();
//! assert_eq!(run.steps, 3);
//! assert_eq!(run.evaluation.unwrap().modes_total, 8);
//! ```

pub mod charts;
mod config;
mod data;
mod error;
mod evaluate;
mod grid;
mod lock;
mod models;
mod observers;
mod penalty_tables;
mod plots;
mod run;

pub use config::{
    CONFIG_FORMAT, EmaConfig, EvalConfig, IMAGE_EVAL_SAMPLES, LoopConfig, LrDecay,
    OptimizersConfig, RunConfig, TrainConfig,
};
pub use data::{
    DEFAULT_IMAGES, DataConfig, ImageDataConfig, ImageKind, STACKED_MNIST, image_source,
};
pub use error::AppError;
pub use evaluate::{EVAL_SPLIT_SEED, ImageEvaluator, STACKED_FEATURE_IMAGES};
pub use grid::{GRID_PADDING, image_grid_png};
pub use lock::{LOCK_FILE, RunLock, Taken};
pub use models::{DiscriminatorConfig, GeneratorConfig, ImageDiscriminator, ImageGenerator};
pub use observers::{JsonlMetrics, Progress};
pub use plots::{PlotWriter, curves_png, eval_png, register_font, scatter_png};
pub use run::{
    EVAL_METRICS, GRID_COLUMNS, ImageRun, Run, RunControl, ToyRun, grid_inputs, image_eval_values,
    image_evaluator, load_image_generator, load_images, periodic_score_settings, toy_eval_values,
    train_images, train_images_on, train_toy, train_toy_with,
};
