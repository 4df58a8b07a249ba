//! The errors of the training library, in library terms: they name values, files and
//! settings, never an application's command-line flags (an application maps them).

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
    /// Under [`NonFinitePolicy::Skip`](crate::NonFinitePolicy::Skip), `steps` consecutive
    /// steps each skipped an update whose loss or gradient was NaN or infinite.
    #[error(
        "{steps} steps in a row, up to step {step}, had a NaN or infinite loss or gradient and \
         skipped their updates (the non-finite policy is to skip); the run stopped. Lower the \
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
    /// A checkpoint cannot be used; `fault` says why (an application maps it to its own
    /// remedy, e.g. a command-line flag).
    #[error("{message}")]
    Checkpoint {
        /// The run or checkpoint directory involved.
        dir: PathBuf,
        /// What is wrong with it.
        fault: CheckpointFault,
        /// The problem in full, naming the file.
        message: String,
    },
    /// An error raised by an application's [`Hook`](crate::Hook) or
    /// [`Observer`](crate::Observer), passed through the loop unchanged (the application can
    /// downcast it back to its own type).
    #[error(transparent)]
    External(Box<dyn std::error::Error + Send + Sync + 'static>),
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

    /// A [`TrainError::Checkpoint`] about `dir`.
    pub(crate) fn checkpoint(
        dir: impl Into<PathBuf>,
        fault: CheckpointFault,
        message: impl Into<String>,
    ) -> Self {
        TrainError::Checkpoint {
            dir: dir.into(),
            fault,
            message: message.into(),
        }
    }

    /// Wraps an application's error raised inside a hook or observer.
    pub fn external(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        TrainError::External(Box::new(error))
    }

    /// True when the user can fix the error by changing the command or config (exit code 2).
    pub fn is_usage_error(&self) -> bool {
        match self {
            TrainError::Config { .. } => true,
            TrainError::Checkpoint { fault, .. } => fault.is_usage_error(),
            _ => false,
        }
    }
}

/// Why a checkpoint cannot be used ([`TrainError::Checkpoint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckpointFault {
    /// The directory is neither a checkpoint (no `state.json`) nor holds `checkpoints/`.
    NotACheckpoint,
    /// The run's checkpoint directory holds no complete checkpoint: the run stopped before
    /// its first one was written.
    NoneComplete,
    /// A file of the checkpoint is missing, truncated or corrupt.
    Damaged,
    /// The checkpoint is intact but was written for other networks, optimizers or settings.
    Mismatch,
    /// The checkpoint's format is one this build does not read.
    Format,
}

impl CheckpointFault {
    /// True when the caller chose the wrong directory, trainer or format (a usage error),
    /// false when a file of the checkpoint is damaged.
    pub fn is_usage_error(self) -> bool {
        matches!(
            self,
            CheckpointFault::NotACheckpoint
                | CheckpointFault::NoneComplete
                | CheckpointFault::Mismatch
                | CheckpointFault::Format
        )
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
