//! A critic composed from burngan's blocks: the application writes its architecture and no
//! backward code. Each block ([`Dense`], [`Nonlinearity`], [`Residual`], …) carries its own
//! input vector–Jacobian product, so [`BlockCritic`] derives the
//! [`InputGradient`](burngan::InputGradient) that gradient penalties (R1 here) need.
//!
//! Compare [`Judge`](crate::Judge), whose input gradient is written by hand, and
//! [`linear_critic`](crate::linear_critic), which writes it over Burn's `nn::Linear`.

use burn::tensor::Device;
use burngan::burn;
use burngan::models::{BlockCritic, Dense, ModelError, Nonlinearity, Residual, Sequential};
use burngan::{HostRng, PenaltyConfig};

/// The R1 penalty this critic is trained with in the tests (γ = 1).
pub const R1: PenaltyConfig = PenaltyConfig::R1 { gamma: 1.0 };

/// `[batch, 2] → [batch, 1]`: dense 2 → `hidden`, LeakyReLU(0.2), a residual block
/// (dense `hidden` → `hidden`, LeakyReLU(0.2)) added to its input, then a spectrally
/// normalised dense `hidden` → 1. Weights from `rng` in that order.
pub fn block_judge(
    hidden: usize,
    rng: &mut HostRng,
    device: &Device,
) -> Result<BlockCritic<2>, ModelError> {
    let residual = Sequential::new(vec![
        Dense::new(hidden, hidden, false, rng, device).into(),
        Nonlinearity::LeakyRelu(0.2).into(),
    ]);
    let body = Sequential::new(vec![
        Dense::new(2, hidden, false, rng, device).into(),
        Nonlinearity::LeakyRelu(0.2).into(),
        Residual::identity(residual).into(),
        Dense::new(hidden, 1, true, rng, device).into(),
    ]);
    BlockCritic::new(&[2], body)
}
