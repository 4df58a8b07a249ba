//! Gradient penalties on the critic, added to the discriminator's loss. Each evaluates the
//! critic's input gradient ∇ₓD at some points with [`InputGradient`], whose result is an
//! ordinary tensor expression in the critic's parameters: the penalty therefore backpropagates
//! to them exactly with first-order autodiff (no double backward).
//!
//! | kind | points x̂ | penalty |
//! | --- | --- | --- |
//! | `wgan-gp` (Gulrajani et al. 2017) | ε·x_real + (1 − ε)·x_fake, one ε ~ U[0, 1] per sample | λ·E[(‖∇D(x̂)‖₂ − 1)²] |
//! | `wgan-gp`, `one_sided = true` | the same | λ·E[max(0, ‖∇D(x̂)‖₂ − 1)²] |
//! | `r1` (Mescheder et al. 2018) | x_real | γ/2·E[‖∇D(x)‖₂²] |
//! | `r2` (Mescheder et al. 2018) | x_fake | γ/2·E[‖∇D(x)‖₂²] |
//! | `dragan` (Kodali et al. 2017) | x_real + c·std(x_real)·δ, δ ~ U[0, 1] per element | λ·E[(‖∇D(x̂)‖₂ − 1)²] |
//!
//! The norms are taken per sample over all of its features (every pixel of every channel).
//! Random factors come from the run's [`HostRng`], so they are the same on every backend.

use burn::tensor::{Int, Tensor, TensorData};
use burngan_core::{HostRng, InputGradient};
use serde::{Deserialize, Serialize};

/// A gradient penalty, as the `[penalty]` section of a config names it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PenaltyConfig {
    /// WGAN-GP: λ·E[(‖∇D(x̂)‖ − 1)²] on random interpolates of real and fake samples.
    WganGp {
        /// λ (default 10, the paper's value).
        #[serde(default = "ten")]
        weight: f64,
        /// Penalise only gradient norms above 1 (the one-sided variant the paper mentions).
        #[serde(default)]
        one_sided: bool,
    },
    /// R1: γ/2·E[‖∇D(x)‖²] on real samples.
    R1 {
        /// γ (default 10).
        #[serde(default = "ten")]
        gamma: f64,
    },
    /// R2: γ/2·E[‖∇D(x)‖²] on generated samples.
    R2 {
        /// γ (default 10).
        #[serde(default = "ten")]
        gamma: f64,
    },
    /// DRAGAN: λ·E[(‖∇D(x̂)‖ − 1)²] on real samples perturbed by c·std(x)·U[0, 1] noise.
    Dragan {
        /// λ (default 10).
        #[serde(default = "ten")]
        weight: f64,
        /// c, the perturbation scale relative to the real batch's standard deviation
        /// (default 0.5, the paper's value).
        #[serde(default = "half")]
        scale: f64,
    },
}

fn ten() -> f64 {
    10.0
}

fn half() -> f64 {
    0.5
}

impl PenaltyConfig {
    /// A short stable name, as in configs: `"wgan-gp"`, `"r1"`, `"r2"`, `"dragan"`.
    pub fn name(&self) -> &'static str {
        match self {
            PenaltyConfig::WganGp { .. } => "wgan-gp",
            PenaltyConfig::R1 { .. } => "r1",
            PenaltyConfig::R2 { .. } => "r2",
            PenaltyConfig::Dragan { .. } => "dragan",
        }
    }

    /// The penalty's weight: λ for WGAN-GP and DRAGAN, γ for R1 and R2.
    pub fn weight(&self) -> f64 {
        match *self {
            PenaltyConfig::WganGp { weight, .. } | PenaltyConfig::Dragan { weight, .. } => weight,
            PenaltyConfig::R1 { gamma } | PenaltyConfig::R2 { gamma } => gamma,
        }
    }

    /// The config's field that holds the [weight](Self::weight): `"weight"` or `"gamma"`.
    pub fn weight_field(&self) -> &'static str {
        match self {
            PenaltyConfig::WganGp { .. } | PenaltyConfig::Dragan { .. } => "weight",
            PenaltyConfig::R1 { .. } | PenaltyConfig::R2 { .. } => "gamma",
        }
    }

    /// The same penalty with its [weight](Self::weight) set to `value` (a scheduled or lazy
    /// penalty's weight at one update).
    pub fn with_weight(mut self, value: f64) -> Self {
        match &mut self {
            PenaltyConfig::WganGp { weight, .. } | PenaltyConfig::Dragan { weight, .. } => {
                *weight = value
            }
            PenaltyConfig::R1 { gamma } | PenaltyConfig::R2 { gamma } => *gamma = value,
        }
        self
    }

    /// Checks the weights: finite and ≥ 0 (a DRAGAN scale > 0). The message names the field,
    /// the value and a usual setting.
    pub fn validate(&self) -> Result<(), String> {
        let non_negative = |field: &str, value: f64| {
            if value.is_finite() && value >= 0.0 {
                Ok(())
            } else {
                Err(format!(
                    "penalty.{field} must be a finite number ≥ 0, got {value}; 10 is the usual \
                     value"
                ))
            }
        };
        match *self {
            PenaltyConfig::WganGp { weight, .. } => non_negative("weight", weight),
            PenaltyConfig::R1 { gamma } | PenaltyConfig::R2 { gamma } => {
                non_negative("gamma", gamma)
            }
            PenaltyConfig::Dragan { weight, scale } => {
                non_negative("weight", weight)?;
                if scale.is_finite() && scale > 0.0 {
                    Ok(())
                } else {
                    Err(format!(
                        "penalty.scale must be a finite number > 0, got {scale}; the DRAGAN \
                         paper uses 0.5"
                    ))
                }
            }
        }
    }

    /// The points x̂ at which the gradient is taken, from a real and a fake batch of the same
    /// shape `[batch, …]` (both treated as constants). Draws the random factors from `rng`:
    /// `batch` uniforms for WGAN-GP, one per element of the batch for DRAGAN, none otherwise.
    pub fn points<const D: usize>(
        &self,
        real: Tensor<D>,
        fake: Tensor<D>,
        rng: &mut HostRng,
    ) -> Tensor<D> {
        let device = real.device();
        let (real, fake) = (real.detach(), fake.detach());
        match *self {
            PenaltyConfig::WganGp { .. } => {
                let dims = real.dims();
                let mut shape = [1usize; D];
                shape[0] = dims[0];
                let eps = rng.uniform_vec(dims[0], 0.0, 1.0);
                let eps =
                    Tensor::<D>::from_data(TensorData::new(eps, shape), &device).cast(real.dtype());
                // x̂ = ε·x_real + (1 − ε)·x_fake = x_fake + ε·(x_real − x_fake).
                fake.clone().add(real.sub(fake).mul(eps))
            }
            PenaltyConfig::R1 { .. } => real,
            PenaltyConfig::R2 { .. } => fake,
            PenaltyConfig::Dragan { scale, .. } => {
                let dims = real.dims();
                let count = real.shape().num_elements();
                let mean = real.clone().mean();
                let centred = real.clone().sub(mean.reshape([1; D]));
                // Population standard deviation of every element of the batch, as NumPy's
                // `x.std()` in the paper's code.
                let std = centred.clone().mul(centred).mean().sqrt();
                let delta = rng.uniform_vec(count, 0.0, 1.0);
                let delta = Tensor::<D>::from_data(TensorData::new(delta, dims), &device)
                    .cast(real.dtype());
                real.add(delta.mul(std.mul_scalar(scale).reshape([1; D])))
            }
        }
    }

    /// The penalty from the input gradients at the points, `grad` of shape `[batch, …]`;
    /// returns `[1]`.
    pub fn from_gradient<const D: usize>(&self, grad: Tensor<D>) -> Tensor<1> {
        let dims = grad.dims();
        let batch = dims[0];
        let per_sample = dims[1..].iter().product::<usize>();
        let flat: Tensor<2> = grad.reshape([batch, per_sample]);
        let squared_norm = flat.clone().mul(flat).sum_dim(1); // [batch, 1]
        match *self {
            PenaltyConfig::WganGp { weight, one_sided } => {
                let excess = unit_excess(squared_norm);
                let excess = if one_sided {
                    excess.clamp_min(0.0)
                } else {
                    excess
                };
                excess.clone().mul(excess).mean().mul_scalar(weight)
            }
            PenaltyConfig::R1 { gamma } | PenaltyConfig::R2 { gamma } => {
                squared_norm.mean().mul_scalar(gamma / 2.0)
            }
            PenaltyConfig::Dragan { weight, .. } => {
                let excess = unit_excess(squared_norm);
                excess.clone().mul(excess).mean().mul_scalar(weight)
            }
        }
    }

    /// The penalty of `critic` for a real and a fake batch of the same shape; `[1]`,
    /// differentiable with respect to the critic's parameters.
    pub fn compute<C, const D: usize>(
        &self,
        critic: &C,
        real: Tensor<D>,
        fake: Tensor<D>,
        rng: &mut HostRng,
    ) -> Tensor<1>
    where
        C: InputGradient<D>,
    {
        self.compute_labeled(critic, real, fake, None, rng)
    }

    /// [`compute`](Self::compute) for a class-conditional critic: real and fake samples share
    /// the labels `[batch]`, and so do the penalty's points (interpolates or perturbed reals).
    pub fn compute_labeled<C, const D: usize>(
        &self,
        critic: &C,
        real: Tensor<D>,
        fake: Tensor<D>,
        labels: Option<Tensor<1, Int>>,
        rng: &mut HostRng,
    ) -> Tensor<1>
    where
        C: InputGradient<D>,
    {
        let points = self.points(real, fake, rng);
        let gradient = match labels {
            Some(labels) => critic.input_gradient_labeled(points, labels),
            None => critic.input_gradient(points),
        };
        self.from_gradient(gradient)
    }
}

/// ‖g‖ − 1 from ‖g‖² `[batch, 1]`. The 1e-12 keeps the square root differentiable at a zero
/// gradient (it changes ‖g‖ by at most 1e-6 there and by < 1e-12 relative for ‖g‖ near 1).
fn unit_excess(squared_norm: Tensor<2>) -> Tensor<2> {
    squared_norm.add_scalar(1e-12).sqrt().sub_scalar(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::Device;
    use burngan_core::Discriminator;

    fn flex() -> Device {
        burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap()
    }

    /// D(x) = a·½‖x‖² per sample, so ∇ₓD(x) = a·x: penalties have closed forms in x.
    #[derive(Module, Debug)]
    struct Quadratic {
        #[module(skip)]
        a: f32,
    }

    impl Discriminator<2> for Quadratic {
        fn forward(&self, x: Tensor<2>) -> Tensor<2> {
            x.clone().mul(x).sum_dim(1).mul_scalar(self.a / 2.0)
        }
    }

    impl InputGradient<2> for Quadratic {
        fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
            x.mul_scalar(self.a)
        }
    }

    fn batch(values: &[[f32; 2]], device: &Device) -> Tensor<2> {
        let flat: Vec<f32> = values.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [values.len(), 2]), device)
    }

    fn scalar(t: Tensor<1>) -> f64 {
        f64::from(t.into_data().try_to_vec::<f32>().unwrap()[0])
    }

    const REAL: [[f32; 2]; 3] = [[1.0, 0.0], [0.0, 2.0], [-1.0, 1.0]];
    const FAKE: [[f32; 2]; 3] = [[0.0, 0.0], [1.0, 1.0], [3.0, -1.0]];

    #[test]
    fn r1_and_r2_are_half_gamma_times_the_mean_squared_gradient_norm() {
        let device = flex();
        let critic = Quadratic { a: 2.0 };
        let (real, fake) = (batch(&REAL, &device), batch(&FAKE, &device));
        let mut rng = HostRng::seed_from(0);
        // R1 = γ/2·mean‖2x‖² over reals = 5·mean(4·[1, 4, 2]) = 5·28/3.
        let r1 = PenaltyConfig::R1 { gamma: 10.0 };
        let value = scalar(r1.compute(&critic, real.clone(), fake.clone(), &mut rng));
        assert!((value - 5.0 * 28.0 / 3.0).abs() < 1e-4, "{value}");
        // R2 on fakes: 5·mean(4·[0, 2, 10]) = 5·16.
        let r2 = PenaltyConfig::R2 { gamma: 10.0 };
        let value = scalar(r2.compute(&critic, real, fake, &mut rng));
        assert!((value - 80.0).abs() < 1e-4, "{value}");
        // Neither draws random numbers.
        assert_eq!(rng.state(), HostRng::seed_from(0).state());
    }

    #[test]
    fn wgan_gp_interpolates_with_one_factor_per_sample() {
        let device = flex();
        let critic = Quadratic { a: 1.0 };
        for one_sided in [false, true] {
            let penalty = PenaltyConfig::WganGp {
                weight: 10.0,
                one_sided,
            };
            let mut rng = HostRng::seed_from(42);
            let value = scalar(penalty.compute(
                &critic,
                batch(&REAL, &device),
                batch(&FAKE, &device),
                &mut rng,
            ));
            // The same three factors, replayed on the host.
            let eps = HostRng::seed_from(42).uniform_vec(3, 0.0, 1.0);
            let expected: f64 = (0..3)
                .map(|i| {
                    let e = f64::from(eps[i]);
                    let x: Vec<f64> = (0..2)
                        .map(|j| e * f64::from(REAL[i][j]) + (1.0 - e) * f64::from(FAKE[i][j]))
                        .collect();
                    let excess = x.iter().map(|v| v * v).sum::<f64>().sqrt() - 1.0;
                    let excess = if one_sided { excess.max(0.0) } else { excess };
                    excess * excess
                })
                .sum::<f64>()
                * 10.0
                / 3.0;
            assert!(
                (value - expected).abs() < 1e-5 * expected.max(1.0),
                "{value} vs {expected}"
            );
        }
    }

    #[test]
    fn dragan_perturbs_reals_by_a_fraction_of_their_spread() {
        let device = flex();
        let critic = Quadratic { a: 1.0 };
        let penalty = PenaltyConfig::Dragan {
            weight: 10.0,
            scale: 0.5,
        };
        let points = penalty.points(
            batch(&REAL, &device),
            batch(&FAKE, &device),
            &mut HostRng::seed_from(3),
        );
        let points: Vec<f32> = points.into_data().try_to_vec().unwrap();
        // std of [1, 0, 0, 2, -1, 1]: mean 1/2, population variance 5.5/6 = 11/12
        // (numpy.std([1, 0, 0, 2, -1, 1]) = 0.9574271).
        let std = (11.0f64 / 12.0).sqrt();
        let delta = HostRng::seed_from(3).uniform_vec(6, 0.0, 1.0);
        let flat: Vec<f32> = REAL.iter().flatten().copied().collect();
        for i in 0..6 {
            let expected = f64::from(flat[i]) + 0.5 * std * f64::from(delta[i]);
            let diff = (f64::from(points[i]) - expected).abs();
            assert!(diff < 1e-5, "element {i}: {} vs {expected}", points[i]);
        }
        let value = scalar(
            penalty.from_gradient(critic.input_gradient(Tensor::from_data(
                TensorData::new(points.clone(), [3, 2]),
                &device,
            ))),
        );
        let expected: f64 = points
            .chunks(2)
            .map(|p| {
                let n = (f64::from(p[0]).powi(2) + f64::from(p[1]).powi(2)).sqrt();
                (n - 1.0) * (n - 1.0)
            })
            .sum::<f64>()
            * 10.0
            / 3.0;
        assert!(
            (value - expected).abs() < 1e-5 * expected,
            "{value} vs {expected}"
        );
    }

    #[test]
    fn negative_or_non_finite_weights_are_rejected_with_the_field_name() {
        let bad = [
            (
                PenaltyConfig::WganGp {
                    weight: -1.0,
                    one_sided: false,
                },
                "penalty.weight must be a finite number ≥ 0, got -1",
            ),
            (
                PenaltyConfig::R1 { gamma: f64::NAN },
                "penalty.gamma must be a finite number ≥ 0, got NaN",
            ),
            (
                PenaltyConfig::Dragan {
                    weight: 1.0,
                    scale: 0.0,
                },
                "penalty.scale must be a finite number > 0, got 0",
            ),
        ];
        for (config, expected) in bad {
            let message = config.validate().unwrap_err();
            assert!(message.starts_with(expected), "{message}");
        }
        assert!(PenaltyConfig::R2 { gamma: 0.0 }.validate().is_ok());
    }
}
