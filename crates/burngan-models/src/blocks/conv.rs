//! [`Conv2d`]: a 2-D convolution with any kernel, stride, padding and groups, optionally
//! spectrally normalised, whose input VJP is the transposed convolution with the forward's
//! kernel; and [`ConvTranspose2d`], its transpose, whose VJP is the convolution.

use burn::module::{Module, Param};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Tensor};
use burngan_core::HostRng;

use super::{Block, Cache, CacheKind, Features, wrong_cache};
use crate::init::{scaled_normal_param, uniform_param};
use crate::layers::is_training;
use crate::{Conv, ModelError, SpectralConvention, SpectralNorm};

/// The geometry of a [`Conv2d`]: kernel `[kh, kw]`, stride, symmetric zero padding (each
/// `[along h, along w]`), groups and whether it has a bias. [`new`](Conv2dOptions::new) gives
/// stride 1, padding 0, one group and a bias. There is no dilation (always 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Kernel size `[kh, kw]`.
    pub kernel: [usize; 2],
    /// Stride `[sh, sw]`.
    pub stride: [usize; 2],
    /// Zero padding on each side `[ph, pw]`.
    pub padding: [usize; 2],
    /// Channel groups; c_in and c_out must be multiples of it.
    pub groups: usize,
    /// Whether the convolution adds a bias `[c_out]`.
    pub bias: bool,
}

impl Conv2dOptions {
    /// A `kernel` `[kh, kw]` with stride 1, no padding, one group and a bias.
    pub fn new(kernel: [usize; 2]) -> Self {
        Self {
            kernel,
            stride: [1, 1],
            padding: [0, 0],
            groups: 1,
            bias: true,
        }
    }

    /// With stride `[sh, sw]`.
    pub fn with_stride(mut self, stride: [usize; 2]) -> Self {
        self.stride = stride;
        self
    }

    /// With zero padding `[ph, pw]` on each side.
    pub fn with_padding(mut self, padding: [usize; 2]) -> Self {
        self.padding = padding;
        self
    }

    /// With `groups` channel groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// With or without a bias.
    pub fn with_bias(mut self, bias: bool) -> Self {
        self.bias = bias;
        self
    }
}

/// A 2-D convolution `[batch, c_in, h, w] → [batch, c_out, h', w']`, h' = ⌊(h + 2p − k)/s⌋ + 1
/// (likewise w'), optionally spectrally normalised with the kernel viewed as `[c_out,
/// (c_in/groups)·kh·kw]` (PyTorch's `dim=0`).
#[derive(Module, Debug)]
pub struct Conv2d {
    /// `[c_out, c_in/groups, kh, kw]`, PyTorch's layout.
    pub weight: Param<Tensor<4>>,
    /// `[c_out]`, when the convolution has a bias.
    pub bias: Option<Param<Tensor<1>>>,
    /// Power-iteration state when the kernel is spectrally normalised.
    pub spectral: Option<SpectralNorm>,
    #[module(skip)]
    stride: [usize; 2],
    #[module(skip)]
    padding: [usize; 2],
    #[module(skip)]
    groups: usize,
}

impl Conv2d {
    /// A convolution with PyTorch's default initialisation from `rng`: weight, then bias, from
    /// U(−b, b) with b = 1/√((c_in/groups)·kh·kw). Errors for a zero size, stride or group
    /// count, or channels that are not multiples of the groups.
    pub fn new(
        c_in: usize,
        c_out: usize,
        options: Conv2dOptions,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Self, ModelError> {
        let Conv2dOptions {
            kernel,
            stride,
            padding,
            groups,
            bias,
        } = options;
        let sizes = [("c_in", c_in), ("c_out", c_out), ("groups", groups)];
        let sizes = sizes.into_iter().chain([
            ("kernel[0]", kernel[0]),
            ("kernel[1]", kernel[1]),
            ("stride[0]", stride[0]),
            ("stride[1]", stride[1]),
        ]);
        for (name, value) in sizes {
            if value == 0 {
                return Err(ModelError::ZeroSize {
                    field: format!("conv2d {name}"),
                    value,
                });
            }
        }
        if !c_in.is_multiple_of(groups) || !c_out.is_multiple_of(groups) {
            return Err(ModelError::BadShape {
                message: format!(
                    "a convolution {c_in} → {c_out} channels cannot have {groups} groups; both \
                     channel counts must be multiples of the groups"
                ),
            });
        }
        let fan_in = c_in / groups * kernel[0] * kernel[1];
        let bound = 1.0 / (fan_in as f32).sqrt();
        let weight = uniform_param(
            [c_out, c_in / groups, kernel[0], kernel[1]],
            bound,
            rng,
            device,
        );
        let bias = bias.then(|| uniform_param([c_out], bound, rng, device));
        Ok(Self {
            weight,
            bias,
            spectral: None,
            stride,
            padding,
            groups,
        })
    }

    /// A convolution with the He/MSR initialisation R3GAN uses: the kernel from N(0,
    /// gain²/fan_in), fan_in = (c_in/groups)·kh·kw, drawn from `rng`, and a zero bias. `gain =
    /// 0` gives a zero kernel and draws nothing (the last layer of a fix-up residual branch,
    /// which starts as the identity). Errors as [`new`](Conv2d::new).
    pub fn msr(
        c_in: usize,
        c_out: usize,
        options: Conv2dOptions,
        gain: f32,
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Self, ModelError> {
        // Validate through `new` on a throwaway stream, so `rng` only gives the normal draws.
        let mut conv = Self::new(c_in, c_out, options, &mut HostRng::seed_from(0), device)?;
        let [kh, kw] = options.kernel;
        let fan_in = c_in / options.groups * kh * kw;
        let std = gain / (fan_in as f32).sqrt();
        let shape = [c_out, c_in / options.groups, kh, kw];
        conv.weight = scaled_normal_param(shape, std, rng, device);
        conv.bias = options
            .bias
            .then(|| scaled_normal_param([c_out], 0.0, rng, device));
        Ok(conv)
    }

    /// The convolution spectrally normalised under `convention` (replacing any state), the
    /// kernel viewed as `[c_out, (c_in/groups)·kh·kw]`: u `[c_out]` drawn from `rng`, and
    /// under the PyTorch convention v = Wᵀu/‖Wᵀu‖.
    pub fn with_spectral_norm(
        mut self,
        convention: SpectralConvention,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let matrix = matrix(self.weight.val());
        self.spectral = Some(SpectralNorm::from_u(convention, &matrix, rng, device));
        self
    }

    /// The kernel the forward pass uses, `[c_out, c_in/groups, kh, kw]`: W or W/σ(W).
    /// `iterate` advances the power iteration first.
    pub fn kernel(&self, iterate: bool) -> Tensor<4> {
        let w = self.weight.val();
        match &self.spectral {
            Some(state) => {
                let dims = w.dims();
                state.normalise(matrix(w), iterate).reshape(dims)
            }
            None => w,
        }
    }

    /// The convolution with an explicit kernel (the result of [`kernel`](Conv2d::kernel)):
    /// `[batch, c_in, h, w] → [batch, c_out, h', w']`.
    pub fn forward_with(&self, x: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
        let options = ConvOptions::new(self.stride, self.padding, [1, 1], self.groups);
        conv2d(x, kernel, self.bias.as_ref().map(|b| b.val()), options)
    }

    /// The transposed convolution with `kernel` (the forward's): a gradient with respect to
    /// the output `[batch, c_out, h', w']` to one with respect to an input of spatial size
    /// `input_hw`, `[batch, c_in, h, w]`. The output padding (h + 2p − k) mod s recovers the
    /// rows and columns the stride skipped, so sizes the stride does not divide come out right.
    pub fn backward_input(
        &self,
        grad: Tensor<4>,
        kernel: Tensor<4>,
        input_hw: [usize; 2],
    ) -> Tensor<4> {
        let [_, _, kh, kw] = kernel.dims();
        let k = [kh, kw];
        let padding_out: [usize; 2] =
            std::array::from_fn(|i| (input_hw[i] + 2 * self.padding[i] - k[i]) % self.stride[i]);
        let options =
            ConvTransposeOptions::new(self.stride, self.padding, padding_out, [1, 1], self.groups);
        conv_transpose2d(grad, kernel, None, options)
    }

    /// σ of the kernel with the stored vectors (no iteration), detached; `None` without
    /// spectral norm.
    pub fn sigma(&self) -> Option<Tensor<1>> {
        let state = self.spectral.as_ref()?;
        Some(state.sigma(matrix(self.weight.val().detach())))
    }
}

/// A DCGAN-style [`Conv`] (square kernel, one group, a bias) as a block with the same weight,
/// bias, spectral state, stride and padding: the same outputs and input gradients, bit for bit.
impl From<Conv> for Conv2d {
    fn from(conv: Conv) -> Self {
        Self {
            weight: conv.weight,
            bias: Some(conv.bias),
            spectral: conv.spectral,
            stride: [conv.stride; 2],
            padding: [conv.padding; 2],
            groups: 1,
        }
    }
}

/// A kernel `[c_out, c_in/groups, kh, kw]` viewed as the matrix `[c_out, (c_in/groups)·kh·kw]`.
fn matrix(kernel: Tensor<4>) -> Tensor<2> {
    let [c_out, c, kh, kw] = kernel.dims();
    kernel.reshape([c_out, c * kh * kw])
}

impl Block for Conv2d {
    /// `[batch, c_in, h, w] → [batch, c_out, h', w']`, caching the kernel used and `[h, w]`.
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("Conv2d");
        let [_, _, h, w] = x.dims();
        let kernel = self.kernel(iterate && is_training(&self.weight.val()));
        let y = self.forward_with(x, kernel.clone());
        let cache = CacheKind::Conv {
            kernel,
            input_hw: [h, w],
        };
        (Features::Maps(y), Cache(cache))
    }

    /// The transposed convolution of `grad` with the cached kernel
    /// ([`backward_input`](Conv2d::backward_input)).
    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Conv { kernel, input_hw } = cache.0 else {
            wrong_cache("Conv2d")
        };
        let grad = grad.into_maps("Conv2d");
        Features::Maps(self.backward_input(grad, kernel, input_hw))
    }

    /// c_out · (c_in/groups) · kh · kw per output position.
    fn multiply_adds(&self, input: &[usize]) -> f64 {
        let [c_out, c_group, kh, kw] = self.weight.dims();
        match self.output_shape(input).as_deref() {
            Ok([_, h, w]) => (c_out * c_group * kh * kw * h * w) as f64,
            _ => 0.0,
        }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c_out, c_group, kh, kw] = self.weight.dims();
        let c_in = c_group * self.groups;
        let &[c, h, w] = input else {
            return Err(ModelError::BadShape {
                message: format!(
                    "a convolution takes feature maps [c, h, w], got a per-sample shape \
                     {input:?}; put an Unflatten block before it"
                ),
            });
        };
        let out = |n: usize, k: usize, i: usize| {
            (n + 2 * self.padding[i])
                .checked_sub(k)
                .map(|span| span / self.stride[i] + 1)
        };
        match (c == c_in, out(h, kh, 0), out(w, kw, 1)) {
            (true, Some(oh), Some(ow)) => Ok(vec![c_out, oh, ow]),
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a {kh}×{kw} convolution with padding {:?} from {c_in} channels cannot take \
                     maps of {c}×{h}×{w}",
                    self.padding
                ),
            }),
        }
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        if let Some(sigma) = self.sigma() {
            out.push((prefix.to_string(), sigma));
        }
    }

    /// True without spectral norm.
    fn splits_over_batches(&self) -> bool {
        self.spectral.is_none()
    }
}

/// A transposed 2-D convolution (a generator's learned upsampling) `[batch, c_in, h, w] →
/// [batch, c_out, h', w']`, h' = (h − 1)·s − 2p + k + output padding (likewise w'), with any
/// kernel, stride, padding, output padding and groups. Its input VJP is the convolution with
/// the same kernel. Optionally spectrally normalised with the kernel viewed as `[c_out/groups,
/// c_in·kh·kw]` (PyTorch's `dim=1` for transposed convolutions).
#[derive(Module, Debug)]
pub struct ConvTranspose2d {
    /// `[c_in, c_out/groups, kh, kw]`, PyTorch's layout.
    pub weight: Param<Tensor<4>>,
    /// `[c_out]`, when it has a bias.
    pub bias: Option<Param<Tensor<1>>>,
    /// Power-iteration state when the kernel is spectrally normalised.
    pub spectral: Option<SpectralNorm>,
    #[module(skip)]
    stride: [usize; 2],
    #[module(skip)]
    padding: [usize; 2],
    #[module(skip)]
    padding_out: [usize; 2],
    #[module(skip)]
    groups: usize,
}

impl ConvTranspose2d {
    /// PyTorch's default initialisation from `rng`: weight, then bias, from U(−b, b) with
    /// b = 1/√((c_out/groups)·kh·kw) (PyTorch takes the fan-in of a transposed convolution from
    /// the weight's second axis). `padding_out` `[oh, ow]` must be below the stride. Errors as
    /// [`Conv2d::new`], and for an output padding not below the stride.
    pub fn new(
        c_in: usize,
        c_out: usize,
        options: Conv2dOptions,
        padding_out: [usize; 2],
        rng: &mut HostRng,
        device: &Device,
    ) -> Result<Self, ModelError> {
        // The same checks and draws as a convolution c_out → c_in (same weight shape and
        // bound), with the bias drawn for c_out channels.
        let probe = Conv2d::new(c_out, c_in, options.with_bias(false), rng, device)?;
        if (0..2).any(|i| padding_out[i] >= options.stride[i]) {
            return Err(ModelError::BadShape {
                message: format!(
                    "a transposed convolution's output padding {padding_out:?} must be below \
                     its stride {:?}",
                    options.stride
                ),
            });
        }
        let [_, c_group, kh, kw] = probe.weight.dims();
        let bound = 1.0 / ((c_group * kh * kw) as f32).sqrt();
        let bias = options
            .bias
            .then(|| uniform_param([c_out], bound, rng, device));
        Ok(Self {
            weight: probe.weight,
            bias,
            spectral: None,
            stride: options.stride,
            padding: options.padding,
            padding_out,
            groups: options.groups,
        })
    }

    /// The transposed convolution spectrally normalised under `convention` (replacing any
    /// state), the kernel `[c_in, c_out/groups, kh, kw]` viewed as `[c_out/groups, c_in·kh·kw]`
    /// as `torch.nn.utils.spectral_norm` views a transposed convolution's: u `[c_out/groups]`
    /// drawn from `rng`, and under the PyTorch convention v = Wᵀu/‖Wᵀu‖.
    pub fn with_spectral_norm(
        mut self,
        convention: SpectralConvention,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let matrix = transposed_matrix(self.weight.val());
        self.spectral = Some(SpectralNorm::from_u(convention, &matrix, rng, device));
        self
    }

    /// The kernel the forward pass uses, `[c_in, c_out/groups, kh, kw]`: W or W/σ(W).
    /// `iterate` advances the power iteration first.
    pub fn kernel(&self, iterate: bool) -> Tensor<4> {
        let w = self.weight.val();
        match &self.spectral {
            Some(state) => {
                let [c_in, c_group, kh, kw] = w.dims();
                state
                    .normalise(transposed_matrix(w), iterate)
                    .reshape([c_group, c_in, kh, kw])
                    .swap_dims(0, 1)
            }
            None => w,
        }
    }

    /// σ of the kernel with the stored vectors (no iteration), detached; `None` without
    /// spectral norm.
    pub fn sigma(&self) -> Option<Tensor<1>> {
        let state = self.spectral.as_ref()?;
        Some(state.sigma(transposed_matrix(self.weight.val().detach())))
    }

    /// `[batch, c_in, h, w] → [batch, c_out, h', w']` with `kernel` (the result of
    /// [`kernel`](ConvTranspose2d::kernel)).
    fn apply(&self, x: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
        let options = ConvTransposeOptions::new(
            self.stride,
            self.padding,
            self.padding_out,
            [1, 1],
            self.groups,
        );
        conv_transpose2d(x, kernel, self.bias.as_ref().map(|b| b.val()), options)
    }
}

/// A transposed convolution's kernel `[c_in, c_out/groups, kh, kw]` viewed as the matrix
/// `[c_out/groups, c_in·kh·kw]` (PyTorch's `dim=1`).
fn transposed_matrix(kernel: Tensor<4>) -> Tensor<2> {
    let [c_in, c_group, kh, kw] = kernel.dims();
    kernel.swap_dims(0, 1).reshape([c_group, c_in * kh * kw])
}

impl Block for ConvTranspose2d {
    /// `[batch, c_in, h, w] → [batch, c_out, h', w']`, caching the kernel used.
    fn forward_cached(&self, x: Features, iterate: bool) -> (Features, Cache) {
        let x = x.into_maps("ConvTranspose2d");
        let [_, _, h, w] = x.dims();
        let kernel = self.kernel(iterate && is_training(&self.weight.val()));
        let y = self.apply(x, kernel.clone());
        let cache = CacheKind::Conv {
            kernel,
            input_hw: [h, w],
        };
        (Features::Maps(y), Cache(cache))
    }

    /// The convolution of `grad` `[batch, c_out, h', w']` with the forward's kernel, stride,
    /// padding and groups: `[batch, c_in, h, w]`.
    fn input_vjp(&self, cache: Cache, grad: Features) -> Features {
        let CacheKind::Conv { kernel, .. } = cache.0 else {
            wrong_cache("ConvTranspose2d")
        };
        let options = ConvOptions::new(self.stride, self.padding, [1, 1], self.groups);
        let grad = grad.into_maps("ConvTranspose2d");
        Features::Maps(conv2d(grad, kernel, None, options))
    }

    /// c_in · (c_out/groups) · kh · kw per input position.
    fn multiply_adds(&self, input: &[usize]) -> f64 {
        let [c_in, c_group, kh, kw] = self.weight.dims();
        match input {
            [_, h, w] => (c_in * c_group * kh * kw * h * w) as f64,
            _ => 0.0,
        }
    }

    fn output_shape(&self, input: &[usize]) -> Result<Vec<usize>, ModelError> {
        let [c_in, c_group, kh, kw] = self.weight.dims();
        let k = [kh, kw];
        let out = |n: usize, i: usize| {
            ((n.checked_sub(1)? * self.stride[i] + k[i] + self.padding_out[i])
                .checked_sub(2 * self.padding[i]))
            .filter(|&n| n > 0)
        };
        match *input {
            [c, h, w] if c == c_in => match (out(h, 0), out(w, 1)) {
                (Some(oh), Some(ow)) => Ok(vec![c_group * self.groups, oh, ow]),
                _ => Err(ModelError::BadShape {
                    message: format!(
                        "a transposed convolution with padding {:?} gives no output for maps \
                         of {h}×{w}",
                        self.padding
                    ),
                }),
            },
            _ => Err(ModelError::BadShape {
                message: format!(
                    "a transposed convolution from {c_in} channels takes maps [{c_in}, h, w], \
                     got a per-sample shape {input:?}"
                ),
            }),
        }
    }

    fn sigmas(&self, prefix: &str, out: &mut Vec<(String, Tensor<1>)>) {
        if let Some(sigma) = self.sigma() {
            out.push((prefix.to_string(), sigma));
        }
    }

    /// True without spectral norm.
    fn splits_over_batches(&self) -> bool {
        self.spectral.is_none()
    }
}
