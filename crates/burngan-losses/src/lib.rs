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

mod check;
mod margin;
mod penalty;
#[cfg(test)]
mod proptests;
mod relativistic;
mod softmax;

use burn::tensor::Tensor;
use burngan_core::AdversarialLoss;
use serde::{Deserialize, Serialize};

pub use check::{
    CheckError, GradientCheck, check_input_gradient, check_input_gradient_labeled,
    check_penalty_gradients, check_penalty_gradients_labeled,
};
pub use margin::{Hinge, LeastSquares, Wasserstein};
pub use penalty::PenaltyConfig;
pub use relativistic::{RelativisticAverage, RelativisticStandard};
pub use softmax::{Softmax, log_partition};

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
/// kind = "non-saturating"   # minimax, non-saturating, wgan, wasserstein, hinge, lsgan, rsgan,
///                           # ragan, softmax
/// ```
/// `wgan` takes `clip` (default 0.01, the paper's c); `lsgan` takes `a`, `b`, `c` (defaults 0,
/// 1, 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LossConfig {
    /// [`Minimax`].
    Minimax,
    /// [`NonSaturating`].
    NonSaturating,
    /// [`Wasserstein`] with weight clipping.
    Wgan {
        /// Clip every critic weight to [−clip, clip] after each critic update.
        #[serde(default = "default_clip")]
        clip: f64,
    },
    /// [`Wasserstein`] without clipping: the critic's Lipschitz constraint must come from
    /// elsewhere (a `[penalty]` such as WGAN-GP, or spectral normalisation).
    Wasserstein,
    /// [`Hinge`].
    Hinge,
    /// [`LeastSquares`].
    Lsgan {
        /// Target for fakes in the discriminator loss.
        #[serde(default)]
        a: f64,
        /// Target for reals in the discriminator loss.
        #[serde(default = "one")]
        b: f64,
        /// Target for fakes in the generator loss.
        #[serde(default = "one")]
        c: f64,
    },
    /// [`RelativisticStandard`].
    Rsgan,
    /// [`RelativisticAverage`].
    Ragan,
    /// [`Softmax`].
    Softmax,
}

fn default_clip() -> f64 {
    0.01
}

fn one() -> f64 {
    1.0
}

impl LossConfig {
    /// Checks the loss's parameters; the message names the field and the fix.
    pub fn validate(&self) -> Result<(), String> {
        match *self {
            LossConfig::Wgan { clip } if !(clip.is_finite() && clip > 0.0) => Err(format!(
                "loss.clip must be a finite number > 0, got {clip}; the WGAN paper uses 0.01"
            )),
            LossConfig::Lsgan { a, b, c } if ![a, b, c].iter().all(|v| v.is_finite()) => Err(
                format!("loss.a, loss.b and loss.c must be finite, got {a}, {b}, {c}"),
            ),
            _ => Ok(()),
        }
    }

    /// The loss object this config names.
    pub fn build(&self) -> Box<dyn AdversarialLoss> {
        match *self {
            LossConfig::Minimax => Box::new(Minimax),
            LossConfig::NonSaturating => Box::new(NonSaturating),
            LossConfig::Wgan { clip } => Box::new(Wasserstein { clip: Some(clip) }),
            LossConfig::Wasserstein => Box::new(Wasserstein { clip: None }),
            LossConfig::Hinge => Box::new(Hinge),
            LossConfig::Lsgan { a, b, c } => Box::new(LeastSquares { a, b, c }),
            LossConfig::Rsgan => Box::new(RelativisticStandard),
            LossConfig::Ragan => Box::new(RelativisticAverage),
            LossConfig::Softmax => Box::new(Softmax),
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

    /// Loss values at l_real = [2, -1, 0.5], l_fake = [-3, 1, 0] against Python's `math`
    /// (mean over each list; sp(x) = max(x, 0) + log1p(exp(-|x|))):
    /// wgan   D = mean(f) - mean(r) = -1.1666667      G = -mean(f) = 0.6666667
    /// hinge  D = mean(relu(1-r)) + mean(relu(1+f)) = 1.8333333   G = 0.6666667
    /// lsgan  D = 0.5 mean((r-1)^2) + 0.5 mean(f^2) = 2.5416667   G = 0.5 mean((f-1)^2) = 2.8333333
    /// rsgan  D = mean(sp(f-r)) = 0.8692401           G = mean(sp(r-f)) = 2.0359068
    /// ragan  D = mean(sp(mean(f)-r)) + mean(sp(f-mean(r))) = 0.8966056   G = 3.2299389
    /// softmax lnZ = log(sum(exp(-x) for x in r+f)) = 3.2154124
    ///        D = mean(r) + lnZ = 3.7154124           G = mean(r+f) + lnZ = 3.1320791
    #[test]
    fn every_loss_matches_its_closed_form_on_literal_logits() {
        let device = flex();
        let real = column(&[2.0, -1.0, 0.5], &device);
        let fake = column(&[-3.0, 1.0, 0.0], &device);
        let cases = [
            (LossConfig::Wgan { clip: 0.01 }, -1.166_666_7, 0.666_666_7),
            (LossConfig::Wasserstein, -1.166_666_7, 0.666_666_7),
            (LossConfig::Hinge, 1.833_333_3, 0.666_666_7),
            (
                LossConfig::Lsgan {
                    a: 0.0,
                    b: 1.0,
                    c: 1.0,
                },
                2.541_666_7,
                2.833_333_3,
            ),
            (LossConfig::Rsgan, 0.869_240_1, 2.035_906_8),
            (LossConfig::Ragan, 0.896_605_6, 3.229_938_9),
            (LossConfig::Softmax, 3.715_412_4, 3.132_079_1),
        ];
        for (config, expected_d, expected_g) in cases {
            let loss = config.build();
            let l_d = scalar(loss.discriminator_loss(real.clone(), fake.clone()));
            let l_g = scalar(loss.generator_loss(real.clone(), fake.clone()));
            assert!(
                (l_d - expected_d).abs() < 1e-5,
                "{} D: {l_d} vs {expected_d}",
                loss.name()
            );
            assert!(
                (l_g - expected_g).abs() < 1e-5,
                "{} G: {l_g} vs {expected_g}",
                loss.name()
            );
        }
        let log_z = scalar(log_partition(real, fake));
        assert!((log_z - 3.215_412_4).abs() < 1e-5, "{log_z}");
    }

    #[test]
    fn softmax_gradients_with_respect_to_real_and_fake_logits() {
        // dL_D/dr_i = 1/|B+| - exp(-r_i)/Z ; dL_D/df_j = -exp(-f_j)/Z ;
        // dL_G/df_j = 1/(|B+|+|B-|) - exp(-f_j)/Z  (Python math, same logits as above):
        // dL_D/dr = [0.3279011, 0.2242248, 0.3089879]; dL_D/df = [-0.8062089, -0.0147662, -0.0401388]
        // dL_G/df = [-0.6395422, 0.1519004, 0.1265279]
        let device = flex().autodiff();
        let real = column(&[2.0, -1.0, 0.5], &device).require_grad();
        let fake = column(&[-3.0, 1.0, 0.0], &device).require_grad();
        let tolerance = Tolerance::<f32>::absolute(1e-6);
        let expect = |values: [f32; 3]| TensorData::new(values.to_vec(), [3, 1]);
        let grads = Softmax
            .discriminator_loss(real.clone(), fake.clone())
            .backward();
        real.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&expect([0.327_901_1, 0.224_224_8, 0.308_987_9]), tolerance);
        fake.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(
                &expect([-0.806_208_9, -0.014_766_2, -0.040_138_8]),
                tolerance,
            );
        let grads = Softmax
            .generator_loss(real.clone().detach(), fake.clone())
            .backward();
        fake.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&expect([-0.639_542_2, 0.151_900_4, 0.126_527_9]), tolerance);
    }

    #[test]
    fn softmax_log_partition_is_stable_for_huge_energies() {
        // log(e^{1e4} + e^{1e4 - 1}) = 1e4 + log(1 + e^{-1}) = 10000.3132617
        let device = flex();
        let real = column(&[-1e4], &device);
        let fake = column(&[-1e4 + 1.0], &device);
        let log_z = scalar(log_partition(real, fake));
        assert!((log_z - 10_000.313).abs() < 1e-2, "{log_z}");
    }

    #[test]
    fn loss_parameters_are_validated_and_only_wgan_clips() {
        assert_eq!(
            LossConfig::Wgan { clip: 0.01 }.build().critic_weight_clip(),
            Some(0.01)
        );
        assert_eq!(LossConfig::Hinge.build().critic_weight_clip(), None);
        assert_eq!(LossConfig::Wasserstein.build().critic_weight_clip(), None);
        let message = LossConfig::Wgan { clip: -0.1 }.validate().unwrap_err();
        assert!(
            message.contains("loss.clip must be a finite number > 0, got -0.1"),
            "{message}"
        );
        let message = LossConfig::Lsgan {
            a: f64::NAN,
            b: 1.0,
            c: 1.0,
        }
        .validate()
        .unwrap_err();
        assert!(message.contains("must be finite"), "{message}");
        for config in [LossConfig::Rsgan, LossConfig::Ragan, LossConfig::Softmax] {
            assert!(config.build().generator_uses_real());
        }
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

        // Gradients at ±1e4 are finite and reach their limits: d softplus(l)/dl = sigmoid(l).
        let device = device.autodiff();
        let logits = column(&[1e4, -1e4, 0.0], &device).require_grad();
        let grads = softplus(logits.clone()).sum().backward();
        let grad: Vec<f32> = logits
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        assert_eq!(grad, vec![1.0, 0.0, 0.5]);
        for loss in [
            LossConfig::Minimax.build(),
            LossConfig::NonSaturating.build(),
        ] {
            let real = column(&[1e4, -1e4], &device).require_grad();
            let fake = column(&[-1e4, 1e4], &device).require_grad();
            let total = loss
                .discriminator_loss(real.clone(), fake.clone())
                .add(loss.generator_loss(real.clone(), fake.clone()));
            let grads = total.backward();
            for tensor in [&real, &fake] {
                let values: Vec<f32> = tensor
                    .grad(&grads)
                    .unwrap()
                    .into_data()
                    .try_to_vec()
                    .unwrap();
                assert!(
                    values.iter().all(|v| v.is_finite()),
                    "{}: {values:?}",
                    loss.name()
                );
            }
        }
    }
}
