//! Layer construction from the host RNG, so initial weights do not depend on the backend.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::HostRng;

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
    let weight = rng.uniform_vec(d_input * d_output, -bound, bound);
    let bias = rng.uniform_vec(d_output, -bound, bound);
    Linear {
        weight: Param::from_tensor(Tensor::from_data(
            TensorData::new(weight, [d_input, d_output]),
            device,
        )),
        bias: Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [d_output]),
            device,
        ))),
    }
}
