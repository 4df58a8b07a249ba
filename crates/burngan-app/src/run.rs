//! Whole runs from a [`TrainConfig`]: building the data, networks and trainer in a fixed order
//! of host-RNG draws, the step loop with its metrics, sample grids and checkpoints, stopping
//! (`--stop-at`, Ctrl-C) and resuming from a checkpoint bit for bit.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use burngan_augment::DiffAugment;
use burngan_core::{Discriminator, Generator, HostRng, InputGradient, SampleSource};
use burngan_data::{ImageDataset, ImageSource};
use burngan_eval::{EvalError, MNIST_CLASSIFIER, RowScores, ScoreSettings};
use burngan_metrics::{TOY_EVAL_SAMPLES, mode_coverage};

use burngan_models::{MlpDiscriminator, MlpGenerator};

use burngan_metrics::ModeCoverage;
use burngan_train::hooks::PositionFn;
use burngan_train::{
    Augment, CheckpointState, Checkpoints, FitSummary, GanTrainer, Hook, HookDone, Observer,
    RunSummary, StepEnd, StepMetrics, Stop, TrainError, TrainerSettings, files, find_checkpoint,
    load_module, read_checkpoint_state,
};

use crate::{
    AppError, DataConfig, ImageDiscriminator, ImageEvaluator, ImageGenerator, TrainConfig,
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
    /// run then fails with [`AppError::Interrupted`].
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The backend's name, recorded in checkpoints.
    pub backend: String,
    /// The resolved config as written to `config.toml`, stored in each checkpoint.
    pub config_text: String,
}

/// A finished (or stopped) run: the networks, what was recorded and, for toy runs, the final
/// evaluation.
pub struct Run<G, C> {
    /// The generator (on the autodiff device).
    pub generator: G,
    /// The discriminator (on the autodiff device).
    pub discriminator: C,
    /// The generator's moving average, when the config asks for one.
    pub ema: Option<G>,
    /// Every step recorded by this invocation, in order.
    pub metrics: Vec<StepMetrics>,
    /// Generator steps done.
    pub steps: usize,
    /// Toy runs: the mode coverage of 2,500 fresh samples at the end (`None` for image runs
    /// and for a run stopped early).
    pub evaluation: Option<ModeCoverage>,
    /// The last checkpoint written, if any.
    pub checkpoint: Option<PathBuf>,
    /// True when the run ended at `stop_at` before `run.steps`.
    pub stopped_early: bool,
}

/// A toy run's networks.
pub type ToyRun = Run<burngan_models::MlpGenerator, burngan_models::MlpDiscriminator>;
/// An image run's networks.
pub type ImageRun = Run<ImageGenerator, ImageDiscriminator>;

/// A sample source shared with the checkpoint hook, which records its position (an image
/// run's epoch sampler) in every checkpoint.
struct Shared<S>(Rc<RefCell<S>>);

impl<S: SampleSource<D>, const D: usize> SampleSource<D> for Shared<S> {
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<D> {
        self.0.borrow_mut().sample(batch, rng, device)
    }

    fn sample_labeled(
        &mut self,
        batch: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> (Tensor<D>, Option<Tensor<1, Int>>) {
        self.0.borrow_mut().sample_labeled(batch, rng, device)
    }
}

fn trainer_settings(config: &TrainConfig) -> TrainerSettings {
    TrainerSettings {
        batch_size: config.train.batch_size,
        critic_steps: config.train.critic_steps,
        generator_optimizer: config.optimizer_for(&config.optimizer.generator),
        discriminator_optimizer: config.optimizer_for(&config.optimizer.discriminator),
        // The run drives the trainer with its own RNG (`step_with`) and writes its own
        // checkpoints; these only matter to `fit`.
        seed: config.run.seed,
        steps: config.run.steps,
        log_every: config.run.log_every,
        checkpoint: None,
        on_non_finite: config.train.on_non_finite,
        stack_batches: config.train.stack_batches,
        updates: config.train.updates,
    }
}

/// The checkpoint to resume from, when resuming: its directory and state.
fn checkpoint_to_resume(
    control: &RunControl,
) -> Result<Option<(PathBuf, CheckpointState)>, AppError> {
    if !control.resume {
        return Ok(None);
    }
    let dir = control.dir.as_deref().ok_or_else(|| {
        AppError::config("resuming needs the run directory that holds the checkpoints")
    })?;
    let checkpoint = find_checkpoint(dir)?;
    let state = read_checkpoint_state(&checkpoint)?;
    Ok(Some((checkpoint, state)))
}

/// Builds the trainer around `generator` and `discriminator` with the config's penalty and
/// moving average and `augment` (image runs' `[augment]`), and restores modules, optimizer
/// states, moving average and augmentation state from `resume`'s checkpoint when given.
fn build_trainer<G, C, const D: usize>(
    config: &TrainConfig,
    generator: G,
    discriminator: C,
    augment: Option<Box<dyn Augment<D>>>,
    resume: Option<&(PathBuf, CheckpointState)>,
    device: &Device,
) -> Result<GanTrainer<G, C, D>, AppError>
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
    for term in &config.penalty {
        trainer = trainer.with_penalty(*term)?;
    }
    if let Some(ema) = &config.ema {
        trainer = trainer.with_ema_rule(ema.rule()?)?;
    }
    if let Some(augment) = augment {
        trainer = trainer.with_augment(augment);
    }
    if let Some((dir, state)) = resume {
        trainer.restore(dir, state)?;
    }
    Ok(trainer)
}

/// The config's `[augment]` section as the trainer's augmentation of image batches.
pub fn image_augment(config: &TrainConfig) -> Result<Option<Box<dyn Augment<4>>>, AppError> {
    let Some(augment) = &config.augment else {
        return Ok(None);
    };
    let augment = DiffAugment::new(augment).map_err(|e| AppError::config(e.to_string()))?;
    Ok(Some(Box::new(augment)))
}

/// Draws the samples of the fixed noise every `run.sample_every` steps and at the last step.
struct Grids<F> {
    every: usize,
    draw: F,
}

impl<G, C, F, const D: usize> Hook<G, C, D> for Grids<F>
where
    F: FnMut(&GanTrainer<G, C, D>, usize, &mut [&mut dyn Observer]) -> Result<(), TrainError>,
{
    fn after_step(
        &mut self,
        trainer: &GanTrainer<G, C, D>,
        end: &StepEnd<'_>,
        observers: &mut [&mut dyn Observer],
    ) -> Result<HookDone, TrainError> {
        if !(end.last() || end.step.is_multiple_of(self.every)) {
            return Ok(HookDone::default());
        }
        (self.draw)(trainer, end.step, observers)?;
        Ok(HookDone { allocated: true })
    }
}

/// Scores the sampling generator at the steps `[eval]` names, into the step's
/// [`StepMetrics::eval`] (such a step is always reported).
struct Evaluation<F> {
    eval: crate::EvalConfig,
    evaluate: F,
    ran: bool,
}

impl<G, C, F, const D: usize> Hook<G, C, D> for Evaluation<F>
where
    G: Generator<D>,
    C: Discriminator<D>,
    F: FnMut(&GanTrainer<G, C, D>) -> Result<BTreeMap<String, f64>, AppError>,
{
    fn measures(&mut self, step: usize, total: usize) -> bool {
        self.eval.due(step, total)
    }

    fn on_metrics(
        &mut self,
        trainer: &GanTrainer<G, C, D>,
        metrics: &mut StepMetrics,
    ) -> Result<bool, TrainError> {
        if !self.eval.due(metrics.step, trainer.total_steps()) {
            return Ok(false);
        }
        let mut values = (self.evaluate)(trainer)?;
        // JSON has no NaN or infinity; an undefined value is left out.
        values.retain(|_, value| value.is_finite());
        metrics.eval = Some(values);
        self.ran = true;
        Ok(true)
    }

    fn after_step(
        &mut self,
        _: &GanTrainer<G, C, D>,
        _: &StepEnd<'_>,
        _: &mut [&mut dyn Observer],
    ) -> Result<HookDone, TrainError> {
        Ok(HookDone {
            allocated: std::mem::take(&mut self.ran),
        })
    }
}

/// Trains `trainer` on `source` through the one training loop
/// ([`GanTrainer::fit_with_hooks`]) with the run's hooks: `extra` (evaluation, sample grids,
/// a final evaluation), then `--stop-at` and Ctrl-C, then the run's checkpoints (with the
/// resolved config and, through `position`, the sampler's position). Returns what `fit`
/// reported and the last checkpoint written; an interrupted run fails with
/// [`AppError::Interrupted`] after its checkpoint.
fn run_fit<G, C, const D: usize>(
    config: &TrainConfig,
    control: &RunControl,
    trainer: &mut GanTrainer<G, C, D>,
    source: &mut dyn SampleSource<D>,
    position: Option<PositionFn>,
    observers: &mut [&mut dyn Observer],
    extra: &mut [&mut dyn Hook<G, C, D>],
) -> Result<(FitSummary, Option<PathBuf>), AppError>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    let mut stop = Stop {
        stop_at: control.stop_at,
        interrupt: control.interrupt.clone(),
        interrupted: false,
    };
    let mut checkpoints = control.dir.as_ref().map(|dir| {
        let hook = Checkpoints::new(
            dir.join("checkpoints"),
            config.run.checkpoint_every,
            config.run.keep_checkpoints,
        )
        .with_file(files::CONFIG, control.config_text.clone().into_bytes())
        .with_backend(control.backend.clone());
        match position {
            Some(position) => hook.with_position(position),
            None => hook,
        }
    });
    let mut hooks: Vec<&mut dyn Hook<G, C, D>> = Vec::with_capacity(extra.len() + 2);
    for hook in extra.iter_mut() {
        hooks.push(&mut **hook);
    }
    hooks.push(&mut stop);
    if let Some(checkpoints) = checkpoints.as_mut() {
        hooks.push(checkpoints);
    }
    let fit = trainer.fit_with_hooks(source, observers, &mut hooks)?;
    drop(hooks);
    let written = checkpoints.and_then(|hook| hook.written().cloned());
    if stop.interrupted {
        return Err(AppError::Interrupted {
            step: trainer.steps_done(),
            checkpoint: written.unwrap_or_default(),
            run_dir: control.dir.clone().unwrap_or_default(),
        });
    }
    Ok((fit, written))
}

/// A toy run's evaluation at its end: the mode coverage of 2,500 fresh samples, from the
/// `[eval]` seed's codes when the config has one, else from the run's RNG. Skipped when the
/// run stopped early.
struct FinalCoverage<'a> {
    centres: &'a [[f64; 2]],
    std: f64,
    eval_seed: Option<u64>,
    latent_dim: usize,
    result: Option<ModeCoverage>,
}

impl Hook<MlpGenerator, MlpDiscriminator, 2> for FinalCoverage<'_> {
    fn on_end(
        &mut self,
        trainer: &mut GanTrainer<MlpGenerator, MlpDiscriminator, 2>,
        summary: &RunSummary,
    ) -> Result<(), TrainError> {
        if summary.steps < trainer.total_steps() {
            return Ok(());
        }
        let count = TOY_EVAL_SAMPLES * self.latent_dim;
        let noise = match self.eval_seed {
            Some(seed) => HostRng::seed_from(seed).normal_vec(count),
            None => trainer.rng_mut().normal_vec(count),
        };
        let samples = trainer.generate_host(&noise);
        self.result = Some(mode_coverage(&samples, self.centres, self.std, 3.0));
        Ok(())
    }
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
/// and [`Run::evaluation`] are the same. Training itself is unchanged by `[eval]`.
pub fn train_toy_with(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
    control: &RunControl,
) -> Result<ToyRun, AppError> {
    config.validate()?;
    let DataConfig::Toy(toy) = &config.data else {
        return Err(AppError::config(
            "train_toy needs toy data ([data] kind = \"ring\" or \"grid\")",
        ));
    };
    let (crate::GeneratorConfig::Mlp(g_config), crate::DiscriminatorConfig::Mlp(d_config)) =
        (&config.generator, &config.discriminator)
    else {
        return Err(AppError::config(
            "toy runs need generator and discriminator kind \"mlp\"",
        ));
    };
    let resume = checkpoint_to_resume(control)?;
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let mut mixture = toy.build().map_err(|e| AppError::config(e.to_string()))?;
    let dim = 2;
    let model_error = |e: burngan_models::ModelError| AppError::config(e.to_string());
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
        None,
        resume.as_ref(),
        &device,
    )?;
    if let Some((_, state)) = &resume {
        rng = HostRng::from_state(&state.rng);
    }
    // One RNG drew the weights and the plotting noise and draws the data and noise.
    trainer.set_rng(rng);
    let (centres, std) = (mixture.centres().to_vec(), mixture.std());
    let mut grids = Grids {
        every: config.run.sample_every,
        draw: |trainer: &GanTrainer<_, _, 2>, step, observers: &mut [&mut dyn Observer]| {
            let samples = trainer.generate_host(&plot_noise);
            for observer in observers.iter_mut() {
                observer.on_samples(step, &samples)?;
            }
            Ok(())
        },
    };
    let mut evaluation = config.eval.clone().map(|eval| Evaluation {
        eval,
        evaluate: |trainer: &GanTrainer<_, _, 2>| {
            let noise = eval_noise.as_deref().unwrap_or_default();
            Ok(toy_eval_values(
                &trainer.generate_host(noise),
                &centres,
                std,
            ))
        },
        ran: false,
    });
    let mut coverage = FinalCoverage {
        centres: &centres,
        std,
        eval_seed: config.eval.as_ref().map(|eval| eval.seed),
        latent_dim,
        result: None,
    };
    let mut hooks: Vec<&mut dyn Hook<_, _, 2>> = Vec::new();
    if let Some(evaluation) = evaluation.as_mut() {
        hooks.push(evaluation);
    }
    hooks.push(&mut grids);
    hooks.push(&mut coverage);
    let fit = run_fit(
        config,
        control,
        &mut trainer,
        &mut mixture,
        None,
        observers,
        &mut hooks,
    )?;
    drop(hooks);
    let mut run = finish(trainer, fit);
    run.evaluation = coverage.result;
    Ok(run)
}

/// The names of the periodic evaluation's metrics ([`StepMetrics::eval`]) in display order:
/// those of image runs (StackedMNIST's two mode metrics after the others), then those of toy
/// runs.
pub const EVAL_METRICS: [&str; 13] = [
    "fd",
    "classifier_score",
    "class_kl",
    "classes_covered",
    "precision",
    "recall",
    "density",
    "coverage",
    "stacked_modes",
    "stacked_reverse_kl",
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
/// `class_kl`, `classes_covered`, `precision`, `recall`, `density` and `coverage`, and for
/// StackedMNIST `stacked_modes` and `stacked_reverse_kl`.
pub fn image_eval_values(scores: &RowScores) -> BTreeMap<String, f64> {
    let stacked = scores.stacked.iter().flat_map(|modes| {
        [
            ("stacked_modes", modes.modes_covered as f64),
            ("stacked_reverse_kl", modes.reverse_kl),
        ]
    });
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
    .chain(stacked)
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
) -> Result<Option<ImageEvaluator>, AppError> {
    let (Some(eval), DataConfig::Images(images)) = (&config.eval, &config.data) else {
        return Ok(None);
    };
    let path = eval.classifier_path();
    if eval.classifier.is_none() && !path.exists() {
        return Err(AppError::config(format!(
            "[eval] needs the feature network {MNIST_CLASSIFIER}, which is not there; run from \
             the repository root (the network ships in assets/eval/), set eval.classifier to \
             its path, or remove the [eval] section"
        )));
    }
    ImageEvaluator::for_data(&path, dataset, images, burngan_metrics::DEFAULT_K, device).map(Some)
}

/// The networks and what the loop reported.
fn finish<G, C, const D: usize>(
    trainer: GanTrainer<G, C, D>,
    (fit, checkpoint): (FitSummary, Option<PathBuf>),
) -> Run<G, C>
where
    G: Generator<D>,
    C: Discriminator<D>,
{
    let ema = trainer.ema().cloned();
    let (generator, discriminator) = trainer.into_parts();
    Run {
        generator,
        discriminator,
        ema,
        steps: fit.steps,
        metrics: fit.metrics,
        evaluation: None,
        checkpoint,
        stopped_early: fit.stopped_after.is_some(),
    }
}

/// [`train_toy_with`] without checkpoints.
pub fn train_toy(
    config: &TrainConfig,
    device: &Device,
    observers: &mut [&mut dyn Observer],
) -> Result<ToyRun, AppError> {
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
pub fn load_images(config: &TrainConfig) -> Result<ImageDataset, AppError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(AppError::config(
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
) -> Result<(), AppError> {
    let classes = config.generator.num_classes();
    if classes == 0 {
        return Ok(());
    }
    match dataset.num_classes() {
        None => Err(AppError::Data(format!(
            "the conditional networks need labels, but {} has none; give an IDX labels file \
             (data.labels or --labels) or a folder with one sub-folder per class",
            path.display()
        ))),
        Some(found) if found != classes => Err(AppError::Data(format!(
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
/// discriminator update's epoch reshuffle (when an epoch starts), noise, with `[augment]` the
/// real and then the fake batch's augmentation, and penalty factors, then the generator
/// update's noise (and, for conditional networks, its labels) and with `[augment]` its fakes'
/// augmentation (see `GanTrainer::with_augment`). A resumed
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
) -> Result<ImageRun, AppError> {
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
) -> Result<ImageRun, AppError> {
    config.validate()?;
    if let DataConfig::Images(images) = &config.data {
        check_classes(config, &dataset, &images.path)?;
    }
    let resume = checkpoint_to_resume(control)?;
    let loaded;
    let evaluator = match (evaluator, &config.eval) {
        (_, None) => None,
        (Some(evaluator), Some(_)) => Some(evaluator),
        (None, Some(_)) => {
            loaded = image_evaluator(config, &dataset, device)?;
            loaded.as_ref()
        }
    };
    let source = crate::image_source(config, dataset)?;
    let shape = source.shape();
    let device = device.clone().autodiff();
    let mut rng = HostRng::seed_from(config.run.seed);
    let (generator, discriminator) = image_networks(config, shape, &mut rng, &device)?;
    let (grid_noise, grid_labels) =
        grid_inputs(generator.latent_dim(), generator.num_classes(), &mut rng);
    let augment = image_augment(config)?;
    let mut trainer = build_trainer(
        config,
        generator,
        discriminator,
        augment,
        resume.as_ref(),
        &device,
    )?;
    let sampler = match &resume {
        Some((dir, state)) => {
            rng = HostRng::from_state(&state.rng);
            restored_sampler(source, dir, state)?
        }
        None => source,
    };
    trainer.set_rng(rng);
    let sampler = Rc::new(RefCell::new(sampler));
    let position: PositionFn = {
        let sampler = sampler.clone();
        Box::new(move || Some(sampler.borrow().state()))
    };
    let settings = periodic_score_settings();
    let mut evaluation = match (evaluator, &config.eval) {
        (Some(evaluator), Some(eval)) => Some(Evaluation {
            eval: eval.clone(),
            evaluate: |trainer: &GanTrainer<ImageGenerator, ImageDiscriminator, 4>| {
                score_images(evaluator, trainer, config, eval, &settings)
            },
            ran: false,
        }),
        _ => None,
    };
    let mut grids = Grids {
        every: config.run.sample_every,
        draw: |trainer: &GanTrainer<ImageGenerator, ImageDiscriminator, 4>,
               step,
               observers: &mut [&mut dyn Observer]| {
            let images = match &grid_labels {
                Some(labels) => trainer.generate_host_labeled(&grid_noise, labels),
                None => trainer.generate_host(&grid_noise),
            };
            for observer in observers.iter_mut() {
                observer.on_images(step, &images, shape, GRID_COLUMNS)?;
            }
            Ok(())
        },
    };
    let mut hooks: Vec<&mut dyn Hook<_, _, 4>> = Vec::new();
    if let Some(evaluation) = evaluation.as_mut() {
        hooks.push(evaluation);
    }
    hooks.push(&mut grids);
    let fit = run_fit(
        config,
        control,
        &mut trainer,
        &mut Shared(sampler),
        Some(position),
        observers,
        &mut hooks,
    )?;
    drop(hooks);
    Ok(finish(trainer, fit))
}

/// The run's image generator and critic for samples of `shape` (`[channels, height,
/// width]`), initialised from `rng` in that order on `device`.
fn image_networks(
    config: &TrainConfig,
    shape: [usize; 3],
    rng: &mut HostRng,
    device: &Device,
) -> Result<(ImageGenerator, ImageDiscriminator), AppError> {
    let model_error = |e: burngan_models::ModelError| AppError::config(e.to_string());
    let not_image = || AppError::config("image data needs image networks");
    let generator = config
        .generator
        .init_image(shape, rng, device)
        .map_err(model_error)?
        .ok_or_else(not_image)?;
    let discriminator = config
        .discriminator
        .init_image(shape, rng, device)
        .map_err(model_error)?
        .ok_or_else(not_image)?;
    Ok((generator, discriminator))
}

/// An image run's batch source at the position checkpoint `dir` (with `state`) recorded.
fn restored_sampler(
    source: ImageSource,
    dir: &Path,
    state: &CheckpointState,
) -> Result<ImageSource, AppError> {
    let position = state.sampler.clone().ok_or_else(|| {
        AppError::Output(format!(
            "checkpoint {} of an image run has no sampler position in state.json",
            dir.display()
        ))
    })?;
    source.restore(&position).map_err(|e| {
        AppError::Data(format!(
            "checkpoint {} does not fit the dataset: {e}",
            dir.display()
        ))
    })
}

/// The periodic scores of an image run's sampling generator (`[eval]`).
fn score_images(
    evaluator: &ImageEvaluator,
    trainer: &GanTrainer<ImageGenerator, ImageDiscriminator, 4>,
    config: &TrainConfig,
    eval: &crate::EvalConfig,
    settings: &ScoreSettings,
) -> Result<BTreeMap<String, f64>, AppError> {
    let scores = evaluator.score_generator(
        "generator",
        &trainer.sampling_generator(),
        eval.samples_for(&config.data),
        eval.seed,
        settings,
    );
    match scores {
        Ok(scores) => Ok(image_eval_values(&scores)),
        // A metric that cannot score this step's images (e.g. a degenerate feature
        // covariance) leaves the step without scores instead of ending the run, which a
        // resume would only repeat.
        Err(AppError::Eval(EvalError::Metric(_))) => Ok(BTreeMap::new()),
        Err(error) => Err(error),
    }
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
) -> Result<ImageGenerator, AppError> {
    let DataConfig::Images(images) = &config.data else {
        return Err(AppError::config(
            "this checkpoint is from a toy run; sampling and export need an image run",
        ));
    };
    let mut rng = HostRng::seed_from(config.run.seed);
    let generator = config
        .generator
        .init_image(images.shape(), &mut rng, device)
        .map_err(|e| AppError::config(e.to_string()))?
        .ok_or_else(|| AppError::config("the checkpoint's generator is not an image network"))?;
    let ema = checkpoint.join(files::EMA);
    let path = if prefer_ema && ema.is_file() {
        ema
    } else {
        checkpoint.join(files::GENERATOR)
    };
    Ok(load_module(generator, &path)?.valid())
}
