//! burngan's benchmark: the four training workloads of `shared/bench/WORKLOADS.md` timed on
//! any compiled backend with burngan's own trainer, and everything needed to put them beside
//! PyTorch measured in the same sitting.
//!
//! - [`Workload`]: the workloads, their batch sizes and their model FLOPs per iteration
//!   ([`Workload::flops`], counted from the layer shapes).
//! - [`run_workload`]: warm-up, then timed iterations ([`BenchOptions`]), with the process's
//!   resident memory ([`memory`]) before, during and after.
//! - [`time_critic_updates`]: the critic updates of a run config timed alone, with their model
//!   FLOPs counted from the networks' layers, to compare architectures per FLOP
//!   ([`CriticTiming`]).
//! - [`report`]: the JSON of a run ([`BenchReport`]), the PyTorch script's JSON
//!   ([`TorchReport`]), their ratios, the generated `BENCHMARKS.md` and the bar charts.
//!
//! Invariant: a workload is exactly what a training run executes — one iteration is one
//! [`GanTrainer::step_with`](burngan_train::GanTrainer::step_with) — so the figures measure the
//! trainer users run, not a hand-tuned copy of it.
//!
//! # Example
//!
//! ```
//! use burngan_bench::{BenchOptions, Workload, run_workload};
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//!
//! let ring = Workload::from_name("ring8-mlp").unwrap();
//! // WORKLOADS.md: about 1.7 GFLOP per iteration at batch 512.
//! assert!((ring.flops(512) / 1e9 - 1.756).abs() < 1e-3);
//! let options = BenchOptions { iterations: Some(2), ..BenchOptions::default() };
//! let result = run_workload(ring, &device, &options).unwrap();
//! assert_eq!(result.iterations, 2);
//! ```

mod critic;
mod error;
pub mod memory;
pub mod report;
mod run;
mod workload;

pub use critic::{CriticTiming, time_critic_updates};
pub use error::BenchError;
pub use report::{BenchRecord, BenchReport, Comparison, TorchRecord, TorchReport};
pub use run::{BenchOptions, BenchResult, run_workload};
pub use workload::{ModelFlops, Workload};
