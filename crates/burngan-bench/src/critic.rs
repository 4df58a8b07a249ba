//! Critic updates of a run config timed alone: the cost per model FLOP of one architecture
//! against another (a residual critic against the DCGAN critic), with the networks, loss,
//! penalties and optimizer the config names.

use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use burngan_app::{DataConfig, ImageDiscriminator, ImageGenerator, TrainConfig};
use burngan_core::{HostRng, SampleSource};
use burngan_train::{GanTrainer, TrainError, TrainerSettings};
use serde::Serialize;

use crate::BenchError;

/// The timed critic updates of one config.
#[derive(Debug, Clone, Serialize)]
pub struct CriticTiming {
    /// The config's name (its file stem).
    pub name: String,
    /// The critic's `kind`.
    pub critic: String,
    /// Images per update.
    pub batch: usize,
    /// Multiply-adds of one generator forward per sample (the update draws its fakes).
    pub generator_multiply_adds: f64,
    /// Multiply-adds of one critic forward per sample.
    pub critic_multiply_adds: f64,
    /// Gradient penalties applied at every update (each costs 4 critic forwards: forward,
    /// input gradient, and differentiating it).
    pub penalties: usize,
    /// Timed updates.
    pub updates: usize,
    /// Their wall time, s.
    pub seconds: f64,
}

impl CriticTiming {
    /// Model FLOPs of one update: 2 · batch · (g + 6d + 4d per penalty) — the fakes' forward,
    /// the critic's forward on reals and fakes and their backward (twice the forward), and
    /// each penalty; only matrix products and convolutions count, as in
    /// [`Workload::flops`](crate::Workload::flops).
    pub fn flops_per_update(&self) -> f64 {
        let (g, d) = (self.generator_multiply_adds, self.critic_multiply_adds);
        2.0 * self.batch as f64 * (g + 6.0 * d + 4.0 * d * self.penalties as f64)
    }

    /// Achieved model GFLOP/s.
    pub fn gflops(&self) -> f64 {
        self.flops_per_update() * self.updates as f64 / self.seconds / 1e9
    }
}

/// Uniform noise images, the same batch every time (timing, not learning).
struct Fixed(Tensor<4>);

impl SampleSource<4> for Fixed {
    fn sample(&mut self, _batch: usize, _rng: &mut HostRng, _device: &Device) -> Tensor<4> {
        self.0.clone()
    }
}

/// Reads the first parameter back to the host, which waits for every queued update.
struct Sync(bool);

impl ModuleVisitor for Sync {
    fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
        if !self.0 {
            let _ = param.val().into_data();
            self.0 = true;
        }
    }
}

fn multiply_adds(
    generator: &ImageGenerator,
    critic: &ImageDiscriminator,
    image: [usize; 3],
) -> Option<(f64, f64)> {
    let g = match generator {
        ImageGenerator::Dcgan(g) => g.multiply_adds(),
        ImageGenerator::Blocks(g) => g.multiply_adds(),
        _ => return None,
    };
    let d = match critic {
        ImageDiscriminator::Dcgan(d) => d.multiply_adds(image),
        ImageDiscriminator::Blocks(d) => d.multiply_adds(),
        _ => return None,
    };
    Some((g, d))
}

/// Times the critic updates of `config` (an image run with a DCGAN, ResNet or R3GAN pair) on
/// `device` at `batch` images (the config's batch when `None`): two warm-up updates, then
/// updates until at least `min_seconds` and 3 updates have passed.
pub fn time_critic_updates(
    config: &TrainConfig,
    name: &str,
    device: &Device,
    batch: Option<usize>,
    min_seconds: f64,
) -> Result<CriticTiming, BenchError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(BenchError::Usage(format!(
            "{name}: critic timing needs an image run ([data] kind = \"images\")"
        )));
    };
    let image = images.shape();
    let batch = batch.unwrap_or(config.train.batch_size);
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let build = |e: burngan_models::ModelError| TrainError::config(e.to_string());
    let generator = config.generator.init_image(image, &mut rng, &device);
    let critic = config.discriminator.init_image(image, &mut rng, &device);
    let (Some(generator), Some(critic)) = (generator.map_err(build)?, critic.map_err(build)?)
    else {
        return Err(BenchError::Usage(format!(
            "{name}: not an image network pair"
        )));
    };
    let Some((g, d)) = multiply_adds(&generator, &critic, image) else {
        return Err(BenchError::Usage(format!(
            "{name}: critic timing counts the FLOPs of dcgan, resnet and r3gan networks, not \
             of generator.kind = {:?} / discriminator.kind = {:?}",
            config.generator.kind(),
            config.discriminator.kind()
        )));
    };
    let settings = TrainerSettings {
        batch_size: batch,
        critic_steps: 1,
        generator_optimizer: config.optimizer_for(&config.optimizer.generator),
        discriminator_optimizer: config.optimizer_for(&config.optimizer.discriminator),
        ..TrainerSettings::default()
    };
    let mut trainer = GanTrainer::new(generator, critic, config.loss.build(), &settings, &device)?;
    for term in &config.penalty {
        trainer = trainer.with_penalty(*term)?;
    }
    let [c, h, w] = image;
    let mut source = Fixed(rng.uniform_tensor([batch, c, h, w], -1.0, 1.0, &device));
    for _ in 0..2 {
        trainer.train_discriminator(&mut source, &mut rng)?;
    }
    trainer.discriminator().visit(&mut Sync(false));
    let start = Instant::now();
    let mut updates = 0;
    while updates < 3 || start.elapsed().as_secs_f64() < min_seconds {
        trainer.train_discriminator(&mut source, &mut rng)?;
        updates += 1;
    }
    trainer.discriminator().visit(&mut Sync(false));
    Ok(CriticTiming {
        name: name.to_string(),
        critic: config.discriminator.kind().to_string(),
        batch,
        generator_multiply_adds: g,
        critic_multiply_adds: d,
        penalties: config.penalty.iter().filter(|t| t.every == 1).count(),
        updates,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small DCGAN pair with R1: the counts are the layers' (generator z 8 → 16 → 8·7·7, then
    /// 8 → 4 → 1 channels by 4×4 transposed convolutions; critic 1 → 4 → 8 channels by 4×4
    /// stride-2 convolutions, then 392 → 16 → 1), and the FLOPs of an update follow
    /// 2 · batch · (g + 6d + 4d per penalty).
    #[test]
    fn a_configs_critic_updates_are_counted_from_its_layers() {
        let text = r#"
            [data]
            kind = "images"
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
            [optimizer.generator]
            kind = "adam"
            lr = 1e-3
            [optimizer.discriminator]
            kind = "adam"
            lr = 1e-3
        "#;
        let config = TrainConfig::from_toml(text, "tiny").unwrap();
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let timing = time_critic_updates(&config, "tiny", &device, Some(4), 0.0).unwrap();
        let g = 8 * 16 + 16 * 392 + 8 * 4 * 16 * 49 + 4 * 16 * 196;
        let d = 4 * 16 * 196 + 8 * 4 * 16 * 49 + 392 * 16 + 16;
        assert_eq!(timing.generator_multiply_adds, g as f64);
        assert_eq!(timing.critic_multiply_adds, d as f64);
        assert_eq!((timing.batch, timing.penalties, timing.updates), (4, 1, 3));
        let flops = 2.0 * 4.0 * (g as f64 + 10.0 * d as f64);
        assert_eq!(timing.flops_per_update(), flops);
        assert!(timing.seconds > 0.0);
    }
}
