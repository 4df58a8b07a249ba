//! [`DiffAugment`]: the configured operations with a fixed or adaptive probability, as the
//! trainer's [`Augment`] for image batches.

use std::sync::Arc;

use burn::tensor::Tensor;
use burngan_core::HostRng;
use burngan_train::{Augment, AugmentTransform};
use serde::{Deserialize, Serialize};

use crate::ada::{AdaController, AdaState};
use crate::config::{AugmentConfig, AugmentError, Op, Probability};
use crate::transform::{BatchTransform, Sizes};

/// How p is set.
#[derive(Debug, Clone)]
enum Control {
    Fixed(f64),
    Adaptive(Box<AdaController>),
}

/// What a checkpoint stores: the adaptive controller's state, or the fixed p.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "kebab-case", deny_unknown_fields)]
enum Saved {
    Fixed { p: f64 },
    Adaptive(AdaState),
}

/// Differentiable augmentation of image batches `[batch, c, h, w]`: DiffAugment's operations
/// (Zhao et al. 2020) applied per sample with probability p, fixed or adapted as in
/// StyleGAN2-ADA. Give it to the trainer with `GanTrainer::with_augment(Box::new(…))`.
///
/// ```
/// use burngan_augment::{AugmentConfig, DiffAugment};
/// use burngan_core::HostRng;
/// use burngan_train::Augment;
/// # let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
///
/// let mut augment = DiffAugment::new(&AugmentConfig::default()).unwrap();
/// let mut rng = HostRng::seed_from(0);
/// let x = rng.uniform_tensor([4, 1, 28, 28], -1.0, 1.0, &device);
/// let t = augment.draw([4, 1, 28, 28], &mut rng);
/// assert_eq!(t.apply(x.clone()).dims(), [4, 1, 28, 28]);
/// assert_eq!(t.vjp(x).dims(), [4, 1, 28, 28]); // Aᵀ·g, for penalties
/// ```
#[derive(Debug, Clone)]
pub struct DiffAugment {
    ops: Vec<Op>,
    sizes: Sizes,
    control: Control,
}

impl DiffAugment {
    /// The augmentation of `config`, validated.
    pub fn new(config: &AugmentConfig) -> Result<Self, AugmentError> {
        config.validate()?;
        let control = match config.p {
            Probability::Fixed(p) => Control::Fixed(p),
            Probability::Adaptive => {
                Control::Adaptive(Box::new(AdaController::new(config.adaptive)))
            }
        };
        Ok(Self {
            ops: config.ops(),
            sizes: Sizes {
                translation: config.translation,
                cutout: config.cutout,
            },
            control,
        })
    }

    /// The operations, in the order they are applied.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// The adaptive controller, when p adapts.
    pub fn controller(&self) -> Option<&AdaController> {
        match &self.control {
            Control::Adaptive(ada) => Some(ada),
            Control::Fixed(_) => None,
        }
    }

    /// Draws the transform of a batch of shape `dims` at the current p (see
    /// [`BatchTransform::draw`] for the draw order).
    pub fn draw_batch(&self, dims: [usize; 4], rng: &mut HostRng) -> BatchTransform {
        BatchTransform::draw(&self.ops, self.p(), self.sizes, dims, rng)
    }

    fn p(&self) -> f64 {
        match &self.control {
            Control::Fixed(p) => *p,
            Control::Adaptive(ada) => ada.p(),
        }
    }
}

impl Augment<4> for DiffAugment {
    fn describe(&self) -> String {
        let names: Vec<&str> = self.ops.iter().map(|op| op.name()).collect();
        let mode = match self.control {
            Control::Fixed(_) => "fixed p",
            Control::Adaptive(_) => "adaptive p",
        };
        format!("{}; {mode}", names.join(", "))
    }

    fn draw(&mut self, dims: [usize; 4], rng: &mut HostRng) -> Arc<dyn AugmentTransform<4>> {
        Arc::new(self.draw_batch(dims, rng))
    }

    fn observe_real_logits(&mut self, logits: Tensor<2>) {
        if let Control::Adaptive(ada) = &mut self.control {
            ada.observe(logits);
        }
    }

    fn probability(&self) -> f64 {
        self.p()
    }

    fn state(&self) -> serde_json::Value {
        let saved = match &self.control {
            Control::Fixed(p) => Saved::Fixed { p: *p },
            Control::Adaptive(ada) => Saved::Adaptive(ada.state()),
        };
        serde_json::to_value(saved).unwrap_or(serde_json::Value::Null)
    }

    /// Restores an adaptive controller's p and interval; a fixed p keeps the configured value
    /// (the state must come from a fixed-p augmentation too).
    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String> {
        let saved: Saved = serde_json::from_value(state.clone()).map_err(|e| e.to_string())?;
        match (&mut self.control, saved) {
            (Control::Fixed(_), Saved::Fixed { .. }) => Ok(()),
            (Control::Adaptive(ada), Saved::Adaptive(state)) => ada.load(&state),
            (Control::Fixed(_), Saved::Adaptive(_)) => {
                Err("it is an adaptive p's state, and this augmentation's p is fixed".into())
            }
            (Control::Adaptive(_), Saved::Fixed { .. }) => {
                Err("it is a fixed p's state, and this augmentation's p adapts".into())
            }
        }
    }
}
