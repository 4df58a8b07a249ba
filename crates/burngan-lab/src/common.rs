//! Small helpers shared by the experiments: moving host buffers to and from a device and
//! evaluating a critic on host points.

use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::Discriminator;

/// A host buffer `[rows, cols]` (row-major) as a tensor on `device`.
pub(crate) fn upload(values: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), device)
}

/// A tensor's values on the host, row-major (empty if the backend cannot convert them).
pub(crate) fn download<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec()
        .unwrap_or_default()
}

/// The critic's logits for the host points `xs` (row-major `[n, dim]`), evaluated outside
/// autodiff in evaluation mode on `device`'s backend.
pub(crate) fn critic_logits<C: Discriminator<2>>(
    critic: &C,
    xs: &[f32],
    dim: usize,
    device: &Device,
) -> Vec<f32> {
    let plain = device.clone().without_autodiff();
    let critic = critic.valid();
    let n = xs.len() / dim;
    download(critic.forward(upload(xs, [n, dim], &plain)))
}

/// log σ(l) = −softplus(−l), stable for any logit.
pub(crate) fn log_sigmoid(l: f64) -> f64 {
    -((-l.abs()).exp().ln_1p() + (-l).max(0.0))
}

/// σ(l).
pub(crate) fn sigmoid(l: f64) -> f64 {
    1.0 / (1.0 + (-l).exp())
}

/// How [`fit_critic`] trains a critic against two fixed distributions.
pub(crate) struct CriticFit<'a> {
    /// The adversarial loss whose discriminator term is minimised.
    pub loss: &'a dyn burngan_core::AdversarialLoss,
    /// Critic updates.
    pub steps: usize,
    /// Samples per side and update.
    pub batch_size: usize,
    /// The optimiser.
    pub optimizer: burngan_train::OptimizerConfig,
    /// Decay the learning rate linearly to 0 over the updates.
    pub linear_decay: bool,
}

/// Trains `critic` (on the autodiff `device`) to separate `real` from `fake`, both fixed
/// distributions: per update a real batch, then a fake batch, drawn from `rng`. The loss's
/// weight clip (WGAN) is applied after every update, as the trainer does.
pub(crate) fn fit_critic<C: Discriminator<2>>(
    mut critic: C,
    fit: &CriticFit<'_>,
    real: &mut dyn burngan_core::SampleSource<2>,
    fake: &mut dyn burngan_core::SampleSource<2>,
    rng: &mut burngan_core::HostRng,
    device: &Device,
) -> C {
    let mut config = fit.optimizer.clone();
    if fit.linear_decay {
        let lr = config.learning_rate().initial();
        *config.learning_rate_mut() = burngan_train::Schedule {
            from: lr,
            to: Some(0.0),
            shape: burngan_train::Shape::Linear,
            warmup: 0,
            steps: None,
            every: None,
            factor: None,
        }
        .into();
    }
    let mut optimizer = config.init();
    for t in 0..fit.steps {
        let x_real = real.sample(fit.batch_size, rng, device);
        let x_fake = fake.sample(fit.batch_size, rng, device);
        let loss = fit
            .loss
            .discriminator_loss(critic.forward(x_real), critic.forward(x_fake));
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &critic);
        let time = burngan_train::TrainingTime {
            step: t,
            total: fit.steps,
        };
        critic = optimizer.step(time, critic, grads);
        if let Some(bound) = fit.loss.critic_weight_clip() {
            critic = burngan_train::clip_parameters(critic, bound);
        }
    }
    critic
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sigmoid_is_stable_and_exact() {
        for l in [-800.0, -30.0, -1.0, 0.0, 2.5, 40.0, 800.0] {
            let direct = sigmoid(l).ln();
            let stable = log_sigmoid(l);
            if direct.is_finite() && l > -700.0 {
                assert!(
                    (stable - direct).abs() < 1e-12 * direct.abs().max(1.0),
                    "{l}"
                );
            }
            assert!(stable.is_finite());
        }
        assert_eq!(log_sigmoid(-800.0), -800.0);
    }
}
