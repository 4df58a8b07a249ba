//! The benchmark's error type.

use std::path::PathBuf;

use burngan_train::TrainError;

/// Why a benchmark could not run or its report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A bad argument (unknown workload, zero batch, …); the message names the value and the
    /// choices.
    #[error("{0}")]
    Usage(String),
    /// Building or stepping the trainer failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// The workload would need more than the `--budget` seconds: it was not timed.
    #[error(
        "{workload}: one iteration took {seconds_per_iteration:.2} s (≈ {:.4} it/s), so the \
         {iterations} more iterations the timing rules need would exceed the budget of {budget} s; \
         not timed (raise --budget to time it)",
        1.0 / seconds_per_iteration
    )]
    TooSlow {
        /// The workload.
        workload: &'static str,
        /// Wall time of one warm-up iteration.
        seconds_per_iteration: f64,
        /// Iterations still to run (warm-up and timed).
        iterations: usize,
        /// The budget that was given.
        budget: f64,
    },
    /// A report file could not be read or written.
    #[error("cannot {action} {path}: {message}")]
    File {
        /// "read" or "write".
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong, with the fix where there is one.
        message: String,
    },
}

impl BenchError {
    /// True for errors the user fixes by changing the command line (exit code 2).
    pub fn is_usage_error(&self) -> bool {
        match self {
            BenchError::Usage(_) => true,
            BenchError::Train(e) => e.is_usage_error(),
            BenchError::TooSlow { .. } => false,
            BenchError::File { action, .. } => *action == "read",
        }
    }
}
