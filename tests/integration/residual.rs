//! The residual-network presets train end to end on flex: `mnist-resnet-sn` (SNGAN's ResNet
//! pair, hinge loss, spectral norm) and `mnist-r3` (R3GAN's pair with the relativistic loss and
//! R1 + R2), each with its own networks and recipe at a small batch for a few steps: every
//! logged value is finite, R3's two penalties are applied, and a run interrupted after its
//! first step resumes bit for bit (metrics, generator and critic).

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burngan_app::{AppError, RunControl, TrainConfig, train_images};
use burngan_backend::BackendKind;
use burngan_train::StepMetrics;

use crate::support::{root, tensors};

/// The preset `name` with its data path made absolute, `steps` steps of batch 8, no
/// evaluation and only a final checkpoint.
fn preset(name: &str, steps: usize) -> TrainConfig {
    let path = root().join(format!("assets/configs/{name}.toml"));
    let text = std::fs::read_to_string(&path).unwrap();
    let data = root().join("assets/data");
    let text = text.replace("\"assets/data", &format!("\"{}", data.display()));
    let mut config = TrainConfig::from_toml(&text, name).unwrap();
    config.run.steps = steps;
    config.run.log_every = 1;
    config.run.sample_every = steps;
    config.run.checkpoint_every = 0;
    config.train.batch_size = 8;
    config.eval = None;
    config
}

fn finite(metrics: &StepMetrics) -> bool {
    metrics.first_non_finite().is_none()
}

#[test]
fn residual_presets_train_on_flex_and_resume_exactly() {
    let device = burngan_backend::device(BackendKind::Flex).unwrap();
    for name in ["mnist-resnet-sn", "mnist-r3"] {
        let config = preset(name, 3);
        let dir = tempfile::tempdir().unwrap();
        let control = |run: &str, interrupt: bool, resume: bool| RunControl {
            dir: Some(dir.path().join(run)),
            resume,
            stop_at: None,
            interrupt: Some(Arc::new(AtomicBool::new(interrupt))),
            backend: "flex".into(),
            config_text: config.to_toml(),
        };
        let straight = train_images(&config, &device, &mut [], &control("a", false, false))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(straight.metrics.len(), 3, "{name}");
        assert!(straight.metrics.iter().all(finite), "{name}");
        if name == "mnist-r3" {
            let applied: Vec<&String> = straight.metrics[0].penalties.keys().collect();
            assert_eq!(applied, ["r1", "r2"], "{name}");
            assert!(straight.metrics[0].penalty > 0.0, "{name}");
        }
        let error = train_images(&config, &device, &mut [], &control("b", true, false))
            .err()
            .unwrap();
        assert!(
            matches!(error, AppError::Interrupted { step: 1, .. }),
            "{name}: {error}"
        );
        let resumed = train_images(&config, &device, &mut [], &control("b", false, true))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let tail: Vec<&StepMetrics> = straight.metrics.iter().skip(1).collect();
        let again: Vec<&StepMetrics> = resumed.metrics.iter().collect();
        assert_eq!(again, tail, "{name}: the resumed steps differ");
        assert!(
            tensors(&resumed.generator) == tensors(&straight.generator),
            "{name}"
        );
        assert!(
            tensors(&resumed.discriminator) == tensors(&straight.discriminator),
            "{name}"
        );
    }
}
