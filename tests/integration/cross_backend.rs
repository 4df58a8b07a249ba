//! The same seed gives the same weights and inputs on every backend, and 20 training steps give
//! the same losses to 1e-4 relative (only floating-point reduction order differs).

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burngan_app::{DiscriminatorConfig, GeneratorConfig, LrDecay, TrainConfig, train_toy};
use burngan_core::{HostRng, SampleSource};
use burngan_data::ToyConfig;
use burngan_models::{MlpDiscriminatorConfig, MlpGeneratorConfig};
use burngan_train::OptimizerConfig;

use crate::support::{preset, regression_backends};

/// A small version of the ring8-ns preset: 20 steps, every one logged.
fn small_config() -> TrainConfig {
    let text = std::fs::read_to_string(preset("ring8-ns")).unwrap();
    let mut config = TrainConfig::from_toml(&text, "ring8-ns").unwrap();
    config.run.steps = 20;
    config.run.log_every = 1;
    config.run.seed = 11;
    generator(&mut config).hidden = vec![32, 32];
    discriminator(&mut config).hidden = vec![32, 32];
    config.train.batch_size = 64;
    // A constant, fairly large rate so 20 steps move the losses far beyond the tolerance.
    config.train.lr_decay = LrDecay::Constant;
    let adam = OptimizerConfig::adam(1e-3, 0.5, 0.999);
    config.optimizer.generator = adam.clone();
    config.optimizer.discriminator = adam;
    config
}

fn generator(config: &mut TrainConfig) -> &mut MlpGeneratorConfig {
    match &mut config.generator {
        GeneratorConfig::Mlp(generator) => generator,
        other => panic!(
            "the ring8 presets use an MLP generator, got {}",
            other.kind()
        ),
    }
}

fn discriminator(config: &mut TrainConfig) -> &mut MlpDiscriminatorConfig {
    match &mut config.discriminator {
        DiscriminatorConfig::Mlp(discriminator) => discriminator,
        other => panic!("the ring8 presets use an MLP critic, got {}", other.kind()),
    }
}

/// Every float parameter of a module, flattened in visiting order.
fn parameters<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let values: Vec<f32> = param.val().into_data().try_to_vec().unwrap();
            self.0.extend(values);
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

#[test]
fn one_seed_gives_identical_weights_and_inputs_on_every_backend() {
    let mut config = small_config();
    let mut reference: Option<[Vec<f32>; 4]> = None;
    for (kind, device) in regression_backends() {
        let mut rng = HostRng::seed_from(config.run.seed);
        let generator = generator(&mut config).init(2, &mut rng, &device).unwrap();
        let discriminator = discriminator(&mut config)
            .init(2, &mut rng, &device)
            .unwrap();
        let mut ring = ToyConfig::default_ring().build().unwrap();
        let real: Vec<f32> = ring
            .sample(64, &mut rng, &device)
            .into_data()
            .try_to_vec()
            .unwrap();
        let noise: Vec<f32> = rng
            .normal([64, 2], &device)
            .into_data()
            .try_to_vec()
            .unwrap();
        let observed = [
            parameters(&generator),
            parameters(&discriminator),
            real,
            noise,
        ];
        assert!(observed[0].len() > 1000 && observed[1].len() > 1000);
        match &reference {
            None => reference = Some(observed),
            Some(expected) => assert!(observed == *expected, "{kind} differs from flex"),
        }
    }
}

#[test]
fn twenty_steps_give_the_same_losses_on_every_backend() {
    compare_backends(&small_config());
}

/// The same with a WGAN-GP penalty, two critic updates per step and a spectrally normalised
/// critic: the penalty's interpolation factors and the power-iteration vectors come from the
/// host RNG too, so the runs agree as closely.
#[test]
fn twenty_penalised_spectral_norm_steps_agree_on_every_backend() {
    let mut config = small_config();
    config.loss = burngan_losses::LossConfig::Wasserstein;
    config.penalty = vec![
        burngan_losses::PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        }
        .into(),
    ];
    discriminator(&mut config).normalization = burngan_models::Normalization::Spectral;
    config.train.critic_steps = 2;
    compare_backends(&config);
}

fn compare_backends(config: &TrainConfig) {
    let mut runs = Vec::new();
    for (kind, device) in regression_backends() {
        let run = train_toy(config, &device, &mut []).unwrap();
        assert_eq!(run.metrics.len(), 20, "{kind}");
        runs.push((kind, run.metrics));
    }
    let (_, reference) = &runs[0];
    // The run must actually train: the losses move by far more than the tolerance.
    let moved = (reference[19].loss_d - reference[0].loss_d).abs();
    assert!(moved > 1e-2, "loss_d moved only {moved}");
    for (kind, metrics) in &runs[1..] {
        for (ours, theirs) in metrics.iter().zip(reference) {
            let sigmas = ours
                .diagnostics
                .iter()
                .map(|(name, value)| (name.as_str(), *value, theirs.diagnostics[name]));
            for (name, a, b) in [
                ("loss_d", ours.loss_d, theirs.loss_d),
                ("loss_g", ours.loss_g, theirs.loss_g),
                ("penalty", ours.penalty, theirs.penalty),
            ]
            .into_iter()
            .chain(sigmas)
            {
                let relative = if a == b {
                    0.0
                } else {
                    (a - b).abs() / b.abs().max(1e-12)
                };
                assert!(
                    relative <= 1e-4,
                    "{kind} step {}: {name} {a} vs flex {b} (relative {relative:.2e})",
                    ours.step
                );
            }
        }
    }
}
