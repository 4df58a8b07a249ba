//! The observers burngan's application attaches to a run: the `metrics.jsonl` writer and
//! the terminal progress bar (plots are [`PlotWriter`](crate::PlotWriter)).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use burngan_train::{NonFiniteEntry, Observer, RunInfo, RunSummary, StepMetrics, TrainError};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

/// Appends one JSON object per recorded step to a `metrics.jsonl` file, flushed each line so
/// that a crash loses at most the line being written.
pub struct JsonlMetrics {
    path: PathBuf,
    writer: BufWriter<File>,
}

impl JsonlMetrics {
    /// Opens `path` for appending, creating it if needed.
    pub fn append(path: &Path) -> Result<Self, TrainError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| TrainError::io("cannot open metrics file", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: BufWriter::new(file),
        })
    }
}

impl JsonlMetrics {
    fn write_line<T: Serialize>(&mut self, value: &T) -> Result<(), TrainError> {
        let line = serde_json::to_string(value).map_err(|e| TrainError::Output(e.to_string()))?;
        writeln!(self.writer, "{line}")
            .and_then(|()| self.writer.flush())
            .map_err(|e| TrainError::io("cannot write", &self.path, e))
    }
}

impl Observer for JsonlMetrics {
    fn on_step(&mut self, metrics: &StepMetrics) -> Result<(), TrainError> {
        self.write_line(metrics)
    }

    /// Writes a [`NonFiniteEntry`] as the file's last line.
    fn on_non_finite(
        &mut self,
        metrics: &StepMetrics,
        quantity: &str,
        value: f64,
    ) -> Result<(), TrainError> {
        self.write_line(&NonFiniteEntry {
            step: metrics.step,
            stopped: "non-finite".into(),
            quantity: quantity.into(),
            value: value.to_string(),
            metrics: metrics.clone(),
        })
    }
}

/// A terminal progress bar with step, losses, D(x) and D(G(z)). Hidden automatically when
/// standard error is not a terminal.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A progress bar on standard error.
    pub fn new() -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} {per_sec} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for Progress {
    fn on_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        self.bar.set_length(info.total_steps as u64);
        self.bar.set_position(info.start_step as u64);
        self.bar.reset_eta();
        Ok(())
    }
    fn on_step(&mut self, m: &StepMetrics) -> Result<(), TrainError> {
        self.bar.set_position(m.step as u64);
        self.bar.set_message(format!(
            "loss_d {:.4} loss_g {:.4} D(x) {:.3} D(G(z)) {:.3}",
            m.loss_d, m.loss_g, m.d_real, m.d_fake
        ));
        Ok(())
    }
    fn on_end(&mut self, _summary: &RunSummary) -> Result<(), TrainError> {
        self.bar.finish();
        Ok(())
    }
}
