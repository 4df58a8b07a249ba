//! The optimizer section of a config, `[optimizer.generator]` or `[optimizer.discriminator]`,
//! with PyTorch's defaults so that presets mean what papers mean; every coefficient that a
//! recipe ramps (learning rate, β₁, β₂) may be a [`Scheduled`] value.

use serde::{Deserialize, Serialize};

use super::rules::{Adam, AdamW, RmsProp, Sgd};
use super::{GradientClip, Optimizer};
use crate::{Scheduled, TrainError};

/// One network's optimizer, as written in `[optimizer.generator]` or
/// `[optimizer.discriminator]`:
///
/// ```toml
/// [optimizer.generator]
/// kind = "adam"     # lr required; beta1 0.9, beta2 0.999, epsilon 1e-8 by default
/// lr = { from = 2e-4, to = 0.0, shape = "cosine", warmup = 500 }
/// beta1 = 0.5
/// clip = { norm = 1.0 }   # optional: gradient clipping by global norm, or { value = 0.01 }
/// ```
/// or `kind = "adamw"` (as Adam, plus `weight_decay`, default 0.01; epsilon 1e-8),
/// `kind = "rmsprop"` (alpha 0.99, epsilon 1e-8, momentum 0), `kind = "sgd"` (momentum 0,
/// dampening 0, nesterov false, weight_decay 0). `lr`, `beta1` and `beta2` may be schedules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba 2015).
    Adam {
        /// Learning rate.
        lr: Scheduled,
        /// Decay of the first-moment estimate.
        #[serde(default = "beta1")]
        beta1: Scheduled,
        /// Decay of the second-moment estimate.
        #[serde(default = "beta2")]
        beta2: Scheduled,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// Optional gradient clipping, applied before the update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<GradientClip>,
    },
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay,
    /// θ ← θ·(1 − lr·λ) − lr·m̂/(√v̂ + ε).
    #[serde(rename = "adamw")]
    AdamW {
        /// Learning rate.
        lr: Scheduled,
        /// Decay of the first-moment estimate.
        #[serde(default = "beta1")]
        beta1: Scheduled,
        /// Decay of the second-moment estimate.
        #[serde(default = "beta2")]
        beta2: Scheduled,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// λ, the decoupled weight decay (default 0.01, PyTorch's).
        #[serde(default = "weight_decay")]
        weight_decay: f64,
        /// Optional gradient clipping, applied before the update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<GradientClip>,
    },
    /// RMSProp (Tieleman & Hinton 2012), the optimizer of the WGAN paper.
    #[serde(rename = "rmsprop")]
    RmsProp {
        /// Learning rate.
        lr: Scheduled,
        /// Decay of the squared-gradient average.
        #[serde(default = "alpha")]
        alpha: f64,
        /// Added to the denominator for numerical stability.
        #[serde(default = "epsilon")]
        epsilon: f64,
        /// Momentum (0 disables it).
        #[serde(default)]
        momentum: f64,
        /// Optional gradient clipping, applied before the update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<GradientClip>,
    },
    /// Stochastic gradient descent with optional momentum (heavy ball or Nesterov) and L2
    /// weight decay added to the gradient.
    Sgd {
        /// Learning rate.
        lr: Scheduled,
        /// μ, the momentum (0 disables it).
        #[serde(default)]
        momentum: f64,
        /// The dampening of the momentum (PyTorch's default 0).
        #[serde(default)]
        dampening: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 weight decay added to the gradient (λ·θ).
        #[serde(default)]
        weight_decay: f64,
        /// Optional gradient clipping, applied before the update.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        clip: Option<GradientClip>,
    },
}

fn beta1() -> Scheduled {
    Scheduled::Fixed(0.9)
}
fn beta2() -> Scheduled {
    Scheduled::Fixed(0.999)
}
fn epsilon() -> f64 {
    1e-8
}
fn alpha() -> f64 {
    0.99
}
fn weight_decay() -> f64 {
    0.01
}

impl OptimizerConfig {
    /// Adam with constant `lr`, `beta1`, `beta2`, ε = 1e-8 and no clipping.
    pub fn adam(lr: f64, beta1: f64, beta2: f64) -> Self {
        OptimizerConfig::Adam {
            lr: lr.into(),
            beta1: beta1.into(),
            beta2: beta2.into(),
            epsilon: epsilon(),
            clip: None,
        }
    }

    /// RMSProp with constant `lr`, α = 0.99, ε = 1e-8, no momentum and no clipping.
    pub fn rmsprop(lr: f64) -> Self {
        OptimizerConfig::RmsProp {
            lr: lr.into(),
            alpha: alpha(),
            epsilon: epsilon(),
            momentum: 0.0,
            clip: None,
        }
    }

    /// Plain SGD with constant `lr`: no momentum, no weight decay and no clipping.
    pub fn sgd(lr: f64) -> Self {
        OptimizerConfig::Sgd {
            lr: lr.into(),
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            clip: None,
        }
    }

    /// The learning rate (a number or a schedule).
    pub fn learning_rate(&self) -> &Scheduled {
        match self {
            OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// The learning rate, mutable (e.g. to turn a constant into a schedule).
    pub fn learning_rate_mut(&mut self) -> &mut Scheduled {
        match self {
            OptimizerConfig::Adam { lr, .. }
            | OptimizerConfig::AdamW { lr, .. }
            | OptimizerConfig::RmsProp { lr, .. }
            | OptimizerConfig::Sgd { lr, .. } => lr,
        }
    }

    /// The gradient clipping, if any.
    pub fn clip(&self) -> Option<GradientClip> {
        match self {
            OptimizerConfig::Adam { clip, .. }
            | OptimizerConfig::AdamW { clip, .. }
            | OptimizerConfig::RmsProp { clip, .. }
            | OptimizerConfig::Sgd { clip, .. } => *clip,
        }
    }

    /// Checks every coefficient; `section` prefixes the field names in messages.
    pub fn validate(&self, section: &str) -> Result<(), TrainError> {
        let field = |name: &str| format!("{section}.{name}");
        let check = |name: &str, value: f64, ok: bool, expected: &str| {
            if value.is_finite() && ok {
                Ok(())
            } else {
                Err(TrainError::config(format!(
                    "{section}.{name} must be {expected}, got {value}"
                )))
            }
        };
        let unit = |v: f64| (0.0..1.0).contains(&v);
        self.learning_rate().validate_decaying(
            &field("lr"),
            "a finite number > 0 (e.g. 1e-4)",
            |v| v > 0.0,
        )?;
        if let Some(clip) = self.clip() {
            clip.validate(&field("clip"))?;
        }
        match self {
            OptimizerConfig::Adam {
                beta1,
                beta2,
                epsilon,
                ..
            }
            | OptimizerConfig::AdamW {
                beta1,
                beta2,
                epsilon,
                ..
            } => {
                beta1.validate(&field("beta1"), "in [0, 1)", unit)?;
                beta2.validate(&field("beta2"), "in [0, 1)", unit)?;
                check("epsilon", *epsilon, *epsilon > 0.0, "a finite number > 0")?;
                if let OptimizerConfig::AdamW { weight_decay, .. } = self {
                    let ok = *weight_decay >= 0.0;
                    check("weight_decay", *weight_decay, ok, "a finite number ≥ 0")?;
                }
                Ok(())
            }
            OptimizerConfig::RmsProp {
                alpha,
                epsilon,
                momentum,
                ..
            } => {
                check("alpha", *alpha, unit(*alpha), "in [0, 1)")?;
                check("epsilon", *epsilon, *epsilon > 0.0, "a finite number > 0")?;
                check("momentum", *momentum, unit(*momentum), "in [0, 1)")
            }
            OptimizerConfig::Sgd {
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => {
                check("momentum", *momentum, unit(*momentum), "in [0, 1)")?;
                check("dampening", *dampening, unit(*dampening), "in [0, 1)")?;
                let ok = *weight_decay >= 0.0;
                check("weight_decay", *weight_decay, ok, "a finite number ≥ 0")?;
                if *nesterov && (*momentum <= 0.0 || *dampening != 0.0) {
                    return Err(TrainError::config(format!(
                        "{section}.nesterov needs momentum > 0 and dampening = 0, got momentum \
                         {momentum} and dampening {dampening}"
                    )));
                }
                Ok(())
            }
        }
    }

    /// A fresh optimizer (no state yet) for one module.
    pub fn init(&self) -> Optimizer {
        let optimizer = match self.clone() {
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                epsilon,
                ..
            } => Optimizer::new(Adam {
                lr,
                beta1,
                beta2,
                epsilon,
            }),
            OptimizerConfig::AdamW {
                lr,
                beta1,
                beta2,
                epsilon,
                weight_decay,
                ..
            } => Optimizer::new(AdamW {
                adam: Adam {
                    lr,
                    beta1,
                    beta2,
                    epsilon,
                },
                weight_decay,
            }),
            OptimizerConfig::RmsProp {
                lr,
                alpha,
                epsilon,
                momentum,
                ..
            } => Optimizer::new(RmsProp {
                lr,
                alpha,
                epsilon,
                momentum,
            }),
            OptimizerConfig::Sgd {
                lr,
                momentum,
                dampening,
                nesterov,
                weight_decay,
                ..
            } => Optimizer::new(Sgd {
                lr,
                momentum,
                dampening,
                nesterov,
                weight_decay,
            }),
        };
        match self.clip() {
            Some(clip) => optimizer.with_clip(clip),
            None => optimizer,
        }
    }
}
