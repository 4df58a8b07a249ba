//! A critic over Burn's own `nn::Linear` layers, with the input gradient that gradient
//! penalties need, reproducible weights, and the public checks that its input gradient is
//! right.
//!
//! # Reproducible weights with Burn's layers
//!
//! Burn's `LinearConfig::new(d_in, d_out).init(&device)` does not draw the weights when it is
//! called: Burn initialises parameters lazily, at their first use, from the device's random
//! number generator as it is at that moment. So `device.seed(0)` before building a network
//! does not give the same network twice in one process (the draws happen later, after
//! whatever else has used the generator since), and a seed gives other numbers on another
//! backend. [`linear_from_host`] builds the same `Linear` from burngan's [`HostRng`] instead:
//! PyTorch's default initialisation U(−1/√d_in, 1/√d_in), drawn when it is called (weight,
//! then bias), so one seed gives the same weights every time, in any order of use, on every
//! backend.
//!
//! # The input gradient
//!
//! For D(x) = W₂ᵀ·lrelu(x·W₁ + b₁) + b₂ (Burn stores a `Linear` weight as `[d_in, d_out]`):
//!
//! ```text
//! pre = x·W₁ + b₁                     [batch, hidden]
//! g   = (1·W₂ᵀ) ⊙ lrelu′(pre)         [batch, hidden]   lrelu′ = 1 where pre > 0, else slope
//! ∇ₓD = g·W₁ᵀ                         [batch, d_in]
//! ```
//!
//! # Checking it
//!
//! In the application's tests (tests/integration/gradient_check.rs runs exactly this):
//!
//! ```text
//! let device = burngan::backend::device(BackendKind::Flex)?.autodiff();
//! let mut rng = HostRng::seed_from(0);
//! let critic = LinearCritic::new(2, 32, &mut rng, &device);
//! let (real, fake) = (rng.normal([16, 2], &device), rng.normal([16, 2], &device));
//! // input_gradient against autodiff, in f32:
//! burngan::check_input_gradient(&critic, real.clone())?.ensure(1e-5)?;
//! // the penalty's parameter gradients against finite differences, in f64:
//! let r1 = PenaltyConfig::R1 { gamma: 10.0 };
//! burngan::check_penalty_gradients(&critic, &r1, real, fake, &mut rng)?.ensure(1e-6)?;
//! ```

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};
use burngan::burn;
use burngan::models::linear_from_host;
use burngan::{Discriminator, HostRng, InputGradient};

/// The negative slope of [`LinearCritic`]'s LeakyReLU.
pub const SLOPE: f64 = 0.2;

/// x ↦ W₂ᵀ·lrelu(x·W₁ + b₁) + b₂ from two of Burn's `Linear` layers, `[batch, d_in] →
/// [batch, 1]`.
#[derive(Module, Debug)]
pub struct LinearCritic {
    /// `[d_in] → [hidden]`; weight `[d_in, hidden]`.
    pub hidden: Linear,
    /// `[hidden] → [1]`; weight `[hidden, 1]`.
    pub out: Linear,
}

impl LinearCritic {
    /// A critic for `d_in`-dimensional samples with `hidden` units, its weights drawn from
    /// `rng` (hidden layer first) with [`linear_from_host`].
    pub fn new(d_in: usize, hidden: usize, rng: &mut HostRng, device: &Device) -> Self {
        Self {
            hidden: linear_from_host(d_in, hidden, rng, device),
            out: linear_from_host(hidden, 1, rng, device),
        }
    }
}

impl Discriminator<2> for LinearCritic {
    /// `[batch, d_in] → [batch, 1]` logits.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.out.forward(leaky_relu(self.hidden.forward(x), SLOPE))
    }
}

impl InputGradient<2> for LinearCritic {
    /// The transposed chain of the forward pass, with the forward's own weights:
    /// `[batch, d_in] → [batch, d_in]`.
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let pre = self.hidden.forward(x); // [batch, hidden]
        let derivative = pre.ones_like().mask_fill(pre.lower_equal_elem(0.0), SLOPE);
        let top = self.out.weight.val().transpose(); // [1, hidden] = ∂D/∂h
        let g = top.expand([batch as i64, -1]).mul(derivative); // [batch, hidden]
        g.matmul(self.hidden.weight.val().transpose()) // [batch, d_in]
    }
}
