//! Optimizers: [`OptimizerRule`], the trait an update rule implements for one parameter
//! tensor; [`Optimizer`], which applies a rule to every parameter of a module and keeps the
//! per-parameter state in visiting order on the parameters' device, so a checkpoint stores and
//! restores it exactly; the built-in rules (Adam, AdamW, RMSProp, SGD) behind
//! [`OptimizerConfig`]; and [`GradientClip`], clipping by global norm or by value.
//!
//! An application's own rule plugs in with [`Optimizer::new`] and
//! `GanTrainer::with_optimizers`.

mod config;
mod host;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

pub use config::OptimizerConfig;

use crate::TrainError;

/// Where in the run an update happens: `step` generator steps done (0 during the first step)
/// of `total`. Schedules read their value from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainingTime {
    /// Generator steps done before this update.
    pub step: usize,
    /// The run's total number of generator steps.
    pub total: usize,
}

/// The state an [`OptimizerRule`] keeps for one parameter: how many updates it has had and
/// the rule's tensors, each flattened to `[n]` (n the parameter's number of values), in the
/// order of [`OptimizerRule::state_names`].
#[derive(Debug, Clone, Default)]
pub struct ParamState {
    /// Updates of this parameter so far, this one included (1 during the first update).
    pub time: u64,
    /// The rule's running tensors, `[n]` each; empty before the first update.
    pub tensors: Vec<Tensor<1>>,
}

/// An update rule for one parameter tensor. [`Optimizer`] calls it for every parameter that
/// has a gradient, with the parameter's own [`ParamState`]; the rule reads its
/// hyperparameters (scheduled or not) at the given [`TrainingTime`].
///
/// Implement it to bring your own optimizer: the trainer, checkpoints and resume then work
/// with it as with the built-in ones.
pub trait OptimizerRule: Send + Sync {
    /// A short stable name written into checkpoints (`"adam"`); a checkpoint written under
    /// another name is refused.
    fn kind(&self) -> &str;

    /// The names of the tensors [`update`](Self::update) keeps in [`ParamState::tensors`], in
    /// order (checkpoint keys `i.NAME` for parameter position `i`).
    fn state_names(&self) -> Vec<&'static str>;

    /// The learning rate at `at`.
    fn learning_rate(&self, at: TrainingTime) -> f64;

    /// The updated parameter, from its `value` and gradient `grad` (both `[n]`, outside
    /// autodiff, on the same device), advancing `state` (whose `time` already counts this
    /// update).
    fn update(
        &self,
        at: TrainingTime,
        value: Tensor<1>,
        grad: Tensor<1>,
        state: &mut ParamState,
    ) -> Tensor<1>;
}

/// Gradient clipping before an update, as `clip = { norm = 1.0 }` or `clip = { value = 0.01 }`
/// in an optimizer's config section.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum GradientClip {
    /// Scale all gradients of the module by min(1, c/(‖g‖ + 1e-6)), ‖g‖ the norm over every
    /// parameter together (PyTorch's `clip_grad_norm_`).
    Norm(f64),
    /// Clamp every gradient value to [−c, c] (PyTorch's `clip_grad_value_`).
    Value(f64),
}

impl GradientClip {
    fn validate(&self, field: &str) -> Result<(), TrainError> {
        let (GradientClip::Norm(c) | GradientClip::Value(c)) = *self;
        if c.is_finite() && c > 0.0 {
            Ok(())
        } else {
            Err(TrainError::config(format!(
                "{field} must be a finite number > 0, got {c}; e.g. clip = {{ norm = 1.0 }}"
            )))
        }
    }
}

/// An [`OptimizerRule`] applied to every parameter of a module, with the state in the order
/// in which the module's float tensors are visited (parameters and buffers; buffers have no
/// gradient and no state).
///
/// Unlike Burn's `ModuleOptimizer`, whose record is keyed by parameter ids and reloaded onto
/// the default device, this state is positional and stays on the parameters' device, so a
/// checkpoint taken from one run resumes another built from the same config bit for bit.
#[derive(Clone)]
pub struct Optimizer {
    rule: Arc<dyn OptimizerRule>,
    clip: Option<GradientClip>,
    slots: Vec<Option<ParamState>>,
}

impl std::fmt::Debug for Optimizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Optimizer")
            .field("kind", &self.rule.kind())
            .field("clip", &self.clip)
            .field("parameters", &self.slots.len())
            .finish()
    }
}

impl Optimizer {
    /// An optimizer with no state yet that applies `rule`.
    pub fn new(rule: impl OptimizerRule + 'static) -> Self {
        Self {
            rule: Arc::new(rule),
            clip: None,
            slots: Vec::new(),
        }
    }

    /// The same optimizer, clipping gradients with `clip` before each update.
    pub fn with_clip(mut self, clip: GradientClip) -> Self {
        self.clip = Some(clip);
        self
    }

    /// The rule's name (`"adam"`).
    pub fn kind(&self) -> &str {
        self.rule.kind()
    }

    /// The learning rate at `at`.
    pub fn learning_rate(&self, at: TrainingTime) -> f64 {
        self.rule.learning_rate(at)
    }

    /// The same rule and clipping with no state: what a checkpoint's state is loaded into.
    pub fn fresh(&self) -> Self {
        Self {
            rule: self.rule.clone(),
            clip: self.clip,
            slots: Vec::new(),
        }
    }

    /// Updates every parameter of `module` that has a gradient in `grads`, advancing the
    /// state; the hyperparameters are those at `at`.
    pub fn step<M: Module>(&mut self, at: TrainingTime, module: M, grads: GradientsParams) -> M {
        let scale = match self.clip {
            Some(GradientClip::Norm(max_norm)) => {
                let device = grads_device(&module, &grads);
                device.map(|device| {
                    let norm = gradient_norm(&module, &grads, &device);
                    // c/(‖g‖ + 1e-6), at most 1; stays on the device (no host read).
                    norm.add_scalar(1e-6)
                        .recip()
                        .mul_scalar(max_norm)
                        .clamp_max(1.0)
                })
            }
            _ => None,
        };
        let value_bound = match self.clip {
            Some(GradientClip::Value(bound)) => Some(bound),
            _ => None,
        };
        let mut mapper = Update {
            rule: self.rule.as_ref(),
            slots: &mut self.slots,
            grads,
            at,
            scale,
            value_bound,
            index: 0,
        };
        module.map(&mut mapper)
    }

    /// The state as a safetensors file: per parameter position `i`, the tensors `i.NAME` for
    /// each of the rule's [state names](OptimizerRule::state_names), and the update count
    /// `i.time` in the metadata.
    pub fn state_bytes(&self) -> Result<Vec<u8>, String> {
        let names = self.rule.state_names();
        let mut datas = Vec::new();
        let mut metadata = HashMap::new();
        metadata.insert("kind".to_string(), self.kind().to_string());
        metadata.insert("slots".to_string(), self.slots.len().to_string());
        for (i, slot) in self.slots.iter().enumerate() {
            let Some(slot) = slot else { continue };
            metadata.insert(format!("{i}.time"), slot.time.to_string());
            for (name, tensor) in names.iter().zip(&slot.tensors) {
                datas.push((format!("{i}.{name}"), tensor.clone().into_data()));
            }
        }
        let mut views = Vec::with_capacity(datas.len());
        for (name, data) in &datas {
            let dtype = match data.dtype() {
                DType::F32 => Dtype::F32,
                DType::F64 => Dtype::F64,
                other => {
                    return Err(format!(
                        "optimizer state of dtype {other:?} is not supported"
                    ));
                }
            };
            let view = TensorView::new(dtype, data.shape().to_vec(), data.as_bytes())
                .map_err(|e| e.to_string())?;
            views.push((name.clone(), view));
        }
        safetensors::serialize(views, Some(metadata)).map_err(|e| e.to_string())
    }

    /// Restores a state written by [`state_bytes`](Self::state_bytes) for `module` (which
    /// fixes the number and sizes of the parameters), placing it on `device`.
    pub fn load_state<M: Module>(
        &mut self,
        bytes: &[u8],
        module: &M,
        device: &Device,
    ) -> Result<(), String> {
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
        let metadata = header.metadata().clone().unwrap_or_default();
        let kind = metadata.get("kind").map(String::as_str).unwrap_or("?");
        if kind != self.kind() {
            return Err(format!(
                "the state is for {kind}, but the config asks for {}",
                self.kind()
            ));
        }
        let sizes = parameter_sizes(module);
        let slots: usize = metadata
            .get("slots")
            .and_then(|n| n.parse().ok())
            .ok_or("the state has no slot count")?;
        if slots > sizes.len() {
            return Err(format!(
                "the state has {slots} parameter slots, the model {}",
                sizes.len()
            ));
        }
        let names = self.rule.state_names();
        let device = device.clone().without_autodiff();
        let mut restored = vec![None; slots];
        for (i, slot) in restored.iter_mut().enumerate() {
            let Some(time) = metadata.get(&format!("{i}.time")) else {
                continue;
            };
            let time = time
                .parse()
                .map_err(|_| format!("bad update count {time}"))?;
            let mut parts = Vec::with_capacity(names.len());
            for name in &names {
                parts.push(state_tensor(
                    &tensors,
                    &format!("{i}.{name}"),
                    sizes[i],
                    &device,
                )?);
            }
            *slot = Some(ParamState {
                time,
                tensors: parts,
            });
        }
        self.slots = restored;
        Ok(())
    }
}

/// Tensor `key` of a saved state, which must hold `size` values.
fn state_tensor(
    tensors: &SafeTensors,
    key: &str,
    size: usize,
    device: &Device,
) -> Result<Tensor<1>, String> {
    let view = tensors
        .tensor(key)
        .map_err(|_| format!("the state has no tensor {key}"))?;
    if view.shape() != [size] {
        return Err(format!(
            "state {key} has shape {:?}, the parameter {size} values",
            view.shape()
        ));
    }
    let dtype = match view.dtype() {
        Dtype::F32 => DType::F32,
        Dtype::F64 => DType::F64,
        other => return Err(format!("state {key} has dtype {other:?}")),
    };
    let data = TensorData::from_bytes_vec(view.data().to_vec(), view.shape().to_vec(), dtype);
    Ok(Tensor::from_data(data, device))
}

/// The number of values of every float tensor of `module`, in visiting order.
fn parameter_sizes<M: Module>(module: &M) -> Vec<usize> {
    struct Sizes(Vec<usize>);
    impl ModuleVisitor for Sizes {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            self.0.push(param.shape().num_elements());
        }
    }
    let mut sizes = Sizes(Vec::new());
    module.visit(&mut sizes);
    sizes.0
}

/// The device of the first gradient of `module` in `grads`, if any.
fn grads_device<M: Module>(module: &M, grads: &GradientsParams) -> Option<Device> {
    struct First<'a> {
        grads: &'a GradientsParams,
        device: Option<Device>,
    }
    impl ModuleVisitor for First<'_> {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            if self.device.is_none() {
                self.device = self.grads.get::<R>(param.id).map(|g| g.device());
            }
        }
    }
    let mut first = First {
        grads,
        device: None,
    };
    module.visit(&mut first);
    first.device
}

/// ‖∇θ‖₂ over every parameter of `module` that has a gradient in `grads`; shape `[1]`.
pub fn gradient_norm<M: Module>(module: &M, grads: &GradientsParams, device: &Device) -> Tensor<1> {
    struct SumOfSquares<'a> {
        grads: &'a GradientsParams,
        total: Tensor<1>,
    }
    impl ModuleVisitor for SumOfSquares<'_> {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            if let Some(grad) = self.grads.get::<R>(param.id) {
                let squares = grad.clone().mul(grad).sum();
                let squares = squares.to_device(&self.total.device());
                self.total = self.total.clone().add(squares);
            }
        }
    }
    let mut visitor = SumOfSquares {
        grads,
        total: Tensor::zeros([1], &device.clone().without_autodiff()),
    };
    module.visit(&mut visitor);
    visitor.total.sqrt()
}

struct Update<'a> {
    rule: &'a dyn OptimizerRule,
    slots: &'a mut Vec<Option<ParamState>>,
    grads: GradientsParams,
    at: TrainingTime,
    /// Global-norm clipping: the factor every gradient is multiplied by, `[1]`.
    scale: Option<Tensor<1>>,
    /// Value clipping: the bound.
    value_bound: Option<f64>,
    index: usize,
}

impl ModuleMapper for Update<'_> {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        let index = self.index;
        self.index += 1;
        let Some(grad) = self.grads.remove::<R>(param.id) else {
            return param;
        };
        if self.slots.len() <= index {
            self.slots.resize(index + 1, None);
        }
        let state = self.slots[index].get_or_insert_with(ParamState::default);
        state.time += 1;
        let n = grad.shape().num_elements();
        let mut grad = grad.reshape([n]);
        if let Some(scale) = &self.scale {
            let (device, dtype) = (grad.device(), grad.dtype());
            grad = grad.mul(scale.clone().to_device(&device).cast(dtype));
        }
        if let Some(bound) = self.value_bound {
            grad = grad.clamp(-bound, bound);
        }
        let (rule, at) = (self.rule, self.at);
        param.map(|tensor| {
            let tracked = tensor.is_autodiff();
            let require_grad = tracked && tensor.is_require_grad();
            let value = if tracked { tensor.inner() } else { tensor };
            let dims = value.dims();
            let updated = rule
                .update(at, value.reshape([n]), grad, state)
                .reshape(dims);
            match (tracked, require_grad) {
                (true, true) => Tensor::from_inner(updated).require_grad(),
                (true, false) => Tensor::from_inner(updated),
                _ => updated,
            }
        })
    }
}
