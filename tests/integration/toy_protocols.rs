//! The pieces PacGAN's 2-D protocol needs, as a run uses them: the MLP critic with maxout
//! units and packed inputs gives autodiff's input gradient (on flex and ndarray) and passes
//! the public penalty check (R1, R2 and WGAN-GP parameter gradients against f64
//! central differences), and a config whose batch does not split into packs is refused with
//! the fix before anything is built.

use burn::tensor::Tensor;
use burngan::backend::{BackendKind, device};
use burngan::models::{Activation, MlpDiscriminatorConfig, Normalization};
use burngan::{
    Discriminator, HostRng, InputGradient, PenaltyConfig, check_input_gradient,
    check_penalty_gradients,
};
use burngan_app::TrainConfig;

use crate::support::root;

fn host(t: Tensor<2>) -> Vec<f64> {
    t.into_data().convert::<f64>().iter::<f64>().collect()
}

/// PacGAN's critic in small: packs of `pack` 3-D samples, maxout units of 3 pieces.
fn pacgan_critic(pack: usize) -> MlpDiscriminatorConfig {
    MlpDiscriminatorConfig::new(vec![4, 3])
        .with_activation(Activation::Maxout(3))
        .with_pack(pack)
}

/// The public check compares with autodiff for one logit per sample, so it takes the
/// unpacked maxout critic; the packed one (one logit per pack, which the check refuses as a
/// shape error) is compared with autodiff directly: ∂ΣD/∂x row for row.
#[test]
fn a_packed_maxout_critic_gives_autodiffs_input_gradient_on_flex_and_ndarray() {
    for kind in [BackendKind::Flex, BackendKind::Ndarray] {
        let device = device(kind).unwrap().autodiff();
        let mut rng = HostRng::seed_from(61);
        let critic = pacgan_critic(1).init(3, &mut rng, &device).unwrap();
        let check = check_input_gradient(&critic, rng.normal([8, 3], &device)).unwrap();
        assert_eq!(check.compared, 24);
        assert!(check.max_rel_error <= 1e-5, "{kind:?} unpacked: {check}");
        for normalization in [Normalization::None, Normalization::Spectral] {
            let critic = pacgan_critic(4)
                .with_normalization(normalization)
                .init(3, &mut rng, &device)
                .unwrap();
            // The training forward first: under spectral norm it advances u, and the input
            // gradient then uses the σ that forward used.
            let x = rng.normal([8, 3], &device).require_grad();
            let logits = critic.forward(x.clone());
            assert_eq!(logits.dims(), [2, 1]);
            let autodiff = x.grad(&logits.sum().backward()).unwrap();
            let ours = critic.input_gradient(x.detach());
            let (ours, autodiff) = (host(ours), host(autodiff));
            assert_eq!(ours.len(), 24);
            let scale = autodiff.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            assert!(scale > 1e-3, "{kind:?} {normalization:?}: {autodiff:?}");
            for (a, b) in ours.iter().zip(&autodiff) {
                assert!(
                    (a - b).abs() <= 1e-5 * scale,
                    "{kind:?} pack 4 {normalization:?}: {ours:?} vs {autodiff:?}"
                );
            }
        }
    }
}

#[test]
fn penalty_gradients_through_a_packed_maxout_critic_match_finite_differences_in_f64() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let penalties = [
        PenaltyConfig::R1 { gamma: 10.0 },
        PenaltyConfig::R2 { gamma: 1.0 },
        PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        },
    ];
    for penalty in &penalties {
        let mut rng = HostRng::seed_from(62);
        let critic = pacgan_critic(2).init(3, &mut rng, &device).unwrap();
        let (real, fake) = (rng.normal([6, 3], &device), rng.normal([6, 3], &device));
        let check = check_penalty_gradients(&critic, penalty, real, fake, &mut rng).unwrap();
        // (6·12 + 12) + (4·9 + 9) + (3 + 1) parameter values: the first layer sees 2·3 inputs
        // and every hidden layer produces 3 pieces per unit.
        assert_eq!(check.compared, 133);
        assert!(check.scale > 1e-3, "{check}");
        assert!(check.max_rel_error <= 1e-6, "{}: {check}", penalty.name());
    }
}

#[test]
fn a_batch_that_does_not_split_into_packs_is_refused_with_the_fix() {
    let path = root().join("assets/configs/grid25-pacgan4.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config = TrainConfig::from_toml(&text, "grid25-pacgan4.toml").unwrap();
    config.validate().unwrap();
    let bad = text.replace("batch_size = 400", "batch_size = 398");
    let error = TrainConfig::from_toml(&bad, "bad.toml")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "discriminator.pack = 4 needs a batch size that is a multiple of 4, got \
             train.batch_size = 398; use 396 or 400"
        ),
        "{error}"
    );
    let maxout_generator = text.replace(
        "[generator]\nlatent_dim = 2",
        "[generator]\nlatent_dim = 2\nactivation = { maxout = 5 }",
    );
    let maxout_generator = maxout_generator.replacen("activation = \"relu\"\n", "", 1);
    let error = TrainConfig::from_toml(&maxout_generator, "bad.toml")
        .unwrap()
        .validate()
        .unwrap_err()
        .to_string();
    assert!(error.contains("generator.activation: maxout"), "{error}");
}
