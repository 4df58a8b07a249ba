//! Differentiable augmentation of image batches `[batch, c, h, w]` for GAN training: the
//! operations of DiffAugment (Zhao et al. 2020: brightness, saturation, contrast, translation,
//! cutout) applied per sample with a probability p that is fixed or adapted to the critic's
//! overfitting as in StyleGAN2-ADA (Karras et al. 2020).
//!
//! Every random choice is drawn from the run's [`HostRng`](burngan_core::HostRng) on the host
//! and uploaded, so one seed gives the same augmentation on every backend and a resumed run
//! continues bit for bit. Every operation is affine in x per sample, so a drawn augmentation
//! is T(x) = A·x + b: [`BatchTransform`] applies it with ordinary tensor operations (autodiff
//! carries the generator's gradient through it) and gives its vector–Jacobian product Aᵀ·g as
//! forward operations, which lets a gradient penalty be taken with respect to the un-augmented
//! batch through the augmentation (burngan-train's `Augmented` critic).
//!
//! [`DiffAugment`] implements the trainer's `Augment<4>`; [`AugmentConfig`] is the
//! `[augment]` section of a run config; [`AdaController`] is the adaptive p.

mod ada;
mod config;
mod pipeline;
mod transform;

pub use ada::{AdaController, AdaState};
pub use config::{AdaptiveConfig, AugmentConfig, AugmentError, Op, PolicyItem, Probability};
pub use pipeline::DiffAugment;
pub use transform::{BatchTransform, OpDraw, Rect, Sizes};

#[cfg(test)]
mod tests;
