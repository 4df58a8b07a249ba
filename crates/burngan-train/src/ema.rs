//! The generator's exponential moving average: how its decay β is chosen at each generator
//! update ([`EmaRule`]: a decay, possibly scheduled and warmed up, or a half-life in images
//! with StyleGAN2-ADA's ramp-up), and the blend θ_ema ← β·θ_ema + (1 − β)·θ itself.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;

use crate::{Scheduled, TrainError, TrainingTime};

/// How the moving average's decay β_t is chosen at generator update t.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EmaRule {
    /// β_t = `decay` at the step; with `warmup`, β_t = min(decay, (1 + t)/(10 + t)) (t the
    /// update, counted from 1: the `num_updates` rule of TensorFlow's moving averages), so
    /// the average does not drag the initial weights along for ~1/(1 − decay) steps.
    Decay {
        /// β, a number or a schedule (e.g. 0.999).
        decay: Scheduled,
        /// Use the warm-up rule above.
        warmup: bool,
    },
    /// StyleGAN2-ADA's rule: a half-life h in images, β = 0.5^(batch / max(h′, 1e-8)) with
    /// h′ = h, or with `ramp` r, h′ = min(h, r · images seen before the update), images seen
    /// being the generator steps done × the batch size.
    HalfLife {
        /// h, images over which an old weight's share halves (StyleGAN2-ADA: 10,000 for
        /// small-data runs), a number or a schedule.
        images: Scheduled,
        /// r, the ramp-up (StyleGAN2-ADA: 0.05), or `None` for none.
        ramp: Option<f64>,
    },
}

impl EmaRule {
    /// β for the generator update at `at` (steps done before it) on a batch of `batch`.
    pub fn decay_at(&self, at: TrainingTime, batch: usize) -> f64 {
        match *self {
            EmaRule::Decay { decay, warmup } => {
                let decay = decay.at(at.step, at.total);
                if warmup {
                    let t = (at.step + 1) as f64;
                    decay.min((1.0 + t) / (10.0 + t))
                } else {
                    decay
                }
            }
            EmaRule::HalfLife { images, ramp } => {
                let mut half_life = images.at(at.step, at.total);
                if let Some(ramp) = ramp {
                    half_life = half_life.min(ramp * (at.step * batch) as f64);
                }
                0.5f64.powf(batch as f64 / half_life.max(1e-8))
            }
        }
    }

    /// Checks the values: a decay in [0, 1), a half-life and ramp > 0.
    pub fn validate(&self, section: &str) -> Result<(), TrainError> {
        match self {
            EmaRule::Decay { decay, .. } => decay.validate(
                &format!("{section}.decay"),
                "in [0, 1) (0.999 is usual)",
                |v| (0.0..1.0).contains(&v),
            ),
            EmaRule::HalfLife { images, ramp } => {
                images.validate(
                    &format!("{section}.half_life"),
                    "a number of images > 0 (StyleGAN2-ADA uses 10000)",
                    |v| v > 0.0,
                )?;
                match ramp {
                    Some(r) if !(r.is_finite() && *r > 0.0) => Err(TrainError::config(format!(
                        "{section}.ramp must be a finite number > 0 (StyleGAN2-ADA uses 0.05), \
                         got {r}"
                    ))),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// θ_ema ← decay·θ_ema + (1 − decay)·θ for every float tensor (parameters and buffers), paired
/// by visiting order; `ema` lives outside autodiff.
pub(crate) fn ema_update<M: Module>(ema: M, current: &M, decay: f64) -> M {
    struct Collect(Vec<Tensor<1>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const R: usize>(&mut self, param: &Param<Tensor<R>>) {
            let value = param.val();
            let value = if value.is_autodiff() {
                value.inner()
            } else {
                value
            };
            let n = value.shape().num_elements();
            self.0.push(value.reshape([n]));
        }
    }
    struct Blend {
        current: std::vec::IntoIter<Tensor<1>>,
        decay: f64,
    }
    impl ModuleMapper for Blend {
        fn map_float<const R: usize>(&mut self, param: Param<Tensor<R>>) -> Param<Tensor<R>> {
            let Some(current) = self.current.next() else {
                return param;
            };
            let decay = self.decay;
            param.map(|ema| {
                let current = current.reshape(ema.dims());
                ema.mul_scalar(decay).add(current.mul_scalar(1.0 - decay))
            })
        }
    }
    let mut collect = Collect(Vec::new());
    // The evaluation copy reads buffers synchronised (see `module_bytes`).
    current.valid().visit(&mut collect);
    ema.map(&mut Blend {
        current: collect.0.into_iter(),
        decay,
    })
}
