//! [`Discriminator::judges_stacked_batches`] for every critic burngan-models builds: the
//! critics that say true give, for two batches stacked along the batch dimension, the logits
//! of the two forwards (to 1e-6); the ones with BatchNorm, the minibatch standard deviation or
//! spectral norm say false, and for the first two the stacked forward indeed differs.

use burn::tensor::{Device, Int, Tensor};
use burngan_core::{Discriminator, HostRng};

use crate::{
    Activation, DcganDiscriminatorConfig, ImageMlpDiscriminatorConfig, MlpDiscriminatorConfig,
    Normalization, ProjectionDiscriminatorConfig, R3ganDiscriminatorConfig,
    ResnetDiscriminatorConfig,
};

fn training_device() -> Device {
    burngan_backend::device(burngan_backend::BackendKind::Flex)
        .expect("flex is a default feature")
        .autodiff()
}

fn host(t: Tensor<2>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// The largest |stacked − separate| over the logits of `first` and `second` (with their
/// labels, when given): one forward over `[first; second]` against one forward each.
pub(crate) fn stacked_minus_separate<C: Discriminator<D>, const D: usize>(
    critic: &C,
    first: Tensor<D>,
    second: Tensor<D>,
    labels: Option<(Tensor<1, Int>, Tensor<1, Int>)>,
) -> f32 {
    let judge = |x: Tensor<D>, y: Option<Tensor<1, Int>>| match y {
        Some(y) => critic.forward_labeled(x, y),
        None => critic.forward(x),
    };
    let (first_labels, second_labels) = labels.map_or((None, None), |(a, b)| (Some(a), Some(b)));
    let stacked_labels = first_labels
        .clone()
        .zip(second_labels.clone())
        .map(|(a, b)| Tensor::cat(vec![a, b], 0));
    let stacked = judge(
        Tensor::cat(vec![first.clone(), second.clone()], 0),
        stacked_labels,
    );
    let separate = Tensor::cat(
        vec![judge(first, first_labels), judge(second, second_labels)],
        0,
    );
    assert_eq!(stacked.dims(), separate.dims());
    host(stacked)
        .iter()
        .zip(host(separate))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max)
}

/// Two batches of `batch` uniform samples of shape `sample`.
fn batches<const D: usize>(batch: usize, sample: [usize; D], seed: u64) -> [Tensor<D>; 2] {
    let device = training_device();
    let mut rng = HostRng::seed_from(seed);
    let mut dims = sample;
    dims[0] = batch;
    [0, 1].map(|_| rng.uniform_tensor(dims, -1.0, 1.0, &device))
}

#[test]
fn fully_connected_critics_judge_stacked_batches_unless_normalised() {
    let device = training_device();
    let mut rng = HostRng::seed_from(3);
    let leaky = Activation::LeakyRelu(0.2);
    for pack in [1, 2] {
        let critic = MlpDiscriminatorConfig::new(vec![32, 16])
            .with_activation(leaky)
            .with_pack(pack)
            .init(2, &mut rng, &device)
            .unwrap();
        assert!(critic.judges_stacked_batches(), "pack {pack}");
        let [a, b] = batches(6, [0, 2], 4);
        let gap = stacked_minus_separate(&critic, a, b, None);
        assert!(gap <= 1e-6, "pack {pack}: {gap:e}");
    }
    let batch_norm = MlpDiscriminatorConfig::new(vec![32, 16])
        .with_normalization(Normalization::Batch)
        .init(2, &mut rng, &device)
        .unwrap();
    assert!(!batch_norm.judges_stacked_batches());
    let [a, b] = batches(6, [0, 2], 5);
    // Batch statistics over 12 samples are not those over each 6.
    assert!(stacked_minus_separate(&batch_norm, a, b.mul_scalar(3.0), None) > 1e-3);
    let spectral = MlpDiscriminatorConfig::new(vec![32, 16])
        .with_normalization(Normalization::Spectral)
        .init(2, &mut rng, &device)
        .unwrap();
    assert!(!spectral.judges_stacked_batches());
    let image_mlp = ImageMlpDiscriminatorConfig::default()
        .init([1, 28, 28], &mut rng, &device)
        .unwrap();
    assert!(image_mlp.judges_stacked_batches());
    let [a, b] = batches(4, [0, 1, 28, 28], 6);
    let gap = stacked_minus_separate(&image_mlp, a, b, None);
    assert!(gap <= 1e-6, "image MLP: {gap:e}");
}

#[test]
fn convolutional_critics_judge_stacked_batches_without_spectral_norm() {
    let device = training_device();
    let mut rng = HostRng::seed_from(7);
    let image = [1, 28, 28];
    let small = DcganDiscriminatorConfig {
        channels: vec![8, 16],
        hidden: 32,
        ..DcganDiscriminatorConfig::default()
    };
    let dcgan = small.clone().init(image, &mut rng, &device).unwrap();
    assert!(dcgan.judges_stacked_batches());
    let [a, b] = batches(4, [0, 1, 28, 28], 8);
    let gap = stacked_minus_separate(&dcgan, a, b, None);
    assert!(gap <= 1e-6, "DCGAN: {gap:e}");
    let spectral = small.with_spectral_norm(true);
    assert!(
        !spectral
            .init(image, &mut rng, &device)
            .unwrap()
            .judges_stacked_batches()
    );
    let projection = ProjectionDiscriminatorConfig::new(10)
        .init(image, &mut rng, &device)
        .unwrap();
    assert!(projection.judges_stacked_batches());
    let [a, b] = batches(4, [0, 1, 28, 28], 9);
    let labels = [[0, 3, 9, 3], [1, 1, 7, 2]]
        .map(|y| Tensor::<1, Int>::from_data(y.map(|v| v as i64), &device));
    let [ya, yb] = labels;
    let gap = stacked_minus_separate(&projection, a, b, Some((ya, yb)));
    assert!(gap <= 1e-6, "projection: {gap:e}");
    let projection_sn = ProjectionDiscriminatorConfig::new(10)
        .with_spectral_norm(true)
        .init(image, &mut rng, &device)
        .unwrap();
    assert!(!projection_sn.judges_stacked_batches());
}

#[test]
fn block_critics_ask_their_blocks() {
    let device = training_device();
    let mut rng = HostRng::seed_from(10);
    let image = [3, 32, 32];
    let r3 = R3ganDiscriminatorConfig {
        widths: vec![8, 16],
        ..R3ganDiscriminatorConfig::default()
    }
    .init(image, &mut rng, &device)
    .unwrap();
    assert!(r3.judges_stacked_batches());
    let [a, b] = batches(2, [0, 3, 32, 32], 11);
    let gap = stacked_minus_separate(&r3, a, b, None);
    assert!(gap <= 1e-6, "R3GAN critic: {gap:e}");
    for spectral_norm in [false, true] {
        let resnet = ResnetDiscriminatorConfig {
            channels: vec![8, 8],
            downsample: 1,
            spectral_norm,
            ..ResnetDiscriminatorConfig::default()
        }
        .init(image, &mut rng, &device)
        .unwrap();
        assert_eq!(resnet.judges_stacked_batches(), !spectral_norm);
    }
}
