//! The benchmark workloads of `shared/bench/WORKLOADS.md`, timed with burngan's own trainer:
//! one iteration is `critic_steps` discriminator updates then one generator update, exactly
//! the [`GanTrainer::step`] a training run performs.
//!
//! Timing rules (from the workload definitions): 10 warm-up iterations, then iterations until
//! both at least `min_seconds` and 10 iterations have passed; the last timed iteration reads
//! its losses back to the host, so all queued device work is counted. Real data is one fixed
//! batch uniform in [−1, 1], uploaded before timing. One difference from the definitions, by
//! design: latent noise comes from the seeded host RNG and is uploaded each step (as in every
//! burngan run, for cross-backend determinism) rather than drawn on the device.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, SampleSource};
use burngan_losses::{LossConfig, PenaltyConfig};
use burngan_models::{
    DcganDiscriminatorConfig, DcganGeneratorConfig, MlpDiscriminatorConfig, MlpGeneratorConfig,
};

use crate::{GanTrainer, LearningRateSchedule, OptimizerConfig, TrainError, TrainerSettings};

/// A benchmark workload of WORKLOADS.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// 2 → 256³ → 2 MLP pair on 2-D points, batch 512, non-saturating, Adam 1e-4 (0.5, 0.999).
    Ring8Mlp,
    /// DCGAN pair on 1×28×28, batch 64, non-saturating, Adam 2e-4 (0.5, 0.999).
    MnistDcgan,
    /// DCGAN pair on 1×28×28, batch 64, WGAN-GP (λ = 10), 5 critic steps, Adam 1e-4 (0, 0.9).
    MnistDcganGp,
}

impl Workload {
    /// Every workload implemented here, in WORKLOADS.md order.
    pub const ALL: [Workload; 3] = [
        Workload::Ring8Mlp,
        Workload::MnistDcgan,
        Workload::MnistDcganGp,
    ];

    /// The name used in WORKLOADS.md and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Workload::Ring8Mlp => "ring8-mlp",
            Workload::MnistDcgan => "mnist-dcgan",
            Workload::MnistDcganGp => "mnist-dcgan-gp",
        }
    }

    /// The workload called `name`; the error lists the known names.
    pub fn from_name(name: &str) -> Result<Self, TrainError> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == name)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(Workload::name).collect();
                TrainError::config(format!(
                    "unknown workload {name:?}; choose one of: {}",
                    known.join(", ")
                ))
            })
    }
}

/// One timed workload.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// The workload.
    pub workload: Workload,
    /// Timed iterations.
    pub iterations: usize,
    /// Wall-clock seconds of the timed iterations.
    pub seconds: f64,
}

impl BenchResult {
    /// Iterations per second.
    pub fn iterations_per_second(&self) -> f64 {
        self.iterations as f64 / self.seconds
    }
}

/// The same real batch every time.
struct FixedBatch<const D: usize>(Tensor<D>);

impl<const D: usize> SampleSource<D> for FixedBatch<D> {
    fn sample(&mut self, _batch: usize, _rng: &mut HostRng, _device: &Device) -> Tensor<D> {
        self.0.clone()
    }
}

fn adam(lr: f64, beta1: f64, beta2: f64) -> OptimizerConfig {
    OptimizerConfig::Adam {
        lr,
        beta1,
        beta2,
        epsilon: 1e-8,
    }
}

fn settings(batch_size: usize, critic_steps: usize, optimizer: OptimizerConfig) -> TrainerSettings {
    TrainerSettings {
        batch_size,
        critic_steps,
        generator_optimizer: optimizer.clone(),
        discriminator_optimizer: optimizer,
        schedule: LearningRateSchedule::Constant,
    }
}

/// Runs `workload` on `device` (autodiff is enabled here) for at least `min_seconds` after
/// warm-up. Weights, data and noise come from `HostRng::seed_from(seed)`.
pub fn run_workload(
    workload: Workload,
    device: &Device,
    min_seconds: f64,
    seed: u64,
) -> Result<BenchResult, TrainError> {
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(seed);
    let build = |e: burngan_models::ModelError| TrainError::config(e.to_string());
    match workload {
        Workload::Ring8Mlp => {
            let generator = MlpGeneratorConfig::new(2, vec![256; 3])
                .init(2, &mut rng, &device)
                .map_err(build)?;
            let critic = MlpDiscriminatorConfig::new(vec![256; 3])
                .init(2, &mut rng, &device)
                .map_err(build)?;
            let real = rng.uniform_tensor([512, 2], -1.0, 1.0, &device);
            let trainer = GanTrainer::new(
                generator,
                critic,
                LossConfig::NonSaturating.build(),
                &settings(512, 1, adam(1e-4, 0.5, 0.999)),
                &device,
            );
            Ok(time(workload, trainer, FixedBatch(real), rng, min_seconds))
        }
        Workload::MnistDcgan | Workload::MnistDcganGp => {
            let image = [1, 28, 28];
            let generator = DcganGeneratorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let critic = DcganDiscriminatorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let real = rng.uniform_tensor([64, 1, 28, 28], -1.0, 1.0, &device);
            let trainer = if workload == Workload::MnistDcgan {
                GanTrainer::new(
                    generator,
                    critic,
                    LossConfig::NonSaturating.build(),
                    &settings(64, 1, adam(2e-4, 0.5, 0.999)),
                    &device,
                )
            } else {
                GanTrainer::new(
                    generator,
                    critic,
                    LossConfig::Wasserstein.build(),
                    &settings(64, 5, adam(1e-4, 0.0, 0.9)),
                    &device,
                )
                .with_penalty(PenaltyConfig::WganGp {
                    weight: 10.0,
                    one_sided: false,
                })?
            };
            Ok(time(workload, trainer, FixedBatch(real), rng, min_seconds))
        }
    }
}

fn time<G, C, const D: usize>(
    workload: Workload,
    mut trainer: GanTrainer<G, C, D>,
    mut source: FixedBatch<D>,
    mut rng: HostRng,
    min_seconds: f64,
) -> BenchResult
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    const WARM_UP: usize = 10;
    const MIN_ITERATIONS: usize = 10;
    for _ in 0..WARM_UP {
        trainer.step(&mut source, &mut rng, false);
    }
    // Drain the warm-up's queued work before the clock starts.
    trainer.step(&mut source, &mut rng, true);
    let start = Instant::now();
    let mut iterations = 0;
    loop {
        iterations += 1;
        let enough = iterations >= MIN_ITERATIONS && start.elapsed().as_secs_f64() >= min_seconds;
        // The last iteration reads its losses back, which waits for all queued work.
        if trainer.step(&mut source, &mut rng, enough).is_some() {
            break;
        }
    }
    BenchResult {
        workload,
        iterations,
        seconds: start.elapsed().as_secs_f64(),
    }
}
