//! The TOML run configuration: every option of a run in one file, with documented defaults.
//! Unknown fields are errors, and [`TrainConfig::validate`] rejects out-of-range values with a
//! message that names the field and the fix.

use std::path::Path;

use burngan_data::ToyConfig;
use burngan_losses::{LossConfig, PenaltyConfig};
use burngan_models::{MlpDiscriminatorConfig, MlpGeneratorConfig, Normalization};
use serde::{Deserialize, Serialize};

use crate::{OptimizerConfig, TrainError};

/// A complete training run. See `assets/configs/*.toml` for annotated presets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seed, length and logging cadence.
    #[serde(default)]
    pub run: RunConfig,
    /// The real distribution.
    pub data: ToyConfig,
    /// The generator network.
    pub generator: MlpGeneratorConfig,
    /// The discriminator network.
    pub discriminator: MlpDiscriminatorConfig,
    /// The adversarial objective.
    pub loss: LossConfig,
    /// An optional gradient penalty added to the discriminator's loss (`[penalty]` with `kind =
    /// "wgan-gp"`, `"r1"`, `"r2"` or `"dragan"`); the critic must be able to give its input
    /// gradient (no BatchNorm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub penalty: Option<PenaltyConfig>,
    /// Batch size and the discriminator/generator step ratio.
    #[serde(default)]
    pub train: LoopConfig,
    /// One optimizer per network.
    pub optimizer: OptimizersConfig,
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
    /// Samples in each plot, generated from the same fixed noise every time (default 1000).
    pub plot_samples: usize,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            steps: 2000,
            log_every: 10,
            sample_every: 500,
            plot_samples: 1000,
        }
    }
}

/// The `[train]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoopConfig {
    /// Real and fake samples per batch (default 512).
    pub batch_size: usize,
    /// Discriminator updates per generator update, K in Goodfellow et al. (default 1).
    pub critic_steps: usize,
    /// `"constant"` (default) or `"linear"`: both learning rates decay linearly to zero over
    /// `run.steps`.
    pub lr_decay: LrDecay,
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
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, TrainError> {
        toml::from_str(text).map_err(|error| TrainError::Config {
            message: format!("{origin}: {error}"),
        })
    }

    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(|error| TrainError::Config {
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

    /// Checks every value; the error names the field, the value and the fix.
    pub fn validate(&self) -> Result<(), TrainError> {
        let positive = |field: &str, value: usize| {
            if value == 0 {
                Err(TrainError::config(format!(
                    "{field} must be a positive integer, got 0"
                )))
            } else {
                Ok(())
            }
        };
        positive("run.steps", self.run.steps)?;
        positive("run.log_every", self.run.log_every)?;
        positive("run.sample_every", self.run.sample_every)?;
        positive("run.plot_samples", self.run.plot_samples)?;
        positive("train.batch_size", self.train.batch_size)?;
        positive("train.critic_steps", self.train.critic_steps)?;
        self.optimizer.generator.validate("optimizer.generator")?;
        self.optimizer
            .discriminator
            .validate("optimizer.discriminator")?;
        self.loss.validate().map_err(TrainError::config)?;
        if let Some(penalty) = &self.penalty {
            penalty.validate().map_err(TrainError::config)?;
            if let Some(layer) = self.discriminator.input_gradient_blocker() {
                return Err(TrainError::config(format!(
                    "penalty.kind = \"{}\" needs the critic's input gradient, which {layer} \
                     cannot provide (BatchNorm mixes the samples of a batch); set \
                     discriminator.normalization to \"none\" or \"spectral\", or remove the \
                     [penalty] section",
                    penalty.name()
                )));
            }
        }
        if self.loss == LossConfig::Wasserstein
            && self.penalty.is_none()
            && self.discriminator.normalization != Normalization::Spectral
        {
            return Err(TrainError::config(
                "loss.kind = \"wasserstein\" leaves the critic unconstrained; add a [penalty] \
                 section (kind = \"wgan-gp\"), set discriminator.normalization = \"spectral\", \
                 or use loss.kind = \"wgan\" for weight clipping",
            ));
        }
        let data = self
            .data
            .build()
            .map_err(|e| TrainError::config(e.to_string()))?;
        let dim = data.centres().first().map_or(2, |c| c.len());
        self.generator
            .validate(dim)
            .map_err(|e| TrainError::config(e.to_string()))?;
        self.discriminator
            .validate(dim)
            .map_err(|e| TrainError::config(e.to_string()))
    }
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
    fn defaults_fill_every_omitted_field_and_round_trip() {
        let config = TrainConfig::from_toml(MINIMAL, "test").unwrap();
        assert_eq!(config.run, RunConfig::default());
        assert_eq!(config.train.batch_size, 512);
        assert_eq!(config.data, ToyConfig::default_ring());
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
        ];
        for (extra, expected) in cases {
            let config = TrainConfig::from_toml(&format!("{MINIMAL}\n{extra}"), "t").unwrap();
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
        }
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
}
