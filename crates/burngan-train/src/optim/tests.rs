//! The optimizers against Burn's own (bit for bit), against updates computed by hand, and
//! across a save and restore of their state.

use super::rules::TwoPaths;
use super::*;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig};
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, HostRng};
use burngan_models::{MlpDiscriminator, MlpDiscriminatorConfig};

use crate::{Schedule, Scheduled};

fn parameters<M: Module>(module: &M) -> Vec<f32> {
    struct Collect(Vec<f32>);
    impl ModuleVisitor for Collect {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            let data = param.val().into_data().convert::<f32>();
            self.0.extend(data.try_to_vec::<f32>().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect.0
}

fn critic(device: &Device) -> MlpDiscriminator {
    MlpDiscriminatorConfig::new(vec![16, 8])
        .init(3, &mut HostRng::seed_from(5), device)
        .unwrap()
}

/// The gradients of Σ D(x)² on batch `k` of a fixed sequence.
fn grads(module: &MlpDiscriminator, k: u64, device: &Device) -> GradientsParams {
    let x = HostRng::seed_from(100 + k).normal([8, 3], device);
    let out = module.forward(x);
    let loss = out.clone().mul(out).sum();
    GradientsParams::from_grads(loss.backward(), module)
}

const TIME: TrainingTime = TrainingTime { step: 0, total: 1 };

fn sgd(momentum: f64, dampening: f64, nesterov: bool, weight_decay: f64) -> OptimizerConfig {
    OptimizerConfig::Sgd {
        lr: 1e-2.into(),
        momentum,
        dampening,
        nesterov,
        weight_decay,
        clip: None,
    }
}

fn burn_sgd(momentum: f64, dampening: f64, nesterov: bool, weight_decay: f32) -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(MomentumConfig {
            momentum,
            dampening,
            nesterov,
        }))
        .with_weight_decay((weight_decay > 0.0).then(|| WeightDecayConfig::new(weight_decay)))
        .init()
}

/// Every built-in rule with a Burn optimizer configured the same way.
fn configs() -> Vec<(OptimizerConfig, ModuleOptimizer)> {
    vec![
        (
            OptimizerConfig::adam(1e-2, 0.5, 0.9),
            AdamConfig::new()
                .with_beta_1(0.5)
                .with_beta_2(0.9)
                .with_epsilon(1e-8)
                .init(),
        ),
        (
            OptimizerConfig::rmsprop(1e-2),
            RmsPropConfig::new()
                .with_alpha(0.99)
                .with_epsilon(1e-8)
                .with_momentum(0.0)
                .init(),
        ),
        (
            OptimizerConfig::RmsProp {
                lr: 1e-2.into(),
                alpha: 0.9,
                epsilon: 1e-8,
                momentum: 0.5,
                clip: None,
            },
            RmsPropConfig::new()
                .with_alpha(0.9)
                .with_epsilon(1e-8)
                .with_momentum(0.5)
                .init(),
        ),
        (
            OptimizerConfig::AdamW {
                lr: 1e-2.into(),
                beta1: 0.5.into(),
                beta2: 0.9.into(),
                epsilon: 1e-8,
                weight_decay: 0.05,
                clip: None,
            },
            AdamWConfig::new()
                .with_beta_1(0.5)
                .with_beta_2(0.9)
                .with_epsilon(1e-8)
                .with_weight_decay(0.05)
                .init(),
        ),
        (sgd(0.9, 0.1, false, 0.0), burn_sgd(0.9, 0.1, false, 0.0)),
        (sgd(0.9, 0.0, true, 0.0), burn_sgd(0.9, 0.0, true, 0.0)),
        (sgd(0.5, 0.0, false, 0.01), burn_sgd(0.5, 0.0, false, 0.01)),
    ]
}

/// Five updates of ours and of Burn's `ModuleOptimizer` from the same gradients agree bit for bit.
#[test]
fn updates_match_burns_own_optimizers() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    for (config, mut reference) in configs() {
        let mut ours = config.init();
        let (mut a, mut b) = (critic(&device), critic(&device));
        for k in 0..5 {
            let ga = grads(&a, k, &device);
            a = ours.step(TIME, a, ga);
            let gb = grads(&b, k, &device);
            b = reference.step(1e-2, b, gb);
        }
        let (pa, pb) = (parameters(&a), parameters(&b));
        let worst = pa
            .iter()
            .zip(&pb)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(worst == 0.0, "{config:?}: max difference {worst}");
        assert_ne!(pa, parameters(&critic(&device)), "{config:?} did not move");
    }
}

#[test]
fn a_restored_state_continues_exactly() {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    for (config, _) in configs() {
        let mut straight = config.init();
        let mut module = critic(&device);
        for k in 0..5 {
            let g = grads(&module, k, &device);
            module = straight.step(TIME, module, g);
        }
        let mut first = config.init();
        let mut resumed = critic(&device);
        for k in 0..3 {
            let g = grads(&resumed, k, &device);
            resumed = first.step(TIME, resumed, g);
        }
        let bytes = first.state_bytes().unwrap();
        let mut second = config.init();
        second.load_state(&bytes, &resumed, &device).unwrap();
        for k in 3..5 {
            let g = grads(&resumed, k, &device);
            resumed = second.step(TIME, resumed, g);
        }
        assert_eq!(parameters(&resumed), parameters(&module), "{config:?}");
    }
    // A state for the wrong optimizer or model is an error, not a panic.
    let adam = OptimizerConfig::adam(1e-2, 0.5, 0.9);
    let mut optimizer = adam.init();
    let module = critic(&device);
    let g = grads(&module, 0, &device);
    let module = optimizer.step(TIME, module, g);
    let bytes = optimizer.state_bytes().unwrap();
    let error = OptimizerConfig::rmsprop(1e-2)
        .init()
        .load_state(&bytes, &module, &device)
        .unwrap_err();
    assert!(error.contains("the state is for adam"), "{error}");
    let small = MlpDiscriminatorConfig::new(vec![4])
        .init(3, &mut HostRng::seed_from(5), &device)
        .unwrap();
    let error = adam.init().load_state(&bytes, &small, &device).unwrap_err();
    assert!(
        error.contains("shape") || error.contains("slots"),
        "{error}"
    );
    let error = adam
        .init()
        .load_state(b"junk", &module, &device)
        .unwrap_err();
    assert!(!error.is_empty());
}

/// A module with one parameter vector, for updates computed by hand.
#[derive(burn::module::Module, Debug)]
struct Weights {
    w: Param<Tensor<1>>,
}

fn weights(values: [f32; 2], device: &Device) -> Weights {
    Weights {
        w: Param::from_tensor(Tensor::from_data(TensorData::from(values), device)),
    }
}

/// The gradients of Σ c·w: exactly c, whatever w.
fn constant_grads(module: &Weights, c: [f32; 2]) -> GradientsParams {
    let c = Tensor::<1>::from_data(TensorData::from(c), &module.w.val().device());
    let loss = module.w.val().mul(c).sum();
    GradientsParams::from_grads(loss.backward(), module)
}

/// `steps` updates with the constant gradient `c` from w = [1, −2]; the values of w.
fn run(config: &OptimizerConfig, c: [f32; 2], steps: usize) -> Vec<f32> {
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let mut optimizer = config.init();
    let mut module = weights([1.0, -2.0], &device);
    for step in 0..steps {
        let g = constant_grads(&module, c);
        module = optimizer.step(TrainingTime { step, total: steps }, module, g);
    }
    parameters(&module)
}

fn assert_close(got: &[f32], expected: &[f32], what: &str) {
    for (g, e) in got.iter().zip(expected) {
        assert!(
            (g - e).abs() <= 1e-6,
            "{what}: got {got:?}, expected {expected:?}"
        );
    }
}

/// AdamW and SGD against two updates worked out by hand, with g = [0.5, 1] at every step and
/// w₀ = [1, −2] (lr 0.1).
#[test]
fn adamw_and_sgd_match_updates_computed_by_hand() {
    let g = [0.5, 1.0];
    // SGD, μ = 0.9: v₁ = g, w₁ = w₀ − 0.1g = [0.95, −2.1]; v₂ = 0.9v₁ + g = [0.95, 1.9],
    // w₂ = w₁ − 0.1v₂ = [0.855, −2.29].
    let mut heavy = sgd(0.9, 0.0, false, 0.0);
    *heavy.learning_rate_mut() = 0.1.into();
    assert_close(&run(&heavy, g, 2), &[0.855, -2.29], "sgd momentum");
    // Nesterov: step 1 uses g + 0.9v₁ = [0.95, 1.9], w₁ = [0.905, −2.19]; step 2 uses
    // g + 0.9v₂ = [1.355, 2.71], w₂ = [0.7695, −2.461].
    let mut nesterov = sgd(0.9, 0.0, true, 0.0);
    *nesterov.learning_rate_mut() = 0.1.into();
    assert_close(&run(&nesterov, g, 2), &[0.7695, -2.461], "sgd nesterov");
    // AdamW, β = (0.9, 0.999), λ = 0.1: with a constant gradient m̂ = g and v̂ = g², so the
    // step is g/(|g| + ε) = 1 − ε/|g| ≈ 1 per value; w ← 0.99w − 0.1 each time:
    // w₁ = [0.89, −2.08], w₂ = [0.7811, −2.1592].
    let adamw = OptimizerConfig::AdamW {
        lr: 0.1.into(),
        beta1: 0.9.into(),
        beta2: 0.999.into(),
        epsilon: 1e-8,
        weight_decay: 0.1,
        clip: None,
    };
    assert_close(&run(&adamw, g, 1), &[0.89, -2.08], "adamw step 1");
    assert_close(&run(&adamw, g, 2), &[0.7811, -2.1592], "adamw step 2");
}

/// Clipping by global norm scales g = [3, 4] (norm 5) to [0.6, 0.8]; by value clamps it.
#[test]
fn gradients_are_clipped_by_global_norm_or_by_value() {
    let plain = OptimizerConfig::Sgd {
        lr: 1.0.into(),
        momentum: 0.0,
        dampening: 0.0,
        nesterov: false,
        weight_decay: 0.0,
        clip: Some(GradientClip::Norm(1.0)),
    };
    // w₁ = w₀ − g·1/(5 + 1e-6) = [1 − 0.6, −2 − 0.8] up to 1e-7.
    assert_close(&run(&plain, [3.0, 4.0], 1), &[0.4, -2.8], "norm");
    // Below the bound nothing changes: g = [0.3, 0.4], norm 0.5.
    assert_close(
        &run(&plain, [0.3, 0.4], 1),
        &[0.7, -2.4],
        "norm below bound",
    );
    let mut by_value = plain.clone();
    if let OptimizerConfig::Sgd { clip, .. } = &mut by_value {
        *clip = Some(GradientClip::Value(0.5));
    }
    assert_close(&run(&by_value, [3.0, -0.25], 1), &[0.5, -1.75], "value");
}

/// A scheduled learning rate is read at the update's step: linear from 1 to 0 over 4 steps
/// gives lr 1, 0.75, 0.5, 0.25, so w moves by g·2.5 in all.
#[test]
fn a_scheduled_learning_rate_is_read_at_each_step() {
    let mut config = sgd(0.0, 0.0, false, 0.0);
    *config.learning_rate_mut() = Scheduled::Ramp(Schedule {
        from: 1.0,
        to: Some(0.0),
        shape: crate::Shape::Linear,
        warmup: 0,
        steps: None,
        every: None,
        factor: None,
    });
    assert_close(
        &run(&config, [0.5, 1.0], 4),
        &[1.0 - 1.25, -2.0 - 2.5],
        "scheduled lr",
    );
}

/// An optimizer written by an application plugs in through [`Optimizer::new`]: sign descent,
/// θ ← θ − lr·sign(g), with an update counter as its state.
#[test]
fn an_application_rule_plugs_in_and_its_state_round_trips() {
    struct SignDescent;
    impl OptimizerRule for SignDescent {
        fn kind(&self) -> &str {
            "sign"
        }
        fn state_names(&self) -> Vec<&'static str> {
            vec!["count"]
        }
        fn learning_rate(&self, _: TrainingTime) -> f64 {
            0.25
        }
        fn update(
            &self,
            at: TrainingTime,
            value: Tensor<1>,
            grad: Tensor<1>,
            state: &mut ParamState,
        ) -> Tensor<1> {
            state.tensors = vec![Tensor::full(
                value.dims(),
                state.time as f32,
                &value.device(),
            )];
            value.sub(grad.sign().mul_scalar(self.learning_rate(at)))
        }
    }
    let device = device(BackendKind::Flex).unwrap().autodiff();
    let mut optimizer = Optimizer::new(SignDescent);
    let mut module = weights([1.0, -2.0], &device);
    for step in 0..3 {
        let g = constant_grads(&module, [3.0, -0.5]);
        module = optimizer.step(TrainingTime { step, total: 3 }, module, g);
    }
    assert_eq!(parameters(&module), [0.25, -1.25]);
    let bytes = optimizer.state_bytes().unwrap();
    let mut restored = optimizer.fresh();
    restored.load_state(&bytes, &module, &device).unwrap();
    let counts = restored.slots[0].as_ref().unwrap().tensors[0].clone();
    assert_eq!(counts.into_data().try_to_vec::<f32>().unwrap(), [3.0, 3.0]);
    assert_eq!(restored.slots[0].as_ref().unwrap().time, 3);
}

/// One update of a parameter by a rule `R`: on host memory or as a chain of tensor operations.
type Update<R> = fn(&R, TrainingTime, Tensor<1>, Tensor<1>, &mut ParamState) -> Tensor<1>;

/// Adam with lr 3e-3, β₁ 0.5 and β₂ ramped from 0.9 to 0.999 over four steps.
fn scheduled_adam() -> rules::Adam {
    rules::Adam {
        lr: Scheduled::Fixed(3e-3),
        beta1: Scheduled::Fixed(0.5),
        beta2: Scheduled::Ramp(Schedule {
            from: 0.9,
            to: Some(0.999),
            shape: crate::Shape::Linear,
            warmup: 0,
            steps: None,
            every: None,
            factor: None,
        }),
        epsilon: 1e-8,
    }
}

/// Four updates by `rule` of one parameter `[n]` from `value` with `grads`: the final value and
/// moments, as f32 bits.
fn adam_updates<R>(
    rule: &R,
    update: Update<R>,
    value: &[f32],
    grads: &[Vec<f32>],
    device: &Device,
) -> Vec<Vec<u32>> {
    let tensor = |values: &[f32]| {
        Tensor::<1>::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
    };
    let mut state = ParamState::default();
    let mut value = tensor(value);
    for (step, grad) in grads.iter().enumerate() {
        state.time += 1;
        let at = TrainingTime { step, total: 4 };
        value = update(rule, at, value, tensor(grad), &mut state);
    }
    std::iter::once(value)
        .chain(state.tensors)
        .map(|t| {
            let data = t.into_data().convert::<f32>();
            let values = data.try_to_vec::<f32>().unwrap();
            values.into_iter().map(f32::to_bits).collect()
        })
        .collect()
}

/// `rule`'s update on host memory (`on_host`, on a two-thread pool) against its `chain` of
/// tensor operations on flex and on ndarray, over four updates, for 7 values and for 100,003
/// (chunks of 32 Ki values, the last one short). The gradients span 12 orders of magnitude,
/// zeros and negative zeros included.
fn host_matches_the_chain<R: Sync>(rule: &R, on_host: Update<R>, chain: Update<R>, label: &str) {
    let flex = device(BackendKind::Flex).unwrap();
    let ndarray = device(BackendKind::Ndarray).unwrap();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for n in [7, 100_003] {
        let mut rng = HostRng::seed_from(n as u64);
        let value = rng.normal_vec(n);
        let grads: Vec<Vec<f32>> = (0..4)
            .map(|k| {
                let scales = rng.uniform_vec(n, -6.0, 6.0);
                let mut grad: Vec<f32> = rng
                    .normal_vec(n)
                    .into_iter()
                    .zip(scales)
                    .map(|(g, s)| g * 10f32.powf(s))
                    .collect();
                grad[k] = if k % 2 == 0 { 0.0 } else { -0.0 };
                grad
            })
            .collect();
        let host = pool.install(|| adam_updates(rule, on_host, &value, &grads, &flex));
        let flex_chain = adam_updates(rule, chain, &value, &grads, &flex);
        let elsewhere = adam_updates(rule, chain, &value, &grads, &ndarray);
        assert_eq!(host.len(), 3);
        for (name, ((a, b), c)) in ["value", "m", "v"]
            .into_iter()
            .zip(host.iter().zip(&flex_chain).zip(&elsewhere))
        {
            assert_eq!(a.len(), n);
            let differ = a.iter().zip(b).filter(|(x, y)| x != y).count();
            assert_eq!(differ, 0, "{label} {name} [{n}]: host against flex's chain");
            assert!(
                b == c,
                "{label} {name} [{n}]: flex's chain against ndarray's"
            );
        }
        let moved = host[0]
            .iter()
            .zip(&value)
            .filter(|(after, before)| **after != before.to_bits())
            .count();
        assert!(moved > n / 2, "{label}: only {moved} of {n} values moved");
    }
}

/// Adam's one pass over host memory (what an f32 parameter on flex gets) gives the bits of
/// Burn's chain of tensor operations, on flex and on ndarray, over four updates with a
/// scheduled β₂ and the zero moments of the first update.
#[test]
fn adam_on_host_memory_matches_the_tensor_chain_bit_for_bit() {
    host_matches_the_chain(
        &scheduled_adam(),
        rules::Adam::update_on_host,
        rules::Adam::update_with_tensors,
        "adam",
    );
}

/// AdamW's one pass over host memory gives the bits of its chain of tensor operations, with
/// weight decay (the value scaled by 1 − lr·λ first) and without (not scaled at all).
#[test]
fn adamw_on_host_memory_matches_the_tensor_chain_bit_for_bit() {
    for weight_decay in [0.1, 0.0] {
        let adamw = rules::AdamW {
            adam: scheduled_adam(),
            weight_decay,
        };
        host_matches_the_chain(
            &adamw,
            rules::AdamW::update_on_host,
            rules::AdamW::update_with_tensors,
            &format!("adamw λ {weight_decay}"),
        );
    }
}
