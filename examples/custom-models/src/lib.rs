//! An application that embeds burngan: its own generator (Burn's `nn::Linear` layers), its own
//! critic (burngan's [`Dense`] layers, with the input gradient that gradient penalties need),
//! its own data source (points on a circle around (4, 0)) and its own observer (CSV lines),
//! trained with burngan's losses, penalty, trainer and checkpoints on the backend named on the
//! command line.
//!
//! ```text
//! custom-models [--backend flex] [--steps 300] [--loss non-saturating|wgan-gp] [--batch 128]
//!               [--lr 1e-3] [--seed 0] [--log-every 10] [--out DIR [--resume]] [--own-loop]
//! ```
//!
//! By default the run goes through [`GanTrainer::fit`]; `--own-loop` drives
//! [`GanTrainer::step`] from the application's own loop instead (with one critic step per
//! generator step both draw the same numbers, so both give the same weights). With `--out DIR`
//! it writes `DIR/metrics.jsonl` and checkpoints in `DIR/checkpoints/`, and `--resume`
//! continues from the newest one.
//!
//! [`linear_critic`] is a critic over Burn's own `nn::Linear` with its input gradient, weights
//! that one seed reproduces (Burn's `LinearConfig::init` draws lazily, so `device.seed` does
//! not), and the public checks of the input gradient in a test. [`block_critic`] composes a
//! residual critic from burngan's blocks and writes no gradient code at all.

pub mod block_critic;
pub mod linear_critic;

use std::f32::consts::TAU;
use std::io::Write;
use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use burngan::backend::{BackendError, BackendKind};
use burngan::burn;
use burngan::models::{Activation, Dense, linear_from_host};
use burngan::{
    CheckpointPolicy, Discriminator, GanTrainer, Generator, HostRng, InputGradient, LossConfig,
    Observer, OptimizerConfig, PenaltyConfig, RunInfo, SampleSource, StepMetrics, TrainError,
    TrainerSettings,
};
use clap::Parser;

/// Latent codes of [`Sketcher`] have this many dimensions.
pub const LATENT_DIM: usize = 2;

/// The centre of the real circle.
pub const CENTRE: [f32; 2] = [4.0, 0.0];

/// The application's generator: three of Burn's own `Linear` layers with ReLU,
/// `[batch, 2] → [batch, 2]`. Weights come from burngan's host RNG
/// ([`linear_from_host`]) so that a seed means the same network on every backend.
#[derive(Module, Debug)]
pub struct Sketcher {
    layers: Vec<Linear>,
}

impl Sketcher {
    /// A generator with `hidden` units per hidden layer, on `device`.
    pub fn new(hidden: usize, rng: &mut HostRng, device: &Device) -> Self {
        let sizes = [LATENT_DIM, hidden, hidden, 2];
        let layers = sizes
            .windows(2)
            .map(|pair| linear_from_host(pair[0], pair[1], rng, device))
            .collect();
        Self { layers }
    }
}

impl Generator<2> for Sketcher {
    fn latent_dim(&self) -> usize {
        LATENT_DIM
    }

    /// `[batch, 2] → [batch, 2]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = z;
        for layer in &self.layers[..last] {
            h = relu(layer.forward(h));
        }
        self.layers[last].forward(h)
    }
}

/// The application's critic: [`Dense`] layers with LeakyReLU(0.2), `[batch, 2] → [batch, 1]`.
#[derive(Module, Debug)]
pub struct Judge {
    layers: Vec<Dense>,
}

/// The critic's activation.
const ACTIVATION: Activation = Activation::LeakyRelu(0.2);

impl Judge {
    /// A critic with `hidden` units per hidden layer, on `device`.
    pub fn new(hidden: usize, rng: &mut HostRng, device: &Device) -> Self {
        let sizes = [2, hidden, hidden, 1];
        let layers = sizes
            .windows(2)
            .map(|pair| Dense::new(pair[0], pair[1], false, rng, device))
            .collect();
        Self { layers }
    }
}

impl Discriminator<2> for Judge {
    /// `[batch, 2] → [batch, 1]` logits.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for layer in &self.layers[..last] {
            h = ACTIVATION.forward(layer.forward(h));
        }
        self.layers[last].forward(h)
    }
}

impl InputGradient<2> for Judge {
    /// The transposed chain of the forward pass: start from the last layer's weight column
    /// (the gradient of the logit with respect to the last hidden layer), then for each
    /// hidden layer from the top multiply by the activation's derivative at that layer's
    /// pre-activation and by the transposed weight. `[batch, 2] → [batch, 2]`.
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let [batch, _] = x.dims();
        let weights: Vec<Tensor<2>> = self.layers.iter().map(|l| l.weight(false)).collect();
        let mut pre_activations = Vec::with_capacity(last);
        let mut h = x;
        for (layer, w) in self.layers[..last].iter().zip(&weights) {
            let pre = layer.forward_with(h, w.clone()); // [batch, d_out]
            h = ACTIVATION.forward(pre.clone());
            pre_activations.push(pre);
        }
        let mut g = weights[last].clone().transpose().expand([batch as i64, -1]); // [batch, hidden]
        for (w, pre) in weights[..last].iter().zip(pre_activations).rev() {
            g = g
                .mul(ACTIVATION.derivative(pre))
                .matmul(w.clone().transpose());
        }
        g
    }
}

/// The application's data: points on the circle of radius 1 around [`CENTRE`] with Gaussian
/// noise of standard deviation 0.05, every number drawn from the RNG it is given.
#[derive(Debug, Clone, Copy, Default)]
pub struct Circle;

impl Circle {
    /// `n` points, row-major `[n, 2]`, on the host.
    pub fn sample_host(n: usize, rng: &mut HostRng) -> Vec<f32> {
        let angles = rng.uniform_vec(n, 0.0, TAU);
        let noise = rng.normal_vec(2 * n);
        angles
            .iter()
            .enumerate()
            .flat_map(|(i, &a)| {
                [
                    CENTRE[0] + a.cos() + 0.05 * noise[2 * i],
                    CENTRE[1] + a.sin() + 0.05 * noise[2 * i + 1],
                ]
            })
            .collect()
    }
}

impl SampleSource<2> for Circle {
    fn sample(&mut self, batch: usize, rng: &mut HostRng, device: &Device) -> Tensor<2> {
        let points = Self::sample_host(batch, rng);
        Tensor::from_data(TensorData::new(points, [batch, 2]), device)
    }
}

/// The application's observer: one CSV line per reported step on a writer, kept in memory
/// too.
pub struct CsvLog<'a> {
    out: &'a mut dyn Write,
    /// Every step reported so far.
    pub rows: Vec<StepMetrics>,
}

impl<'a> CsvLog<'a> {
    /// A log that writes to `out`.
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self {
            out,
            rows: Vec::new(),
        }
    }

    fn write(&mut self, line: std::fmt::Arguments) -> Result<(), TrainError> {
        writeln!(self.out, "{line}").map_err(|e| TrainError::Output(format!("cannot log: {e}")))
    }
}

impl Observer for CsvLog<'_> {
    fn on_start(&mut self, info: &RunInfo) -> Result<(), TrainError> {
        self.write(format_args!(
            "# steps {}..={}\nstep,loss_d,loss_g,d_real,d_fake,penalty",
            info.start_step + 1,
            info.total_steps
        ))
    }

    fn on_step(&mut self, m: &StepMetrics) -> Result<(), TrainError> {
        self.write(format_args!(
            "{},{:.6},{:.6},{:.4},{:.4},{:.6}",
            m.step, m.loss_d, m.loss_g, m.d_real, m.d_fake, m.penalty
        ))?;
        self.rows.push(m.clone());
        Ok(())
    }
}

/// Appends every reported step to a JSON-lines file (`StepMetrics` is `Serialize`), flushed
/// line by line: the application owns its output formats, the trainer only reports.
struct JsonLines {
    path: PathBuf,
    file: std::fs::File,
}

impl JsonLines {
    fn append(path: PathBuf) -> Result<Self, TrainError> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| TrainError::io("cannot open", path.as_path(), e))?;
        Ok(Self { path, file })
    }
}

impl Observer for JsonLines {
    fn on_step(&mut self, m: &StepMetrics) -> Result<(), TrainError> {
        let line = serde_json::to_string(m).map_err(|e| TrainError::Output(e.to_string()))?;
        writeln!(self.file, "{line}").map_err(|e| TrainError::io("cannot write", &self.path, e))
    }
}

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "custom-models",
    about = "Train an application's own GAN modules with burngan"
)]
pub struct Args {
    /// Backend: ndarray, flex, wgpu, vulkan, metal or cuda (those compiled in).
    #[arg(long, default_value = "flex")]
    pub backend: String,
    /// Generator steps of the whole run.
    #[arg(long, default_value_t = 300)]
    pub steps: usize,
    /// `non-saturating` (Goodfellow's, one critic step) or `wgan-gp` (Wasserstein loss,
    /// gradient penalty λ = 10, five critic steps).
    #[arg(long, default_value = "non-saturating")]
    pub loss: String,
    /// Adam's learning rate for both networks (β₁ = 0.5, β₂ = 0.999 with non-saturating;
    /// β₁ = 0, β₂ = 0.9 with wgan-gp, as in the WGAN-GP paper).
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Real and fake samples per batch.
    #[arg(long, default_value_t = 128)]
    pub batch: usize,
    /// Seed of every random number: weights, data, noise.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Report every this many steps (and the last).
    #[arg(long, default_value_t = 10)]
    pub log_every: usize,
    /// Directory for `metrics.jsonl` and `checkpoints/`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue from the newest checkpoint in `--out`.
    #[arg(long)]
    pub resume: bool,
    /// Drive `GanTrainer::step` from the application's loop instead of `GanTrainer::fit`.
    #[arg(long)]
    pub own_loop: bool,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Report {
    /// Every reported step of this invocation.
    pub metrics: Vec<StepMetrics>,
    /// Generator steps done.
    pub steps: usize,
    /// The mean of 1,000 generated points, to compare with [`CENTRE`].
    pub sample_mean: [f64; 2],
    /// The generator's weights after the run, flattened in module order.
    pub generator_weights: Vec<f32>,
}

/// Why the application stopped.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A bad command line.
    #[error("{0}")]
    Usage(String),
    /// The backend cannot be used.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] TrainError),
}

impl AppError {
    /// 2 for usage errors (the command line, an unknown or compiled-out backend, a bad
    /// setting), 1 for run failures.
    pub fn exit_code(&self) -> u8 {
        let usage = match self {
            AppError::Usage(_) => true,
            AppError::Backend(e) => e.is_usage_error(),
            AppError::Train(e) => e.is_usage_error(),
        };
        if usage { 2 } else { 1 }
    }
}

/// Runs the application with `args` (the program name first), writing its CSV log and
/// summary to `out`. Returns `None` when only help or the version was printed.
pub fn run(args: &[String], out: &mut dyn Write) -> Result<Option<Report>, AppError> {
    let args = match Args::try_parse_from(args) {
        Ok(args) => args,
        Err(error) if !error.use_stderr() => {
            let _ = write!(out, "{error}");
            return Ok(None);
        }
        Err(error) => return Err(AppError::Usage(error.to_string().trim_end().to_string())),
    };
    train(&args, out).map(Some)
}

/// Trains as `args` say.
pub fn train(args: &Args, out: &mut dyn Write) -> Result<Report, AppError> {
    if args.resume && args.out.is_none() {
        return Err(AppError::Usage(
            "--resume needs --out DIR, the directory of the run to continue".into(),
        ));
    }
    let recipe = Recipe::for_loss(args)?;
    if args.steps == 0 {
        return Err(AppError::Usage("--steps must be at least 1".into()));
    }
    // The application picks the device; burngan only uses it.
    let kind: BackendKind = args.backend.parse()?;
    let device = burngan::backend::device(kind)?.autodiff();
    let checkpoints = args.out.as_ref().map(|dir| dir.join("checkpoints"));
    let mut trainer = build_trainer(args, recipe, checkpoints.clone(), &device)?;
    if args.resume
        && let Some(dir) = &checkpoints
    {
        resume(&mut trainer, dir, args.steps)?;
    }
    let mut log = CsvLog::new(out);
    match &args.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| TrainError::io("cannot create", dir.as_path(), e))?;
            let mut jsonl = JsonLines::append(dir.join("metrics.jsonl"))?;
            drive(
                &mut trainer,
                args,
                &mut [&mut log, &mut jsonl],
                checkpoints.as_deref(),
            )?;
        }
        None => drive(&mut trainer, args, &mut [&mut log], None)?,
    }
    let metrics = std::mem::take(&mut log.rows);
    let sample_mean = sample_mean(&trainer, args.seed);
    writeln!(
        log.out,
        "# {} steps on {}: generated mean ({:.3}, {:.3}), real centre ({}, {})",
        trainer.steps_done(),
        kind.name(),
        sample_mean[0],
        sample_mean[1],
        CENTRE[0],
        CENTRE[1]
    )
    .map_err(|e| TrainError::Output(format!("cannot log: {e}")))?;
    Ok(Report {
        metrics,
        steps: trainer.steps_done(),
        sample_mean,
        generator_weights: flat_weights(trainer.generator()),
    })
}

/// What `--loss` trains with: the loss, its penalty, critic steps per generator step and
/// the optimizer of both networks.
struct Recipe {
    loss: LossConfig,
    penalty: Option<PenaltyConfig>,
    critic_steps: usize,
    optimizer: OptimizerConfig,
}

impl Recipe {
    /// The recipe of `args.loss` at learning rate `args.lr`.
    fn for_loss(args: &Args) -> Result<Self, AppError> {
        let adam = |beta1, beta2| OptimizerConfig::adam(args.lr, beta1, beta2);
        match args.loss.as_str() {
            "non-saturating" => Ok(Self {
                loss: LossConfig::NonSaturating,
                penalty: None,
                critic_steps: 1,
                optimizer: adam(0.5, 0.999),
            }),
            "wgan-gp" => Ok(Self {
                loss: LossConfig::Wasserstein,
                penalty: Some(PenaltyConfig::WganGp {
                    weight: 10.0,
                    one_sided: false,
                }),
                critic_steps: 5,
                optimizer: adam(0.0, 0.9),
            }),
            other => Err(AppError::Usage(format!(
                "--loss {other} is not known; use non-saturating or wgan-gp"
            ))),
        }
    }
}

/// The application's networks, seeded by `--seed`, in a trainer with `recipe` that keeps two
/// checkpoints, one every 100 steps, in `checkpoints` (when given).
fn build_trainer(
    args: &Args,
    recipe: Recipe,
    checkpoints: Option<PathBuf>,
    device: &Device,
) -> Result<GanTrainer<Sketcher, Judge, 2>, AppError> {
    let mut rng = HostRng::seed_from(args.seed);
    let generator = Sketcher::new(64, &mut rng, device);
    let critic = Judge::new(64, &mut rng, device);
    let settings = TrainerSettings {
        batch_size: args.batch,
        critic_steps: recipe.critic_steps,
        generator_optimizer: recipe.optimizer.clone(),
        discriminator_optimizer: recipe.optimizer,
        seed: args.seed.wrapping_add(1),
        steps: args.steps,
        log_every: args.log_every,
        checkpoint: checkpoints.map(|dir| CheckpointPolicy {
            dir,
            every: 100,
            keep: 2,
        }),
        ..TrainerSettings::default()
    };
    let mut trainer = GanTrainer::new(generator, critic, recipe.loss.build(), &settings, device)?;
    if let Some(penalty) = recipe.penalty {
        trainer = trainer.with_penalty(penalty)?;
    }
    Ok(trainer)
}

/// Continues from the newest checkpoint in `dir`; a run that already reached `steps` is a
/// usage error.
fn resume(
    trainer: &mut GanTrainer<Sketcher, Judge, 2>,
    dir: &Path,
    steps: usize,
) -> Result<(), AppError> {
    let step = trainer.load_checkpoint(dir)?;
    if step >= steps {
        return Err(AppError::Usage(format!(
            "the run in {} already reached step {step}; pass --steps above {step}",
            dir.display()
        )));
    }
    Ok(())
}

/// The mean of 1,000 points of `trainer`'s generator (any critic), their latent codes drawn
/// from `seed ^ 0x5eed`.
pub fn sample_mean<C: Discriminator<2>>(
    trainer: &GanTrainer<Sketcher, C, 2>,
    seed: u64,
) -> [f64; 2] {
    let latent = HostRng::seed_from(seed ^ 0x5eed).normal_vec(1000 * LATENT_DIM);
    let samples = trainer.generate_host(&latent);
    let mean = |axis: usize| {
        samples
            .iter()
            .skip(axis)
            .step_by(2)
            .map(|&v| f64::from(v))
            .sum::<f64>()
            / 1000.0
    };
    [mean(0), mean(1)]
}

/// The training loop: `fit`, or the application's own loop over `step`.
fn drive(
    trainer: &mut GanTrainer<Sketcher, Judge, 2>,
    args: &Args,
    observers: &mut [&mut dyn Observer],
    checkpoints: Option<&Path>,
) -> Result<(), TrainError> {
    if !args.own_loop {
        trainer.fit(&mut Circle, observers)?;
        return Ok(());
    }
    let info = RunInfo {
        total_steps: args.steps,
        start_step: trainer.steps_done(),
    };
    for observer in observers.iter_mut() {
        observer.on_start(&info)?;
    }
    for step in trainer.steps_done() + 1..=args.steps {
        // The application's batch, drawn from the trainer's RNG so that one seed fixes the run.
        let device = trainer.device().clone();
        let real = Circle.sample(args.batch, trainer.rng_mut(), &device);
        let metrics = trainer.step(real)?;
        if step % args.log_every == 0 || step == args.steps {
            for observer in observers.iter_mut() {
                observer.on_step(&metrics)?;
            }
        }
    }
    if let Some(dir) = checkpoints {
        trainer.save_checkpoint(dir)?;
    }
    Ok(())
}

/// Every float parameter of `module`, flattened in module order.
pub fn flat_weights<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl burn::module::ModuleVisitor for Collect {
        fn visit_float<const R: usize>(&mut self, param: &burn::module::Param<Tensor<R>>) {
            let values = param.val().into_data().convert::<f32>();
            self.0.extend(values.iter::<f32>());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}
