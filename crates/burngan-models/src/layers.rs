//! The weight layers of burngan's critics and generators, written over Burn's functional ops so
//! that their transposed chain (for [`InputGradient`](burngan_core::InputGradient)) uses exactly
//! the weights of the forward pass, spectral normalisation included.

use burn::module::{Module, Param};
use burn::nn::{BatchNorm, BatchNormConfig, Linear};
use burn::tensor::module::{conv_transpose2d, conv2d};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::{Device, Int, Tensor};
use burngan_core::HostRng;

use crate::init::{normal_param, uniform_param};
use crate::{Init, SpectralConvention, SpectralNorm, linear_from_host};

/// A fully connected layer `[batch, d_in] → [batch, d_out]`, optionally spectrally normalised.
#[derive(Module, Debug)]
pub struct Dense {
    /// The affine map; Burn stores the weight as `[d_in, d_out]`.
    pub linear: Linear,
    /// Power-iteration state when the layer is spectrally normalised.
    pub spectral: Option<SpectralNorm>,
}

impl Dense {
    /// A layer with PyTorch's default initialisation from `rng` (weight, bias, then u when
    /// `spectral`, under the burngan convention).
    pub fn new(
        d_in: usize,
        d_out: usize,
        spectral: bool,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let layer = Self {
            linear: linear_from_host(d_in, d_out, rng, device),
            spectral: None,
        };
        layer.with_spectral(spectral.then_some(SpectralConvention::Burngan), rng, device)
    }

    /// A plain (not spectral) layer initialised by `init` from `rng` (see [`Init::linear`]).
    pub fn with_init(
        d_in: usize,
        d_out: usize,
        init: Init,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        Self {
            linear: init.linear(d_in, d_out, rng, device),
            spectral: None,
        }
    }

    /// A layer with the He/MSR initialisation R3GAN uses: the weight from N(0, gain²/d_in)
    /// drawn from `rng`, and a zero bias when `bias` (none otherwise). Not spectral.
    pub fn msr(
        d_in: usize,
        d_out: usize,
        bias: bool,
        gain: f32,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        Self {
            linear: crate::init::normal_linear(d_in, d_out, bias, gain, rng, device),
            spectral: None,
        }
    }

    /// The layer spectrally normalised under `convention` (replacing any state), its vector
    /// drawn from `rng`: burngan, u `[d_in]` of the matrix `[d_in, d_out]` Burn stores;
    /// PyTorch, v `[d_in]` of PyTorch's `[d_out, d_in]`, then u = Wv/‖Wv‖ `[d_out]` (see
    /// [`SpectralNorm`]).
    pub fn with_spectral_norm(
        mut self,
        convention: SpectralConvention,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let [d_in, _] = self.linear.weight.dims();
        self.spectral = Some(match convention {
            SpectralConvention::Burngan => SpectralNorm::new(d_in, rng, device),
            SpectralConvention::Pytorch => {
                let matrix = self.linear.weight.val().transpose();
                SpectralNorm::pytorch_from_v(&matrix, rng, device)
            }
        });
        self
    }

    /// [`with_spectral_norm`](Self::with_spectral_norm) when `spectral` is `Some`.
    pub(crate) fn with_spectral(
        self,
        spectral: Option<SpectralConvention>,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        match spectral {
            Some(convention) => self.with_spectral_norm(convention, rng, device),
            None => self,
        }
    }

    /// The weight the forward pass uses, `[d_in, d_out]`: W, or W/σ(W) with spectral norm.
    /// `iterate` advances the power iteration first.
    pub fn weight(&self, iterate: bool) -> Tensor<2> {
        let w = self.linear.weight.val();
        match &self.spectral {
            Some(state) => match state.convention() {
                SpectralConvention::Burngan => state.normalise(w, iterate),
                SpectralConvention::Pytorch => state.normalise(w.transpose(), iterate).transpose(),
            },
            None => w,
        }
    }

    /// `[batch, d_in] → [batch, d_out]`; a training forward (weights tracked by autodiff)
    /// advances spectral norm's power iteration by one step.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let iterate = is_training(&self.linear.weight.val());
        self.forward_with(x, self.weight(iterate))
    }

    /// x·w + b with an explicit weight `w` `[d_in, d_out]` (the result of
    /// [`weight`](Dense::weight)); `[batch, d_in] → [batch, d_out]`.
    pub fn forward_with(&self, x: Tensor<2>, w: Tensor<2>) -> Tensor<2> {
        let out = x.matmul(w);
        match &self.linear.bias {
            Some(bias) => out.add(bias.val().unsqueeze()),
            None => out,
        }
    }

    /// σ of the weight with the stored u (no iteration), detached; shape `[1]`. `None` without
    /// spectral norm.
    pub fn sigma(&self) -> Option<Tensor<1>> {
        let state = self.spectral.as_ref()?;
        let w = self.linear.weight.val().detach();
        Some(match state.convention() {
            SpectralConvention::Burngan => state.sigma(w),
            SpectralConvention::Pytorch => state.sigma(w.transpose()),
        })
    }
}

/// Whether `weight` takes part in a backward pass: spectral norm's power iteration advances
/// only then (not in evaluation, not in a frozen copy).
pub(crate) fn is_training<const R: usize>(weight: &Tensor<R>) -> bool {
    weight.is_autodiff() && weight.is_require_grad()
}

/// A BatchNorm over `features` channels with PyTorch's defaults (epsilon 1e-5, momentum 0.1,
/// γ = 1, β = 0); `features` must be positive.
pub(crate) fn batch_norm(features: usize, device: &Device) -> BatchNorm {
    BatchNormConfig::new(features)
        .with_epsilon(1e-5)
        .with_momentum(0.1)
        .init(device)
}

/// A 2-D convolution `[batch, c_in, h, w] → [batch, c_out, h', w']` with square kernel, stride
/// and symmetric zero padding, optionally spectrally normalised (σ of the weight viewed as
/// `[c_out, c_in·k·k]`).
#[derive(Module, Debug)]
pub struct Conv {
    /// `[c_out, c_in, k, k]`, PyTorch's layout.
    pub weight: Param<Tensor<4>>,
    /// `[c_out]`.
    pub bias: Param<Tensor<1>>,
    /// Power-iteration state when the layer is spectrally normalised.
    pub spectral: Option<SpectralNorm>,
    #[module(skip)]
    pub(crate) stride: usize,
    #[module(skip)]
    pub(crate) padding: usize,
}

impl Conv {
    /// A convolution with PyTorch's default initialisation from `rng`: weight and bias from
    /// U(−1/√(c_in·k²), 1/√(c_in·k²)) (weight, bias, then u when `spectral`, under the burngan
    /// convention).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        spectral: bool,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let conv = Self::initialised(
            [c_in, c_out, kernel],
            stride,
            padding,
            Init::Pytorch,
            rng,
            device,
        );
        conv.with_spectral(spectral.then_some(SpectralConvention::Burngan), rng, device)
    }

    /// A plain (not spectral) convolution of `[c_in, c_out, kernel]` drawn by `init` from
    /// `rng`, weight `[c_out, c_in, k, k]` then bias `[c_out]` (see [`Init`]; fan-in c_in·k²).
    pub fn initialised(
        [c_in, c_out, kernel]: [usize; 3],
        stride: usize,
        padding: usize,
        init: Init,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let shape = [c_out, c_in, kernel, kernel];
        let (weight, bias) =
            init.weight_and_bias(shape, c_out, c_in * kernel * kernel, rng, device);
        Self {
            weight,
            bias,
            spectral: None,
            stride,
            padding,
        }
    }

    /// The convolution spectrally normalised under `convention` (replacing any state), the
    /// kernel viewed as `[c_out, c_in·k·k]`: u `[c_out]` drawn from `rng`, and under the
    /// PyTorch convention v = Wᵀu/‖Wᵀu‖ `[c_in·k·k]`.
    pub fn with_spectral_norm(
        mut self,
        convention: SpectralConvention,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let matrix = self.matrix(self.weight.val());
        self.spectral = Some(SpectralNorm::from_u(convention, &matrix, rng, device));
        self
    }

    /// [`with_spectral_norm`](Self::with_spectral_norm) when `spectral` is `Some`.
    pub(crate) fn with_spectral(
        self,
        spectral: Option<SpectralConvention>,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        match spectral {
            Some(convention) => self.with_spectral_norm(convention, rng, device),
            None => self,
        }
    }

    /// A kernel `[c_out, c_in, k, k]` viewed as the matrix `[c_out, c_in·k·k]`.
    fn matrix(&self, kernel: Tensor<4>) -> Tensor<2> {
        let dims = kernel.dims();
        kernel.reshape([dims[0], dims[1] * dims[2] * dims[3]])
    }

    /// The output size along one spatial axis of length `input`.
    pub fn output_size(&self, input: usize) -> Option<usize> {
        let [_, _, k, _] = self.weight.shape().dims();
        (input + 2 * self.padding)
            .checked_sub(k)
            .map(|span| span / self.stride + 1)
    }

    /// The kernel weight the forward pass uses: W or W/σ(W). `iterate` advances the power
    /// iteration first.
    pub fn kernel(&self, iterate: bool) -> Tensor<4> {
        let w = self.weight.val();
        match &self.spectral {
            Some(state) => {
                let dims = w.dims();
                state.normalise(self.matrix(w), iterate).reshape(dims)
            }
            None => w,
        }
    }

    /// `[batch, c_in, h, w] → [batch, c_out, h', w']`; a training forward advances spectral
    /// norm's power iteration by one step.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let iterate = is_training(&self.weight.val());
        self.forward_with(x, self.kernel(iterate))
    }

    /// The convolution with an explicit kernel `[c_out, c_in, k, k]` (the result of
    /// [`kernel`](Conv::kernel)).
    pub fn forward_with(&self, x: Tensor<4>, kernel: Tensor<4>) -> Tensor<4> {
        conv2d(
            x,
            kernel,
            Some(self.bias.val()),
            ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1),
        )
    }

    /// The transposed convolution with the forward's kernel: maps a gradient with respect to
    /// the output `[batch, c_out, h', w']` to one with respect to an input of spatial size
    /// `input_hw`, `[batch, c_in, h, w]`. The output padding recovers the rows and columns that
    /// the stride skipped.
    pub fn backward_input(&self, grad: Tensor<4>, input_hw: [usize; 2]) -> Tensor<4> {
        let [_, _, k, _] = self.weight.shape().dims();
        let padding_out = input_hw.map(|n| (n + 2 * self.padding - k) % self.stride);
        conv_transpose2d(
            grad,
            self.kernel(false),
            None,
            ConvTransposeOptions::new([self.stride; 2], [self.padding; 2], padding_out, [1, 1], 1),
        )
    }

    /// σ of the kernel with the stored u (no iteration), detached; `None` without spectral
    /// norm.
    pub fn sigma(&self) -> Option<Tensor<1>> {
        let state = self.spectral.as_ref()?;
        Some(state.sigma(self.matrix(self.weight.val().detach())))
    }
}

/// A transposed 2-D convolution (generator upsampling) `[batch, c_in, h, w] → [batch, c_out,
/// (h−1)·s − 2p + k, …]`.
#[derive(Module, Debug)]
pub struct ConvTranspose {
    /// `[c_in, c_out, k, k]`, PyTorch's layout.
    pub weight: Param<Tensor<4>>,
    /// `[c_out]`.
    pub bias: Param<Tensor<1>>,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    padding: usize,
}

impl ConvTranspose {
    /// PyTorch's default initialisation from `rng`: U(−b, b) with b = 1/√(c_out·k²) (PyTorch
    /// computes the fan-in of a transposed convolution from the weight's second axis).
    pub fn new(
        c_in: usize,
        c_out: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        Self::initialised(
            [c_in, c_out, kernel],
            stride,
            padding,
            Init::Pytorch,
            rng,
            device,
        )
    }

    /// A transposed convolution of `[c_in, c_out, kernel]` drawn by `init` from `rng`, weight
    /// `[c_in, c_out, k, k]` then bias `[c_out]` (see [`Init`]; fan-in c_out·k², PyTorch's).
    pub fn initialised(
        [c_in, c_out, kernel]: [usize; 3],
        stride: usize,
        padding: usize,
        init: Init,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let shape = [c_in, c_out, kernel, kernel];
        let (weight, bias) =
            init.weight_and_bias(shape, c_out, c_out * kernel * kernel, rng, device);
        Self {
            weight,
            bias,
            stride,
            padding,
        }
    }

    /// `[batch, c_in, h, w] → [batch, c_out, h', w']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        conv_transpose2d(
            x,
            self.weight.val(),
            Some(self.bias.val()),
            ConvTransposeOptions::new([self.stride; 2], [self.padding; 2], [0, 0], [1, 1], 1),
        )
    }
}

/// A class-embedding table `[num_classes, dim]`: row y is the vector of class y. Optionally
/// spectrally normalised, the table viewed as a `[num_classes, dim]` matrix (as PyTorch's
/// `spectral_norm` treats an `nn.Embedding`), so u has `num_classes` entries.
#[derive(Module, Debug)]
pub struct ClassEmbedding {
    /// The table `[num_classes, dim]`.
    pub weight: Param<Tensor<2>>,
    /// Power-iteration state when the table is spectrally normalised.
    pub spectral: Option<SpectralNorm>,
}

impl ClassEmbedding {
    /// A table with entries from N(0, 1) drawn from `rng`, PyTorch's `nn.Embedding` default;
    /// no spectral norm.
    pub fn normal(num_classes: usize, dim: usize, rng: &mut HostRng, device: &Device) -> Self {
        Self {
            weight: normal_param([num_classes, dim], rng, device),
            spectral: None,
        }
    }

    /// A table with Glorot (Xavier) uniform entries, U(−a, a) with a = √(6/(num_classes +
    /// dim)), drawn from `rng`, then u when `spectral`, under the burngan convention (the
    /// projection discriminator's initialisation in Miyato & Koyama's code).
    pub fn xavier(
        num_classes: usize,
        dim: usize,
        spectral: bool,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let bound = (6.0 / (num_classes + dim) as f32).sqrt();
        let table = Self {
            weight: uniform_param([num_classes, dim], bound, rng, device),
            spectral: None,
        };
        table.with_spectral(spectral.then_some(SpectralConvention::Burngan), rng, device)
    }

    /// The table spectrally normalised under `convention` (replacing any state): u
    /// `[num_classes]` drawn from `rng`, and under the PyTorch convention v = Eᵀu/‖Eᵀu‖
    /// `[dim]`.
    pub fn with_spectral_norm(
        mut self,
        convention: SpectralConvention,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        let table = self.weight.val();
        self.spectral = Some(SpectralNorm::from_u(convention, &table, rng, device));
        self
    }

    /// [`with_spectral_norm`](Self::with_spectral_norm) when `spectral` is `Some`.
    pub(crate) fn with_spectral(
        self,
        spectral: Option<SpectralConvention>,
        rng: &mut HostRng,
        device: &Device,
    ) -> Self {
        match spectral {
            Some(convention) => self.with_spectral_norm(convention, rng, device),
            None => self,
        }
    }

    /// The number of rows (classes) of the table.
    pub fn num_classes(&self) -> usize {
        self.weight.shape().dims::<2>()[0]
    }

    /// The table the forward pass uses, `[num_classes, dim]`: E, or E/σ(E) with spectral norm.
    /// `iterate` advances the power iteration first.
    pub fn table(&self, iterate: bool) -> Tensor<2> {
        let table = self.weight.val();
        match &self.spectral {
            Some(state) => state.normalise(table, iterate),
            None => table,
        }
    }

    /// The vectors of `labels` `[batch]` (each in `0..num_classes`), `[batch, dim]`; a training
    /// forward advances spectral norm's power iteration by one step. A row lookup by
    /// `select`, so gradients flow back into the table.
    pub fn forward(&self, labels: Tensor<1, Int>) -> Tensor<2> {
        let iterate = is_training(&self.weight.val());
        self.table(iterate).select(0, labels)
    }

    /// σ of the table with the stored u (no iteration), detached; shape `[1]`. `None` without
    /// spectral norm.
    pub fn sigma(&self) -> Option<Tensor<1>> {
        let state = self.spectral.as_ref()?;
        Some(state.sigma(self.weight.val().detach()))
    }
}
