//! [`LabError`]: why an experiment could not run, each message naming the value and the fix.

use std::path::PathBuf;

use burngan_app::AppError;
use burngan_metrics::MetricError;
use burngan_train::TrainError;

/// Why an experiment could not run or its report could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A setting is out of range; the message names it and the fix (a usage error).
    #[error("invalid lab setting: {0}")]
    Settings(String),
    /// An experiment name that does not exist (a usage error).
    #[error(
        "unknown experiment {name:?}; choose one of {}, or all",
        crate::Experiment::ALL.map(|e| e.name()).join(", ")
    )]
    UnknownExperiment {
        /// The name given.
        name: String,
    },
    /// A training run inside an experiment failed, or a figure could not be drawn.
    #[error(transparent)]
    Train(#[from] AppError),
    /// A metric rejected the samples.
    #[error(transparent)]
    Metric(#[from] MetricError),
    /// A file or directory could not be written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot write", …).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// A failure of the training library inside an experiment.
impl From<TrainError> for LabError {
    fn from(error: TrainError) -> Self {
        LabError::Train(error.into())
    }
}

impl LabError {
    /// True for mistakes in the request (exit code 2), false for failures of the run.
    pub fn is_usage_error(&self) -> bool {
        match self {
            LabError::Settings(_) | LabError::UnknownExperiment { .. } => true,
            LabError::Train(error) => error.is_usage_error(),
            _ => false,
        }
    }

    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        LabError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}
