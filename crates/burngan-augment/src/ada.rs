//! ADA's adaptive probability (Karras et al. 2020, StyleGAN2-ADA): p rises while the critic
//! is too sure of the real images and falls otherwise.
//!
//! The overfitting signal is r = E[sign(D(x_real))] over the real logits of `interval`
//! discriminator updates. After each such interval p ← clamp(p + sign(r − target)·N/S, 0, 1),
//! N the real images of the interval (batch·interval) and S `speed_images`, so p crosses
//! [0, 1] in S images at the fastest; sign(0) = 0 leaves p unchanged. The signs are summed on
//! the device and read back once per interval.

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::config::AdaptiveConfig;

/// The state a resumed run needs: p and the signal accumulated in the current interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaState {
    /// The probability.
    pub p: f64,
    /// Σ sign(D(x_real)) over the interval so far.
    #[serde(default)]
    pub sign_sum: f64,
    /// Real logits observed in the interval so far.
    #[serde(default)]
    pub observed: u64,
    /// Discriminator updates observed in the interval so far (below `interval`).
    #[serde(default)]
    pub updates: usize,
}

/// The controller: the settings, p, and the interval's accumulated signal.
#[derive(Debug, Clone)]
pub struct AdaController {
    config: AdaptiveConfig,
    p: f64,
    /// The signal read back so far (from a restored state).
    sign_sum: f64,
    /// The signs summed on the device since, `[1]`.
    pending: Option<Tensor<1>>,
    observed: u64,
    updates: usize,
    last_signal: Option<f64>,
}

impl AdaController {
    /// A controller at p = `config.initial_p` (the config must be valid).
    pub fn new(config: AdaptiveConfig) -> Self {
        Self {
            config,
            p: config.initial_p,
            sign_sum: 0.0,
            pending: None,
            observed: 0,
            updates: 0,
            last_signal: None,
        }
    }

    /// The current probability.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// r of the last adjustment, once there has been one.
    pub fn last_signal(&self) -> Option<f64> {
        self.last_signal
    }

    /// The step of one adjustment after `observed` real images: observed / speed_images.
    pub fn step_size(&self, observed: u64) -> f64 {
        observed as f64 / self.config.speed_images
    }

    /// Adds the real logits `[batch, 1]` of one discriminator update (outside autodiff); at
    /// the end of an interval reads the sum back and adjusts p.
    pub fn observe(&mut self, logits: Tensor<2>) {
        let [n, _] = logits.dims();
        let signs = logits.sign().sum();
        self.pending = Some(match self.pending.take() {
            Some(sum) => sum.add(signs),
            None => signs,
        });
        self.observed += n as u64;
        self.updates += 1;
        if self.updates >= self.config.interval {
            let total = self.sign_sum + self.read_pending();
            self.adjust(total, self.observed);
        }
    }

    /// Ends an interval whose Σ sign(D(x_real)) over `observed` real logits is `sign_sum`:
    /// p moves by sign(r − target)·observed/speed_images, clamped to [0, 1] (unchanged for
    /// a non-finite r). Returns r.
    pub fn adjust(&mut self, sign_sum: f64, observed: u64) -> f64 {
        let r = sign_sum / observed.max(1) as f64;
        if r.is_finite() {
            let direction = if r > self.config.target {
                1.0
            } else if r < self.config.target {
                -1.0
            } else {
                0.0
            };
            self.p = (self.p + direction * self.step_size(observed)).clamp(0.0, 1.0);
        }
        self.last_signal = Some(r);
        self.sign_sum = 0.0;
        self.pending = None;
        self.observed = 0;
        self.updates = 0;
        r
    }

    fn read_pending(&self) -> f64 {
        self.pending.as_ref().map_or(0.0, |sum| {
            sum.clone()
                .into_data()
                .convert::<f64>()
                .iter::<f64>()
                .next()
                .unwrap_or(f64::NAN)
        })
    }

    /// The state to checkpoint (reads the interval's device sum back).
    pub fn state(&self) -> AdaState {
        AdaState {
            p: self.p,
            sign_sum: self.sign_sum + self.read_pending(),
            observed: self.observed,
            updates: self.updates,
        }
    }

    /// Restores `state`; refuses (leaving the controller unchanged) a state that this
    /// controller could not have reached.
    pub fn load(&mut self, state: &AdaState) -> Result<(), String> {
        if !(0.0..=1.0).contains(&state.p) {
            return Err(format!("p must be in [0, 1], got {}", state.p));
        }
        if state.updates >= self.config.interval {
            return Err(format!(
                "{} updates observed in an interval of {}",
                state.updates, self.config.interval
            ));
        }
        if state.sign_sum.is_nan() || state.sign_sum.abs() > state.observed as f64 {
            return Err(format!(
                "a sum of signs {} over {} logits",
                state.sign_sum, state.observed
            ));
        }
        self.p = state.p;
        self.sign_sum = state.sign_sum;
        self.pending = None;
        self.observed = state.observed;
        self.updates = state.updates;
        Ok(())
    }
}
