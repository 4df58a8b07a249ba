//! Whole runs from a [`TrainConfig`]: building the data, networks and trainer in a fixed order
//! of host-RNG draws, the step loop with its metrics, sample grids and checkpoints, stopping
//! (`--stop-at`, Ctrl-C) and resuming from a checkpoint bit for bit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use burn::module::Module;
use burn::tensor::Device;
use burngan_core::{Discriminator, Generator, HostRng, InputGradient, SampleSource};
use burngan_data::{EpochSampler, GaussianMixture, ImageDataset, SamplerState};
use burngan_eval::{EvalError, MNIST_CLASSIFIER, RowScores, ScoreSettings};
use burngan_metrics::{TOY_EVAL_SAMPLES, mode_coverage};

use crate::checkpoint::{files, find_checkpoint, load_module, read_checkpoint_state};
use crate::config::LrDecay;
use crate::observer::{Observer, RunInfo, RunSummary};
use crate::{
    CHECKPOINT_FORMAT, CheckpointState, DataConfig, GanTrainer, ImageDiscriminator, ImageEvaluator,
    ImageGenerator, LearningRateSchedule, StepMetrics, TrainConfig, TrainError, TrainerSettings,
    write_checkpoint,
};

/// Columns of every sample grid; an unconditional grid is 8×8.
pub const GRID_COLUMNS: usize = 8;

/// How a run is driven besides its config: where checkpoints go, whether it continues an
/// earlier run, and when it stops early. The default writes no checkpoints.
#[derive(Debug, Clone, Default)]
pub struct RunControl {
    /// The run directory; checkpoints go to `DIR/checkpoints/`. `None`: no checkpoints.
    pub dir: Option<PathBuf>,
    /// Continue from the newest checkpoint in `dir` (its weights, optimizer states, RNG and
    /// sampler positions and step) instead of starting afresh.
    pub resume: bool,
    /// Stop after this step with a checkpoint, although the run (and its learning-rate
    /// schedule) is `run.steps` long.
    pub stop_at: Option<usize>,
    /// Set (e.g. by a Ctrl-C handler) to stop after the current step with a checkpoint; the
    /// run then fails with [`TrainError::Interrupted`].
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The backend's name, recorded in checkpoints.
    pub backend: String,
    /// The resolved config as written to `config.toml`, stored in each checkpoint.
    pub config_text: String,
}

/// A finished (or stopped) run: the networks, what was recorded and the summary.
pub struct Run<G, C> {
    /// The generator (on the autodiff device).
    pub generator: G,
    /// The discriminator (on the autodiff device).
    pub discriminator: C,
    /// The generator's moving average, when the config asks for one.
    pub ema: Option<G>,
    /// Every step recorded by this invocation, in order.
    pub metrics: Vec<StepMetrics>,
    /// Steps done and, for toy runs, the evaluation (`None` when stopped early).
    pub summary: RunSummary,
    /// The last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
    /// True when the run ended at `stop_at` before `run.steps`.
    pub stopped_early: bool,
}

/// A toy run's networks.
pub type ToyRun = Run<burngan_models::MlpGenerator, burngan_models::MlpDiscriminator>;
/// An image run's networks.
pub type ImageRun = Run<ImageGenerator, ImageDiscriminator>;

/// A sample source whose position a checkpoint stores.
trait Positioned {
    fn position(&self) -> Option<SamplerState>;
}

impl Positioned for GaussianMixture {
    fn position(&self) -> Option<SamplerState> {
        None
    }
}

impl Positioned for EpochSampler {
    fn position(&self) -> Option<SamplerState> {
        Some(self.state())
    }
}

fn trainer_settings(config: &TrainConfig) -> TrainerSettings {
    TrainerSettings {
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
        // The run drives the trainer with its own RNG (`step_with`) and writes its own
        // checkpoints; these only matter to `fit`.
        seed: config.run.seed,
        steps: config.run.steps,
        log_every: config.run.log_every,
        checkpoint: None,
        on_non_finite: config.train.on_non_finite,
    }
}

/// The checkpoint to resume from, when resuming: its directory and state.
fn checkpoint_to_resume(
    control: &RunControl,
    total: usize,
) -> Result<Option<(PathBuf, CheckpointState)>, TrainError> {
    if !control.resume {
        return Ok(None);
    }
    let dir = control.dir.as_deref().ok_or_else(|| {
        TrainError::config("resuming needs the run directory that holds the checkpoints")
    })?;
    let checkpoint = find_checkpoint(dir)?;
    let state = read_checkpoint_state(&checkpoint)?;
    if state.step >= total {
        return Err(TrainError::config(format!(
            "the run in {} already reached step {} of {total}; pass --steps larger than {} to \
             train further",
            dir.display(),
            state.step,
            state.step
        )));
    }
    Ok(Some((checkpoint, state)))
}

/// Builds the trainer around `generator` and `discriminator` with the config's penalty and
/// moving average, and restores modules, optimizer states and moving average from `resume`'s
/// checkpoint when given.
fn build_trainer<G, C, const D: usize>(
    config: &TrainConfig,
    generator: G,
    discriminator: C,
    resume: Option<&Path>,
    device: &Device,
) -> Result<GanTrainer<G, C, D>, TrainError>
where
    G: Generator<D>,
    C: InputGradient<D>,
{
    let settings = trainer_settings(config);
    let mut trainer = GanTrainer::new(
        generator,
        discriminator,
        config.loss.build(),
        &settings,
        device,
    )?;
    if let Some(penalty) = config.penalty {
        trainer = trainer.with_penalty(penalty)?;
    }
    if let Some(ema) = config.ema {
        trainer = trainer.with_ema(ema.decay, ema.warmup)?;
    }
    if let Some(dir) = resume {
        let state = read_checkpoint_state(dir)?;
        trainer.load_parts(dir)?;
        trainer.set_steps_done(state.step);
    }
    Ok(trainer)
}

/// Writes a checkpoint of the run's current position, when the run has a directory.
fn write_run_checkpoint<G, C, const D: usize>(
    trainer: &GanTrainer<G, C, D>,
    rng: &HostRng,
    sampler: Option<SamplerState>,
    config: &TrainConfig,
    control: &RunControl,
) -> Result<Option<PathBuf>, TrainError>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    let Some(dir) = &control.dir else {
        return Ok(None);
    };
    let mut parts = trainer.checkpoint_parts()?;
    parts.push((files::CONFIG, control.config_text.clone().into_bytes()));
    let state = CheckpointState {
        format: CHECKPOINT_FORMAT,
        step: trainer.steps_done(),
        rng: rng.state(),
        sampler,
        backend: control.backend.clone(),
    };
    write_checkpoint(
        &dir.join("checkpoints"),
        &parts,
        &state,
        config.run.keep_checkpoints,
    )
    .map(Some)
}

/// Reports the fixed-noise samples of a step to the observers.
type Draw<'a, G, C, const D: usize> =
    dyn FnMut(&GanTrainer<G, C, D>, usize, &mut [&mut dyn Observer]) -> Result<(), TrainError> + 'a;

/// Evaluates the sampling generator of a step (`[eval]`): metric name → value.
type Evaluate<'a, G, C, const D: usize> =
    dyn FnMut(&GanTrainer<G, C, D>) -> Result<BTreeMap<String, f64>, TrainError> + 'a;

/// What the step loop ends with: the recorded steps, the last checkpoint, and whether it
/// stopped at `stop_at` before the end.
type LoopEnd = (Vec<StepMetrics>, Option<PathBuf>, bool);

/// The step loop shared by toy and image runs. `draw` reports the fixed-noise samples of a
/// step to the observers; `evaluate`, given when the config has an `[eval]` section, fills
/// the metrics of the steps it names (which are then always logged).
#[allow(clippy::too_many_arguments)]
fn step_loop<G, C, S, const D: usize>(
    config: &TrainConfig,
    control: &RunControl,
    trainer: &mut GanTrainer<G, C, D>,
    source: &mut S,
    rng: &mut HostRng,
    observers: &mut [&mut dyn Observer],
    draw: &mut Draw<'_, G, C, D>,
    mut evaluate: Option<&mut Evaluate<'_, G, C, D>>,
) -> Result<LoopEnd, TrainError>
where
    G: Generator<D>,
    C: Discriminator<D>,
    S: SampleSource<D> + Positioned,
{
    let total = config.run.steps;
    let mut history = Vec::new();
    let mut checkpoint = None;
    let every = config.run.checkpoint_every;
    let interrupt_requested = || {
        control
            .interrupt
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::SeqCst))
    };
    for step in trainer.steps_done() + 1..=total {
        let last = step == total;
        let evaluating =
            evaluate.is_some() && config.eval.as_ref().is_some_and(|e| e.due(step, total));
        let log = last || step % config.run.log_every == 0 || evaluating;
        // Steps that end in a checkpoint are measured too (not logged), so that a checkpoint
        // is only written after finite losses and gradients.
        let checkpointing = (every > 0 && step % every == 0)
            || control.stop_at == Some(step)
            || interrupt_requested();
        if let Some(mut metrics) = trainer.step_with(source, rng, log || checkpointing) {
            // On a non-finite value the last checkpoint stays as it was (it holds finite
            // weights) and the metrics file ends with what went wrong.
            trainer.vet(&metrics, observers)?;
            // A step that skipped an update is always reported.
            if log || metrics.skipped_updates > 0 {
                if evaluating && let Some(evaluate) = evaluate.as_deref_mut() {
                    let mut values = evaluate(trainer)?;
                    // JSON has no NaN or infinity; an undefined value is left out.
                    values.retain(|_, value| value.is_finite());
                    metrics.eval = Some(values);
                }
                for observer in observers.iter_mut() {
                    observer.on_step(&metrics)?;
                }
                history.push(metrics);
            }
        }
        let drawing = last || step % config.run.sample_every == 0;
        if drawing {
            draw(trainer, step, observers)?;
        }
        let stop = control.stop_at == Some(step);
        // A request during the last step lets the run finish normally.
        let interrupted = !last && interrupt_requested();
        let saving = last || stop || interrupted || (every > 0 && step % every == 0);
        if saving {
            checkpoint = write_run_checkpoint(trainer, rng, source.position(), config, control)?
                .or(checkpoint);
        }
        if evaluating || drawing || saving {
            // Evaluation, samples and checkpoints allocate in shapes the training step does
            // not (batches of 500 images, whole-model reads): a pooled device (wgpu, CUDA)
            // keeps the pages they grew as long as the run lasts unless asked to give back
            // the empty ones, and a long run's memory then creeps up at these steps
            // (docs/reliability.md, Soak). A no-op on the CPU backends.
            trainer.device().memory_cleanup();
        }
        if interrupted {
            return Err(TrainError::Interrupted {
                step,
                checkpoint: checkpoint.clone().unwrap_or_default(),
                run_dir: control.dir.clone().unwrap_or_default(),
            });
        }
        if stop && !last {
            return Ok((history, checkpoint, true));
        }
    }
    Ok((history, checkpoint, false))
}

/// Trains the toy GAN of `config` (2-D mixture, MLP networks) on `device` (autodiff is enabled
/// here), reporting to `observers`; `control` adds checkpoints, early stops and resuming.
///
/// Draw order from the host RNG seeded with `config.run.seed`: generator weights,
/// discriminator weights, the fixed plotting noise, then per step the real batch and noise of
/// each discriminator update (then the penalty's random factors: one per sample for WGAN-GP,
/// one per element for DRAGAN) and the noise of the generator update (followed by a real batch
/// when the loss's generator term reads real logits: RSGAN, RaGAN, Softmax GAN); finally the
/// evaluation noise. A run is therefore a pure function of the config, on every backend.
///
/// With an `[eval]` section, the sampling generator's mode coverage, high-quality fraction and
/// mode KL on `eval.samples` points are recorded at every `eval.every` steps and at the last
/// step ([`StepMetrics::eval`]). Their latent codes come from `HostRng::seed_from(eval.seed)`,
/// never from the run's RNG, and so does the end-of-run evaluation's noise (its first
/// 2,500 codes) instead of the run's RNG: with `samples = 2500` the last periodic evaluation
/// and [`RunSummary::evaluation`] are the same. Training itself is unchanged by `[eval]`.
pub fn train_toy_with(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
    control: &RunControl,
) -> Result<ToyRun, TrainError> {
    config.validate()?;
    let DataConfig::Toy(toy) = &config.data else {
        return Err(TrainError::config(
            "train_toy needs toy data ([data] kind = \"ring\" or \"grid\")",
        ));
    };
    let (crate::GeneratorConfig::Mlp(g_config), crate::DiscriminatorConfig::Mlp(d_config)) =
        (&config.generator, &config.discriminator)
    else {
        return Err(TrainError::config(
            "toy runs need generator and discriminator kind \"mlp\"",
        ));
    };
    let resume = checkpoint_to_resume(control, config.run.steps)?;
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let mut mixture = toy.build().map_err(|e| TrainError::config(e.to_string()))?;
    let dim = 2;
    let model_error = |e: burngan_models::ModelError| TrainError::config(e.to_string());
    let generator = g_config.init(dim, &mut rng, &device).map_err(model_error)?;
    let discriminator = d_config.init(dim, &mut rng, &device).map_err(model_error)?;
    let latent_dim = g_config.latent_dim;
    let plot_noise = rng.normal_vec(config.run.plot_samples * latent_dim);
    // The evaluation's own codes: the same at every evaluation, none from the run's RNG.
    let eval_noise = config.eval.as_ref().map(|eval| {
        HostRng::seed_from(eval.seed).normal_vec(eval.samples_for(&config.data) * latent_dim)
    });
    let mut trainer = build_trainer(
        config,
        generator,
        discriminator,
        resume.as_ref().map(|(dir, _)| dir.as_path()),
        &device,
    )?;
    if let Some((_, state)) = &resume {
        rng = HostRng::from_state(&state.rng);
    }

    let info = RunInfo {
        total_steps: config.run.steps,
        centres: mixture.centres().to_vec(),
        start_step: trainer.steps_done(),
    };
    for observer in observers.iter_mut() {
        observer.on_start(&info)?;
    }
    let (centres, std) = (mixture.centres().to_vec(), mixture.std());
    let mut evaluate = |trainer: &GanTrainer<_, _, 2>| {
        let noise = eval_noise.as_deref().unwrap_or_default();
        Ok(toy_eval_values(
            &trainer.generate_host(noise),
            &centres,
            std,
        ))
    };
    let (metrics, checkpoint, stopped_early) = step_loop(
        config,
        control,
        &mut trainer,
        &mut mixture,
        &mut rng,
        observers,
        &mut |trainer, step, observers| {
            let samples = trainer.generate_host(&plot_noise);
            for observer in observers.iter_mut() {
                observer.on_samples(step, &samples)?;
            }
            Ok(())
        },
        eval_noise
            .is_some()
            .then_some(&mut evaluate as &mut Evaluate<'_, _, _, 2>),
    )?;
    let evaluation = (!stopped_early).then(|| {
        let eval_noise = match &config.eval {
            Some(eval) => HostRng::seed_from(eval.seed).normal_vec(TOY_EVAL_SAMPLES * latent_dim),
            None => rng.normal_vec(TOY_EVAL_SAMPLES * latent_dim),
        };
        let samples = trainer.generate_host(&eval_noise);
        mode_coverage(&samples, &centres, std, 3.0)
    });
    finish(
        trainer,
        observers,
        evaluation,
        (metrics, checkpoint, stopped_early),
    )
}

/// The names of the periodic evaluation's metrics ([`StepMetrics::eval`]) in display order:
/// those of image runs, then those of toy runs.
pub const EVAL_METRICS: [&str; 11] = [
    "fd",
    "classifier_score",
    "class_kl",
    "classes_covered",
    "precision",
    "recall",
    "density",
    "coverage",
    "modes_covered",
    "high_quality_fraction",
    "mode_kl",
];

/// The periodic evaluation of toy samples (row-major `[n, 2]`): `modes_covered` and
/// `high_quality_fraction` (VEEGAN/PacGAN, 3σ), and `mode_kl`, the reverse KL of the
/// high-quality mode histogram from uniform (left out when no sample is of high quality).
pub fn toy_eval_values(samples: &[f32], centres: &[[f64; 2]], std: f64) -> BTreeMap<String, f64> {
    let coverage = mode_coverage(samples, centres, std, 3.0);
    let mut values = BTreeMap::from([
        ("modes_covered".to_string(), coverage.modes_covered as f64),
        (
            "high_quality_fraction".to_string(),
            coverage.high_quality_fraction,
        ),
    ]);
    if let Ok(kl) = coverage.reverse_kl() {
        values.insert("mode_kl".to_string(), kl);
    }
    values
}

/// The periodic evaluation of an image run from its scores: `fd`, `classifier_score`,
/// `class_kl`, `classes_covered`, `precision`, `recall`, `density` and `coverage`.
pub fn image_eval_values(scores: &RowScores) -> BTreeMap<String, f64> {
    [
        ("fd", scores.frechet_distance),
        ("classifier_score", scores.classifier_score),
        ("class_kl", scores.class_kl),
        ("classes_covered", scores.classes_covered as f64),
        ("precision", scores.precision),
        ("recall", scores.recall),
        ("density", scores.density),
        ("coverage", scores.coverage),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect()
}

/// The settings of the periodic image evaluation: [`ScoreSettings::default`] without KID,
/// which is too slow to compute every few hundred steps.
pub fn periodic_score_settings() -> ScoreSettings {
    ScoreSettings {
        kid_subsets: 0,
        ..ScoreSettings::default()
    }
}

/// The feature network and real reference features for the `[eval]` section of an image run
/// on `dataset` (see [`ImageEvaluator::new`]); `None` when the config has no `[eval]` section
/// or trains on toy data. Loads and checks `eval.classifier` (default
/// [`MNIST_CLASSIFIER`]), so an application can report a missing or corrupt network before
/// it creates any output.
pub fn image_evaluator(
    config: &TrainConfig,
    dataset: &ImageDataset,
    device: &Device,
) -> Result<Option<ImageEvaluator>, TrainError> {
    let (Some(eval), DataConfig::Images(_)) = (&config.eval, &config.data) else {
        return Ok(None);
    };
    let path = eval.classifier_path();
    if eval.classifier.is_none() && !path.exists() {
        return Err(TrainError::config(format!(
            "[eval] needs the feature network {MNIST_CLASSIFIER}, which is not there; run from \
             the repository root (the network ships in assets/eval/), set eval.classifier to \
             its path, or remove the [eval] section"
        )));
    }
    ImageEvaluator::new(&path, dataset, device).map(Some)
}

/// Reports the end of a run to the observers and hands out the networks.
fn finish<G, C, const D: usize>(
    trainer: GanTrainer<G, C, D>,
    observers: &mut [&mut dyn Observer],
    evaluation: Option<burngan_metrics::ModeCoverage>,
    (metrics, checkpoint, stopped_early): LoopEnd,
) -> Result<Run<G, C>, TrainError>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    let summary = RunSummary {
        steps: trainer.steps_done(),
        evaluation,
    };
    for observer in observers.iter_mut() {
        observer.on_end(&summary)?;
    }
    let ema = trainer.ema().cloned();
    let (generator, discriminator) = trainer.into_parts();
    Ok(Run {
        generator,
        discriminator,
        ema,
        metrics,
        summary,
        checkpoint,
        stopped_early,
    })
}

/// [`train_toy_with`] without checkpoints.
pub fn train_toy(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
) -> Result<ToyRun, TrainError> {
    train_toy_with(config, device, observers, &RunControl::default())
}

/// The fixed latent codes (and, for a conditional generator, labels) of every sample grid:
/// 64 codes for an 8×8 grid, or 8 per class with row k showing class k.
pub fn grid_inputs(
    latent_dim: usize,
    num_classes: usize,
    rng: &mut HostRng,
) -> (Vec<f32>, Option<Vec<usize>>) {
    if num_classes == 0 {
        (
            rng.normal_vec(GRID_COLUMNS * GRID_COLUMNS * latent_dim),
            None,
        )
    } else {
        let n = GRID_COLUMNS * num_classes;
        let labels = (0..n).map(|i| i / GRID_COLUMNS).collect();
        (rng.normal_vec(n * latent_dim), Some(labels))
    }
}

/// Loads the image dataset of `config` and checks it against the networks' classes.
pub fn load_images(config: &TrainConfig) -> Result<ImageDataset, TrainError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(TrainError::config(
            "image training needs [data] kind = \"images\"",
        ));
    };
    let dataset = images.load()?;
    check_classes(config, &dataset, &images.path)?;
    Ok(dataset)
}

/// A conditional run needs labels for exactly the networks' classes: a class the data lacks
/// would train its generator embedding against a critic row that never sees real samples.
fn check_classes(
    config: &TrainConfig,
    dataset: &ImageDataset,
    path: &Path,
) -> Result<(), TrainError> {
    let classes = config.generator.num_classes();
    if classes == 0 {
        return Ok(());
    }
    match dataset.num_classes() {
        None => Err(TrainError::Data(format!(
            "the conditional networks need labels, but {} has none; give an IDX labels file \
             (data.labels or --labels) or a folder with one sub-folder per class",
            path.display()
        ))),
        Some(found) if found != classes => Err(TrainError::Data(format!(
            "{} has {found} classes, the networks {classes}; set num_classes = {found} in \
             [generator] and [discriminator]",
            path.display()
        ))),
        Some(_) => Ok(()),
    }
}

/// Trains the image GAN of `config` on `device` (autodiff is enabled here), reporting to
/// `observers` (sample grids through [`Observer::on_images`]); `control` adds checkpoints,
/// early stops and resuming.
///
/// Draw order from the host RNG seeded with `config.run.seed`: generator weights,
/// discriminator weights, the grid noise ([`grid_inputs`]), then per step: each
/// discriminator update's epoch reshuffle (when an epoch starts), noise and penalty factors,
/// then the generator update's noise (and, for conditional networks, its labels). A resumed
/// run repeats the draws up to the grid noise and then continues from the checkpoint's RNG
/// position, so it is identical to an uninterrupted run on the same backend.
///
/// With an `[eval]` section, the feature network is loaded (see [`image_evaluator`]) before
/// the first step, and the sampling generator is scored on `eval.samples` images from
/// `HostRng::seed_from(eval.seed)` at every `eval.every` steps and at the last step
/// ([`StepMetrics::eval`], without KID; an empty map at a step whose images a metric rejects,
/// e.g. for a degenerate feature covariance, rather than a failed run). Evaluation draws
/// nothing from the run's RNG and changes no module state, so training is the same with or
/// without it.
pub fn train_images(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
    control: &RunControl,
) -> Result<ImageRun, TrainError> {
    config.validate()?;
    let dataset = load_images(config)?;
    train_images_on(dataset, None, config, device, observers, control)
}

/// [`train_images`] on a dataset already loaded with [`load_images`] (so an application can
/// report bad data before it creates any output) and, for the config's `[eval]` section, the
/// feature network `evaluator` loaded with [`image_evaluator`] (for the same reason); `None`
/// loads it here, before the first step, when the config has an `[eval]` section. Without
/// `[eval]` the evaluator is not used.
pub fn train_images_on(
    dataset: ImageDataset,
    evaluator: Option<&ImageEvaluator>,
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
    control: &RunControl,
) -> Result<ImageRun, TrainError> {
    config.validate()?;
    if let DataConfig::Images(images) = &config.data {
        check_classes(config, &dataset, &images.path)?;
    }
    let resume = checkpoint_to_resume(control, config.run.steps)?;
    let loaded;
    let evaluator = match (evaluator, &config.eval) {
        (_, None) => None,
        (Some(evaluator), Some(_)) => Some(evaluator),
        (None, Some(_)) => {
            loaded = image_evaluator(config, &dataset, device)?;
            loaded.as_ref()
        }
    };
    let shape = dataset.shape();
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let model_error = |e: burngan_models::ModelError| TrainError::config(e.to_string());
    let not_image = || TrainError::config("image data needs image networks");
    let generator = config
        .generator
        .init_image(shape, &mut rng, &device)
        .map_err(model_error)?
        .ok_or_else(not_image)?;
    let discriminator = config
        .discriminator
        .init_image(shape, &mut rng, &device)
        .map_err(model_error)?
        .ok_or_else(not_image)?;
    let (grid_noise, grid_labels) =
        grid_inputs(generator.latent_dim(), generator.num_classes(), &mut rng);
    let mut trainer = build_trainer(
        config,
        generator,
        discriminator,
        resume.as_ref().map(|(dir, _)| dir.as_path()),
        &device,
    )?;
    let mut sampler = match &resume {
        Some((dir, state)) => {
            rng = HostRng::from_state(&state.rng);
            let position = state.sampler.clone().ok_or_else(|| {
                TrainError::Output(format!(
                    "checkpoint {} of an image run has no sampler position in state.json",
                    dir.display()
                ))
            })?;
            EpochSampler::from_state(dataset, &position).map_err(|e| {
                TrainError::Data(format!(
                    "checkpoint {} does not fit the dataset: {e}",
                    dir.display()
                ))
            })?
        }
        None => EpochSampler::new(dataset),
    };

    let info = RunInfo {
        total_steps: config.run.steps,
        centres: Vec::new(),
        start_step: trainer.steps_done(),
    };
    for observer in observers.iter_mut() {
        observer.on_start(&info)?;
    }
    let settings = periodic_score_settings();
    let mut evaluate = |trainer: &GanTrainer<ImageGenerator, ImageDiscriminator, 4>| {
        let (Some(evaluator), Some(eval)) = (evaluator, &config.eval) else {
            return Ok(BTreeMap::new());
        };
        let scores = evaluator.score_generator(
            "generator",
            &trainer.sampling_generator(),
            eval.samples_for(&config.data),
            eval.seed,
            &settings,
        );
        match scores {
            Ok(scores) => Ok(image_eval_values(&scores)),
            // A metric that cannot score this step's images (e.g. a degenerate feature
            // covariance) leaves the step without scores instead of ending the run, which a
            // resume would only repeat.
            Err(TrainError::Eval(EvalError::Metric(_))) => Ok(BTreeMap::new()),
            Err(error) => Err(error),
        }
    };
    let (metrics, checkpoint, stopped_early) = step_loop(
        config,
        control,
        &mut trainer,
        &mut sampler,
        &mut rng,
        observers,
        &mut |trainer, step, observers| {
            let images = match &grid_labels {
                Some(labels) => trainer.generate_host_labeled(&grid_noise, labels),
                None => trainer.generate_host(&grid_noise),
            };
            for observer in observers.iter_mut() {
                observer.on_images(step, &images, shape, GRID_COLUMNS)?;
            }
            Ok(())
        },
        evaluator
            .is_some()
            .then_some(&mut evaluate as &mut Evaluate<'_, _, _, 4>),
    )?;
    finish(
        trainer,
        observers,
        None,
        (metrics, checkpoint, stopped_early),
    )
}

/// Rebuilds the networks of `config` for images of `shape` on `device` (plain, no autodiff)
/// and loads the generator a checkpoint directory holds: the moving average when the run
/// kept one and `prefer_ema` is true, the generator otherwise. For `burngan sample` and
/// `burngan export`.
pub fn load_image_generator(
    config: &TrainConfig,
    checkpoint: &Path,
    prefer_ema: bool,
    device: &Device,
) -> Result<ImageGenerator, TrainError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(TrainError::config(
            "this checkpoint is from a toy run; sampling and export need an image run",
        ));
    };
    let mut rng = HostRng::seed_from(config.run.seed);
    let generator = config
        .generator
        .init_image(images.shape(), &mut rng, device)
        .map_err(|e| TrainError::config(e.to_string()))?
        .ok_or_else(|| TrainError::config("the checkpoint's generator is not an image network"))?;
    let ema = checkpoint.join(files::EMA);
    let path = if prefer_ema && ema.is_file() {
        ema
    } else {
        checkpoint.join(files::GENERATOR)
    };
    Ok(load_module(generator, &path)?.valid())
}
