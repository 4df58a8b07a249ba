//! Schedules for any scalar hyperparameter: a learning rate, Adam's β₁ or β₂, a penalty's
//! weight, the EMA's decay or half-life. A [`Scheduled`] value is either a number, constant
//! over the run, or a [`Schedule`]: a shape (constant, linear, cosine or step) from one value
//! to another, with an optional linear warm-up.
//!
//! In a config a scheduled value is written as a number or as an inline table:
//!
//! ```toml
//! lr = 2e-4
//! lr = { from = 2e-4, to = 5e-5, shape = "cosine", warmup = 500 }
//! beta2 = { from = 0.9, to = 0.99, shape = "linear", steps = 2000 }
//! gamma = { from = 10.0, shape = "step", every = 1000, factor = 0.5 }
//! ```
//!
//! Time is counted in generator steps done before the update (0 at the first step), so a
//! value depends only on the step and a run resumed from a checkpoint uses the same values as
//! an uninterrupted one.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::TrainError;

/// How a [`Schedule`] moves from `from` to `to` after its warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    /// `from` throughout (only the warm-up changes it).
    #[default]
    Constant,
    /// from·(1 − p) + to·p at progress p ∈ [0, 1].
    Linear,
    /// to + (from − to)·(1 + cos πp)/2 at progress p ∈ [0, 1] (Loshchilov & Hutter's cosine
    /// annealing without restarts).
    Cosine,
    /// from·factorᵏ after k whole periods of `every` steps (PyTorch's `StepLR`).
    Step,
}

/// A value that changes with the generator step t (counted from 0, the step being done):
///
/// - warm-up, t < `warmup`: v(t) = base(t)·(t + 1)/`warmup`, a linear rise from near 0;
/// - then, with s = t − `warmup` and the progress p = min(1, s / (T − `warmup`)), where T is
///   `steps` or, when absent, the run's total number of steps: v(t) = base(s) as [`Shape`]
///   says, for [`Shape::Step`] from·factor^⌊s / every⌋.
///
/// After T steps a linear or cosine schedule stays at `to`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// The value at the end of the warm-up (at the start when there is none).
    pub from: f64,
    /// The value at step T (linear and cosine shapes); ignored by the constant and step shapes
    /// (default: `from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<f64>,
    /// The shape (default constant).
    #[serde(default)]
    pub shape: Shape,
    /// Steps of linear warm-up before the shape starts (default 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub warmup: usize,
    /// T, the step by which a linear or cosine shape reaches `to`; absent: the run's total.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
    /// The period of the step shape, in steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
    /// The step shape's factor per period (default 0.1, as PyTorch's `StepLR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Schedule {
    /// The value at generator step `step` (counted from 0) of a run of `total` steps.
    pub fn at(&self, step: usize, total: usize) -> f64 {
        let to = self.to.unwrap_or(self.from);
        let since = step.saturating_sub(self.warmup);
        let horizon = self.steps.unwrap_or(total).saturating_sub(self.warmup);
        let progress = if horizon == 0 {
            1.0
        } else {
            (since as f64 / horizon as f64).min(1.0)
        };
        let base = match self.shape {
            Shape::Constant => self.from,
            // `from·(1 − p) + to·p` keeps the old `lr_decay = "linear"` bit for bit (to = 0).
            Shape::Linear => self.from * (1.0 - progress) + to * progress,
            Shape::Cosine => {
                to + (self.from - to) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
            Shape::Step => {
                let periods = since / self.every.unwrap_or(usize::MAX).max(1);
                let periods = i32::try_from(periods).unwrap_or(i32::MAX);
                self.from * self.factor.unwrap_or(0.1).powi(periods)
            }
        };
        if step < self.warmup {
            base * (step + 1) as f64 / self.warmup as f64
        } else {
            base
        }
    }

    /// Checks that the schedule is complete (the keys its shape needs, and no others).
    fn check_shape(&self, field: &str) -> Result<(), String> {
        if self.shape == Shape::Step {
            match self.every {
                Some(every) if every > 0 => {}
                _ => {
                    return Err(format!(
                        "{field} has shape = \"step\" without `every`; add every = N (the \
                         period in steps), e.g. every = 1000"
                    ));
                }
            }
            if let Some(factor) = self.factor
                && !(factor.is_finite() && factor > 0.0)
            {
                return Err(format!(
                    "{field}.factor must be a finite number > 0, got {factor}"
                ));
            }
        } else if self.every.is_some() || self.factor.is_some() {
            return Err(format!(
                "{field}: `every` and `factor` belong to shape = \"step\", not \"{}\"",
                shape_name(self.shape)
            ));
        }
        if matches!(self.shape, Shape::Linear | Shape::Cosine) && self.to.is_none() {
            return Err(format!(
                "{field} has shape = \"{}\" without `to`; add the final value, e.g. to = 0.0",
                shape_name(self.shape)
            ));
        }
        if self.steps == Some(0) {
            return Err(format!(
                "{field}.steps must be ≥ 1 (or left out for the run's length)"
            ));
        }
        Ok(())
    }
}

fn shape_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Constant => "constant",
        Shape::Linear => "linear",
        Shape::Cosine => "cosine",
        Shape::Step => "step",
    }
}

/// A hyperparameter: a number for the whole run, or a [`Schedule`].
///
/// Converts from `f64`, so code that sets a constant writes `lr: 2e-4.into()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scheduled {
    /// The same value at every step.
    Fixed(f64),
    /// A value that changes with the step.
    Ramp(Schedule),
}

impl Scheduled {
    /// The value at generator step `step` (counted from 0) of a run of `total` steps.
    pub fn at(&self, step: usize, total: usize) -> f64 {
        match self {
            Scheduled::Fixed(value) => *value,
            Scheduled::Ramp(schedule) => schedule.at(step, total),
        }
    }

    /// The value at the first step (after any warm-up): the number, or the schedule's `from`.
    pub fn initial(&self) -> f64 {
        match self {
            Scheduled::Fixed(value) => *value,
            Scheduled::Ramp(schedule) => schedule.from,
        }
    }

    /// Whether the value is the same at every step.
    pub fn is_fixed(&self) -> bool {
        matches!(self, Scheduled::Fixed(_))
    }

    /// Checks that every value the schedule can take satisfies `valid` (its endpoints; a
    /// warm-up starts near 0, which is allowed) and that the schedule is complete. The error
    /// names `field` (`field.from`, `field.to` for a schedule's ends), the value and the fix:
    /// "`field` must be `expected`, got `value`".
    pub fn validate(
        &self,
        field: &str,
        expected: &str,
        valid: impl Fn(f64) -> bool,
    ) -> Result<(), TrainError> {
        self.validate_ends(field, expected, &valid, &valid)
    }

    /// [`validate`](Self::validate) for a value that must be > 0 but whose schedule may decay
    /// to 0 at its end (a learning rate): the number or `from` must satisfy `valid`, `to`
    /// must be 0 or satisfy it.
    pub fn validate_decaying(
        &self,
        field: &str,
        expected: &str,
        valid: impl Fn(f64) -> bool,
    ) -> Result<(), TrainError> {
        self.validate_ends(field, expected, &valid, &|v| v == 0.0 || valid(v))
    }

    fn validate_ends(
        &self,
        field: &str,
        expected: &str,
        start: &dyn Fn(f64) -> bool,
        end: &dyn Fn(f64) -> bool,
    ) -> Result<(), TrainError> {
        let check = |name: String, value: f64, valid: &dyn Fn(f64) -> bool| {
            if value.is_finite() && valid(value) {
                Ok(())
            } else {
                Err(TrainError::config(format!(
                    "{name} must be {expected}, got {value}"
                )))
            }
        };
        match self {
            Scheduled::Fixed(value) => check(field.to_string(), *value, start),
            Scheduled::Ramp(schedule) => {
                check(format!("{field}.from"), schedule.from, start)?;
                if let Some(to) = schedule.to {
                    check(format!("{field}.to"), to, end)?;
                }
                schedule.check_shape(field).map_err(TrainError::config)
            }
        }
    }
}

impl From<f64> for Scheduled {
    fn from(value: f64) -> Self {
        Scheduled::Fixed(value)
    }
}

impl From<Schedule> for Scheduled {
    fn from(schedule: Schedule) -> Self {
        Scheduled::Ramp(schedule)
    }
}

impl Serialize for Scheduled {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scheduled::Fixed(value) => serializer.serialize_f64(*value),
            Scheduled::Ramp(schedule) => schedule.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Scheduled {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberOrTable;
        impl<'de> Visitor<'de> for NumberOrTable {
            type Value = Scheduled;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a number or a schedule table such as { from = 2e-4, to = 0.0, shape = \
                     \"cosine\", warmup = 100 }",
                )
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Scheduled, E> {
                Ok(Scheduled::Fixed(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Scheduled, E> {
                Ok(Scheduled::Fixed(value as f64))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Scheduled, E> {
                Ok(Scheduled::Fixed(value as f64))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scheduled, A::Error> {
                Schedule::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(Scheduled::Ramp)
            }
        }
        deserializer.deserialize_any(NumberOrTable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(text: &str) -> Scheduled {
        #[derive(Deserialize)]
        struct Holder {
            v: Scheduled,
        }
        toml::from_str::<Holder>(&format!("v = {text}")).unwrap().v
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1.0)
    }

    /// Values at chosen steps against their closed forms.
    #[test]
    fn values_at_chosen_steps_equal_their_closed_forms() {
        let total = 1000;
        // Cosine from 2e-4 to 5e-5 after a 100-step warm-up: T − W = 900 steps of decay.
        let cosine = ramp("{ from = 2e-4, to = 5e-5, shape = \"cosine\", warmup = 100 }");
        assert!(close(cosine.at(0, total), 2e-4 / 100.0));
        assert!(close(cosine.at(49, total), 2e-4 * 50.0 / 100.0));
        assert!(close(cosine.at(100, total), 2e-4));
        // Half way through the decay, cos(π/2) = 0: the mean of the endpoints.
        assert!(close(cosine.at(550, total), (2e-4 + 5e-5) / 2.0));
        // A quarter: to + (from − to)·(1 + cos(π/4))/2.
        let quarter = 5e-5 + 1.5e-4 * (1.0 + std::f64::consts::FRAC_1_SQRT_2) / 2.0;
        assert!(close(cosine.at(325, total), quarter));
        assert!(close(cosine.at(1000, total), 5e-5));
        assert!(close(cosine.at(5000, total), 5e-5));
        // Linear over its own horizon of 2000 steps, whatever the run's length.
        let linear = ramp("{ from = 0.9, to = 0.99, shape = \"linear\", steps = 2000 }");
        assert!(close(linear.at(0, total), 0.9));
        assert!(close(linear.at(500, total), 0.9 * 0.75 + 0.99 * 0.25));
        assert!(close(linear.at(2000, total), 0.99));
        assert!(close(linear.at(3000, total), 0.99));
        // Step: halves every 300 steps.
        let step = ramp("{ from = 10, shape = \"step\", every = 300, factor = 0.5 }");
        assert_eq!(step.at(299, total), 10.0);
        assert_eq!(step.at(300, total), 5.0);
        assert_eq!(step.at(900, total), 1.25);
        // Constant with a warm-up only.
        let warm = ramp("{ from = 1e-3, warmup = 4 }");
        let values: Vec<f64> = (0..6).map(|t| warm.at(t, total)).collect();
        assert_eq!(values, [2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3]);
        assert_eq!(Scheduled::from(0.5).at(123, total), 0.5);
    }

    /// The old `lr_decay = "linear"` factor, lr·(1 − t/T), is reproduced bit for bit.
    #[test]
    fn linear_to_zero_is_the_old_linear_decay_bit_for_bit() {
        let lr = 2e-4;
        let schedule = Schedule {
            from: lr,
            to: Some(0.0),
            shape: Shape::Linear,
            warmup: 0,
            steps: None,
            every: None,
            factor: None,
        };
        for (step, total) in [(0, 7), (3, 7), (6, 7), (1234, 3000), (2999, 3000)] {
            let old = lr * (1.0 - step as f64 / total as f64).max(0.0);
            assert_eq!(schedule.at(step, total).to_bits(), old.to_bits());
        }
    }

    #[test]
    fn incomplete_or_out_of_range_schedules_are_refused_with_the_fix() {
        let positive = |v: f64| v > 0.0;
        let cases = [
            ("{ from = 1e-3, shape = \"cosine\" }", "without `to`"),
            ("{ from = 1e-3, shape = \"step\" }", "without `every`"),
            ("{ from = 1e-3, every = 5 }", "belong to shape = \"step\""),
            ("{ from = -1.0 }", "lr.from must be > 0, got -1"),
            (
                "{ from = 1.0, to = -1.0, shape = \"linear\" }",
                "lr.to must be > 0, got -1",
            ),
            (
                "{ from = 1.0, to = 0.5, shape = \"linear\", steps = 0 }",
                "steps must be ≥ 1",
            ),
        ];
        for (text, fragment) in cases {
            let error = ramp(text).validate("lr", "> 0", positive).unwrap_err();
            assert!(error.to_string().contains(fragment), "{text}: {error}");
            assert!(error.to_string().contains("lr"), "{text}: {error}");
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Holder {
            v: Scheduled,
        }
        let error = toml::from_str::<Holder>("v = { from = 1.0, too = 2.0 }").unwrap_err();
        assert!(error.to_string().contains("too"), "{error}");
        let error = toml::from_str::<Holder>("v = \"fast\"").unwrap_err();
        assert!(
            error.to_string().contains("a number or a schedule table"),
            "{error}"
        );
    }

    #[test]
    fn a_schedule_round_trips_through_toml() {
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        struct Holder {
            a: Scheduled,
            b: Scheduled,
        }
        let holder: Holder = toml::from_str(
            "a = 0.25\nb = { from = 2e-4, to = 0.0, shape = \"cosine\", warmup = 10 }",
        )
        .unwrap();
        let text = toml::to_string(&holder).unwrap();
        assert_eq!(toml::from_str::<Holder>(&text).unwrap(), holder);
    }
}
