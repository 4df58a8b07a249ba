//! StackedMNIST end to end: a tiny stacked run through the real command — evaluated while
//! training, stopped, resumed bit for bit, and scored by `burngan eval`. (The metric of real
//! stacked digits against its finite-sample expectation is tested in `burngan-eval`.)

use std::path::{Path, PathBuf};

use burngan_data::SamplerState;
use burngan_train::{StepMetrics, files, find_checkpoint, read_checkpoint_state};

use burngan_app::{TrainConfig, load_image_generator};

use crate::support::{burngan, root, shipped_mnist, tensors};

/// The shipped feature network.
fn classifier() -> PathBuf {
    root().join(burngan_eval::MNIST_CLASSIFIER)
}

/// A tiny StackedMNIST DCGAN run (batch 8, 8 steps) scored every 4 steps on 300 images.
fn tiny_config() -> String {
    format!(
        r#"
[run]
seed = 7
steps = 8
log_every = 1
sample_every = 4
checkpoint_every = 4
[data]
kind = "stacked-mnist"
path = "{}"
[generator]
kind = "dcgan"
latent_dim = 8
hidden = 16
channels = [8, 4]
[discriminator]
kind = "dcgan"
channels = [4, 8]
hidden = 16
activation = {{ leaky_relu = 0.2 }}
[loss]
kind = "non-saturating"
[train]
batch_size = 8
[optimizer.generator]
kind = "adam"
lr = 2e-4
beta1 = 0.5
[optimizer.discriminator]
kind = "adam"
lr = 2e-4
beta1 = 0.5
[ema]
decay = 0.9
[eval]
every = 4
samples = 300
classifier = "{}"
"#,
        shipped_mnist().display(),
        classifier().display()
    )
}

fn train_ok(args: &[&str]) {
    let (code, message) = burngan(args);
    assert_eq!(code, 0, "{args:?}: {message}");
}

fn metrics(run: &Path) -> Vec<StepMetrics> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn a_stacked_run_is_scored_by_modes_and_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("stacked.toml");
    std::fs::write(&config, tiny_config()).unwrap();
    let config = config.to_str().unwrap();
    let (straight, resumed) = (dir.path().join("straight"), dir.path().join("resumed"));
    let (s, r) = (straight.to_str().unwrap(), resumed.to_str().unwrap());
    train_ok(&["train", "--config", config, "--out", s, "--backend", "flex"]);
    train_ok(&["train", "--config", config, "--out", r, "--stop-at", "4"]);
    let state = read_checkpoint_state(&find_checkpoint(&resumed).unwrap()).unwrap();
    assert_eq!(
        (state.step, state.sampler),
        (4, Some(SamplerState::default()))
    );
    train_ok(&["train", "--resume", r]);
    // Same losses, evaluations and weights: the stacked draws depend on the RNG alone.
    let text = |run: &Path| std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(text(&straight), text(&resumed));
    let generator = |run: &Path| {
        let checkpoint = find_checkpoint(run).unwrap();
        let config = TrainConfig::load(&checkpoint.join(files::CONFIG)).unwrap();
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        tensors(&load_image_generator(&config, &checkpoint, false, &device).unwrap())
    };
    let (g1, g2) = (generator(&straight), generator(&resumed));
    assert!(!g1.is_empty() && g1 == g2, "the generators differ");
    // The evaluations at steps 4 and 8 report the modes of 300 images.
    let evaluated: Vec<_> = metrics(&straight)
        .into_iter()
        .filter_map(|m| m.eval.map(|e| (m.step, e)))
        .collect();
    assert_eq!(evaluated.iter().map(|e| e.0).collect::<Vec<_>>(), [4, 8]);
    for (step, values) in &evaluated {
        let modes = values["stacked_modes"];
        let kl = values["stacked_reverse_kl"];
        assert!(
            (1.0..=300.0).contains(&modes) && modes.fract() == 0.0,
            "step {step}: {modes}"
        );
        // With m of 1,000 modes hit by 300 images, KL ≥ ln(1000/m) (uniform over the m).
        assert!(
            kl >= (1000.0 / modes).ln() - 1e-9 && kl <= 1000f64.ln(),
            "{kl}"
        );
        assert!(values["fd"] > 0.0);
    }
    // burngan eval: the rows carry the modes; the held-out real row stacks 26,000 held-out
    // digits and covers every mode.
    let out = dir.path().join("eval.json");
    let (code, message) = burngan(&[
        "eval",
        "--checkpoint",
        s,
        "--n",
        "300",
        "--classifier",
        classifier().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{message}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let real = &rows[0]["stacked"];
    assert_eq!(real["samples"], 26_000);
    assert_eq!(real["modes_covered"], 1000);
    assert!(real["reverse_kl"].as_f64().unwrap() < 0.1, "{real}");
    assert_eq!(rows[1]["stacked"]["samples"], 300);
    assert_eq!(
        rows[1]["samples"], 900,
        "the feature columns score 3 digits per image"
    );
    assert_eq!(json["warnings"].as_array().unwrap().len(), 0, "{json}");
    assert_eq!(json["stacked"]["samples"], 300);
}
