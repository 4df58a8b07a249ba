//! The two spectral-norm conventions side by side: how a config names them, what one seed
//! draws under each, what a checkpoint keeps under the PyTorch convention, and that the
//! critics' input gradients stay exact under it.

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, HostRng, InputGradient};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use super::SpectralConvention::{Burngan, Pytorch};
use super::{SpectralConvention, SpectralNorm};
use crate::{
    DcganDiscriminator, DcganDiscriminatorConfig, ImageMlpDiscriminatorConfig,
    MlpDiscriminatorConfig, Normalization, ProjectionDiscriminator, ProjectionDiscriminatorConfig,
};

fn flex() -> Device {
    device(BackendKind::Flex).expect("flex is a default feature")
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// max_i |ours_i − theirs_i| / max_i |theirs_i|, in f64.
fn relative_error(ours: &[f32], theirs: &[f32]) -> f64 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(0f64, |m, &x| m.max(f64::from(x).abs()));
    let worst = ours.iter().zip(theirs).fold(0f64, |m, (&a, &b)| {
        m.max((f64::from(a) - f64::from(b)).abs())
    });
    worst / scale
}

#[test]
fn configs_name_the_convention_and_default_to_burngan() {
    let read = |text: &str| {
        let deserializer: StrDeserializer<'_, ValueError> = text.into_deserializer();
        SpectralConvention::deserialize(deserializer).map_err(|e| e.to_string())
    };
    assert_eq!(read("burngan"), Ok(Burngan));
    assert_eq!(read("pytorch"), Ok(Pytorch));
    let error = read("torch").unwrap_err();
    assert!(error.contains("unknown variant `torch`"), "{error}");
    assert_eq!(SpectralConvention::default(), Burngan);

    let dcgan = DcganDiscriminatorConfig::default();
    assert_eq!(dcgan.spectral_convention, Burngan);
    // Without spectral norm the convention is unused.
    assert_eq!(
        dcgan.clone().with_spectral_convention(Pytorch).spectral(),
        None
    );
    assert_eq!(
        dcgan.clone().with_spectral_norm(true).spectral(),
        Some(Burngan)
    );
    let dcgan = dcgan
        .with_spectral_norm(true)
        .with_spectral_convention(Pytorch);
    assert_eq!(dcgan.spectral(), Some(Pytorch));
    let projection = ProjectionDiscriminatorConfig::new(3)
        .with_spectral_norm(true)
        .with_spectral_convention(Pytorch);
    assert_eq!(projection.spectral(), Some(Pytorch));
    assert_eq!(projection.trunk().spectral(), Some(Pytorch));
    let mlp = MlpDiscriminatorConfig::new(vec![4]).with_spectral_convention(Pytorch);
    assert_eq!(mlp.spectral(), None);
    let mlp = mlp.with_normalization(Normalization::Spectral);
    assert_eq!(mlp.spectral(), Some(Pytorch));
    let image = ImageMlpDiscriminatorConfig {
        normalization: Normalization::Spectral,
        spectral_convention: Pytorch,
        ..ImageMlpDiscriminatorConfig::default()
    };
    assert_eq!(image.spectral(), Some(Pytorch));
    assert_eq!(ImageMlpDiscriminatorConfig::default().spectral(), None);
}

/// A projection critic for `[1, 8, 8]` images (convolutions 1→3→4, k4 s2 p1; dense 16→6→1;
/// a `[3, 6]` embedding table), spectrally normalised under `convention`, from seed 3; and the
/// RNG after the draws.
fn projection(
    convention: SpectralConvention,
    device: &Device,
) -> (ProjectionDiscriminator, HostRng) {
    let mut rng = HostRng::seed_from(3);
    let critic = ProjectionDiscriminatorConfig {
        channels: vec![3, 4],
        hidden: 6,
        ..ProjectionDiscriminatorConfig::new(3)
    }
    .with_spectral_norm(true)
    .with_spectral_convention(convention)
    .init([1, 8, 8], &mut rng, device)
    .unwrap();
    (critic, rng)
}

/// Every weight of a projection critic and every spectral-norm state, input side first.
fn parts(critic: &ProjectionDiscriminator) -> (Vec<Vec<f32>>, Vec<&SpectralNorm>) {
    let trunk = &critic.trunk;
    let mut weights: Vec<Vec<f32>> = trunk.convs.iter().map(|c| values(c.weight.val())).collect();
    weights.push(values(trunk.hidden.linear.weight.val()));
    weights.push(values(trunk.output.linear.weight.val()));
    weights.push(values(critic.embedding.weight.val()));
    let mut states: Vec<&SpectralNorm> = trunk
        .convs
        .iter()
        .map(|c| c.spectral.as_ref().unwrap())
        .collect();
    states.push(trunk.hidden.spectral.as_ref().unwrap());
    states.push(trunk.output.spectral.as_ref().unwrap());
    states.push(critic.embedding.spectral.as_ref().unwrap());
    (weights, states)
}

#[test]
fn one_seed_draws_the_same_weights_and_sigma_under_both_conventions() {
    let device = flex();
    let (burngan, mut rng_burngan) = projection(Burngan, &device);
    let (pytorch, mut rng_pytorch) = projection(Pytorch, &device);
    // The same number of draws: the next ones agree.
    assert_eq!(rng_burngan.normal_vec(4), rng_pytorch.normal_vec(4));
    let (weights_burngan, states_burngan) = parts(&burngan);
    let (weights_pytorch, states_pytorch) = parts(&pytorch);
    assert_eq!(weights_burngan, weights_pytorch);
    // burngan: u only, of the matrix it iterates on (dense layers: Burn's [d_in, d_out]).
    let u_len = |s: &SpectralNorm| s.u.value_sync().dims()[0];
    let lengths: Vec<usize> = states_burngan.iter().map(|s| u_len(s)).collect();
    assert_eq!(lengths, [3, 4, 16, 6, 3]);
    assert!(states_burngan.iter().all(|s| s.v.is_none()));
    // PyTorch: u [rows] and v [cols] of PyTorch's view (dense layers: [d_out, d_in]), unit
    // length.
    let v_len = |s: &SpectralNorm| s.v.as_ref().unwrap().value_sync().dims()[0];
    let shapes: Vec<(usize, usize)> = states_pytorch
        .iter()
        .map(|s| (u_len(s), v_len(s)))
        .collect();
    assert_eq!(shapes, [(3, 16), (4, 48), (6, 16), (1, 6), (3, 6)]);
    for state in &states_pytorch {
        for x in [state.u.value_sync(), state.v.as_ref().unwrap().value_sync()] {
            let norm = x.clone().mul(x).sum().sqrt();
            assert!((values(norm)[0] - 1.0).abs() < 1e-6);
        }
    }
    // The evaluation σ at initialisation is the same: ‖Wᵀu‖ = uᵀW(Wᵀu/‖Wᵀu‖).
    let (sigma_burngan, sigma_pytorch) = (burngan.diagnostics(), pytorch.diagnostics());
    assert_eq!(sigma_burngan.len(), 5);
    for ((name, a), (other, b)) in sigma_burngan.into_iter().zip(sigma_pytorch) {
        assert_eq!(name, other);
        let error = relative_error(&values(b), &values(a));
        assert!(error < 1e-6, "{name}: {error:.2e}");
    }
}

/// The u and v of every layer of a DCGAN critic, input side first.
fn states(critic: &DcganDiscriminator) -> Vec<Vec<f32>> {
    let layers = critic.convs.iter().map(|c| c.spectral.as_ref()).chain([
        critic.hidden.spectral.as_ref(),
        critic.output.spectral.as_ref(),
    ]);
    layers
        .flat_map(|state| {
            let state = state.unwrap();
            [
                values(state.u.value_sync()),
                values(state.v.as_ref().unwrap().value_sync()),
            ]
        })
        .collect()
}

#[test]
fn a_pytorch_convention_checkpoint_keeps_u_and_v_and_resumes_bit_exactly() {
    let device = flex().autodiff();
    let image = [1, 8, 8];
    let config = DcganDiscriminatorConfig {
        channels: vec![3, 4],
        hidden: 6,
        ..DcganDiscriminatorConfig::default()
    }
    .with_spectral_norm(true)
    .with_spectral_convention(Pytorch);
    let trained = config
        .init(image, &mut HostRng::seed_from(1), &device)
        .unwrap();
    let mut rng = HostRng::seed_from(2);
    for _ in 0..2 {
        let _ = trained.forward(rng.normal([3, 1, 8, 8], &device));
    }
    let burngan = config
        .clone()
        .with_spectral_convention(Burngan)
        .init(image, &mut HostRng::seed_from(1), &device)
        .unwrap();
    // A checkpoint (as the trainer writes it) has one v per spectrally normalised layer (two
    // convolutions, two dense layers) beyond the burngan convention's tensors.
    let record = trained.valid().into_record();
    assert_eq!(record.len(), burngan.valid().into_record().len() + 4);
    let fresh = config
        .init(image, &mut HostRng::seed_from(9), &device)
        .unwrap();
    let resumed = fresh.load_record(record);
    assert_eq!(states(&resumed), states(&trained));
    // The next training pass is the same, bit for bit, and so is the state after it.
    let x = rng.normal([3, 1, 8, 8], &device);
    assert_eq!(
        values(resumed.forward(x.clone())),
        values(trained.forward(x))
    );
    assert_eq!(states(&resumed), states(&trained));
    // A checkpoint of one convention does not load into a critic of the other.
    assert!(
        burngan
            .clone()
            .try_load_record(trained.valid().into_record())
            .is_err()
    );
    let fresh = config
        .init(image, &mut HostRng::seed_from(9), &device)
        .unwrap();
    assert!(
        fresh
            .try_load_record(burngan.valid().into_record())
            .is_err()
    );
}

#[test]
fn critics_input_gradients_stay_exact_under_the_pytorch_convention() {
    let device = flex().autodiff();
    let mut rng = HostRng::seed_from(5);
    // Each training forward advances the power iteration; the hand-written chain uses the
    // updated state, and σ is a constant with respect to x.
    let mlp = MlpDiscriminatorConfig::new(vec![7, 5])
        .with_normalization(Normalization::Spectral)
        .with_spectral_convention(Pytorch)
        .init(4, &mut rng, &device)
        .unwrap();
    let x = rng.normal([6, 4], &device).require_grad();
    let grads = mlp.forward(x.clone()).sum().backward();
    let ours = values(mlp.input_gradient(x.clone().detach()));
    let error = relative_error(&ours, &values(x.grad(&grads).unwrap()));
    assert!(error < 1e-5, "mlp: {error:.2e}");

    let config = ProjectionDiscriminatorConfig {
        channels: vec![4, 8],
        hidden: 16,
        ..ProjectionDiscriminatorConfig::new(3)
    }
    .with_spectral_norm(true)
    .with_spectral_convention(Pytorch);
    let dcgan = config.trunk().init([2, 12, 12], &mut rng, &device).unwrap();
    let x = rng.normal([5, 2, 12, 12], &device).require_grad();
    let grads = dcgan.forward(x.clone()).sum().backward();
    let ours = values(dcgan.input_gradient(x.clone().detach()));
    let error = relative_error(&ours, &values(x.grad(&grads).unwrap()));
    assert!(error < 1e-5, "dcgan: {error:.2e}");

    let projection = config.init([2, 12, 12], &mut rng, &device).unwrap();
    let labels = Tensor::<1, Int>::from_data(TensorData::new(vec![2i64, 0, 1, 1, 2], [5]), &device);
    let x = rng.normal([5, 2, 12, 12], &device).require_grad();
    let logits = projection.forward_labeled(x.clone(), labels.clone());
    let grads = logits.sum().backward();
    let ours = values(projection.input_gradient_labeled(x.clone().detach(), labels));
    let error = relative_error(&ours, &values(x.grad(&grads).unwrap()));
    assert!(error < 1e-5, "projection, labelled: {error:.2e}");
    let grads = projection.forward(x.clone()).sum().backward();
    let ours = values(projection.input_gradient(x.clone().detach()));
    let error = relative_error(&ours, &values(x.grad(&grads).unwrap()));
    assert!(error < 1e-5, "projection: {error:.2e}");
}
