//! The TOML run configuration: every option of a run in one file, with documented defaults.
//! Unknown fields are errors, and [`TrainConfig::validate`] rejects out-of-range values with a
//! message that names the field and the fix.

use std::path::{Path, PathBuf};

use burngan_augment::AugmentConfig;
use burngan_eval::ScoreSettings;
use burngan_losses::LossConfig;
use serde::{Deserialize, Deserializer, Serialize};

use crate::data::with_default_kind;
use crate::{AppError, DataConfig, DiscriminatorConfig, GeneratorConfig};
use burngan_train::{
    EmaRule, NonFinitePolicy, OptimizerConfig, PenaltyTerm, Schedule, Scheduled, Shape, UpdateOrder,
};

/// A complete training run. See `assets/configs/*.toml` for annotated presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The version of this schema the file is written in ([`CONFIG_FORMAT`], the default when
    /// absent). A file with a newer version is refused by [`TrainConfig::from_toml`] with a
    /// message saying so, before any other field is read.
    #[serde(default = "config_format")]
    pub format: u32,
    /// Seed, length and logging cadence.
    #[serde(default)]
    pub run: RunConfig,
    /// The real distribution: a toy mixture or images.
    pub data: DataConfig,
    /// The generator network (`kind` defaults to `"mlp"`).
    #[serde(deserialize_with = "mlp_by_default")]
    pub generator: GeneratorConfig,
    /// The discriminator network (`kind` defaults to `"mlp"`).
    #[serde(deserialize_with = "mlp_by_default")]
    pub discriminator: DiscriminatorConfig,
    /// The adversarial objective.
    pub loss: LossConfig,
    /// Gradient penalties added to the discriminator's loss: one `[penalty]` table or several
    /// `[[penalty]]` tables, each with `kind = "wgan-gp"`, `"r1"`, `"r2"` or `"dragan"`, a
    /// weight that may be a schedule, and `every = N` for a lazy penalty; the critic must be
    /// able to give its input gradient (no BatchNorm).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::penalty_tables::one_or_many",
        serialize_with = "crate::penalty_tables::serialize_terms"
    )]
    pub penalty: Vec<PenaltyTerm>,
    /// Batch size and the discriminator/generator step ratio.
    #[serde(default)]
    pub train: LoopConfig,
    /// One optimizer per network (different rates give TTUR).
    pub optimizer: OptimizersConfig,
    /// An exponential moving average of the generator's weights (`[ema]` with `decay`);
    /// samples, grids and exports then come from the average.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ema: Option<EmaConfig>,
    /// Periodic evaluation of the sampling generator (`[eval]` with `every`): image runs are
    /// scored with a feature network (FD, classifier score, precision/recall, …), toy runs by
    /// mode coverage; the values go into the step's `metrics.jsonl` line and `plots/eval.png`.
    /// Absent: no periodic evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval: Option<EvalConfig>,
    /// Differentiable augmentation of the critic's inputs (`[augment]`, image runs only):
    /// DiffAugment's operations with a fixed or adaptive probability. Absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
}

/// The version of the config schema this build reads and writes (`format = 1` at the top of a
/// config file; documented field by field in `docs/config.md`).
pub const CONFIG_FORMAT: u32 = 1;

fn config_format() -> u32 {
    CONFIG_FORMAT
}

/// Images generated for each periodic evaluation of an image run, by default.
pub const IMAGE_EVAL_SAMPLES: usize = 2_000;

/// The `[eval]` section: evaluate the sampling generator (the moving average when `[ema]` is
/// set) every `every` steps and at the last step. Evaluation draws nothing from the run's host
/// RNG and changes no module state, so a run trains identically with or without it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Evaluate at every step that is a multiple of this (and at the last step); an
    /// evaluation step is always a logged step.
    pub every: usize,
    /// Images (image runs, default [`IMAGE_EVAL_SAMPLES`]; StackedMNIST runs, default
    /// [`burngan_eval::STACKED_SAMPLES`], the mode metric's protocol) or points (toy runs,
    /// default [`burngan_metrics::TOY_EVAL_SAMPLES`]) per evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// The feature network's weights, image runs only (default
    /// [`burngan_eval::MNIST_CLASSIFIER`], relative to the repository root; its card, the
    /// `.json` of the same name, beside it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier: Option<PathBuf>,
    /// Seed of the evaluation's latent codes (default 0): the same codes at every evaluation,
    /// so the curve follows the generator rather than the noise.
    #[serde(default)]
    pub seed: u64,
}

impl EvalConfig {
    /// The samples per evaluation for `data`: `samples`, or the default of its kind.
    pub fn samples_for(&self, data: &DataConfig) -> usize {
        self.samples.unwrap_or(match data {
            DataConfig::Toy(_) => burngan_metrics::TOY_EVAL_SAMPLES,
            DataConfig::Images(images) if images.is_stacked() => burngan_eval::STACKED_SAMPLES,
            DataConfig::Images(_) => IMAGE_EVAL_SAMPLES,
        })
    }

    /// The feature network of an image run: `classifier`, or the shipped MNIST network.
    pub fn classifier_path(&self) -> PathBuf {
        self.classifier
            .clone()
            .unwrap_or_else(|| PathBuf::from(burngan_eval::MNIST_CLASSIFIER))
    }

    /// True when `step` of a `total`-step run is evaluated.
    pub fn due(&self, step: usize, total: usize) -> bool {
        step == total || (self.every > 0 && step.is_multiple_of(self.every))
    }

    /// Checks the section against the run's data.
    fn validate(&self, data: &DataConfig) -> Result<(), AppError> {
        if self.every == 0 {
            return Err(AppError::config(
                "eval.every must be a positive integer, got 0; evaluate every N steps (e.g. \
                 every = 250) or remove the [eval] section",
            ));
        }
        match data {
            DataConfig::Toy(toy) => {
                if let Some(path) = &self.classifier {
                    return Err(AppError::config(format!(
                        "eval.classifier = \"{}\" applies to image runs; a toy run (data.kind \
                         = \"{}\") is evaluated by mode coverage, so remove eval.classifier",
                        path.display(),
                        toy_kind(toy)
                    )));
                }
                if self.samples == Some(0) {
                    return Err(AppError::config(format!(
                        "eval.samples must be a positive integer, got 0 ({} is the \
                         VEEGAN/PacGAN protocol)",
                        burngan_metrics::TOY_EVAL_SAMPLES
                    )));
                }
            }
            DataConfig::Images(_) => {
                let minimum = ScoreSettings::default().k + 1;
                if let Some(samples) = self.samples
                    && samples < minimum
                {
                    return Err(AppError::config(format!(
                        "eval.samples must be at least {minimum} for image runs (precision and \
                         recall use {} nearest neighbours), got {samples}; {IMAGE_EVAL_SAMPLES} \
                         is the default",
                        minimum - 1
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The `[ema]` section: `decay` or `half_life`, not both (refused when parsed otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawEma")]
pub struct EmaConfig {
    /// θ_ema ← β·θ_ema + (1 − β)·θ after every generator update, β = decay (e.g. 0.999; a
    /// number or a schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay: Option<Scheduled>,
    /// Warm-up of `decay` (default true): β = min(decay, (1 + t)/(10 + t)) at update t, so
    /// early averages do not keep the initial weights for ~1/(1 − decay) steps.
    #[serde(default = "warmup")]
    pub warmup: bool,
    /// Instead of `decay`: the half-life in images, β = 0.5^(batch / half_life)
    /// (StyleGAN2-ADA: 10000; a number or a schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_life: Option<Scheduled>,
    /// With `half_life`: StyleGAN2-ADA's ramp-up r, half-life min(half_life, r · images seen)
    /// (StyleGAN2-ADA: 0.05); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<f64>,
}

/// `[ema]` as written, before the check that `decay` or `half_life` is given.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEma {
    decay: Option<Scheduled>,
    #[serde(default = "warmup")]
    warmup: bool,
    half_life: Option<Scheduled>,
    ramp: Option<f64>,
}

impl TryFrom<RawEma> for EmaConfig {
    type Error = String;

    fn try_from(raw: RawEma) -> Result<Self, String> {
        let config = EmaConfig {
            decay: raw.decay,
            warmup: raw.warmup,
            half_life: raw.half_life,
            ramp: raw.ramp,
        };
        config.rule().map_err(|e| match e {
            AppError::Config { message } => message,
            other => other.to_string(),
        })?;
        Ok(config)
    }
}

impl EmaConfig {
    /// The trainer's [`EmaRule`]; an error when neither or both of `decay` and `half_life`
    /// are given, or `ramp` comes without `half_life`.
    pub fn rule(&self) -> Result<EmaRule, AppError> {
        let rule = match (self.decay, self.half_life) {
            (Some(decay), None) if self.ramp.is_none() => EmaRule::Decay {
                decay,
                warmup: self.warmup,
            },
            (None, Some(images)) => EmaRule::HalfLife {
                images,
                ramp: self.ramp,
            },
            (Some(_), None) => {
                return Err(AppError::config(
                    "ema.ramp belongs to ema.half_life; remove it, or use half_life instead \
                     of decay",
                ));
            }
            _ => {
                return Err(AppError::config(
                    "[ema] needs exactly one of decay (e.g. 0.999) and half_life (in images, \
                     e.g. 10000)",
                ));
            }
        };
        rule.validate("ema")?;
        Ok(rule)
    }
}

fn warmup() -> bool {
    true
}

fn mlp_by_default<'de, T, D>(deserializer: D) -> Result<T, D::Error>
where
    T: serde::de::DeserializeOwned,
    D: Deserializer<'de>,
{
    with_default_kind(deserializer, "mlp")
}

/// The `[run]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Seed of the host RNG that draws weights, noise and data (default 0).
    pub seed: u64,
    /// Generator updates in the whole run (default 2000).
    pub steps: usize,
    /// Record metrics every this many steps; the last step is always recorded (default 10).
    pub log_every: usize,
    /// Plot generated samples every this many steps (default 500).
    pub sample_every: usize,
    /// Samples in each toy scatter plot, generated from the same fixed noise every time
    /// (default 1000). Image runs draw an 8×8 grid (one row of 8 per class when conditional).
    pub plot_samples: usize,
    /// Write a checkpoint every this many steps; 0 writes one only at the end of the run, at
    /// `--stop-at` and on Ctrl-C (default 500).
    pub checkpoint_every: usize,
    /// Checkpoints kept in `checkpoints/`, newest first (default 2).
    pub keep_checkpoints: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            steps: 2000,
            log_every: 10,
            sample_every: 500,
            plot_samples: 1000,
            checkpoint_every: 500,
            keep_checkpoints: 2,
        }
    }
}

/// The largest `train.batch_size` and `run.plot_samples` a config may ask for (2²⁰).
pub const MAX_SAMPLES: usize = 1 << 20;

/// The `[train]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Real and fake samples per batch (default 512).
    pub batch_size: usize,
    /// Discriminator updates per generator update, K in Goodfellow et al. (default 1).
    pub critic_steps: usize,
    /// `"constant"` (default) or `"linear"`: both learning rates decay linearly to zero over
    /// `run.steps`. Shorthand for `lr = { from = LR, to = 0.0, shape = "linear" }` in each
    /// optimizer section, which says the same and allows other schedules.
    pub lr_decay: LrDecay,
    /// `"stop"` (default): stop at a NaN or infinite loss or gradient norm; `"skip"`: check
    /// every update and skip a non-finite one ([`NonFinitePolicy`]).
    pub on_non_finite: NonFinitePolicy,
    /// Judge real and generated batches in one critic forward where the critic allows it
    /// (default false; [`TrainerSettings::stack_batches`](burngan_train::TrainerSettings)).
    pub stack_batches: bool,
    /// `"alternating"` (default) or `"simultaneous"`: whether the generator's update sees the
    /// discriminator after or before the step's discriminator update ([`UpdateOrder`]).
    pub updates: UpdateOrder,
}

/// The `train.lr_decay` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrDecay {
    /// No decay.
    #[default]
    Constant,
    /// Linear decay to zero at the last step.
    Linear,
}

impl Default for LoopConfig {
    fn default() -> Self {
        Self {
            batch_size: 512,
            critic_steps: 1,
            lr_decay: LrDecay::Constant,
            on_non_finite: NonFinitePolicy::Stop,
            stack_batches: false,
            updates: UpdateOrder::Alternating,
        }
    }
}

/// The `[optimizer.generator]` and `[optimizer.discriminator]` sections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizersConfig {
    /// The generator's optimizer.
    pub generator: OptimizerConfig,
    /// The discriminator's optimizer.
    pub discriminator: OptimizerConfig,
}

impl TrainConfig {
    /// Parses a config from TOML text; `origin` names the source in error messages.
    ///
    /// The `format` key is read first: a config written for a newer schema than
    /// [`CONFIG_FORMAT`] is an error naming both versions, not a list of unknown fields.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, AppError> {
        if let Ok(table) = text.parse::<toml::Table>()
            && let Some(format) = table.get("format")
        {
            match format.as_integer() {
                Some(version) if (1..=i64::from(CONFIG_FORMAT)).contains(&version) => {}
                Some(version) if version > i64::from(CONFIG_FORMAT) => {
                    return Err(AppError::config(format!(
                        "{origin}: config format {version} is newer than this build of burngan \
                         reads (format {CONFIG_FORMAT}); upgrade burngan, or rewrite the file \
                         for format {CONFIG_FORMAT} (docs/config.md)"
                    )));
                }
                _ => {
                    return Err(AppError::config(format!(
                        "{origin}: format must be a positive integer (this build reads format \
                         {CONFIG_FORMAT}), got {format}"
                    )));
                }
            }
        }
        toml::from_str(text).map_err(|error| {
            let culprit = culprit_key(text, &error)
                .map(|key| format!("the value at fault is `{key}`\n"))
                .unwrap_or_default();
            AppError::Config {
                message: format!("{origin}: {error}{culprit}"),
            }
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(path).map_err(|error| AppError::Config {
            message: format!(
                "cannot read config file {}: {error}; pass an existing TOML file, e.g. \
                 --config assets/configs/ring8-ns.toml",
                path.display()
            ),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The fully resolved config as TOML, defaults included.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|error| format!("# unserialisable: {error}"))
    }

    /// `optimizer` as the run uses it: with `train.lr_decay = "linear"`, its constant learning
    /// rate becomes a linear schedule to zero over `run.steps`.
    pub fn optimizer_for(&self, optimizer: &OptimizerConfig) -> OptimizerConfig {
        let mut optimizer = optimizer.clone();
        if self.train.lr_decay == LrDecay::Linear
            && let Scheduled::Fixed(lr) = *optimizer.learning_rate()
        {
            *optimizer.learning_rate_mut() = Scheduled::Ramp(Schedule {
                from: lr,
                to: Some(0.0),
                shape: Shape::Linear,
                warmup: 0,
                steps: None,
                every: None,
                factor: None,
            });
        }
        optimizer
    }

    /// Checks every value; the error names the field, the value and the fix.
    pub fn validate(&self) -> Result<(), AppError> {
        let positive = crate::error::require_positive;
        positive("run.steps", self.run.steps)?;
        positive("run.log_every", self.run.log_every)?;
        positive("run.sample_every", self.run.sample_every)?;
        positive("run.plot_samples", self.run.plot_samples)?;
        positive("train.batch_size", self.train.batch_size)?;
        // A batch beyond this cannot be allocated on any machine burngan runs on; refusing it
        // here keeps an --overwrite from deleting the earlier run first.
        for (field, value) in [
            ("train.batch_size", self.train.batch_size),
            ("run.plot_samples", self.run.plot_samples),
        ] {
            if value > MAX_SAMPLES {
                return Err(AppError::config(format!(
                    "{field} must be between 1 and {MAX_SAMPLES}, got {value}"
                )));
            }
        }
        positive("train.critic_steps", self.train.critic_steps)?;
        if self.train.updates == UpdateOrder::Simultaneous && self.train.critic_steps != 1 {
            return Err(AppError::config(format!(
                "train.updates = \"simultaneous\" takes both gradients at one point, so it \
                 needs train.critic_steps = 1, got {}; set critic_steps = 1 or use \
                 updates = \"alternating\"",
                self.train.critic_steps
            )));
        }
        self.optimizer.generator.validate("optimizer.generator")?;
        self.optimizer
            .discriminator
            .validate("optimizer.discriminator")?;
        self.loss.validate().map_err(AppError::config)?;
        positive("run.keep_checkpoints", self.run.keep_checkpoints)?;
        if let Some(ema) = &self.ema {
            ema.rule()?;
        }
        self.validate_schedules()?;
        if let Some(eval) = &self.eval {
            eval.validate(&self.data)?;
        }
        if let DataConfig::Images(images) = &self.data {
            images.validate_limit()?;
        }
        self.validate_penalties()?;
        self.validate_augment()?;
        self.validate_networks()
    }

    /// `[augment]`: valid values, and image data (its operations work on images).
    fn validate_augment(&self) -> Result<(), AppError> {
        let Some(augment) = &self.augment else {
            return Ok(());
        };
        if let DataConfig::Toy(toy) = &self.data {
            return Err(AppError::config(format!(
                "[augment] augments images (colour, translation, cutout), but data.kind = \
                 \"{}\" is toy 2-D data; remove the [augment] section, or train on images \
                 (data.kind = \"images\")",
                toy_kind(toy)
            )));
        }
        augment
            .validate()
            .map_err(|e| AppError::config(e.to_string()))
    }

    /// `train.lr_decay = "linear"` only over constant learning rates.
    fn validate_schedules(&self) -> Result<(), AppError> {
        if self.train.lr_decay == LrDecay::Linear {
            for (section, optimizer) in [
                ("optimizer.generator", &self.optimizer.generator),
                ("optimizer.discriminator", &self.optimizer.discriminator),
            ] {
                if !optimizer.learning_rate().is_fixed() {
                    return Err(AppError::config(format!(
                        "train.lr_decay = \"linear\" applies to a constant learning rate, but \
                         {section}.lr is a schedule; remove train.lr_decay and write the decay \
                         in the schedule (lr = {{ from = …, to = 0.0, shape = \"linear\" }})"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Each penalty's values, a critic that can give its input gradient, and a constraint for
    /// the unclipped Wasserstein loss.
    fn validate_penalties(&self) -> Result<(), AppError> {
        for (i, term) in self.penalty.iter().enumerate() {
            let field = match self.penalty.len() {
                1 => "penalty".to_string(),
                _ => format!("penalty[{i}]"),
            };
            term.validate(&field)?;
            if let Some(layer) = self.discriminator.input_gradient_blocker() {
                return Err(AppError::config(format!(
                    "penalty.kind = \"{}\" needs the critic's input gradient, which {layer} \
                     cannot provide (BatchNorm mixes the samples of a batch); set \
                     discriminator.normalization to \"none\" or \"spectral\", or remove the \
                     [penalty] section",
                    term.name()
                )));
            }
        }
        if self.loss == LossConfig::Wasserstein
            && self.penalty.is_empty()
            && !self.discriminator.spectral()
        {
            return Err(AppError::config(
                "loss.kind = \"wasserstein\" leaves the critic unconstrained; add a [penalty] \
                 section (kind = \"wgan-gp\"), enable spectral normalisation in the \
                 discriminator, or use loss.kind = \"wgan\" for weight clipping",
            ));
        }
        Ok(())
    }

    /// The networks fit the data (toy MLPs or image networks, matching classes and shapes).
    fn validate_networks(&self) -> Result<(), AppError> {
        let model_error = |e: burngan_models::ModelError| AppError::config(e.to_string());
        let (g_kind, d_kind) = (self.generator.kind(), self.discriminator.kind());
        match &self.data {
            DataConfig::Toy(toy) => {
                let data = toy.build().map_err(|e| AppError::config(e.to_string()))?;
                let dim = data.centres().first().map_or(2, |c| c.len());
                match (&self.generator, &self.discriminator) {
                    (GeneratorConfig::Mlp(g), DiscriminatorConfig::Mlp(d)) => {
                        g.validate(dim).map_err(model_error)?;
                        d.validate(dim).map_err(model_error)?;
                        d.validate_batch(self.train.batch_size).map_err(model_error)
                    }
                    _ => Err(AppError::config(format!(
                        "toy data (data.kind = \"{}\") needs generator.kind and \
                         discriminator.kind = \"mlp\", got \"{g_kind}\" and \"{d_kind}\"; \
                         use [data] kind = \"images\" for image networks",
                        toy_kind(toy)
                    ))),
                }
            }
            DataConfig::Images(images) => {
                if g_kind == "mlp" || d_kind == "mlp" {
                    return Err(AppError::config(format!(
                        "image data needs image networks, got generator.kind = \"{g_kind}\" and \
                         discriminator.kind = \"{d_kind}\"; use \"image-mlp\", \"dcgan\", \
                         \"resnet\", \"r3gan\", \"conditional-dcgan\" (generator) or \
                         \"projection\" (discriminator)"
                    )));
                }
                let (g_classes, d_classes) = (
                    self.generator.num_classes(),
                    self.discriminator.num_classes(),
                );
                if g_classes != d_classes {
                    return Err(AppError::config(format!(
                        "a class-conditional run needs generator.kind = \"conditional-dcgan\" and \
                         discriminator.kind = \"projection\" with the same num_classes, got \
                         \"{g_kind}\" with {g_classes} classes and \"{d_kind}\" with {d_classes}"
                    )));
                }
                let shape = images.shape();
                self.generator.validate_image(shape).map_err(model_error)?;
                self.discriminator
                    .validate_image(shape)
                    .map_err(model_error)
            }
        }
    }
}

fn toy_kind(toy: &burngan_data::ToyConfig) -> &'static str {
    match toy {
        burngan_data::ToyConfig::Ring { .. } => "ring",
        burngan_data::ToyConfig::Grid { .. } => "grid",
    }
}

/// The dotted key (`generator.latent_dim`) of the value behind `error`, when toml points at a
/// section's header instead of the key: a section chosen by `kind` is read through serde's
/// internally tagged enums, whose errors lose the position of the value. The key at fault is
/// the one whose removal changes the error or moves it to another section (the field then
/// defaults, or is reported missing).
/// `None` when the error already points at a key, or no single key accounts for it.
fn culprit_key(text: &str, error: &toml::de::Error) -> Option<String> {
    let header = text.get(error.span()?)?.trim();
    let path = header.strip_prefix('[')?.strip_suffix(']')?;
    if path.starts_with('[') {
        return None;
    }
    let path: Vec<&str> = path
        .split('.')
        .map(|part| part.trim().trim_matches('"'))
        .collect();
    let document = text.parse::<toml::Table>().ok()?;
    let mut section = &document;
    for part in &path {
        section = section.get(*part)?.as_table()?;
    }
    let message = error.message();
    let mut culprits = section
        .keys()
        .filter(|key| key.as_str() != "kind")
        .filter(|key| {
            let mut edited = document.clone();
            let mut table = &mut edited;
            for part in &path {
                let Some(toml::Value::Table(inner)) = table.get_mut(*part) else {
                    return false;
                };
                table = inner;
            }
            table.remove(key.as_str());
            let Ok(edited) = toml::to_string(&edited) else {
                return false;
            };
            match toml::from_str::<TrainConfig>(&edited) {
                Ok(_) => true,
                // The same error from another section (the same mistake made twice) does
                // not make this key innocent.
                Err(other) => {
                    let at = other.span().and_then(|span| edited.get(span));
                    other.message() != message || at.map(str::trim) != Some(header)
                }
            }
        });
    let key = culprits.next()?;
    if culprits.next().is_some() {
        return None;
    }
    Some(format!("{}.{key}", path.join(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [data]
        kind = "ring"
        [generator]
        latent_dim = 2
        hidden = [8]
        [discriminator]
        hidden = [8]
        [loss]
        kind = "minimax"
        [optimizer.generator]
        kind = "adam"
        lr = 1e-3
        [optimizer.discriminator]
        kind = "rmsprop"
        lr = 5e-5
    "#;

    #[test]
    fn the_format_version_defaults_to_this_builds_and_a_newer_one_is_refused_first() {
        let config = TrainConfig::from_toml(MINIMAL, "test").unwrap();
        assert_eq!(config.format, CONFIG_FORMAT);
        assert!(
            config
                .to_toml()
                .starts_with(&format!("format = {CONFIG_FORMAT}\n"))
        );
        let explicit = format!("format = {CONFIG_FORMAT}\n{MINIMAL}");
        assert_eq!(TrainConfig::from_toml(&explicit, "test").unwrap(), config);
        // A newer file may have fields this build does not know: the version is named, not
        // the unknown field.
        let newer = format!(
            "format = {}\n{MINIMAL}\n[future]\nx = 1\n",
            CONFIG_FORMAT + 1
        );
        let error = TrainConfig::from_toml(&newer, "new.toml").unwrap_err();
        assert!(error.is_usage_error());
        let message = error.to_string();
        assert!(
            message.contains("new.toml")
                && message.contains(&format!("config format {}", CONFIG_FORMAT + 1))
                && message.contains("upgrade burngan"),
            "{message}"
        );
        for bad in ["0", "-3", "\"one\"", "1.5"] {
            let text = format!("format = {bad}\n{MINIMAL}");
            let message = TrainConfig::from_toml(&text, "bad.toml")
                .unwrap_err()
                .to_string();
            assert!(
                message.contains("format must be a positive integer"),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn defaults_fill_every_omitted_field_and_round_trip() {
        let config = TrainConfig::from_toml(MINIMAL, "test").unwrap();
        assert_eq!(config.run, RunConfig::default());
        assert_eq!(config.train.batch_size, 512);
        assert_eq!(
            config.data,
            DataConfig::Toy(burngan_data::ToyConfig::default_ring())
        );
        assert_eq!(config.loss, LossConfig::Minimax);
        config.validate().unwrap();
        let again = TrainConfig::from_toml(&config.to_toml(), "resolved").unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn unknown_fields_are_errors_that_name_the_field() {
        for (extra, field) in [
            ("[train]\nbatchsize = 3\n", "batchsize"),
            ("[run]\nseeds = 3\n", "seeds"),
            ("[extra]\nx = 1\n", "extra"),
        ] {
            let text = format!("{MINIMAL}\n{extra}");
            let message = TrainConfig::from_toml(&text, "test")
                .unwrap_err()
                .to_string();
            assert!(
                message.contains(&format!("unknown field `{field}`")),
                "{message}"
            );
        }
        let text = MINIMAL.replace("kind = \"ring\"", "kind = \"ring\"\nradiuss = 2");
        let message = TrainConfig::from_toml(&text, "test")
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown field `radiuss`"), "{message}");
    }

    #[test]
    fn a_wrong_type_in_a_kind_section_names_the_key() {
        // toml points at the section's header here; the key comes from `culprit_key`.
        for (from, to, key) in [
            ("lr = 1e-3", "lr = \"fast\"", "optimizer.generator.lr"),
            ("lr = 5e-5", "lr = [5]", "optimizer.discriminator.lr"),
            (
                "kind = \"ring\"",
                "kind = \"ring\"\nmodes = -8",
                "data.modes",
            ),
        ] {
            let message = TrainConfig::from_toml(&MINIMAL.replace(from, to), "test")
                .unwrap_err()
                .to_string();
            assert!(
                message.contains(&format!("the value at fault is `{key}`")),
                "{to}: {message}"
            );
        }
        // The same mistake in two sections: each is named when it is the one reported.
        let twice = MINIMAL
            .replace("lr = 1e-3", "lr = \"x\"")
            .replace("lr = 5e-5", "lr = \"x\"");
        let message = TrainConfig::from_toml(&twice, "test")
            .unwrap_err()
            .to_string();
        let section = if message.contains("[optimizer.discriminator]") {
            "discriminator"
        } else {
            "generator"
        };
        assert!(
            message.contains(&format!("the value at fault is `optimizer.{section}.lr`")),
            "{message}"
        );
        // An error toml already places at the key gets no extra line.
        let message =
            TrainConfig::from_toml(&format!("{MINIMAL}\n[train]\nbatch_size = \"9\""), "test")
                .unwrap_err()
                .to_string();
        assert!(message.contains("batch_size = \"9\""), "{message}");
        assert!(!message.contains("the value at fault"), "{message}");
    }

    #[test]
    fn out_of_range_values_name_the_field() {
        let cases = [
            (
                "[train]\nbatch_size = 0\n",
                "train.batch_size must be a positive integer",
            ),
            (
                "[train]\ncritic_steps = 0\n",
                "train.critic_steps must be a positive integer",
            ),
            ("[run]\nsteps = 0\n", "run.steps must be a positive integer"),
            (
                "[train]\ncritic_steps = 5\nupdates = \"simultaneous\"\n",
                "train.updates = \"simultaneous\" takes both gradients at one point, so it \
                 needs train.critic_steps = 1, got 5",
            ),
        ];
        for (extra, expected) in cases {
            let config = TrainConfig::from_toml(&format!("{MINIMAL}\n{extra}"), "t").unwrap();
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
        // A PacGAN-style init parses; a zero standard deviation is refused, naming the key.
        let normal = MINIMAL.replace("latent_dim = 2", "latent_dim = 2\ninit = { normal = 0.02 }");
        TrainConfig::from_toml(&normal, "t")
            .unwrap()
            .validate()
            .unwrap();
        let zero = TrainConfig::from_toml(&normal.replace("0.02", "0.0"), "t").unwrap();
        let message = zero.validate().unwrap_err().to_string();
        assert!(
            message.contains("generator.init: the normal's standard deviation must be positive"),
            "{message}"
        );
        let config = TrainConfig::from_toml(&MINIMAL.replace("1e-3", "-1e-3"), "t").unwrap();
        let message = config.validate().unwrap_err().to_string();
        assert!(
            message.contains("optimizer.generator.lr must be a finite number > 0"),
            "{message}"
        );
        let negative = format!("{MINIMAL}\n[train]\nbatch_size = -4\n");
        let message = TrainConfig::from_toml(&negative, "t")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("batch_size") && message.contains("-4"),
            "{message}"
        );
    }

    const IMAGES: &str = r#"
        [data]
        kind = "images"
        [generator]
        kind = "dcgan"
        [discriminator]
        kind = "dcgan"
        [loss]
        kind = "hinge"
        [optimizer.generator]
        kind = "adam"
        lr = 1e-4
        [optimizer.discriminator]
        kind = "adam"
        lr = 4e-4
        [ema]
        decay = 0.999
    "#;

    #[test]
    fn image_configs_default_to_the_shipped_digits_and_round_trip() {
        let config = TrainConfig::from_toml(IMAGES, "test").unwrap();
        let DataConfig::Images(images) = &config.data else {
            panic!("image data expected");
        };
        assert_eq!(images, &crate::ImageDataConfig::default());
        assert_eq!(images.shape(), [1, 28, 28]);
        assert_eq!(config.generator.kind(), "dcgan");
        config.validate().unwrap();
        let again = TrainConfig::from_toml(&config.to_toml(), "resolved").unwrap();
        assert_eq!(again, config);
        // DCGAN's own initialisation on both networks survives the resolved config; a
        // negative standard deviation is refused naming the key.
        let normal = IMAGES.replace(
            "kind = \"dcgan\"",
            "kind = \"dcgan\"\ninit = { normal = 0.02 }",
        );
        let config = TrainConfig::from_toml(&normal, "test").unwrap();
        let GeneratorConfig::Dcgan(generator) = &config.generator else {
            panic!("a DCGAN generator expected");
        };
        assert_eq!(generator.init, burngan_models::Init::Normal(0.02));
        let again = TrainConfig::from_toml(&config.to_toml(), "resolved").unwrap();
        assert_eq!(again, config);
        let bad = TrainConfig::from_toml(&normal.replacen("0.02", "-0.02", 2), "t").unwrap();
        let message = bad.validate().unwrap_err().to_string();
        assert!(message.contains("generator.init: the normal's standard deviation must be positive and finite, got -0.02"), "{message}");
    }

    #[test]
    fn data_and_networks_must_fit_together() {
        let cases = [
            (
                IMAGES.replace("kind = \"images\"", "kind = \"disc\""),
                "unknown data kind `disc`",
            ),
            (
                MINIMAL.replace("[generator]", "[generator]\nkind = \"dcgan\""),
                "invalid type: sequence, expected usize",
            ),
            (
                IMAGES.replace(
                    "[data]\n        kind = \"images\"",
                    "[data]\nkind = \"ring\"",
                ),
                "toy data (data.kind = \"ring\") needs generator.kind",
            ),
            (
                IMAGES.replacen(
                    "kind = \"dcgan\"",
                    "kind = \"mlp\"\nlatent_dim = 2\nhidden = [4]",
                    1,
                ),
                "image data needs image networks",
            ),
            (
                IMAGES.replacen(
                    "kind = \"dcgan\"",
                    "kind = \"conditional-dcgan\"\nnum_classes = 10",
                    1,
                ),
                "a class-conditional run needs",
            ),
            (
                IMAGES.replace("0.999", "1.5"),
                "ema.decay must be in [0, 1)",
            ),
            (
                IMAGES.replace(
                    "[data]\n        kind = \"images\"",
                    "[data]\nkind = \"images\"\nsize = [30, 30]",
                ),
                "multiple of 4, got 30×30",
            ),
        ];
        for (text, expected) in cases {
            let message = match TrainConfig::from_toml(&text, "t") {
                Ok(config) => config.validate().unwrap_err().to_string(),
                Err(error) => error.to_string(),
            };
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
    }

    #[test]
    fn the_eval_section_is_optional_checked_and_round_trips() {
        let config = TrainConfig::from_toml(MINIMAL, "t").unwrap();
        assert_eq!(config.eval, None);
        assert!(!config.to_toml().contains("[eval]"));

        let toy = TrainConfig::from_toml(&format!("{MINIMAL}\n[eval]\nevery = 50\n"), "t").unwrap();
        toy.validate().unwrap();
        let eval = toy.eval.clone().unwrap();
        assert_eq!((eval.every, eval.samples, eval.seed), (50, None, 0));
        assert_eq!(
            eval.samples_for(&toy.data),
            burngan_metrics::TOY_EVAL_SAMPLES
        );
        assert!(eval.due(100, 1000) && eval.due(999, 999) && !eval.due(99, 1000));
        assert_eq!(TrainConfig::from_toml(&toy.to_toml(), "r").unwrap(), toy);

        let images = format!(
            "{IMAGES}\n[eval]\nevery = 25\nsamples = 500\nseed = 9\nclassifier = \"x/c.bpk\"\n"
        );
        let images = TrainConfig::from_toml(&images, "t").unwrap();
        images.validate().unwrap();
        let eval = images.eval.clone().unwrap();
        assert_eq!(eval.samples_for(&images.data), 500);
        assert_eq!(eval.classifier_path(), PathBuf::from("x/c.bpk"));
        assert_eq!(
            TrainConfig::from_toml(&images.to_toml(), "r").unwrap(),
            images
        );
        let default = TrainConfig::from_toml(&format!("{IMAGES}\n[eval]\nevery = 5\n"), "t")
            .unwrap()
            .eval
            .unwrap();
        assert_eq!(default.samples_for(&images.data), IMAGE_EVAL_SAMPLES);
        // StackedMNIST's default is the mode protocol's sample count, 26,000.
        let stacked = DataConfig::Images(crate::ImageDataConfig::stacked_mnist("digits.gz"));
        assert_eq!(default.samples_for(&stacked), 26_000);
        assert_eq!(
            default.classifier_path(),
            PathBuf::from(burngan_eval::MNIST_CLASSIFIER)
        );

        let cases = [
            (
                format!("{MINIMAL}\n[eval]\nevery = 0\n"),
                "eval.every must be a positive integer, got 0",
            ),
            (
                format!("{MINIMAL}\n[eval]\nevery = 5\nclassifier = \"c.bpk\"\n"),
                "eval.classifier = \"c.bpk\" applies to image runs",
            ),
            (
                format!("{MINIMAL}\n[eval]\nevery = 5\nsamples = 0\n"),
                "eval.samples must be a positive integer, got 0",
            ),
            (
                format!("{IMAGES}\n[eval]\nevery = 5\nsamples = 3\n"),
                "eval.samples must be at least 4 for image runs",
            ),
        ];
        for (text, expected) in cases {
            let message = TrainConfig::from_toml(&text, "t")
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string();
            assert!(message.contains(expected), "{expected:?} not in {message}");
        }
        let message = TrainConfig::from_toml(&format!("{MINIMAL}\n[eval]\nevry = 5\n"), "t")
            .unwrap_err()
            .to_string();
        assert!(message.contains("unknown field `evry`"), "{message}");
    }
}
