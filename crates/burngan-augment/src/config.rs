//! The `[augment]` section: which operations, with which probability, at which sizes.
//!
//! ```toml
//! [augment]
//! policy = ["color", "translation", "cutout"]   # DiffAugment's full policy (the default)
//! p = 1.0                                       # or "adaptive"
//! adaptive = { target = 0.6, interval = 4, speed_images = 20000, initial_p = 0.0 }
//! translation = 0.125                           # shifts up to ⌊0.125·size⌋ pixels
//! cutout = 0.5                                  # a zeroed ⌊0.5·size⌋ square
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A configuration that cannot be used; the message names the field, the value and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AugmentError {
    /// A value of the `[augment]` section is out of range.
    #[error("{0}")]
    Config(String),
}

/// One augmentation operation, applied per sample with probability p. Each is affine in the
/// image x (per sample): T(x) = A·x + b.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// x + β, β ~ U(−0.5, 0.5) per sample (on burngan's [−1, 1] pixels, as DiffAugment's
    /// reference code does on its own [−1, 1] network inputs: ±¼ of the range).
    Brightness,
    /// (x − m_c)·s + m_c with m_c the mean over channels at each pixel, s ~ U(0, 2) per sample
    /// (the identity on one-channel images, where m_c = x).
    Saturation,
    /// (x − m)·k + m with m the sample's mean over all its values, k ~ U(0.5, 1.5).
    Contrast,
    /// An integer shift (t_y, t_x), each uniform in [−⌊f·size⌋, ⌊f·size⌋]: pixel (i, j) of
    /// the output is pixel (i + t_y, j + t_x) of the input, 0 outside it.
    Translation,
    /// A ⌊f·h⌋ × ⌊f·w⌋ rectangle set to 0, centred at a uniform position (cropped at the
    /// border), as DiffAugment's reference.
    Cutout,
}

impl Op {
    /// The name used in configs and descriptions.
    pub fn name(self) -> &'static str {
        match self {
            Op::Brightness => "brightness",
            Op::Saturation => "saturation",
            Op::Contrast => "contrast",
            Op::Translation => "translation",
            Op::Cutout => "cutout",
        }
    }
}

/// An entry of `augment.policy`: DiffAugment's three groups, or a single colour operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyItem {
    /// Brightness, saturation and contrast, in that order (DiffAugment's `color`).
    Color,
    /// Brightness only.
    Brightness,
    /// Saturation only.
    Saturation,
    /// Contrast only.
    Contrast,
    /// Translation.
    Translation,
    /// Cutout.
    Cutout,
}

impl PolicyItem {
    fn ops(self) -> &'static [Op] {
        match self {
            PolicyItem::Color => &[Op::Brightness, Op::Saturation, Op::Contrast],
            PolicyItem::Brightness => &[Op::Brightness],
            PolicyItem::Saturation => &[Op::Saturation],
            PolicyItem::Contrast => &[Op::Contrast],
            PolicyItem::Translation => &[Op::Translation],
            PolicyItem::Cutout => &[Op::Cutout],
        }
    }
}

/// `augment.p`: a fixed probability, or `"adaptive"` (ADA's controller, `augment.adaptive`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Probability {
    /// Each operation is applied to each sample with this probability (1: DiffAugment).
    Fixed(f64),
    /// p follows the overfitting signal (see [`AdaptiveConfig`]).
    Adaptive,
}

impl Default for Probability {
    fn default() -> Self {
        Probability::Fixed(1.0)
    }
}

impl Serialize for Probability {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Probability::Fixed(p) => serializer.serialize_f64(*p),
            Probability::Adaptive => serializer.serialize_str("adaptive"),
        }
    }
}

impl<'de> Deserialize<'de> for Probability {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Number(f64),
            Word(String),
        }
        let refuse = |what: String| {
            serde::de::Error::custom(format!(
                "augment.p must be a probability in [0, 1] or \"adaptive\", got {what}"
            ))
        };
        match Written::deserialize(deserializer)
            .map_err(|_| refuse("a value of another type".into()))?
        {
            Written::Number(p) => Ok(Probability::Fixed(p)),
            Written::Word(word) if word == "adaptive" => Ok(Probability::Adaptive),
            Written::Word(word) => Err(refuse(format!("\"{word}\""))),
        }
    }
}

/// ADA's controller (Karras et al. 2020, StyleGAN2-ADA), used when `p = "adaptive"`: after
/// every `interval` discriminator updates, r = E[sign(D(x_real))] over their real logits and
/// p ← clamp(p + sign(r − target)·N/speed_images, 0, 1), N the real images of those updates
/// (batch·interval); sign(0) = 0.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveConfig {
    /// The value of r the controller holds (default 0.6, StyleGAN2-ADA's).
    #[serde(default = "default_target")]
    pub target: f64,
    /// Discriminator updates per adjustment (default 4, StyleGAN2-ADA's).
    #[serde(default = "default_interval")]
    pub interval: usize,
    /// Real images over which p can go from 0 to 1 (default 20,000: StyleGAN2-ADA's 500,000
    /// is 2 % of its 25M-image runs; burngan's MNIST presets see about 100,000 images, and
    /// 20,000 lets p cross [0, 1] in a fifth of such a run, 78 adjustments at batch 64).
    #[serde(default = "default_speed")]
    pub speed_images: f64,
    /// p at the start of the run (default 0, StyleGAN2-ADA's).
    #[serde(default)]
    pub initial_p: f64,
}

fn default_target() -> f64 {
    0.6
}

fn default_interval() -> usize {
    4
}

fn default_speed() -> f64 {
    20_000.0
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        Self {
            target: default_target(),
            interval: default_interval(),
            speed_images: default_speed(),
            initial_p: 0.0,
        }
    }
}

/// The `[augment]` section of a run config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentConfig {
    /// The operations, applied in this order (default DiffAugment's `["color", "translation",
    /// "cutout"]`); an operation may appear once.
    #[serde(default = "default_policy")]
    pub policy: Vec<PolicyItem>,
    /// The probability of each operation per sample: a number in [0, 1] (default 1, always
    /// on, as DiffAugment) or `"adaptive"`.
    #[serde(default)]
    pub p: Probability,
    /// The adaptive controller's settings, used when `p = "adaptive"`.
    #[serde(default)]
    pub adaptive: AdaptiveConfig,
    /// Translation's largest shift as a fraction of the image's height and width (default
    /// 0.125 = ⅛, DiffAugment's).
    #[serde(default = "default_translation")]
    pub translation: f64,
    /// Cutout's side as a fraction of the image's height and width (default 0.5, DiffAugment's).
    #[serde(default = "default_cutout")]
    pub cutout: f64,
}

fn default_policy() -> Vec<PolicyItem> {
    vec![
        PolicyItem::Color,
        PolicyItem::Translation,
        PolicyItem::Cutout,
    ]
}

fn default_translation() -> f64 {
    0.125
}

fn default_cutout() -> f64 {
    0.5
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            policy: default_policy(),
            p: Probability::default(),
            adaptive: AdaptiveConfig::default(),
            translation: default_translation(),
            cutout: default_cutout(),
        }
    }
}

impl AugmentConfig {
    /// DiffAugment with the given operations and a fixed probability 1.
    pub fn diffaugment(policy: &[PolicyItem]) -> Self {
        Self {
            policy: policy.to_vec(),
            ..Self::default()
        }
    }

    /// The operations in the order they are applied (`color` expanded).
    pub fn ops(&self) -> Vec<Op> {
        self.policy
            .iter()
            .flat_map(|item| item.ops().iter().copied())
            .collect()
    }

    /// Checks every value; the error names the field, the value and the fix.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let fail = |message: String| Err(AugmentError::Config(message));
        let ops = self.ops();
        if ops.is_empty() {
            return fail(
                "augment.policy is empty; list operations, e.g. [\"color\", \"translation\", \
                 \"cutout\"], or remove the [augment] section"
                    .into(),
            );
        }
        for (i, op) in ops.iter().enumerate() {
            if ops[..i].contains(op) {
                return fail(format!(
                    "augment.policy applies {} twice ({:?}); list each operation once (\"color\" \
                     already holds brightness, saturation and contrast)",
                    op.name(),
                    self.policy
                ));
            }
        }
        if let Probability::Fixed(p) = self.p
            && !(0.0..=1.0).contains(&p)
        {
            return fail(format!(
                "augment.p must be in [0, 1], got {p}; 1 applies every operation to every sample \
                 (DiffAugment), or write p = \"adaptive\""
            ));
        }
        for (field, value, upper, usual) in [
            ("augment.translation", self.translation, 1.0, "0.125"),
            ("augment.cutout", self.cutout, 1.0, "0.5"),
        ] {
            if !(value.is_finite() && (0.0..upper).contains(&value)) {
                return fail(format!(
                    "{field} must be a fraction of the image size in [0, 1), got {value}; \
                     DiffAugment uses {usual}"
                ));
            }
        }
        self.validate_adaptive()
    }

    fn validate_adaptive(&self) -> Result<(), AugmentError> {
        let a = &self.adaptive;
        let fail = |message: String| Err(AugmentError::Config(message));
        if !(a.target.is_finite() && a.target > -1.0 && a.target < 1.0) {
            return fail(format!(
                "augment.adaptive.target must be in (−1, 1) (E[sign(D(x_real))] lies in [−1, 1]), \
                 got {}; StyleGAN2-ADA uses 0.6",
                a.target
            ));
        }
        if a.interval == 0 {
            return fail(
                "augment.adaptive.interval must be at least 1 discriminator update, got 0; \
                 StyleGAN2-ADA uses 4"
                    .into(),
            );
        }
        if !(a.speed_images.is_finite() && a.speed_images > 0.0) {
            return fail(format!(
                "augment.adaptive.speed_images must be a number of images > 0, got {}; the \
                 default is 20000",
                a.speed_images
            ));
        }
        if !(0.0..=1.0).contains(&a.initial_p) {
            return fail(format!(
                "augment.adaptive.initial_p must be in [0, 1], got {}; StyleGAN2-ADA starts at 0",
                a.initial_p
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Wrapper {
        augment: AugmentConfig,
    }

    fn parse(text: &str) -> Result<AugmentConfig, String> {
        toml_like(text)
    }

    /// A TOML-free round trip through JSON (the crate does not depend on a TOML parser):
    /// the tests write the section as JSON.
    fn toml_like(json: &str) -> Result<AugmentConfig, String> {
        serde_json::from_str::<Wrapper>(json)
            .map(|w| w.augment)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_diffaugments_full_policy_always_on() {
        let config = parse(r#"{"augment": {}}"#).unwrap();
        assert_eq!(config, AugmentConfig::default());
        assert_eq!(
            config.ops(),
            [
                Op::Brightness,
                Op::Saturation,
                Op::Contrast,
                Op::Translation,
                Op::Cutout
            ]
        );
        assert_eq!(config.p, Probability::Fixed(1.0));
        assert_eq!(config.adaptive.target, 0.6);
        assert_eq!(config.adaptive.interval, 4);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn p_is_a_number_or_adaptive_and_round_trips() {
        let adaptive =
            parse(r#"{"augment": {"p": "adaptive", "adaptive": {"speed_images": 5000}}}"#).unwrap();
        assert_eq!(adaptive.p, Probability::Adaptive);
        assert_eq!(adaptive.adaptive.speed_images, 5000.0);
        let fixed =
            parse(r#"{"augment": {"p": 0.25, "policy": ["cutout", "brightness"]}}"#).unwrap();
        assert_eq!(fixed.p, Probability::Fixed(0.25));
        assert_eq!(fixed.ops(), [Op::Cutout, Op::Brightness]);
        for config in [adaptive, fixed] {
            let json = serde_json::to_string(&config).unwrap();
            let back: AugmentConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(back, config);
        }
        let error = parse(r#"{"augment": {"p": "sometimes"}}"#).unwrap_err();
        assert!(error.contains("\"adaptive\", got \"sometimes\""), "{error}");
        let error = parse(r#"{"augment": {"flip": true}}"#).unwrap_err();
        assert!(error.contains("unknown field `flip`"), "{error}");
    }

    #[test]
    fn every_bad_value_is_refused_with_its_field_and_a_fix() {
        let base = AugmentConfig::default();
        let cases: Vec<(&str, AugmentConfig, &str)> = vec![
            (
                "empty policy",
                AugmentConfig {
                    policy: vec![],
                    ..base.clone()
                },
                "augment.policy is empty",
            ),
            (
                "colour twice",
                AugmentConfig {
                    policy: vec![PolicyItem::Color, PolicyItem::Contrast],
                    ..base.clone()
                },
                "applies contrast twice",
            ),
            (
                "p above 1",
                AugmentConfig {
                    p: Probability::Fixed(1.5),
                    ..base.clone()
                },
                "augment.p must be in [0, 1], got 1.5",
            ),
            (
                "p NaN",
                AugmentConfig {
                    p: Probability::Fixed(f64::NAN),
                    ..base.clone()
                },
                "augment.p must be in [0, 1], got NaN",
            ),
            (
                "translation 1",
                AugmentConfig {
                    translation: 1.0,
                    ..base.clone()
                },
                "augment.translation must be a fraction of the image size in [0, 1), got 1",
            ),
            (
                "negative cutout",
                AugmentConfig {
                    cutout: -0.5,
                    ..base.clone()
                },
                "augment.cutout must be",
            ),
            (
                "target 1",
                AugmentConfig {
                    adaptive: AdaptiveConfig {
                        target: 1.0,
                        ..AdaptiveConfig::default()
                    },
                    ..base.clone()
                },
                "augment.adaptive.target must be in (−1, 1)",
            ),
            (
                "interval 0",
                AugmentConfig {
                    adaptive: AdaptiveConfig {
                        interval: 0,
                        ..AdaptiveConfig::default()
                    },
                    ..base.clone()
                },
                "augment.adaptive.interval must be at least 1",
            ),
            (
                "speed 0",
                AugmentConfig {
                    adaptive: AdaptiveConfig {
                        speed_images: 0.0,
                        ..AdaptiveConfig::default()
                    },
                    ..base.clone()
                },
                "augment.adaptive.speed_images must be a number of images > 0, got 0",
            ),
            (
                "initial p",
                AugmentConfig {
                    adaptive: AdaptiveConfig {
                        initial_p: -0.1,
                        ..AdaptiveConfig::default()
                    },
                    ..base.clone()
                },
                "augment.adaptive.initial_p must be in [0, 1], got -0.1",
            ),
        ];
        let mut failures = Vec::new();
        for (name, config, expected) in cases {
            match config.validate() {
                Err(AugmentError::Config(message)) if message.contains(expected) => {}
                other => failures.push(format!("{name}: {other:?}")),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }
}
