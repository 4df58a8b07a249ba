//! Class-conditional DCGAN networks for labelled image datasets:
//!
//! - [`ConditionalDcganGenerator`]: a learned label embedding concatenated to z, then the DCGAN
//!   generator body ([`DcganGenerator`]);
//! - [`ProjectionDiscriminator`]: the projection discriminator of Miyato & Koyama 2018
//!   ("cGANs with Projection Discriminator") on the DCGAN critic trunk ([`DcganDiscriminator`]):
//!   logit = ψ(h) + ⟨e_y, h⟩, where h are the trunk's hidden features, ψ its logit layer and
//!   e_y the embedding of class y.
//!
//! Labels are `Tensor<1, Int>` of shape `[batch]` with values in `0..num_classes`; a label
//! outside that range is a caller error (the row lookup's behaviour is then backend-defined).

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};
use serde::{Deserialize, Serialize};

use crate::{
    Activation, ClassEmbedding, DcganDiscriminator, DcganDiscriminatorConfig, DcganGenerator,
    DcganGeneratorConfig, ModelError, SpectralConvention,
};

fn embedding_dim() -> usize {
    50
}

/// A size that must be positive; the error names `field`.
fn positive(field: &str, value: usize) -> Result<(), ModelError> {
    match value {
        0 => Err(ModelError::ZeroSize {
            field: field.to_string(),
            value,
        }),
        _ => Ok(()),
    }
}

/// Labels 0, 1, …, K−1, 0, 1, … for `batch` rows: `[batch]` on `device`.
fn cyclic_labels(batch: usize, num_classes: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::<1, Int>::arange(0..batch as i64, device).remainder_scalar(num_classes as i64)
}

/// Configuration of a [`ConditionalDcganGenerator`]: the fields of [`DcganGeneratorConfig`]
/// plus the classes and the size of their embedding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionalDcganGeneratorConfig {
    /// Size of the latent code z (default 100).
    #[serde(default = "crate::dcgan::latent")]
    pub latent_dim: usize,
    /// Width of the first fully connected layer (default 1024).
    #[serde(default = "crate::dcgan::hidden")]
    pub hidden: usize,
    /// Channels of the first feature map, then the input channels of each further transposed
    /// convolution (default `[128, 64]`).
    #[serde(default = "crate::dcgan::generator_channels")]
    pub channels: Vec<usize>,
    /// The number of classes K (required; 10 for MNIST and CIFAR-10).
    pub num_classes: usize,
    /// Size of a class's embedding vector, concatenated to z (default 50).
    #[serde(default = "embedding_dim")]
    pub embedding_dim: usize,
}

impl ConditionalDcganGeneratorConfig {
    /// The DCGAN defaults with `num_classes` classes and 50-dimensional embeddings.
    pub fn new(num_classes: usize) -> Self {
        let body = DcganGeneratorConfig::default();
        Self {
            latent_dim: body.latent_dim,
            hidden: body.hidden,
            channels: body.channels,
            num_classes,
            embedding_dim: embedding_dim(),
        }
    }

    /// Sets the embedding size.
    pub fn with_embedding_dim(mut self, embedding_dim: usize) -> Self {
        self.embedding_dim = embedding_dim;
        self
    }

    /// The DCGAN body, whose input is z concatenated with the embedding (latent_dim +
    /// embedding_dim values); `None` when that sum overflows.
    fn body(&self) -> Option<DcganGeneratorConfig> {
        Some(DcganGeneratorConfig {
            latent_dim: self.latent_dim.checked_add(self.embedding_dim)?,
            hidden: self.hidden,
            channels: self.channels.clone(),
            init: crate::Init::Pytorch,
        })
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        self.checked_body(image).map(|_| ())
    }

    fn checked_body(&self, image: [usize; 3]) -> Result<DcganGeneratorConfig, ModelError> {
        positive("generator.latent_dim", self.latent_dim)?;
        positive("generator.num_classes", self.num_classes)?;
        positive("generator.embedding_dim", self.embedding_dim)?;
        let body = self.body().ok_or_else(|| ModelError::BadShape {
            message: "generator.latent_dim + generator.embedding_dim overflows; use smaller sizes"
                .to_string(),
        })?;
        body.validate(image)?;
        Ok(body)
    }

    /// Builds the generator for images `[channels, height, width]`, drawing from `rng` the
    /// embedding table (N(0, 1), like PyTorch's `nn.Embedding`) first, then the DCGAN body.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<ConditionalDcganGenerator, ModelError> {
        let body = self.checked_body(image)?;
        let embedding = ClassEmbedding::normal(self.num_classes, self.embedding_dim, rng, device);
        Ok(ConditionalDcganGenerator {
            embedding,
            body: body.init(image, rng, device)?,
            latent_dim: self.latent_dim,
        })
    }
}

/// The class-conditional DCGAN generator: latent codes `[batch, latent_dim]` and labels
/// `[batch]` → images `[batch, c, h, w]` in [−1, 1].
#[derive(Module, Debug)]
pub struct ConditionalDcganGenerator {
    /// The label embedding `[num_classes, embedding_dim]`.
    pub embedding: ClassEmbedding,
    /// The DCGAN generator on `[z, embedding(y)]`, `[batch, latent_dim + embedding_dim]`.
    pub body: DcganGenerator,
    #[module(skip)]
    latent_dim: usize,
}

impl Generator<4> for ConditionalDcganGenerator {
    fn latent_dim(&self) -> usize {
        self.latent_dim
    }

    /// Row i generates class i mod K: `[batch, latent_dim] → [batch, c, h, w]`.
    fn forward(&self, z: Tensor<2>) -> Tensor<4> {
        let [batch, _] = z.dims();
        let labels = cyclic_labels(batch, self.num_classes(), &z.device());
        self.forward_labeled(z, labels)
    }

    fn num_classes(&self) -> usize {
        self.embedding.num_classes()
    }

    /// `[batch, latent_dim]` and labels `[batch]` → `[batch, c, h, w]`: the body applied to
    /// z concatenated with the labels' embeddings.
    fn forward_labeled(&self, z: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<4> {
        let input = Tensor::cat(vec![z, self.embedding.forward(labels)], 1);
        self.body.forward(input)
    }
}

/// Configuration of a [`ProjectionDiscriminator`]: the fields of [`DcganDiscriminatorConfig`]
/// plus the classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectionDiscriminatorConfig {
    /// Output channels of each stride-2 convolution, input side first (default `[64, 128]`).
    #[serde(default = "crate::dcgan::critic_channels")]
    pub channels: Vec<usize>,
    /// Width of the hidden features h and of the class embeddings (default 1024).
    #[serde(default = "crate::dcgan::hidden")]
    pub hidden: usize,
    /// Activation after every hidden layer (default `{ leaky_relu = 0.2 }`).
    #[serde(default = "crate::dcgan::leaky")]
    pub activation: Activation,
    /// Spectral normalisation of every weight and of the embedding table (default false).
    #[serde(default)]
    pub spectral_norm: bool,
    /// How spectral norm estimates σ: `"burngan"` (default) or `"pytorch"` (as
    /// `torch.nn.utils.spectral_norm`); ignored without `spectral_norm`.
    #[serde(default)]
    pub spectral_convention: SpectralConvention,
    /// The number of classes K (required).
    pub num_classes: usize,
}

impl ProjectionDiscriminatorConfig {
    /// The DCGAN critic defaults with `num_classes` classes.
    pub fn new(num_classes: usize) -> Self {
        let trunk = DcganDiscriminatorConfig::default();
        Self {
            channels: trunk.channels,
            hidden: trunk.hidden,
            activation: trunk.activation,
            spectral_norm: trunk.spectral_norm,
            spectral_convention: trunk.spectral_convention,
            num_classes,
        }
    }

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

    /// The convention of spectral norm when every weight and the embedding table are
    /// spectrally normalised, else `None`.
    pub fn spectral(&self) -> Option<SpectralConvention> {
        self.spectral_norm.then_some(self.spectral_convention)
    }

    /// The DCGAN critic trunk.
    pub fn trunk(&self) -> DcganDiscriminatorConfig {
        DcganDiscriminatorConfig {
            channels: self.channels.clone(),
            hidden: self.hidden,
            activation: self.activation,
            spectral_norm: self.spectral_norm,
            spectral_convention: self.spectral_convention,
            init: crate::Init::Pytorch,
        }
    }

    /// Checks the sizes for images `[channels, height, width]`.
    pub fn validate(&self, image: [usize; 3]) -> Result<(), ModelError> {
        positive("discriminator.num_classes", self.num_classes)?;
        self.trunk().validate(image)
    }

    /// Builds the critic for images `[channels, height, width]`, drawing from `rng` the trunk
    /// (input side first), then the embedding table (Glorot uniform, as in the authors' code),
    /// then its power-iteration vector under spectral norm.
    pub fn init(
        &self,
        image: [usize; 3],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<ProjectionDiscriminator, ModelError> {
        positive("discriminator.num_classes", self.num_classes)?;
        let trunk = self.trunk().init(image, rng, device)?;
        let embedding = ClassEmbedding::xavier(self.num_classes, self.hidden, false, rng, device)
            .with_spectral(self.spectral(), rng, device);
        Ok(ProjectionDiscriminator { trunk, embedding })
    }
}

/// The projection discriminator: images `[batch, c, h, w]` and labels `[batch]` → logits
/// `[batch, 1]` = ψ(h) + ⟨e_y, h⟩ with h = act(hidden(flatten(convs(x)))) `[batch, hidden]`.
///
/// Under spectral norm the embedding table is normalised too, viewed as a `[num_classes,
/// hidden]` matrix (E/σ(E), one power-iteration step per training forward), as PyTorch's
/// `spectral_norm` does for an `nn.Embedding`.
#[derive(Module, Debug)]
pub struct ProjectionDiscriminator {
    /// The DCGAN critic: h = [`features`](DcganDiscriminator::features), ψ = its `output`.
    pub trunk: DcganDiscriminator,
    /// The class embeddings `[num_classes, hidden]`.
    pub embedding: ClassEmbedding,
}

impl Discriminator<4> for ProjectionDiscriminator {
    /// The unconditional part ψ(h): `[batch, c, h, w] → [batch, 1]`.
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.trunk.forward(x)
    }

    fn num_classes(&self) -> usize {
        self.embedding.num_classes()
    }

    /// ψ(h) + ⟨e_y, h⟩: `[batch, c, h, w]` and labels `[batch]` → `[batch, 1]`.
    fn forward_labeled(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<2> {
        let h = self.trunk.features(x);
        let projection = self.embedding.forward(labels).mul(h.clone()).sum_dim(1);
        self.trunk.output.forward(h).add(projection)
    }

    /// The trunk's diagnostics, then `sigma.embedding` under spectral norm.
    fn diagnostics(&self) -> Vec<(String, Tensor<1>)> {
        let mut diagnostics = self.trunk.diagnostics();
        if let Some(sigma) = self.embedding.sigma() {
            diagnostics.push(("sigma.embedding".to_string(), sigma));
        }
        diagnostics
    }

    /// The trunk's answer, and no spectral norm on the embedding.
    fn judges_stacked_batches(&self) -> bool {
        self.trunk.judges_stacked_batches() && self.embedding.spectral.is_none()
    }
}

impl InputGradient<4> for ProjectionDiscriminator {
    /// The gradient of the unconditional part ψ(h), as for the DCGAN critic:
    /// `[batch, c, h, w] → [batch, c, h, w]`.
    fn input_gradient(&self, x: Tensor<4>) -> Tensor<4> {
        self.trunk.input_gradient(x)
    }

    /// The gradient of ψ(h) + ⟨e_y, h⟩: ∂/∂h = w_ψ + e_y per sample (with the forward's
    /// weights, spectral norm included), then the trunk's transposed chain below h.
    /// `[batch, c, h, w]` and labels `[batch]` → `[batch, c, h, w]`.
    fn input_gradient_labeled(&self, x: Tensor<4>, labels: Tensor<1, Int>) -> Tensor<4> {
        let embedded = self.embedding.table(false).select(0, labels); // [batch, hidden]
        let top = embedded.add(self.trunk.output_direction()); // [batch, hidden]
        self.trunk.input_gradient_below_features(x, top)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;
    use burngan_backend::{BackendKind, device};

    fn flex() -> Device {
        device(BackendKind::Flex).expect("flex is a default feature")
    }

    fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec().unwrap()
    }

    /// max |a − b| / max |b|.
    fn relative_error(ours: &[f32], reference: &[f32]) -> f64 {
        assert_eq!(ours.len(), reference.len());
        let scale = reference
            .iter()
            .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
        let worst = ours
            .iter()
            .zip(reference)
            .fold(0.0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
        assert!(scale > 0.0, "the reference gradient is identically zero");
        worst / scale
    }

    fn labels(values: &[i64], device: &Device) -> Tensor<1, Int> {
        Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
    }

    #[test]
    fn forward_generates_class_i_mod_k_and_labels_change_the_images() {
        let device = flex();
        let mut rng = HostRng::seed_from(3);
        let generator = ConditionalDcganGeneratorConfig::new(10)
            .init([1, 28, 28], &mut rng, &device)
            .unwrap();
        let z = rng.normal([23, 100], &device);
        let cyclic: Vec<i64> = (0..23).map(|i| i % 10).collect();
        let unlabelled = generator.forward(z.clone());
        let labelled = generator.forward_labeled(z.clone(), labels(&cyclic, &device));
        assert_eq!(host(unlabelled), host(labelled));

        let zeros = host(generator.forward_labeled(z.clone(), labels(&[0; 23], &device)));
        let ones = host(generator.forward_labeled(z, labels(&[1; 23], &device)));
        // Every image changes with its label.
        for (i, (a, b)) in zeros.chunks(784).zip(ones.chunks(784)).enumerate() {
            let change = a
                .iter()
                .zip(b)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(change > 1e-4, "image {i} ignores its label: {change}");
        }
    }

    #[test]
    fn the_embeddings_are_trained() {
        let device = flex().autodiff();
        let mut rng = HostRng::seed_from(4);
        let generator = ConditionalDcganGeneratorConfig::new(3)
            .with_embedding_dim(5)
            .init([1, 8, 8], &mut rng, &device)
            .unwrap();
        // No spectral norm: σ(E) would pass a gradient to every row.
        let critic = ProjectionDiscriminatorConfig::new(3)
            .init([1, 8, 8], &mut rng, &device)
            .unwrap();
        let y = labels(&[2, 0, 2, 2], &device);
        let z = rng.normal([4, 100], &device);
        let logits = critic.forward_labeled(generator.forward_labeled(z, y.clone()), y);
        let grads = logits.sum().backward();
        for (name, grad) in [
            ("generator", generator.embedding.weight.grad(&grads)),
            ("critic", critic.embedding.weight.grad(&grads)),
        ] {
            let grad = host(grad.expect("the table is tracked"));
            let row = |r: usize| grad[r * grad.len() / 3..(r + 1) * grad.len() / 3].to_vec();
            // Class 1 is not in the batch: its row gets no gradient, the others do.
            assert!(row(1).iter().all(|&g| g == 0.0), "{name}");
            assert!(row(0).iter().any(|&g| g != 0.0), "{name}");
            assert!(row(2).iter().any(|&g| g != 0.0), "{name}");
        }
    }

    #[test]
    fn projection_input_gradients_equal_autodiff() {
        let device = flex().autodiff();
        for spectral_norm in [false, true] {
            let mut rng = HostRng::seed_from(5);
            let config = ProjectionDiscriminatorConfig {
                channels: vec![4, 8],
                hidden: 16,
                activation: Activation::LeakyRelu(0.2),
                spectral_norm,
                spectral_convention: SpectralConvention::Burngan,
                num_classes: 10,
            };
            let critic = config.init([1, 28, 28], &mut rng, &device).unwrap();
            let y = labels(&[3, 9, 0, 3, 7], &device);
            let x = rng.normal([5, 1, 28, 28], &device).require_grad();

            // Labelled: ∂Σ(ψ(h) + ⟨e_y, h⟩)/∂x. The forward advances any power iteration; the
            // hand-written chain reuses the updated state.
            let grads = critic
                .forward_labeled(x.clone(), y.clone())
                .sum()
                .backward();
            let autodiff = host(x.grad(&grads).unwrap().inner());
            let ours = host(critic.input_gradient_labeled(x.clone().detach(), y));
            let error = relative_error(&ours, &autodiff);
            assert!(
                error < 1e-5,
                "labelled, spectral {spectral_norm}: {error:.2e}"
            );

            // Unconditional part ψ(h).
            let grads = critic.forward(x.clone()).sum().backward();
            let autodiff = host(x.grad(&grads).unwrap().inner());
            let ours = host(critic.input_gradient(x.detach()));
            let error = relative_error(&ours, &autodiff);
            assert!(
                error < 1e-5,
                "unlabelled, spectral {spectral_norm}: {error:.2e}"
            );
        }
    }

    #[test]
    fn the_projection_adds_the_class_embedding_inner_product() {
        let device = flex();
        let mut rng = HostRng::seed_from(6);
        let critic = ProjectionDiscriminatorConfig {
            channels: vec![4],
            hidden: 8,
            activation: Activation::LeakyRelu(0.2),
            spectral_norm: false,
            spectral_convention: SpectralConvention::Burngan,
            num_classes: 4,
        }
        .init([2, 6, 6], &mut rng, &device)
        .unwrap();
        let x = rng.normal([3, 2, 6, 6], &device);
        let y = labels(&[1, 3, 1], &device);
        let h = host(critic.trunk.features(x.clone()));
        let table = host(critic.embedding.weight.val());
        let plain = host(critic.forward(x.clone()));
        let labelled = host(critic.forward_labeled(x, y));
        for (i, class) in [1usize, 3, 1].into_iter().enumerate() {
            let dot: f32 = (0..8).map(|k| h[i * 8 + k] * table[class * 8 + k]).sum();
            assert!((labelled[i] - plain[i] - dot).abs() < 1e-5, "row {i}");
        }
    }

    #[test]
    fn spectral_norm_reports_the_embedding_sigma() {
        let device = flex();
        let mut rng = HostRng::seed_from(7);
        let critic = ProjectionDiscriminatorConfig::new(10)
            .with_spectral_norm(true)
            .init([1, 28, 28], &mut rng, &device)
            .unwrap();
        let names: Vec<String> = critic.diagnostics().into_iter().map(|(n, _)| n).collect();
        assert_eq!(
            names,
            [
                "sigma.convs.0",
                "sigma.convs.1",
                "sigma.hidden",
                "sigma.output",
                "sigma.embedding"
            ]
        );
        let plain = ProjectionDiscriminatorConfig::new(10)
            .init([1, 28, 28], &mut rng, &device)
            .unwrap();
        assert!(plain.diagnostics().is_empty());
    }

    #[test]
    fn bad_sizes_are_errors_naming_the_field() {
        let device = flex();
        let mut rng = HostRng::seed_from(8);
        let error = ConditionalDcganGeneratorConfig::new(0)
            .init([1, 28, 28], &mut rng, &device)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "generator.num_classes must be positive, got 0; set it to a size of at least 1"
        );
        let error = ConditionalDcganGeneratorConfig::new(10)
            .with_embedding_dim(0)
            .validate([1, 28, 28])
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("generator.embedding_dim must be positive")
        );
        let error = ConditionalDcganGeneratorConfig::new(10)
            .with_embedding_dim(usize::MAX)
            .validate([1, 28, 28])
            .unwrap_err();
        assert!(error.to_string().contains("overflows"), "{error}");
        let error = ProjectionDiscriminatorConfig::new(0)
            .init([1, 28, 28], &mut rng, &device)
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("discriminator.num_classes must be positive")
        );
        let error = ProjectionDiscriminatorConfig::new(10)
            .validate([1, 30, 30])
            .unwrap_err();
        assert!(
            error.to_string().contains("multiple of 4, got 30×30"),
            "{error}"
        );
    }
}
