//! The errors of a training run.

use std::path::PathBuf;

/// Why a run could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid; the message names the field and the fix.
    #[error("invalid config: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The training data cannot be used (missing, corrupt, or not what the config asks for);
    /// the message names the file and the fix.
    #[error("{0}")]
    Data(String),
    /// The run was stopped on request (Ctrl-C) after writing a checkpoint.
    #[error(
        "interrupted at step {step}; checkpoint written to {}; continue with --resume {}",
        checkpoint.display(),
        run_dir.display()
    )]
    Interrupted {
        /// Generator steps done.
        step: usize,
        /// The checkpoint written.
        checkpoint: PathBuf,
        /// The run directory to resume.
        run_dir: PathBuf,
    },
    /// A file or directory could not be written or read.
    #[error("{action} {}: {error}", path.display())]
    Io {
        /// What was being done, e.g. "cannot write".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        error: std::io::Error,
    },
    /// A loss, probability or gradient norm became NaN or infinite.
    #[error(
        "{quantity} became {value} at step {step}; the run stopped. Lower the learning rates or \
         change the loss; metrics.jsonl ends with a line describing this step and the last \
         checkpoint holds the last finite weights"
    )]
    NonFinite {
        /// The generator step at which it was seen.
        step: usize,
        /// The metric's name.
        quantity: &'static str,
        /// Its value.
        value: f64,
    },
    /// Under `train.on_non_finite = "skip"`, `steps` consecutive steps each skipped an update
    /// whose loss or gradient was NaN or infinite.
    #[error(
        "{steps} steps in a row, up to step {step}, had a NaN or infinite loss or gradient and \
         skipped their updates (train.on_non_finite = \"skip\"); the run stopped. Lower the \
         learning rates or change the loss; the last checkpoint holds the last finite weights"
    )]
    TooManySkipped {
        /// The generator step at which the run stopped.
        step: usize,
        /// How many consecutive steps skipped an update.
        steps: usize,
    },
    /// Writing a plot or checkpoint failed inside a library.
    #[error("{0}")]
    Output(String),
    /// The evaluation (feature network, reference data or scores) failed.
    #[error(transparent)]
    Eval(#[from] burngan_eval::EvalError),
}

impl TrainError {
    /// A configuration error with `message`.
    pub fn config(message: impl Into<String>) -> Self {
        TrainError::Config {
            message: message.into(),
        }
    }

    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        TrainError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// True when the user can fix the error by changing the command or config (exit code 2).
    pub fn is_usage_error(&self) -> bool {
        match self {
            TrainError::Config { .. } | TrainError::Data(_) => true,
            TrainError::Eval(e) => e.is_usage_error(),
            _ => false,
        }
    }
}

/// `Ok` for a positive `value`; otherwise a [`TrainError::Config`] naming `field`.
pub(crate) fn require_positive(field: &str, value: usize) -> Result<(), TrainError> {
    if value == 0 {
        Err(TrainError::config(format!(
            "{field} must be a positive integer, got 0"
        )))
    } else {
        Ok(())
    }
}
