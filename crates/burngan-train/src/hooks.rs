//! Hooks: what [`GanTrainer::fit`](crate::GanTrainer::fit), the one training loop, calls at
//! defined points of every step, so that periodic evaluation, sample grids, checkpoints and
//! early stops are plug-ins rather than copies of the loop.
//!
//! Per step the loop (1) asks every hook whether it [`measures`](Hook::measures) the step
//! (its metrics are then read from the device), (2) trains the step and checks its metrics
//! ([`NonFinitePolicy`](crate::NonFinitePolicy)), (3) hands measured metrics to
//! [`on_metrics`](Hook::on_metrics) (a hook may add to them, e.g. an evaluation, and ask for
//! the step to be reported), (4) reports the step to the observers when it is due, (5) asks
//! every hook whether it [`stops_after`](Hook::stops_after) the step, (6) calls
//! [`after_step`](Hook::after_step) in order (sample grids, checkpoints), (7) gives the device
//! pool's empty pages back when a hook allocated, and (8) stops when asked to. At the end it
//! calls [`on_end`](Hook::on_end), where a hook may use the trainer a last time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burngan_core::{Discriminator, Generator, HostRng};
use burngan_data::SamplerState;

use crate::observer::{Observer, RunSummary};
use crate::{
    CHECKPOINT_FORMAT, CheckpointState, GanTrainer, StepMetrics, TrainError, write_checkpoint,
};

/// Where the loop stands after a step, as the hooks see it.
#[derive(Debug, Clone, Copy)]
pub struct StepEnd<'a> {
    /// The step just done, counted from 1.
    pub step: usize,
    /// The run's total number of steps.
    pub total: usize,
    /// The host RNG the loop draws from, after the step (what a checkpoint stores).
    pub rng: &'a HostRng,
    /// True when a hook stops the run after this step ([`Hook::stops_after`]).
    pub stopping: bool,
}

impl StepEnd<'_> {
    /// Whether this is the run's last step.
    pub fn last(&self) -> bool {
        self.step == self.total
    }
}

/// What a hook did after a step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookDone {
    /// It allocated on the device in shapes the training step does not (a large evaluation
    /// batch, a whole-model read): the loop then gives the device pool's empty pages back.
    pub allocated: bool,
}

/// A plug-in of the training loop. Every method has a default that does nothing.
pub trait Hook<G, C, const D: usize> {
    /// Whether step `step` (counted from 1) of `total` must be measured for this hook: its
    /// metrics are then read back and passed to [`on_metrics`](Self::on_metrics).
    fn measures(&mut self, step: usize, total: usize) -> bool {
        let _ = (step, total);
        false
    }

    /// The metrics of a measured step, before the observers see them; a hook may add to them.
    /// Returns true to have the step reported to the observers even off the log cadence.
    fn on_metrics(
        &mut self,
        trainer: &GanTrainer<G, C, D>,
        metrics: &mut StepMetrics,
    ) -> Result<bool, TrainError> {
        let _ = (trainer, metrics);
        Ok(false)
    }

    /// Whether the run stops after step `step` (not asked at the last step).
    fn stops_after(&mut self, step: usize) -> bool {
        let _ = step;
        false
    }

    /// Called after every step, after the observers.
    fn after_step(
        &mut self,
        trainer: &GanTrainer<G, C, D>,
        end: &StepEnd<'_>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<HookDone, TrainError> {
        let _ = (trainer, end, observers);
        Ok(HookDone::default())
    }

    /// Called once when the loop ends (at the last step or a stop), before the observers'
    /// `on_end`; a hook may use the trainer a last time (e.g. for a final evaluation it
    /// keeps for its application).
    fn on_end(
        &mut self,
        trainer: &mut GanTrainer<G, C, D>,
        summary: &RunSummary,
    ) -> Result<(), TrainError> {
        let _ = (trainer, summary);
        Ok(())
    }
}

/// Where a checkpoint's sample-source position comes from (an image run's epoch sampler).
pub type PositionFn = Box<dyn Fn() -> Option<SamplerState>>;

/// Writes checkpoints `dir/step-NNNNNNNN/` every `every` steps (0: none on a cadence), at the
/// last step and when the run stops; keeps the newest `keep`. Its steps are measured first, so
/// a checkpoint only ever holds finite weights.
pub struct Checkpoints {
    dir: PathBuf,
    every: usize,
    keep: usize,
    files: Vec<(&'static str, Vec<u8>)>,
    position: Option<PositionFn>,
    backend: Option<String>,
    written: Option<PathBuf>,
}

impl Checkpoints {
    /// Checkpoints in `dir` every `every` steps, the newest `keep` kept.
    pub fn new(dir: impl Into<PathBuf>, every: usize, keep: usize) -> Self {
        Self {
            dir: dir.into(),
            every,
            keep,
            files: Vec::new(),
            position: None,
            backend: None,
            written: None,
        }
    }

    /// Adds a file (name, contents) to every checkpoint, e.g. the run's resolved config.
    pub fn with_file(mut self, name: &'static str, contents: Vec<u8>) -> Self {
        self.files.push((name, contents));
        self
    }

    /// Records the sample source's position from `position` in every checkpoint.
    pub fn with_position(mut self, position: PositionFn) -> Self {
        self.position = Some(position);
        self
    }

    /// Records `backend` as the backend's name (default: the device's debug form).
    pub fn with_backend(mut self, backend: impl Into<String>) -> Self {
        self.backend = Some(backend.into());
        self
    }

    /// The newest checkpoint written by this hook.
    pub fn written(&self) -> Option<&PathBuf> {
        self.written.as_ref()
    }

    fn due(&self, step: usize) -> bool {
        self.every > 0 && step.is_multiple_of(self.every)
    }
}

impl<G: Generator<D>, C: Discriminator<D>, const D: usize> Hook<G, C, D> for Checkpoints {
    fn measures(&mut self, step: usize, total: usize) -> bool {
        step == total || self.due(step)
    }

    fn after_step(
        &mut self,
        trainer: &GanTrainer<G, C, D>,
        end: &StepEnd<'_>,
        _: &mut [&mut dyn Observer],
    ) -> Result<HookDone, TrainError> {
        if !(end.last() || end.stopping || self.due(end.step)) {
            return Ok(HookDone::default());
        }
        let mut parts = trainer.checkpoint_parts()?;
        parts.extend(self.files.iter().cloned());
        let state = CheckpointState {
            format: CHECKPOINT_FORMAT,
            step: trainer.steps_done(),
            rng: end.rng.state(),
            sampler: self.position.as_ref().and_then(|position| position()),
            backend: self
                .backend
                .clone()
                .unwrap_or_else(|| format!("{:?}", trainer.device())),
            trainer: Some(trainer.identity()),
        };
        self.written = Some(write_checkpoint(&self.dir, &parts, &state, self.keep)?);
        Ok(HookDone { allocated: true })
    }
}

/// Stops the run early: after step `stop_at`, or after the current step once `interrupt` is
/// set (e.g. by a Ctrl-C handler). Both steps are measured, so the checkpoint written on
/// stopping holds finite weights.
#[derive(Debug, Default)]
pub struct Stop {
    /// Stop after this step.
    pub stop_at: Option<usize>,
    /// Stop after the step during which this is set.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Set when the run stopped because of `interrupt`.
    pub interrupted: bool,
}

impl Stop {
    fn interrupt_requested(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    }
}

impl<G, C, const D: usize> Hook<G, C, D> for Stop {
    fn measures(&mut self, step: usize, _: usize) -> bool {
        self.stop_at == Some(step) || self.interrupt_requested()
    }

    fn stops_after(&mut self, step: usize) -> bool {
        if self.interrupt_requested() {
            self.interrupted = true;
            return true;
        }
        self.stop_at == Some(step)
    }
}
