//! Property tests of every loss over random logits up to ±1e4 (on flex): the values are finite,
//! equal an f64 evaluation of the loss's definition, and, when every logit is far from zero,
//! equal the closed-form limit (softplus(x) → max(x, 0), so the cross-entropy losses become
//! piecewise linear in the logits).

use burn::tensor::{Device, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::AdversarialLoss;
use proptest::prelude::*;

use crate::LossConfig;

fn flex() -> Device {
    device(BackendKind::Flex).expect("flex is a default feature")
}

fn logits(values: &[f32], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len(), 1]), device)
}

fn scalar(t: Tensor<1>) -> f64 {
    f64::from(t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0])
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n as f64
}

/// log(1 + eˣ) in f64, stable for any x.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// log Σ e^{−l} over both batches, in f64.
fn log_partition(real: &[f64], fake: &[f64]) -> f64 {
    let all: Vec<f64> = real.iter().chain(fake).map(|l| -l).collect();
    let top = all.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    top + all.iter().map(|x| (x - top).exp()).sum::<f64>().ln()
}

/// (L_D, L_G) of `config` by its definition, in f64.
fn reference(config: LossConfig, r: &[f64], f: &[f64]) -> (f64, f64) {
    let mr = mean(r.iter().copied());
    let mf = mean(f.iter().copied());
    let bce_d = mean(r.iter().map(|&l| softplus(-l))) + mean(f.iter().map(|&l| softplus(l)));
    match config {
        LossConfig::Minimax => (bce_d, -mean(f.iter().map(|&l| softplus(l)))),
        LossConfig::NonSaturating => (bce_d, mean(f.iter().map(|&l| softplus(-l)))),
        LossConfig::Wgan { .. } | LossConfig::Wasserstein => (mf - mr, -mf),
        LossConfig::Hinge => (
            mean(r.iter().map(|&l| (1.0 - l).max(0.0)))
                + mean(f.iter().map(|&l| (1.0 + l).max(0.0))),
            -mf,
        ),
        LossConfig::Lsgan { a, b, c } => (
            0.5 * mean(r.iter().map(|&l| (l - b).powi(2)))
                + 0.5 * mean(f.iter().map(|&l| (l - a).powi(2))),
            0.5 * mean(f.iter().map(|&l| (l - c).powi(2))),
        ),
        LossConfig::Rsgan => (
            mean(r.iter().zip(f).map(|(&lr, &lf)| softplus(lf - lr))),
            mean(r.iter().zip(f).map(|(&lr, &lf)| softplus(lr - lf))),
        ),
        LossConfig::Ragan => {
            let average = |toward: &[f64], away: &[f64], m_toward: f64, m_away: f64| {
                mean(toward.iter().map(|&l| softplus(m_away - l)))
                    + mean(away.iter().map(|&l| softplus(l - m_toward)))
            };
            (average(r, f, mr, mf), average(f, r, mf, mr))
        }
        LossConfig::Softmax => {
            let log_z = log_partition(r, f);
            let all = mean(r.iter().chain(f).copied());
            (mr + log_z, all + log_z)
        }
    }
}

const LOSSES: [LossConfig; 9] = [
    LossConfig::Minimax,
    LossConfig::NonSaturating,
    LossConfig::Wgan { clip: 0.01 },
    LossConfig::Wasserstein,
    LossConfig::Hinge,
    LossConfig::Lsgan {
        a: 0.0,
        b: 1.0,
        c: 1.0,
    },
    LossConfig::Rsgan,
    LossConfig::Ragan,
    LossConfig::Softmax,
];

/// Both losses of `config` on flex, in f64.
fn computed(loss: &dyn AdversarialLoss, real: &[f32], fake: &[f32], device: &Device) -> (f64, f64) {
    let (r, f) = (logits(real, device), logits(fake, device));
    (
        scalar(loss.discriminator_loss(r.clone(), f.clone())),
        scalar(loss.generator_loss(r, f)),
    )
}

/// A logit anywhere in [−1e4, 1e4], with the extremes and zero drawn often.
fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        -1e4f32..=1e4f32,
        -10f32..=10f32,
        Just(1e4f32),
        Just(-1e4f32),
        Just(0.0f32),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_loss_is_finite_and_matches_its_definition_for_logits_up_to_1e4(
        pairs in proptest::collection::vec((logit(), logit()), 1..12),
    ) {
        let device = flex();
        let real: Vec<f32> = pairs.iter().map(|p| p.0).collect();
        let fake: Vec<f32> = pairs.iter().map(|p| p.1).collect();
        let (r64, f64s): (Vec<f64>, Vec<f64>) =
            pairs.iter().map(|&(a, b)| (f64::from(a), f64::from(b))).unzip();
        // f32 arithmetic on values up to 1e4 (1e8 once squared): the error allowed scales with
        // the largest term, 1e-6 of it, plus f32 rounding near zero.
        let scale = r64.iter().chain(&f64s).fold(1.0f64, |m, l| m.max(l.abs()));
        for config in LOSSES {
            let loss = config.build();
            let (d, g) = computed(loss.as_ref(), &real, &fake, &device);
            let (ref_d, ref_g) = reference(config, &r64, &f64s);
            let tol = |reference: f64| 1e-6 * scale.max(reference.abs()) * scale.max(1.0).sqrt() + 1e-5;
            prop_assert!(d.is_finite() && g.is_finite(), "{}: {d}, {g}", loss.name());
            prop_assert!((d - ref_d).abs() <= tol(ref_d), "{} L_D {d} vs {ref_d}", loss.name());
            prop_assert!((g - ref_g).abs() <= tol(ref_g), "{} L_G {g} vs {ref_g}", loss.name());
        }
    }

    #[test]
    fn far_from_zero_the_cross_entropy_losses_reach_their_piecewise_linear_limits(
        pairs in proptest::collection::vec((50f32..=1e4f32, 50f32..=1e4f32, any::<bool>(), any::<bool>()), 1..12),
    ) {
        // |l| ≥ 50: softplus(x) = max(x, 0) + O(e^{−50}), far below f32 resolution.
        let device = flex();
        let real: Vec<f32> = pairs.iter().map(|&(a, _, s, _)| if s { a } else { -a }).collect();
        let fake: Vec<f32> = pairs.iter().map(|&(_, b, _, s)| if s { b } else { -b }).collect();
        let relu = |x: f32| f64::from(x).max(0.0);
        let limit_d = mean(real.iter().map(|&l| relu(-l))) + mean(fake.iter().map(|&l| relu(l)));
        let limit_ns = mean(fake.iter().map(|&l| relu(-l)));
        let limit_mm = -mean(fake.iter().map(|&l| relu(l)));
        for (config, limit_g) in [(LossConfig::NonSaturating, limit_ns), (LossConfig::Minimax, limit_mm)] {
            let loss = config.build();
            let (d, g) = computed(loss.as_ref(), &real, &fake, &device);
            prop_assert!((d - limit_d).abs() <= 1e-6 * limit_d.abs().max(1.0), "{} L_D {d} vs {limit_d}", loss.name());
            prop_assert!((g - limit_g).abs() <= 1e-6 * limit_g.abs().max(1.0), "{} L_G {g} vs {limit_g}", loss.name());
        }
        // A perfect discriminator (every real logit ≥ 50, every fake ≤ −50): its loss is 0 to
        // f32 precision and the saturating generator loss is 0 too (no gradient).
        let perfect_real: Vec<f32> = real.iter().map(|l| l.abs()).collect();
        let perfect_fake: Vec<f32> = fake.iter().map(|l| -l.abs()).collect();
        let (d, g) = computed(LossConfig::Minimax.build().as_ref(), &perfect_real, &perfect_fake, &device);
        prop_assert!(d.abs() < 1e-6 && g.abs() < 1e-6, "{d} {g}");
    }
}
