//! Activations, with the derivative each needs for a hand-written input gradient: the
//! element-wise ones, and maxout (a max over groups of k pre-activations), which only the MLP
//! critic takes.

use burn::tensor::activation;
use burn::tensor::{IndexingUpdateOp, Tensor};
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// σ(x) = 1/(1 + e^(−x)), any shape, in the tensor's own precision: burn-backend 0.22.1's
/// default `sigmoid`, which ndarray uses, computes an f64 tensor through f32.
pub(crate) fn sigmoid<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    x.neg().exp().add_scalar(1.0).recip()
}

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

/// An activation. In TOML: `"relu"`, `"tanh"`, `"sigmoid"`, `"identity"`,
/// `{ leaky_relu = 0.2 }` (the negative slope) or `{ maxout = 5 }` (the pieces per unit; the
/// MLP critic's hidden layers only, see [`Activation::Maxout`]).
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
    /// Maxout with k pieces (Goodfellow et al. 2013, the critic of PacGAN's and VEEGAN's 2-D
    /// experiments): the layer before it produces k pre-activations per unit, consecutive
    /// along the last axis, and each unit outputs their maximum, `[.., w·k] → [.., w]`. Not
    /// element-wise, so only the MLP critic accepts it ([`Activation::validate`] refuses it
    /// elsewhere); that critic widens its hidden layers by k.
    Maxout(usize),
}

/// Maxout's forward on the last axis: `[.., w·k] → [.., w]`, the maximum of each run of k.
fn maxout<const D: usize>(x: Tensor<D>, k: usize) -> Tensor<D> {
    let mut dims = x.dims();
    let groups = dims.iter().product::<usize>() / k;
    dims[D - 1] /= k;
    x.reshape([groups, k]).max_dim(1).reshape(dims)
}

/// Where each maxout unit takes its value: 1 at the first maximum of each run of k along the
/// last axis, 0 elsewhere; same shape and dtype as `x`. The first maximum is the one Burn's
/// autodiff of `max_dim` sends the gradient to.
fn maxout_indicator<const D: usize>(x: Tensor<D>, k: usize) -> Tensor<D> {
    let dims = x.dims();
    let groups = dims.iter().product::<usize>() / k;
    let flat = x.reshape([groups, k]);
    let winner = flat.clone().argmax(1); // [groups, 1]
    let ones = flat.zeros_like().slice([0..groups, 0..1]).add_scalar(1.0);
    flat.zeros_like()
        .scatter(1, winner, ones, IndexingUpdateOp::Add)
        .reshape(dims)
}

impl Activation {
    /// Checks the parameter: a leaky slope must be finite and in [0, 1). Refuses maxout,
    /// which only the MLP critic can apply ([`Activation::validate_maxout`]).
    pub fn validate(&self, field: &str) -> Result<(), ModelError> {
        match self {
            Activation::Maxout(_) => Err(ModelError::BadActivation {
                field: field.to_string(),
                message: "maxout changes the layer widths and is only available as the hidden \
                          activation of an MLP critic ([discriminator] kind = \"mlp\"); use \
                          \"relu\" or { leaky_relu = 0.2 } here"
                    .to_string(),
            }),
            _ => self.validate_maxout(field),
        }
    }

    /// As [`Activation::validate`], but accepts maxout with at least one piece (the MLP
    /// critic's check).
    pub fn validate_maxout(&self, field: &str) -> Result<(), ModelError> {
        match self {
            Activation::Maxout(0) => Err(ModelError::BadActivation {
                field: field.to_string(),
                message: "maxout needs at least 1 piece per unit, got 0; PacGAN uses \
                          { maxout = 5 }"
                    .to_string(),
            }),
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

    /// Pre-activations per output unit: k for maxout, 1 for the element-wise activations.
    pub fn pieces(&self) -> usize {
        match *self {
            Activation::Maxout(k) => k,
            _ => 1,
        }
    }

    /// Applies the activation; any shape. Maxout shrinks the last axis k-fold, which must be
    /// a multiple of k.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            Activation::Maxout(k) => maxout(x, k),
            Activation::Relu => activation::relu(x),
            Activation::LeakyRelu(slope) => leaky_relu(x, slope),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// The derivative at the pre-activation `x`, element-wise; same shape as `x`.
    ///
    /// At 0 the ReLU family uses the right derivative's convention of PyTorch: relu'(0) = 0,
    /// leaky'(0) = slope (both treat 0 as the negative side). For maxout it is ∂(unit)/∂(its
    /// piece): 1 at the first maximum of each group of k, 0 elsewhere.
    pub fn derivative<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match *self {
            Activation::Maxout(k) => maxout_indicator(x, k),
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
                let s = sigmoid(x);
                s.clone().mul(s.neg().add_scalar(1.0))
            }
            Activation::Identity => x.ones_like(),
        }
    }

    /// The vector–Jacobian product through the activation, as forward ops: `upstream` (the
    /// gradient with respect to the output, shaped like [`forward`](Self::forward)'s result)
    /// times the Jacobian at the pre-activation `pre`; shaped like `pre`. Element-wise it is
    /// `upstream ⊙ derivative(pre)`; for maxout each unit's gradient goes to its winning piece.
    pub fn vjp<const D: usize>(&self, pre: Tensor<D>, upstream: Tensor<D>) -> Tensor<D> {
        match *self {
            Activation::Maxout(k) => {
                let dims = pre.dims();
                let groups = dims.iter().product::<usize>() / k;
                let spread = upstream
                    .reshape([groups, 1])
                    .expand([groups as i64, k as i64])
                    .reshape(dims);
                spread.mul(maxout_indicator(pre, k))
            }
            _ => upstream.mul(self.derivative(pre)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{DType, TensorData};

    /// Every derivative keeps the input's dtype and equals its closed form (ReLU′ = 1 for
    /// x > 0 else 0, LeakyReLU′ = 1 or the slope, tanh′ = 1 − tanh², σ′ = σ(1 − σ)) to 1e-12
    /// in f64, on flex and on ndarray (whose f64 sigmoid in Burn runs through f32).
    #[test]
    fn derivatives_keep_the_dtype_and_equal_their_closed_forms() {
        use burngan_backend::BackendKind;
        for kind in [BackendKind::Flex, BackendKind::Ndarray] {
            derivatives_on(&burngan_backend::device(kind).unwrap());
        }
    }

    fn derivatives_on(device: &burn::tensor::Device) {
        let device = device.clone();
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

    /// Maxout over runs of 3 on the last axis: the values are each run's maximum, the
    /// derivative is 1 at the maximum and 0 elsewhere, and the VJP sends each unit's upstream
    /// value to its winning piece (hand-computed).
    #[test]
    fn maxout_takes_the_maximum_of_each_run_and_routes_the_gradient_to_it() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let x = Tensor::<2>::from_data(
            TensorData::new(
                vec![
                    1.0f64, -2.0, 0.5, -1.0, -3.0, -0.5, 4.0, 4.5, 2.0, 0.0, 0.25, -7.0,
                ],
                [2, 6],
            ),
            &device,
        )
        .cast(DType::F64);
        let act = Activation::Maxout(3);
        assert_eq!(act.pieces(), 3);
        let y: Vec<f64> = act
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f64>()
            .unwrap();
        assert_eq!(y, vec![1.0, -0.5, 4.5, 0.25]);
        let d: Vec<f64> = act
            .derivative(x.clone())
            .into_data()
            .try_to_vec::<f64>()
            .unwrap();
        let expected = [1.0, 0., 0., 0., 0., 1., 0., 1., 0., 0., 1., 0.];
        assert_eq!(d, expected);
        let upstream = Tensor::<2>::from_data(
            TensorData::new(vec![10.0f64, 20.0, 30.0, 40.0], [2, 2]),
            &device,
        )
        .cast(DType::F64);
        let g = act.vjp(x, upstream);
        assert_eq!(g.dtype(), DType::F64);
        let g: Vec<f64> = g.into_data().try_to_vec::<f64>().unwrap();
        assert_eq!(g, vec![10., 0., 0., 0., 0., 20., 0., 30., 0., 0., 40., 0.]);
    }
}
