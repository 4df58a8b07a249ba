//! The errors of a run of burngan's application: the training library's, and those of the
//! config, the data, the run directory and the evaluation, which name the config field or
//! file and the fix.

use std::path::PathBuf;

use burngan_train::TrainError;

/// Why a run could not start or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
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
    /// Writing a plot or image failed inside a library.
    #[error("{0}")]
    Output(String),
    /// The evaluation (feature network, reference data or scores) failed.
    #[error(transparent)]
    Eval(#[from] burngan_eval::EvalError),
    /// The training library failed (a setting, a checkpoint, a non-finite value).
    #[error(transparent)]
    Train(TrainError),
}

impl AppError {
    /// A configuration error with `message`.
    pub fn config(message: impl Into<String>) -> Self {
        AppError::Config {
            message: message.into(),
        }
    }

    /// An I/O error while doing `action` on `path`.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        AppError::Io {
            action,
            path: path.into(),
            error,
        }
    }

    /// True when the user can fix the error by changing the command or config (exit code 2).
    pub fn is_usage_error(&self) -> bool {
        match self {
            AppError::Config { .. } | AppError::Data(_) => true,
            AppError::Eval(e) => e.is_usage_error(),
            AppError::Train(e) => e.is_usage_error(),
            _ => false,
        }
    }
}

/// A library error; one that carries an [`AppError`] raised inside a hook or observer of
/// this crate is unwrapped back to it.
impl From<TrainError> for AppError {
    fn from(error: TrainError) -> Self {
        match error {
            TrainError::External(inner) => match inner.downcast::<AppError>() {
                Ok(app) => *app,
                Err(other) => AppError::Train(TrainError::External(other)),
            },
            other => AppError::Train(other),
        }
    }
}

/// An application error raised inside a hook or observer travels through the training loop
/// as [`TrainError::External`].
impl From<AppError> for TrainError {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Train(inner) => inner,
            other => TrainError::external(other),
        }
    }
}

/// `Ok` for a positive `value`; otherwise an [`AppError::Config`] naming `field`.
pub(crate) fn require_positive(field: &str, value: usize) -> Result<(), AppError> {
    if value == 0 {
        Err(AppError::config(format!(
            "{field} must be a positive integer, got 0"
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An application error survives the trip through the loop's error type, and keeps
    /// telling usage errors from run failures.
    #[test]
    fn app_errors_round_trip_through_the_library_error() {
        let through: AppError = TrainError::from(AppError::config("bad")).into();
        assert!(matches!(&through, AppError::Config { message } if message == "bad"));
        assert!(through.is_usage_error());
        let data: AppError = TrainError::from(AppError::Data("gone".into())).into();
        assert_eq!(data.to_string(), "gone");
        let library: AppError = TrainError::config("lr must be > 0").into();
        assert!(matches!(
            library,
            AppError::Train(TrainError::Config { .. })
        ));
        let output: AppError = TrainError::Output("disk".into()).into();
        assert!(!output.is_usage_error());
    }
}
