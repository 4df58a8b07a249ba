//! Output shapes of every network burngan-models builds, for batches of 1 and 64, on the
//! benchmark and example image shapes. Generators run in training mode (an autodiff device,
//! BatchNorm on batch statistics) for batch 64 and as `.valid()` snapshots (BatchNorm on running
//! statistics) for batch 1, where batch statistics would be degenerate; their tanh outputs must
//! be finite and inside [−1, 1]. Critics give finite `[batch, 1]` logits in both modes.

use crate::{
    ConditionalDcganGeneratorConfig, DcganDiscriminatorConfig, DcganGeneratorConfig,
    ImageMlpDiscriminatorConfig, ImageMlpGeneratorConfig, ProjectionDiscriminatorConfig,
};
use burn::module::Module;
use burn::tensor::{Device, Int, Tensor};
use burngan_core::{Discriminator, Generator, HostRng};

const BATCHES: [usize; 2] = [1, 64];

fn training_device() -> Device {
    burngan_backend::device(burngan_backend::BackendKind::Flex)
        .expect("flex is a default feature")
        .autodiff()
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// Runs `generator` (built on an autodiff device) on batches of 1 (validation snapshot) and 64
/// (training mode) and checks the images: shape `[batch, image…]`, finite, in [−1, 1].
fn check_generator<G: Generator<4>>(name: &str, generator: &G, image: [usize; 3]) {
    let device = training_device();
    let mut rng = HostRng::seed_from(11);
    for batch in BATCHES {
        let z = rng.normal([batch, generator.latent_dim()], &device);
        let images = if batch == 1 {
            generator.valid().forward(z.inner())
        } else {
            generator.forward(z)
        };
        let [c, h, w] = image;
        assert_eq!(images.dims(), [batch, c, h, w], "{name}, batch {batch}");
        let values = host(images);
        assert!(
            values.iter().all(|v| v.is_finite() && v.abs() <= 1.0),
            "{name}, batch {batch}: an image value is not finite or outside [−1, 1]"
        );
    }
}

/// Runs `critic` on batches of 1 and 64 of uniform images, in training mode and as a
/// validation snapshot; logits must be `[batch, 1]` and finite.
fn check_critic<C: Discriminator<4>>(name: &str, critic: &C, image: [usize; 3]) {
    let device = training_device();
    let mut rng = HostRng::seed_from(12);
    let [c, h, w] = image;
    for batch in BATCHES {
        let x = rng.uniform_tensor([batch, c, h, w], -1.0, 1.0, &device);
        for (mode, logits) in [
            ("train", critic.forward(x.clone())),
            ("valid", critic.valid().forward(x.clone().inner())),
        ] {
            assert_eq!(logits.dims(), [batch, 1], "{name} {mode}, batch {batch}");
            let values = host(logits);
            assert!(
                values.iter().all(|v| v.is_finite()),
                "{name} {mode}, batch {batch}: a logit is not finite"
            );
        }
    }
}

/// `batch` labels 0, 1, 2, … mod `num_classes`.
fn labels(batch: usize, num_classes: usize, device: &Device) -> Tensor<1, Int> {
    Tensor::<1, Int>::arange(0..batch as i64, device).remainder_scalar(num_classes as i64)
}

#[test]
fn mnist_mlp_pair_shapes() {
    let image = [1, 28, 28];
    let device = training_device();
    let mut rng = HostRng::seed_from(0);
    let generator = ImageMlpGeneratorConfig::default()
        .init(image, &mut rng, &device)
        .unwrap();
    let critic = ImageMlpDiscriminatorConfig::default()
        .init(image, &mut rng, &device)
        .unwrap();
    let generator_widths: Vec<[usize; 2]> = generator
        .mlp
        .layers
        .iter()
        .map(|l| l.weight.val().dims())
        .collect();
    assert_eq!(
        generator_widths,
        vec![[100, 128], [128, 256], [256, 512], [512, 1024], [1024, 784]]
    );
    assert_eq!(generator.mlp.norms.len(), 3);
    let critic_widths: Vec<[usize; 2]> = critic
        .mlp
        .layers
        .iter()
        .map(|l| l.linear.weight.val().dims())
        .collect();
    assert_eq!(critic_widths, vec![[784, 512], [512, 256], [256, 1]]);
    check_generator("mnist-mlp generator", &generator, image);
    check_critic("mnist-mlp critic", &critic, image);
}

#[test]
fn dcgan_pair_shapes_on_mnist_rgb32_and_rgb64() {
    let cases = [
        ("mnist", [1, 28, 28], vec![128, 64], vec![64, 128]),
        ("rgb32", [3, 32, 32], vec![256, 128, 64], vec![64, 128, 256]),
        (
            "rgb64",
            [3, 64, 64],
            vec![512, 256, 128, 64],
            vec![64, 128, 256, 512],
        ),
    ];
    let device = training_device();
    for (name, image, generator_channels, critic_channels) in cases {
        let mut rng = HostRng::seed_from(1);
        let generator = DcganGeneratorConfig {
            channels: generator_channels,
            ..DcganGeneratorConfig::default()
        }
        .init(image, &mut rng, &device)
        .unwrap();
        let critic = DcganDiscriminatorConfig {
            channels: critic_channels,
            ..DcganDiscriminatorConfig::default()
        }
        .init(image, &mut rng, &device)
        .unwrap();
        check_generator(&format!("dcgan {name} generator"), &generator, image);
        check_critic(&format!("dcgan {name} critic"), &critic, image);
    }
}

#[test]
fn conditional_pair_shapes() {
    let image = [1, 28, 28];
    let device = training_device();
    let mut rng = HostRng::seed_from(2);
    let generator = ConditionalDcganGeneratorConfig::new(10)
        .init(image, &mut rng, &device)
        .unwrap();
    assert_eq!(generator.num_classes(), 10);
    assert_eq!(generator.embedding.weight.val().dims(), [10, 50]);
    assert_eq!(
        generator.body.dense[0].linear.weight.val().dims(),
        [150, 1024]
    );
    check_generator("conditional generator", &generator, image);
    for spectral_norm in [false, true] {
        let critic = ProjectionDiscriminatorConfig::new(10)
            .with_spectral_norm(spectral_norm)
            .init(image, &mut rng, &device)
            .unwrap();
        assert_eq!(critic.num_classes(), 10);
        assert_eq!(critic.embedding.weight.val().dims(), [10, 1024]);
        check_critic("projection critic", &critic, image);
        for batch in BATCHES {
            let x = rng.uniform_tensor([batch, 1, 28, 28], -1.0, 1.0, &device);
            let y = labels(batch, 10, &device);
            let logits = critic.forward_labeled(x.clone(), y.clone());
            assert_eq!(logits.dims(), [batch, 1]);
            assert!(host(logits).iter().all(|v| v.is_finite()));
            let valid = critic.valid().forward_labeled(x.inner(), y.clone().inner());
            assert_eq!(valid.dims(), [batch, 1]);
            // Labelled generation, in training mode and as a snapshot.
            let z = rng.normal([batch, 100], &device);
            let images = match batch {
                1 => generator.valid().forward_labeled(z.inner(), y.inner()),
                _ => generator.forward_labeled(z, y),
            };
            assert_eq!(images.dims(), [batch, 1, 28, 28]);
            assert!(host(images).iter().all(|v| v.is_finite() && v.abs() <= 1.0));
        }
    }
}
