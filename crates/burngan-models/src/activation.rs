//! Element-wise activations, with the derivative each needs for a hand-written input gradient.

use burn::tensor::Tensor;
use burn::tensor::activation;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// LeakyReLU as relu(x) − slope·relu(−x): the same value as x·[x ≥ 0] + slope·x·[x < 0] in
/// every float (each side is exact, the other term an exact zero), built from ReLU, whose
/// forward and backward every backend runs as one branch-free pass. Burn's `leaky_relu` goes
/// through a compare and a `mask_where` forward and two `mask_where`s backward, which on the
/// CPU backends branch per element and cost more than the matrix multiplies of a 256-wide
/// layer (measured with `perf` on the `ring8-mlp` benchmark, see BENCHMARKS.md).
fn leaky_relu<const D: usize>(x: Tensor<D>, slope: f64) -> Tensor<D> {
    let negative = activation::relu(x.clone().neg()).mul_scalar(slope);
    activation::relu(x).sub(negative)
}

/// An element-wise activation. In TOML: `"relu"`, `"tanh"`, `"sigmoid"`, `"identity"` or
/// `{ leaky_relu = 0.2 }` (the negative slope).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(x, 0).
    #[default]
    Relu,
    /// x for x ≥ 0, slope·x otherwise.
    LeakyRelu(f64),
    /// tanh(x).
    Tanh,
    /// 1 / (1 + e^{−x}).
    Sigmoid,
    /// x.
    Identity,
}

impl Activation {
    /// Checks the parameter: a leaky slope must be finite and in [0, 1).
    pub fn validate(&self, field: &str) -> Result<(), ModelError> {
        match self {
            Activation::LeakyRelu(slope) if !(slope.is_finite() && (0.0..1.0).contains(slope)) => {
                Err(ModelError::BadActivation {
                    field: field.to_string(),
                    message: format!(
                        "leaky_relu slope must be in [0, 1), got {slope}; 0.2 is the usual value"
                    ),
                })
            }
            _ => Ok(()),
        }
    }

    /// Applies the activation; any shape.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu(slope) => leaky_relu(x, slope),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => activation::sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// The derivative at the pre-activation `x`, element-wise; same shape as `x`.
    ///
    /// At 0 the ReLU family uses the right derivative's convention of PyTorch: relu'(0) = 0,
    /// leaky'(0) = slope (both treat 0 as the negative side).
    pub fn derivative<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            // In the input's dtype (`bool → float` would give the device's default, f32 for
            // an f64 input).
            Activation::Relu => {
                let positive = x.clone().greater_elem(0.0);
                x.zeros_like().mask_fill(positive, 1.0)
            }
            Activation::LeakyRelu(slope) => {
                let positive = x.clone().greater_elem(0.0);
                x.ones_like().mul_scalar(slope).mask_fill(positive, 1.0)
            }
            Activation::Tanh => {
                let t = x.tanh();
                t.clone().mul(t).neg().add_scalar(1.0)
            }
            Activation::Sigmoid => {
                let s = activation::sigmoid(x);
                s.clone().mul(s.neg().add_scalar(1.0))
            }
            Activation::Identity => x.ones_like(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{DType, TensorData};

    /// Every derivative keeps the input's dtype and equals its closed form (ReLU′ = 1 for
    /// x > 0 else 0, LeakyReLU′ = 1 or the slope, tanh′ = 1 − tanh², σ′ = σ(1 − σ)).
    #[test]
    fn derivatives_keep_the_dtype_and_equal_their_closed_forms() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let xs = [-2.0f64, -0.5, 0.0, 0.25, 3.0];
        let x = Tensor::<1>::from_data(TensorData::from(xs), &device).cast(DType::F64);
        let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
        type ClosedForm = fn(f64) -> f64;
        let cases: [(Activation, ClosedForm); 3] = [
            (Activation::Relu, |v| if v > 0.0 { 1.0 } else { 0.0 }),
            (
                Activation::LeakyRelu(0.2),
                |v| if v > 0.0 { 1.0 } else { 0.2 },
            ),
            (Activation::Tanh, |v| 1.0 - v.tanh() * v.tanh()),
        ];
        for (activation, closed) in cases {
            let d = activation.derivative(x.clone());
            assert_eq!(d.dtype(), DType::F64, "{activation:?}");
            let got: Vec<f64> = d.into_data().iter::<f64>().collect();
            for (v, g) in xs.iter().zip(&got) {
                assert!((g - closed(*v)).abs() < 1e-12, "{activation:?} at {v}: {g}");
            }
        }
        let d = Activation::Sigmoid.derivative(x);
        assert_eq!(d.dtype(), DType::F64);
        for (v, g) in xs.iter().zip(d.into_data().iter::<f64>()) {
            assert!(
                (g - sigmoid(*v) * (1.0 - sigmoid(*v))).abs() < 1e-12,
                "sigmoid at {v}"
            );
        }
    }
}
