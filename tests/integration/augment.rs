//! Differentiable augmentation (`[augment]`, burngan-augment) through the trainer and the
//! command: penalties through the augmentation against autodiff and f64 finite differences,
//! the penalty's gradients reaching the trained critic through its clone, the augmented batch
//! on flex, ndarray and wgpu, bit-exact resume with an adaptive p logged in metrics.jsonl, and
//! toy runs refused.

use std::path::Path;
use std::sync::Arc;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Gradients, Tensor};
use burngan::models::{Activation, DcganDiscriminator, DcganDiscriminatorConfig};
use burngan::{InputGradient, PenaltyConfig, check_input_gradient, check_penalty_gradients};
use burngan_augment::{BatchTransform, Op, Sizes};
use burngan_backend::{BackendKind, device};
use burngan_core::HostRng;
use burngan_train::{AugmentTransform, Augmented, StepMetrics, find_checkpoint};

use crate::support::{burngan, regression_backends, shipped_mnist, tensors, train_in};

const ALL: [Op; 5] = [
    Op::Brightness,
    Op::Saturation,
    Op::Contrast,
    Op::Translation,
    Op::Cutout,
];

/// Sizes that do not divide 12: shifts up to ⌊0.42·12⌋ = 5 pixels, a ⌊0.6·12⌋ = 7 pixel
/// cutout.
const ODD: Sizes = Sizes {
    translation: 0.42,
    cutout: 0.6,
};

/// A small DCGAN critic on `[3, 12, 12]` images (two convolutions, 8 hidden units).
fn critic(activation: Activation, spectral_norm: bool, device: &Device) -> DcganDiscriminator {
    DcganDiscriminatorConfig {
        channels: vec![3, 4],
        hidden: 8,
        activation,
        spectral_norm,
        spectral_convention: Default::default(),
        init: Default::default(),
    }
    .init([3, 12, 12], &mut HostRng::seed_from(61), device)
    .unwrap()
}

fn transform(seed: u64, dims: [usize; 4]) -> Arc<dyn AugmentTransform<4>> {
    Arc::new(BatchTransform::draw(
        &ALL,
        1.0,
        ODD,
        dims,
        &mut HostRng::seed_from(seed),
    ))
}

#[test]
fn penalties_through_the_augmentation_match_autodiff_and_f64_finite_differences() {
    let dims = [5, 3, 12, 12];
    let penalties = [
        PenaltyConfig::R1 { gamma: 10.0 },
        PenaltyConfig::R2 { gamma: 1.0 },
        PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        },
    ];
    let mut worst = (0.0f64, 0.0f64);
    for kind in [BackendKind::Flex, BackendKind::Ndarray] {
        let device = device(kind).unwrap().autodiff();
        for (activation, spectral) in [(Activation::Tanh, false), (Activation::Tanh, true)] {
            let seen = Augmented::new(critic(activation, spectral, &device), transform(62, dims));
            let mut rng = HostRng::seed_from(63);
            // The input gradient of D∘T against autodiff through T, in f32.
            let check = check_input_gradient(&seen, rng.normal(dims, &device)).unwrap();
            assert!(check.max_rel_error <= 1e-5, "{kind} {spectral}: {check}");
            worst.0 = worst.0.max(check.max_rel_error);
            for penalty in &penalties {
                let (real, fake) = (rng.normal(dims, &device), rng.normal(dims, &device));
                let check = check_penalty_gradients(&seen, penalty, real, fake, &mut rng).unwrap();
                // Convolutions 3·3·4·4 + 3 and 4·3·4·4 + 4, dense 36·8 + 8, output 8 + 1.
                assert_eq!(check.compared, 147 + 196 + 296 + 9);
                assert!(check.scale > 1e-4, "{check}");
                assert!(
                    check.max_rel_error <= 1e-6,
                    "{kind} spectral {spectral} {}: {check}",
                    penalty.name()
                );
                worst.1 = worst.1.max(check.max_rel_error);
            }
        }
    }
    println!(
        "D∘T: input gradient {:.2e} (f32, autodiff), penalty parameter gradients {:.2e} (f64, \
         central differences)",
        worst.0, worst.1
    );
}

/// The gradient of every parameter of `module` in `grads`, in visiting order.
fn param_grads<M: Module>(module: &M, grads: &Gradients) -> Vec<Option<Vec<f32>>> {
    struct Collect<'a>(&'a Gradients, Vec<Option<Vec<f32>>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let grad = param.val().grad(self.0).map(|g| {
                g.into_data()
                    .convert::<f32>()
                    .try_to_vec::<f32>()
                    .unwrap_or_default()
            });
            self.1.push(grad);
        }
    }
    let mut collect = Collect(grads, Vec::new());
    module.visit(&mut collect);
    collect.1
}

#[test]
fn a_penalty_on_the_critics_clone_sends_its_gradients_to_the_critics_own_parameters() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let dims = [4, 3, 12, 12];
    // tanh: with a piecewise-linear activation the biases would not reach the input gradient.
    let critic = critic(Activation::Tanh, false, &device);
    let t = transform(64, dims);
    let mut rng = HostRng::seed_from(65);
    let (real, fake) = (rng.normal(dims, &device), rng.normal(dims, &device));
    let r1 = PenaltyConfig::R1 { gamma: 10.0 };
    // Through a clone, as the trainer does.
    let seen = Augmented::new(critic.clone(), t.clone());
    let through_clone = r1.compute(&seen, real.clone(), fake, &mut rng).backward();
    let cloned = param_grads(&critic, &through_clone);
    // The same penalty written on the critic itself: γ/2·E‖Aᵀ∇D(T x)‖².
    let direct = r1
        .from_gradient(t.vjp(critic.input_gradient(t.apply(real))))
        .backward();
    let own = param_grads(&critic, &direct);
    assert_eq!(cloned.len(), 8);
    // The last bias does not reach the input gradient; every other parameter gets one.
    assert!(
        cloned[..7]
            .iter()
            .all(|g| g.as_ref().is_some_and(|g| g.iter().any(|v| *v != 0.0)))
    );
    assert_eq!(
        cloned, own,
        "the clone's penalty gradients are the critic's"
    );
}

fn host(t: Tensor<4>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

#[test]
fn the_augmented_batch_agrees_on_flex_ndarray_and_wgpu() {
    let dims = [6, 3, 12, 12];
    let n: usize = dims.iter().product();
    let x = HostRng::seed_from(66).uniform_vec(n, -1.0, 1.0);
    let upload = |device: &Device| {
        Tensor::<4>::from_data(burn::tensor::TensorData::new(x.clone(), dims), device)
    };
    // Brightness, translation and cutout: one addition, copies and zeros, bit for bit.
    let exact = [Op::Brightness, Op::Translation, Op::Cutout];
    let t = BatchTransform::draw(&exact, 1.0, ODD, dims, &mut HostRng::seed_from(67));
    let outputs: Vec<(BackendKind, Vec<f32>)> = regression_backends()
        .into_iter()
        .map(|(kind, device)| (kind, host(t.apply(upload(&device)))))
        .collect();
    for (kind, output) in &outputs[1..] {
        assert!(output == &outputs[0].1, "{kind} differs from flex");
    }
    // The colour means are reductions in each backend's order: equal to a few ulps.
    let t = BatchTransform::draw(&ALL, 1.0, ODD, dims, &mut HostRng::seed_from(68));
    let outputs: Vec<(BackendKind, Vec<f32>)> = regression_backends()
        .into_iter()
        .map(|(kind, device)| (kind, host(t.apply(upload(&device)))))
        .collect();
    let scale = outputs[0].1.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for (kind, output) in &outputs[1..] {
        let error = output
            .iter()
            .zip(&outputs[0].1)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(error / scale <= 1e-6, "{kind}: {:e}", error / scale);
    }
}

/// A tiny DCGAN run on the shipped digits with R1 and an adaptive p that moves by
/// 8/64 = 0.125 per discriminator update.
fn augmented_config(augment: &str) -> String {
    format!(
        r#"
[run]
seed = 9
steps = 6
log_every = 1
sample_every = 6
checkpoint_every = 0
[data]
kind = "images"
path = "{mnist}"
[generator]
kind = "dcgan"
latent_dim = 8
hidden = 16
channels = [8, 4]
[discriminator]
kind = "dcgan"
channels = [4, 8]
hidden = 16
[loss]
kind = "non-saturating"
[penalty]
kind = "r1"
gamma = 1.0
[train]
batch_size = 8
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "adam"
lr = 1e-3
{augment}
"#,
        mnist = shipped_mnist().display()
    )
}

const ADAPTIVE: &str = r#"[augment]
p = "adaptive"
adaptive = { interval = 1, speed_images = 64, initial_p = 0.5 }
"#;

/// The generator of a run's newest checkpoint, as the command loads it.
fn generator_of(run: &Path) -> Vec<f32> {
    let checkpoint = find_checkpoint(run).unwrap();
    let config = burngan_app::TrainConfig::load(&checkpoint.join("config.toml")).unwrap();
    let device = device(BackendKind::Flex).unwrap();
    let generator = burngan_app::load_image_generator(&config, &checkpoint, false, &device);
    tensors(&generator.unwrap())
}

#[test]
fn an_augmented_run_resumes_bit_for_bit_and_logs_p() {
    let dir = tempfile::tempdir().unwrap();
    let text = augmented_config(ADAPTIVE);
    let straight = train_in(dir.path(), "straight", &text, &[]);
    let resumed = train_in(dir.path(), "resumed", &text, &["--stop-at", "3"]);
    let augment_json = find_checkpoint(&resumed).unwrap().join("augment.json");
    assert!(
        augment_json.is_file(),
        "the checkpoint holds the augmentation state"
    );
    let resumed_arg = resumed.to_str().unwrap();
    let (code, message) = burngan(&["train", "--resume", resumed_arg, "--backend", "flex"]);
    assert_eq!(code, 0, "{message}");
    let metrics = |run: &Path| std::fs::read_to_string(run.join("metrics.jsonl"));
    let (m1, m2) = (metrics(&straight).unwrap(), metrics(&resumed).unwrap());
    assert_eq!(m1, m2, "metrics.jsonl differs after the resume");
    assert_eq!(generator_of(&straight), generator_of(&resumed));
    // p is logged at every step; each step's one adjustment moves it by 8/64 = 0.125 (or
    // not at all when clamped or when r equals the target).
    let lines: Vec<StepMetrics> = m1
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    let mut p = 0.5;
    for line in &lines {
        let logged = line.augment_p.expect("augment_p is logged");
        let moved = (logged - p).abs();
        assert!(
            moved == 0.125 || (moved == 0.0 && (logged == 0.0 || logged == 1.0)),
            "{p} → {logged}"
        );
        p = logged;
    }
    assert!(lines.iter().any(|l| l.augment_p != Some(0.5)), "p moved");
    // Without [augment] nothing is logged for it, and the run differs.
    let plain = train_in(dir.path(), "plain", &augmented_config(""), &[]);
    let m3 = metrics(&plain).unwrap();
    assert!(!m3.contains("augment_p"), "{m3}");
    assert_ne!(generator_of(&plain), generator_of(&straight));
}

#[test]
fn augment_on_toy_data_and_bad_values_are_refused_with_the_fix() {
    let toy = r#"
[data]
kind = "ring"
[generator]
latent_dim = 2
hidden = [8]
[discriminator]
hidden = [8]
[loss]
kind = "non-saturating"
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "adam"
lr = 1e-3
[augment]
"#;
    let config = burngan_app::TrainConfig::from_toml(toy, "toy").unwrap();
    let error = config.validate().unwrap_err().to_string();
    assert!(
        error.contains("data.kind = \"ring\" is toy 2-D data; remove the [augment] section"),
        "{error}"
    );
    for (augment, expected) in [
        ("[augment]\np = 2.0\n", "augment.p must be in [0, 1], got 2"),
        ("[augment]\np = \"often\"\n", "\"adaptive\", got \"often\""),
        ("[augment]\npolicy = [\"flip\"]\n", "unknown variant `flip`"),
        (
            "[augment]\ncutout = 1.5\n",
            "augment.cutout must be a fraction",
        ),
    ] {
        let text = augmented_config(augment);
        let error = match burngan_app::TrainConfig::from_toml(&text, "bad") {
            Ok(config) => config.validate().unwrap_err().to_string(),
            Err(error) => error.to_string(),
        };
        assert!(error.contains(expected), "{augment}: {error}");
    }
}
