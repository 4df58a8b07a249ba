//! Timing one workload with burngan's trainer.
//!
//! Timing rules (WORKLOADS.md): 10 warm-up iterations, then iterations until both at least
//! [`BenchOptions::min_seconds`] and 10 iterations have passed (or exactly
//! [`BenchOptions::iterations`]); the last timed iteration reads its losses back to the host,
//! so all queued device work is counted. Real data is one fixed batch uniform in [−1, 1],
//! uploaded before timing. One difference from the definitions, by design: latent noise comes
//! from the seeded host RNG and is uploaded each step (as in every burngan run, for
//! cross-backend determinism) rather than drawn on the device; at these batch sizes that is
//! one copy of at most 64 × 100 floats per network update.

use std::time::Instant;

use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, SampleSource};
use burngan_losses::{LossConfig, PenaltyConfig};
use burngan_models::{
    DcganDiscriminatorConfig, DcganGeneratorConfig, ImageMlpDiscriminatorConfig,
    ImageMlpGeneratorConfig, MlpDiscriminatorConfig, MlpGeneratorConfig,
};
use burngan_train::{GanTrainer, OptimizerConfig, TrainError, TrainerSettings};

use crate::{BenchError, Workload, memory};

/// Warm-up iterations before the clock starts.
pub const WARM_UP: usize = 10;
/// The fewest timed iterations.
pub const MIN_ITERATIONS: usize = 10;

/// How long and at what size to run a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Time at least this many seconds (and at least 10 iterations) after warm-up.
    pub min_seconds: f64,
    /// Time exactly this many iterations instead (for memory-growth checks); ≥ 1.
    pub iterations: Option<usize>,
    /// Batch size of the image workloads (`None`: WORKLOADS.md's 64); `ring8-mlp` always
    /// uses 512.
    pub batch: Option<usize>,
    /// Seed of the host RNG that draws the weights, the fixed real batch and the noise.
    pub seed: u64,
    /// Wall-clock budget per workload in seconds: a workload whose second warm-up iteration
    /// (the first includes one-time setup such as shader compilation) shows that the 21
    /// iterations the rules require would take longer is not timed but reported as
    /// [`BenchError::TooSlow`] with that iteration's duration. `None`: no limit.
    pub budget: Option<f64>,
    /// Judge each update's real and generated batch in one critic forward
    /// ([`TrainerSettings::stack_batches`]; default false, as a `burngan train` run).
    pub stack_batches: bool,
}

impl Default for BenchOptions {
    /// WORKLOADS.md's rules: at least 10 s, default batch sizes, seed 0.
    fn default() -> Self {
        Self {
            min_seconds: 10.0,
            iterations: None,
            batch: None,
            seed: 0,
            budget: None,
            stack_batches: false,
        }
    }
}

impl BenchOptions {
    /// Checks the values; the error names the one that is wrong.
    pub fn validate(&self) -> Result<(), BenchError> {
        if !(self.min_seconds.is_finite() && self.min_seconds >= 0.0) {
            return Err(BenchError::Usage(format!(
                "--seconds must be a finite number ≥ 0, got {}",
                self.min_seconds
            )));
        }
        if let Some(budget) = self.budget
            && !(budget.is_finite() && budget > 0.0)
        {
            return Err(BenchError::Usage(format!(
                "--budget must be a number of seconds > 0, got {budget}"
            )));
        }
        if self.iterations == Some(0) {
            return Err(BenchError::Usage(
                "--iterations must be at least 1 (or leave it out to time by --seconds)".into(),
            ));
        }
        match self.batch {
            Some(0) => Err(BenchError::Usage("--batch must be at least 1".into())),
            Some(b) if b > 65_536 => Err(BenchError::Usage(format!(
                "--batch {b} is larger than 65536; use a smaller batch"
            ))),
            _ => Ok(()),
        }
    }

    /// The batch size `workload` runs at under these options.
    pub fn batch_for(&self, workload: Workload) -> usize {
        match self.batch {
            Some(b) if workload.is_image() => b,
            _ => workload.default_batch(),
        }
    }
}

/// One timed workload.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    /// The workload.
    pub workload: Workload,
    /// Its batch size.
    pub batch: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Wall-clock seconds of the timed iterations.
    pub seconds: f64,
    /// Resident bytes of the process when the clock started (after warm-up).
    pub rss_start_bytes: Option<u64>,
    /// Resident bytes when the clock stopped.
    pub rss_end_bytes: Option<u64>,
    /// Highest resident bytes from building the networks to the end of timing.
    pub peak_rss_bytes: Option<u64>,
}

impl BenchResult {
    /// Iterations per second.
    pub fn iterations_per_second(&self) -> f64 {
        self.iterations as f64 / self.seconds
    }

    /// Achieved model GFLOP/s ([`Workload::flops`] × iterations/s / 10⁹).
    pub fn gflops(&self) -> f64 {
        self.workload.flops(self.batch) * self.iterations_per_second() / 1e9
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
    OptimizerConfig::adam(lr, beta1, beta2)
}

fn settings(
    batch_size: usize,
    critic_steps: usize,
    optimizer: OptimizerConfig,
    stack_batches: bool,
) -> TrainerSettings {
    TrainerSettings {
        batch_size,
        critic_steps,
        generator_optimizer: optimizer.clone(),
        discriminator_optimizer: optimizer,
        stack_batches,
        ..TrainerSettings::default()
    }
}

/// Runs `workload` on `device` (autodiff is enabled here) as `options` say. Weights, data and
/// noise come from `HostRng::seed_from(options.seed)`, so every backend starts from the same
/// numbers.
pub fn run_workload(
    workload: Workload,
    device: &Device,
    options: &BenchOptions,
) -> Result<BenchResult, BenchError> {
    options.validate()?;
    memory::reset_peak();
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(options.seed);
    let batch = options.batch_for(workload);
    let build = |e: burngan_models::ModelError| TrainError::config(e.to_string());
    let image = [1, 28, 28];
    match workload {
        Workload::Ring8Mlp => {
            let generator = MlpGeneratorConfig::new(2, vec![256; 3])
                .init(2, &mut rng, &device)
                .map_err(build)?;
            let critic = MlpDiscriminatorConfig::new(vec![256; 3])
                .init(2, &mut rng, &device)
                .map_err(build)?;
            let real = rng.uniform_tensor([batch, 2], -1.0, 1.0, &device);
            let trainer = GanTrainer::new(
                generator,
                critic,
                LossConfig::NonSaturating.build(),
                &settings(batch, 1, adam(1e-4, 0.5, 0.999), options.stack_batches),
                &device,
            )?;
            time(workload, batch, trainer, FixedBatch(real), rng, options)
        }
        Workload::MnistMlp => {
            let generator = ImageMlpGeneratorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let critic = ImageMlpDiscriminatorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let real = rng.uniform_tensor([batch, 1, 28, 28], -1.0, 1.0, &device);
            let trainer = GanTrainer::new(
                generator,
                critic,
                LossConfig::NonSaturating.build(),
                &settings(batch, 1, adam(2e-4, 0.5, 0.999), options.stack_batches),
                &device,
            )?;
            time(workload, batch, trainer, FixedBatch(real), rng, options)
        }
        Workload::MnistDcgan | Workload::MnistDcganGp => {
            let generator = DcganGeneratorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let critic = DcganDiscriminatorConfig::default()
                .init(image, &mut rng, &device)
                .map_err(build)?;
            let real = rng.uniform_tensor([batch, 1, 28, 28], -1.0, 1.0, &device);
            let trainer = if workload == Workload::MnistDcgan {
                GanTrainer::new(
                    generator,
                    critic,
                    LossConfig::NonSaturating.build(),
                    &settings(batch, 1, adam(2e-4, 0.5, 0.999), options.stack_batches),
                    &device,
                )?
            } else {
                GanTrainer::new(
                    generator,
                    critic,
                    LossConfig::Wasserstein.build(),
                    &settings(batch, 5, adam(1e-4, 0.0, 0.9), options.stack_batches),
                    &device,
                )?
                .with_penalty(PenaltyConfig::WganGp {
                    weight: 10.0,
                    one_sided: false,
                })?
            };
            time(workload, batch, trainer, FixedBatch(real), rng, options)
        }
    }
}

fn time<G, C, const D: usize>(
    workload: Workload,
    batch: usize,
    mut trainer: GanTrainer<G, C, D>,
    mut source: FixedBatch<D>,
    mut rng: HostRng,
    options: &BenchOptions,
) -> Result<BenchResult, BenchError>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    // The first two warm-up iterations read their losses back, so the second one's wall time
    // is one whole iteration (the first also pays one-time setup).
    trainer.step_with(&mut source, &mut rng, true);
    let probe = Instant::now();
    trainer.step_with(&mut source, &mut rng, true);
    let seconds_per_iteration = probe.elapsed().as_secs_f64();
    if let Some(budget) = options.budget {
        let needed = options.iterations.unwrap_or(MIN_ITERATIONS) + WARM_UP - 1;
        if seconds_per_iteration * needed as f64 > budget {
            return Err(BenchError::TooSlow {
                workload: workload.name(),
                seconds_per_iteration,
                iterations: needed,
                budget,
            });
        }
    }
    for _ in 2..WARM_UP {
        trainer.step_with(&mut source, &mut rng, false);
    }
    // Drain the warm-up's queued work before the clock starts.
    trainer.step_with(&mut source, &mut rng, true);
    let rss_start_bytes = memory::resident_bytes();
    let start = Instant::now();
    let mut iterations = 0;
    loop {
        iterations += 1;
        let enough = match options.iterations {
            Some(n) => iterations >= n,
            None => {
                iterations >= MIN_ITERATIONS && start.elapsed().as_secs_f64() >= options.min_seconds
            }
        };
        // The last iteration reads its losses back, which waits for all queued work.
        if trainer.step_with(&mut source, &mut rng, enough).is_some() {
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(BenchResult {
        workload,
        batch,
        iterations,
        seconds,
        rss_start_bytes,
        rss_end_bytes: memory::resident_bytes(),
        peak_rss_bytes: memory::peak_resident_bytes(),
    })
}
