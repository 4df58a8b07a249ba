//! Losses on the raw critic output rather than a probability: WGAN, hinge and least squares.

use burn::tensor::Tensor;
use burn::tensor::activation::relu;
use burngan_core::AdversarialLoss;

/// Wasserstein GAN (Arjovsky et al. 2017, Algorithm 1): the critic f estimates
/// W₁ = E[f(x)] − E[f(G(z))] under a Lipschitz constraint enforced by clipping every critic
/// weight to [−clip, clip] after each update.
///
/// L_D = E[f(G(z))] − E[f(x)], L_G = −E[f(G(z))].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wasserstein {
    /// Weight clipping bound c (the paper uses 0.01); `None` when another Lipschitz device
    /// (a gradient penalty, spectral norm) is used instead.
    pub clip: Option<f64>,
}

impl AdversarialLoss for Wasserstein {
    fn name(&self) -> &'static str {
        if self.clip.is_some() {
            "wgan"
        } else {
            "wasserstein"
        }
    }

    /// E[f(G(z))] − E[f(x)]; `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        fake.mean().sub(real.mean())
    }

    /// −E[f(G(z))]; `[batch, 1]` → `[1]`.
    fn generator_loss(&self, _real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        fake.mean().neg()
    }

    fn critic_weight_clip(&self) -> Option<f64> {
        self.clip
    }
}

/// Hinge loss (Lim & Ye 2017; Miyato et al. 2018, eq. 16–17):
/// L_D = E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))], L_G = −E[D(G(z))].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Hinge;

impl AdversarialLoss for Hinge {
    fn name(&self) -> &'static str {
        "hinge"
    }

    /// E[relu(1 − l_real)] + E[relu(1 + l_fake)]; `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        let real_term = relu(real.neg().add_scalar(1.0)).mean();
        let fake_term = relu(fake.add_scalar(1.0)).mean();
        real_term.add(fake_term)
    }

    /// −E\[l_fake\]; `[batch, 1]` → `[1]`.
    fn generator_loss(&self, _real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        fake.mean().neg()
    }
}

/// Least-squares GAN (Mao et al. 2017, eq. 2) with target codes a (fake), b (real) and c (what
/// the generator wants D to say about fakes):
/// L_D = ½E[(D(x) − b)²] + ½E[(D(G(z)) − a)²], L_G = ½E[(D(G(z)) − c)²].
/// The default a = 0, b = c = 1 is the paper's 0-1 coding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeastSquares {
    /// Target for fake samples in the discriminator loss.
    pub a: f64,
    /// Target for real samples in the discriminator loss.
    pub b: f64,
    /// Target for fake samples in the generator loss.
    pub c: f64,
}

impl Default for LeastSquares {
    fn default() -> Self {
        Self {
            a: 0.0,
            b: 1.0,
            c: 1.0,
        }
    }
}

fn half_mean_square(x: Tensor<2>, target: f64) -> Tensor<1> {
    let diff = x.sub_scalar(target);
    diff.clone().mul(diff).mean().mul_scalar(0.5)
}

impl AdversarialLoss for LeastSquares {
    fn name(&self) -> &'static str {
        "lsgan"
    }

    /// ½E[(l_real − b)²] + ½E[(l_fake − a)²]; `[batch, 1]` → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        half_mean_square(real, self.b).add(half_mean_square(fake, self.a))
    }

    /// ½E[(l_fake − c)²]; `[batch, 1]` → `[1]`.
    fn generator_loss(&self, _real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        half_mean_square(fake, self.c)
    }
}
