//! [`GroupNorm`]: the per-sample normalisation that admits a per-sample input gradient
//! (GroupNorm on feature maps; with one group LayerNorm over `[c, h, w]`; on vectors LayerNorm
//! over the features). Its VJP is written with forward ops from the cached normalised values.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor, TensorData};

use super::{Block, Cache, CacheKind, Features, wrong_cache};
use crate::ModelError;

/// Group normalisation (Wu & He 2018) of each sample: the channels are split into `groups`
/// groups, each group's values (channels × h × w) are normalised to mean 0 and variance 1
/// (biased variance, ε = 1e-5 added, as PyTorch's `nn.GroupNorm`), then scaled by γ and
/// shifted by β per channel. Maps `[batch, c, h, w] → [batch, c, h, w]`; vectors `[batch, n]`
/// are treated as `[batch, n, 1, 1]` (with one group: LayerNorm over the features).
///
/// No statistic crosses samples, so the input gradient is per sample: with x̂ the normalised
/// values of a group, s = √(var + ε) and ĝ = g ⊙ γ, the VJP is (ĝ − mean(ĝ) − x̂·mean(ĝ ⊙ x̂))/s
/// per group.
#[derive(Module, Debug)]
pub struct GroupNorm {
    /// γ `[c]`, initially 1.
    pub gamma: Param<Tensor<1>>,
    /// β `[c]`, initially 0.
    pub beta: Param<Tensor<1>>,
    #[module(skip)]
    groups: usize,
    #[module(skip)]
    epsilon: f64,
}

impl GroupNorm {
    /// `groups` groups over `channels` channels (a multiple of `groups`), γ = 1, β = 0,
    /// ε = 1e-5.
    pub fn new(groups: usize, channels: usize, device: &Device) -> Result<Self, ModelError> {
        if groups == 0 || channels == 0 || !channels.is_multiple_of(groups) {
            return Err(ModelError::BadShape {
                message: format!(
                    "a group norm needs a positive number of groups dividing its {channels} \
                     channels, got {groups}"
                ),
            });
        }
        let constant = |value: f32| {
            let data = TensorData::new(vec![value; channels], [channels]);
            Param::from_tensor(Tensor::from_data(data, device))
        };
        Ok(Self {
            gamma: constant(1.0),
            beta: constant(0.0),
            groups,
            epsilon: 1e-5,
        })
    }

    /// LayerNorm over everything of a sample: one group.
    pub fn layer_norm(channels: usize, device: &Device) -> Result<Self, ModelError> {
        Self::new(1, channels, device)
    }

    /// The number of channels.
    fn channels(&self) -> usize {
        self.gamma.dims()[0]
    }
}

/// What a group norm's VJP needs.
#[derive(Debug, Clone)]
pub(crate) struct NormCache {
    /// x̂ `[b, groups, m]`.
    normalised: Tensor<3>,
    /// √(var + ε) `[b, groups, 1]`.
    scale: Tensor<3>,
    /// γ `[c]` as the forward used it.
    gamma: Tensor<1>,
}

/// Maps or vectors as maps `[b, c, h, w]`, and whether they were vectors.
fn as_maps(x: Features) -> (Tensor<4>, bool) {
    match x {
        Features::Maps(x) => (x, false),
        Features::Flat(x) => {
            let [b, n] = x.dims();
            (x.reshape([b, n, 1, 1]), true)
        }
    }
}

/// Maps `[b, c, h, w]` back to the kind they came as.
fn back(x: Tensor<4>, flat: bool) -> Features {
    if flat {
        let [b, c, _, _] = x.dims();
        Features::Flat(x.reshape([b, c]))
    } else {
        Features::Maps(x)
    }
}

/// A per-channel vector `[c]` as `[1, c, 1, 1]`.
fn per_channel(v: Tensor<1>) -> Tensor<4> {
    let [c] = v.dims();
    v.reshape([1, c, 1, 1])
}

impl Block for GroupNorm {
    /// Caches x̂ `[b, groups, m]`, s `[b, groups, 1]` and γ.
    fn forward_cached(&self, x: Features, _iterate: bool) -> (Features, Cache) {
        let (x, flat) = as_maps(x);
        let dims = x.dims();
        let [b, c, h, w] = dims;
        let grouped = x.reshape([b, self.groups, c / self.groups * h * w]);
        let centred = grouped.clone().sub(grouped.mean_dim(2));
        let variance = centred.clone().powi_scalar(2).mean_dim(2);
        let scale = variance.add_scalar(self.epsilon).sqrt(); // [b, groups, 1]
        let normalised = centred.div(scale.clone());
        let gamma = self.gamma.val();
        let y = normalised
            .clone()
            .reshape(dims)
            .mul(per_channel(gamma.clone()))
            .add(per_channel(self.beta.val()));
        let cache = CacheKind::Norm(Box::new(NormCache {
            normalised,
            scale,
            gamma,
        }));
        (back(y, flat), Cache(cache))
    }

    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Norm(cache) = cache.0 else {
            wrong_cache("GroupNorm")
        };
        let NormCache {
            normalised,
            scale,
            gamma,
        } = *cache;
        let (g, flat) = as_maps(grad);
        let dims = g.dims();
        let g = g.mul(per_channel(gamma)).reshape(normalised.dims());
        let projection = g.clone().mul(normalised.clone()).mean_dim(2);
        let g = g
            .clone()
            .sub(g.mean_dim(2))
            .sub(normalised.mul(projection))
            .div(scale);
        back(g.reshape(dims), flat)
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let c = self.channels();
        match input {
            [n] | [n, _, _] if *n == c => Ok(input.to_vec()),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a group norm over {c} channels takes [{c}, h, w] or [{c}], got a \
                     per-sample shape {input:?}"
                ),
            }),
        }
    }
}
