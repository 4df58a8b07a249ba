//! [`EvalError`]: everything that can stop an evaluation or a classifier's training, each
//! message naming the value or file involved and the fix.

use std::path::PathBuf;

use burngan_metrics::MetricError;

/// Why an evaluation, or the training or loading of a feature network, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write", …).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The weights file is not the one its card (or the build, for the shipped network)
    /// describes: it was changed, truncated or replaced.
    #[error(
        "the feature network {} has SHA-256 {actual}, but {expected} was expected ({origin}); \
         the file is corrupt or was replaced. Restore it (`git checkout -- {}` for the shipped \
         network) or train a new one with `burngan eval train-classifier --out DIR` and pass \
         `--classifier DIR/classifier.bpk`",
        path.display(), path.display()
    )]
    ChecksumMismatch {
        /// The weights file.
        path: PathBuf,
        /// The hash recorded in the card or compiled into the build.
        expected: String,
        /// The hash of the file's bytes.
        actual: String,
        /// Where `expected` comes from.
        origin: String,
    },
    /// The card (JSON beside the weights) is missing fields or malformed.
    #[error(
        "the feature-network card {} is not valid: {message}; it is written by `burngan eval \
         train-classifier` next to the weights (same name, .json)",
        path.display()
    )]
    Card {
        /// The card file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The weights do not fit the architecture the card describes.
    #[error(
        "the weights {} do not fit the network their card describes: {message}; retrain with \
         `burngan eval train-classifier`",
        path.display()
    )]
    Weights {
        /// The weights file.
        path: PathBuf,
        /// What Burn reported.
        message: String,
    },
    /// The images or labels cannot be used with this network or for this task.
    #[error("{0}")]
    Incompatible(String),
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
    /// A metric rejected its input (e.g. too few samples for an unbiased estimator).
    #[error("{0}")]
    Metric(#[from] MetricError),
    /// A value could not be read back from the device.
    #[error("cannot read {what} back from the device: {message}")]
    Device {
        /// The tensor read.
        what: &'static str,
        /// What the backend reported.
        message: String,
    },
}

impl EvalError {
    /// Whether the error comes from the user's input (a file, option or combination they
    /// chose) rather than from the run itself: the CLI exits 2 for these, 1 otherwise.
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            EvalError::ChecksumMismatch { .. }
                | EvalError::Card { .. }
                | EvalError::Weights { .. }
                | EvalError::Incompatible(_)
                | EvalError::Config(_)
                | EvalError::Metric(_)
        ) || matches!(self, EvalError::Io { action, .. } if action.starts_with("cannot read"))
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        EvalError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
