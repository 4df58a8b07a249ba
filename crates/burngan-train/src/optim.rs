//! Optimizers: their configuration, with PyTorch's defaults so that presets mean what papers
//! mean, and [`Optimizer`], which applies Adam or RMSProp to a module and keeps a state that a
//! checkpoint can store and restore exactly.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// One network's optimizer, as written in `[optimizer.generator]` or
/// `[optimizer.discriminator]`:
///
/// ```toml
/// [optimizer.generator]
/// kind = "adam"     # lr required; beta1 0.9, beta2 0.999, epsilon 1e-8 by default
/// lr = 1e-4
/// beta1 = 0.5
/// ```
/// or `kind = "rmsprop"` (lr required; alpha 0.99, epsilon 1e-8, momentum 0 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba 2015).
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first-moment estimate.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Decay of the second-moment estimate.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
    },
    /// RMSProp (Tieleman & Hinton 2012), the optimizer of the WGAN paper.
    #[serde(rename = "rmsprop")]
    RmsProp {
        /// Learning rate.
        lr: f64,
        /// Decay of the squared-gradient average.
        #[serde(default = "alpha")]
        alpha: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// Momentum (0 disables it).
        #[serde(default)]
        momentum: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn epsilon() -> f64 {
    1e-8
}
fn alpha() -> f64 {
    0.99
}

impl OptimizerConfig {
    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            OptimizerConfig::Adam { lr, .. } | OptimizerConfig::RmsProp { lr, .. } => lr,
        }
    }

    /// Checks every coefficient; `section` prefixes the field names in messages.
    pub fn validate(&self, section: &str) -> Result<(), TrainError> {
        let check = |field: &str, value: f64, ok: bool, expected: &str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(TrainError::config(format!(
                    "{section}.{field} must be {expected}, got {value}"
                )))
            }
        };
        let lr = self.learning_rate();
        check("lr", lr, lr > 0.0, "a finite number > 0 (e.g. 1e-4)")?;
        match *self {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                check("beta1", beta1, (0.0..1.0).contains(&beta1), "in [0, 1)")?;
                check("beta2", beta2, (0.0..1.0).contains(&beta2), "in [0, 1)")?;
                check("epsilon", epsilon, epsilon > 0.0, "a finite number > 0")
            }
            OptimizerConfig::RmsProp {
                alpha,
                epsilon,
                momentum,
                ..
            } => {
                check("alpha", alpha, (0.0..1.0).contains(&alpha), "in [0, 1)")?;
                check("epsilon", epsilon, epsilon > 0.0, "a finite number > 0")?;
                check(
                    "momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    "in [0, 1)",
                )
            }
        }
    }

    /// A fresh optimizer (no state yet) for one module.
    pub fn init(&self) -> Optimizer {
        Optimizer {
            config: self.clone(),
            slots: Vec::new(),
        }
    }
}

/// The state of one parameter: the update count and the running averages, flattened to `[n]`.
#[derive(Clone)]
struct Slot {
    time: u64,
    tensors: Vec<Tensor<1>>,
}

/// Adam or RMSProp over every parameter of a module, with the state in the order in which the
/// module's float tensors are visited (parameters and buffers; buffers have no gradient and no
/// state).
///
/// The arithmetic is Burn's (Adam: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr·m·√(1−β₂ᵗ)/
/// (1−β₁ᵗ) / (√v + ε√(1−β₂ᵗ)); RMSProp: a ← αa + (1−α)g², d = g/(√a + ε), with momentum
/// b ← μb + d, θ ← θ − lr·b), which is PyTorch's update up to rounding; the updates are
/// bit-identical to Burn's `Adam` and `RmsProp` (tested). Unlike Burn's
/// `ModuleOptimizer`, whose record is keyed by parameter ids and reloaded onto the default
/// device, this state is positional and stays on the parameters' device, so a checkpoint taken
/// from one run resumes another built from the same config bit for bit.
#[derive(Clone)]
pub struct Optimizer {
    config: OptimizerConfig,
    slots: Vec<Option<Slot>>,
}

impl Optimizer {
    /// The configuration.
    pub fn config(&self) -> &OptimizerConfig {
        &self.config
    }

    /// Updates every parameter of `module` that has a gradient in `grads` with learning rate
    /// `lr`, advancing the state.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, grads: GradientsParams) -> M {
        let mut mapper = Update {
            config: &self.config,
            slots: &mut self.slots,
            grads,
            lr,
            index: 0,
        };
        module.map(&mut mapper)
    }

    /// The state as a safetensors file: per parameter position `i`, tensors `i.m` and `i.v`
    /// (Adam) or `i.square_avg` and `i.momentum` (RMSProp), and the update count `i.time` in
    /// the metadata.
    pub fn state_bytes(&self) -> Result<Vec<u8>, String> {
        let names: &[&str] = match self.config {
            OptimizerConfig::Adam { .. } => &["m", "v"],
            OptimizerConfig::RmsProp { .. } => &["square_avg", "momentum"],
        };
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
        let names: &[&str] = match self.config {
            OptimizerConfig::Adam { .. } => &["m", "v"],
            OptimizerConfig::RmsProp { .. } => &["square_avg", "momentum"],
        };
        let device = device.clone().without_autodiff();
        let mut restored = vec![None; slots];
        for (i, slot) in restored.iter_mut().enumerate() {
            let Some(time) = metadata.get(&format!("{i}.time")) else {
                continue;
            };
            let time = time
                .parse()
                .map_err(|_| format!("bad update count {time}"))?;
            let mut parts = Vec::new();
            // Adam keeps m and v; RMSProp keeps its average and, with momentum, the buffer.
            let expected = match self.config {
                OptimizerConfig::RmsProp { momentum, .. } if momentum <= 0.0 => 1,
                _ => 2,
            };
            for name in &names[..expected] {
                let view = tensors
                    .tensor(&format!("{i}.{name}"))
                    .map_err(|_| format!("the state has no tensor {i}.{name}"))?;
                if view.shape() != [sizes[i]] {
                    return Err(format!(
                        "state {i}.{name} has shape {:?}, the parameter {} values",
                        view.shape(),
                        sizes[i]
                    ));
                }
                let data = match view.dtype() {
                    Dtype::F32 => TensorData::from_bytes_vec(
                        view.data().to_vec(),
                        view.shape().to_vec(),
                        DType::F32,
                    ),
                    Dtype::F64 => TensorData::from_bytes_vec(
                        view.data().to_vec(),
                        view.shape().to_vec(),
                        DType::F64,
                    ),
                    other => return Err(format!("state {i}.{name} has dtype {other:?}")),
                };
                parts.push(Tensor::from_data(data, &device));
            }
            *slot = Some(Slot {
                time,
                tensors: parts,
            });
        }
        self.slots = restored;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self.config {
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
        }
    }
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

struct Update<'a> {
    config: &'a OptimizerConfig,
    slots: &'a mut Vec<Option<Slot>>,
    grads: GradientsParams,
    lr: f64,
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
        let slot = &mut self.slots[index];
        let config = self.config;
        let lr = self.lr;
        param.map(|tensor| {
            let tracked = tensor.is_autodiff();
            let require_grad = tracked && tensor.is_require_grad();
            let value = if tracked { tensor.inner() } else { tensor };
            let updated = apply(config, slot, lr, value, grad);
            match (tracked, require_grad) {
                (true, true) => Tensor::from_inner(updated).require_grad(),
                (true, false) => Tensor::from_inner(updated),
                _ => updated,
            }
        })
    }
}

/// One update of `value` by `grad` (both outside autodiff), advancing `slot`.
fn apply<const R: usize>(
    config: &OptimizerConfig,
    slot: &mut Option<Slot>,
    lr: f64,
    value: Tensor<R>,
    grad: Tensor<R>,
) -> Tensor<R> {
    let dims = grad.dims();
    let n = grad.shape().num_elements();
    let flat = grad.reshape([n]);
    let (device, dtype) = (flat.device(), flat.dtype());
    let zeros = || Tensor::<1>::zeros([n], &device).cast(dtype);
    let state = slot.get_or_insert_with(|| Slot {
        time: 0,
        tensors: Vec::new(),
    });
    state.time += 1;
    let delta = match *config {
        OptimizerConfig::Adam {
            beta1,
            beta2,
            epsilon,
            ..
        } => {
            let (b1, b2, eps) = (beta1 as f32, beta2 as f32, epsilon as f32);
            // The state is moved out, not cloned: a tensor whose buffer has one owner is
            // updated in place by the CPU backends instead of being copied into a fresh
            // allocation (same operations in the same order, so the same bits).
            let mut state_tensors = std::mem::take(&mut state.tensors).into_iter();
            let m = state_tensors.next().unwrap_or_else(zeros);
            let v = state_tensors.next().unwrap_or_else(zeros);
            let m = m.mul_scalar(b1).add(flat.clone().mul_scalar(1.0 - b1));
            let v = v.mul_scalar(b2).add(flat.square().mul_scalar(1.0 - b2));
            let t = i32::try_from(state.time).unwrap_or(i32::MAX);
            let correction2 = (1.0 - b2.powi(t)).sqrt();
            let factor = correction2 / (1.0 - b1.powi(t));
            let delta = m
                .clone()
                .mul_scalar(factor)
                .div(v.clone().sqrt().add_scalar(eps * correction2));
            state.tensors = vec![m, v];
            delta
        }
        OptimizerConfig::RmsProp {
            alpha,
            epsilon,
            momentum,
            ..
        } => {
            let (alpha, eps, mu) = (alpha as f32, epsilon as f32, momentum as f32);
            let mut state_tensors = std::mem::take(&mut state.tensors).into_iter();
            let a = state_tensors.next().unwrap_or_else(zeros);
            let a = a
                .mul_scalar(alpha)
                .add(flat.clone().square().mul_scalar(1.0 - alpha));
            let d = flat.div(a.clone().sqrt().add_scalar(eps));
            if mu > 0.0 {
                let b = state_tensors.next().unwrap_or_else(zeros);
                let b = b.mul_scalar(mu).add(d);
                state.tensors = vec![a, b.clone()];
                b
            } else {
                state.tensors = vec![a];
                d
            }
        }
    };
    value.sub(delta.reshape(dims).mul_scalar(lr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig};
    use burngan_backend::{BackendKind, device};
    use burngan_core::{Discriminator, HostRng};
    use burngan_models::{MlpDiscriminator, MlpDiscriminatorConfig};

    fn parameters<M: Module>(module: &M) -> Vec<f32> {
        struct Collect(Vec<f32>);
        impl ModuleVisitor for Collect {
            fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
                let data = param.val().into_data().convert::<f32>();
                self.0.extend(data.try_to_vec::<f32>().unwrap());
            }
        }
        let mut collect = Collect(Vec::new());
        module.visit(&mut collect);
        collect.0
    }

    fn critic(device: &Device) -> MlpDiscriminator {
        MlpDiscriminatorConfig::new(vec![16, 8])
            .init(3, &mut HostRng::seed_from(5), device)
            .unwrap()
    }

    /// The gradients of Σ D(x)² on batch `k` of a fixed sequence.
    fn grads(module: &MlpDiscriminator, k: u64, device: &Device) -> GradientsParams {
        let x = HostRng::seed_from(100 + k).normal([8, 3], device);
        let out = module.forward(x);
        let loss = out.clone().mul(out).sum();
        GradientsParams::from_grads(loss.backward(), module)
    }

    fn configs() -> [(OptimizerConfig, ModuleOptimizer); 3] {
        [
            (
                OptimizerConfig::Adam {
                    lr: 1e-2,
                    beta1: 0.5,
                    beta2: 0.9,
                    epsilon: 1e-8,
                },
                AdamConfig::new()
                    .with_beta_1(0.5)
                    .with_beta_2(0.9)
                    .with_epsilon(1e-8)
                    .init(),
            ),
            (
                OptimizerConfig::RmsProp {
                    lr: 1e-2,
                    alpha: 0.99,
                    epsilon: 1e-8,
                    momentum: 0.0,
                },
                RmsPropConfig::new()
                    .with_alpha(0.99)
                    .with_epsilon(1e-8)
                    .with_momentum(0.0)
                    .init(),
            ),
            (
                OptimizerConfig::RmsProp {
                    lr: 1e-2,
                    alpha: 0.9,
                    epsilon: 1e-8,
                    momentum: 0.5,
                },
                RmsPropConfig::new()
                    .with_alpha(0.9)
                    .with_epsilon(1e-8)
                    .with_momentum(0.5)
                    .init(),
            ),
        ]
    }

    /// Five updates of ours and of Burn's `ModuleOptimizer` from the same gradients agree bit for bit.
    #[test]
    fn updates_match_burns_own_optimizers() {
        let device = device(BackendKind::Flex).unwrap().autodiff();
        for (config, mut reference) in configs() {
            let mut ours = config.init();
            let (mut a, mut b) = (critic(&device), critic(&device));
            for k in 0..5 {
                let ga = grads(&a, k, &device);
                a = ours.step(1e-2, a, ga);
                let gb = grads(&b, k, &device);
                b = reference.step(1e-2, b, gb);
            }
            let (pa, pb) = (parameters(&a), parameters(&b));
            let worst = pa
                .iter()
                .zip(&pb)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(worst == 0.0, "{config:?}: max difference {worst}");
            assert_ne!(pa, parameters(&critic(&device)), "{config:?} did not move");
        }
    }

    #[test]
    fn a_restored_state_continues_exactly() {
        let device = device(BackendKind::Flex).unwrap().autodiff();
        for (config, _) in configs() {
            let mut straight = config.init();
            let mut module = critic(&device);
            for k in 0..5 {
                let g = grads(&module, k, &device);
                module = straight.step(1e-2, module, g);
            }
            let mut first = config.init();
            let mut resumed = critic(&device);
            for k in 0..3 {
                let g = grads(&resumed, k, &device);
                resumed = first.step(1e-2, resumed, g);
            }
            let bytes = first.state_bytes().unwrap();
            let mut second = config.init();
            second.load_state(&bytes, &resumed, &device).unwrap();
            for k in 3..5 {
                let g = grads(&resumed, k, &device);
                resumed = second.step(1e-2, resumed, g);
            }
            assert_eq!(parameters(&resumed), parameters(&module), "{config:?}");
        }
        // A state for the wrong optimizer or model is an error, not a panic.
        let (adam, _) = &configs()[0];
        let (rmsprop, _) = &configs()[1];
        let mut optimizer = adam.init();
        let module = critic(&device);
        let g = grads(&module, 0, &device);
        let module = optimizer.step(1e-2, module, g);
        let bytes = optimizer.state_bytes().unwrap();
        let error = rmsprop
            .init()
            .load_state(&bytes, &module, &device)
            .unwrap_err();
        assert!(error.contains("the state is for adam"), "{error}");
        let small = MlpDiscriminatorConfig::new(vec![4])
            .init(3, &mut HostRng::seed_from(5), &device)
            .unwrap();
        let error = adam.init().load_state(&bytes, &small, &device).unwrap_err();
        assert!(
            error.contains("shape") || error.contains("slots"),
            "{error}"
        );
        let error = adam
            .init()
            .load_state(b"junk", &module, &device)
            .unwrap_err();
        assert!(!error.is_empty());
    }
}
