//! The Dirac GAN (Mescheder, Geiger & Nowozin, "Which training methods for GANs do actually
//! converge?", ICML 2018): real data δ₀ on the line, a generator that outputs its one parameter
//! θ, a linear critic D(x) = ψ·x, the non-saturating loss and SGD with step h. The game's only
//! equilibrium is (θ, ψ) = (0, 0). With σ the logistic function, the two gradients are
//! ∂L_D/∂ψ = θ·σ(ψθ) and ∂L_G/∂θ = −ψ·σ(−ψθ), so
//!
//! - simultaneous: ψ′ = ψ − h·θ·σ(ψθ), θ′ = θ + h·ψ·σ(−ψθ) — linearised at 0 the map
//!   [[1, h/2], [−h/2, 1]] has |eigenvalues| = √(1 + h²/4) > 1: the iterates spiral away;
//! - alternating: ψ′ as above, then θ′ = θ + h·ψ′·σ(−ψ′θ) — linearised, determinant 1 and
//!   eigenvalues on the unit circle for h < 4: the iterates circle the equilibrium.
//!
//! The trainer's trajectories are checked step by step against these recurrences computed here
//! in f64, and the two behaviours are checked on them.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, Generator, HostRng, SampleSource};
use burngan_losses::LossConfig;

use crate::{GanTrainer, OptimizerConfig, TrainerSettings, UpdateOrder};

/// G(z) = θ for every z: `[batch, 1] → [batch, 1]`.
#[derive(Module, Debug)]
struct Point {
    theta: Param<Tensor<1>>,
}

impl Generator<2> for Point {
    fn latent_dim(&self) -> usize {
        1
    }

    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        z.mul_scalar(0.0).add(self.theta.val().unsqueeze())
    }
}

/// D(x) = ψ·x: `[batch, 1] → [batch, 1]` logits.
#[derive(Module, Debug)]
struct Linear1 {
    psi: Param<Tensor<1>>,
}

impl Discriminator<2> for Linear1 {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        x.mul(self.psi.val().unsqueeze())
    }
}

/// δ₀: batches of zeros `[batch, 1]`.
struct Origin;

impl SampleSource<2> for Origin {
    fn sample(&mut self, batch: usize, _rng: &mut HostRng, device: &Device) -> Tensor<2> {
        Tensor::zeros([batch, 1], device)
    }
}

const H: f64 = 0.5;
const STEPS: usize = 100;
const THETA0: f64 = 0.1;

fn scalar(param: &Param<Tensor<1>>) -> f64 {
    f64::from(
        param
            .val()
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap()[0],
    )
}

/// The trainer's (θ, ψ) after each of `STEPS` steps from (θ₀, 0) under `updates`.
fn trained(updates: UpdateOrder) -> Vec<(f64, f64)> {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let one = |v: f64| {
        Param::from_tensor(Tensor::from_data(
            TensorData::new(vec![v as f32], [1]),
            &device,
        ))
    };
    let settings = TrainerSettings {
        batch_size: 4,
        generator_optimizer: OptimizerConfig::sgd(H),
        discriminator_optimizer: OptimizerConfig::sgd(H),
        updates,
        ..TrainerSettings::default()
    };
    let generator = Point { theta: one(THETA0) };
    let critic = Linear1 { psi: one(0.0) };
    let loss = LossConfig::NonSaturating.build();
    let mut trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
    let mut rng = HostRng::seed_from(0);
    (0..STEPS)
        .map(|_| {
            trainer.step_with(&mut Origin, &mut rng, false);
            (
                scalar(&trainer.generator().theta),
                scalar(&trainer.discriminator().psi),
            )
        })
        .collect()
}

/// The recurrence of the module docs, in f64.
fn recurrence(updates: UpdateOrder) -> Vec<(f64, f64)> {
    let sigma = |t: f64| 1.0 / (1.0 + (-t).exp());
    let (mut theta, mut psi) = (THETA0, 0.0);
    (0..STEPS)
        .map(|_| {
            let next_psi = psi - H * theta * sigma(psi * theta);
            let seen = match updates {
                UpdateOrder::Simultaneous => psi,
                UpdateOrder::Alternating => next_psi,
            };
            theta += H * seen * sigma(-seen * theta);
            psi = next_psi;
            (theta, psi)
        })
        .collect()
}

#[test]
fn on_the_dirac_gan_simultaneous_steps_spiral_out_and_alternating_ones_circle() {
    let radius = |&(theta, psi): &(f64, f64)| theta.hypot(psi);
    for updates in [UpdateOrder::Simultaneous, UpdateOrder::Alternating] {
        let (got, want) = (trained(updates), recurrence(updates));
        for (step, (g, w)) in got.iter().zip(&want).enumerate() {
            let gap = (g.0 - w.0).abs().max((g.1 - w.1).abs());
            assert!(gap < 1e-5, "{updates:?} step {}: {g:?} vs {w:?}", step + 1);
        }
        let radii: Vec<f64> = got.iter().map(radius).collect();
        match updates {
            // f64 recurrence: r = 0.885 after 100 steps (0.1 at the start).
            UpdateOrder::Simultaneous => assert!(radii[STEPS - 1] > 8.0 * THETA0, "{radii:?}"),
            // f64 recurrence: r stays within 0.0918–0.1066.
            UpdateOrder::Alternating => assert!(
                radii
                    .iter()
                    .all(|&r| (0.9 * THETA0..1.07 * THETA0).contains(&r)),
                "{radii:?}"
            ),
        }
    }
}
