//! A critic that judges stacked batches is judged once over the real and the generated batch
//! of an update (and of a generator update whose loss reads real logits): the training it
//! gives matches, to float rounding, the same critic judged once per batch, and a
//! relativistic loss's exactly-zero gradients stay exactly zero.

use burn::module::Module;
use burn::tensor::Tensor;
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, HostRng};
use burngan_data::{GaussianMixture, ToyConfig};
use burngan_losses::LossConfig;
use burngan_models::{
    MlpDiscriminator, MlpDiscriminatorConfig, MlpGenerator, MlpGeneratorConfig,
    ProjectionDiscriminatorConfig,
};

use crate::trainer::judge_pair;
use crate::trainer::tests::parameters;
use crate::{GanTrainer, OptimizerConfig, TrainerSettings};

/// The same critic, judged one batch at a time (the default of
/// [`Discriminator::judges_stacked_batches`]).
#[derive(Module, Debug)]
struct OneBatchAtATime {
    inner: MlpDiscriminator,
}

impl Discriminator<2> for OneBatchAtATime {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.inner.forward(x)
    }
}

/// What a stacking test trains: a 2 → 32 → 2 generator, a 2 → 32 → 32 → 1 critic judging
/// packs of `pack` samples (both drawn from `rng`), and settings that stack batches of 64
/// with `optimizer` for both networks.
fn ring_pair(
    rng: &mut HostRng,
    pack: usize,
    optimizer: OptimizerConfig,
) -> (MlpGenerator, MlpDiscriminator, TrainerSettings) {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let generator = MlpGeneratorConfig::new(2, vec![32])
        .init(2, rng, &device)
        .unwrap();
    let critic = MlpDiscriminatorConfig::new(vec![32, 32])
        .with_pack(pack)
        .init(2, rng, &device)
        .unwrap();
    assert!(critic.judges_stacked_batches());
    let settings = TrainerSettings {
        batch_size: 64,
        stack_batches: true,
        generator_optimizer: optimizer.clone(),
        discriminator_optimizer: optimizer,
        ..TrainerSettings::default()
    };
    (generator, critic, settings)
}

/// Four steps on the ring from seed 5 with [`ring_pair`]'s networks: generator parameters,
/// critic parameters, and each step's (loss_d, loss_g).
fn train(stacked: bool, loss: &LossConfig, pack: usize) -> (Vec<f32>, Vec<f32>, Vec<f64>) {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let mut rng = HostRng::seed_from(5);
    // Plain SGD, whose update is linear in the gradient: Adam's first steps are ±lr wherever
    // a gradient is near 0, which turns a rounding difference of such a gradient into 2·lr.
    let (generator, critic, settings) = ring_pair(&mut rng, pack, OptimizerConfig::sgd(0.05));
    let ring = ToyConfig::default_ring().build().unwrap();
    if stacked {
        let mut trainer =
            GanTrainer::new(generator, critic, loss.build(), &settings, &device).unwrap();
        let losses = four_steps(&mut trainer, ring, rng);
        let critic = parameters(trainer.discriminator());
        (parameters(trainer.generator()), critic, losses)
    } else {
        let critic = OneBatchAtATime { inner: critic };
        let mut trainer =
            GanTrainer::new(generator, critic, loss.build(), &settings, &device).unwrap();
        let losses = four_steps(&mut trainer, ring, rng);
        let critic = parameters(&trainer.discriminator().inner);
        (parameters(trainer.generator()), critic, losses)
    }
}

/// Four recorded steps on `ring`: (loss_d, loss_g) of each, in order.
fn four_steps<C: Discriminator<2>>(
    trainer: &mut GanTrainer<MlpGenerator, C, 2>,
    mut ring: GaussianMixture,
    mut rng: HostRng,
) -> Vec<f64> {
    (0..4)
        .flat_map(|_| {
            let m = trainer.step_with(&mut ring, &mut rng, true).unwrap();
            [m.loss_d, m.loss_g]
        })
        .collect()
}

/// max |a − b| / max |b|.
fn relative_gap<T: Into<f64> + Copy>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    let gap = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x).into() - (*y).into()).abs());
    let scale = b.iter().map(|y| (*y).into().abs()).fold(0.0, f64::max);
    gap.fold(0.0, f64::max) / scale
}

#[test]
fn judging_stacked_batches_trains_as_judging_each_batch() {
    // Non-saturating: the generator update judges fakes only; RSGAN: it judges reals too.
    for (loss, pack) in [
        (LossConfig::NonSaturating, 1),
        (LossConfig::NonSaturating, 2),
        (LossConfig::Rsgan, 1),
    ] {
        let (g_stacked, d_stacked, l_stacked) = train(true, &loss, pack);
        let (g_each, d_each, l_each) = train(false, &loss, pack);
        let gaps = [
            relative_gap(&g_stacked, &g_each),
            relative_gap(&d_stacked, &d_each),
            relative_gap(&l_stacked, &l_each),
        ];
        let shown = gaps.map(|gap| format!("{gap:.2e}"));
        eprintln!("{loss:?}, pack {pack}: relative gaps (generator, critic, losses) {shown:?}");
        assert!(
            gaps.iter().all(|gap| *gap <= 1e-6),
            "{loss:?}, pack {pack}: {shown:?}"
        );
    }
}

/// The critic's last bias (its logit's offset), `[1]`.
fn last_bias(critic: &MlpDiscriminator) -> Vec<f32> {
    let last = critic.layers.last().unwrap();
    let bias = last.linear.bias.as_ref().unwrap().val();
    bias.into_data().try_to_vec::<f32>().unwrap()
}

/// RSGAN's losses read only differences of a real and a fake logit, so the critic's last bias
/// gets a gradient of exactly 0 and Adam with β₁ = 0 (R3GAN's) never moves it. Judged stacked,
/// the pairs' gradients (equal and opposite) sit side by side and cancel exactly in the bias's
/// sum; over the two batches concatenated they left a residue of about 3e-8, measured, that
/// Adam turned into steps of almost lr, different on each backend.
#[test]
fn a_relativistic_loss_never_moves_the_last_bias_of_a_stacked_critic() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    for pack in [1, 2] {
        let mut rng = HostRng::seed_from(7);
        let adam = OptimizerConfig::adam(2e-3, 0.0, 0.99);
        let (generator, critic, settings) = ring_pair(&mut rng, pack, adam);
        let (bias, weights) = (last_bias(&critic), parameters(&critic));
        let loss = LossConfig::Rsgan.build();
        let mut trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
        four_steps(
            &mut trainer,
            ToyConfig::default_ring().build().unwrap(),
            rng,
        );
        let moved = relative_gap(&parameters(trainer.discriminator()), &weights);
        assert!(
            moved > 1e-3,
            "pack {pack}: the critic moved only {moved:.1e}"
        );
        assert_eq!(last_bias(trainer.discriminator()), bias, "pack {pack}");
    }
}

/// A class-conditional critic judged stacked sees each sample with its own label: the two
/// halves of the interleaved forward are the two separate forwards' logits, to rounding.
#[test]
fn stacked_labelled_batches_keep_each_sample_with_its_label() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let mut rng = HostRng::seed_from(11);
    let critic = ProjectionDiscriminatorConfig::new(10)
        .init([1, 28, 28], &mut rng, &device)
        .unwrap();
    assert!(critic.judges_stacked_batches());
    let mut batch = || rng.uniform_tensor([6, 1, 28, 28], -1.0, 1.0, &device);
    let (real, fake) = (batch(), batch());
    let labels = |classes: [i64; 6]| Tensor::<1, burn::tensor::Int>::from_data(classes, &device);
    let (real_labels, fake_labels) = (labels([0, 1, 2, 3, 4, 5]), labels([9, 8, 7, 6, 5, 4]));
    let pair = |stack| {
        let real = (real.clone(), Some(real_labels.clone()));
        let fake = (fake.clone(), Some(fake_labels.clone()));
        let (a, b) = judge_pair(&critic, real, fake, stack).unwrap();
        let host = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        [host(a), host(b)].concat()
    };
    let (stacked, separate) = (pair(true), pair(false));
    assert_eq!(stacked.len(), 12);
    let gap = relative_gap(&stacked, &separate);
    assert!(gap <= 1e-5, "{gap:.2e}: {stacked:?} vs {separate:?}");
}

/// A critic that packs two samples into one logit but keeps the default
/// [`Discriminator::samples_per_logit`] of 1 while saying it judges stacked batches.
#[derive(Module, Debug)]
struct PacksWithoutSaying {
    inner: MlpDiscriminator,
}

impl Discriminator<2> for PacksWithoutSaying {
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.inner.forward(x)
    }

    fn judges_stacked_batches(&self) -> bool {
        true
    }
}

/// Its stacked forward would pair each real sample with a fake one in a pack; the trainer
/// sees 64 logits for 128 samples instead of 128 and stops before any update, naming the
/// fix, with both networks as they were.
#[test]
fn a_critic_that_packs_without_saying_so_is_refused_before_any_update() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let mut rng = HostRng::seed_from(3);
    let (generator, inner, settings) = ring_pair(&mut rng, 2, OptimizerConfig::sgd(0.05));
    let critic = PacksWithoutSaying { inner };
    let before = (parameters(&generator), parameters(&critic.inner));
    let loss = LossConfig::Rsgan.build();
    let mut trainer = GanTrainer::new(generator, critic, loss, &settings, &device).unwrap();
    let real = rng.uniform_tensor([64, 2], -1.0, 1.0, &device);
    let error = trainer.step(real).unwrap_err();
    let message = error.to_string();
    assert!(error.is_usage_error(), "{message}");
    for needed in [
        "PacksWithoutSaying",
        "64 logits for 128 samples",
        "samples_per_logit",
    ] {
        assert!(message.contains(needed), "{needed:?} not in {message:?}");
    }
    let after = (
        parameters(trainer.generator()),
        parameters(&trainer.discriminator().inner),
    );
    assert_eq!(after, before);
}
