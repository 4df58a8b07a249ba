//! The public checks of a critic's `InputGradient` (`burngan::check_input_gradient` and
//! `burngan::check_penalty_gradients`), as an application calls them in its tests: they pass
//! for the shipped critics and for the embedding example's critic over Burn's `nn::Linear`,
//! and catch a wrong activation derivative, locating its worst element.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burngan::backend::{BackendKind, device};
use burngan::models::{
    Activation, AvgPool2, BlockCritic, Conv2d, Conv2dOptions, DcganDiscriminatorConfig, Dense,
    Flatten, GroupNorm, MlpDiscriminatorConfig, Nonlinearity, Normalization,
    ProjectionDiscriminatorConfig, Residual, Sequential,
};
use burngan::{
    CheckError, Discriminator, HostRng, InputGradient, PenaltyConfig, check_input_gradient,
    check_input_gradient_labeled, check_penalty_gradients, check_penalty_gradients_labeled,
};
use custom_models::flat_weights;
use custom_models::linear_critic::LinearCritic;

fn flex() -> Device {
    device(BackendKind::Flex).unwrap().autodiff()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().convert::<f64>().iter::<f64>().collect()
}

/// The σ diagnostics of a critic, on the host.
fn sigmas<C: Discriminator<D>, const D: usize>(critic: &C) -> Vec<f64> {
    critic
        .diagnostics()
        .into_iter()
        .flat_map(|(_, sigma)| host(sigma))
        .collect()
}

#[test]
fn shipped_critics_and_the_examples_linear_critic_pass_the_input_gradient_check() {
    let device = flex();
    for (name, normalization, activation) in [
        ("mlp", Normalization::None, Activation::LeakyRelu(0.2)),
        ("mlp tanh", Normalization::None, Activation::Tanh),
        (
            "mlp spectral",
            Normalization::Spectral,
            Activation::LeakyRelu(0.2),
        ),
    ] {
        let mut rng = HostRng::seed_from(41);
        let critic = MlpDiscriminatorConfig::new(vec![32, 16])
            .with_activation(activation)
            .with_normalization(normalization)
            .init(5, &mut rng, &device)
            .unwrap();
        let before = sigmas(&critic);
        let check = check_input_gradient(&critic, rng.normal([9, 5], &device)).unwrap();
        assert!(check.max_rel_error <= 1e-5, "{name}: {check}");
        assert_eq!(check.compared, 45);
        // The check ran the training forward on a copy: the critic's own u did not move.
        assert_eq!(sigmas(&critic), before, "{name}");
    }
    for spectral_norm in [false, true] {
        let mut rng = HostRng::seed_from(42);
        let critic = DcganDiscriminatorConfig {
            channels: vec![4, 8],
            hidden: 16,
            activation: Activation::LeakyRelu(0.2),
            spectral_norm,
            spectral_convention: Default::default(),
            init: Default::default(),
        }
        .init([2, 12, 12], &mut rng, &device)
        .unwrap();
        let check = check_input_gradient(&critic, rng.normal([5, 2, 12, 12], &device)).unwrap();
        assert!(
            check.max_rel_error <= 1e-5,
            "dcgan {spectral_norm}: {check}"
        );

        let conditional = ProjectionDiscriminatorConfig {
            channels: vec![4, 8],
            hidden: 16,
            activation: Activation::LeakyRelu(0.2),
            spectral_norm,
            spectral_convention: Default::default(),
            num_classes: 3,
        }
        .init([2, 12, 12], &mut rng, &device)
        .unwrap();
        let labels =
            Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0, 1, 1, 2], [5]), &device);
        let x = rng.normal([5, 2, 12, 12], &device);
        let check = check_input_gradient_labeled(&conditional, x, labels).unwrap();
        assert!(
            check.max_rel_error <= 1e-5,
            "projection {spectral_norm}: {check}"
        );
    }
    let mut rng = HostRng::seed_from(43);
    let critic = LinearCritic::new(2, 32, &mut rng, &device);
    let check = check_input_gradient(&critic, rng.normal([16, 2], &device)).unwrap();
    assert!(check.max_rel_error <= 1e-5, "linear critic: {check}");
}

/// An MLP critic with LeakyReLU(0.2) whose input gradient takes ReLU's derivative: 0 instead
/// of 0.2 where a pre-activation is negative (written in the input's dtype, so that it runs in
/// f64 too).
#[derive(Module, Debug)]
struct WrongSlope {
    hidden: Dense,
    out: Dense,
}

impl WrongSlope {
    fn new(rng: &mut HostRng, device: &Device) -> Self {
        Self {
            hidden: Dense::new(3, 8, false, rng, device),
            out: Dense::new(8, 1, false, rng, device),
        }
    }
}

impl Discriminator<2> for WrongSlope {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let act = Activation::LeakyRelu(0.2);
        self.out.forward(act.forward(self.hidden.forward(x)))
    }
}

impl InputGradient<2> for WrongSlope {
    fn input_gradient(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let (w1, w2) = (self.hidden.weight(false), self.out.weight(false));
        let pre = self.hidden.forward_with(x, w1.clone());
        let g = w2.transpose().expand([batch as i64, -1]);
        let relu_derivative = pre.ones_like().mask_fill(pre.lower_equal_elem(0.0), 0.0);
        g.mul(relu_derivative).matmul(w1.transpose())
    }
}

#[test]
fn a_wrong_activation_derivative_is_caught_and_its_worst_element_named() {
    let device = flex();
    let mut rng = HostRng::seed_from(44);
    let critic = WrongSlope::new(&mut rng, &device);
    let x = rng.normal([6, 3], &device);

    // The reference computed here, independently of the check: autodiff's gradient and the
    // critic's, their largest difference and where it is.
    let tracked = x.clone().require_grad();
    let grads = critic.forward(tracked.clone()).sum().backward();
    let autodiff = host(tracked.grad(&grads).unwrap());
    let wrong = host(critic.input_gradient(x.clone()));
    let (worst, error) = autodiff
        .iter()
        .zip(&wrong)
        .map(|(a, w)| (a - w).abs())
        .enumerate()
        .fold(
            (0, 0.0),
            |(wi, we), (i, e)| if e > we { (i, e) } else { (wi, we) },
        );
    let scale = autodiff.iter().fold(0.0f64, |m, a| m.max(a.abs()));

    let check = check_input_gradient(&critic, x).unwrap();
    let expected_element = format!("x[{}, {}]", worst / 3, worst % 3);
    assert_eq!(check.worst_element, expected_element);
    assert_eq!(check.reference_at_worst, autodiff[worst]);
    assert_eq!(check.checked_at_worst, wrong[worst]);
    assert!(
        (check.max_rel_error - error / scale).abs() < 1e-12,
        "{check}"
    );
    // Missing 0.2·(negative part) is a large error, far above any rounding.
    assert!(check.max_rel_error > 0.05, "{check}");
    let message = check.ensure(1e-5).unwrap_err().to_string();
    for part in [
        format!("at {expected_element} "),
        format!("input_gradient {:.9e}", wrong[worst]),
        format!("autodiff {:.9e}", autodiff[worst]),
    ] {
        assert!(message.contains(&part), "{part} missing from: {message}");
    }

    // The penalty check catches it too: finite differences of the true penalty (from
    // autodiff's input gradient) differ from what training would use.
    let (real, fake) = (rng.normal([6, 3], &device), rng.normal([6, 3], &device));
    let r1 = PenaltyConfig::R1 { gamma: 10.0 };
    let check = check_penalty_gradients(&critic, &r1, real, fake, &mut rng).unwrap();
    assert!(check.max_rel_error > 0.05, "{check}");
}

#[test]
fn penalty_gradients_match_finite_differences_in_f64_for_small_critics() {
    let device = flex();
    let penalties = [
        PenaltyConfig::R1 { gamma: 10.0 },
        PenaltyConfig::R2 { gamma: 1.0 },
        PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        },
        PenaltyConfig::Dragan {
            weight: 10.0,
            scale: 0.5,
        },
    ];
    for activation in [Activation::Tanh, Activation::LeakyRelu(0.2)] {
        for penalty in &penalties {
            let mut rng = HostRng::seed_from(45);
            let critic = MlpDiscriminatorConfig::new(vec![8, 6])
                .with_activation(activation)
                .init(3, &mut rng, &device)
                .unwrap();
            let (real, fake) = (rng.normal([6, 3], &device), rng.normal([6, 3], &device));
            let check = check_penalty_gradients(&critic, penalty, real, fake, &mut rng).unwrap();
            // (3·8 + 8) + (8·6 + 6) + (6 + 1) parameter values.
            assert_eq!(check.compared, 93);
            assert!(check.scale > 1e-3, "{check}");
            assert!(
                check.max_rel_error <= 1e-6,
                "{activation:?} {}: {check}",
                penalty.name()
            );
        }
    }
    let mut rng = HostRng::seed_from(46);
    let critic = LinearCritic::new(2, 16, &mut rng, &device);
    let (real, fake) = (rng.normal([8, 2], &device), rng.normal([8, 2], &device));
    let check = check_penalty_gradients(&critic, &penalties[2], real, fake, &mut rng).unwrap();
    assert!(check.max_rel_error <= 1e-6, "linear critic: {check}");
}

#[test]
fn the_penalty_check_runs_on_ndarray_and_on_spectral_and_class_conditional_image_critics() {
    let r1 = PenaltyConfig::R1 { gamma: 10.0 };
    let mut rng = HostRng::seed_from(48);
    let ndarray = device(BackendKind::Ndarray).unwrap().autodiff();
    let critic = MlpDiscriminatorConfig::new(vec![8, 6])
        .with_activation(Activation::Tanh)
        .with_normalization(Normalization::Spectral)
        .init(3, &mut rng, &ndarray)
        .unwrap();
    let before = sigmas(&critic);
    let (real, fake) = (rng.normal([6, 3], &ndarray), rng.normal([6, 3], &ndarray));
    let check = check_penalty_gradients(&critic, &r1, real, fake, &mut rng).unwrap();
    assert!(check.max_rel_error <= 1e-6, "ndarray spectral mlp: {check}");
    assert_eq!(sigmas(&critic), before);

    let device = flex();
    let conditional = ProjectionDiscriminatorConfig {
        channels: vec![3, 4],
        hidden: 8,
        activation: Activation::Tanh,
        spectral_norm: true,
        spectral_convention: Default::default(),
        num_classes: 3,
    }
    .init([1, 8, 8], &mut rng, &device)
    .unwrap();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 0, 2, 1], [4]), &device);
    let (real, fake) = (
        rng.normal([4, 1, 8, 8], &device),
        rng.normal([4, 1, 8, 8], &device),
    );
    let wgan_gp = PenaltyConfig::WganGp {
        weight: 10.0,
        one_sided: false,
    };
    let check =
        check_penalty_gradients_labeled(&conditional, &wgan_gp, real, fake, labels, &mut rng)
            .unwrap();
    // Convolutions 3·1·4·4 + 3 and 4·3·4·4 + 4, the dense layer 16·8 + 8, the output 8 + 1,
    // the class table 3·8.
    assert_eq!(check.compared, 51 + 196 + 136 + 9 + 24);
    assert!(check.max_rel_error <= 1e-6, "projection critic: {check}");
}

#[test]
fn the_checks_refuse_what_they_cannot_check_with_a_message() {
    let plain = device(BackendKind::Flex).unwrap();
    let mut rng = HostRng::seed_from(47);
    let critic = MlpDiscriminatorConfig::new(vec![8])
        .init(3, &mut rng, &plain.clone().autodiff())
        .unwrap();
    let error = check_input_gradient(&critic, rng.normal([4, 3], &plain)).unwrap_err();
    assert!(matches!(error, CheckError::NoAutodiff { .. }), "{error}");

    let device = flex();
    let batch_norm = MlpDiscriminatorConfig::new(vec![8])
        .with_normalization(Normalization::Batch)
        .init(3, &mut rng, &device)
        .unwrap();
    let layer = batch_norm.unsupported_layer().unwrap();
    let message = check_input_gradient(&batch_norm, rng.normal([4, 3], &device))
        .unwrap_err()
        .to_string();
    assert!(message.contains(&format!("({layer})")), "{message}");
}

#[test]
fn linear_from_host_gives_the_same_burn_linear_critic_for_one_seed_on_every_backend() {
    let weights = |kind: BackendKind| {
        let device = device(kind).unwrap();
        flat_weights(&LinearCritic::new(
            2,
            8,
            &mut HostRng::seed_from(3),
            &device,
        ))
    };
    let flex = weights(BackendKind::Flex);
    assert_eq!(flex.len(), 2 * 8 + 8 + 8 + 1);
    assert_eq!(weights(BackendKind::Flex), flex);
    assert_eq!(weights(BackendKind::Ndarray), flex);
    // PyTorch's bound 1/√d_in: 1/√2 for the hidden layer, 1/√8 for the output.
    assert!(flex[..24].iter().all(|w| w.abs() <= 0.5f32.sqrt()));
    assert!(flex[24..].iter().all(|w| w.abs() <= 0.125f32.sqrt()));
}

/// A small residual critic composed from blocks (no backward code): a strided grouped
/// convolution, a residual stage with GroupNorm, SiLU and a learned 1×1 shortcut, GELU,
/// average pooling and a spectrally normalised dense layer to one logit.
fn block_critic(rng: &mut HostRng, device: &Device) -> BlockCritic<4> {
    let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
    let main = Sequential::new(vec![
        GroupNorm::new(2, 4, device).unwrap().into(),
        Nonlinearity::Silu.into(),
        Conv2d::new(4, 6, k3.with_groups(2), rng, device)
            .unwrap()
            .into(),
    ]);
    let shortcut = Sequential::new(vec![
        Conv2d::new(4, 6, Conv2dOptions::new([1, 1]), rng, device)
            .unwrap()
            .into(),
    ]);
    let body = Sequential::new(vec![
        Conv2d::new(2, 4, k3.with_stride([2, 2]), rng, device)
            .unwrap()
            .into(),
        Residual::learned(main, shortcut).into(),
        Nonlinearity::Gelu.into(),
        AvgPool2.into(),
        Flatten.into(),
        Dense::new(6 * 2 * 2, 1, true, rng, device).into(),
    ]);
    // 9×9 inputs: the stride-2 convolution does not divide them (9 → 5), nor does the pooling.
    BlockCritic::<4>::new(&[2, 9, 9], body).unwrap()
}

/// A critic composed from blocks passes both public checks with no hand-written gradient: its
/// input gradient equals autodiff's on flex, ndarray and wgpu, and the R1 and WGAN-GP
/// parameter gradients through it equal central differences in f64.
#[test]
fn a_critic_composed_from_blocks_passes_the_checks_on_every_backend() {
    for (kind, device) in crate::support::regression_backends() {
        let device = device.autodiff();
        let mut rng = HostRng::seed_from(61);
        let critic = block_critic(&mut rng, &device);
        // A training forward first, so spectral norm's state has moved once.
        let x = rng.normal([5, 2, 9, 9], &device);
        let _ = critic.forward(x.clone());
        let check = check_input_gradient(&critic, x).unwrap();
        assert!(check.max_rel_error <= 1e-5, "{kind}: {check}");
    }
    let device = flex();
    for penalty in [
        PenaltyConfig::R1 { gamma: 10.0 },
        PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        },
    ] {
        let mut rng = HostRng::seed_from(62);
        let critic = block_critic(&mut rng, &device);
        let (real, fake) = (
            rng.normal([4, 2, 9, 9], &device),
            rng.normal([4, 2, 9, 9], &device),
        );
        let check = check_penalty_gradients(&critic, &penalty, real, fake, &mut rng).unwrap();
        assert!(check.scale > 1e-6, "{check}");
        assert!(check.max_rel_error <= 1e-6, "{}: {check}", penalty.name());
    }
}

/// Adds N(0, 0.05²) to every parameter (so R3GAN's zero-started branches carry gradient).
struct Jitter(HostRng);

impl burn::module::ModuleMapper for Jitter {
    fn map_float<const R: usize>(
        &mut self,
        param: burn::module::Param<Tensor<R>>,
    ) -> burn::module::Param<Tensor<R>> {
        let rng = &mut self.0;
        param.map(|t| {
            let noise = rng.normal(t.dims(), &t.device()).mul_scalar(0.05);
            t.add(noise)
        })
    }
}

/// The residual architectures and a critic with StyleGAN's minibatch standard deviation pass
/// the public input-gradient check on flex, ndarray and wgpu: SNGAN's ResNet critic (spectral
/// norm), R3GAN's critic (grouped convolutions, a depthwise basis) and a small critic whose
/// minibatch-std channel couples the samples (its VJP is the whole batch's).
#[test]
fn the_residual_critics_pass_the_input_gradient_check_on_every_backend() {
    use burngan::models::{MinibatchStdDev, R3ganDiscriminatorConfig, ResnetDiscriminatorConfig};
    for (kind, device) in crate::support::regression_backends() {
        let device = device.autodiff();
        let mut rng = HostRng::seed_from(71);
        let resnet = ResnetDiscriminatorConfig {
            channels: vec![4, 4, 4],
            ..ResnetDiscriminatorConfig::default()
        }
        .init([1, 12, 12], &mut rng, &device)
        .unwrap();
        let r3gan = R3ganDiscriminatorConfig {
            widths: vec![4, 8],
            group_width: 4,
            ..R3ganDiscriminatorConfig::default()
        }
        .init([1, 12, 12], &mut rng, &device)
        .unwrap()
        .map(&mut Jitter(HostRng::seed_from(72)));
        let k3 = Conv2dOptions::new([3, 3]).with_padding([1, 1]);
        let body = Sequential::new(vec![
            Conv2d::new(1, 3, k3, &mut rng, &device).unwrap().into(),
            MinibatchStdDev::new(2).into(),
            Nonlinearity::LeakyRelu(0.2).into(),
            AvgPool2.into(),
            Flatten.into(),
            Dense::new(4 * 6 * 6, 1, false, &mut rng, &device).into(),
        ]);
        let mbstd = BlockCritic::<4>::new(&[1, 12, 12], body).unwrap();
        let x = rng.normal([4, 1, 12, 12], &device);
        let _ = resnet.forward(x.clone());
        for (name, check) in [
            ("resnet", check_input_gradient(&resnet, x.clone())),
            ("r3gan", check_input_gradient(&r3gan, x.clone())),
            ("minibatch std", check_input_gradient(&mbstd, x.clone())),
        ] {
            let check = check.unwrap();
            assert!(check.max_rel_error <= 1e-5, "{kind} {name}: {check}");
        }
    }
}
