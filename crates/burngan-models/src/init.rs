//! Layer construction from the host RNG, so initial weights do not depend on the backend.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::HostRng;
use serde::{Deserialize, Serialize};

use crate::ModelError;

/// How an MLP or DCGAN network draws its weights and biases from the host RNG. In TOML:
/// `init = "pytorch"` (the default) or `init = { normal = STD }`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// PyTorch's default for `nn.Linear`: weight and bias from U(−1/√d_in, 1/√d_in).
    #[default]
    Pytorch,
    /// Weights from N(0, std²) and zero biases (drawn: the weights only), the initialisation
    /// of DCGAN and of PacGAN's 2-D experiments (std 0.02).
    Normal(f64),
}

impl Init {
    /// Checks that a normal's standard deviation is positive and finite; the error names
    /// `field` (e.g. `generator.init`).
    pub fn validate(&self, field: &str) -> Result<(), ModelError> {
        match *self {
            Init::Normal(std) if !(std.is_finite() && std > 0.0) => Err(ModelError::BadInit {
                field: field.to_string(),
                message: format!(
                    "the normal's standard deviation must be positive and finite, got {std}; \
                     use e.g. {{ normal = 0.02 }} (DCGAN's and PacGAN's), or \"pytorch\""
                ),
            }),
            _ => Ok(()),
        }
    }

    /// A Burn [`Linear`] `[d_input] → [d_output]` (weight stored `[d_input, d_output]`)
    /// initialised this way from `rng`: [`linear_from_host`] for `Pytorch`; for `Normal(std)`
    /// the weight from N(0, std²) and a zero bias.
    pub fn linear(
        &self,
        d_input: usize,
        d_output: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Linear {
        match *self {
            Init::Pytorch => linear_from_host(d_input, d_output, rng, device),
            Init::Normal(std) => Linear {
                weight: scaled_normal_param([d_input, d_output], std as f32, rng, device),
                bias: Some(scaled_normal_param([d_output], 0.0, rng, device)),
            },
        }
    }

    /// A weight of shape `shape` and a bias `[bias]` drawn this way from `rng` (weight first):
    /// for `Pytorch` both from U(−1/√fan_in, 1/√fan_in), as PyTorch's convolutions and
    /// transposed convolutions (`fan_in` = c_in·k² for a convolution, c_out·k² for a transposed
    /// one, as PyTorch computes it from the weight's second axis); for `Normal(std)` the weight
    /// from N(0, std²) and a zero bias.
    pub(crate) fn weight_and_bias<const D: usize>(
        &self,
        shape: [usize; D],
        bias: usize,
        fan_in: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Param<Tensor<D>>, Param<Tensor<1>>) {
        match *self {
            Init::Pytorch => {
                let bound = 1.0 / (fan_in as f32).sqrt();
                let weight = uniform_param(shape, bound, rng, device);
                (weight, uniform_param([bias], bound, rng, device))
            }
            Init::Normal(std) => (
                scaled_normal_param(shape, std as f32, rng, device),
                scaled_normal_param([bias], 0.0, rng, device),
            ),
        }
    }
}

/// A parameter of shape `shape` drawn from U(−bound, bound) on `rng`.
pub(crate) fn uniform_param<const D: usize>(
    shape: [usize; D],
    bound: f32,
    rng: &mut HostRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let values = rng.uniform_vec(shape.iter().product(), -bound, bound);
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A parameter of shape `shape` drawn from N(0, 1) on `rng`.
pub(crate) fn normal_param<const D: usize>(
    shape: [usize; D],
    rng: &mut HostRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let values = rng.normal_vec(shape.iter().product());
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A Burn [`Linear`] layer `[d_input] → [d_output]` with PyTorch's default initialisation:
/// weight and bias from U(−1/√d_input, 1/√d_input), drawn from `rng` (weight first, then bias).
///
/// Burn stores the weight as `[d_input, d_output]`.
pub fn linear_from_host(
    d_input: usize,
    d_output: usize,
    rng: &mut HostRng,
    device: &Device,
) -> Linear {
    let bound = 1.0 / (d_input as f32).sqrt();
    let weight = uniform_param([d_input, d_output], bound, rng, device);
    let bias = uniform_param([d_output], bound, rng, device);
    Linear {
        weight,
        bias: Some(bias),
    }
}

/// A parameter of shape `shape` drawn from N(0, std²) on `rng`; `std = 0` gives zeros and
/// draws nothing (a fix-up initialisation's zeroed last layer).
pub(crate) fn scaled_normal_param<const D: usize>(
    shape: [usize; D],
    std: f32,
    rng: &mut HostRng,
    device: &Device,
) -> Param<Tensor<D>> {
    let n = shape.iter().product();
    let values = if std == 0.0 {
        vec![0.0; n]
    } else {
        rng.normal_vec(n).into_iter().map(|v| v * std).collect()
    };
    Param::from_tensor(Tensor::from_data(TensorData::new(values, shape), device))
}

/// A Burn [`Linear`] `[d_input] → [d_output]` with the He/MSR initialisation R3GAN uses: the
/// weight (Burn's layout `[d_input, d_output]`) from N(0, gain²/d_input), drawn from `rng`, and
/// a zero bias when `bias`.
pub(crate) fn normal_linear(
    d_input: usize,
    d_output: usize,
    bias: bool,
    gain: f32,
    rng: &mut HostRng,
    device: &Device,
) -> Linear {
    let std = gain / (d_input as f32).sqrt();
    let weight = scaled_normal_param([d_input, d_output], std, rng, device);
    let bias = bias.then(|| scaled_normal_param([d_output], 0.0, rng, device));
    Linear { weight, bias }
}
