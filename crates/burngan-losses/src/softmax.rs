//! Softmax GAN (Lin 2017): the discriminator's outputs D(x) are energies, and a softmax over
//! the union of the real batch B₊ and the fake batch B₋ gives each sample the probability
//! e^{−D(x)} / Z with Z = Σ_{B₊ ∪ B₋} e^{−D(x)}.

use burn::tensor::Tensor;
use burngan_core::AdversarialLoss;

/// Softmax GAN. The discriminator's target puts mass 1/|B₊| on each real sample and 0 on fakes;
/// the generator's target is uniform, 1/(|B₊| + |B₋|) on every sample. Cross-entropy gives
///
/// L_D = (1/|B₊|)·Σ_{B₊} D(x) + log Z,   L_G = (1/(|B₊| + |B₋|))·Σ_{B₊ ∪ B₋} D(x) + log Z.
///
/// log Z is computed as a log-sum-exp shifted by the maximum of −D, so it is finite for any
/// finite energies. The generator's update uses only L_G: the trainer computes it in a separate
/// graph with the discriminator frozen, so no gradient of L_D reaches the generator.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Softmax;

/// log Σ e^{−x} over every element of `real` and `fake` (`[n, 1]` and `[m, 1]`); returns `[1]`.
pub fn log_partition(real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
    let negative = Tensor::cat(vec![real, fake], 0).neg(); // [n + m, 1]
    // The shift cancels exactly in value and gradient; detaching it keeps the graph small.
    let shift = negative.clone().max().detach(); // [1]
    let shifted = negative.sub(shift.clone().unsqueeze::<2>());
    shifted.exp().sum().log().add(shift)
}

impl AdversarialLoss for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    /// mean over B₊ of D(x) + log Z; `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        let log_z = log_partition(real.clone(), fake);
        real.mean().add(log_z)
    }

    /// mean over B₊ ∪ B₋ of D(x) + log Z; `[batch, 1]` → `[1]`.
    fn generator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        let log_z = log_partition(real.clone(), fake.clone());
        Tensor::cat(vec![real, fake], 0).mean().add(log_z)
    }

    fn generator_uses_real(&self) -> bool {
        true
    }
}
