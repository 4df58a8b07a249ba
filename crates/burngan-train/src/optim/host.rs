//! Adam's and AdamW's updates as one pass over host memory, for parameters on flex.
//!
//! As tensor operations, one Adam update is a chain of twelve kernels, each reading its inputs
//! and writing a fresh result: for a DCGAN's 3.2 M-value weight, about 30 passes over 13 MB
//! buffers and a page-faulting allocation for every result that cannot be written in place. A
//! flex tensor lives in host memory and moves in and out of [`TensorData`] without a copy when
//! its buffer has one owner, so here the parameter, its gradient and the two moments are read
//! once and written once. Every value gets the same f32 operations in the same order as in the
//! tensor chain (Rust never contracts `a * b + c` into a fused multiply-add), so the results
//! are bit-identical (tested against the chain on flex). Large buffers are split into chunks
//! across rayon's threads, which changes only which thread computes a value.

use burn::tensor::{DType, Device, Tensor, TensorData};
use rayon::prelude::*;

/// Buffers of at least this many values are split across rayon's threads (the flex patch's
/// threshold for element-wise kernels).
const PARALLEL_THRESHOLD: usize = 64 * 1024;

/// The values each of rayon's jobs updates.
const CHUNK: usize = 32 * 1024;

/// The f32 coefficients of one Adam update, as the tensor chain rounds them.
#[derive(Debug, Clone, Copy)]
pub(super) struct AdamStep {
    /// β₁.
    pub(super) beta1: f32,
    /// β₂.
    pub(super) beta2: f32,
    /// √(1−β₂ᵗ)/(1−β₁ᵗ).
    pub(super) factor: f32,
    /// ε√(1−β₂ᵗ).
    pub(super) epsilon: f32,
    /// The learning rate.
    pub(super) lr: f32,
}

/// The f32 coefficients of one AdamW update, as the tensor chain rounds them.
#[derive(Debug, Clone, Copy)]
pub(super) struct AdamWStep {
    /// β₁.
    pub(super) beta1: f32,
    /// β₂.
    pub(super) beta2: f32,
    /// 1−β₁ᵗ.
    pub(super) correction1: f32,
    /// 1−β₂ᵗ.
    pub(super) correction2: f32,
    /// ε.
    pub(super) epsilon: f32,
    /// 1 − lr·λ, or `None` when lr·λ is 0 (the value is not scaled).
    pub(super) keep: Option<f32>,
    /// The learning rate.
    pub(super) lr: f32,
}

/// One value's update from its gradient, with its two moments: what [`adam`] applies to every
/// value.
pub(super) trait ValueStep: Sync {
    /// Updates `value` and its moments `m`, `v` from `grad`, each operation rounded to f32 as
    /// its own kernel would round it.
    fn apply(&self, value: &mut f32, grad: f32, m: &mut f32, v: &mut f32);
}

/// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², in the chain's order.
fn moments(beta1: f32, beta2: f32, grad: f32, m: &mut f32, v: &mut f32) {
    *m = *m * beta1 + grad * (1.0 - beta1);
    *v = *v * beta2 + grad * grad * (1.0 - beta2);
}

impl ValueStep for AdamStep {
    /// θ ← θ − lr·(m·factor)/(√v + ε).
    fn apply(&self, value: &mut f32, grad: f32, m: &mut f32, v: &mut f32) {
        moments(self.beta1, self.beta2, grad, m, v);
        let delta = *m * self.factor / (v.sqrt() + self.epsilon);
        *value -= delta * self.lr;
    }
}

impl ValueStep for AdamWStep {
    /// θ ← θ·(1 − lr·λ) − lr·(m/(1−β₁ᵗ))/(√(v/(1−β₂ᵗ)) + ε).
    fn apply(&self, value: &mut f32, grad: f32, m: &mut f32, v: &mut f32) {
        moments(self.beta1, self.beta2, grad, m, v);
        let delta = *m / self.correction1 / ((*v / self.correction2).sqrt() + self.epsilon);
        if let Some(keep) = self.keep {
            *value *= keep;
        }
        *value -= delta * self.lr;
    }
}

/// [`ValueStep::apply`] to every value of the four equally long slices.
fn apply_all<S: ValueStep>(
    step: &S,
    value: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
) {
    for (((value, &grad), m), v) in value.iter_mut().zip(grad).zip(m).zip(v) {
        step.apply(value, grad, m, v);
    }
}

/// Whether [`adam`] applies to a parameter `value` with `grad` and its rule's `state`
/// tensors: all of them f32, on flex.
pub(super) fn applies(value: &Tensor<1>, grad: &Tensor<1>, state: &[Tensor<1>]) -> bool {
    [value, grad]
        .into_iter()
        .chain(state)
        .all(|t| t.dtype() == DType::F32)
        && burngan_backend::is_flex(&value.device())
}

/// One Adam or AdamW update (`step`) of `value` `[n]` with `grad` `[n]` and the moments `m`,
/// `v` `[n]` (zeros when `None`, before the first update): the new value and moments, each
/// `[n]`. Every tensor must satisfy [`applies`].
pub(super) fn adam<S: ValueStep>(
    step: S,
    value: Tensor<1>,
    grad: Tensor<1>,
    moments: Option<(Tensor<1>, Tensor<1>)>,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let device = value.device();
    let n = value.dims()[0];
    let (mut m, mut v) = match moments {
        Some((m, v)) => (m.into_data(), v.into_data()),
        None => (zeros(n), zeros(n)),
    };
    let mut value = value.into_data();
    let grad = grad.into_data();
    {
        let value = f32s_mut(&mut value);
        let grad = grad.as_slice::<f32>().expect("an f32 gradient");
        let (m, v) = (f32s_mut(&mut m), f32s_mut(&mut v));
        if n >= PARALLEL_THRESHOLD && rayon::current_num_threads() > 1 {
            value
                .par_chunks_mut(CHUNK)
                .zip(grad.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK))
                .zip(v.par_chunks_mut(CHUNK))
                .for_each(|(((value, grad), m), v)| apply_all(&step, value, grad, m, v));
        } else {
            apply_all(&step, value, grad, m, v);
        }
    }
    (
        tensor(value, &device),
        tensor(m, &device),
        tensor(v, &device),
    )
}

fn zeros(n: usize) -> TensorData {
    TensorData::new(vec![0f32; n], [n])
}

fn f32s_mut(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("an f32 tensor's data is a slice of f32")
}

fn tensor(data: TensorData, device: &Device) -> Tensor<1> {
    Tensor::from_data(data, (device, DType::F32))
}
