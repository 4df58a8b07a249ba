//! Gradient penalties without double backward: the critics' hand-written input gradients
//! against autodiff on every backend (first order), and the penalties' parameter gradients
//! against central finite differences of the penalty (second order).

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{DType, Tensor, TensorData};
use burngan_backend::BackendKind;
use burngan_core::{HostRng, InputGradient};
use burngan_losses::PenaltyConfig;
use burngan_models::{
    Activation, Conv, DcganDiscriminatorConfig, MlpDiscriminatorConfig, Normalization,
};

use crate::support::regression_backends;

/// max |a − b| / max |b|: the error relative to the gradient's scale.
fn relative_error(ours: &[f32], reference: &[f32]) -> f64 {
    assert_eq!(ours.len(), reference.len());
    let scale = reference
        .iter()
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
    let worst = ours
        .iter()
        .zip(reference)
        .fold(0.0f64, |m, (a, b)| m.max(f64::from((a - b).abs())));
    assert!(scale > 0.0, "the reference gradient is identically zero");
    worst / scale
}

fn host<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec().unwrap()
}

/// ∂(Σ D(x))/∂x from autodiff and from the critic's [`InputGradient`]; the relative error.
fn first_order_error<C: InputGradient<D>, const D: usize>(critic: &C, x: Tensor<D>) -> f64 {
    let x = x.require_grad();
    let grads = critic.forward(x.clone()).sum().backward();
    let autodiff = host(x.grad(&grads).expect("x is tracked").inner());
    // The forward above ran a training step of any spectral norm; `input_gradient` uses the
    // same (updated) power-iteration state.
    let ours = host(critic.input_gradient(x.detach()));
    relative_error(&ours, &autodiff)
}

#[test]
fn input_gradient_equals_autodiff_for_mlp_and_dcgan_critics_on_every_backend() {
    for (kind, device) in regression_backends() {
        let device = device.autodiff();
        for (name, normalization, activation) in [
            ("mlp", Normalization::None, Activation::LeakyRelu(0.2)),
            ("mlp tanh", Normalization::None, Activation::Tanh),
            (
                "mlp spectral",
                Normalization::Spectral,
                Activation::LeakyRelu(0.2),
            ),
        ] {
            let mut rng = HostRng::seed_from(21);
            let critic = MlpDiscriminatorConfig::new(vec![32, 16])
                .with_activation(activation)
                .with_normalization(normalization)
                .init(5, &mut rng, &device)
                .unwrap();
            let x = rng.normal([9, 5], &device);
            let error = first_order_error(&critic, x);
            assert!(error < 1e-5, "{kind} {name}: relative error {error:.2e}");
        }
        for spectral_norm in [false, true] {
            let mut rng = HostRng::seed_from(22);
            let config = DcganDiscriminatorConfig {
                channels: vec![4, 8],
                hidden: 16,
                activation: Activation::LeakyRelu(0.2),
                spectral_norm,
                spectral_convention: Default::default(),
                init: Default::default(),
            };
            let critic = config.init([2, 12, 12], &mut rng, &device).unwrap();
            let x = rng.normal([5, 2, 12, 12], &device);
            let error = first_order_error(&critic, x);
            assert!(
                error < 1e-5,
                "{kind} dcgan (spectral {spectral_norm}): relative error {error:.2e}"
            );
        }
    }
}

/// The transposed convolution recovers the input size when the stride skips rows and columns
/// (output padding): Σ(conv(x) ⊙ r) has gradient `backward_input(r)` with respect to x.
#[test]
fn conv_backward_input_handles_sizes_the_stride_does_not_divide() {
    for (kind, device) in regression_backends() {
        let device = device.autodiff();
        let mut rng = HostRng::seed_from(23);
        let conv = Conv::new(3, 5, 4, 2, 1, false, &mut rng, &device);
        for side in [8, 9, 11] {
            let x = rng.normal([2, 3, side, side], &device).require_grad();
            let out = conv.forward(x.clone());
            let [_, _, oh, ow] = out.dims();
            assert_eq!(Some(oh), conv.output_size(side));
            let r = rng.normal([2, 5, oh, ow], &device);
            let grads = out.mul(r.clone()).sum().backward();
            let autodiff = host(x.grad(&grads).unwrap().inner());
            let ours = host(conv.backward_input(r, [side, side]));
            let error = relative_error(&ours, &autodiff);
            assert!(
                error < 1e-5,
                "{kind} side {side}: relative error {error:.2e}"
            );
        }
    }
}

/// Adds `delta` to element `index` of the `target`-th float parameter (visiting order).
struct Nudge {
    target: usize,
    index: usize,
    delta: f64,
    seen: usize,
}

impl ModuleMapper for Nudge {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        let hit = self.seen == self.target;
        self.seen += 1;
        if !hit {
            return param;
        }
        let (index, delta) = (self.index, self.delta);
        param.map(|t| {
            let dims = t.dims();
            let count: usize = dims.iter().product();
            let mut bump = vec![0.0f32; count];
            bump[index] = 1.0;
            let bump = Tensor::<R>::from_data(TensorData::new(bump, dims), &t.device())
                .cast(t.dtype())
                .mul_scalar(delta);
            t.add(bump)
        })
    }
}

/// Casts every float parameter to `dtype`, keeping them trainable leaves.
struct CastTo(DType);

impl ModuleMapper for CastTo {
    fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
        let dtype = self.0;
        param.map(|t| Tensor::from_inner(t.inner().cast(dtype)).require_grad())
    }
}

/// Shapes of the float parameters, in visiting order.
fn parameter_sizes<M: Module>(module: &M) -> Vec<usize> {
    struct Sizes(Vec<usize>);
    impl ModuleVisitor for Sizes {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            self.0.push(param.shape().num_elements());
        }
    }
    let mut sizes = Sizes(Vec::new());
    module.visit(&mut sizes);
    sizes.0
}

/// The penalty's gradient with respect to a sample of the critic's parameters, from autodiff
/// through `input_gradient` and from central differences (step `h`); returns the error
/// ‖fd − autodiff‖ / ‖autodiff‖ over the sample.
fn second_order_error<C, const D: usize>(
    critic: C,
    penalty: &PenaltyConfig,
    points: Tensor<D>,
    h: f64,
    rng: &mut HostRng,
) -> f64
where
    C: InputGradient<D> + Clone,
{
    let value = |critic: &C| -> f64 {
        let p = penalty.from_gradient(critic.input_gradient(points.clone()));
        // Read in f64: an f32 read-back would swamp a 1e-5 difference quotient.
        p.into_data().convert::<f64>().try_to_vec::<f64>().unwrap()[0]
    };
    let loss = penalty.from_gradient(critic.input_gradient(points.clone()));
    let grads = GradientsParams::from_grads(loss.backward(), &critic);
    struct Collect<'a>(&'a GradientsParams, Vec<Vec<f32>>);
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            // A parameter the input gradient does not depend on (the last layer's bias) gets
            // no gradient: its derivative is 0.
            let grad = match self.0.get::<R>(param.id) {
                Some(grad) => host(grad),
                None => vec![0.0; param.shape().num_elements()],
            };
            self.1.push(grad);
        }
    }
    let mut collect = Collect(&grads, Vec::new());
    critic.visit(&mut collect);
    let analytic = collect.1;
    let (mut diff2, mut norm2) = (0.0f64, 0.0f64);
    for (target, size) in parameter_sizes(&critic).into_iter().enumerate() {
        for _ in 0..4 {
            let index = rng.index(size);
            let nudged = |delta: f64| {
                critic.clone().map(&mut Nudge {
                    target,
                    index,
                    delta,
                    seen: 0,
                })
            };
            let fd = (value(&nudged(h)) - value(&nudged(-h))) / (2.0 * h);
            let ad = f64::from(analytic[target][index]);
            diff2 += (fd - ad).powi(2);
            norm2 += ad.powi(2);
        }
    }
    assert!(norm2 > 0.0, "the sampled gradient is zero");
    (diff2 / norm2).sqrt()
}

/// Smooth (tanh) critics: a ReLU-family critic's input gradient is piecewise constant in the
/// activation pattern, so a finite difference that flips one unit measures a jump, not a
/// derivative. The transposed chain is the same code for every activation.
#[test]
fn penalty_gradients_match_finite_differences_of_the_penalty() {
    let penalties = [
        PenaltyConfig::WganGp {
            weight: 10.0,
            one_sided: false,
        },
        PenaltyConfig::R1 { gamma: 10.0 },
    ];
    let device = burngan_backend::device(BackendKind::Flex)
        .unwrap()
        .autodiff();
    // f32 with h = 1e-2 (error budget 1e-2), then the same critics cast to f64 with h = 1e-5.
    for (dtype, h, budget) in [(DType::F32, 1e-2, 1e-2), (DType::F64, 1e-5, 1e-6)] {
        for penalty in &penalties {
            let mut rng = HostRng::seed_from(31);
            let mlp = MlpDiscriminatorConfig::new(vec![12, 8])
                .with_activation(Activation::Tanh)
                .init(3, &mut rng, &device)
                .unwrap()
                .map(&mut CastTo(dtype));
            let real = rng.normal([6, 3], &device).cast(dtype);
            let fake = rng.normal([6, 3], &device).cast(dtype);
            let points = penalty.points(real, fake, &mut rng);
            let error = second_order_error(mlp, penalty, points, h, &mut rng);
            assert!(
                error < budget,
                "mlp {} {dtype:?}: relative error {error:.2e}",
                penalty.name()
            );

            let dcgan = DcganDiscriminatorConfig {
                channels: vec![3, 4],
                hidden: 8,
                activation: Activation::Tanh,
                spectral_norm: false,
                spectral_convention: Default::default(),
                init: Default::default(),
            }
            .init([1, 8, 8], &mut rng, &device)
            .unwrap()
            .map(&mut CastTo(dtype));
            let real = rng.normal([4, 1, 8, 8], &device).cast(dtype);
            let fake = rng.normal([4, 1, 8, 8], &device).cast(dtype);
            let points = penalty.points(real, fake, &mut rng);
            let error = second_order_error(dcgan, penalty, points, h, &mut rng);
            assert!(
                error < budget,
                "dcgan {} {dtype:?}: relative error {error:.2e}",
                penalty.name()
            );
        }
    }
}
