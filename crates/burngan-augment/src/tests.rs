//! The augmentation against independent references: its VJP against autodiff, its values
//! against a host evaluation of the definitions in f64, its draws against their ranges and
//! probabilities, ADA's controller against its closed form.

use burn::tensor::{DType, Device, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::HostRng;
use burngan_train::{Augment, AugmentTransform};

use crate::{
    AdaController, AdaState, AdaptiveConfig, AugmentConfig, BatchTransform, DiffAugment, Op,
    OpDraw, PolicyItem, Probability, Sizes,
};

const ALL: [Op; 5] = [
    Op::Brightness,
    Op::Saturation,
    Op::Contrast,
    Op::Translation,
    Op::Cutout,
];

/// Sizes that do not divide 7 × 9 images: shifts up to ⌊2.1⌋ = 2 and ⌊2.7⌋ = 2 pixels, a
/// ⌊3.15⌋ × ⌊4.05⌋ = 3 × 4 cutout.
const ODD: Sizes = Sizes {
    translation: 0.3,
    cutout: 0.45,
};
const DIMS: [usize; 4] = [4, 3, 7, 9];

fn backends() -> Vec<(&'static str, Device)> {
    vec![
        ("flex", device(BackendKind::Flex).unwrap().autodiff()),
        ("ndarray", device(BackendKind::Ndarray).unwrap().autodiff()),
    ]
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().iter::<f64>().collect()
}

fn upload(values: &[f64], dims: [usize; 4], device: &Device, dtype: DType) -> Tensor<4> {
    let data = TensorData::new(values.iter().map(|&v| v as f32).collect::<Vec<_>>(), dims);
    Tensor::<4>::from_data(data, device).cast(dtype)
}

/// max |a − b| / max |b|.
fn relative(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let error = a
        .iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    error / scale
}

/// The definitions of the table in `transform.rs`, evaluated on the host in f64.
fn host_apply(t: &BatchTransform, x: &[f64]) -> Vec<f64> {
    let [n, c, h, w] = t.dims();
    let at = |s: usize, ch: usize, i: usize, j: usize| ((s * c + ch) * h + i) * w + j;
    let mut x = x.to_vec();
    for draw in t.draws() {
        let mut y = x.clone();
        for s in 0..n {
            for ch in 0..c {
                for i in 0..h {
                    for j in 0..w {
                        let v = x[at(s, ch, i, j)];
                        y[at(s, ch, i, j)] = match draw {
                            OpDraw::Brightness(b) => v + f64::from(b[s]),
                            OpDraw::Saturation(f) => {
                                let m = (0..c).map(|k| x[at(s, k, i, j)]).sum::<f64>() / c as f64;
                                f64::from(f[s]) * v + (1.0 - f64::from(f[s])) * m
                            }
                            OpDraw::Contrast(f) => {
                                let m = x[at(s, 0, 0, 0)..at(s, c - 1, h - 1, w - 1) + 1]
                                    .iter()
                                    .sum::<f64>()
                                    / (c * h * w) as f64;
                                f64::from(f[s]) * v + (1.0 - f64::from(f[s])) * m
                            }
                            OpDraw::Translation(t) => {
                                let (si, sj) = (i as i64 + t[s][0], j as i64 + t[s][1]);
                                if (0..h as i64).contains(&si) && (0..w as i64).contains(&sj) {
                                    x[at(s, ch, si as usize, sj as usize)]
                                } else {
                                    0.0
                                }
                            }
                            OpDraw::Cutout(r) => match r[s] {
                                Some(r)
                                    if (r.top..r.bottom).contains(&i)
                                        && (r.left..r.right).contains(&j) =>
                                {
                                    0.0
                                }
                                _ => v,
                            },
                        };
                    }
                }
            }
        }
        x = y;
    }
    x
}

/// ∂(Σ w ⊙ T(x))/∂x by autodiff and T's VJP of w, in `dtype`.
fn vjp_and_autodiff(
    t: &BatchTransform,
    x: &[f64],
    w: &[f64],
    device: &Device,
    dtype: DType,
) -> (Vec<f64>, Vec<f64>) {
    let x = upload(x, t.dims(), device, dtype).require_grad();
    let w = upload(w, t.dims(), device, dtype);
    let grads = t.apply(x.clone()).mul(w.clone()).sum().backward();
    let autodiff = host(x.grad(&grads).expect("T(x) depends on x"));
    (host(t.vjp(w.detach())), autodiff)
}

#[test]
fn the_vjp_equals_autodiff_for_every_op_and_the_pipeline_on_flex_and_ndarray() {
    let n: usize = DIMS.iter().product();
    let mut worst = (0.0f64, 0.0f64);
    for (backend, device) in backends() {
        let mut cases: Vec<(String, Vec<Op>)> = ALL
            .iter()
            .map(|op| (op.name().to_string(), vec![*op]))
            .collect();
        cases.push(("pipeline".into(), ALL.to_vec()));
        for (name, ops) in cases {
            for seed in 0..3 {
                let mut rng = HostRng::seed_from(seed);
                let t = BatchTransform::draw(&ops, 1.0, ODD, DIMS, &mut rng);
                let x: Vec<f64> = rng
                    .uniform_vec(n, -1.0, 1.0)
                    .into_iter()
                    .map(f64::from)
                    .collect();
                let w: Vec<f64> = rng.normal_vec(n).into_iter().map(f64::from).collect();
                // The op does something: T(x) ≠ x.
                assert!(
                    relative(&host_apply(&t, &x), &x) > 1e-3,
                    "{name} is the identity"
                );
                let (ours, autodiff) = vjp_and_autodiff(&t, &x, &w, &device, DType::F32);
                let f32_error = relative(&ours, &autodiff);
                assert!(
                    f32_error <= 1e-6,
                    "{backend} {name} seed {seed}: f32 {f32_error:e}"
                );
                let (ours, autodiff) = vjp_and_autodiff(&t, &x, &w, &device, DType::F64);
                let f64_error = relative(&ours, &autodiff);
                assert!(
                    f64_error <= 1e-14,
                    "{backend} {name} seed {seed}: f64 {f64_error:e}"
                );
                worst = (worst.0.max(f32_error), worst.1.max(f64_error));
            }
        }
    }
    println!(
        "worst VJP error: {:.2e} in f32, {:.2e} in f64",
        worst.0, worst.1
    );
}

#[test]
fn the_augmented_batch_equals_the_host_definitions_on_flex_and_ndarray() {
    let n: usize = DIMS.iter().product();
    for seed in 0..3 {
        let mut rng = HostRng::seed_from(10 + seed);
        let t = BatchTransform::draw(&ALL, 1.0, ODD, DIMS, &mut rng);
        let x: Vec<f64> = rng
            .uniform_vec(n, -1.0, 1.0)
            .into_iter()
            .map(f64::from)
            .collect();
        let expected = host_apply(&t, &x);
        let outputs: Vec<Vec<f64>> = backends()
            .into_iter()
            .map(|(_, device)| host(t.apply(upload(&x, DIMS, &device, DType::F32))))
            .collect();
        for (backend, output) in ["flex", "ndarray"].iter().zip(&outputs) {
            let error = relative(output, &expected);
            assert!(
                error <= 1e-6,
                "seed {seed}: {backend} {error:e} against the host"
            );
        }
        // Saturation's and contrast's means are reductions, summed in each backend's order:
        // equal to rounding (a few ulps), not bit for bit.
        let across = relative(&outputs[0], &outputs[1]);
        assert!(
            across <= 1e-6,
            "seed {seed}: flex against ndarray {across:e}"
        );
    }
    // Brightness, translation and cutout are one addition, copies and zeros: bit for bit
    // the host's f32 evaluation on every backend.
    let mut rng = HostRng::seed_from(3);
    let ops = [Op::Brightness, Op::Translation, Op::Cutout];
    let t = BatchTransform::draw(&ops, 1.0, ODD, DIMS, &mut rng);
    let x: Vec<f64> = rng
        .uniform_vec(n, -1.0, 1.0)
        .into_iter()
        .map(f64::from)
        .collect();
    let expected: Vec<f64> = host_apply(&t, &x)
        .into_iter()
        .map(|v| f64::from(v as f32))
        .collect();
    for (backend, device) in backends() {
        let got = host(t.apply(upload(&x, DIMS, &device, DType::F32)));
        assert_eq!(got, expected, "{backend}");
    }
}

#[test]
fn draws_stay_in_their_ranges_and_cover_them() {
    let dims = [400, 1, 28, 28];
    let sizes = Sizes {
        translation: 0.125,
        cutout: 0.5,
    };
    let t = BatchTransform::draw(&ALL, 1.0, sizes, dims, &mut HostRng::seed_from(5));
    let mut shifts = std::collections::BTreeSet::new();
    for draw in t.draws() {
        match draw {
            OpDraw::Brightness(b) => {
                assert!(b.iter().all(|b| (-0.5..0.5).contains(b)));
                assert!(b.iter().any(|&b| b < -0.45) && b.iter().any(|&b| b > 0.45));
            }
            OpDraw::Saturation(f) => assert!(f.iter().all(|f| (0.0..2.0).contains(f))),
            OpDraw::Contrast(f) => {
                assert!(f.iter().all(|f| (0.5..1.5).contains(f)));
                let mean = f.iter().map(|&f| f64::from(f)).sum::<f64>() / f.len() as f64;
                // 400 draws of U(0.5, 1.5): standard error 0.0144.
                assert!((mean - 1.0).abs() < 0.06, "{mean}");
            }
            OpDraw::Translation(t) => shifts.extend(t.iter().flat_map(|t| *t)),
            OpDraw::Cutout(rects) => {
                for r in rects.iter().flatten() {
                    // ⌊0.5·28⌋ = 14: a 14 × 14 square, cropped at the border.
                    assert!(r.bottom - r.top <= 14 && r.right - r.left <= 14);
                    assert!(r.bottom <= 28 && r.right <= 28);
                    let interior = r.top > 0 && r.bottom < 28;
                    assert!(!interior || r.bottom - r.top == 14, "{r:?}");
                }
                assert!(rects.iter().flatten().any(|r| r.bottom - r.top == 14));
                assert!(rects.iter().flatten().any(|r| r.bottom - r.top < 14));
            }
        }
    }
    // ⌊28/8⌋ = 3: every shift from −3 to 3 occurs, nothing else.
    assert_eq!(
        shifts.into_iter().collect::<Vec<_>>(),
        (-3..=3).collect::<Vec<_>>()
    );
}

#[test]
fn p_gates_each_op_per_sample_without_changing_the_number_of_draws() {
    let dims = [2000, 1, 8, 8];
    let sizes = Sizes {
        translation: 0.25,
        cutout: 0.5,
    };
    let mut ends = Vec::new();
    let mut applied = Vec::new();
    for p in [0.0, 0.3, 1.0] {
        let mut rng = HostRng::seed_from(7);
        let t = BatchTransform::draw(&ALL, p, sizes, dims, &mut rng);
        ends.push(rng.state());
        let mut on = 0usize;
        for draw in t.draws() {
            on += match draw {
                OpDraw::Brightness(b) => b.iter().filter(|&&b| b != 0.0).count(),
                OpDraw::Saturation(f) | OpDraw::Contrast(f) => {
                    f.iter().filter(|&&f| f != 1.0).count()
                }
                OpDraw::Translation(t) => t.iter().filter(|&&t| t != [0, 0]).count(),
                OpDraw::Cutout(r) => r.iter().filter(|r| r.is_some()).count(),
            };
        }
        applied.push(on as f64 / (5 * dims[0]) as f64);
        if p == 0.0 {
            assert!(t.draws().iter().all(OpDraw::is_identity));
            let device = device(BackendKind::Flex).unwrap();
            let x = HostRng::seed_from(1).uniform_tensor(dims, -1.0, 1.0, &device);
            assert_eq!(host(t.apply(x.clone())), host(x), "p = 0 is the identity");
        }
    }
    assert!(ends.windows(2).all(|e| e[0] == e[1]), "draw counts differ");
    assert_eq!(applied[0], 0.0);
    // p = 0.3 over 10,000 gates: standard error 0.0046 (a shift of (0, 0), a rectangle
    // cropped to nothing or a uniform of exactly 0.5 counts as not applied: rare).
    assert!((applied[1] - 0.3).abs() < 0.03, "{}", applied[1]);
    // p = 1: every op applied, less the translations drawn as (0, 0) (1/25 of them).
    assert!(
        (applied[2] - (1.0 - 0.2 / 25.0)).abs() < 0.01,
        "{}",
        applied[2]
    );
}

#[test]
fn the_same_seed_gives_the_same_draws() {
    let draw = |seed| BatchTransform::draw(&ALL, 0.7, ODD, DIMS, &mut HostRng::seed_from(seed));
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}

fn ada(interval: usize, speed_images: f64, initial_p: f64) -> AdaController {
    AdaController::new(AdaptiveConfig {
        target: 0.6,
        interval,
        speed_images,
        initial_p,
    })
}

/// Logits `[n, 1]` with `positive` of them > 0, `zero` equal to 0 and the rest < 0.
fn logits(n: usize, positive: usize, zero: usize) -> Tensor<2> {
    let values: Vec<f32> = (0..n)
        .map(|i| match i {
            i if i < positive => 0.5 + i as f32,
            i if i < positive + zero => 0.0,
            i => -1.5 - i as f32,
        })
        .collect();
    let device = device(BackendKind::Flex).unwrap();
    Tensor::from_data(TensorData::new(values, [n, 1]), &device)
}

#[test]
fn ada_moves_p_by_batch_times_interval_over_speed_toward_the_target() {
    // Batch 8, interval 2, speed 1024: each adjustment is 16/1024 = 1/64 exactly.
    let mut c = ada(2, 1024.0, 0.0);
    let step = 1.0 / 64.0;
    assert_eq!(c.step_size(16), step);
    // r = 1 > 0.6: p rises, only at the end of each interval.
    for k in 1..=3 {
        c.observe(logits(8, 8, 0));
        assert_eq!(c.p(), (k - 1) as f64 * step, "mid-interval {k}");
        c.observe(logits(8, 8, 0));
        assert_eq!(c.p(), k as f64 * step, "after interval {k}");
        assert_eq!(c.last_signal(), Some(1.0));
    }
    // r = (4 − 4)/8 per update = 0 < 0.6: p falls by the same step.
    c.observe(logits(8, 4, 0));
    c.observe(logits(8, 4, 0));
    assert_eq!(c.p(), 2.0 * step);
    assert_eq!(c.last_signal(), Some(0.0));
    // r = 6/10 = 0.6 exactly (6 positive, 4 zero logits): sign(r − target) = 0.
    let mut held = ada(1, 1024.0, 0.5);
    held.observe(logits(10, 6, 4));
    assert_eq!(held.last_signal(), Some(0.6));
    assert_eq!(held.p(), 0.5);
    // Clamped to [0, 1].
    let mut low = ada(1, 10.0, 0.0);
    low.observe(logits(8, 0, 0));
    assert_eq!((low.p(), low.last_signal()), (0.0, Some(-1.0)));
    let mut high = ada(1, 10.0, 0.95);
    high.observe(logits(8, 8, 0));
    assert_eq!(high.p(), 1.0);
    // A non-finite signal leaves p as it was.
    let mut nan = ada(1, 10.0, 0.5);
    nan.adjust(f64::NAN, 8);
    assert_eq!(nan.p(), 0.5);
}

#[test]
fn ada_state_round_trips_mid_interval_and_bad_states_are_refused() {
    let mut a = ada(3, 512.0, 0.25);
    a.observe(logits(8, 8, 0));
    a.observe(logits(8, 2, 1));
    let state = a.state();
    assert_eq!(
        state,
        AdaState {
            p: 0.25,
            sign_sum: 8.0 + 2.0 - 5.0,
            observed: 16,
            updates: 2
        }
    );
    let mut b = ada(3, 512.0, 0.0);
    b.load(&state).unwrap();
    a.observe(logits(8, 1, 0));
    b.observe(logits(8, 1, 0));
    // r = (5 + 1 − 7)/24 < 0.6: both fall by 24/512.
    assert_eq!(a.p(), 0.25 - 24.0 / 512.0);
    assert_eq!(b.p(), a.p());
    for (bad, expected) in [
        (AdaState { p: 1.5, ..state }, "p must be in [0, 1], got 1.5"),
        (
            AdaState {
                updates: 3,
                ..state
            },
            "3 updates observed in an interval of 3",
        ),
        (
            AdaState {
                sign_sum: 17.0,
                ..state
            },
            "a sum of signs 17 over 16 logits",
        ),
    ] {
        let mut c = ada(3, 512.0, 0.0);
        let error = c.load(&bad).unwrap_err();
        assert!(error.contains(expected), "{error}");
        assert_eq!(c.p(), 0.0, "unchanged");
    }
}

/// Probabilities whose shortest decimal form serde_json's default (fast, not correctly
/// rounded) parser reads back one ulp off; `float_roundtrip` reads them exactly.
const HARD_DECIMALS: [f64; 2] = [0.11801793343883843, 0.09858908599999999];

#[test]
fn an_adaptive_p_survives_its_state_file_bit_for_bit() {
    let config = AugmentConfig {
        p: Probability::Adaptive,
        ..AugmentConfig::default()
    };
    // p values as a run reaches them: sums of steps N/S, and decimals that are hard to parse.
    let mut values: Vec<f64> = HARD_DECIMALS.to_vec();
    values.extend((1..200).scan(0.0, |p, _| {
        *p += 64.0 / 500_000.0 * 7.0;
        Some(*p)
    }));
    for p in values {
        let mut saved = DiffAugment::new(&config).unwrap();
        let state = serde_json::json!({"mode": "adaptive", "p": p, "sign_sum": 0.0, "observed": 0, "updates": 0});
        saved.load_state(&state).unwrap();
        // The trainer writes the state as text and reads it back on resume.
        let text = saved.state().to_string();
        let mut restored = DiffAugment::new(&config).unwrap();
        restored
            .load_state(&serde_json::from_str(&text).unwrap())
            .unwrap();
        assert_eq!(restored.probability().to_bits(), p.to_bits(), "{text}");
    }
}

#[test]
fn diffaugment_describes_saves_and_restores_its_state() {
    let fixed = DiffAugment::new(&AugmentConfig::default()).unwrap();
    assert_eq!(
        fixed.describe(),
        "brightness, saturation, contrast, translation, cutout; fixed p"
    );
    assert_eq!(fixed.probability(), 1.0);
    let config = AugmentConfig {
        policy: vec![PolicyItem::Translation],
        p: Probability::Adaptive,
        adaptive: AdaptiveConfig {
            interval: 1,
            speed_images: 80.0,
            ..AdaptiveConfig::default()
        },
        ..AugmentConfig::default()
    };
    let mut adaptive = DiffAugment::new(&config).unwrap();
    assert_eq!(adaptive.describe(), "translation; adaptive p");
    assert_eq!(adaptive.probability(), 0.0);
    adaptive.observe_real_logits(logits(8, 8, 0));
    assert_eq!(adaptive.probability(), 0.1);
    let state = adaptive.state();
    assert_eq!(
        state,
        serde_json::json!({"mode": "adaptive", "p": 0.1, "sign_sum": 0.0, "observed": 0, "updates": 0})
    );
    let mut restored = DiffAugment::new(&config).unwrap();
    restored.load_state(&state).unwrap();
    assert_eq!(restored.probability(), 0.1);
    let mut other = fixed.clone();
    let error = other.load_state(&state).unwrap_err();
    assert!(error.contains("this augmentation's p is fixed"), "{error}");
    let error = restored
        .load_state(&serde_json::json!({"mode": "adaptive"}))
        .unwrap_err();
    assert!(error.contains("missing field `p`"), "{error}");
    assert_eq!(restored.probability(), 0.1, "unchanged by a refused state");
    let bad = AugmentConfig {
        translation: 2.0,
        ..AugmentConfig::default()
    };
    assert!(DiffAugment::new(&bad).is_err());
}
