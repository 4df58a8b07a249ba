//! Periodic evaluation during training (`[eval]`): it leaves training bit for bit unchanged,
//! logs the sampling generator's scores at the steps it names (the same scores `ImageEvaluator`
//! gives the checkpointed generator), plots them, survives a resume, agrees with a toy run's
//! end-of-run evaluation, and reports bad settings before any output.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burngan_app::{
    DataConfig, DiscriminatorConfig, GeneratorConfig, ImageEvaluator, TrainConfig,
    image_eval_values, load_image_generator, load_images, periodic_score_settings,
};
use burngan_backend::BackendKind;
use burngan_core::HostRng;
use burngan_train::{StepMetrics, files, find_checkpoint, load_module};

use crate::support::{TINY_CONDITIONAL_NETWORKS, burngan, root, shipped_mnist, train_in};

/// The shipped MNIST feature network, by absolute path.
fn classifier() -> PathBuf {
    root().join(burngan_eval::MNIST_CLASSIFIER)
}

/// A tiny class-conditional image run on the shipped digits without a moving average, so the
/// evaluated generator is the trained one itself, with BatchNorm statistics that training
/// updates; projection critic with spectral norm. `extra` is appended (e.g. an `[eval]`
/// section).
fn image_config(extra: &str) -> String {
    format!(
        r#"
[run]
seed = 4
steps = 4
log_every = 1
sample_every = 4
checkpoint_every = 0
[data]
kind = "images"
path = "{}"
{TINY_CONDITIONAL_NETWORKS}
[loss]
kind = "non-saturating"
[train]
batch_size = 8
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "adam"
lr = 1e-3
{extra}
"#,
        shipped_mnist().display()
    )
}

/// A tiny class-conditional image run with a moving average (the evaluated generator),
/// projection critic with spectral norm; evaluated at steps 2 and 4 and the last step 5, and
/// logged besides at step 3.
fn conditional_config() -> String {
    format!(
        r#"
[run]
seed = 3
steps = 5
log_every = 3
sample_every = 5
checkpoint_every = 0
[data]
kind = "images"
path = "{}"
{TINY_CONDITIONAL_NETWORKS}
[loss]
kind = "hinge"
[train]
batch_size = 8
[optimizer.generator]
kind = "adam"
lr = 1e-3
beta1 = 0.0
beta2 = 0.9
[optimizer.discriminator]
kind = "adam"
lr = 4e-3
beta1 = 0.0
beta2 = 0.9
[ema]
decay = 0.9
[eval]
every = 2
samples = 64
seed = 12
classifier = "{}"
"#,
        shipped_mnist().display(),
        classifier().display()
    )
}

/// A tiny toy run on a wide ring (σ = 0.4, so the untrained generator already has
/// high-quality samples), with BatchNorm in the generator.
fn toy_config(extra: &str) -> String {
    format!(
        r#"
[run]
seed = 6
steps = 6
log_every = 1
sample_every = 6
plot_samples = 50
checkpoint_every = 0
[data]
kind = "ring"
std = 0.4
[generator]
latent_dim = 2
hidden = [16, 16]
batch_norm = true
[discriminator]
hidden = [16]
[loss]
kind = "non-saturating"
[train]
batch_size = 32
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "adam"
lr = 1e-3
{extra}
"#
    )
}

fn metrics(run: &Path) -> Vec<StepMetrics> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn eval_json(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("eval.json")).unwrap()).unwrap()
}

/// The lines of `metrics.jsonl` without their `eval` objects.
fn training_lines(run: &Path) -> Vec<String> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.as_object_mut().unwrap().remove("eval");
            value.to_string()
        })
        .collect()
}

/// Every float tensor of a module (parameters and buffers: BatchNorm statistics, spectral-norm
/// vectors), as bits, in visiting order.
fn bits<M: Module>(module: &M) -> Vec<u32> {
    struct Collect(Vec<u32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values: Vec<f32> = param
                .val()
                .into_data()
                .convert::<f32>()
                .try_to_vec()
                .unwrap();
            self.0.extend(values.iter().map(|v| v.to_bits()));
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

/// The tensors and metadata of a safetensors file, by name.
fn safetensors(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let metadata = metadata.metadata().clone().unwrap_or_default();
    file.tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .chain(metadata.into_iter().map(|(k, v)| (k, v.into_bytes())))
        .collect()
}

/// Generator and discriminator tensors (as bits), optimizer states, `state.json`.
type TrainedState = (Vec<u32>, Vec<u32>, Vec<BTreeMap<String, Vec<u8>>>, String);

/// What the final checkpoint of a run holds: the generator's and the discriminator's tensors,
/// both optimizer states and `state.json` (step, RNG and sampler positions). Compared by
/// value: the files' headers list their entries in hash-map order.
fn trained_state(run: &Path) -> TrainedState {
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let checkpoint = find_checkpoint(run).unwrap();
    let config = TrainConfig::load(&checkpoint.join(files::CONFIG)).unwrap();
    let mut rng = HostRng::seed_from(0);
    let critic = checkpoint.join(files::DISCRIMINATOR);
    let (generator, discriminator) = match (&config.data, &config.generator, &config.discriminator)
    {
        (DataConfig::Images(images), _, d) => {
            let generator = load_image_generator(&config, &checkpoint, false, &device).unwrap();
            let d = d
                .init_image(images.shape(), &mut rng, &device)
                .unwrap()
                .unwrap();
            (bits(&generator), bits(&load_module(d, &critic).unwrap()))
        }
        (DataConfig::Toy(_), GeneratorConfig::Mlp(g), DiscriminatorConfig::Mlp(d)) => {
            let g = g.init(2, &mut rng, &device).unwrap();
            let d = d.init(2, &mut rng, &device).unwrap();
            let g = load_module(g, &checkpoint.join(files::GENERATOR)).unwrap();
            (bits(&g), bits(&load_module(d, &critic).unwrap()))
        }
        _ => panic!("unexpected networks"),
    };
    let optimizers = [files::OPTIMIZER_G, files::OPTIMIZER_D]
        .map(|f| safetensors(&checkpoint.join(f)))
        .to_vec();
    let state = std::fs::read_to_string(checkpoint.join(files::STATE)).unwrap();
    (generator, discriminator, optimizers, state)
}

/// Asserts that two runs trained identically: the same losses and measurements at every step
/// `evaluated` logged (`plain` logs every step), and bit-identical weights and buffers,
/// optimizer states, RNG and sampler positions at the end.
fn assert_same_training(plain: &Path, evaluated: &Path, steps: &[usize]) {
    let (a, b) = (training_lines(plain), training_lines(evaluated));
    let logged: Vec<usize> = metrics(evaluated).iter().map(|m| m.step).collect();
    assert_eq!(logged, steps);
    assert_eq!(a.len(), *steps.last().unwrap(), "plain logs every step");
    for (line, step) in b.iter().zip(steps) {
        assert_eq!(line, &a[step - 1], "the losses differ at step {step}");
    }
    let (g1, d1, o1, s1) = trained_state(plain);
    let (g2, d2, o2, s2) = trained_state(evaluated);
    assert!(!g1.is_empty() && !d1.is_empty() && !o1[0].is_empty());
    assert!(g1 == g2, "the generators differ");
    assert!(d1 == d2, "the discriminators differ");
    assert!(o1 == o2, "the optimizer states differ");
    assert_eq!(s1, s2, "the RNG or sampler positions differ");
}

#[test]
fn evaluation_leaves_an_image_run_bit_for_bit_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let plain = train_in(dir.path(), "plain", &image_config(""), &[]);
    let eval = format!(
        "[eval]\nevery = 1\nsamples = 32\nclassifier = \"{}\"\n",
        classifier().display()
    );
    let evaluated = train_in(dir.path(), "evaluated", &image_config(&eval), &[]);
    assert_same_training(&plain, &evaluated, &[1, 2, 3, 4]);
    // Every step was evaluated, with a generator whose BatchNorm statistics the training
    // steps keep updating.
    let logged = metrics(&evaluated);
    assert!(logged.iter().all(|m| m.eval.is_some()));
    let fd: Vec<f64> = logged
        .iter()
        .map(|m| m.eval.as_ref().unwrap()["fd"])
        .collect();
    assert!(
        fd.windows(2).all(|w| w[0] != w[1]),
        "fd follows the generator: {fd:?}"
    );
    assert!(metrics(&plain).iter().all(|m| m.eval.is_none()));
    assert!(eval_json(&plain).get("eval").is_none());
    assert!(!plain.join("plots/eval.png").exists());
}

#[test]
fn evaluation_leaves_a_toy_run_bit_for_bit_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let plain = train_in(dir.path(), "plain", &toy_config(""), &[]);
    // Logged at steps 5 and 6 (the last) only, but evaluated (and so logged) at 2 and 4 too.
    let evaluated = train_in(
        dir.path(),
        "evaluated",
        &toy_config("[eval]\nevery = 2\nsamples = 300\n").replace("log_every = 1", "log_every = 5"),
        &[],
    );
    assert_same_training(&plain, &evaluated, &[2, 4, 5, 6]);
    let steps: Vec<usize> = metrics(&evaluated)
        .iter()
        .filter(|m| m.eval.is_some())
        .map(|m| m.step)
        .collect();
    assert_eq!(steps, [2, 4, 6]);
}

/// Checks the ranges of one image evaluation.
fn assert_plausible_image_scores(values: &BTreeMap<String, f64>) {
    let keys: Vec<&str> = values.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "class_kl",
            "classes_covered",
            "classifier_score",
            "coverage",
            "density",
            "fd",
            "precision",
            "recall"
        ]
    );
    assert!(values.values().all(|v| v.is_finite()), "{values:?}");
    assert!(values["fd"] > 0.0, "{values:?}");
    for unit in ["precision", "recall", "coverage"] {
        assert!((0.0..=1.0).contains(&values[unit]), "{unit}: {values:?}");
    }
    assert!(values["density"] >= 0.0);
    assert!((1.0..=10.0 + 1e-9).contains(&values["classifier_score"]));
    assert!((0.0..=10f64.ln() + 1e-9).contains(&values["class_kl"]));
    let covered = values["classes_covered"];
    assert!(covered.fract() == 0.0 && (0.0..=10.0).contains(&covered));
}

#[test]
fn an_image_run_logs_its_evaluation_every_n_steps_and_plots_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_in(dir.path(), "run", &conditional_config(), &[]);
    let logged = metrics(&run);
    let steps: Vec<usize> = logged.iter().map(|m| m.step).collect();
    // Steps 2 and 4 are logged because they are evaluated; 3 by log_every; 5 is the last.
    assert_eq!(steps, [2, 3, 4, 5]);
    let evaluated: Vec<usize> = logged
        .iter()
        .filter(|m| m.eval.is_some())
        .map(|m| m.step)
        .collect();
    assert_eq!(evaluated, [2, 4, 5]);
    for m in logged.iter().filter(|m| m.eval.is_some()) {
        assert_plausible_image_scores(m.eval.as_ref().unwrap());
    }
    let last = logged.last().unwrap().eval.clone().unwrap();

    // The logged scores are those of the checkpointed moving average, scored afresh.
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    let checkpoint = find_checkpoint(&run).unwrap();
    let config = TrainConfig::load(&checkpoint.join("config.toml")).unwrap();
    let eval = config.eval.clone().unwrap();
    assert_eq!((eval.every, eval.samples, eval.seed), (2, Some(64), 12));
    let generator = load_image_generator(&config, &checkpoint, true, &device).unwrap();
    let evaluator =
        ImageEvaluator::new(&classifier(), &load_images(&config).unwrap(), &device).unwrap();
    let scores = evaluator
        .score_generator("ema", &generator, 64, 12, &periodic_score_settings())
        .unwrap();
    assert!(scores.kid.is_none(), "no KID in periodic evaluations");
    assert_eq!(image_eval_values(&scores), last);

    let report = eval_json(&run);
    assert_eq!(report["eval_step"], 5);
    let reported: BTreeMap<String, f64> = serde_json::from_value(report["eval"].clone()).unwrap();
    assert_eq!(reported, last);

    let plot = image::open(run.join("plots/eval.png")).unwrap();
    assert_eq!((plot.width(), plot.height()), (900, 4 * 260));
}

#[test]
fn an_evaluated_run_resumes_to_the_same_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let straight = train_in(dir.path(), "straight", &conditional_config(), &[]);
    let resumed = train_in(
        dir.path(),
        "resumed",
        &conditional_config(),
        &["--stop-at", "3"],
    );
    let steps: Vec<usize> = metrics(&resumed).iter().map(|m| m.step).collect();
    assert_eq!(steps, [2, 3]);
    let (code, message) = burngan(&["train", "--resume", resumed.to_str().unwrap()]);
    assert_eq!(code, 0, "{message}");
    let text = |run: &Path| std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(text(&resumed), text(&straight));
    assert!(resumed.join("plots/eval.png").is_file());
    assert_eq!(eval_json(&resumed)["eval"], eval_json(&straight)["eval"]);
}

#[test]
fn a_toy_runs_last_evaluation_is_its_end_of_run_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    // samples defaults to the protocol's 2,500 points.
    let run = train_in(
        dir.path(),
        "toy",
        &toy_config("[eval]\nevery = 4\nseed = 11\n"),
        &[],
    );
    let logged = metrics(&run);
    let evaluated: Vec<usize> = logged
        .iter()
        .filter(|m| m.eval.is_some())
        .map(|m| m.step)
        .collect();
    assert_eq!(evaluated, [4, 6]);
    let last = logged.last().unwrap().eval.clone().unwrap();
    let keys: Vec<&str> = last.keys().map(String::as_str).collect();
    assert_eq!(keys, ["high_quality_fraction", "mode_kl", "modes_covered"]);

    let report = eval_json(&run);
    assert_eq!(report["samples"], 2500);
    assert_eq!(
        report["modes_covered"].as_f64().unwrap(),
        last["modes_covered"]
    );
    assert_eq!(
        report["high_quality_fraction"].as_f64().unwrap(),
        last["high_quality_fraction"]
    );
    assert!(last["high_quality_fraction"] > 0.0);
    // mode_kl is KL(p ‖ uniform) = ln K − H(p) of the reported high-quality histogram.
    let counts: Vec<f64> = report["high_quality_per_mode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    assert_eq!(counts.len(), 8);
    let total: f64 = counts.iter().sum();
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0.0)
        .map(|&c| -(c / total) * (c / total).ln())
        .sum();
    assert!(
        (last["mode_kl"] - (8f64.ln() - entropy)).abs() < 1e-12,
        "{} vs {}",
        last["mode_kl"],
        8f64.ln() - entropy
    );
    let reported: BTreeMap<String, f64> = serde_json::from_value(report["eval"].clone()).unwrap();
    assert_eq!(reported, last);
}

#[test]
fn bad_eval_settings_and_feature_networks_are_usage_errors_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let fails = |name: &str, text: &str, expected: &str| {
        let config = dir.path().join(format!("{name}.toml"));
        std::fs::write(&config, text).unwrap();
        let out = dir.path().join(name);
        let (code, message) = burngan(&[
            "train",
            "--config",
            config.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(code, 2, "{name}: {message}");
        assert!(
            message.contains(expected),
            "{name}: {expected:?} not in {message}"
        );
        assert!(!out.exists(), "{name}: nothing is written");
    };
    fails(
        "every0",
        &image_config("[eval]\nevery = 0\n"),
        "eval.every must be a positive integer, got 0",
    );
    fails(
        "toy-classifier",
        &toy_config("[eval]\nevery = 2\nclassifier = \"net.bpk\"\n"),
        "eval.classifier = \"net.bpk\" applies to image runs",
    );
    let missing = dir.path().join("nowhere/net.bpk");
    fails(
        "missing",
        &image_config(&format!(
            "[eval]\nevery = 2\nclassifier = \"{}\"\n",
            missing.display()
        )),
        "nowhere/net",
    );
    // A copy of the shipped network with one byte changed fails its card's SHA-256.
    let corrupt = dir.path().join("net.bpk");
    let mut bytes = std::fs::read(classifier()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&corrupt, bytes).unwrap();
    std::fs::copy(
        classifier().with_extension("json"),
        corrupt.with_extension("json"),
    )
    .unwrap();
    fails(
        "corrupt",
        &image_config(&format!(
            "[eval]\nevery = 2\nclassifier = \"{}\"\n",
            corrupt.display()
        )),
        "SHA-256",
    );
}

/// The toy protocol's ceiling: a sample of the real mixture is of high quality when it lies
/// within 3σ (Euclidean) of its mode, which for an isotropic 2-D Gaussian happens with
/// probability P(χ²₂ ≤ 9) = 1 − e^(−4.5) = 0.988891. 100,000 real points of the ring and of the
/// grid score that within 4 binomial standard deviations (√(p(1 − p)/n) = 3.3e-4), cover every
/// mode, and have a reverse KL near (k − 1)/(2n), the expected KL of a multinomial histogram
/// from uniform (×5 allowed): a generator scores above 98.9 % only by being sharper than the
/// data.
#[test]
fn real_toy_samples_score_one_minus_e_to_the_minus_4_5() {
    let ceiling = 1.0 - (-4.5f64).exp();
    let n = 100_000;
    let tolerance = 4.0 * (ceiling * (1.0 - ceiling) / n as f64).sqrt();
    for (mixture, seed) in [
        (burngan_data::ToyConfig::default_ring(), 1),
        (burngan_data::ToyConfig::default_grid(), 2),
    ] {
        let mixture = mixture.build().unwrap();
        let points = mixture.sample_host(n, &mut HostRng::seed_from(seed));
        let report = burngan_app::toy_eval_values(&points, mixture.centres(), mixture.std());
        let k = mixture.centres().len();
        assert_eq!(report["modes_covered"], k as f64);
        let quality = report["high_quality_fraction"];
        assert!(
            (quality - ceiling).abs() < tolerance,
            "{k} modes: {quality} against {ceiling}"
        );
        // 2n·KL is about χ²(k − 1): 5× its mean is beyond the 1e-5 tail for k = 8.
        let expected = (k - 1) as f64 / (2.0 * n as f64);
        let kl = report["mode_kl"];
        eprintln!("{k} modes: high quality {quality:.5}, reverse KL {kl:.2e} ({expected:.2e})");
        assert!(
            kl < 5.0 * expected,
            "{k} modes: reverse KL {kl} against {expected}"
        );
    }
}
