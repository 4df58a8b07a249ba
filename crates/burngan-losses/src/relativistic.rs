//! Relativistic losses (Jolicoeur-Martineau 2019): the discriminator estimates how much more
//! realistic real data is than fake data. Both players use the real logits, so the generator
//! loss is relativistic too.

use burn::tensor::Tensor;
use burngan_core::AdversarialLoss;

use crate::softplus;

/// Relativistic standard GAN (RSGAN, eq. 6–7 with the sigmoid): on paired samples,
/// L_D = E[softplus(−(C(x) − C(G(z))))], L_G = E[softplus(−(C(G(z)) − C(x)))].
/// The real and fake batches must have the same size (the trainer guarantees it).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RelativisticStandard;

impl AdversarialLoss for RelativisticStandard {
    fn name(&self) -> &'static str {
        "rsgan"
    }

    /// E[softplus(l_fake − l_real)]; paired `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        softplus(fake.sub(real)).mean()
    }

    /// E[softplus(l_real − l_fake)]; paired `[batch, 1]` → `[1]`.
    fn generator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        softplus(real.sub(fake)).mean()
    }

    fn generator_uses_real(&self) -> bool {
        true
    }
}

/// Relativistic average standard GAN (RaSGAN, eq. 10–11):
/// L_D = E[softplus(−(C(x) − E C(G(z))))] + E[softplus(C(G(z)) − E C(x))],
/// L_G = E[softplus(−(C(G(z)) − E C(x)))] + E[softplus(C(x) − E C(G(z)))].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RelativisticAverage;

fn relativistic_average(toward: Tensor<2>, away: Tensor<2>) -> Tensor<1> {
    // E[softplus(−(toward − E away))] + E[softplus(away − E toward)]
    let mean_toward = toward.clone().mean().unsqueeze::<2>(); // [1, 1]
    let mean_away = away.clone().mean().unsqueeze::<2>(); // [1, 1]
    let first = softplus(mean_away.sub(toward)).mean();
    let second = softplus(away.sub(mean_toward)).mean();
    first.add(second)
}

impl AdversarialLoss for RelativisticAverage {
    fn name(&self) -> &'static str {
        "ragan"
    }

    /// Real data should look more real than the average fake, and vice versa;
    /// `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        relativistic_average(real, fake)
    }

    /// The discriminator loss with the roles of real and fake swapped; `[batch, 1]` → `[1]`.
    fn generator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        relativistic_average(fake, real)
    }

    fn generator_uses_real(&self) -> bool {
        true
    }
}
