//! Checks of the residual architectures and the blocks they added: GlobalSumPool, Basis and
//! MinibatchStdDev VJPs against autodiff, the minibatch standard deviation's closed form, the
//! SNGAN ResNet and R3GAN critics' derived input gradients against autodiff, R3GAN's fix-up
//! initialisation (every residual branch starts at exactly zero) and its He/MSR scale.

use burn::tensor::{Tensor, TensorData};
use burngan_core::{Discriminator, Generator, HostRng, InputGradient};

use super::*;
use crate::{
    R3ganDiscriminatorConfig, R3ganGeneratorConfig, ResnetDiscriminatorConfig,
    ResnetGeneratorConfig, SpectralConvention,
};

fn new_block_vjps_equal_autodiff_on_one_backend() {
    let device = backend_device().autodiff();
    let mut rng = HostRng::seed_from(21);
    check("global sum pool 4×5", &GlobalSumPool, &[3, 4, 5]);
    let basis = Basis::new(6, 4, [3, 3], &mut rng, &device).unwrap();
    check("basis 6 → [4, 3, 3]", &basis, &[6]);
    // Three samples: one group of three (4 does not divide 3), cross-sample terms included.
    check(
        "minibatch std, group 3",
        &MinibatchStdDev::new(4),
        &[2, 3, 3],
    );
}

/// Groups of 2 in a batch of 4 (samples 0, 2 and 1, 3 together, StyleGAN's layout), against
/// autodiff over the whole batch.
fn minibatch_std_vjp_with_several_groups_equals_autodiff_on_one_backend() {
    let device = backend_device().autodiff();
    let mut rng = HostRng::seed_from(22);
    let block = MinibatchStdDev::new(2);
    let x = rng.normal([4, 2, 3, 3], &device).require_grad();
    let (y, cache) = block.forward_cached(Features::Maps(x.clone()), true);
    let (sum, r) = weighted_sum(&y, &mut rng);
    let autodiff = host_f64(x.grad(&sum.backward()).unwrap().inner());
    let ours = features_host(block.input_vjp(cache, r));
    let error = relative_error(&ours, &autodiff);
    assert!(error <= 1e-5, "{error:.3e}");
}

/// Samples 0, 2 differ by 2 everywhere (standard deviation 1 over the group), samples 1, 3 by
/// 4 (standard deviation 2): the extra channel is √(s² + 1e-8) of each sample's group.
fn minibatch_std_appends_each_groups_deviation_on_one_backend() {
    let device = backend_device();
    let values: Vec<f32> = [0.0f32, 0.0, 2.0, 4.0]
        .iter()
        .flat_map(|&v| [v, v + 0.5, v - 1.0, v])
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(values, [4, 1, 2, 2]), &device);
    let y = MinibatchStdDev::new(2).forward(Features::Maps(x));
    let y = y.into_maps("test");
    assert_eq!(y.dims(), [4, 2, 2, 2]);
    let extra = host_f64(y.slice([0..4, 1..2, 0..1, 0..1]));
    let expected = [1.0f64, 2.0, 1.0, 2.0].map(|s| (s * s + 1e-8f64).sqrt());
    for (ours, want) in extra.iter().zip(expected) {
        assert!((ours - want).abs() <= 1e-6, "{extra:?} vs {expected:?}");
    }
}

fn small_resnet_critic(convention: Option<SpectralConvention>) -> ResnetDiscriminatorConfig {
    ResnetDiscriminatorConfig {
        channels: vec![8, 8, 8],
        downsample: 2,
        spectral_norm: convention.is_some(),
        spectral_convention: convention.unwrap_or_default(),
    }
}

fn small_r3gan_critic() -> R3ganDiscriminatorConfig {
    R3ganDiscriminatorConfig {
        widths: vec![8, 8, 16],
        blocks: 1,
        expansion: 2,
        group_width: 8,
    }
}

/// The derived input gradient after a training forward, against autodiff's ∂ΣD/∂x.
fn input_gradient_error(critic: &BlockCritic<4>, image: [usize; 3], seed: u64) -> f64 {
    let device = backend_device().autodiff();
    let [c, h, w] = image;
    let x = HostRng::seed_from(seed)
        .normal([3, c, h, w], &device)
        .require_grad();
    let logits = Discriminator::<4>::forward(critic, x.clone());
    assert_eq!(logits.dims(), [3, 1]);
    let autodiff = host_f64(x.grad(&logits.sum().backward()).unwrap().inner());
    relative_error(&host_f64(critic.input_gradient(x.detach())), &autodiff)
}

fn residual_critics_give_autodiffs_input_gradient_on_one_backend() {
    let device = backend_device().autodiff();
    let conventions = [
        None,
        Some(SpectralConvention::Burngan),
        Some(SpectralConvention::Pytorch),
    ];
    for (image, convention) in [[1, 28, 28], [3, 32, 32]]
        .into_iter()
        .flat_map(|image| conventions.map(|c| (image, c)))
    {
        let config = small_resnet_critic(convention);
        let critic = config
            .init(image, &mut HostRng::seed_from(3), &device)
            .unwrap();
        assert_eq!(critic.unsupported_layer(), None);
        let error = input_gradient_error(&critic, image, 4);
        eprintln!("resnet critic {image:?} {convention:?}: relative error {error:.2e}");
        assert!(error <= 1e-5, "{image:?} {convention:?}: {error:.3e}");
    }
    for image in [[1, 28, 28], [3, 32, 32]] {
        let critic = small_r3gan_critic()
            .init(image, &mut HostRng::seed_from(5), &device)
            .unwrap();
        // Move the zero-initialised branches off zero, so the check sees every path.
        let critic = critic.map(&mut Jitter(HostRng::seed_from(6)));
        let error = input_gradient_error(&critic, image, 7);
        eprintln!("r3gan critic {image:?}: relative error {error:.2e}");
        assert!(error <= 1e-5, "{image:?}: {error:.3e}");
    }
}

/// Adds N(0, 0.05²) to every parameter.
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

/// Runs the body's blocks, skipping every residual block.
fn without_residuals(body: &Sequential, x: Features) -> Features {
    body.blocks
        .iter()
        .filter(|block| !matches!(block, Layer::Residual(_)))
        .fold(x, |x, block| block.forward(x))
}

/// At initialisation every R3GAN residual branch ends in a zero convolution without bias, so
/// both networks equal themselves with the residual blocks removed, bit for bit.
fn r3gan_residual_branches_start_at_zero_on_one_backend() {
    let device = backend_device();
    let image = [1, 28, 28];
    let mut rng = HostRng::seed_from(8);
    let critic = small_r3gan_critic().init(image, &mut rng, &device).unwrap();
    let x = rng.normal([2, 1, 28, 28], &device);
    let full = host_f64(Discriminator::<4>::forward(&critic, x.clone()));
    let skipped = features_host(without_residuals(&critic.body, Features::Maps(x)));
    assert_eq!(full, skipped);
    let config = R3ganGeneratorConfig {
        latent_dim: 8,
        widths: vec![16, 8, 8],
        blocks: 2,
        expansion: 2,
        group_width: 8,
    };
    let generator = config.init(image, &mut rng, &device).unwrap();
    let z = rng.normal([2, 8], &device);
    let images = Generator::<4>::forward(&generator, z.clone());
    assert_eq!(images.dims(), [2, 1, 28, 28]);
    let skipped = features_host(without_residuals(&generator.body, Features::Flat(z)));
    assert_eq!(host_f64(images), skipped);
}

/// The first convolution of an R3GAN block is drawn from N(0, a²/fan_in) with a = √(2/1.04)·
/// L^(−1/4): with L = 3 blocks and fan_in = 32, a/√32 = 0.18627; the sample standard deviation
/// of its 2,048 values is within 5 % (the standard error of a standard deviation from 2,048
/// normal draws is 1.6 %).
fn r3gan_blocks_use_the_variance_scaled_msr_initialisation_on_one_backend() {
    let device = backend_device();
    let config = R3ganDiscriminatorConfig {
        widths: vec![32, 32, 32],
        ..R3ganDiscriminatorConfig::default()
    };
    let critic = config
        .init([1, 28, 28], &mut HostRng::seed_from(9), &device)
        .unwrap();
    let Layer::Residual(block) = &critic.body.blocks[1] else {
        panic!("the first stage starts with a residual block")
    };
    let Layer::Conv2d(first) = &block.main.blocks[0] else {
        panic!("a block starts with a 1×1 convolution")
    };
    let values = host_f64(first.weight.val());
    assert_eq!(values.len(), 64 * 32);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
    let expected = (2.0f64 / 1.04).sqrt() * 3f64.powf(-0.25) / 32f64.sqrt();
    assert!((expected - 0.18627).abs() < 1e-5, "{expected}");
    assert!(
        (var.sqrt() / expected - 1.0).abs() < 0.05,
        "{} vs {expected}",
        var.sqrt()
    );
}

fn resnet_generators_give_images_and_batch_norm_is_refused_on_one_backend() {
    let device = backend_device();
    let mut rng = HostRng::seed_from(10);
    for (image, channels) in [([1, 28, 28], vec![16, 8]), ([3, 32, 32], vec![8, 8, 8])] {
        let config = ResnetGeneratorConfig {
            latent_dim: 12,
            channels,
        };
        let generator = config.init(image, &mut rng, &device).unwrap();
        let images = Generator::<4>::forward(&generator, rng.normal([4, 12], &device));
        let [c, h, w] = image;
        assert_eq!(images.dims(), [4, c, h, w]);
        assert!(host_f64(images).iter().all(|v| v.abs() <= 1.0));
    }
    let body = Sequential::new(vec![
        conv(1, 2, Conv2dOptions::new([3, 3]), &mut rng).into(),
        BatchNorm::new(2, &device).into(),
        Flatten.into(),
        Dense::new(2 * 4 * 4, 1, false, &mut rng, &device).into(),
    ]);
    let critic = BlockCritic::<4>::new(&[1, 6, 6], body).unwrap();
    assert_eq!(
        critic.unsupported_layer().as_deref(),
        Some("body.blocks.1.BatchNorm")
    );
}

/// 64×64 by configuration (the presets use 28×28 and 32×32): SNGAN's ResNet pair with three
/// halvings and R3GAN's pair with four stages give `[batch, 3, 64, 64]` images, and both critics
/// give one logit per sample and autodiff's input gradient.
fn architectures_configured_for_64_by_64_on_one_backend() {
    let device = backend_device();
    let image = [3, 64, 64];
    let mut rng = HostRng::seed_from(13);
    let resnet = ResnetGeneratorConfig {
        latent_dim: 12,
        channels: vec![8, 8, 8, 8],
    }
    .init(image, &mut rng, &device)
    .unwrap();
    let r3gan = R3ganGeneratorConfig {
        latent_dim: 12,
        widths: vec![16, 8, 8, 8],
        blocks: 1,
        expansion: 2,
        group_width: 8,
    }
    .init(image, &mut rng, &device)
    .unwrap();
    for generator in [resnet, r3gan] {
        let images = Generator::<4>::forward(&generator, rng.normal([2, 12], &device));
        assert_eq!(images.dims(), [2, 3, 64, 64]);
    }
    let resnet = ResnetDiscriminatorConfig {
        downsample: 3,
        ..small_resnet_critic(Some(SpectralConvention::Burngan))
    };
    let r3gan = R3ganDiscriminatorConfig {
        widths: vec![8, 8, 8, 16],
        ..small_r3gan_critic()
    };
    let critics = [
        resnet.init(
            image,
            &mut HostRng::seed_from(3),
            &device.clone().autodiff(),
        ),
        r3gan.init(
            image,
            &mut HostRng::seed_from(5),
            &device.clone().autodiff(),
        ),
    ];
    for critic in critics {
        let critic = critic.unwrap().map(&mut Jitter(HostRng::seed_from(6)));
        let error = input_gradient_error(&critic, image, 8);
        eprintln!("64×64 critic: relative error {error:.2e}");
        assert!(error <= 1e-5, "{error:.3e}");
    }
}

fn sizes_that_do_not_fit_name_the_field_and_the_fix_on_one_backend() {
    let device = backend_device();
    let mut rng = HostRng::seed_from(11);
    let generator = ResnetGeneratorConfig {
        latent_dim: 8,
        channels: vec![8, 8],
    };
    let error = generator.init([1, 30, 30], &mut rng, &device).unwrap_err();
    assert!(
        error.to_string().contains("multiple of 2^2, got 30×30"),
        "{error}"
    );
    let critic = R3ganDiscriminatorConfig {
        group_width: 6,
        ..small_r3gan_critic()
    };
    let error = critic.validate([1, 28, 28]).unwrap_err().to_string();
    assert!(
        error.contains("not a multiple of group_width = 6"),
        "{error}"
    );
    let critic = ResnetDiscriminatorConfig {
        downsample: 4,
        ..small_resnet_critic(None)
    };
    let error = critic.validate([1, 28, 28]).unwrap_err().to_string();
    assert!(
        error.contains("downsample = 4 exceeds the 3 residual blocks"),
        "{error}"
    );
}

on_each_backend!(
    minibatch_std_appends_each_groups_deviation => minibatch_std_appends_each_groups_deviation_on_one_backend,
    r3gan_residual_branches_start_at_zero => r3gan_residual_branches_start_at_zero_on_one_backend,
    r3gan_blocks_use_the_variance_scaled_msr_initialisation => r3gan_blocks_use_the_variance_scaled_msr_initialisation_on_one_backend,
    resnet_generators_give_images_and_batch_norm_is_refused => resnet_generators_give_images_and_batch_norm_is_refused_on_one_backend,
    sizes_that_do_not_fit_name_the_field_and_the_fix => sizes_that_do_not_fit_name_the_field_and_the_fix_on_one_backend,
    architectures_configured_for_64_by_64 => architectures_configured_for_64_by_64_on_one_backend,
);

on_every_backend!(
    new_block_vjps_equal_autodiff => new_block_vjps_equal_autodiff_on_one_backend,
    minibatch_std_vjp_with_several_groups_equals_autodiff => minibatch_std_vjp_with_several_groups_equals_autodiff_on_one_backend,
    residual_critics_give_autodiffs_input_gradient => residual_critics_give_autodiffs_input_gradient_on_one_backend,
);

/// Multiply-adds by hand for channels [8, 8, 8] on 28×28 (two halvings): first block conv 1→8
/// and 8→8 at 28×28 (8·9·784 + 64·9·784) with the 1×1 shortcut after pooling (8·196); second
/// block two 8→8 convolutions at 14×14 (2·64·9·196) and a 1×1 shortcut at 14×14 (64·196);
/// third block two at 7×7 (2·64·9·49); the head 8 → 1.
#[test]
fn a_critics_multiply_adds_follow_the_shapes_its_blocks_see() {
    let device = burngan_backend::device(burngan_backend::BackendKind::Flex).unwrap();
    let critic = small_resnet_critic(None)
        .init([1, 28, 28], &mut HostRng::seed_from(12), &device)
        .unwrap();
    let expected = 8 * 9 * 784 + 64 * 9 * 784 + 8 * 196 + 2 * 64 * 9 * 196 + 64 * 196;
    let expected = expected + 2 * 64 * 9 * 49 + 8;
    assert_eq!(expected, 804_392);
    assert_eq!(critic.multiply_adds(), expected as f64);
}
