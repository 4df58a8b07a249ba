//! A whole toy experiment: build the mixture and networks from a config, train, plot, and
//! evaluate mode coverage with the VEEGAN/PacGAN protocol.

use burn::tensor::Device;
use burngan_core::HostRng;
use burngan_metrics::{TOY_EVAL_SAMPLES, mode_coverage};
use burngan_models::{MlpDiscriminator, MlpGenerator};

use crate::config::LrDecay;
use crate::observer::{Observer, RunInfo, RunSummary};
use crate::{
    GanTrainer, LearningRateSchedule, StepMetrics, TrainConfig, TrainError, TrainerSettings,
};

/// The result of [`train_toy`]: the trained networks, the recorded metrics and the
/// evaluation.
pub struct ToyRun {
    /// The trained generator (on the autodiff device).
    pub generator: MlpGenerator,
    /// The trained discriminator (on the autodiff device).
    pub discriminator: MlpDiscriminator,
    /// Every recorded step, in order.
    pub metrics: Vec<StepMetrics>,
    /// Steps done and the mode-coverage evaluation.
    pub summary: RunSummary,
}

/// Trains the toy GAN described by `config` on `device` (autodiff is enabled here) and
/// reports to `observers`.
///
/// Draw order from the host RNG seeded with `config.run.seed`: generator weights,
/// discriminator weights, the fixed plotting noise, then per step the real batch and noise of
/// each discriminator update (then the penalty's random factors: one per sample for WGAN-GP,
/// one per element for DRAGAN) and the noise of the generator update (followed by a real batch
/// when the loss's generator term reads real logits: RSGAN, RaGAN, Softmax GAN); finally the
/// evaluation noise. A run is therefore a pure function of the config, on every backend.
pub fn train_toy(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
) -> Result<ToyRun, TrainError> {
    config.validate()?;
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let mut mixture = config
        .data
        .build()
        .map_err(|e| TrainError::config(e.to_string()))?;
    let dim = 2;
    let generator = config
        .generator
        .init(dim, &mut rng, &device)
        .map_err(|e| TrainError::config(e.to_string()))?;
    let discriminator = config
        .discriminator
        .init(dim, &mut rng, &device)
        .map_err(|e| TrainError::config(e.to_string()))?;
    let latent_dim = config.generator.latent_dim;
    let plot_noise = rng.normal_vec(config.run.plot_samples * latent_dim);
    let settings = TrainerSettings {
        batch_size: config.train.batch_size,
        critic_steps: config.train.critic_steps,
        generator_optimizer: config.optimizer.generator.clone(),
        discriminator_optimizer: config.optimizer.discriminator.clone(),
        schedule: match config.train.lr_decay {
            LrDecay::Constant => LearningRateSchedule::Constant,
            LrDecay::Linear => LearningRateSchedule::Linear {
                total_steps: config.run.steps,
            },
        },
    };
    let mut trainer = GanTrainer::new(
        generator,
        discriminator,
        config.loss.build(),
        &settings,
        &device,
    );
    if let Some(penalty) = config.penalty {
        trainer = trainer.with_penalty(penalty)?;
    }

    let info = RunInfo {
        total_steps: config.run.steps,
        centres: mixture.centres().to_vec(),
    };
    for observer in observers.iter_mut() {
        observer.on_start(&info)?;
    }
    let mut history = Vec::new();
    for step in 1..=config.run.steps {
        let last = step == config.run.steps;
        let record = last || step % config.run.log_every == 0;
        if let Some(metrics) = trainer.step(&mut mixture, &mut rng, record) {
            if let Some((quantity, value)) = metrics.first_non_finite() {
                return Err(TrainError::NonFinite {
                    step,
                    quantity,
                    value,
                });
            }
            for observer in observers.iter_mut() {
                observer.on_step(&metrics)?;
            }
            history.push(metrics);
        }
        if last || step % config.run.sample_every == 0 {
            let samples = trainer.generate_host(&plot_noise);
            for observer in observers.iter_mut() {
                observer.on_samples(step, &samples)?;
            }
        }
    }

    let eval_noise = rng.normal_vec(TOY_EVAL_SAMPLES * latent_dim);
    let samples = trainer.generate_host(&eval_noise);
    let evaluation = mode_coverage(&samples, mixture.centres(), mixture.std(), 3.0);
    let summary = RunSummary {
        steps: trainer.steps_done(),
        evaluation,
    };
    for observer in observers.iter_mut() {
        observer.on_end(&summary)?;
    }
    let (generator, discriminator) = trainer.into_parts();
    Ok(ToyRun {
        generator,
        discriminator,
        metrics: history,
        summary,
    })
}
