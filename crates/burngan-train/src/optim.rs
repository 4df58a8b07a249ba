//! Optimizer configuration, with PyTorch's defaults so that presets mean what papers mean.

use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig};
use serde::{Deserialize, Serialize};

use crate::TrainError;

/// One network's optimizer, as written in `[optimizer.generator]` or
/// `[optimizer.discriminator]`:
///
/// ```toml
/// [optimizer.generator]
/// kind = "adam"     # lr required; beta1 0.9, beta2 0.999, epsilon 1e-8 by default
/// lr = 1e-4
/// beta1 = 0.5
/// ```
/// or `kind = "rmsprop"` (lr required; alpha 0.99, epsilon 1e-8, momentum 0 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba 2015).
    Adam {
        /// Learning rate.
        lr: f64,
        /// Decay of the first-moment estimate.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Decay of the second-moment estimate.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
    },
    /// RMSProp (Tieleman & Hinton 2012), the optimizer of the WGAN paper.
    #[serde(rename = "rmsprop")]
    RmsProp {
        /// Learning rate.
        lr: f64,
        /// Decay of the squared-gradient average.
        #[serde(default = "alpha")]
        alpha: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// Momentum (0 disables it).
        #[serde(default)]
        momentum: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn epsilon() -> f64 {
    1e-8
}
fn alpha() -> f64 {
    0.99
}

impl OptimizerConfig {
    /// The learning rate.
    pub fn learning_rate(&self) -> f64 {
        match *self {
            OptimizerConfig::Adam { lr, .. } | OptimizerConfig::RmsProp { lr, .. } => lr,
        }
    }

    /// Checks every coefficient; `section` prefixes the field names in messages.
    pub fn validate(&self, section: &str) -> Result<(), TrainError> {
        let check = |field: &str, value: f64, ok: bool, expected: &str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(TrainError::config(format!(
                    "{section}.{field} must be {expected}, got {value}"
                )))
            }
        };
        let lr = self.learning_rate();
        check("lr", lr, lr > 0.0, "a finite number > 0 (e.g. 1e-4)")?;
        match *self {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                check("beta1", beta1, (0.0..1.0).contains(&beta1), "in [0, 1)")?;
                check("beta2", beta2, (0.0..1.0).contains(&beta2), "in [0, 1)")?;
                check("epsilon", epsilon, epsilon > 0.0, "a finite number > 0")
            }
            OptimizerConfig::RmsProp {
                alpha,
                epsilon,
                momentum,
                ..
            } => {
                check("alpha", alpha, (0.0..1.0).contains(&alpha), "in [0, 1)")?;
                check("epsilon", epsilon, epsilon > 0.0, "a finite number > 0")?;
                check(
                    "momentum",
                    momentum,
                    (0.0..1.0).contains(&momentum),
                    "in [0, 1)",
                )
            }
        }
    }

    /// The Burn optimizer for one module.
    pub fn init(&self) -> ModuleOptimizer {
        match *self {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            } => AdamConfig::new()
                .with_beta_1(beta1 as f32)
                .with_beta_2(beta2 as f32)
                .with_epsilon(epsilon as f32)
                .init(),
            OptimizerConfig::RmsProp {
                alpha,
                epsilon,
                momentum,
                ..
            } => RmsPropConfig::new()
                .with_alpha(alpha as f32)
                .with_epsilon(epsilon as f32)
                .with_momentum(momentum as f32)
                .init(),
        }
    }
}
