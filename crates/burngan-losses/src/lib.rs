//! Adversarial objectives as functions of discriminator logits.
//!
//! Every loss is written over logits l, never over probabilities, using
//! softplus(x) = log(1 + eˣ) in a stable form (see [`softplus`]); with
//! σ the logistic function, log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l). The
//! losses therefore stay finite for logits of any size (±1e4 included).
//!
//! # Example
//!
//! ```
//! use burngan_core::AdversarialLoss;
//! use burngan_losses::NonSaturating;
//! # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
//! use burn::tensor::Tensor;
//!
//! // A discriminator that cannot tell real from fake: D = 1/2 everywhere.
//! let zeros = Tensor::<2>::zeros([4, 1], &device);
//! let loss_d = NonSaturating.discriminator_loss(zeros.clone(), zeros);
//! let two_log_two = 2.0 * std::f32::consts::LN_2;
//! assert!((loss_d.into_scalar::<f32>() - two_log_two).abs() < 1e-6);
//! ```

use burn::tensor::Tensor;
use burngan_core::AdversarialLoss;
use serde::{Deserialize, Serialize};

/// softplus(x) = log(1 + eˣ), element-wise, computed as ½x + ½|x| + log1p(e^{−|x|}).
///
/// The form is exact in floating point at both ends (for x = ±1e4 the linear terms cancel or
/// add exactly and the log1p term is 0), and its autodiff gradient is σ(x) everywhere,
/// including x = 0 where the more common max(x, 0) + log1p(e^{−|x|}) picks up the boundary
/// gradient of `max` (1 instead of ½): at 0 the |x| terms contribute (½ − σ(0))·sign = 0
/// whatever derivative `abs` takes there.
pub fn softplus<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let magnitude = x.clone().abs();
    let tail = magnitude.clone().neg().exp().log1p();
    x.add(magnitude).mul_scalar(0.5).add(tail)
}

/// Goodfellow et al.'s value function estimated on a batch:
/// V(D, G) = E[log D(x)] + E[log(1 − D(G(z)))] = −mean softplus(−l_real) − mean softplus(l_fake).
///
/// Shapes: `real` and `fake` are `[batch, 1]` logits; returns `[1]`. At the optimum of the game
/// (D = 1/2 everywhere) it equals −2·log 2.
pub fn value_estimate(real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
    let log_d_real = softplus(real.neg()).mean().neg();
    let log_one_minus_d_fake = softplus(fake).mean().neg();
    log_d_real.add(log_one_minus_d_fake)
}

/// The discriminator's loss shared by the minimax and non-saturating games: the binary
/// cross-entropy −E[log D(x)] − E[log(1 − D(G(z)))] = −V(D, G).
fn cross_entropy_discriminator(real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
    softplus(real.neg()).mean().add(softplus(fake).mean())
}

/// The original minimax game (Goodfellow et al. 2014, eq. 1): the generator minimises
/// E[log(1 − D(G(z)))] = −mean softplus(l_fake). This "saturating" loss gives the generator
/// vanishing gradients when the discriminator confidently rejects its samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct Minimax;

impl AdversarialLoss for Minimax {
    fn name(&self) -> &'static str {
        "minimax"
    }

    /// −E[log D(x)] − E[log(1 − D(G(z)))]; `[batch, 1]` logits → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        cross_entropy_discriminator(real, fake)
    }

    /// E[log(1 − D(G(z)))] = −mean softplus(l_fake); `[batch, 1]` logits → `[1]`.
    fn generator_loss(&self, _real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        softplus(fake).mean().neg()
    }
}

/// The non-saturating game (Goodfellow et al. 2014, section 3): the generator maximises
/// log D(G(z)) instead, i.e. minimises −E[log D(G(z))] = mean softplus(−l_fake). Same fixed
/// point as minimax, strong gradients early in training.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonSaturating;

impl AdversarialLoss for NonSaturating {
    fn name(&self) -> &'static str {
        "non-saturating"
    }

    /// −E[log D(x)] − E[log(1 − D(G(z)))]; `[batch, 1]` logits → `[1]`.
    fn discriminator_loss(&self, real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        cross_entropy_discriminator(real, fake)
    }

    /// −E[log D(G(z))] = mean softplus(−l_fake); `[batch, 1]` logits → `[1]`.
    fn generator_loss(&self, _real: Tensor<2>, fake: Tensor<2>) -> Tensor<1> {
        softplus(fake.neg()).mean()
    }
}

/// The loss section of a config file:
///
/// ```toml
/// [loss]
/// kind = "non-saturating"   # or "minimax"
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LossConfig {
    /// [`Minimax`].
    Minimax,
    /// [`NonSaturating`].
    NonSaturating,
}

impl LossConfig {
    /// The loss object this config names.
    pub fn build(&self) -> Box<dyn AdversarialLoss> {
        match self {
            LossConfig::Minimax => Box::new(Minimax),
            LossConfig::NonSaturating => Box::new(NonSaturating),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData, Tolerance};
    use burngan_backend::{BackendKind, device};
    use std::f64::consts::LN_2;

    fn flex() -> Device {
        device(BackendKind::Flex).expect("flex is a default feature")
    }

    fn column(values: &[f32], device: &Device) -> Tensor<2> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), device)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_scalar::<f32>() as f64
    }

    #[test]
    fn zero_logits_give_two_log_two_and_value_minus_two_log_two() {
        let device = flex();
        let zeros = column(&[0.0; 8], &device);
        for loss in [
            LossConfig::Minimax.build(),
            LossConfig::NonSaturating.build(),
        ] {
            let l_d = scalar(loss.discriminator_loss(zeros.clone(), zeros.clone()));
            assert!((l_d - 2.0 * LN_2).abs() < 1e-6, "{}: {l_d}", loss.name());
        }
        let v = scalar(value_estimate(zeros.clone(), zeros.clone()));
        assert!((v + 2.0 * LN_2).abs() < 1e-6);
        // Generator losses at D = 1/2: minimax log(1/2), non-saturating −log(1/2).
        assert!((scalar(Minimax.generator_loss(zeros.clone(), zeros.clone())) + LN_2).abs() < 1e-6);
        assert!((scalar(NonSaturating.generator_loss(zeros.clone(), zeros)) - LN_2).abs() < 1e-6);
    }

    #[test]
    fn values_at_known_points_match_numpy() {
        // Python: sp = lambda x: max(x, 0) + math.log1p(math.exp(-abs(x)))
        // l_r = [2, -1, 0.5]; l_f = [-3, 1, 0]; mean over each list:
        // L_D = mean(sp(-l_r)) + mean(sp(l_f)) = 1.3230876 ; V = -L_D
        // minimax L_G = -mean(sp(l_f)) = -0.6849987 ; NS L_G = mean(sp(-l_f)) = 1.3516654
        let device = flex();
        let real = column(&[2.0, -1.0, 0.5], &device);
        let fake = column(&[-3.0, 1.0, 0.0], &device);
        let l_d = scalar(NonSaturating.discriminator_loss(real.clone(), fake.clone()));
        assert!((l_d - 1.323_087_6).abs() < 1e-5, "{l_d}");
        let v = scalar(value_estimate(real.clone(), fake.clone()));
        assert!((v + 1.323_087_6).abs() < 1e-5, "{v}");
        let mm = scalar(Minimax.generator_loss(real.clone(), fake.clone()));
        assert!((mm + 0.684_998_7).abs() < 1e-5, "{mm}");
        let ns = scalar(NonSaturating.generator_loss(real, fake));
        assert!((ns - 1.351_665_4).abs() < 1e-5, "{ns}");
    }

    #[test]
    fn generator_gradients_with_respect_to_fake_logits() {
        // d/dl mean(-softplus(l)) = -sigmoid(l)/n ; d/dl mean(softplus(-l)) = -(1 - sigmoid(l))/n.
        // torch: l = torch.tensor([-4., 0., 4.], requires_grad=True)
        //   (-F.softplus(l)).mean().backward() -> [-0.0059954, -0.1666667, -0.3273380]
        //   F.softplus(-l).mean().backward()   -> [-0.3273380, -0.1666667, -0.0059954]
        let device = flex().autodiff();
        let fake = column(&[-4.0, 0.0, 4.0], &device).require_grad();
        let real = Tensor::<2>::zeros([0, 1], &device);
        let expect = |values: [f32; 3]| TensorData::new(values.to_vec(), [3, 1]);
        let tolerance = Tolerance::<f32>::absolute(1e-6);

        let grads = Minimax
            .generator_loss(real.clone(), fake.clone())
            .backward();
        fake.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&expect([-0.005_995_4, -0.166_666_7, -0.327_338]), tolerance);

        let grads = NonSaturating.generator_loss(real, fake.clone()).backward();
        fake.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&expect([-0.327_338, -0.166_666_7, -0.005_995_4]), tolerance);
        // The saturating gradient vanishes where D rejects the fake (l = -4): 55x smaller.
    }

    #[test]
    fn extreme_logits_stay_finite_and_reach_their_limits() {
        let device = flex();
        let big = column(&[1e4, 1e4], &device);
        let small = column(&[-1e4, -1e4], &device);
        // A perfect discriminator: loss 0, value 0.
        let l_d = scalar(NonSaturating.discriminator_loss(big.clone(), small.clone()));
        assert_eq!(l_d, 0.0);
        assert_eq!(scalar(value_estimate(big.clone(), small.clone())), 0.0);
        // The worst one: each term is softplus(1e4) = 1e4 exactly in f32.
        let l_d = scalar(NonSaturating.discriminator_loss(small.clone(), big.clone()));
        assert_eq!(l_d, 2e4);
        // Generator losses at a rejected fake: NS = 1e4 (strong signal), minimax = -0 (none).
        assert_eq!(
            scalar(NonSaturating.generator_loss(big.clone(), small.clone())),
            1e4
        );
        assert_eq!(scalar(Minimax.generator_loss(big, small)), 0.0);
    }
}
