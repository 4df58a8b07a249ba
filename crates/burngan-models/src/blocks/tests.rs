//! Checks of the blocks on flex and ndarray: every block's input VJP against autodiff's
//! ∂Σ(r ⊙ y)/∂x for a random cotangent r (relative ≤ 1e-5 in f32; these also on wgpu), one power-iteration step per training forward,
//! a composed residual critic's input gradient against autodiff, and the R1 penalty's
//! parameter gradients through a composed critic against central differences in f64.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{DType, Device, Gradients, Tensor, TensorData};
use burngan_backend::BackendKind;
use burngan_core::{Discriminator, HostRng, InputGradient};
use std::cell::Cell;

use super::*;
use crate::SpectralConvention;

thread_local! {
    /// The backend the current test runs on (each test runs on its own thread).
    static BACKEND: Cell<BackendKind> = const { Cell::new(BackendKind::Flex) };
}

/// The device of the backend under test.
fn backend_device() -> Device {
    burngan_backend::device(BACKEND.with(Cell::get))
        .expect("flex, ndarray and wgpu are dev features; wgpu needs a Vulkan driver")
}

/// Runs `test` on each of `kinds` in turn.
fn on_backends(kinds: &[BackendKind], test: fn()) {
    for &kind in kinds {
        BACKEND.with(|backend| backend.set(kind));
        eprintln!("backend {kind:?}");
        test();
    }
}

/// The CPU backends, on which every block test runs.
const CPU: [BackendKind; 2] = [BackendKind::Flex, BackendKind::Ndarray];

/// The CPU backends and wgpu (a GPU's Vulkan driver, or Mesa's lavapipe on a machine without
/// one), on which the input-gradient (VJP) checks run.
const EVERY: [BackendKind; 3] = [BackendKind::Flex, BackendKind::Ndarray, BackendKind::Wgpu];

/// `#[test] fn name()` running `name_on_one_backend` on flex and ndarray.
macro_rules! on_each_backend {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            on_backends(&CPU, $body);
        })*
    };
}

/// `#[test] fn name()` running `name_on_one_backend` on flex, ndarray and wgpu.
macro_rules! on_every_backend {
    ($($name:ident => $body:ident),* $(,)?) => {
        $(#[test]
        fn $name() {
            on_backends(&EVERY, $body);
        })*
    };
}

fn host_f64<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().iter::<f64>().collect()
}

fn features_host(x: Features) -> Vec<f64> {
    match x {
        Features::Flat(x) => host_f64(x),
        Features::Maps(x) => host_f64(x),
    }
}

/// max |a − b| / max |b|.
fn relative_error(ours: &[f64], reference: &[f64]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference.iter().fold(0.0f64, |m, r| m.max(r.abs()));
    let error = ours
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(scale > 0.0, "the reference gradient is zero");
    error / scale
}

/// A batch `[batch, …shape]` from N(0, 1), tracked by autodiff.
fn batch(shape: &[usize], rng: &mut HostRng, device: &Device) -> Features {
    match *shape {
        [n] => Features::Flat(rng.normal([3, n], device)),
        [c, h, w] => Features::Maps(rng.normal([3, c, h, w], device)),
        _ => unreachable!(),
    }
}

/// Σ(r ⊙ y) and r for a random cotangent r.
fn weighted_sum(y: &Features, rng: &mut HostRng) -> (Tensor<1>, Features) {
    let device = match y {
        Features::Flat(y) => y.device(),
        Features::Maps(y) => y.device(),
    };
    match y {
        Features::Flat(y) => {
            let r = rng.normal(y.dims(), &device);
            (y.clone().mul(r.clone()).sum(), Features::Flat(r))
        }
        Features::Maps(y) => {
            let r = rng.normal(y.dims(), &device);
            (y.clone().mul(r.clone()).sum(), Features::Maps(r))
        }
    }
}

fn require_grad(x: Features) -> Features {
    match x {
        Features::Flat(x) => Features::Flat(x.require_grad()),
        Features::Maps(x) => Features::Maps(x.require_grad()),
    }
}

fn grad_of(x: &Features, grads: &Gradients) -> Vec<f64> {
    match x {
        Features::Flat(x) => host_f64(x.grad(grads).unwrap().inner()),
        Features::Maps(x) => host_f64(x.grad(grads).unwrap().inner()),
    }
}

/// The relative error of `block`'s input VJP against autodiff on one forward (a training one
/// when `iterate`), after checking the output shape against `output_shape`.
fn vjp_error(block: &impl Block, shape: &[usize], iterate: bool, seed: u64) -> f64 {
    let device = backend_device().autodiff();
    let mut rng = HostRng::seed_from(seed);
    let x = require_grad(batch(shape, &mut rng, &device));
    let (y, cache) = block.forward_cached(x.clone(), iterate);
    let expected = block.output_shape(shape).unwrap();
    assert_eq!(y.dims()[1..], expected[..], "output_shape");
    let (sum, r) = weighted_sum(&y, &mut rng);
    let autodiff = grad_of(&x, &sum.backward());
    let ours = block.input_vjp(cache, r);
    assert_eq!(ours.dims(), x.dims(), "the VJP has the input's shape");
    relative_error(&features_host(ours), &autodiff)
}

fn conv(c_in: usize, c_out: usize, options: Conv2dOptions, rng: &mut HostRng) -> Conv2d {
    Conv2d::new(c_in, c_out, options, rng, &backend_device().autodiff()).unwrap()
}

fn check(name: &str, block: &impl Block, shape: &[usize]) {
    for iterate in [false, true] {
        let error = vjp_error(block, shape, iterate, 7);
        eprintln!("{name} (iterate {iterate}): relative error {error:.2e}");
        assert!(error <= 1e-5, "{name}: {error:.3e}");
    }
}

fn every_nonlinearity_vjp_equals_autodiff_on_one_backend() {
    for kind in [
        Nonlinearity::Relu,
        Nonlinearity::LeakyRelu(0.2),
        Nonlinearity::Tanh,
        Nonlinearity::Sigmoid,
        Nonlinearity::Silu,
        Nonlinearity::Gelu,
    ] {
        check(&format!("{kind:?} maps"), &Nonlinear::new(kind), &[2, 3, 4]);
        check(&format!("{kind:?} vectors"), &Nonlinear::new(kind), &[5]);
    }
}

fn convolution_vjps_equal_autodiff_for_strides_padding_and_groups_on_one_backend() {
    let mut rng = HostRng::seed_from(1);
    let k3 = Conv2dOptions::new([3, 3]);
    let cases = [
        // (h + 2p − k) = 7 is odd: the stride skips the last row and column.
        (
            "3×3 stride 2 pad 1 on 8×8",
            conv(3, 4, k3.with_stride([2, 2]).with_padding([1, 1]), &mut rng),
            [3, 8, 8],
        ),
        (
            "3×2 stride [2, 3] pad [1, 0] on 9×10",
            conv(
                2,
                3,
                Conv2dOptions::new([3, 2])
                    .with_stride([2, 3])
                    .with_padding([1, 0]),
                &mut rng,
            ),
            [2, 9, 10],
        ),
        (
            "grouped 4→6, 2 groups, pad 1",
            conv(4, 6, k3.with_padding([1, 1]).with_groups(2), &mut rng),
            [4, 5, 5],
        ),
        (
            "depthwise 4→4, 4 groups, stride 2, no bias",
            conv(
                4,
                4,
                k3.with_stride([2, 2]).with_groups(4).with_bias(false),
                &mut rng,
            ),
            [4, 7, 6],
        ),
        (
            "1×1",
            conv(3, 5, Conv2dOptions::new([1, 1]), &mut rng),
            [3, 4, 4],
        ),
        (
            "4×4 stride 2 pad 1 (DCGAN) on 7×7",
            conv(
                2,
                3,
                Conv2dOptions::new([4, 4])
                    .with_stride([2, 2])
                    .with_padding([1, 1]),
                &mut rng,
            ),
            [2, 7, 7],
        ),
    ];
    for (name, block, shape) in &cases {
        check(name, block, shape);
    }
}

fn spectral_dense_and_convolution_vjps_use_the_forwards_weight_on_one_backend() {
    let device = backend_device().autodiff();
    for convention in [SpectralConvention::Burngan, SpectralConvention::Pytorch] {
        let mut rng = HostRng::seed_from(2);
        let dense = Dense::new(6, 4, false, &mut rng, &device)
            .with_spectral_norm(convention, &mut rng, &device);
        check(&format!("spectral dense {convention:?}"), &dense, &[6]);
        let options = Conv2dOptions::new([3, 3])
            .with_stride([2, 2])
            .with_groups(2);
        let conv = conv(4, 6, options, &mut rng).with_spectral_norm(convention, &mut rng, &device);
        check(
            &format!("spectral grouped conv {convention:?}"),
            &conv,
            &[4, 8, 9],
        );
        let up = Conv2dOptions::new([4, 3])
            .with_stride([2, 2])
            .with_padding([1, 1])
            .with_groups(2);
        let transposed = ConvTranspose2d::new(4, 6, up, [1, 0], &mut rng, &device)
            .unwrap()
            .with_spectral_norm(convention, &mut rng, &device);
        check(
            &format!("spectral grouped transposed conv {convention:?}"),
            &transposed,
            &[4, 3, 5],
        );
        check(
            &format!("plain dense {convention:?}"),
            &Dense::new(5, 3, false, &mut rng, &device),
            &[5],
        );
    }
}

/// A training forward advances the power iteration exactly once (and an `iterate = false`
/// forward not at all): σ after it equals σ after one manual step on an identical layer.
fn a_training_forward_advances_the_power_iteration_once_on_one_backend() {
    let device = backend_device().autodiff();
    let make = || {
        let mut rng = HostRng::seed_from(3);
        let options = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
        conv(2, 3, options, &mut rng).with_spectral_norm(
            SpectralConvention::Burngan,
            &mut rng,
            &device,
        )
    };
    let (trained, manual) = (make(), make());
    let x = Features::Maps(HostRng::seed_from(4).normal([2, 2, 5, 5], &device));
    let sigma = |c: &Conv2d| host_f64(c.sigma().unwrap())[0];
    let before = sigma(&trained);
    let _ = trained.forward_cached(x.clone(), false);
    assert_eq!(sigma(&trained), before, "no step without iterate");
    let (_, cache) = trained.forward_cached(x, true);
    let w = manual.weight.val();
    let [c_out, ..] = w.dims();
    manual
        .spectral
        .as_ref()
        .unwrap()
        .power_iteration(&w.reshape([c_out, 18]));
    assert_eq!(sigma(&trained), sigma(&manual));
    assert_ne!(sigma(&trained), before);
    // The cache holds W/σ with the advanced state.
    let CacheKind::Conv { kernel, .. } = cache.0 else {
        panic!()
    };
    let error = relative_error(&host_f64(kernel), &host_f64(manual.kernel(false)));
    assert!(error < 1e-7, "{error}");
}

fn pooling_upsampling_and_reshape_vjps_equal_autodiff_on_one_backend() {
    check("avg pool 8×8", &AvgPool2, &[2, 8, 8]);
    check("avg pool 7×6 (odd rows dropped)", &AvgPool2, &[2, 7, 6]);
    check("avg pool 5×7", &AvgPool2, &[1, 5, 7]);
    check("nearest upsampling 3×4", &UpsampleNearest2, &[2, 3, 4]);
    check("bilinear upsampling 3×4", &UpsampleBilinear2, &[2, 3, 4]);
    check("bilinear upsampling 1×2", &UpsampleBilinear2, &[1, 1, 2]);
    // PyTorch: interpolate([[[[0, 1, 2], [3, 4, 5]]]], scale_factor=2, mode="bilinear").
    let x = Tensor::<4>::from_data(
        TensorData::new(vec![0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0], [1, 1, 2, 3]),
        &backend_device(),
    );
    let y = features_host(UpsampleBilinear2.forward(Features::Maps(x)));
    let row = |o: f64| [0.0, 0.25, 0.75, 1.25, 1.75, 2.0].map(|v| v + o);
    let expected: Vec<f64> = [row(0.0), row(0.75), row(2.25), row(3.0)].concat();
    assert_eq!(y, expected);
    check("flatten", &Flatten, &[2, 3, 4]);
    check("unflatten", &Unflatten::new([2, 3, 2]), &[12]);
}

fn transposed_and_normalisation_vjps_equal_autodiff_on_one_backend() {
    let device = backend_device().autodiff();
    let mut rng = HostRng::seed_from(15);
    let up = |c_in, c_out, options, padding_out, rng: &mut HostRng| {
        ConvTranspose2d::new(c_in, c_out, options, padding_out, rng, &device).unwrap()
    };
    let k4 = Conv2dOptions::new([4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1]);
    check(
        "transposed 4×4 stride 2 pad 1 (DCGAN)",
        &up(3, 2, k4, [0, 0], &mut rng),
        &[3, 5, 6],
    );
    let k3 = Conv2dOptions::new([3, 2])
        .with_stride([2, 3])
        .with_padding([1, 0])
        .with_groups(2);
    check(
        "transposed 3×2 stride [2, 3], output padding [1, 2], 2 groups",
        &up(4, 6, k3, [1, 2], &mut rng),
        &[4, 4, 3],
    );
    let mut norm = GroupNorm::new(2, 4, &device).unwrap();
    // γ and β away from 1 and 0, so that the VJP's factor γ is tested.
    norm.gamma = Param::from_tensor(rng.normal([4], &device));
    norm.beta = Param::from_tensor(rng.normal([4], &device));
    check("group norm, 2 groups of 2 channels", &norm, &[4, 3, 5]);
    let mut layer = GroupNorm::layer_norm(6, &device).unwrap();
    layer.gamma = Param::from_tensor(rng.normal([6], &device));
    check("layer norm on vectors", &layer, &[6]);
    assert!(GroupNorm::new(4, 6, &device).is_err());
    assert!(ConvTranspose2d::new(2, 2, k4, [2, 0], &mut rng, &device).is_err());
}

/// A generator composed from blocks: Dense → Unflatten → upsample → conv → GroupNorm → SiLU →
/// transposed conv → tanh, `[batch, 8] → [batch, 1, 8, 8]`.
fn a_block_generator_gives_images_of_its_shape_on_one_backend() {
    let device = backend_device().autodiff();
    let mut rng = HostRng::seed_from(16);
    let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
    let k4 = Conv2dOptions::new([4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1]);
    let body = Sequential::new(vec![
        Dense::new(8, 4 * 2 * 2, false, &mut rng, &device).into(),
        Unflatten::new([4, 2, 2]).into(),
        UpsampleNearest2.into(),
        conv(4, 4, k3, &mut rng).into(),
        GroupNorm::new(2, 4, &device).unwrap().into(),
        Nonlinearity::Silu.into(),
        ConvTranspose2d::new(4, 1, k4, [0, 0], &mut rng, &device)
            .unwrap()
            .into(),
        Nonlinearity::Tanh.into(),
    ]);
    let generator = BlockGenerator::<4>::new(8, body).unwrap();
    assert_eq!(generator.output_shape(), [1, 8, 8]);
    let images = burngan_core::Generator::forward(&generator, rng.normal([3, 8], &device));
    assert_eq!(images.dims(), [3, 1, 8, 8]);
    assert!(
        host_f64(images)
            .iter()
            .all(|v| v.is_finite() && v.abs() <= 1.0)
    );
    let body = Sequential::new(vec![Dense::new(8, 3, false, &mut rng, &device).into()]);
    assert!(BlockGenerator::<4>::new(8, body).is_err());
}

/// A residual stage: conv → LeakyReLU → stride-2 conv, with a learned shortcut 1×1 conv →
/// average pooling (both 8×8 → 4×4).
fn downsampling_residual(c_in: usize, c_out: usize, spectral: bool, rng: &mut HostRng) -> Residual {
    let device = backend_device().autodiff();
    let sn = |c: Conv2d, rng: &mut HostRng| match spectral {
        true => c.with_spectral_norm(SpectralConvention::Burngan, rng, &device),
        false => c,
    };
    let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
    let first = sn(conv(c_in, c_out, k3, rng), rng);
    let second = sn(
        conv(c_out, c_out, k3.with_stride([2, 2]).with_groups(2), rng),
        rng,
    );
    let skip = sn(
        conv(
            c_in,
            c_out,
            Conv2dOptions::new([1, 1]).with_bias(false),
            rng,
        ),
        rng,
    );
    let main = Sequential::new(vec![
        first.into(),
        Nonlinearity::LeakyRelu(0.2).into(),
        second.into(),
    ]);
    Residual::learned(main, Sequential::new(vec![skip.into(), AvgPool2.into()]))
}

fn residual_and_sequential_vjps_equal_autodiff_on_one_backend() {
    let mut rng = HostRng::seed_from(5);
    check(
        "residual learned shortcut",
        &downsampling_residual(2, 4, false, &mut rng),
        &[2, 8, 8],
    );
    let k3 = Conv2dOptions::new([3, 3])
        .with_padding([1, 1])
        .with_groups(3);
    let main = Sequential::new(vec![
        Nonlinearity::Silu.into(),
        conv(3, 3, k3, &mut rng).into(),
    ]);
    check("residual identity", &Residual::identity(main), &[3, 5, 5]);
}

/// An SNGAN-like critic for `[2, 8, 8]` images: a residual down stage, an identity residual
/// block (GroupNorm → ReLU → grouped conv), GELU, average pooling, flatten, a dense layer to 1 (spectral everywhere when asked).
fn residual_critic(spectral: bool, seed: u64, device: &Device) -> BlockCritic<4> {
    let mut rng = HostRng::seed_from(seed);
    let stage = downsampling_residual(2, 4, spectral, &mut rng);
    let k3 = Conv2dOptions::new([3, 3])
        .with_padding([1, 1])
        .with_groups(2);
    let inner = conv(4, 4, k3, &mut rng);
    let inner = match spectral {
        true => inner.with_spectral_norm(SpectralConvention::Pytorch, &mut rng, device),
        false => inner,
    };
    let mut norm = GroupNorm::new(2, 4, device).unwrap();
    norm.gamma = Param::from_tensor(rng.uniform_tensor([4], 0.5, 1.5, device));
    let block = Residual::identity(Sequential::new(vec![
        norm.into(),
        Nonlinearity::Relu.into(),
        inner.into(),
    ]));
    let head = Dense::new(4 * 2 * 2, 1, spectral, &mut rng, device);
    let body = Sequential::new(vec![stage.into(), block.into()])
        .then(Nonlinearity::Gelu)
        .then(AvgPool2)
        .then(Flatten)
        .then(head);
    BlockCritic::<4>::new(&[2, 8, 8], body).unwrap()
}

fn a_composed_residual_critic_gives_autodiffs_input_gradient_on_one_backend() {
    let device = backend_device().autodiff();
    for spectral in [false, true] {
        let critic = residual_critic(spectral, 6, &device);
        assert_eq!(critic.unsupported_layer(), None);
        let x = HostRng::seed_from(8)
            .normal([4, 2, 8, 8], &device)
            .require_grad();
        // A training forward (one power-iteration step), then the input gradient with the state
        // that forward left, as in a training step.
        let logits = Discriminator::<4>::forward(&critic, x.clone());
        assert_eq!(logits.dims(), [4, 1]);
        let autodiff = host_f64(x.grad(&logits.sum().backward()).unwrap().inner());
        let ours = host_f64(critic.input_gradient(x.detach()));
        let error = relative_error(&ours, &autodiff);
        eprintln!("residual critic (spectral {spectral}): relative error {error:.2e}");
        assert!(error <= 1e-5, "{error:.3e}");
        let sigmas: Vec<String> = critic.diagnostics().into_iter().map(|(n, _)| n).collect();
        assert_eq!(sigmas.len(), if spectral { 5 } else { 0 }, "{sigmas:?}");
    }
}

fn shapes_that_do_not_fit_are_refused_with_the_blocks_path_on_one_backend() {
    let device = backend_device();
    let mut rng = HostRng::seed_from(9);
    let body = Sequential::new(vec![
        Flatten.into(),
        Dense::new(10, 1, false, &mut rng, &device).into(),
    ]);
    let error = BlockCritic::<4>::new(&[2, 3, 3], body)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("blocks.1") && error.contains("18"),
        "{error}"
    );
    let body = Sequential::new(vec![Dense::new(4, 3, false, &mut rng, &device).into()]);
    let error = BlockCritic::<2>::new(&[4], body).unwrap_err().to_string();
    assert!(error.contains("one logit"), "{error}");
    let options = Conv2dOptions::new([3, 3]).with_groups(2);
    assert!(Conv2d::new(3, 4, options, &mut rng, &device).is_err());
    let mismatched = downsampling_residual(2, 4, false, &mut rng);
    let error = mismatched.output_shape(&[2, 9, 9]).unwrap_err().to_string();
    assert!(error.contains("shortcut"), "{error}");
}

/// The DCGAN critic rebuilt from blocks around its own layers gives its logits and input
/// gradients bit for bit, with and without spectral norm.
fn the_dcgan_critic_rebuilt_from_blocks_is_bit_identical_on_one_backend() {
    let device = backend_device();
    for spectral in [false, true] {
        let config = crate::DcganDiscriminatorConfig {
            channels: vec![3, 5],
            hidden: 16,
            ..Default::default()
        }
        .with_spectral_norm(spectral);
        let dcgan = config
            .init([2, 12, 12], &mut HostRng::seed_from(17), &device)
            .unwrap();
        let act = match config.activation {
            crate::Activation::LeakyRelu(slope) => Nonlinearity::LeakyRelu(slope),
            other => panic!("{other:?}"),
        };
        let mut body = Sequential::new(Vec::new());
        for conv in dcgan.convs.clone() {
            body = body.then(Conv2d::from(conv)).then(act);
        }
        let body = body
            .then(Flatten)
            .then(dcgan.hidden.clone())
            .then(act)
            .then(dcgan.output.clone());
        let blocks = BlockCritic::<4>::new(&[2, 12, 12], body).unwrap();
        let x = HostRng::seed_from(18).normal([3, 2, 12, 12], &device);
        let logits = |c: &dyn Fn(Tensor<4>) -> Tensor<2>| host_f64(c(x.clone()));
        assert_eq!(
            logits(&|x| Discriminator::forward(&dcgan, x)),
            logits(&|x| Discriminator::forward(&blocks, x))
        );
        assert_eq!(
            host_f64(dcgan.input_gradient(x.clone())),
            host_f64(blocks.input_gradient(x.clone()))
        );
    }
}

/// The record round-trips: a critic loaded from another's record gives the same logits.
fn a_block_critic_records_and_loads_its_parameters_on_one_backend() {
    let device = backend_device();
    let a = residual_critic(true, 10, &device);
    let b = residual_critic(true, 11, &device).load_record(a.clone().into_record());
    let x = HostRng::seed_from(12).normal([2, 2, 8, 8], &device);
    let (ya, yb) = (
        Discriminator::<4>::forward(&a, x.clone()),
        Discriminator::<4>::forward(&b, x),
    );
    assert_eq!(host_f64(ya), host_f64(yb));
    assert!(a.num_params() > 0);
}

/// Casts every float parameter and buffer to f64.
struct CastF64;

impl ModuleMapper for CastF64 {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        param.map(|t| t.cast(DType::F64))
    }
}

/// A trainable parameter: its id, values and gradient.
type Found = (ParamId, Vec<f64>, Vec<f64>);

/// The trainable parameters with their gradients in `grads`.
struct Trainable<'a>(&'a Gradients, Vec<Found>);

impl ModuleVisitor for Trainable<'_> {
    fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let grad = value
            .grad(self.0)
            .map(host_f64)
            .unwrap_or(vec![0.0; value.shape().num_elements()]);
        self.1.push((param.id, host_f64(value), grad));
    }
}

/// Replaces the values of parameter `.0` with `.1` (f64).
struct Replace(ParamId, Vec<f64>);

impl ModuleMapper for Replace {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        if param.id != self.0 {
            return param;
        }
        let values = std::mem::take(&mut self.1);
        param.map(|t| {
            Tensor::from_data(TensorData::new(values, t.dims()), (&t.device(), DType::F64))
        })
    }
}

/// R1 = ½·mean_i ‖g_i‖² of an input gradient g `[batch, …]`.
fn r1(g: Tensor<4>) -> Tensor<1> {
    let [batch, ..] = g.dims();
    g.powi_scalar(2).sum().mul_scalar(0.5 / batch as f64)
}

/// R1 from autodiff's input gradient (no VJP involved), on the host.
fn true_r1(critic: &BlockCritic<4>, x: &Tensor<4>) -> f64 {
    let x = x.clone().detach().require_grad();
    let grads = Discriminator::<4>::forward(critic, x.clone())
        .sum()
        .backward();
    host_f64(r1(x.grad(&grads).unwrap().detach()))[0]
}

/// The largest relative difference between R1's parameter gradients by autodiff through the
/// derived input gradient and central differences of R1 computed from autodiff's input
/// gradient, in f64, over every parameter of `critic` at the batch `x`; and how many there are.
fn r1_difference_error(critic: BlockCritic<4>, x: Tensor<4>) -> (f64, usize) {
    let critic = critic.valid().map(&mut CastF64).train();
    let x = x.cast(DType::F64);
    let grads = r1(critic.input_gradient(x.clone())).backward();
    let mut trainable = Trainable(&grads, Vec::new());
    critic.visit(&mut trainable);
    let frozen = critic.no_grad();
    let (mut autodiff, mut differences) = (Vec::new(), Vec::new());
    for (id, values, grad) in &trainable.1 {
        for (i, &theta) in values.iter().enumerate() {
            let h = 1e-6 * theta.abs().max(1.0);
            let moved = |value: f64| {
                let mut values = values.clone();
                values[i] = value;
                frozen.clone().map(&mut Replace(*id, values))
            };
            let up = true_r1(&moved(theta + h), &x);
            let down = true_r1(&moved(theta - h), &x);
            differences.push((up - down) / (2.0 * h));
            autodiff.push(grad[i]);
        }
    }
    (relative_error(&autodiff, &differences), autodiff.len())
}

/// A critic of the blocks [`residual_critic`] leaves out, `[2, 4, 4] → 1`: a transposed
/// convolution (output padding), LeakyReLU, the minibatch standard deviation over the batch of
/// 3, SiLU, a strided convolution, bilinear upsampling, tanh, a convolution, sigmoid, global
/// sum pooling and a dense layer.
fn other_blocks_critic(seed: u64, device: &Device) -> BlockCritic<4> {
    let mut rng = HostRng::seed_from(seed);
    let k3s2 = Conv2dOptions::new([3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1]);
    let up = ConvTranspose2d::new(2, 3, k3s2, [1, 1], &mut rng, device).unwrap();
    let body = Sequential::new(vec![
        up.into(),
        Nonlinearity::LeakyRelu(0.2).into(),
        MinibatchStdDev::new(3).into(),
        Nonlinearity::Silu.into(),
        conv(4, 4, k3s2, &mut rng).into(),
        UpsampleBilinear2.into(),
        Nonlinearity::Tanh.into(),
        conv(4, 2, k3s2, &mut rng).into(),
        Nonlinearity::Sigmoid.into(),
        GlobalSumPool.into(),
        Dense::new(2, 1, false, &mut rng, device).into(),
    ]);
    BlockCritic::<4>::new(&[2, 4, 4], body).unwrap()
}

/// The R1 penalty's parameter gradients by autodiff through the derived input gradient equal
/// central differences of R1 computed from autodiff's input gradient, in f64, through the
/// residual critic (with and without spectral norm) and through [`other_blocks_critic`].
fn r1_parameter_gradients_through_a_composed_critic_equal_finite_differences_on_one_backend() {
    let device = backend_device().autodiff();
    for spectral in [false, true] {
        let critic = residual_critic(spectral, 13, &device);
        let x = HostRng::seed_from(14).normal([3, 2, 8, 8], &device);
        let (error, count) = r1_difference_error(critic, x);
        eprintln!(
            "R1 through the residual critic (spectral {spectral}, {count} values): relative error {error:.2e}"
        );
        assert!(error <= 1e-6, "{error:.3e}");
    }
    let critic = other_blocks_critic(15, &device);
    let x = HostRng::seed_from(16).normal([3, 2, 4, 4], &device);
    let (error, count) = r1_difference_error(critic, x);
    eprintln!("R1 through the other blocks ({count} values): relative error {error:.2e}");
    assert!(error <= 1e-6, "{error:.3e}");
}

/// A block critic judges stacked batches when every block splits over batches: the residual
/// critic without spectral norm (its stacked logits equal the two forwards'), not with it, and
/// not the critic with the minibatch standard deviation, whose groups then mix the batches.
fn block_critics_judge_stacked_batches_when_every_block_splits_on_one_backend() {
    let device = backend_device().autodiff();
    let plain = residual_critic(false, 17, &device);
    assert!(plain.judges_stacked_batches());
    let mut rng = HostRng::seed_from(18);
    let [a, b] = [0, 1].map(|_| rng.normal([3, 2, 8, 8], &device));
    let gap = crate::stacking_tests::stacked_minus_separate(&plain, a, b, None);
    assert!(gap <= 1e-6, "{gap:e}");
    assert!(!residual_critic(true, 17, &device).judges_stacked_batches());
    let mixing = other_blocks_critic(19, &device);
    assert!(!mixing.judges_stacked_batches());
    let [a, b] = [0, 1].map(|_| rng.normal([3, 2, 4, 4], &device));
    let gap = crate::stacking_tests::stacked_minus_separate(&mixing, a, b.mul_scalar(4.0), None);
    assert!(gap > 1e-4, "{gap:e}");
}

on_each_backend!(
    the_dcgan_critic_rebuilt_from_blocks_is_bit_identical => the_dcgan_critic_rebuilt_from_blocks_is_bit_identical_on_one_backend,
    a_block_generator_gives_images_of_its_shape => a_block_generator_gives_images_of_its_shape_on_one_backend,
    a_training_forward_advances_the_power_iteration_once => a_training_forward_advances_the_power_iteration_once_on_one_backend,
    shapes_that_do_not_fit_are_refused_with_the_blocks_path => shapes_that_do_not_fit_are_refused_with_the_blocks_path_on_one_backend,
    a_block_critic_records_and_loads_its_parameters => a_block_critic_records_and_loads_its_parameters_on_one_backend,
    r1_parameter_gradients_through_a_composed_critic_equal_finite_differences => r1_parameter_gradients_through_a_composed_critic_equal_finite_differences_on_one_backend,
    block_critics_judge_stacked_batches_when_every_block_splits => block_critics_judge_stacked_batches_when_every_block_splits_on_one_backend,
);

on_every_backend!(
    transposed_and_normalisation_vjps_equal_autodiff => transposed_and_normalisation_vjps_equal_autodiff_on_one_backend,
    every_nonlinearity_vjp_equals_autodiff => every_nonlinearity_vjp_equals_autodiff_on_one_backend,
    convolution_vjps_equal_autodiff_for_strides_padding_and_groups => convolution_vjps_equal_autodiff_for_strides_padding_and_groups_on_one_backend,
    spectral_dense_and_convolution_vjps_use_the_forwards_weight => spectral_dense_and_convolution_vjps_use_the_forwards_weight_on_one_backend,
    pooling_upsampling_and_reshape_vjps_equal_autodiff => pooling_upsampling_and_reshape_vjps_equal_autodiff_on_one_backend,
    residual_and_sequential_vjps_equal_autodiff => residual_and_sequential_vjps_equal_autodiff_on_one_backend,
    a_composed_residual_critic_gives_autodiffs_input_gradient => a_composed_residual_critic_gives_autodiffs_input_gradient_on_one_backend,
);

mod arch;
