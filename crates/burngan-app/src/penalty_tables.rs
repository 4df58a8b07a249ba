//! The `[penalty]` / `[[penalty]]` layout of a run config: one table or an array of tables,
//! each a [`PenaltyTerm`] of the training library.

use burngan_train::PenaltyTerm;
use serde::de::{self, Deserializer};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

/// Reads `[penalty]` (one table) or `[[penalty]]` (an array of tables).
pub fn one_or_many<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<PenaltyTerm>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<toml::Table>),
        One(toml::Table),
    }
    let tables = match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(tables) => tables,
        OneOrMany::One(table) => vec![table],
    };
    tables
        .into_iter()
        .map(|table| {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| de::Error::custom(e.message()))
        })
        .collect()
}

/// Writes one term as a `[penalty]` table, several as `[[penalty]]` tables.
pub fn serialize_terms<S: Serializer>(
    terms: &[PenaltyTerm],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match terms {
        [one] => one.serialize(serializer),
        many => many.serialize(serializer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_losses::PenaltyConfig;
    use burngan_train::Scheduled;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Holder {
        #[serde(deserialize_with = "one_or_many", serialize_with = "serialize_terms")]
        penalty: Vec<PenaltyTerm>,
    }

    #[test]
    fn one_table_or_several_with_schedules_and_periods() {
        let one: Holder = toml::from_str("[penalty]\nkind = \"wgan-gp\"\nweight = 5.0\n").unwrap();
        assert_eq!(
            one.penalty,
            [PenaltyTerm::eager(PenaltyConfig::WganGp {
                weight: 5.0,
                one_sided: false
            })]
        );
        let text = "[[penalty]]\nkind = \"r1\"\ngamma = { from = 1.0, to = 0.1, shape = \
                    \"linear\" }\n[[penalty]]\nkind = \"r2\"\nevery = 4\n";
        let many: Holder = toml::from_str(text).unwrap();
        assert_eq!(many.penalty.len(), 2);
        assert_eq!(many.penalty[0].weight.at(50, 100), 0.55);
        assert_eq!(many.penalty[1].every, 4);
        assert_eq!(many.penalty[1].weight, Scheduled::Fixed(10.0));
        // Written back and read again, the same terms.
        let again: Holder = toml::from_str(&toml::to_string(&many).unwrap()).unwrap();
        assert_eq!(again, many);
        let error = toml::from_str::<Holder>("[penalty]\nkind = \"r1\"\nevery = 0\n").unwrap_err();
        assert!(
            error.to_string().contains("penalty.every must be"),
            "{error}"
        );
        let error = toml::from_str::<Holder>("[penalty]\nkind = \"r1\"\nlambda = 1\n").unwrap_err();
        assert!(error.to_string().contains("lambda"), "{error}");
    }
}
