//! The built-in update rules: Adam, AdamW, RMSProp and SGD. Each does Burn's arithmetic in
//! Burn's order, so the updates are bit-identical to Burn's `Adam`, `AdamW`, `RmsProp` and
//! `Sgd` with the same coefficients (tested), and equal to PyTorch's up to rounding.

use burn::tensor::Tensor;

use super::{OptimizerRule, ParamState, TrainingTime, host};
use crate::Scheduled;

/// The update count as the `i32` exponent of the bias corrections.
fn exponent(state: &ParamState) -> i32 {
    i32::try_from(state.time).unwrap_or(i32::MAX)
}

/// The state tensors, moved out (not cloned): a tensor whose buffer has one owner is updated
/// in place by the CPU backends instead of being copied (same operations, so the same bits).
fn take(state: &mut ParamState) -> std::vec::IntoIter<Tensor<1>> {
    std::mem::take(&mut state.tensors).into_iter()
}

/// One update on host memory ([`host::adam`]) with the coefficients `step(t)` for update count
/// `t`: the new value; the moments go back into `state`.
fn on_host<S: host::ValueStep>(
    step: impl FnOnce(i32) -> S,
    value: Tensor<1>,
    grad: Tensor<1>,
    state: &mut ParamState,
) -> Tensor<1> {
    let mut parts = take(state);
    let moments = parts.next().zip(parts.next());
    let (value, m, v) = host::adam(step(exponent(state)), value, grad, moments);
    state.tensors = vec![m, v];
    value
}

fn zeros_like(t: &Tensor<1>) -> Tensor<1> {
    Tensor::<1>::zeros(t.dims(), &t.device()).cast(t.dtype())
}

/// A rule with two paths to the same bits (Adam, AdamW): one pass over host memory, taken for
/// f32 parameters on flex ([`host::applies`]), and Burn's chain of tensor operations, taken
/// everywhere else. `value`, `grad` and the state tensors are flat: shape `[n]`.
pub(super) trait TwoPaths {
    /// The update as one pass over host memory: f32 parameters on flex only.
    fn update_on_host(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1>;

    /// The update as Burn's chain of tensor operations, in Burn's order.
    fn update_with_tensors(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1>;

    /// Host memory where it applies, else the chain: the new value.
    fn update_on_either_path(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        if host::applies(&value, &grad, &state.tensors) {
            self.update_on_host(at, value, grad, state)
        } else {
            self.update_with_tensors(at, value, grad, state)
        }
    }
}

/// Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr·m·√(1−β₂ᵗ)/(1−β₁ᵗ) / (√v + ε√(1−β₂ᵗ)).
#[derive(Debug, Clone)]
pub(crate) struct Adam {
    pub(crate) lr: Scheduled,
    pub(crate) beta1: Scheduled,
    pub(crate) beta2: Scheduled,
    pub(crate) epsilon: f64,
}

impl Adam {
    fn betas(&self, at: TrainingTime) -> (f32, f32) {
        (
            self.beta1.at(at.step, at.total) as f32,
            self.beta2.at(at.step, at.total) as f32,
        )
    }

    /// The moments after `grad`: m and v.
    fn moments(
        &self,
        at: TrainingTime,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> (Tensor<1>, Tensor<1>) {
        let (b1, b2) = self.betas(at);
        let mut parts = take(state);
        let m = parts.next().unwrap_or_else(|| zeros_like(&grad));
        let v = parts.next().unwrap_or_else(|| zeros_like(&grad));
        let m = m.mul_scalar(b1).add(grad.clone().mul_scalar(1.0 - b1));
        let v = v.mul_scalar(b2).add(grad.square().mul_scalar(1.0 - b2));
        (m, v)
    }
}

impl OptimizerRule for Adam {
    fn kind(&self) -> &str {
        "adam"
    }

    fn state_names(&self) -> Vec<&'static str> {
        vec!["m", "v"]
    }

    fn learning_rate(&self, at: TrainingTime) -> f64 {
        self.lr.at(at.step, at.total)
    }

    /// On flex (f32), one pass over host memory ([`host::adam`]); elsewhere Burn's chain of
    /// tensor operations. The two give the same bits.
    fn update(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        self.update_on_either_path(at, value, grad, state)
    }
}

impl Adam {
    /// The update's f32 coefficients at `at`, for update count `t`.
    fn step(&self, at: TrainingTime, t: i32) -> host::AdamStep {
        let (beta1, beta2) = self.betas(at);
        let correction2 = (1.0 - beta2.powi(t)).sqrt();
        host::AdamStep {
            beta1,
            beta2,
            factor: correction2 / (1.0 - beta1.powi(t)),
            epsilon: self.epsilon as f32 * correction2,
            lr: self.learning_rate(at) as f32,
        }
    }
}

impl TwoPaths for Adam {
    fn update_with_tensors(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        let (m, v) = self.moments(at, grad, state);
        let step = self.step(at, exponent(state));
        let delta = m
            .clone()
            .mul_scalar(step.factor)
            .div(v.clone().sqrt().add_scalar(step.epsilon));
        state.tensors = vec![m, v];
        value.sub(delta.mul_scalar(step.lr))
    }

    fn update_on_host(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        on_host(|t| self.step(at, t), value, grad, state)
    }
}

/// AdamW: the bias-corrected Adam step m̂/(√v̂ + ε) with decoupled weight decay,
/// θ ← θ·(1 − lr·λ) − lr·m̂/(√v̂ + ε).
#[derive(Debug, Clone)]
pub(crate) struct AdamW {
    pub(crate) adam: Adam,
    pub(crate) weight_decay: f64,
}

impl OptimizerRule for AdamW {
    fn kind(&self) -> &str {
        "adamw"
    }

    fn state_names(&self) -> Vec<&'static str> {
        vec!["m", "v"]
    }

    fn learning_rate(&self, at: TrainingTime) -> f64 {
        self.adam.learning_rate(at)
    }

    /// On flex (f32), one pass over host memory ([`host::adam`]); elsewhere Burn's chain of
    /// tensor operations. The two give the same bits.
    fn update(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        self.update_on_either_path(at, value, grad, state)
    }
}

impl AdamW {
    /// lr·λ, with λ kept in f32 as Burn keeps it.
    fn decay(&self, at: TrainingTime) -> f64 {
        self.learning_rate(at) * f64::from(self.weight_decay as f32)
    }

    /// The update's f32 coefficients at `at`, for update count `t`.
    fn step(&self, at: TrainingTime, t: i32) -> host::AdamWStep {
        let (beta1, beta2) = self.adam.betas(at);
        let decay = self.decay(at);
        host::AdamWStep {
            beta1,
            beta2,
            correction1: 1f32 - beta1.powi(t),
            correction2: 1f32 - beta2.powi(t),
            epsilon: self.adam.epsilon as f32,
            keep: (decay != 0.0).then_some((1.0 - decay) as f32),
            lr: self.learning_rate(at) as f32,
        }
    }
}

impl TwoPaths for AdamW {
    fn update_on_host(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        on_host(|t| self.step(at, t), value, grad, state)
    }

    fn update_with_tensors(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        let (b1, b2) = self.adam.betas(at);
        let (m, v) = self.adam.moments(at, grad, state);
        let t = exponent(state);
        let m_hat = m.clone().div_scalar(1f32 - b1.powi(t));
        let v_hat = v.clone().div_scalar(1f32 - b2.powi(t));
        let delta = m_hat.div(v_hat.sqrt().add_scalar(self.adam.epsilon as f32));
        state.tensors = vec![m, v];
        let lr = self.learning_rate(at);
        let decay = self.decay(at);
        let decayed = if decay == 0.0 {
            value
        } else {
            value.mul_scalar(1.0 - decay)
        };
        decayed.sub(delta.mul_scalar(lr))
    }
}

/// RMSProp: a ← αa + (1−α)g², d = g/(√a + ε); with momentum b ← μb + d, θ ← θ − lr·b, else
/// θ ← θ − lr·d.
#[derive(Debug, Clone)]
pub(crate) struct RmsProp {
    pub(crate) lr: Scheduled,
    pub(crate) alpha: f64,
    pub(crate) epsilon: f64,
    pub(crate) momentum: f64,
}

impl OptimizerRule for RmsProp {
    fn kind(&self) -> &str {
        "rmsprop"
    }

    fn state_names(&self) -> Vec<&'static str> {
        if self.momentum > 0.0 {
            vec!["square_avg", "momentum"]
        } else {
            vec!["square_avg"]
        }
    }

    fn learning_rate(&self, at: TrainingTime) -> f64 {
        self.lr.at(at.step, at.total)
    }

    fn update(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        let (alpha, eps, mu) = (self.alpha as f32, self.epsilon as f32, self.momentum as f32);
        let mut parts = take(state);
        let a = parts.next().unwrap_or_else(|| zeros_like(&grad));
        let a = a
            .mul_scalar(alpha)
            .add(grad.clone().square().mul_scalar(1.0 - alpha));
        let d = grad.div(a.clone().sqrt().add_scalar(eps));
        let delta = if mu > 0.0 {
            let b = parts.next().unwrap_or_else(|| zeros_like(&d));
            let b = b.mul_scalar(mu).add(d);
            state.tensors = vec![a, b.clone()];
            b
        } else {
            state.tensors = vec![a];
            d
        };
        value.sub(delta.mul_scalar(self.learning_rate(at)))
    }
}

/// SGD: g ← g + λθ (weight decay); with momentum v ← g on the first update, then
/// v ← μv + (1 − dampening)·g, and g ← v (or g + μv with Nesterov); θ ← θ − lr·g.
#[derive(Debug, Clone)]
pub(crate) struct Sgd {
    pub(crate) lr: Scheduled,
    pub(crate) momentum: f64,
    pub(crate) dampening: f64,
    pub(crate) nesterov: bool,
    pub(crate) weight_decay: f64,
}

impl OptimizerRule for Sgd {
    fn kind(&self) -> &str {
        "sgd"
    }

    fn state_names(&self) -> Vec<&'static str> {
        if self.momentum > 0.0 {
            vec!["velocity"]
        } else {
            Vec::new()
        }
    }

    fn learning_rate(&self, at: TrainingTime) -> f64 {
        self.lr.at(at.step, at.total)
    }

    fn update(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1> {
        let grad = if self.weight_decay > 0.0 {
            value.clone().mul_scalar(self.weight_decay as f32).add(grad)
        } else {
            grad
        };
        let grad = if self.momentum > 0.0 {
            let mu = self.momentum as f32;
            let velocity = match take(state).next() {
                Some(v) => grad
                    .clone()
                    .mul_scalar(1.0 - self.dampening)
                    .add(v.mul_scalar(mu)),
                None => grad.clone(),
            };
            state.tensors = vec![velocity.clone()];
            if self.nesterov {
                velocity.mul_scalar(mu).add(grad)
            } else {
                velocity
            }
        } else {
            grad
        };
        value.sub(grad.mul_scalar(self.learning_rate(at)))
    }
}
