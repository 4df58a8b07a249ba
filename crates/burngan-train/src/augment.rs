//! The extension point for differentiable augmentation (DiffAugment, ADA): an [`Augment`]
//! draws an [`AugmentTransform`] per batch from the run's host RNG, and the trainer shows the
//! critic augmented batches only.
//!
//! An augmentation T is affine in x for each drawn transform: T(x) = A·x + b. The trainer
//! applies T to the real and the fake batch of every discriminator update (two independent
//! draws) and to the fakes (and reals, for losses that read them) of the generator update, so
//! the critic never sees an un-augmented sample and the generator's gradient flows through T
//! by autodiff. Gradient penalties are taken with respect to the *un-augmented* batches, as
//! StyleGAN2-ADA takes R1 of the reals: the critic they see is D∘T, whose input gradient is
//! ∇ₓD(T(x)) = Aᵀ·∇D(T(x)). [`Augmented`] is that critic: a copy of the critic (sharing its
//! parameters, so the penalty's gradients reach them) with the transform, implementing
//! [`InputGradient`] with the transform's [VJP](AugmentTransform::vjp) written as forward ops.
//!
//! The library implements no augmentation itself; `burngan-augment` provides DiffAugment's
//! operations and the adaptive probability for image batches (`D` = 4).

use std::fmt;
use std::sync::Arc;

use burn::module::{Module, ModuleMapper, ModuleVisitor};
use burn::tensor::{Device, Int, Tensor};
use burngan_core::{Discriminator, HostRng, InputGradient};

/// One drawn augmentation of a batch: T(x) = A·x + b with A and b fixed by the draw.
///
/// Shapes: `x` and `g` are `[batch, …]`, the batch shape the transform was drawn for; the
/// results have the same shape. Both methods work on any device and float precision (the
/// transform holds its parameters on the host and uploads them next to `x`).
pub trait AugmentTransform<const D: usize>: fmt::Debug + Send + Sync {
    /// T(x), built from ordinary differentiable tensor operations.
    fn apply(&self, x: Tensor<D>) -> Tensor<D>;

    /// Aᵀ·g, the vector–Jacobian product: for g = ∂L/∂T(x) it gives ∂L/∂x. Written with
    /// forward tensor operations (gathers, masks, means), so an expression that depends on the
    /// critic's parameters through `g` stays differentiable with respect to them.
    fn vjp(&self, g: Tensor<D>) -> Tensor<D>;
}

/// An augmentation policy with its (possibly adaptive) probability and serialisable state,
/// given to [`GanTrainer::with_augment`](crate::GanTrainer::with_augment).
///
/// Every random choice must come from the `rng` passed to [`draw`](Augment::draw), so runs
/// stay reproducible on every backend and resume bit for bit.
pub trait Augment<const D: usize>: Send {
    /// What a checkpoint records of this augmentation (its operations and whether p adapts);
    /// loading a checkpoint written with another description is refused.
    fn describe(&self) -> String;

    /// Draws the transform of one batch of shape `dims` (`[batch, …]`) from `rng`.
    fn draw(&mut self, dims: [usize; D], rng: &mut HostRng) -> Arc<dyn AugmentTransform<D>>;

    /// The critic's logits `[batch, 1]` on the (augmented) real batch of a discriminator
    /// update that was applied, outside autodiff: the overfitting signal of an adaptive
    /// probability. A fixed probability ignores them (the default).
    fn observe_real_logits(&mut self, logits: Tensor<2>) {
        let _ = logits;
    }

    /// The current probability p with which each operation is applied to a sample.
    fn probability(&self) -> f64;

    /// The state a resumed run needs (p and any accumulated signal), as JSON.
    fn state(&self) -> serde_json::Value;

    /// Restores a [`state`](Augment::state); on an error the augmentation is unchanged and
    /// the message says what in `state` is wrong.
    fn load_state(&mut self, state: &serde_json::Value) -> Result<(), String>;
}

/// The critic D∘T seen through a drawn augmentation T: `forward(x)` = D(T(x)) and
/// `input_gradient(x)` = Aᵀ·∇D(T(x)), the gradient with respect to the un-augmented x.
///
/// It holds a clone of the critic: cloning a Burn module shares its parameters (same ids,
/// same autodiff nodes), so the gradients of a penalty computed on this critic belong to the
/// original critic's parameters. Labels pass through unchanged. As a module it is the
/// critic's (same parameters under the same paths); the transform is a constant.
#[derive(Debug, Clone)]
pub struct Augmented<C, const D: usize> {
    /// The critic (a clone sharing the trained critic's parameters).
    pub critic: C,
    transform: Arc<dyn AugmentTransform<D>>,
}

// By hand rather than derived: the derive would ask the critic for `ModuleDisplay`, which
// `Discriminator` does not require.
impl<C: Module, const D: usize> Module for Augmented<C, D> {
    fn collect_devices(&self, devices: Vec<Device>) -> Vec<Device> {
        self.critic.collect_devices(devices)
    }

    fn fork(self, device: &Device) -> Self {
        self.with_critic(|c| c.fork(device))
    }

    fn to_device(self, device: &Device) -> Self {
        self.with_critic(|c| c.to_device(device))
    }

    fn train(self) -> Self {
        self.with_critic(Module::train)
    }

    fn valid(&self) -> Self {
        Self {
            critic: self.critic.valid(),
            transform: self.transform.clone(),
        }
    }

    fn materialize(self) -> Self {
        self.with_critic(Module::materialize)
    }

    fn visit<V: ModuleVisitor>(&self, visitor: &mut V) {
        self.critic.visit(visitor)
    }

    fn map<M: ModuleMapper>(self, mapper: &mut M) -> Self {
        self.with_critic(|c| c.map(mapper))
    }
}

impl<C, const D: usize> Augmented<C, D> {
    fn with_critic(self, f: impl FnOnce(C) -> C) -> Self {
        Self {
            critic: f(self.critic),
            transform: self.transform,
        }
    }
}

impl<C: Discriminator<D>, const D: usize> Augmented<C, D> {
    /// `critic` seen through `transform`.
    pub fn new(critic: C, transform: Arc<dyn AugmentTransform<D>>) -> Self {
        Self { critic, transform }
    }

    /// The transform T.
    pub fn transform(&self) -> &Arc<dyn AugmentTransform<D>> {
        &self.transform
    }
}

impl<C: Discriminator<D>, const D: usize> Discriminator<D> for Augmented<C, D> {
    fn forward(&self, x: Tensor<D>) -> Tensor<2> {
        self.critic.forward(self.transform.apply(x))
    }

    fn num_classes(&self) -> usize {
        self.critic.num_classes()
    }

    fn forward_labeled(&self, x: Tensor<D>, labels: Tensor<1, Int>) -> Tensor<2> {
        self.critic.forward_labeled(self.transform.apply(x), labels)
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        self.critic.diagnostics()
    }
}

impl<C: InputGradient<D>, const D: usize> InputGradient<D> for Augmented<C, D> {
    fn input_gradient(&self, x: Tensor<D>) -> Tensor<D> {
        let seen = self.transform.apply(x);
        self.transform.vjp(self.critic.input_gradient(seen))
    }

    fn input_gradient_labeled(&self, x: Tensor<D>, labels: Tensor<1, Int>) -> Tensor<D> {
        let seen = self.transform.apply(x);
        self.transform
            .vjp(self.critic.input_gradient_labeled(seen, labels))
    }

    fn unsupported_layer(&self) -> Option<String> {
        self.critic.unsupported_layer()
    }
}

/// The two transforms of one discriminator update: the real batch's and the fake batch's.
pub(crate) struct UpdateDraws<const D: usize> {
    pub(crate) real: Arc<dyn AugmentTransform<D>>,
    pub(crate) fake: Arc<dyn AugmentTransform<D>>,
}

impl<const D: usize> UpdateDraws<D> {
    /// The transform a penalty sees the critic through: the fake batch's for R2 (its points
    /// are the fakes), the real batch's for the others (R1's points are the reals; WGAN-GP's
    /// interpolates and DRAGAN's perturbed reals are judged through the reals' draw).
    pub(crate) fn for_penalty(
        &self,
        penalty: &burngan_losses::PenaltyConfig,
    ) -> Arc<dyn AugmentTransform<D>> {
        match penalty {
            burngan_losses::PenaltyConfig::R2 { .. } => self.fake.clone(),
            _ => self.real.clone(),
        }
    }
}
