//! Observers: how a run reports progress without printing. The trainer loop calls them; the
//! application decides which to attach (burngan's application attaches a progress bar, a
//! metrics file and plots).

use serde::{Deserialize, Serialize};

use crate::{StepMetrics, TrainError};

/// Facts about a run, given to observers when it starts.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Generator updates in the run.
    pub total_steps: usize,
    /// Generator steps already done: 0, or the checkpoint's step when resuming.
    pub start_step: usize,
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// Generator updates done.
    pub steps: usize,
}

/// Receives a run's events. Every method has a default that ignores the event.
pub trait Observer {
    /// The run is about to start.
    fn on_start(&mut self, _info: &RunInfo) -> Result<(), TrainError> {
        Ok(())
    }
    /// A recorded step finished (every `log_every` steps and the last, and under
    /// [`NonFinitePolicy::Skip`](crate::NonFinitePolicy::Skip) every step that skipped an
    /// update).
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
    /// The run is stopping because `quantity` of step `metrics.step` is `value` (NaN or
    /// infinite); `metrics` holds everything that step measured. Called once, before the run
    /// returns [`TrainError::NonFinite`].
    fn on_non_finite(
        &mut self,
        _metrics: &StepMetrics,
        _quantity: &str,
        _value: f64,
    ) -> Result<(), TrainError> {
        Ok(())
    }
}

/// The last line a run that stopped on a non-finite value writes to `metrics.jsonl`: the step,
/// what became non-finite, and the step's metrics (JSON has no NaN or infinity: those values
/// are `null` in `metrics`, and `value` is spelt out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NonFiniteEntry {
    /// The step at which the run stopped.
    pub step: usize,
    /// Always `"non-finite"`: tells this line from a step's metrics.
    pub stopped: String,
    /// The first non-finite quantity, e.g. `loss_d`.
    pub quantity: String,
    /// Its value: `NaN`, `inf` or `-inf`.
    pub value: String,
    /// Everything the step measured.
    pub metrics: StepMetrics,
}

/// Tells every observer that `quantity` of step `metrics.step` became `value` and returns the
/// run's error. An observer that fails to record it does not hide the non-finite value: its
/// error is dropped and the run still stops with [`TrainError::NonFinite`].
pub(crate) fn stop_non_finite(
    observers: &mut [&mut dyn Observer],
    metrics: &StepMetrics,
    quantity: &'static str,
    value: f64,
) -> TrainError {
    notify_non_finite(observers, metrics, quantity, value);
    TrainError::NonFinite {
        step: metrics.step,
        quantity,
        value,
    }
}

/// Calls every observer's [`Observer::on_non_finite`]; their errors are dropped (see
/// [`stop_non_finite`]).
pub(crate) fn notify_non_finite(
    observers: &mut [&mut dyn Observer],
    metrics: &StepMetrics,
    quantity: &str,
    value: f64,
) {
    for observer in observers.iter_mut() {
        let _ = observer.on_non_finite(metrics, quantity, value);
    }
}
