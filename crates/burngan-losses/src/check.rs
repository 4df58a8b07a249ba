//! Public checks of a critic's hand-written [`InputGradient`], for an application's own tests.
//!
//! A wrong input gradient does not fail loudly: the gradient penalty is then computed from the
//! wrong vector field and training goes on with a wrong penalty. Two checks catch it:
//!
//! - [`check_input_gradient`] compares `input_gradient(x)` with autodiff's ∂(Σ D(x))/∂x on a
//!   batch, in the batch's own precision (f32 as trained, or f64). It catches a wrong formula:
//!   a missing factor, a wrong activation derivative, a transposed weight.
//! - [`check_penalty_gradients`] compares, in f64, what training actually differentiates — the
//!   penalty's parameter gradients by autodiff *through* `input_gradient` — with central finite
//!   differences of the penalty computed from autodiff's input gradient. It catches a wrong
//!   formula too, and also an input gradient whose value is right but whose dependence on the
//!   weights is lost (a detached weight, a weight read back to the host), which the first check
//!   cannot see.
//!
//! Both return a [`GradientCheck`] (the worst error, where it is and both values there) or a
//! [`CheckError`] that says why the check cannot run; neither panics on a device without
//! autodiff or on a critic that names an [`unsupported_layer`](InputGradient::unsupported_layer).
//!
//! [`GradientCheck`] says how the errors are defined; [`check_input_gradient`] has an example.

use std::fmt;
use std::panic::AssertUnwindSafe;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{DType, Device, Gradients, Int, Tensor, TensorData};
use burngan_core::{HostRng, InputGradient};

use crate::PenaltyConfig;

/// The outcome of a gradient check: the worst disagreement between the checked gradient and
/// its reference, where it is, and both values there.
///
/// # The errors are relative to the gradient's scale
///
/// With c the checked values and r the reference values (autodiff, or finite differences),
/// `max_abs_error` = maxᵢ |cᵢ − rᵢ|, `scale` = maxᵢ |rᵢ| and `max_rel_error` =
/// `max_abs_error` / `scale` (0 when both are 0, infinite when only the scale is 0). A
/// non-finite value on either side counts as an infinite error. The scale is global rather
/// than per element because a critic's gradient has elements that are zero or nearly so (dead
/// units, cancellations), where a per-element relative error measures rounding noise.
/// Tolerances that hold for burngan's own critics: 1e-5 in f32 for the input gradient, 1e-6 in
/// f64 for the penalty's parameter gradients.
#[derive(Debug, Clone, PartialEq)]
pub struct GradientCheck {
    /// What was checked: `"input_gradient"`, or `"autodiff through input_gradient"` for the
    /// penalty's parameter gradients.
    pub checked: String,
    /// What it was compared with: `"autodiff"`, or `"central differences"`.
    pub reference: String,
    /// How many values were compared (elements of the batch, or parameter values).
    pub compared: usize,
    /// maxᵢ |checkedᵢ − referenceᵢ|.
    pub max_abs_error: f64,
    /// maxᵢ |referenceᵢ|, the gradient's scale.
    pub scale: f64,
    /// `max_abs_error / scale`.
    pub max_rel_error: f64,
    /// Where the worst error is: `x[3, 1]` (row 3, feature 1 of the batch) or a parameter's
    /// module path and index, such as `layers.0.weight[4, 2]`.
    pub worst_element: String,
    /// The checked value at the worst element.
    pub checked_at_worst: f64,
    /// The reference value at the worst element.
    pub reference_at_worst: f64,
}

impl GradientCheck {
    /// Whether the worst relative error is at most `tolerance` (false for a non-finite error).
    pub fn passes(&self, tolerance: f64) -> bool {
        self.max_rel_error <= tolerance
    }

    /// `Ok` when the check [`passes`](Self::passes); otherwise [`CheckError::Mismatch`], whose
    /// message names the worst element and both values there.
    pub fn ensure(&self, tolerance: f64) -> Result<(), CheckError> {
        if self.passes(tolerance) {
            Ok(())
        } else {
            Err(CheckError::Mismatch {
                check: Box::new(self.clone()),
                tolerance,
            })
        }
    }
}

impl fmt::Display for GradientCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} against {}: worst relative error {:.3e} at {} ({} {:.9e}, {} {:.9e}; absolute \
             error {:.3e}, scale max |{}| = {:.3e}, {} values compared)",
            self.checked,
            self.reference,
            self.max_rel_error,
            self.worst_element,
            self.checked,
            self.checked_at_worst,
            self.reference,
            self.reference_at_worst,
            self.max_abs_error,
            self.reference,
            self.scale,
            self.compared
        )
    }
}

/// Why a gradient check cannot run, or did not pass.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckError {
    /// The batch is on a device without autodiff.
    #[error(
        "the gradient check needs autodiff, but the batch is on {device}, which has none; create \
         the batch on `device.autodiff()` (the device the trainer uses)"
    )]
    NoAutodiff {
        /// The batch's device.
        device: String,
    },
    /// Every parameter of the critic is on a device without autodiff.
    #[error(
        "the critic's parameters are on a device without autodiff ({device}); build the critic \
         on `device.autodiff()`, as the trainer needs too"
    )]
    CriticWithoutAutodiff {
        /// The device of the critic's parameters.
        device: String,
    },
    /// The critic and the batch are on different devices.
    #[error(
        "the critic has a parameter on {critic} but the batch is on {batch}; put both on one \
         device"
    )]
    DeviceMismatch {
        /// The device of the critic's parameter.
        critic: String,
        /// The batch's device.
        batch: String,
    },
    /// The critic names a layer through which it cannot give a per-sample input gradient.
    #[error(
        "the critic has no per-sample input gradient ({layer}), so gradient penalties refuse it \
         and there is nothing to check"
    )]
    UnsupportedLayer {
        /// What [`InputGradient::unsupported_layer`] said.
        layer: String,
    },
    /// A batch, label or gradient of a shape that does not fit.
    #[error("{message}")]
    Shape {
        /// What does not fit.
        message: String,
    },
    /// A label outside `0..num_classes`.
    #[error(
        "label {label} in row {row} is outside 0..{num_classes}, the critic's classes; pass \
         labels in that range"
    )]
    Label {
        /// The row of the batch.
        row: usize,
        /// The label there.
        label: i64,
        /// The critic's number of classes.
        num_classes: usize,
    },
    /// The device cannot compute in f64.
    #[error(
        "the penalty check runs in f64, which {device} does not support; run it on flex or \
         ndarray (`burngan::backend::device(BackendKind::Flex)`)"
    )]
    NoF64 {
        /// The batch's device.
        device: String,
    },
    /// The critic panicked when evaluated in f64.
    #[error(
        "the critic failed in f64 ({message}); most often a tensor that its forward or input_gradient \
         creates in the device's default dtype stays f32 (`bool.float()`, `Tensor::ones(shape, \
         &device)`): create it like its input instead (`x.ones_like()`, `.cast(x.dtype())`)"
    )]
    FailedInF64 {
        /// Burn's panic message.
        message: String,
    },
    /// Nothing to differentiate.
    #[error(
        "the critic has no trainable parameter (none requires a gradient), so the penalty has \
         no parameter gradient to check"
    )]
    NoTrainableParameters,
    /// The check ran and its worst relative error exceeds the tolerance.
    #[error("{check}; the tolerance is {tolerance:.1e}")]
    Mismatch {
        /// The check's outcome.
        check: Box<GradientCheck>,
        /// The tolerance it exceeds.
        tolerance: f64,
    },
}

/// Compares `critic.input_gradient(x)` with autodiff's ∂(Σ D(x))/∂x on the batch `x`
/// `[batch, …]` (the critic's input shape), in `x`'s precision. The logits are `[batch, 1]`, or
/// `[batch/m, 1]` for a critic that packs m samples into one input (PacGAN); the sum runs over
/// them either way.
///
/// `x` must be on an autodiff device (`device.autodiff()`), as must the critic's parameters.
/// The check works on a copy of the critic, so the critic's own state (spectral norm's
/// power-iteration vector) does not change: the copy's forward runs as a training forward
/// would, and `input_gradient` then sees the state that forward left, as in a training step.
/// Costs one forward, one backward and one `input_gradient` of the critic on `x`.
///
/// Returns the worst error with its element `x[i, …]`, as defined in [`GradientCheck`].
/// Errors: [`CheckError`] for a device without autodiff, a critic that names an unsupported
/// layer, an empty batch, or an output or gradient of the wrong shape.
///
/// # Example
///
/// ```
/// use burn::tensor::Tensor;
/// use burngan_core::{Discriminator, HostRng, InputGradient};
/// use burngan_losses::check_input_gradient;
/// # use burn::module::Module;
///
/// /// D(x) = Σⱼ xⱼ³ per sample, so ∇ₓD = 3x².
/// #[derive(Module, Debug)]
/// struct Cubic;
/// impl Discriminator<2> for Cubic {
///     fn forward(&self, x: Tensor<2>) -> Tensor<2> {
///         x.powi_scalar(3).sum_dim(1)
///     }
/// }
/// impl InputGradient<2> for Cubic {
///     fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
///         x.clone().mul(x).mul_scalar(3.0)
///     }
/// }
///
/// # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
/// let device = device.autodiff(); // the device the trainer uses
/// let x = HostRng::seed_from(0).normal([8, 3], &device); // [batch, features]
/// let check = check_input_gradient(&Cubic, x).unwrap();
/// assert!(check.max_rel_error < 1e-6, "{check}");
/// check.ensure(1e-5).unwrap(); // or `?` in a test returning Result
/// ```
pub fn check_input_gradient<C, const D: usize>(
    critic: &C,
    x: Tensor<D>,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    input_gradient_check(critic, x, None)
}

/// [`check_input_gradient`] for a class-conditional critic: compares
/// [`input_gradient_labeled`](InputGradient::input_gradient_labeled) with autodiff of
/// [`forward_labeled`](burngan_core::Discriminator::forward_labeled), for samples `x`
/// `[batch, …]` with labels `[batch]` in `0..num_classes`.
pub fn check_input_gradient_labeled<C, const D: usize>(
    critic: &C,
    x: Tensor<D>,
    labels: Tensor<1, Int>,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    input_gradient_check(critic, x, Some(labels))
}

fn input_gradient_check<C, const D: usize>(
    critic: &C,
    x: Tensor<D>,
    labels: Option<Tensor<1, Int>>,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    let dims = x.dims();
    check_critic_and_batch(critic, &x, labels.as_ref())?;
    // A copy with its own running state: the check leaves the caller's critic as it was.
    let copy = critic.valid().train();
    let x = x.detach().require_grad();
    let out = match &labels {
        Some(labels) => copy.forward_labeled(x.clone(), labels.clone()),
        None => copy.forward(x.clone()),
    };
    // One logit per sample, or per pack of m samples (PacGAN): [batch/m, 1].
    let [logits, width] = out.dims();
    if width != 1 || logits == 0 || !dims[0].is_multiple_of(logits) {
        return Err(CheckError::Shape {
            message: format!(
                "the critic's forward gave logits of shape {:?} for a batch of {}; a critic \
                 gives [batch, 1], or [batch/m, 1] when it packs m samples",
                out.dims(),
                dims[0]
            ),
        });
    }
    let grads = out.sum().backward();
    let autodiff = match x.grad(&grads) {
        Some(grad) => host(grad),
        // The logits do not depend on x at all: the gradient is zero.
        None => vec![0.0; x.shape().num_elements()],
    };
    let x = x.detach();
    let ours = match labels {
        Some(labels) => copy.input_gradient_labeled(x, labels),
        None => copy.input_gradient(x),
    };
    if ours.dims() != dims {
        return Err(CheckError::Shape {
            message: format!(
                "input_gradient gave shape {:?} for a batch of shape {dims:?}; it must have the \
                 batch's shape",
                ours.dims()
            ),
        });
    }
    Ok(compare(
        "input_gradient",
        "autodiff",
        &host(ours),
        &autodiff,
        |i| format!("x{}", index_text(i, &dims)),
    ))
}

/// The central-difference step for a parameter value θ: `STEP`·max(1, |θ|).
const STEP: f64 = 1e-6;

/// Checks, in f64, the parameter gradients that training takes of `penalty`: autodiff
/// through the critic's `input_gradient` against central finite differences of the *true*
/// penalty, the same formula evaluated on autodiff's ∂(Σ D)/∂x.
///
/// The critic is copied and cast to f64 (every float parameter and buffer); `real` and `fake`
/// `[batch, …]` (any float precision) are cast to f64 and the penalty's points drawn from
/// `rng` once, as [`PenaltyConfig::points`] does in training. Every value θ of every
/// trainable parameter is then moved by ±h with h = 1e-6·max(1, |θ|), and the derivative
/// (P(θ + h) − P(θ − h))/(2h) of the true penalty P compared with autodiff's. A parameter that
/// the penalty does not depend on (the last layer's bias) has derivative 0 on both sides.
///
/// Cost: 2·(number of parameter values) + 1 evaluations, each a forward and a backward of the
/// critic on the points. Meant for a small critic: a few hundred to a few thousand values
/// (93 values and a batch of 6 take about 20 ms on flex).
///
/// Finite differences assume the penalty is smooth within ±h of θ: with a ReLU-family
/// activation, a pre-activation within about h·|x| of 0 makes one derivative a jump (rare at
/// h = 1e-6, and reported as that parameter's error).
///
/// The batch must be on an autodiff device that computes in f64 (flex or ndarray; not wgpu).
/// Errors: as [`check_input_gradient`], plus [`CheckError::NoF64`], a `real` and `fake` of
/// different shapes, [`CheckError::NoTrainableParameters`], and [`CheckError::FailedInF64`]
/// for a critic that panics in f64 (Burn's panic message is printed on stderr too).
pub fn check_penalty_gradients<C, const D: usize>(
    critic: &C,
    penalty: &PenaltyConfig,
    real: Tensor<D>,
    fake: Tensor<D>,
    rng: &mut HostRng,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    penalty_check(critic, penalty, [real, fake], None, rng)
}

/// [`check_penalty_gradients`] for a class-conditional critic: real and fake samples share
/// the labels `[batch]`, as in [`PenaltyConfig::compute_labeled`].
pub fn check_penalty_gradients_labeled<C, const D: usize>(
    critic: &C,
    penalty: &PenaltyConfig,
    real: Tensor<D>,
    fake: Tensor<D>,
    labels: Tensor<1, Int>,
    rng: &mut HostRng,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    penalty_check(critic, penalty, [real, fake], Some(labels), rng)
}

fn penalty_check<C, const D: usize>(
    critic: &C,
    penalty: &PenaltyConfig,
    [real, fake]: [Tensor<D>; 2],
    labels: Option<Tensor<1, Int>>,
    rng: &mut HostRng,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    check_critic_and_batch(critic, &real, labels.as_ref())?;
    if real.dims() != fake.dims() {
        return Err(CheckError::Shape {
            message: format!(
                "the real batch has shape {:?} but the fake batch {:?}; the penalty needs two \
                 batches of one shape",
                real.dims(),
                fake.dims()
            ),
        });
    }
    let device = real.device();
    if !device.supports_dtype(DType::F64) {
        return Err(CheckError::NoF64 {
            device: format!("{device:?}"),
        });
    }
    // A critic that makes a tensor in the device's default dtype (f32) inside its forward or
    // input gradient panics in Burn when the rest is f64: say so instead.
    let run = AssertUnwindSafe(|| penalty_in_f64(critic, penalty, [real, fake], labels, rng));
    std::panic::catch_unwind(run).unwrap_or_else(|payload| {
        let message = match (
            payload.downcast_ref::<&str>(),
            payload.downcast_ref::<String>(),
        ) {
            (Some(text), _) => (*text).to_string(),
            (None, Some(text)) => text.clone(),
            (None, None) => "a panic without a message".to_string(),
        };
        Err(CheckError::FailedInF64 { message })
    })
}

/// The comparison of [`check_penalty_gradients`] on an f64 copy of the critic.
fn penalty_in_f64<C, const D: usize>(
    critic: &C,
    penalty: &PenaltyConfig,
    [real, fake]: [Tensor<D>; 2],
    labels: Option<Tensor<1, Int>>,
    rng: &mut HostRng,
) -> Result<GradientCheck, CheckError>
where
    C: InputGradient<D>,
{
    let critic = critic.valid().map(&mut CastF64).train();
    let points = penalty.points(real.cast(DType::F64), fake.cast(DType::F64), rng);
    let through_input_gradient = match &labels {
        Some(labels) => critic.input_gradient_labeled(points.clone(), labels.clone()),
        None => critic.input_gradient(points.clone()),
    };
    let grads = penalty.from_gradient(through_input_gradient).backward();
    let mut trainable = Trainable {
        grads: &grads,
        path: Vec::new(),
        found: Vec::new(),
    };
    critic.visit(&mut trainable);
    let parameters = trainable.found;
    if parameters.is_empty() {
        return Err(CheckError::NoTrainableParameters);
    }
    // Evaluation copies: no parameter requires a gradient, so their forward is not a training
    // forward (spectral norm's power iteration stays put).
    let frozen = critic.no_grad();
    let true_penalty = |critic: &C| true_penalty(critic, penalty, &points, labels.as_ref());
    let (mut autodiff, mut differences, mut names) = (Vec::new(), Vec::new(), Vec::new());
    for parameter in &parameters {
        for (index, &theta) in parameter.values.iter().enumerate() {
            let h = STEP * theta.abs().max(1.0);
            let (up, down) = (theta + h, theta - h);
            let moved = |value: f64| {
                let mut values = parameter.values.clone();
                values[index] = value;
                frozen.clone().map(&mut Replace {
                    id: parameter.id,
                    values,
                })
            };
            differences.push((true_penalty(&moved(up)) - true_penalty(&moved(down))) / (up - down));
            autodiff.push(parameter.grad[index]);
            names.push((parameter.path.as_str(), &parameter.dims, index));
        }
    }
    Ok(compare(
        "autodiff through input_gradient",
        "central differences",
        &autodiff,
        &differences,
        |i| {
            let (path, dims, index) = names[i];
            format!("{path}{}", index_text(index, dims))
        },
    ))
}

/// The penalty from autodiff's input gradient at `points` (no `input_gradient` involved), as
/// an f64 on the host.
fn true_penalty<C, const D: usize>(
    critic: &C,
    penalty: &PenaltyConfig,
    points: &Tensor<D>,
    labels: Option<&Tensor<1, Int>>,
) -> f64
where
    C: InputGradient<D>,
{
    let x = points.clone().detach().require_grad();
    let out = match labels {
        Some(labels) => critic.forward_labeled(x.clone(), labels.clone()),
        None => critic.forward(x.clone()),
    };
    let grads = out.sum().backward();
    let gradient = x.grad(&grads).unwrap_or_else(|| x.zeros_like().detach());
    host(penalty.from_gradient(gradient))[0]
}

/// Refuses what the checks cannot run on: a critic that names an unsupported layer, a batch
/// on a device without autodiff, a critic off that device, an empty batch, labels that do not
/// fit.
fn check_critic_and_batch<C, const D: usize>(
    critic: &C,
    x: &Tensor<D>,
    labels: Option<&Tensor<1, Int>>,
) -> Result<(), CheckError>
where
    C: InputGradient<D>,
{
    if let Some(layer) = critic.unsupported_layer() {
        return Err(CheckError::UnsupportedLayer { layer });
    }
    let device = x.device();
    if !device.is_autodiff() {
        return Err(CheckError::NoAutodiff {
            device: format!("{device:?}"),
        });
    }
    let mut devices = Devices(Vec::new());
    critic.visit(&mut devices);
    if let Some(other) = devices.0.iter().find(|d| **d != device) {
        return Err(CheckError::DeviceMismatch {
            critic: format!("{other:?}"),
            batch: format!("{device:?}"),
        });
    }
    if let Some(plain) = devices.0.first()
        && devices.0.iter().all(|d| !d.is_autodiff())
    {
        return Err(CheckError::CriticWithoutAutodiff {
            device: format!("{plain:?}"),
        });
    }
    let dims = x.dims();
    if dims.contains(&0) {
        return Err(CheckError::Shape {
            message: format!("the batch has shape {dims:?}; the check needs at least one value"),
        });
    }
    match labels {
        Some(labels) => check_labels(labels, dims[0], critic.num_classes()),
        None => Ok(()),
    }
}

/// Labels `[batch]`, each in `0..num_classes` when the critic has classes.
fn check_labels(
    labels: &Tensor<1, Int>,
    batch: usize,
    num_classes: usize,
) -> Result<(), CheckError> {
    let [count] = labels.dims();
    if count != batch {
        return Err(CheckError::Shape {
            message: format!("{count} labels for a batch of {batch}; pass one label per sample"),
        });
    }
    if num_classes == 0 {
        return Ok(());
    }
    let values = labels.clone().into_data().convert::<i64>();
    let values: Vec<i64> = values.iter::<i64>().collect();
    match values
        .iter()
        .enumerate()
        .find(|&(_, &label)| !usize::try_from(label).is_ok_and(|l| l < num_classes))
    {
        Some((row, &label)) => Err(CheckError::Label {
            row,
            label,
            num_classes,
        }),
        None => Ok(()),
    }
}

/// The comparison of `checked` with `reference` (same length, non-empty), as defined in
/// [`GradientCheck`]; `locate(i)` names element i.
fn compare(
    checked_name: &str,
    reference_name: &str,
    checked: &[f64],
    reference: &[f64],
    locate: impl Fn(usize) -> String,
) -> GradientCheck {
    let scale = reference
        .iter()
        .filter(|r| r.is_finite())
        .fold(0.0f64, |m, r| m.max(r.abs()));
    let error = |(c, r): (&f64, &f64)| {
        let e = (c - r).abs();
        if e.is_finite() { e } else { f64::INFINITY }
    };
    let (worst, max_abs_error) = checked.iter().zip(reference).map(error).enumerate().fold(
        (0, 0.0f64),
        |(wi, we), (i, e)| if e > we { (i, e) } else { (wi, we) },
    );
    let max_rel_error = if max_abs_error == 0.0 {
        0.0
    } else if scale > 0.0 {
        max_abs_error / scale
    } else {
        f64::INFINITY
    };
    GradientCheck {
        checked: checked_name.to_string(),
        reference: reference_name.to_string(),
        compared: checked.len(),
        max_abs_error,
        scale,
        max_rel_error,
        worst_element: locate(worst),
        checked_at_worst: checked[worst],
        reference_at_worst: reference[worst],
    }
}

/// `[i, j, …]`, the multi-index of the row-major `flat` index in a tensor of shape `dims`.
fn index_text(flat: usize, dims: &[usize]) -> String {
    let mut rest = flat;
    let mut index = vec![0; dims.len()];
    for (slot, &n) in index.iter_mut().zip(dims).rev() {
        *slot = rest % n.max(1);
        rest /= n.max(1);
    }
    let parts: Vec<String> = index.iter().map(usize::to_string).collect();
    format!("[{}]", parts.join(", "))
}

/// A tensor's values as f64 on the host.
fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let data = t.into_data().convert::<f64>();
    data.iter::<f64>().collect()
}

/// The devices of a module's float parameters and buffers.
struct Devices(Vec<Device>);

impl ModuleVisitor for Devices {
    fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
        self.0.push(param.val().device());
    }
}

/// Casts every float parameter and buffer to f64, keeping what `train` will restore.
struct CastF64;

impl ModuleMapper for CastF64 {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        param.map(|t| t.cast(DType::F64))
    }
}

/// Replaces the values of the parameter `id` (f64, row-major).
struct Replace {
    id: ParamId,
    values: Vec<f64>,
}

impl ModuleMapper for Replace {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        if param.id != self.id {
            return param;
        }
        let values = std::mem::take(&mut self.values);
        param.map(|t| {
            let data = TensorData::new(values, t.dims());
            Tensor::from_data(data, (&t.device(), DType::F64))
        })
    }
}

/// A trainable parameter: its module path, shape, values and the penalty's gradient.
struct Parameter {
    id: ParamId,
    path: String,
    dims: Vec<usize>,
    values: Vec<f64>,
    grad: Vec<f64>,
}

/// Collects the parameters that require a gradient, with their paths and gradients in
/// `grads` (0 for a parameter the penalty does not reach).
struct Trainable<'a> {
    grads: &'a Gradients,
    path: Vec<String>,
    found: Vec<Parameter>,
}

impl ModuleVisitor for Trainable<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let count = value.shape().num_elements();
        let grad = match value.grad(self.grads) {
            Some(grad) => host(grad),
            None => vec![0.0; count],
        };
        self.found.push(Parameter {
            id: param.id,
            path: self.path.join("."),
            dims: value.dims().to_vec(),
            values: host(value),
            grad,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::Linear;
    use burn::tensor::activation::tanh;
    use burngan_core::Discriminator;

    fn flex() -> Device {
        burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap()
    }

    /// D(x, y) = (y + 1)·a/2·‖x‖² per sample (y = 0 without labels), so ∇ₓD = (y + 1)·a·x;
    /// `wrong` leaves out the factor a.
    #[derive(Module, Debug)]
    struct Quadratic {
        #[module(skip)]
        a: f64,
        #[module(skip)]
        wrong: bool,
    }

    impl Quadratic {
        fn factor(&self, labels: Option<Tensor<1, Int>>, like: &Tensor<2>) -> Tensor<2> {
            let a = if self.wrong { 1.0 } else { self.a };
            match labels {
                Some(y) => y.float().add_scalar(1.0).mul_scalar(a).unsqueeze_dim(1),
                None => like.ones_like().mul_scalar(a),
            }
        }
    }

    impl Discriminator<2> for Quadratic {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            x.clone().mul(x).sum_dim(1).mul_scalar(self.a / 2.0)
        }
        fn num_classes(&self) -> usize {
            3
        }
        fn forward_labeled(&self, x: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<2> {
            let y: Tensor<2> = labels.float().add_scalar(1.0).unsqueeze_dim(1);
            self.forward(x).mul(y)
        }
    }

    impl InputGradient<2> for Quadratic {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            let factor = self.factor(None, &x);
            x.mul(factor)
        }
        fn input_gradient_labeled(&self, x: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<2> {
            let factor = self.factor(Some(labels), &x);
            x.mul(factor)
        }
    }

    /// A critic that names a BatchNorm it cannot see through.
    #[derive(Module, Debug)]
    struct Blocked;

    impl Discriminator<2> for Blocked {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            x.sum_dim(1)
        }
    }

    impl InputGradient<2> for Blocked {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            x.ones_like()
        }
        fn unsupported_layer(&self) -> Option<String> {
            Some("norm (BatchNorm)".into())
        }
    }

    /// What is wrong with a [`Tanh2`]'s input gradient.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Fault {
        None,
        /// The activation's derivative left out.
        NoDerivative,
        /// The right value, but W₁ detached: the penalty cannot train W₁ through it.
        Detached,
    }

    /// x ↦ W₂ᵀ·tanh(x·W₁ + b₁) + b₂ from Burn's own `Linear`, `[batch, 3] → [batch, 1]`.
    #[derive(Module, Debug)]
    struct Tanh2 {
        hidden: Linear,
        out: Linear,
        #[module(skip)]
        fault: Fault,
    }

    fn linear(d_in: usize, d_out: usize, rng: &mut HostRng, device: &Device) -> Linear {
        let bound = 1.0 / (d_in as f32).sqrt();
        let param = |shape: Vec<usize>, rng: &mut HostRng| {
            let values = rng.uniform_vec(shape.iter().product(), -bound, bound);
            TensorData::new(values, shape)
        };
        Linear {
            weight: Param::from_data(param(vec![d_in, d_out], rng), device),
            bias: Some(Param::from_data(param(vec![d_out], rng), device)),
        }
    }

    impl Tanh2 {
        fn new(fault: Fault, device: &Device) -> Self {
            let mut rng = HostRng::seed_from(5);
            Self {
                hidden: linear(3, 6, &mut rng, device),
                out: linear(6, 1, &mut rng, device),
                fault,
            }
        }
    }

    impl Discriminator<2> for Tanh2 {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            self.out.forward(tanh(self.hidden.forward(x)))
        }
    }

    impl InputGradient<2> for Tanh2 {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            let [batch, _] = x.dims();
            let w1 = self.hidden.weight.val(); // [3, 6]
            let act = tanh(self.hidden.forward(x)); // [batch, 6]
            let derivative = act.clone().mul(act).neg().add_scalar(1.0);
            let top = self.out.weight.val().transpose().expand([batch as i64, -1]); // [batch, 6]
            let g = match self.fault {
                Fault::NoDerivative => top,
                _ => top.mul(derivative),
            };
            let w1 = match self.fault {
                Fault::Detached => w1.detach(),
                _ => w1,
            };
            g.matmul(w1.transpose())
        }
    }

    /// D(x) = ½‖x‖², whose input gradient multiplies by a tensor made in the default dtype.
    #[derive(Module, Debug)]
    struct DefaultDtype {
        scale: Param<Tensor<1>>,
    }

    impl Discriminator<2> for DefaultDtype {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            x.clone().mul(x).sum_dim(1).mul_scalar(0.5)
        }
    }

    impl InputGradient<2> for DefaultDtype {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            let ones = Tensor::<2>::ones(x.dims(), &x.device()); // f32 whatever x is
            x.mul(ones).mul(self.scale.val().unsqueeze())
        }
    }

    fn rows(values: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 2]), device)
    }

    const X: [[f32; 2]; 3] = [[1.0, -0.5], [0.25, 3.0], [-2.0, 0.5]];

    #[test]
    fn a_right_input_gradient_passes_and_a_missing_factor_is_located() {
        let device = flex().autodiff();
        let right = Quadratic {
            a: 2.0,
            wrong: false,
        };
        let check = check_input_gradient(&right, rows(&X, &device)).unwrap();
        assert_eq!(check.max_abs_error, 0.0, "{check}");
        assert_eq!(check.compared, 6);
        // The gradient 2x has scale 2·max|x| = 6 (at x[1, 1] = 3).
        assert_eq!(check.scale, 6.0);
        check.ensure(0.0).unwrap();

        // Without a the gradient is x instead of 2x: the error |x| is largest at x[1, 1] = 3,
        // 3 absolute and 3/6 = 0.5 relative.
        let wrong = Quadratic {
            a: 2.0,
            wrong: true,
        };
        let check = check_input_gradient(&wrong, rows(&X, &device)).unwrap();
        assert_eq!(check.worst_element, "x[1, 1]");
        assert_eq!(
            (check.checked_at_worst, check.reference_at_worst),
            (3.0, 6.0)
        );
        assert_eq!((check.max_abs_error, check.max_rel_error), (3.0, 0.5));
        assert!(check.passes(0.5) && !check.passes(0.49));
        let message = check.ensure(1e-5).unwrap_err().to_string();
        assert!(
            message.starts_with(
                "input_gradient against autodiff: worst relative error 5.000e-1 at x[1, 1] \
                 (input_gradient 3.000000000e0, autodiff 6.000000000e0;"
            ),
            "{message}"
        );
        assert!(message.ends_with("the tolerance is 1.0e-5"), "{message}");
    }

    /// PacGAN-style: pairs of rows `[2i, 2i + 1]` form one input, D = a·Σ x³ over the pair,
    /// so ∇ₓD = 3a·x² per element (`wrong`: a·x², the factor 3 left out).
    #[derive(Module, Debug)]
    struct PackedCubic {
        #[module(skip)]
        wrong: bool,
    }

    impl Discriminator<2> for PackedCubic {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            let [b, d] = x.dims();
            x.powi_scalar(3)
                .reshape([b / 2, 2 * d])
                .sum_dim(1)
                .mul_scalar(0.5)
        }
    }

    impl InputGradient<2> for PackedCubic {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            let factor = if self.wrong { 0.5 } else { 1.5 };
            x.clone().mul(x).mul_scalar(factor)
        }
    }

    #[test]
    fn a_packed_critic_is_checked_on_its_packs() {
        let device = flex().autodiff();
        let x = rows(
            &[[1.0, -0.5], [0.25, 3.0], [-2.0, 0.5], [0.5, 1.0]],
            &device,
        );
        let check = check_input_gradient(&PackedCubic { wrong: false }, x.clone()).unwrap();
        assert_eq!(check.compared, 8);
        // The gradient 1.5·x² is largest at x[1, 1] = 3: 13.5.
        assert_eq!((check.scale, check.max_abs_error), (13.5, 0.0), "{check}");
        let check = check_input_gradient(&PackedCubic { wrong: true }, x).unwrap();
        // 0.5·9 instead of 1.5·9 at x[1, 1]: 9 absolute, 9/13.5 relative.
        assert_eq!(check.worst_element, "x[1, 1]");
        assert_eq!(check.max_abs_error, 9.0);
    }

    #[test]
    fn the_labeled_check_uses_the_labels_and_refuses_bad_ones() {
        let device = flex().autodiff();
        let labels = |values: &[i64]| {
            Tensor::<1, Int>::from_data(TensorData::new(values.to_vec(), [values.len()]), &device)
        };
        let right = Quadratic {
            a: 2.0,
            wrong: false,
        };
        let x = rows(&X, &device);
        let check = check_input_gradient_labeled(&right, x.clone(), labels(&[0, 2, 1])).unwrap();
        assert_eq!(check.max_abs_error, 0.0, "{check}");
        // (y + 1)·2·x: row 1 has y = 2, so the scale is 3·2·3 = 18.
        assert_eq!(check.scale, 18.0);
        // Without a: (y + 1)·x against (y + 1)·2·x, worst again at x[1, 1]: 9 of 18.
        let wrong = Quadratic {
            a: 2.0,
            wrong: true,
        };
        let check = check_input_gradient_labeled(&wrong, x.clone(), labels(&[0, 2, 1])).unwrap();
        assert_eq!(check.worst_element, "x[1, 1]");
        assert_eq!(
            (check.checked_at_worst, check.reference_at_worst),
            (9.0, 18.0)
        );

        let error = check_input_gradient_labeled(&right, x.clone(), labels(&[0, 3, 1]));
        assert_eq!(
            error.unwrap_err(),
            CheckError::Label {
                row: 1,
                label: 3,
                num_classes: 3
            }
        );
        let message = check_input_gradient_labeled(&right, x, labels(&[0, 1]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "2 labels for a batch of 3; pass one label per sample"
        );
    }

    #[test]
    fn what_cannot_be_checked_is_an_error_that_says_why() {
        let plain = flex();
        let critic = Quadratic {
            a: 1.0,
            wrong: false,
        };
        let message = check_input_gradient(&critic, rows(&X, &plain))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("needs autodiff, but the batch is on"),
            "{message}"
        );
        assert!(message.contains("`device.autodiff()`"), "{message}");

        let device = plain.clone().autodiff();
        let error = check_input_gradient(&Blocked, rows(&X, &device)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the critic has no per-sample input gradient (norm (BatchNorm)), so gradient \
             penalties refuse it and there is nothing to check"
        );
        let penalty = PenaltyConfig::R1 { gamma: 1.0 };
        let mut rng = HostRng::seed_from(0);
        let error = check_penalty_gradients(
            &Blocked,
            &penalty,
            rows(&X, &device),
            rows(&X, &device),
            &mut rng,
        );
        assert!(matches!(error, Err(CheckError::UnsupportedLayer { .. })));

        // A critic built on the plain device, checked on its autodiff version.
        let on_plain = Tanh2::new(Fault::None, &plain);
        let x = HostRng::seed_from(1).normal([4, 3], &device);
        let message = check_input_gradient(&on_plain, x.clone())
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("the critic's parameters are on a device without autodiff"),
            "{message}"
        );
        let empty = Tensor::<2>::zeros([0, 3], &device);
        let critic = Tanh2::new(Fault::None, &device);
        let message = check_input_gradient(&critic, empty)
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "the batch has shape [0, 3]; the check needs at least one value"
        );
        let fake = HostRng::seed_from(2).normal([5, 3], &device);
        let message = check_penalty_gradients(&critic, &penalty, x, fake, &mut rng)
            .unwrap_err()
            .to_string();
        assert!(message.starts_with("the real batch has shape [4, 3] but the fake batch [5, 3]"));
    }

    #[test]
    fn penalty_gradients_agree_with_finite_differences_in_f64() {
        let device = flex().autodiff();
        let mut rng = HostRng::seed_from(11);
        let real = rng.normal([5, 3], &device);
        let fake = rng.normal([5, 3], &device);
        let critic = Tanh2::new(Fault::None, &device);
        for penalty in [
            PenaltyConfig::R1 { gamma: 10.0 },
            PenaltyConfig::WganGp {
                weight: 10.0,
                one_sided: false,
            },
        ] {
            let check =
                check_penalty_gradients(&critic, &penalty, real.clone(), fake.clone(), &mut rng)
                    .unwrap();
            // hidden: 3·6 + 6, out: 6 + 1 values.
            assert_eq!(check.compared, 31);
            assert!(check.scale > 1e-3, "{check}");
            check.ensure(1e-6).unwrap();
        }
        // The parameters keep their precision: the check cast a copy.
        assert_eq!(critic.hidden.weight.val().dtype(), DType::F32);
    }

    #[test]
    fn the_penalty_check_catches_a_wrong_formula_and_a_detached_weight() {
        let device = flex().autodiff();
        let mut rng = HostRng::seed_from(12);
        let real = rng.normal([5, 3], &device);
        let fake = rng.normal([5, 3], &device);
        let penalty = PenaltyConfig::R1 { gamma: 10.0 };

        // A detached W₁ gives the right input gradient, so the first check passes...
        let detached = Tanh2::new(Fault::Detached, &device);
        let check = check_input_gradient(&detached, real.clone()).unwrap();
        check.ensure(1e-5).unwrap();
        // ...but R1's gradient for W₁ misses the path through the detached factor.
        let check =
            check_penalty_gradients(&detached, &penalty, real.clone(), fake.clone(), &mut rng)
                .unwrap();
        assert!(check.worst_element.starts_with("hidden.weight["), "{check}");
        assert!(check.max_rel_error > 0.1, "{check}");

        let no_derivative = Tanh2::new(Fault::NoDerivative, &device);
        let check = check_input_gradient(&no_derivative, real.clone()).unwrap();
        assert!(check.max_rel_error > 0.1, "{check}");
        let check =
            check_penalty_gradients(&no_derivative, &penalty, real, fake, &mut rng).unwrap();
        assert!(check.max_rel_error > 0.1, "{check}");
    }

    #[test]
    fn a_critic_that_fails_in_f64_is_an_error_naming_the_likely_cause() {
        let device = flex().autodiff();
        let critic = DefaultDtype {
            scale: Param::from_data(TensorData::new(vec![1.0f32], [1]), &device),
        };
        // In f32 it is right.
        let check = check_input_gradient(&critic, rows(&X, &device)).unwrap();
        assert_eq!(check.max_abs_error, 0.0, "{check}");
        let penalty = PenaltyConfig::R1 { gamma: 1.0 };
        let (real, fake) = (rows(&X, &device), rows(&X, &device));
        let error =
            check_penalty_gradients(&critic, &penalty, real, fake, &mut HostRng::seed_from(0))
                .unwrap_err();
        let CheckError::FailedInF64 { message } = &error else {
            panic!("{error}");
        };
        assert!(message.contains("dtype"), "{message}");
        assert!(error.to_string().contains("`.cast(x.dtype())`"), "{error}");
    }

    #[test]
    fn index_text_is_row_major() {
        assert_eq!(index_text(5, &[2, 3]), "[1, 2]");
        assert_eq!(index_text(0, &[4]), "[0]");
        assert_eq!(index_text(23, &[2, 3, 2, 2]), "[1, 2, 1, 1]");
    }
}
