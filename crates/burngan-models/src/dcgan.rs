//! The DCGAN pair of the `mnist-dcgan` benchmark workload, for square images whose side is
//! divisible by 2^(number of stride-2 stages):
//!
//! - generator: z → Linear → BN → ReLU → Linear → BN → ReLU → view `[c₀, s, s]` → (ConvTranspose
//!   k4 s2 p1 → BN → ReLU)* → ConvTranspose k4 s2 p1 → tanh;
//! - critic: (Conv k4 s2 p1 → LeakyReLU)* → flatten → Linear → LeakyReLU → Linear → 1 logit, no
//!   normalisation (or spectral norm on every weight, under either
//!   [`SpectralConvention`]), so it supports gradient penalties.

use burn::module::Module;
use burn::nn::BatchNorm;
use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use serde::{Deserialize, Serialize};

use crate::layers::batch_norm;
use crate::{
    Activation, Conv, ConvTranspose, Dense, Init, ModelError, SpectralConvention, image_size,
};

const KERNEL: usize = 4;
const STRIDE: usize = 2;
const PADDING: usize = 1;

/// Configuration of a [`DcganDiscriminator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcganDiscriminatorConfig {
    /// Output channels of each stride-2 convolution, input side first (default `[64, 128]`).
    #[serde(default = "critic_channels")]
    pub channels: Vec<usize>,
    /// Width of the fully connected hidden layer (default 1024).
    #[serde(default = "hidden")]
    pub hidden: usize,
    /// Activation after every hidden layer (default `{ leaky_relu = 0.2 }`).
    #[serde(default = "leaky")]
    pub activation: Activation,
    /// Spectral normalisation of every weight (default false).
    #[serde(default)]
    pub spectral_norm: bool,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"` (as
    /// `torch.nn.utils.spectral_norm`); ignored without `spectral_norm`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
    /// How the weights are drawn (default `"pytorch"`; `{ normal = 0.02 }` is DCGAN's), before
    /// any spectral-norm vector.
    #[serde(default)]
    pub init: Init,
}

pub(crate) fn critic_channels() -> Vec<usize> {
    vec![64, 128]
}

pub(crate) fn generator_channels() -> Vec<usize> {
    vec![128, 64]
}

pub(crate) fn hidden() -> usize {
    1024
}

pub(crate) fn leaky() -> Activation {
    Activation::LeakyRelu(0.2)
}

pub(crate) fn latent() -> usize {
    100
}

impl Default for DcganDiscriminatorConfig {
    fn default() -> Self {
        Self {
            channels: critic_channels(),
            hidden: hidden(),
            activation: leaky(),
            spectral_norm: false,
            spectral_convention: SpectralConvention::Burngan,
            init: Init::Pytorch,
        }
    }
}

/// Image shape `[channels, height, width]` checks shared by both networks: positive sizes, a
/// square image whose side halves `stages` times without remainder.
fn check_image(prefix: &str, image: [usize; 3], stages: usize) -> Result<usize, ModelError> {
    image_size(prefix, image)?;
    let [_, height, width] = image;
    let factor = u32::try_from(stages)
        .ok()
        .and_then(|stages| 1usize.checked_shl(stages));
    match factor {
        Some(factor) if height == width && height % factor == 0 => Ok(height / factor),
        _ => {
            let multiple = factor.map_or_else(|| format!("2^{stages}"), |f| f.to_string());
            Err(ModelError::BadShape {
                message: format!(
                    "{prefix}: a DCGAN with {stages} stride-2 stages needs a square image whose \
                     side is a multiple of {multiple}, got {height}×{width}; resize the images \
                     or change the number of channels entries"
                ),
            })
        }
    }
}

fn check_widths(prefix: &str, channels: &[usize], hidden: usize) -> Result<(), ModelError> {
    if channels.is_empty() {
        return Err(ModelError::BadShape {
            message: format!("{prefix}.channels must list at least one convolution width"),
        });
    }
    if let Some(i) = channels.iter().position(|&c| c == 0) {
        return Err(ModelError::ZeroSize {
            field: format!("{prefix}.channels[{i}]"),
            value: 0,
        });
    }
    if hidden == 0 {
        return Err(ModelError::ZeroSize {
            field: format!("{prefix}.hidden"),
            value: 0,
        });
    }
    Ok(())
}

impl DcganDiscriminatorConfig {
    /// Sets spectral normalisation.
    pub fn with_spectral_norm(mut self, spectral_norm: bool) -> Self {
        self.spectral_norm = spectral_norm;
        self
    }

    /// Sets the spectral-norm convention (used only with spectral norm).
    pub fn with_spectral_convention(mut self, convention: SpectralConvention) -> Self {
        self.spectral_convention = convention;
        self
    }

    /// The convention of spectral norm when every weight is spectrally normalised, else `None`.
    pub fn spectral(&self) -> Option<SpectralConvention> {
        self.spectral_norm.then_some(self.spectral_convention)
    }

    /// Checks the sizes for images of shape `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        check_widths("discriminator", &self.channels, self.hidden)?;
        check_image("discriminator", image, self.channels.len())?;
        self.init.validate("discriminator.init")?;
        self.activation.validate("discriminator.activation")
    }

    /// Builds the critic for images `[channels, height, width]`, drawing weights from `rng`
    /// (layers input side first).
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<DcganDiscriminator, ModelError> {
        self.validate(image)?;
        let side = check_image("discriminator", image, self.channels.len())?;
        let spectral = self.spectral();
        let mut c_in = image[0];
        let mut convs = Vec::with_capacity(self.channels.len());
        for &c_out in &self.channels {
            let shape = [c_in, c_out, KERNEL];
            let conv = Conv::initialised(shape, STRIDE, PADDING, self.init, rng, device);
            convs.push(conv.with_spectral(spectral, rng, device));
            c_in = c_out;
        }
        let flat = c_in * side * side;
        let hidden = Dense::with_init(flat, self.hidden, self.init, rng, device);
        let hidden = hidden.with_spectral(spectral, rng, device);
        let output = Dense::with_init(self.hidden, 1, self.init, rng, device);
        let output = output.with_spectral(spectral, rng, device);
        Ok(DcganDiscriminator {
            convs,
            hidden,
            output,
            activation: self.activation,
        })
    }
}

/// The DCGAN critic: `[batch, c, h, w] → [batch, 1]` logits.
#[derive(Module, Debug)]
pub struct DcganDiscriminator {
    /// Stride-2 convolutions, input side first.
    pub convs: Vec<Conv>,
    /// The fully connected hidden layer on the flattened features.
    pub hidden: Dense,
    /// The logit layer.
    pub output: Dense,
    #[module(skip)]
    activation: Activation,
}

impl DcganDiscriminator {
    /// Multiply-adds of one forward pass per sample of `image` `[c, h, w]` (convolutions:
    /// c_out · c_in · k² per output position; dense layers: d_in · d_out), the benchmarks'
    /// model-FLOP convention.
    pub fn multiply_adds(&self, image: [usize; 3]) -> f64 {
        let [_, mut h, mut w] = image;
        let mut total = 0;
        for conv in &self.convs {
            let [c_out, c_in, k, _] = conv.weight.dims();
            h = conv.output_size(h).unwrap_or(0);
            w = conv.output_size(w).unwrap_or(0);
            total += c_out * c_in * k * k * h * w;
        }
        for dense in [&self.hidden, &self.output] {
            total += dense.linear.weight.dims().iter().product::<usize>();
        }
        total as f64
    }

    /// The hidden features h = act(hidden(flatten(convs(x)))) on which the logit layer acts:
    /// `[batch, c, h, w] → [batch, hidden]`. A training forward advances spectral norm's power
    /// iteration of every layer it uses by one step.
    pub fn features(&self, x: Tensor<4>) -> Tensor<2> {
        let mut x = x;
        for conv in &self.convs {
            x = self.activation.forward(conv.forward(x));
        }
        let [batch, c, h, w] = x.dims();
        let flat = x.reshape([batch, c * h * w]);
        self.activation.forward(self.hidden.forward(flat))
    }

    /// The logit layer's weight the forward pass uses, as a row `[1, hidden]`: ∂logit/∂h.
    pub(crate) fn output_direction(&self) -> Tensor<2> {
        self.output.weight(false).transpose()
    }

    /// The input gradient through the features: given `top` = ∂(Σ_batch D)/∂h, `[batch,
    /// hidden]` (or `[1, hidden]`, the same for every sample), writes out the transposed chain
    /// below h with the forward's weights: ⊙ act′, ·W_hiddenᵀ, reshape to the last feature map,
    /// then per convolution from the top ⊙ act′ and conv_transpose2d with the same kernel,
    /// stride and padding. `x` `[batch, c, h, w] →` ∂(Σ_batch D)/∂x `[batch, c, h, w]`.
    pub(crate) fn input_gradient_below_features(&self, x: Tensor<4>, top: Tensor<2>) -> Tensor<4> {
        let kernels: Vec<Tensor<4>> = self.convs.iter().map(|c| c.kernel(false)).collect();
        let mut sizes = Vec::with_capacity(self.convs.len());
        let mut pre_activations = Vec::with_capacity(self.convs.len());
        let mut h = x;
        for (conv, kernel) in self.convs.iter().zip(&kernels) {
            let [_, _, height, width] = h.dims();
            sizes.push([height, width]);
            let pre = conv.forward_with(h, kernel.clone());
            h = self.activation.forward(pre.clone());
            pre_activations.push(pre);
        }
        let feature_dims = h.dims();
        let [batch, c, fh, fw] = feature_dims;
        let flat = h.reshape([batch, c * fh * fw]);
        let w_hidden = self.hidden.weight(false); // [flat, hidden]
        let pre_hidden = self.hidden.forward_with(flat, w_hidden.clone());
        let g = top.expand([batch as i64, -1]); // [batch, hidden]
        let g = g.mul(self.activation.derivative(pre_hidden));
        let g = g.matmul(w_hidden.transpose()); // [batch, flat]
        let mut g = g.reshape(feature_dims);
        for ((conv, pre), size) in self.convs.iter().zip(pre_activations).zip(sizes).rev() {
            g = g.mul(self.activation.derivative(pre));
            g = conv.backward_input(g, size);
        }
        g
    }
}

impl Discriminator<4> for DcganDiscriminator {
    /// `[batch, c, h, w] → [batch, 1]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.output.forward(self.features(x))
    }

    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        let convs = self
            .convs
            .iter()
            .enumerate()
            .filter_map(|(i, conv)| Some((format!("sigma.convs.{i}"), conv.sigma()?)));
        let dense = [("hidden", &self.hidden), ("output", &self.output)]
            .into_iter()
            .filter_map(|(name, layer)| Some((format!("sigma.{name}"), layer.sigma()?)));
        convs.chain(dense).collect()
    }

    /// True without spectral norm (the critic has no normalisation layer).
    fn judges_stacked_batches(&self) -> bool {
        self.convs.iter().all(|conv| conv.spectral.is_none())
            && self.hidden.spectral.is_none()
            && self.output.spectral.is_none()
    }
}

impl InputGradient<4> for DcganDiscriminator {
    /// The transposed chain with the forward's weights: g ← W_outᵀ, ⊙ act′, ·W_hiddenᵀ,
    /// reshape to the last feature map, then per convolution from the top ⊙ act′ and
    /// conv_transpose2d with the same kernel, stride and padding.
    /// `[batch, c, h, w] → [batch, c, h, w]`.
    fn input_gradient(&self, x: Tensor<4>) -> Tensor<4> {
        self.input_gradient_below_features(x, self.output_direction())
    }
}

/// Configuration of a [`DcganGenerator`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DcganGeneratorConfig {
    /// Size of the latent code z (default 100).
    #[serde(default = "latent")]
    pub latent_dim: usize,
    /// Width of the first fully connected layer (default 1024).
    #[serde(default = "hidden")]
    pub hidden: usize,
    /// Channels of the first feature map, then the input channels of each further transposed
    /// convolution (default `[128, 64]`: a 128-channel map, upsampled to 64, then to the image).
    #[serde(default = "generator_channels")]
    pub channels: Vec<usize>,
    /// How the weights are drawn (default `"pytorch"`; `{ normal = 0.02 }` is DCGAN's);
    /// BatchNorm starts at γ = 1, β = 0 either way.
    #[serde(default)]
    pub init: Init,
}

impl Default for DcganGeneratorConfig {
    fn default() -> Self {
        Self {
            latent_dim: latent(),
            hidden: hidden(),
            channels: generator_channels(),
            init: Init::Pytorch,
        }
    }
}

impl DcganGeneratorConfig {
    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        check_widths("generator", &self.channels, self.hidden)?;
        if self.latent_dim == 0 {
            return Err(ModelError::ZeroSize {
                field: "generator.latent_dim".to_string(),
                value: 0,
            });
        }
        self.init.validate("generator.init")?;
        check_image("generator", image, self.channels.len()).map(|_| ())
    }

    /// Builds the generator for images `[channels, height, width]`, drawing weights from
    /// `rng` (latent side first; BatchNorm starts at γ = 1, β = 0).
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<DcganGenerator, ModelError> {
        self.validate(image)?;
        let side = check_image("generator", image, self.channels.len())?;
        let first = self.channels[0] * side * side;
        let dense = vec![
            Dense::with_init(self.latent_dim, self.hidden, self.init, rng, device),
            Dense::with_init(self.hidden, first, self.init, rng, device),
        ];
        let dense_norms = vec![batch_norm(self.hidden, device), batch_norm(first, device)];
        let outputs: Vec<usize> = self.channels[1..]
            .iter()
            .copied()
            .chain(std::iter::once(image[0]))
            .collect();
        let mut ups = Vec::with_capacity(outputs.len());
        let mut up_norms = Vec::with_capacity(outputs.len() - 1);
        for (&c_in, &c_out) in self.channels.iter().zip(&outputs) {
            let shape = [c_in, c_out, KERNEL];
            ups.push(ConvTranspose::initialised(
                shape, STRIDE, PADDING, self.init, rng, device,
            ));
            if ups.len() < outputs.len() {
                up_norms.push(batch_norm(c_out, device));
            }
        }
        Ok(DcganGenerator {
            dense,
            dense_norms,
            ups,
            up_norms,
            latent_dim: self.latent_dim,
            base: [self.channels[0], side, side],
        })
    }
}

/// The DCGAN generator: `[batch, latent_dim] → [batch, c, h, w]` in [−1, 1].
#[derive(Module, Debug)]
pub struct DcganGenerator {
    /// The two fully connected layers.
    pub dense: Vec<Dense>,
    /// BatchNorm after each fully connected layer.
    pub dense_norms: Vec<BatchNorm>,
    /// The stride-2 transposed convolutions.
    pub ups: Vec<ConvTranspose>,
    /// BatchNorm after every transposed convolution but the last.
    pub up_norms: Vec<BatchNorm>,
    #[module(skip)]
    latent_dim: usize,
    #[module(skip)]
    base: [usize; 3],
}

impl DcganGenerator {
    /// Multiply-adds of one forward pass per sample (matrix products and transposed
    /// convolutions: c_in · c_out · k² per input position), the benchmarks' model-FLOP
    /// convention.
    pub fn multiply_adds(&self) -> f64 {
        let dense: usize = self
            .dense
            .iter()
            .map(|d| d.linear.weight.dims().iter().product::<usize>())
            .sum();
        let [_, mut h, mut w] = self.base;
        let mut ups = 0;
        for up in &self.ups {
            let [c_in, c_out, k, _] = up.weight.dims();
            ups += c_in * c_out * k * k * h * w;
            (h, w) = (h * STRIDE, w * STRIDE);
        }
        (dense + ups) as f64
    }
}

impl Generator<4> for DcganGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// `[batch, latent_dim] → [batch, c, h, w]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let mut x = z;
        for (layer, norm) in self.dense.iter().zip(&self.dense_norms) {
            x = burn::tensor::activation::relu(norm.forward(layer.forward(x)));
        }
        let [batch, _] = x.dims();
        let [c, h, w] = self.base;
        let mut x = x.reshape([batch, c, h, w]);
        let last = self.ups.len() - 1;
        for (i, up) in self.ups.iter().enumerate() {
            x = up.forward(x);
            x = match self.up_norms.get(i) {
                Some(norm) if i < last => burn::tensor::activation::relu(norm.forward(x)),
                _ => x.tanh(),
            };
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};

    #[test]
    fn shapes_of_the_mnist_workload() {
        let device = device(BackendKind::Flex).unwrap();
        let mut rng = HostRng::seed_from(0);
        let generator = DcganGeneratorConfig::default()
            .init([1, 28, 28], &mut rng, &device)
            .unwrap();
        let critic = DcganDiscriminatorConfig::default()
            .init([1, 28, 28], &mut rng, &device)
            .unwrap();
        let images = generator.forward(rng.normal([3, 100], &device));
        assert_eq!(images.dims(), [3, 1, 28, 28]);
        assert_eq!(critic.forward(images).dims(), [3, 1]);
        assert_eq!(critic.hidden.linear.weight.dims(), [6272, 1024]);
        assert_eq!(generator.ups[0].weight.dims(), [128, 64, 4, 4]);
        // WORKLOADS.md's counts: z → 1024 → 6272, then 7×7×128 → 14×14×64 → 28×28×1 (k4);
        // 28×28×1 → 14×14×64 → 7×7×128 (k4), then 6272 → 1024 → 1.
        let g = 100 * 1024 + 1024 * 6272 + 128 * 64 * 16 * 49 + 64 * 16 * 196;
        let d = 64 * 16 * 196 + 128 * 64 * 16 * 49 + 6272 * 1024 + 1024;
        assert_eq!(generator.multiply_adds(), g as f64);
        assert_eq!(critic.multiply_adds([1, 28, 28]), d as f64);
        let error = DcganDiscriminatorConfig::default()
            .init([1, 30, 30], &mut rng, &device)
            .unwrap_err();
        assert!(
            error.to_string().contains("multiple of 4, got 30×30"),
            "{error}"
        );
    }

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    /// The next `n` host draws of `rng`, × `std`.
    fn draws(rng: &mut HostRng, n: usize, std: f32) -> Vec<f32> {
        rng.normal_vec(n).iter().map(|v| v * std).collect()
    }

    /// `init = { normal = 0.02 }` (DCGAN's, Radford et al. 2016): every weight of both networks
    /// — dense, transposed-convolution and convolution kernels, in PyTorch's layouts — is 0.02
    /// × the host RNG's next N(0, 1) draws, layer after layer, every bias is zero and draws
    /// nothing, BatchNorm starts at γ = 1, β = 0, and spectral norm's u follows the weights;
    /// on flex and ndarray alike.
    #[test]
    fn normal_init_draws_every_dcgan_weight_from_the_host_rng_in_order() {
        let std = 0.02f32;
        let init = Init::Normal(f64::from(std));
        let generator = DcganGeneratorConfig {
            latent_dim: 6,
            hidden: 10,
            channels: vec![4, 3],
            init,
        };
        let critic = DcganDiscriminatorConfig {
            channels: vec![3, 5],
            hidden: 7,
            init,
            ..DcganDiscriminatorConfig::default()
        }
        .with_spectral_norm(true);
        for kind in [BackendKind::Flex, BackendKind::Ndarray] {
            let device = device(kind).unwrap();
            let mut want = HostRng::seed_from(3);
            let g = generator
                .init([2, 12, 12], &mut HostRng::seed_from(3), &device)
                .unwrap();
            for layer in &g.dense {
                let w = values(layer.linear.weight.val());
                assert_eq!(w, draws(&mut want, w.len(), std), "{kind:?}");
                let b = values(layer.linear.bias.as_ref().unwrap().val());
                assert!(b.iter().all(|&v| v == 0.0), "{kind:?}");
            }
            for up in &g.ups {
                let w = values(up.weight.val());
                assert_eq!(w, draws(&mut want, w.len(), std), "{kind:?}");
                assert!(values(up.bias.val()).iter().all(|&v| v == 0.0));
            }
            assert_eq!(g.ups[1].weight.dims(), [3, 2, 4, 4]);
            for norm in g.dense_norms.iter().chain(&g.up_norms) {
                assert!(values(norm.gamma.val()).iter().all(|&v| v == 1.0));
                assert!(values(norm.beta.val()).iter().all(|&v| v == 0.0));
            }
            let mut want = HostRng::seed_from(4);
            let c = critic
                .init([2, 12, 12], &mut HostRng::seed_from(4), &device)
                .unwrap();
            assert_eq!(c.convs[0].weight.dims(), [3, 2, 4, 4]);
            for conv in &c.convs {
                let w = values(conv.weight.val());
                assert_eq!(w, draws(&mut want, w.len(), std), "{kind:?}");
                assert!(values(conv.bias.val()).iter().all(|&v| v == 0.0));
                // u of spectral norm: the next draws, after the layer's weights.
                let u = conv.spectral.as_ref().unwrap().u.value_sync();
                let [n] = u.dims();
                want.normal_vec(n);
            }
            for layer in [&c.hidden, &c.output] {
                let w = values(layer.linear.weight.val());
                assert_eq!(w, draws(&mut want, w.len(), std), "{kind:?}");
                let n = layer.spectral.as_ref().unwrap().u.value_sync().dims()[0];
                want.normal_vec(n);
            }
        }
    }

    /// The default is unchanged: `init = "pytorch"` draws what the DCGAN always drew.
    #[test]
    fn pytorch_init_is_the_default_and_keeps_the_draws_of_conv_new() {
        let device = device(BackendKind::Flex).unwrap();
        assert_eq!(DcganGeneratorConfig::default().init, Init::Pytorch);
        let critic = DcganDiscriminatorConfig {
            channels: vec![3],
            hidden: 4,
            ..DcganDiscriminatorConfig::default()
        }
        .init([1, 4, 4], &mut HostRng::seed_from(9), &device)
        .unwrap();
        let mut rng = HostRng::seed_from(9);
        let conv = Conv::new(1, 3, 4, 2, 1, false, &mut rng, &device);
        assert_eq!(
            values(critic.convs[0].weight.val()),
            values(conv.weight.val())
        );
        assert_eq!(values(critic.convs[0].bias.val()), values(conv.bias.val()));
        let hidden = Dense::new(12, 4, false, &mut rng, &device);
        let w = values(critic.hidden.linear.weight.val());
        assert_eq!(w, values(hidden.linear.weight.val()));
    }

    #[test]
    fn a_dcgan_normal_init_needs_a_positive_finite_std() {
        let bad = Init::Normal(-0.02);
        let generator = DcganGeneratorConfig {
            init: bad,
            ..DcganGeneratorConfig::default()
        };
        let error = generator.validate([1, 28, 28]).unwrap_err().to_string();
        assert!(error.starts_with("generator.init: the normal's standard deviation must be positive and finite, got -0.02"), "{error}");
        let critic = DcganDiscriminatorConfig {
            init: bad,
            ..DcganDiscriminatorConfig::default()
        };
        let error = critic.validate([1, 28, 28]).unwrap_err().to_string();
        assert!(error.starts_with("discriminator.init: "), "{error}");
    }
}
