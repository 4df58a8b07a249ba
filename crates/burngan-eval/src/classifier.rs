//! The feature network: a small convolutional classifier whose penultimate activations are the
//! feature space of the Fréchet distance and the manifold metrics, and whose class
//! probabilities give the classifier score and the class histogram.
//!
//! Architecture (`[batch, c, h, w]` images in [−1, 1], h and w divisible by 4):
//!
//! ```text
//! conv 5×5, c → w₁, pad 2 ─ ReLU ─ max-pool 2×2      [batch, w₁, h/2, w/2]
//! conv 5×5, w₁ → w₂, pad 2 ─ ReLU ─ max-pool 2×2     [batch, w₂, h/4, w/4]
//! flatten ─ dense → hidden ─ ReLU                     [batch, hidden]   ← features
//! dense → classes                                     [batch, classes]  ← logits
//! ```
//!
//! With the MNIST defaults (1×28×28, widths 16 and 32, 128 hidden units, 10 classes) it has
//! 215,370 parameters and about 3 million multiply-adds per image.

use burn::module::Module;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::HostRng;
use burngan_models::{Conv, Dense};
use serde::{Deserialize, Serialize};

use crate::EvalError;

/// The architecture of a [`Classifier`]: what it reads and how wide it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Image channels (1 grayscale, 3 RGB).
    pub channels: usize,
    /// Image height and width, each divisible by 4.
    pub size: [usize; 2],
    /// Number of classes.
    pub classes: usize,
    /// Output channels of the two convolutions.
    pub widths: [usize; 2],
    /// Width of the penultimate layer: the feature dimension.
    pub hidden: usize,
}

impl ClassifierConfig {
    /// The shipped MNIST network: 1×28×28, widths 16 and 32, 128 features, 10 classes.
    pub fn mnist() -> Self {
        Self {
            channels: 1,
            size: [28, 28],
            classes: 10,
            widths: [16, 32],
            hidden: 128,
        }
    }

    /// The image shape `[channels, height, width]` the network reads.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.channels, self.size[0], self.size[1]]
    }

    /// Checks that every size is positive, the image sides are divisible by 4 and there are
    /// at least two classes.
    pub fn validate(&self) -> Result<(), EvalError> {
        let [h, w] = self.size;
        if h == 0 || w == 0 || !h.is_multiple_of(4) || !w.is_multiple_of(4) {
            return Err(EvalError::Config(format!(
                "the feature network needs image sides divisible by 4 (two 2×2 poolings), got \
                 {h}×{w}; resize the data (`size` in the [data] section) to e.g. 28×28 or 32×32"
            )));
        }
        if self.channels == 0 || self.widths.contains(&0) || self.hidden == 0 {
            return Err(EvalError::Config(format!(
                "channels, widths and hidden must be positive, got channels {}, widths {:?}, \
                 hidden {}",
                self.channels, self.widths, self.hidden
            )));
        }
        if self.classes < 2 {
            return Err(EvalError::Config(format!(
                "a classifier needs at least 2 classes, the labels have {}",
                self.classes
            )));
        }
        Ok(())
    }

    /// A network with weights drawn from `rng` (PyTorch's default initialisation, layer by
    /// layer in forward order) on `device`.
    pub fn init(&self, rng: &mut HostRng, device: &Device) -> Result<Classifier, EvalError> {
        self.validate()?;
        let [w1, w2] = self.widths;
        let flat = w2 * (self.size[0] / 4) * (self.size[1] / 4);
        Ok(Classifier {
            conv1: Conv::new(self.channels, w1, 5, 1, 2, false, rng, device),
            conv2: Conv::new(w1, w2, 5, 1, 2, false, rng, device),
            hidden: Dense::new(flat, self.hidden, false, rng, device),
            output: Dense::new(self.hidden, self.classes, false, rng, device),
        })
    }
}

/// The convolutional classifier: `[batch, c, h, w]` images in [−1, 1] (h and w divisible by
/// 4) through
///
/// ```text
/// conv 5×5, c → w₁, pad 2 ─ ReLU ─ max-pool 2×2      [batch, w₁, h/2, w/2]
/// conv 5×5, w₁ → w₂, pad 2 ─ ReLU ─ max-pool 2×2     [batch, w₂, h/4, w/4]
/// flatten ─ dense → hidden ─ ReLU                     [batch, hidden]   ← features
/// dense → classes                                     [batch, classes]  ← logits
/// ```
///
/// With the MNIST defaults (1×28×28, widths 16 and 32, 128 hidden units, 10 classes) it has
/// 215,370 parameters.
#[derive(Module, Debug)]
pub struct Classifier {
    /// First convolution, `c → w₁`.
    pub conv1: Conv,
    /// Second convolution, `w₁ → w₂`.
    pub conv2: Conv,
    /// The penultimate dense layer, `w₂·h/4·w/4 → hidden`.
    pub hidden: Dense,
    /// The class logits, `hidden → classes`.
    pub output: Dense,
}

/// The classifier's outputs for a set of images, on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierOutputs {
    /// Penultimate features, row-major `[n, feature_dim]`.
    pub features: Vec<f32>,
    /// Softmax class probabilities, row-major `[n, classes]`.
    pub probabilities: Vec<f32>,
    /// Feature dimension.
    pub feature_dim: usize,
    /// Number of classes.
    pub classes: usize,
}

impl ClassifierOutputs {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.features.len() / self.feature_dim.max(1)
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// The predicted class (arg max, ties to the lower index) of every image, length n.
    pub fn predictions(&self) -> Vec<usize> {
        self.probabilities
            .chunks_exact(self.classes.max(1))
            .map(|row| {
                row.iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |best, (i, &p)| {
                        if p > best.1 { (i, p) } else { best }
                    })
                    .0
            })
            .collect()
    }
}

impl Classifier {
    /// Penultimate features `[batch, hidden]` and logits `[batch, classes]` of images
    /// `[batch, c, h, w]`.
    pub fn forward(&self, images: Tensor<4>) -> (Tensor<2>, Tensor<2>) {
        let pool = || MaxPoolOptions::new([2, 2]);
        let x = max_pool2d(relu(self.conv1.forward(images)), pool());
        let x = max_pool2d(relu(self.conv2.forward(x)), pool());
        let features = relu(self.hidden.forward(x.flatten(1, 3)));
        let logits = self.output.forward(features.clone());
        (features, logits)
    }

    /// The feature dimension.
    pub fn feature_dim(&self) -> usize {
        self.output.linear.weight.shape().dims::<2>()[0]
    }

    /// The number of classes.
    pub fn classes(&self) -> usize {
        self.output.linear.weight.shape().dims::<2>()[1]
    }

    /// Whether the network reads images of `shape` `[c, h, w]`: c is its input channel count,
    /// h and w are divisible by 4 and the pooled feature map has the length its dense layer
    /// takes.
    pub fn reads(&self, [c, h, w]: [usize; 3]) -> bool {
        let width = self.conv2.weight.shape().dims::<4>()[0];
        let input = self.conv1.weight.shape().dims::<4>()[1];
        let flat = self.hidden.linear.weight.shape().dims::<2>()[0];
        c == input && h % 4 == 0 && w % 4 == 0 && width * (h / 4) * (w / 4) == flat
    }

    /// Features and probabilities of `n` images given row-major on the host (`pixels` of
    /// length n·c·h·w, values in [−1, 1]), computed in batches of `batch` on `device` without
    /// autodiff. Call it on an evaluation copy (`module.valid()`), or any copy: the network
    /// has no state that a forward pass changes.
    pub fn outputs_host(
        &self,
        pixels: &[f32],
        shape: [usize; 3],
        batch: usize,
        device: &Device,
    ) -> Result<ClassifierOutputs, EvalError> {
        let image_len: usize = shape.iter().product();
        if image_len == 0 || !pixels.len().is_multiple_of(image_len) {
            return Err(EvalError::Incompatible(format!(
                "{} pixel values are not a whole number of {shape:?} images",
                pixels.len()
            )));
        }
        let device = device.clone().without_autodiff();
        let batch = batch.max(1);
        let mut out = ClassifierOutputs {
            features: Vec::with_capacity(pixels.len() / image_len * self.feature_dim()),
            probabilities: Vec::new(),
            feature_dim: self.feature_dim(),
            classes: self.classes(),
        };
        for chunk in pixels.chunks(batch * image_len) {
            let b = chunk.len() / image_len;
            let [c, h, w] = shape;
            let x = Tensor::from_data(TensorData::new(chunk.to_vec(), [b, c, h, w]), &device);
            let (features, logits) = self.forward(x);
            out.features.extend(host(features, "features")?);
            out.probabilities
                .extend(host(softmax(logits, 1), "probabilities")?);
        }
        Ok(out)
    }
}

/// A tensor's values as `f32` on the host.
pub(crate) fn host<const R: usize>(
    tensor: Tensor<R>,
    what: &'static str,
) -> Result<Vec<f32>, EvalError> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| EvalError::Device {
            what,
            message: format!("{e:?}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnist_network_has_the_documented_size_and_shapes() {
        let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
        let net = ClassifierConfig::mnist()
            .init(&mut HostRng::seed_from(0), &device)
            .unwrap();
        // 16·1·25 + 16 + 32·16·25 + 32 + 1568·128 + 128 + 128·10 + 10
        assert_eq!(net.num_params(), 416 + 12_832 + 200_832 + 1_290);
        assert_eq!(net.num_params(), 215_370);
        let pixels = vec![0.5f32; 3 * 784];
        let out = net.outputs_host(&pixels, [1, 28, 28], 2, &device).unwrap();
        assert_eq!((out.len(), out.feature_dim, out.classes), (3, 128, 10));
        for row in out.probabilities.chunks(10) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // Identical images give the same features whatever batch they fall in, up to the
        // reduction order of the batched kernels (flex differs in the last bits between a
        // batch of 2 and a batch of 1).
        for (a, b) in out.features[..128].iter().zip(&out.features[256..]) {
            assert!((a - b).abs() <= 1e-6, "{a} vs {b}");
        }
    }

    #[test]
    fn sides_not_divisible_by_four_are_refused() {
        let config = ClassifierConfig {
            size: [30, 30],
            ..ClassifierConfig::mnist()
        };
        let error = config.validate().unwrap_err().to_string();
        assert!(error.contains("30×30"), "{error}");
    }
}
