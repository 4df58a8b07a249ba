//! Several gradient penalties at once, eager or lazy: a [`PenaltyTerm`] is a penalty of
//! `burngan-losses` with a weight that may follow a [schedule](crate::Scheduled) and a period
//! `every = N`. A lazy term (N > 1) is applied on every N-th discriminator update only, with
//! its weight multiplied by N, as StyleGAN2's lazy R1 regularisation: the same expected
//! penalty for a fraction of the cost.
//!
//! A term reads and writes as one table: the penalty's fields with `every` and the weight (a
//! number or a schedule), as an application's config file holds it (burngan's application
//! accepts one `[penalty]` table or several `[[penalty]]` tables):
//!
//! ```toml
//! [[penalty]]
//! kind = "r1"
//! gamma = { from = 0.1, to = 0.01, shape = "cosine" }
//!
//! [[penalty]]
//! kind = "r2"
//! gamma = 0.1
//! every = 4
//! ```

use burngan_losses::PenaltyConfig;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::{Scheduled, TrainError};

/// One gradient penalty of a run: which, its weight over the run, and how often it applies.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PenaltyTerm {
    /// The penalty (its own weight field is replaced by [`weight`](Self::weight) at each
    /// update).
    pub penalty: PenaltyConfig,
    /// λ or γ, a number or a schedule over generator steps.
    pub weight: Scheduled,
    /// Applied on discriminator updates u = 0, N, 2N, … (u counted over the run, K per
    /// generator step), with its weight × N; 1 applies it at every update.
    pub every: usize,
}

impl PenaltyTerm {
    /// An eager term with the penalty's own constant weight.
    pub fn eager(penalty: PenaltyConfig) -> Self {
        Self {
            penalty,
            weight: penalty.weight().into(),
            every: 1,
        }
    }

    /// The same term applied on every `every`-th discriminator update (weight × `every`).
    pub fn lazy(self, every: usize) -> Self {
        Self { every, ..self }
    }

    /// The penalty to apply at discriminator update `update` (counted from 0 over the run)
    /// during generator step `step` of `total`, or `None` when a lazy term skips that update.
    pub fn at(&self, update: usize, step: usize, total: usize) -> Option<PenaltyConfig> {
        if !update.is_multiple_of(self.every.max(1)) {
            return None;
        }
        let weight = self.weight.at(step, total) * self.every as f64;
        Some(self.penalty.with_weight(weight))
    }

    /// Checks the weight (finite, ≥ 0 at its endpoints), the penalty's other fields and
    /// `every` ≥ 1; `field` (`penalty` or `penalty[1]`) prefixes the messages.
    pub fn validate(&self, field: &str) -> Result<(), TrainError> {
        let name = self.penalty.weight_field();
        self.penalty
            .with_weight(self.weight.initial())
            .validate()
            .map_err(|e| TrainError::config(e.replacen("penalty.", &format!("{field}."), 1)))?;
        self.weight.validate(
            &format!("{field}.{name}"),
            "a finite number ≥ 0 (10 is usual)",
            |v| v >= 0.0,
        )?;
        crate::error::require_positive(&format!("{field}.every"), self.every)
    }

    /// The name logged in `metrics.jsonl` (`"r1"`).
    pub fn name(&self) -> &'static str {
        self.penalty.name()
    }
}

impl From<PenaltyConfig> for PenaltyTerm {
    fn from(penalty: PenaltyConfig) -> Self {
        PenaltyTerm::eager(penalty)
    }
}

impl Serialize for PenaltyTerm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut table = toml::Table::try_from(self.penalty).map_err(S::Error::custom)?;
        let weight = toml::Value::try_from(self.weight).map_err(S::Error::custom)?;
        table.insert(self.penalty.weight_field().to_string(), weight);
        table.insert("every".to_string(), toml::Value::Integer(self.every as i64));
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PenaltyTerm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        term_from_table(toml::Table::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

/// A term from its config table: `every` and the weight (a number or a schedule) are read
/// apart, the rest is the penalty of `burngan-losses`.
fn term_from_table(mut table: toml::Table) -> Result<PenaltyTerm, String> {
    let every = match table.remove("every") {
        None => 1,
        Some(toml::Value::Integer(n)) if n >= 1 => n as usize,
        Some(other) => {
            return Err(format!(
                "penalty.every must be an integer ≥ 1 (the period in discriminator updates), \
                 got {other}"
            ));
        }
    };
    let kind = table
        .get("kind")
        .and_then(toml::Value::as_str)
        .unwrap_or("");
    let field = if matches!(kind, "r1" | "r2") {
        "gamma"
    } else {
        "weight"
    };
    let weight = match table.remove(field) {
        Some(value) => {
            let weight: Scheduled = value
                .try_into()
                .map_err(|e: toml::de::Error| format!("penalty.{field}: {}", e.message()))?;
            table.insert(field.to_string(), toml::Value::Float(weight.initial()));
            Some(weight)
        }
        None => None,
    };
    let penalty: PenaltyConfig = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| format!("in [penalty]: {}", e.message()))?;
    Ok(PenaltyTerm {
        penalty,
        weight: weight.unwrap_or_else(|| penalty.weight().into()),
        every,
    })
}

/// The names under which the penalties are logged: each term's name, with `#2`, `#3`, … for
/// a repeated kind.
pub(crate) fn log_names(terms: &[PenaltyTerm]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(terms.len());
    for term in terms {
        let seen = names
            .iter()
            .filter(|n| n.split('#').next() == Some(term.name()))
            .count();
        names.push(if seen == 0 {
            term.name().to_string()
        } else {
            format!("{}#{}", term.name(), seen + 1)
        });
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A term reads from and writes to one table; a repeated kind is logged as `kind#2`.
    #[test]
    fn a_term_round_trips_through_its_table_and_repeated_kinds_get_numbered_names() {
        let text =
            "kind = \"r1\"\ngamma = { from = 1.0, to = 0.1, shape = \"linear\" }\nevery = 4\n";
        let term: PenaltyTerm = toml::from_str(text).unwrap();
        assert_eq!(term.weight.at(50, 100), 0.55);
        assert_eq!(term.every, 4);
        let again: PenaltyTerm = toml::from_str(&toml::to_string(&term).unwrap()).unwrap();
        assert_eq!(again, term);
        let r2 = PenaltyTerm::eager(PenaltyConfig::R2 { gamma: 1.0 });
        assert_eq!(log_names(&[term, r2, term]), ["r1", "r2", "r1#2"]);
    }

    /// A lazy term applies on every N-th update with N times the weight.
    #[test]
    fn a_lazy_term_runs_every_n_updates_with_n_times_the_weight() {
        let term = PenaltyTerm::eager(PenaltyConfig::R1 { gamma: 0.5 }).lazy(4);
        let applied: Vec<Option<f64>> = (0..9)
            .map(|u| term.at(u, 0, 10).map(|p| p.weight()))
            .collect();
        assert_eq!(
            applied,
            [
                Some(2.0),
                None,
                None,
                None,
                Some(2.0),
                None,
                None,
                None,
                Some(2.0)
            ]
        );
        let twice = [term, term];
        assert_eq!(log_names(&twice), ["r1", "r1#2"]);
    }
}
