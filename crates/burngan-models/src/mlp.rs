//! Fully connected generator and critic, as in the `ring8-mlp` benchmark workload:
//! z → Linear → act → … → Linear → output activation. The generator can batch-normalise its
//! hidden layers after the first (the `mnist-mlp` generator, see
//! [`ImageMlpGenerator`](crate::ImageMlpGenerator)).

use burn::module::Module;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use serde::{Deserialize, Serialize};

use crate::layers::batch_norm;
use crate::{Activation, Dense, ModelError, SpectralConvention, linear_from_host};

/// Configuration of an [`MlpGenerator`]: `latent_dim → hidden[0] → … → output`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpGeneratorConfig {
    /// Size of the latent code z.
    pub latent_dim: usize,
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer.
    #[serde(default)]
    pub activation: Activation,
    /// Activation on the output (identity for unbounded toy data, tanh for images in [−1, 1]).
    #[serde(default = "identity")]
    pub output_activation: Activation,
    /// BatchNorm (epsilon 1e-5, momentum 0.1) after every hidden Linear except the first,
    /// before the activation, as in the `mnist-mlp` generator (default false).
    #[serde(default)]
    pub batch_norm: bool,
}

fn identity() -> Activation {
    Activation::Identity
}

fn leaky() -> Activation {
    Activation::LeakyRelu(0.2)
}

/// Configuration of an [`MlpDiscriminator`]: `input → hidden[0] → … → 1 logit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpDiscriminatorConfig {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer.
    #[serde(default = "leaky")]
    pub activation: Activation,
    /// Normalisation of the layers (default none).
    #[serde(default)]
    pub normalization: Normalization,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"` (as
    /// `torch.nn.utils.spectral_norm`); used only with `normalization = "spectral"`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
}

/// How a critic's layers are normalised. In TOML: `"none"`, `"batch"` or `"spectral"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// Plain layers.
    #[default]
    None,
    /// BatchNorm (epsilon 1e-5, momentum 0.1) after each hidden Linear, before the activation.
    /// Mixes the samples of a batch, so gradient penalties cannot use such a critic.
    Batch,
    /// Spectral normalisation of every weight (Miyato et al. 2018): W/σ(W), one
    /// power-iteration step per training forward, σ estimated under the config's
    /// [`SpectralConvention`].
    Spectral,
}

fn check_sizes(prefix: &str, input: (&str, usize), hidden: &[usize]) -> Result<(), ModelError> {
    if input.1 == 0 {
        return Err(ModelError::ZeroSize {
            field: format!("{prefix}.{}", input.0),
            value: 0,
        });
    }
    match hidden.iter().position(|&w| w == 0) {
        Some(i) => Err(ModelError::ZeroSize {
            field: format!("{prefix}.hidden[{i}]"),
            value: 0,
        }),
        None => Ok(()),
    }
}

fn layers(
    sizes: impl IntoIterator<Item = usize>,
    rng: &mut HostRng,
    device: &Device,
) -> Vec<Linear> {
    let sizes: Vec<usize> = sizes.into_iter().collect();
    sizes
        .windows(2)
        .map(|pair| linear_from_host(pair[0], pair[1], rng, device))
        .collect()
}

impl MlpGeneratorConfig {
    /// A generator with the given latent size and hidden widths, ReLU between layers and a
    /// linear output.
    pub fn new(latent_dim: usize, hidden: Vec<usize>) -> Self {
        Self {
            latent_dim,
            hidden,
            activation: Activation::Relu,
            output_activation: Activation::Identity,
            batch_norm: false,
        }
    }

    /// Sets whether hidden layers after the first are batch-normalised.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Sets the hidden activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Sets the output activation.
    pub fn with_output_activation(mut self, activation: Activation) -> Self {
        self.output_activation = activation;
        self
    }

    /// Checks sizes and activations; `output_dim` is the size of one sample.
    pub fn validate(&self, output_dim: usize) -> Result<(), ModelError> {
        check_sizes("generator", ("latent_dim", self.latent_dim), &self.hidden)?;
        check_sizes("generator", ("output_dim", output_dim), &[])?;
        self.activation.validate("generator.activation")?;
        self.output_activation
            .validate("generator.output_activation")
    }

    /// Builds the generator for samples of `output_dim` features, drawing weights from `rng`.
    pub fn init(
        &self,
        output_dim: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<MlpGenerator, ModelError> {
        self.validate(output_dim)?;
        let sizes = std::iter::once(self.latent_dim)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(output_dim));
        let norms = match self.batch_norm {
            true => self
                .hidden
                .iter()
                .skip(1)
                .map(|&width| batch_norm(width, device))
                .collect(),
            false => Vec::new(),
        };
        Ok(MlpGenerator {
            layers: layers(sizes, rng, device),
            norms,
            activation: self.activation,
            output_activation: self.output_activation,
            latent_dim: self.latent_dim,
        })
    }
}

impl MlpDiscriminatorConfig {
    /// A critic with the given hidden widths and LeakyReLU(0.2) between layers.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            activation: leaky(),
            normalization: Normalization::None,
            spectral_convention: SpectralConvention::Burngan,
        }
    }

    /// Sets the normalisation.
    pub fn with_normalization(mut self, normalization: Normalization) -> Self {
        self.normalization = normalization;
        self
    }

    /// Sets the spectral-norm convention (used only with `Normalization::Spectral`).
    pub fn with_spectral_convention(mut self, convention: SpectralConvention) -> Self {
        self.spectral_convention = convention;
        self
    }

    /// The convention of spectral norm when the layers are spectrally normalised, else `None`.
    pub fn spectral(&self) -> Option<SpectralConvention> {
        (self.normalization == Normalization::Spectral).then_some(self.spectral_convention)
    }

    /// The first layer, by config path and kind, through which the critic's input gradient
    /// cannot be written as forward ops; `None` when gradient penalties can use the critic.
    pub fn input_gradient_blocker(&self) -> Option<String> {
        match self.normalization {
            Normalization::Batch if !self.hidden.is_empty() => Some(
                "discriminator.hidden[0] (BatchNorm, discriminator.normalization = \"batch\")"
                    .to_string(),
            ),
            _ => None,
        }
    }

    /// Sets the hidden activation.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Checks sizes and activations; `input_dim` is the size of one sample.
    pub fn validate(&self, input_dim: usize) -> Result<(), ModelError> {
        check_sizes("discriminator", ("input_dim", input_dim), &self.hidden)?;
        self.activation.validate("discriminator.activation")
    }

    /// Builds the critic for samples of `input_dim` features, drawing weights from `rng`.
    pub fn init(
        &self,
        input_dim: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<MlpDiscriminator, ModelError> {
        self.validate(input_dim)?;
        let sizes: Vec<usize> = std::iter::once(input_dim)
            .chain(self.hidden.iter().copied())
            .chain(std::iter::once(1))
            .collect();
        let spectral = self.spectral();
        let layers = sizes
            .windows(2)
            .map(|pair| {
                Dense::new(pair[0], pair[1], false, rng, device)
                    .with_spectral(spectral, rng, device)
            })
            .collect();
        let norms = match self.normalization {
            Normalization::Batch => self
                .hidden
                .iter()
                .map(|&width| batch_norm(width, device))
                .collect(),
            _ => Vec::new(),
        };
        Ok(MlpDiscriminator {
            layers,
            norms,
            activation: self.activation,
        })
    }
}

/// Fully connected generator: `[batch, latent_dim] → [batch, output_dim]`.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// The layers, latent side first; the last one produces the sample.
    pub layers: Vec<Linear>,
    /// With `batch_norm`, one BatchNorm per hidden layer but the first: `norms[j]` follows
    /// `layers[j + 1]`. Empty otherwise.
    pub norms: Vec<BatchNorm>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    output_activation: Activation,
    #[module(skip)]
    latent_dim: usize,
}

impl Generator<2> for MlpGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `[batch, latent_dim] → [batch, output_dim]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = z;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            x = if i < last {
                if let Some(norm) = i.checked_sub(1).and_then(|j| self.norms.get(j)) {
                    x = norm.forward(x);
                }
                self.activation.forward(x)
            } else {
                self.output_activation.forward(x)
            };
        }
        x
    }
}

/// Fully connected critic: `[batch, input_dim] → [batch, 1]` logits.
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// The layers, input side first; the last one produces the logit.
    pub layers: Vec<Dense>,
    /// One BatchNorm per hidden layer with `normalization = "batch"`, else empty.
    pub norms: Vec<BatchNorm>,
    #[module(skip)]
    activation: Activation,
}

impl MlpDiscriminator {
    /// σ of each layer's weight (spectral norm only), named `sigma.layers.<i>`.
    fn sigmas(&self) -> Vec<(String, Tensor<1>)> {
        self.layers
            .iter()
            .enumerate()
            .filter_map(|(i, layer)| Some((format!("sigma.layers.{i}"), layer.sigma()?)))
            .collect()
    }
}

impl Discriminator<2> for MlpDiscriminator {
    /// `[batch, input_dim] → [batch, 1]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = x;
        for (i, layer) in self.layers[..last].iter().enumerate() {
            x = layer.forward(x);
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(x);
            }
            x = self.activation.forward(x);
        }
        self.layers[last].forward(x)
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        self.sigmas()
    }
}

impl InputGradient<2> for MlpDiscriminator {
    /// The transposed chain: g ← 1·W_Lᵀ, then for each hidden layer from the top,
    /// g ← (g ⊙ act′(pre-activation)) · Wᵀ, with the weights the forward pass uses (W/σ under
    /// spectral norm). `[batch, input_dim] → [batch, input_dim]`.
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let [batch, _] = x.dims();
        let weights: Vec<Tensor<2>> = self.layers.iter().map(|l| l.weight(false)).collect();
        let mut pre_activations = Vec::with_capacity(last);
        let mut h = x;
        for (layer, w) in self.layers[..last].iter().zip(&weights) {
            let pre = layer.forward_with(h, w.clone());
            h = self.activation.forward(pre.clone());
            pre_activations.push(pre);
        }
        let mut g = weights[last].clone().transpose().expand([batch as i64, -1]); // [batch, d_last]
        for (w, pre) in weights[..last].iter().zip(pre_activations).rev() {
            g = g.mul(self.activation.derivative(pre)); // [batch, d_out]
            g = g.matmul(w.clone().transpose()); // [batch, d_in]
        }
        g
    }

    fn unsupported_layer(&self) -> Option<String> {
        (!self.norms.is_empty()).then(|| "layers[0] BatchNorm (norms[0])".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};

    fn flex() -> Device {
        device(BackendKind::Flex).expect("flex is a default feature")
    }

    #[test]
    fn same_seed_same_weights_and_layer_shapes() {
        let device = flex();
        let config = MlpGeneratorConfig::new(3, vec![5, 7]);
        let a = config.init(2, &mut HostRng::seed_from(9), &device).unwrap();
        let b = config.init(2, &mut HostRng::seed_from(9), &device).unwrap();
        let dims: Vec<[usize; 2]> = a.layers.iter().map(|l| l.weight.val().dims()).collect();
        assert_eq!(dims, vec![[3, 5], [5, 7], [7, 2]]);
        for (la, lb) in a.layers.iter().zip(&b.layers) {
            la.weight
                .val()
                .into_data()
                .assert_eq(&lb.weight.val().into_data(), true);
        }
        // Weights lie inside PyTorch's default bound 1/sqrt(fan_in).
        let w: Vec<f32> = a.layers[1].weight.val().into_data().try_to_vec().unwrap();
        let bound = 1.0 / 5f32.sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound));
    }

    #[test]
    fn zero_width_is_an_error_naming_the_field() {
        let error = MlpDiscriminatorConfig::new(vec![4, 0])
            .init(2, &mut HostRng::seed_from(0), &flex())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "discriminator.hidden[1] must be positive, got 0; set it to a size of at least 1"
        );
        let error = MlpDiscriminatorConfig::new(vec![4])
            .with_activation(Activation::LeakyRelu(-1.0))
            .validate(2)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("leaky_relu slope must be in [0, 1)")
        );
    }

    #[test]
    fn the_power_iteration_vector_is_part_of_the_record() {
        let device = flex().autodiff();
        let config =
            MlpDiscriminatorConfig::new(vec![6]).with_normalization(Normalization::Spectral);
        let trained = config.init(3, &mut HostRng::seed_from(1), &device).unwrap();
        let u = |critic: &MlpDiscriminator| -> Vec<f32> {
            let state = critic.layers[0].spectral.as_ref().unwrap();
            state.u.value_sync().into_data().try_to_vec().unwrap()
        };
        let u_before = u(&trained);
        // A training forward advances u; the record must carry the advanced vector.
        let _ = trained.forward(HostRng::seed_from(2).normal([4, 3], &device));
        let u_after = u(&trained);
        assert_ne!(u_before, u_after);
        let fresh = config.init(3, &mut HostRng::seed_from(9), &device).unwrap();
        let loaded = fresh.load_record(trained.into_record());
        let u_loaded = u(&loaded);
        assert_eq!(u_loaded, u_after);
    }

    #[test]
    fn input_gradient_matches_autodiff_for_every_activation() {
        let device = flex().autodiff();
        for activation in [
            Activation::Relu,
            Activation::LeakyRelu(0.2),
            Activation::Tanh,
            Activation::Sigmoid,
            Activation::Identity,
        ] {
            let mut rng = HostRng::seed_from(5);
            let critic = MlpDiscriminatorConfig::new(vec![16, 8])
                .with_activation(activation)
                .init(3, &mut rng, &device)
                .unwrap();
            let x = rng.normal([6, 3], &device).require_grad();
            let grads = critic.forward(x.clone()).sum().backward();
            let autodiff = x.grad(&grads).unwrap();
            let ours = critic.input_gradient(x.detach()).into_data();
            ours.assert_approx_eq::<f32>(&autodiff.into_data(), Default::default());
        }
    }
}
