//! Observers: how a run reports progress without printing. The trainer loop calls them; the
//! application decides which to attach (the CLI attaches a progress bar, a metrics file and
//! plots).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use burngan_metrics::ModeCoverage;
use indicatif::{ProgressBar, ProgressStyle};

use crate::{StepMetrics, TrainError};

/// Facts about a run, given to observers when it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Generator updates in the run.
    pub total_steps: usize,
    /// Mode centres of the real distribution (toy runs), for plots.
    pub centres: Vec<[f64; 2]>,
    /// Generator steps already done: 0, or the checkpoint's step when resuming.
    pub start_step: usize,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Generator updates done.
    pub steps: usize,
    /// Toy runs: mode coverage of 2,500 fresh samples.
    pub evaluation: Option<ModeCoverage>,
}

/// Receives a run's events. Every method has a default that ignores the event.
pub trait Observer {
    /// The run is about to start.
    fn on_start(&mut self, _info: &RunInfo) -> Result<(), TrainError> {
        Ok(())
    }
    /// A recorded step finished (every `log_every` steps and the last).
    fn on_step(&mut self, _metrics: &StepMetrics) -> Result<(), TrainError> {
        Ok(())
    }
    /// Samples from the fixed plotting noise, row-major `[n, dim]`.
    fn on_samples(&mut self, _step: usize, _samples: &[f32]) -> Result<(), TrainError> {
        Ok(())
    }
    /// Images from the fixed grid noise, row-major `[n, channels, height, width]` in [−1, 1],
    /// to be tiled `columns` to a row.
    fn on_images(
        &mut self,
        _step: usize,
        _images: &[f32],
        _shape: [usize; 3],
        _columns: usize,
    ) -> Result<(), TrainError> {
        Ok(())
    }
    /// The run finished.
    fn on_end(&mut self, _summary: &RunSummary) -> Result<(), TrainError> {
        Ok(())
    }
}

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

impl Observer for JsonlMetrics {
    fn on_step(&mut self, metrics: &StepMetrics) -> Result<(), TrainError> {
        let line = serde_json::to_string(metrics).map_err(|e| TrainError::Output(e.to_string()))?;
        writeln!(self.writer, "{line}")
            .and_then(|()| self.writer.flush())
            .map_err(|e| TrainError::io("cannot write", &self.path, e))
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
