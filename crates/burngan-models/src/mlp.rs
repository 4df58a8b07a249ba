//! Fully connected generator and critic, as in the `ring8-mlp` benchmark workload:
//! z → Linear → act → … → Linear → output activation. The generator can batch-normalise its
//! hidden layers after the first (the `mnist-mlp` generator, see
//! [`ImageMlpGenerator`](crate::ImageMlpGenerator)) or all of them (PacGAN's 2-D generator).
//! The critic can use maxout units and see packed samples (PacGAN: m samples concatenated
//! into one input, one logit per pack).

use burn::module::Module;
use burn::nn::{BatchNorm, Linear};
use burn::tensor::{Device, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use serde::{Deserialize, Serialize};

use crate::layers::batch_norm;
use crate::{Activation, Dense, Init, ModelError, SpectralConvention};

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
    /// With `batch_norm`, normalise the first hidden layer too, as PacGAN's and VEEGAN's 2-D
    /// generators do (default false).
    #[serde(default)]
    pub batch_norm_first: bool,
    /// How the Linear layers are drawn (default PyTorch's; `{ normal = 0.02 }` for PacGAN's
    /// N(0, 0.02²) weights and zero biases). BatchNorm starts at γ = 1, β = 0 either way.
    #[serde(default)]
    pub init: Init,
}

fn identity() -> Activation {
    Activation::Identity
}

fn leaky() -> Activation {
    Activation::LeakyRelu(0.2)
}

fn one() -> usize {
    1
}

/// Configuration of an [`MlpDiscriminator`]: `input → hidden[0] → … → 1 logit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlpDiscriminatorConfig {
    /// Widths of the hidden layers, input side first.
    pub hidden: Vec<usize>,
    /// Activation after each hidden layer; `{ maxout = k }` makes each hidden Linear produce
    /// k pieces per unit (`hidden[i]·k` outputs) and keeps the maximum of each unit's pieces.
    #[serde(default = "leaky")]
    pub activation: Activation,
    /// Samples per packed input (PacGAN's m; default 1, no packing): the critic reshapes a
    /// batch `[b, d]` into `[b/m, m·d]` (rows `i·m … i·m + m − 1` form pack i) and gives one
    /// logit per pack, `[b/m, 1]`. The batch must be a multiple of m
    /// ([`MlpDiscriminatorConfig::validate_batch`]).
    #[serde(default = "one")]
    pub pack: usize,
    /// Normalisation of the layers (default none).
    #[serde(default)]
    pub normalization: Normalization,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"` (as
    /// `torch.nn.utils.spectral_norm`); used only with `normalization = "spectral"`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
    /// How the Linear layers are drawn (default PyTorch's; `{ normal = 0.02 }` for PacGAN's
    /// N(0, 0.02²) weights and zero biases), before any spectral-norm vector.
    #[serde(default)]
    pub init: Init,
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
    init: Init,
    rng: &mut HostRng,
    device: &Device,
) -> Vec<Linear> {
    let sizes: Vec<usize> = sizes.into_iter().collect();
    sizes
        .windows(2)
        .map(|pair| init.linear(pair[0], pair[1], rng, device))
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
            batch_norm_first: false,
            init: Init::Pytorch,
        }
    }

    /// Sets how the Linear layers are drawn.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets whether hidden layers after the first are batch-normalised.
    pub fn with_batch_norm(mut self, batch_norm: bool) -> Self {
        self.batch_norm = batch_norm;
        self
    }

    /// Sets whether, with batch norm, the first hidden layer is normalised too.
    pub fn with_batch_norm_first(mut self, first: bool) -> Self {
        self.batch_norm_first = first;
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
        self.init.validate("generator.init")?;
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
                .skip(usize::from(!self.batch_norm_first))
                .map(|&width| batch_norm(width, device))
                .collect(),
            false => Vec::new(),
        };
        Ok(MlpGenerator {
            layers: layers(sizes, self.init, rng, device),
            norms,
            activation: self.activation,
            output_activation: self.output_activation,
            latent_dim: self.latent_dim,
            first_normalised: self.batch_norm && self.batch_norm_first,
        })
    }
}

impl MlpDiscriminatorConfig {
    /// A critic with the given hidden widths and LeakyReLU(0.2) between layers.
    pub fn new(hidden: Vec<usize>) -> Self {
        Self {
            hidden,
            activation: leaky(),
            pack: 1,
            normalization: Normalization::None,
            spectral_convention: SpectralConvention::Burngan,
            init: Init::Pytorch,
        }
    }

    /// Sets how the Linear layers are drawn.
    pub fn with_init(mut self, init: Init) -> Self {
        self.init = init;
        self
    }

    /// Sets the samples per packed input (PacGAN's m; 1 turns packing off).
    pub fn with_pack(mut self, pack: usize) -> Self {
        self.pack = pack;
        self
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

    /// Checks sizes, the packing and the activation (maxout allowed); `input_dim` is the
    /// size of one sample.
    pub fn validate(&self, input_dim: usize) -> Result<(), ModelError> {
        check_sizes("discriminator", ("input_dim", input_dim), &self.hidden)?;
        check_sizes("discriminator", ("pack", self.pack), &[])?;
        self.init.validate("discriminator.init")?;
        self.activation.validate_maxout("discriminator.activation")
    }

    /// Checks that batches of `batch_size` samples split into whole packs.
    pub fn validate_batch(&self, batch_size: usize) -> Result<(), ModelError> {
        let pack = self.pack.max(1);
        if batch_size.is_multiple_of(pack) {
            return Ok(());
        }
        let lower = batch_size / pack * pack;
        let upper = lower + pack;
        Err(ModelError::BadShape {
            message: format!(
                "discriminator.pack = {pack} needs a batch size that is a multiple of {pack}, \
                 got train.batch_size = {batch_size}; use {} or {upper}, or change the pack",
                if lower > 0 { lower } else { upper }
            ),
        })
    }

    /// Builds the critic for samples of `input_dim` features, drawing weights from `rng`.
    pub fn init(
        &self,
        input_dim: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<MlpDiscriminator, ModelError> {
        self.validate(input_dim)?;
        // Layer i maps its input to hidden[i]·pieces pre-activations; the activation takes
        // them back to hidden[i] units.
        let pieces = self.activation.pieces();
        let inputs = std::iter::once(self.pack * input_dim).chain(self.hidden.iter().copied());
        let outputs = self.hidden.iter().map(|&w| w * pieces).chain([1]);
        let spectral = self.spectral();
        let layers = inputs
            .zip(outputs)
            .map(|(d_in, d_out)| {
                Dense::with_init(d_in, d_out, self.init, rng, device)
                    .with_spectral(spectral, rng, device)
            })
            .collect();
        let norms = match self.normalization {
            Normalization::Batch => self
                .hidden
                .iter()
                .map(|&width| batch_norm(width * pieces, device))
                .collect(),
            _ => Vec::new(),
        };
        Ok(MlpDiscriminator {
            layers,
            norms,
            activation: self.activation,
            pack: self.pack,
        })
    }
}

/// Fully connected generator: `[batch, latent_dim] → [batch, output_dim]`.
#[derive(Module, Debug)]
pub struct MlpGenerator {
    /// The layers, latent side first; the last one produces the sample.
    pub layers: Vec<Linear>,
    /// With `batch_norm`, one BatchNorm per hidden layer but the first: `norms[j]` follows
    /// `layers[j + 1]`; with `batch_norm_first` too, one per hidden layer: `norms[j]` follows
    /// `layers[j]`. Empty otherwise.
    pub norms: Vec<BatchNorm>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    output_activation: Activation,
    #[module(skip)]
    latent_dim: usize,
    #[module(skip)]
    first_normalised: bool,
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
                let norm = match self.first_normalised {
                    true => self.norms.get(i),
                    false => i.checked_sub(1).and_then(|j| self.norms.get(j)),
                };
                if let Some(norm) = norm {
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

/// Fully connected critic: `[batch, input_dim] → [batch / pack, 1]` logits (one per sample
/// without packing).
#[derive(Module, Debug)]
pub struct MlpDiscriminator {
    /// The layers, input side first; the last one produces the logit. With maxout, hidden
    /// layer i has `hidden[i]·k` outputs.
    pub layers: Vec<Dense>,
    /// One BatchNorm per hidden layer with `normalization = "batch"`, else empty (over the
    /// pre-activations, `hidden[i]·k` of them with maxout).
    pub norms: Vec<BatchNorm>,
    #[module(skip)]
    activation: Activation,
    #[module(skip)]
    pack: usize,
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

    /// Samples per packed input (1 without packing).
    pub fn pack(&self) -> usize {
        self.pack
    }

    /// `[batch, d] → [batch / pack, pack·d]`: consecutive rows form a pack.
    ///
    /// # Panics
    ///
    /// When `batch` is not a multiple of the pack; a run checks this up front with
    /// [`MlpDiscriminatorConfig::validate_batch`].
    fn packed(&self, x: Tensor<2>) -> Tensor<2> {
        if self.pack <= 1 {
            return x;
        }
        let [batch, d] = x.dims();
        assert!(
            batch.is_multiple_of(self.pack),
            "MlpDiscriminator: a batch of {batch} samples does not split into packs of {}; \
             use a multiple of {}",
            self.pack,
            self.pack
        );
        x.reshape([batch / self.pack, self.pack * d])
    }
}

impl Discriminator<2> for MlpDiscriminator {
    /// `[batch, input_dim] → [batch / pack, 1]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut x = self.packed(x);
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

    /// True without BatchNorm and spectral norm (a stacked batch is interleaved in whole
    /// packs, so no pack mixes the two batches).
    fn judges_stacked_batches(&self) -> bool {
        self.norms.is_empty() && self.layers.iter().all(|layer| layer.spectral.is_none())
    }

    /// The pack size m.
    fn samples_per_logit(&self) -> usize {
        self.pack.max(1)
    }
}

impl InputGradient<2> for MlpDiscriminator {
    /// The transposed chain: g ← 1·W_Lᵀ, then for each hidden layer from the top,
    /// g ← vjp_act(pre-activation, g) · Wᵀ (g ⊙ act′ element-wise; for maxout each unit's
    /// gradient goes to its winning piece), with the weights the forward pass uses (W/σ under
    /// spectral norm). With packing the forward's reshape is undone: row i of the result is
    /// ∂(the logit of sample i's pack)/∂xᵢ. `[batch, input_dim] → [batch, input_dim]`.
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let dims = x.dims();
        let x = self.packed(x);
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
            g = self.activation.vjp(pre, g); // [batch, d_out·pieces]
            g = g.matmul(w.clone().transpose()); // [batch, d_in]
        }
        g.reshape(dims)
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

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    /// `{ normal = 0.02 }`: every weight is 0.02 × the host RNG's next N(0, 1) draws, layer
    /// after layer, and every bias is zero and draws nothing — on flex and ndarray alike — so
    /// the sample statistics are those of N(0, 0.02²).
    #[test]
    fn normal_init_scales_the_host_draws_and_zeroes_the_biases_on_every_backend() {
        let std = 0.02f32;
        let init = Init::Normal(f64::from(std));
        let generator = MlpGeneratorConfig::new(2, vec![400, 400]).with_init(init);
        let critic = MlpDiscriminatorConfig::new(vec![200, 200])
            .with_activation(Activation::Maxout(5))
            .with_init(init);
        for kind in [BackendKind::Flex, BackendKind::Ndarray] {
            let device = device(kind).unwrap();
            let mut expected = HostRng::seed_from(4);
            let g = generator
                .init(2, &mut HostRng::seed_from(4), &device)
                .unwrap();
            for layer in &g.layers {
                let w = values(layer.weight.val());
                let want: Vec<f32> = expected
                    .normal_vec(w.len())
                    .iter()
                    .map(|v| v * std)
                    .collect();
                assert_eq!(w, want, "{kind:?}");
                let b = values(layer.bias.as_ref().unwrap().val());
                assert!(b.iter().all(|&v| v == 0.0), "{kind:?}");
            }
            let c = critic.init(2, &mut HostRng::seed_from(5), &device).unwrap();
            let dims: Vec<[usize; 2]> = c.layers.iter().map(|l| l.linear.weight.dims()).collect();
            assert_eq!(dims, vec![[2, 1000], [200, 1000], [200, 1]]);
            let w = values(c.layers[1].linear.weight.val());
            let n = w.len() as f64;
            let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let sd = (w
                .iter()
                .map(|&v| (f64::from(v) - mean).powi(2))
                .sum::<f64>()
                / n)
                .sqrt();
            // 200,000 draws: the sample std is within 1 % of 0.02 and the mean within
            // 5 standard errors (0.02/√n ≈ 4.5e-5) of 0.
            assert!((sd / 0.02 - 1.0).abs() < 0.01, "{kind:?}: std {sd}");
            assert!(mean.abs() < 5.0 * 0.02 / n.sqrt(), "{kind:?}: mean {mean}");
        }
    }

    #[test]
    fn a_normal_init_needs_a_positive_finite_std() {
        for std in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            let error = MlpGeneratorConfig::new(2, vec![4])
                .with_init(Init::Normal(std))
                .init(2, &mut HostRng::seed_from(0), &flex())
                .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "generator.init: the normal's standard deviation must be positive and \
                     finite, got {std}; use e.g. {{ normal = 0.02 }} (DCGAN's and PacGAN's), or \
                     \"pytorch\""
                )
            );
            let error = MlpDiscriminatorConfig::new(vec![4])
                .with_init(Init::Normal(std))
                .validate(2)
                .unwrap_err();
            assert!(
                error.to_string().starts_with("discriminator.init: "),
                "{error}"
            );
        }
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
            Activation::Maxout(3),
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

    /// PacGAN's critic: maxout units on packed inputs. The logits are one per pack and equal
    /// those of the same critic fed the packs as rows; the hand-written input gradient equals
    /// autodiff's, row for row, with and without spectral norm.
    #[test]
    fn packed_maxout_critic_matches_autodiff_and_its_unpacked_twin() {
        let device = flex().autodiff();
        for normalization in [Normalization::None, Normalization::Spectral] {
            let mut rng = HostRng::seed_from(11);
            let config = MlpDiscriminatorConfig::new(vec![12, 7])
                .with_activation(Activation::Maxout(5))
                .with_normalization(normalization)
                .with_pack(4);
            let critic = config.init(2, &mut rng, &device).unwrap();
            assert_eq!(critic.layers[0].weight(false).dims(), [8, 60]);
            assert_eq!(critic.layers[1].weight(false).dims(), [12, 35]);
            assert_eq!(critic.layers[2].weight(false).dims(), [7, 1]);
            let x = rng.normal([12, 2], &device);
            // The same weights (and power-iteration state) without packing, fed the packs as
            // 8-wide rows.
            let twin = MlpDiscriminatorConfig::new(vec![12, 7])
                .with_activation(Activation::Maxout(5))
                .with_normalization(normalization)
                .init(8, &mut HostRng::seed_from(0), &device)
                .unwrap()
                .load_record(critic.clone().into_record());
            let logits = critic.forward(x.clone().detach());
            assert_eq!(logits.dims(), [3, 1]);
            let twin_logits = twin.forward(x.clone().reshape([3, 8]).detach());
            let (a, b): (Vec<f32>, Vec<f32>) = (
                logits.into_data().try_to_vec::<f32>().unwrap(),
                twin_logits.into_data().try_to_vec::<f32>().unwrap(),
            );
            assert_eq!(a, b, "{normalization:?}");
            let x = x.require_grad();
            let grads = critic.forward(x.clone()).sum().backward();
            let autodiff = x.grad(&grads).unwrap();
            let ours = critic.input_gradient(x.detach());
            assert_eq!(ours.dims(), [12, 2]);
            ours.into_data()
                .assert_approx_eq::<f32>(&autodiff.into_data(), Default::default());
        }
    }

    #[test]
    fn bad_packing_and_misplaced_maxout_are_errors_naming_the_fix() {
        let config = MlpDiscriminatorConfig::new(vec![4]).with_pack(4);
        assert!(config.validate_batch(100).is_ok());
        assert_eq!(
            config.validate_batch(98).unwrap_err().to_string(),
            "discriminator.pack = 4 needs a batch size that is a multiple of 4, got \
             train.batch_size = 98; use 96 or 100, or change the pack"
        );
        assert!(
            config
                .validate_batch(3)
                .unwrap_err()
                .to_string()
                .contains("use 4 or 4")
        );
        let error = config.with_pack(0).validate(2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "discriminator.pack must be positive, got 0; set it to a size of at least 1"
        );
        let error = MlpGeneratorConfig::new(2, vec![4])
            .with_activation(Activation::Maxout(5))
            .validate(2)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("generator.activation: maxout")
        );
        let error = MlpDiscriminatorConfig::new(vec![4])
            .with_activation(Activation::Maxout(0))
            .validate(2)
            .unwrap_err();
        assert!(error.to_string().contains("at least 1 piece"), "{error}");
    }

    /// `batch_norm_first` puts one BatchNorm after every hidden layer (PacGAN's generator):
    /// in training mode each hidden layer's normalised pre-activations have batch mean 0,
    /// which with an identity activation shows in the next layer's input.
    #[test]
    fn batch_norm_first_normalises_every_hidden_layer() {
        let device = flex();
        let config = MlpGeneratorConfig::new(2, vec![5, 6, 7]).with_batch_norm(true);
        let some = config.init(2, &mut HostRng::seed_from(3), &device).unwrap();
        assert_eq!(some.norms.len(), 2);
        let all = config
            .clone()
            .with_batch_norm_first(true)
            .with_activation(Activation::Identity)
            .init(2, &mut HostRng::seed_from(3), &device)
            .unwrap();
        let widths: Vec<usize> = all.norms.iter().map(|n| n.gamma.val().dims()[0]).collect();
        assert_eq!(widths, vec![5, 6, 7]);
        let autodiff = flex().autodiff();
        let all = MlpGeneratorConfig::new(2, vec![5])
            .with_batch_norm(true)
            .with_batch_norm_first(true)
            .with_activation(Activation::Identity)
            .init(3, &mut HostRng::seed_from(4), &autodiff)
            .unwrap();
        // One hidden layer, normalised with γ = 1, β = 0: the output is W₂ᵀ·(normalised h)
        // + b₂, whose batch mean is exactly b₂.
        let z = HostRng::seed_from(6).normal([64, 2], &autodiff);
        let mean: Vec<f32> = all
            .forward(z)
            .mean_dim(0)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        let bias: Vec<f32> = all.layers[1]
            .bias
            .as_ref()
            .unwrap()
            .val()
            .into_data()
            .try_to_vec()
            .unwrap();
        for (m, b) in mean.iter().zip(&bias) {
            assert!((m - b).abs() < 1e-5, "{mean:?} vs {bias:?}");
        }
    }
}
