//! Today's recipes through the whole stack: R1 with a lazy R2, a cosine learning rate with
//! warm-up and a ramped β₂ train the same on every backend; a run stopped inside the warm-up
//! and resumed past it equals an uninterrupted one bit for bit; an optimizer written by an
//! application plugs in through the facade.

use std::path::Path;

use burngan::{
    GanTrainer, HostRng, Optimizer, OptimizerConfig, OptimizerRule, ParamState, TrainerSettings,
    TrainingTime,
};
use burngan_app::{DiscriminatorConfig, GeneratorConfig, TrainConfig, train_toy};
use burngan_backend::{BackendKind, device};
use burngan_data::ToyConfig;
use burngan_models::{MlpDiscriminatorConfig, MlpGeneratorConfig};
use burngan_train::{StepMetrics, load_module};

use crate::support::{burngan, regression_backends, tensors};

/// The document's recipe of `docs/config.md`, shortened: 20 steps of batch 64, K = 2,
/// every step logged; warm-up 6 steps.
const RECIPE: &str = r#"
[run]
steps = 20
log_every = 1
seed = 5
checkpoint_every = 0

[data]
kind = "ring"

[generator]
latent_dim = 2
hidden = [32, 32]

[discriminator]
hidden = [32, 32]

[loss]
kind = "rsgan"

[train]
batch_size = 64
critic_steps = 2

[[penalty]]
kind = "r1"
gamma = 1.0

[[penalty]]
kind = "r2"
gamma = 1.0
every = 4

[optimizer.generator]
kind = "adam"
lr = { from = 2e-3, to = 2e-4, shape = "cosine", warmup = 6 }
beta1 = 0.0
beta2 = { from = 0.9, to = 0.99, shape = "linear" }

[optimizer.discriminator]
kind = "adam"
lr = { from = 2e-3, to = 2e-4, shape = "cosine", warmup = 6 }
beta1 = 0.0
beta2 = { from = 0.9, to = 0.99, shape = "linear" }
"#;

fn recipe() -> TrainConfig {
    let config = TrainConfig::from_toml(RECIPE, "recipe").unwrap();
    config.validate().unwrap();
    config
}

fn relative(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / b.abs().max(1e-12)
    }
}

/// R1 with a lazy R2 (every 4 critic updates), a cosine learning rate with warm-up and a
/// ramped β₂: 20 steps give the same losses and per-penalty values to 1e-4 on flex, ndarray
/// and wgpu, and R2 appears exactly on the steps whose last critic update it runs on.
/// Measured over seeds 1–6: largest gap from flex 5.6e-7 (2026-12-06).
#[test]
fn r1_with_a_lazy_r2_and_schedules_agree_on_every_backend() {
    assert_backends_agree(&recipe());
}

/// The same with the real and generated batches judged in one stacked critic forward: the
/// same agreement (measured over seeds 1–6: largest gap 5.3e-7; with the batches concatenated
/// instead of interleaved it was 1.3e-4 to 3.9e-2, the relativistic loss's zero bias gradient
/// turned into rounding noise that Adam amplified).
#[test]
fn stacked_batches_agree_on_every_backend_too() {
    let mut config = recipe();
    config.train.stack_batches = true;
    assert_backends_agree(&config);
}

fn assert_backends_agree(config: &TrainConfig) {
    let mut runs: Vec<(BackendKind, Vec<StepMetrics>)> = Vec::new();
    for (kind, device) in regression_backends() {
        let run = train_toy(config, &device, &mut []).unwrap();
        assert_eq!(run.metrics.len(), 20, "{kind}");
        runs.push((kind, run.metrics));
    }
    let (_, reference) = &runs[0];
    for m in reference {
        // K = 2: step s has critic updates u = 2s − 2 and 2s − 1; R2 (every 4) runs on
        // u ≡ 0 (mod 4), the first update of every other step, so it shapes the weights but
        // the logged (last, odd) update never has it.
        assert!(m.penalties.contains_key("r1"), "step {}: {m:?}", m.step);
        assert!(!m.penalties.contains_key("r2"), "step {}: {m:?}", m.step);
        let sum: f64 = m.penalties.values().sum();
        assert!(relative(sum, m.penalty) < 1e-6, "step {}", m.step);
    }
    let moved = (reference[19].loss_d - reference[0].loss_d).abs();
    assert!(moved > 1e-2, "loss_d moved only {moved}");
    for (kind, metrics) in &runs[1..] {
        for (ours, theirs) in metrics.iter().zip(reference) {
            for (name, a, b) in [
                ("loss_d", ours.loss_d, theirs.loss_d),
                ("loss_g", ours.loss_g, theirs.loss_g),
                ("r1", ours.penalties["r1"], theirs.penalties["r1"]),
            ] {
                let r = relative(a, b);
                assert!(
                    r <= 1e-4,
                    "{kind} step {}: {name} {a} vs {b} ({r:.2e})",
                    ours.step
                );
            }
        }
    }
}

/// With K = 1 the lazy R2 runs on the last critic update of steps 1, 5, 9, …: it is logged
/// there with 4 × γ, and absent elsewhere.
#[test]
fn a_lazy_penalty_is_logged_on_the_steps_it_runs() {
    let mut config = recipe();
    config.train.critic_steps = 1;
    config.run.steps = 9;
    let device = device(BackendKind::Flex).unwrap();
    let run = train_toy(&config, &device, &mut []).unwrap();
    let with_r2: Vec<usize> = run
        .metrics
        .iter()
        .filter(|m| m.penalties.contains_key("r2"))
        .map(|m| m.step)
        .collect();
    assert_eq!(with_r2, [1, 5, 9]);
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("recipe.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn train_ok(args: &[&str]) {
    let (code, message) = burngan(args);
    assert_eq!(code, 0, "{args:?}: {message}");
}

/// Stopped at step 4, inside the 6-step warm-up, and resumed to step 20: the metrics and the
/// final checkpoint's weights equal an uninterrupted run's bit for bit.
#[test]
fn a_resume_across_the_warm_up_boundary_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), RECIPE);
    let straight = dir.path().join("straight");
    let split = dir.path().join("split");
    let (s, p) = (straight.to_str().unwrap(), split.to_str().unwrap());
    train_ok(&[
        "train",
        "--config",
        &config,
        "--out",
        s,
        "--backend",
        "flex",
    ]);
    train_ok(&[
        "train",
        "--config",
        &config,
        "--out",
        p,
        "--backend",
        "flex",
        "--stop-at",
        "4",
    ]);
    train_ok(&["train", "--resume", p, "--backend", "flex"]);
    let read = |run: &Path| std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let (a, b) = (read(&straight), read(&split));
    assert_eq!(a.lines().count(), 20);
    assert_eq!(a, b, "metrics.jsonl differs");
    // The weights themselves (a burnpack file also holds per-process parameter ids).
    let weights = |run: &Path| {
        let config = recipe();
        let (GeneratorConfig::Mlp(g), DiscriminatorConfig::Mlp(d)) =
            (&config.generator, &config.discriminator)
        else {
            panic!("the recipe uses MLPs")
        };
        let device = device(BackendKind::Flex).unwrap();
        let mut rng = HostRng::seed_from(0);
        let dir = run.join("checkpoints/step-00000020");
        let generator = g.init(2, &mut rng, &device).unwrap();
        let generator = load_module(generator, &dir.join("generator.bpk")).unwrap();
        let critic = d.init(2, &mut rng, &device).unwrap();
        let critic = load_module(critic, &dir.join("discriminator.bpk")).unwrap();
        (tensors(&generator), tensors(&critic))
    };
    let (a, b) = (weights(&straight), weights(&split));
    assert!(a.0 == b.0, "the generators differ");
    assert!(a.1 == b.1, "the discriminators differ");
}

/// Plain SGD written by an application: θ ← θ − lr·g, no state.
struct PlainSgd(f64);

impl OptimizerRule for PlainSgd {
    fn kind(&self) -> &str {
        "plain-sgd"
    }

    fn state_names(&self) -> Vec<&'static str> {
        Vec::new()
    }

    fn learning_rate(&self, _: TrainingTime) -> f64 {
        self.0
    }

    fn update(
        &self,
        at: TrainingTime,
        value: burn::tensor::Tensor<1>,
        grad: burn::tensor::Tensor<1>,
        _: &mut ParamState,
    ) -> burn::tensor::Tensor<1> {
        value.sub(grad.mul_scalar(self.learning_rate(at)))
    }
}

/// An optimizer defined here plugs in through the facade (`GanTrainer::with_optimizers`) and
/// trains exactly as the built-in SGD with the same rate: the same weights, bit for bit, after
/// 5 steps; its checkpoint names its kind, and resuming under another optimizer is refused.
#[test]
fn an_optimizer_defined_here_plugs_in_through_the_facade() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let trainer = |sgd: bool| {
        let mut rng = HostRng::seed_from(21);
        let generator = MlpGeneratorConfig::new(2, vec![16])
            .init(2, &mut rng, &device)
            .unwrap();
        let critic = MlpDiscriminatorConfig::new(vec![16])
            .init(2, &mut rng, &device)
            .unwrap();
        let settings = TrainerSettings {
            batch_size: 32,
            steps: 5,
            generator_optimizer: OptimizerConfig::sgd(0.05),
            discriminator_optimizer: OptimizerConfig::sgd(0.05),
            ..TrainerSettings::default()
        };
        let loss = burngan::LossConfig::NonSaturating.build();
        let trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
        if sgd {
            trainer
        } else {
            trainer.with_optimizers(
                Optimizer::new(PlainSgd(0.05)),
                Optimizer::new(PlainSgd(0.05)),
            )
        }
    };
    let mut ring = ToyConfig::default_ring().build().unwrap();
    let mut ours = trainer(false);
    ours.fit(&mut ring, &mut []).unwrap();
    let mut ring = ToyConfig::default_ring().build().unwrap();
    let mut builtin = trainer(true);
    builtin.fit(&mut ring, &mut []).unwrap();
    assert_eq!(tensors(ours.generator()), tensors(builtin.generator()));
    assert_eq!(
        tensors(ours.discriminator()),
        tensors(builtin.discriminator())
    );
    assert_ne!(
        tensors(ours.generator()),
        tensors(trainer(true).generator())
    );
    let dir = tempfile::tempdir().unwrap();
    ours.save_checkpoint(dir.path()).unwrap();
    let error = trainer(true)
        .load_checkpoint(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("generator optimizer plain-sgd there, sgd here"),
        "{error}"
    );
}
