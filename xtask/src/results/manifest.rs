//! The results manifest, `docs/results.toml`: which tables `cargo xtask results` regenerates,
//! the presets and seeds each one runs, the `eval.json` metrics it shows and the published rows
//! printed above burngan's own.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// The whole manifest: its `[[table]]` entries, in page order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Manifest {
    /// The tables, each with its own marker pair in the page.
    #[serde(rename = "table")]
    pub tables: Vec<Table>,
}

/// One generated table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Table {
    /// The table's name in `--only` and in the page's markers (`<!-- results:ID:begin -->`).
    pub id: String,
    /// What the table shows, for `--list`.
    #[serde(default)]
    pub title: String,
    /// A table whose preset files may not exist yet: a missing preset skips the table (with a
    /// message) instead of failing the manifest.
    #[serde(default)]
    pub pending: bool,
    /// The header of the first column.
    #[serde(default = "default_row_title")]
    pub row_title: String,
    /// The presets, one row each.
    #[serde(rename = "preset")]
    pub presets: Vec<PresetRuns>,
    /// The `eval.json` values shown, one column each.
    #[serde(rename = "column")]
    pub columns: Vec<Column>,
    /// Published (or otherwise fixed) rows printed above burngan's rows.
    #[serde(default, rename = "published")]
    pub published: Vec<Published>,
}

fn default_row_title() -> String {
    "row".into()
}

/// One preset of a table and the runs it takes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PresetRuns {
    /// The preset: `assets/configs/NAME.toml`.
    pub name: String,
    /// The seeds, one run each (`--seed S`).
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// A step count replacing the preset's `run.steps` (`--steps N`).
    pub steps: Option<usize>,
    /// Estimated minutes per run on the reference machine, for `--list`.
    pub minutes: Option<f64>,
}

fn default_seeds() -> Vec<u64> {
    vec![0]
}

/// One column: an `eval.json` value and how it is printed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Column {
    /// `eval.NAME` (the `eval` object: the last periodic evaluation) or `NAME` (a top-level
    /// value, such as the toy protocols' final `modes_covered`).
    pub key: String,
    /// The column's header.
    pub title: String,
    /// How the values are printed.
    pub format: Format,
}

/// How a column's values are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// Whole numbers (a mean over seeds gets one decimal).
    Integer,
    /// A fraction printed as a percentage with one decimal and ` %`.
    Percent,
    /// One decimal.
    Fixed1,
    /// Two decimals.
    Fixed2,
    /// Three decimals.
    Fixed3,
    /// Four decimals.
    Fixed4,
}

/// A fixed row: its label, one cell per column, and where it comes from.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Published {
    /// The first cell.
    pub label: String,
    /// One cell per `[[table.column]]`, as printed.
    pub cells: Vec<String>,
    /// The seeds cell (default `—`).
    pub seeds: Option<String>,
    /// The steps cell (default `—`).
    pub steps: Option<String>,
    /// The wall-time cell (default `—`).
    pub wall: Option<String>,
    /// The paper, table or page the row is copied from.
    pub source: String,
}

impl Manifest {
    /// Parses manifest text; `name` is the file named in errors.
    pub fn parse(text: &str, name: &str) -> anyhow::Result<Self> {
        let manifest: Manifest =
            toml::from_str(text).with_context(|| format!("{name} is not a valid manifest"))?;
        manifest.check(name)?;
        Ok(manifest)
    }

    /// Reads and parses the manifest file `path`, and checks every preset of a table that is
    /// not `pending` against `configs` (the `assets/configs` directory).
    pub fn load(path: &Path, configs: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}; pass --manifest FILE", path.display()))?;
        let manifest = Self::parse(&text, &path.display().to_string())?;
        manifest.check_presets(configs, &path.display().to_string())?;
        Ok(manifest)
    }

    /// The structural rules serde cannot express.
    fn check(&self, name: &str) -> anyhow::Result<()> {
        let mut ids = HashSet::new();
        for table in &self.tables {
            let id = &table.id;
            let valid = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            if id.is_empty() || !id.chars().all(valid) {
                bail!("{name}: table id `{id}` must be lowercase letters, digits and `-`");
            }
            if !ids.insert(id.as_str()) {
                bail!("{name}: table id `{id}` appears twice; give each table its own id");
            }
            if table.presets.is_empty() || table.columns.is_empty() {
                bail!(
                    "{name}: table `{id}` needs at least one [[table.preset]] and one [[table.column]]"
                );
            }
            for preset in &table.presets {
                let mut seen = HashSet::new();
                if preset.seeds.is_empty() || !preset.seeds.iter().all(|s| seen.insert(*s)) {
                    bail!(
                        "{name}: table `{id}`, preset `{}`: seeds {:?} must be non-empty and \
                         distinct",
                        preset.name,
                        preset.seeds
                    );
                }
                if preset.steps == Some(0) {
                    bail!(
                        "{name}: table `{id}`, preset `{}`: steps must be positive",
                        preset.name
                    );
                }
            }
            for column in &table.columns {
                check_key(&column.key)
                    .with_context(|| format!("{name}: table `{id}`, column `{}`", column.title))?;
            }
            for row in &table.published {
                if row.cells.len() != table.columns.len() {
                    bail!(
                        "{name}: table `{id}`, published row `{}` has {} cells for {} columns",
                        row.label,
                        row.cells.len(),
                        table.columns.len()
                    );
                }
            }
        }
        Ok(())
    }

    /// Every preset of a table that is not `pending` must have its file in `configs`.
    fn check_presets(&self, configs: &Path, name: &str) -> anyhow::Result<()> {
        for table in self.tables.iter().filter(|t| !t.pending) {
            for preset in &table.presets {
                let file = configs.join(format!("{}.toml", preset.name));
                if !file.is_file() {
                    bail!(
                        "{name}: table `{}` names preset `{}`, but {} does not exist; fix the \
                         name, add the preset, or mark the table `pending = true`",
                        table.id,
                        preset.name,
                        file.display()
                    );
                }
            }
        }
        Ok(())
    }

    /// The table `id`.
    pub fn table(&self, id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.id == id)
    }
}

/// A column key is `eval.NAME` or `NAME`, NAME made of letters, digits and `_`.
fn check_key(key: &str) -> anyhow::Result<()> {
    let name = key.strip_prefix("eval.").unwrap_or(key);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        bail!(
            "metric key `{key}` must be `eval.NAME` (the eval object of eval.json) or `NAME` \
             (a top-level value)"
        );
    }
    Ok(())
}

/// The value of `key` (see [`Column::key`]) in an `eval.json` document.
pub(crate) fn metric(eval: &serde_json::Value, key: &str) -> Option<f64> {
    match key.strip_prefix("eval.") {
        Some(name) => eval.get("eval")?.get(name)?.as_f64(),
        None => eval.get(key)?.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
[[table]]
id = "ring8"
[[table.preset]]
name = "ring8-best"
seeds = [0, 1, 2]
[[table.column]]
key = "modes_covered"
title = "modes"
format = "integer"
[[table.published]]
label = "PacGAN"
cells = ["6.3 ± 0.5"]
source = "Lin et al. 2018"
"#;

    #[test]
    fn a_small_manifest_parses_with_its_defaults() {
        let manifest = Manifest::parse(SMALL, "m.toml").unwrap();
        let table = manifest.table("ring8").unwrap();
        assert_eq!(table.row_title, "row");
        assert!(!table.pending);
        assert_eq!(table.presets[0].seeds, [0, 1, 2]);
        assert_eq!(table.presets[0].steps, None);
        assert_eq!(table.columns[0].format, Format::Integer);
        assert_eq!(table.published[0].cells, ["6.3 ± 0.5"]);
    }

    #[test]
    fn an_unknown_format_is_named() {
        let text = SMALL.replace("\"integer\"", "\"percentage\"");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(error.contains("m.toml"), "{error}");
        assert!(error.contains("percentage"), "{error}");
    }

    #[test]
    fn a_missing_id_and_an_unknown_field_are_named() {
        let text = SMALL.replace("id = \"ring8\"", "");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(error.contains("`id`"), "{error}");
        let text = SMALL.replace("seeds = [0, 1, 2]", "seed = 0");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(error.contains("seed"), "{error}");
    }

    #[test]
    fn a_bad_metric_key_a_short_row_and_repeated_seeds_are_named() {
        let text = SMALL.replace("key = \"modes_covered\"", "key = \"eval.a.b\"");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(error.contains("eval.a.b"), "{error}");
        let text = SMALL.replace("cells = [\"6.3 ± 0.5\"]", "cells = []");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(
            error.contains("`PacGAN` has 0 cells for 1 columns"),
            "{error}"
        );
        let text = SMALL.replace("[0, 1, 2]", "[0, 1, 1]");
        let error = format!("{:#}", Manifest::parse(&text, "m.toml").unwrap_err());
        assert!(error.contains("[0, 1, 1]"), "{error}");
    }

    #[test]
    fn metrics_come_from_the_eval_object_or_the_top_level() {
        let eval = serde_json::json!({"modes_covered": 8, "eval": {"fd": 131.0}});
        assert_eq!(metric(&eval, "modes_covered"), Some(8.0));
        assert_eq!(metric(&eval, "eval.fd"), Some(131.0));
        assert_eq!(metric(&eval, "fd"), None);
        assert_eq!(metric(&eval, "eval.modes_covered"), None);
    }

    /// The committed manifest parses, covers the page's tables, and names only presets that
    /// exist, except in tables marked `pending`.
    #[test]
    fn the_committed_manifest_names_existing_presets() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let configs = root.join("assets/configs");
        let manifest = Manifest::load(&root.join("docs/results.toml"), &configs).unwrap();
        let ids: Vec<&str> = manifest.tables.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "ring8",
                "grid25",
                "residual-mnist",
                "stackedmnist",
                "mnist10pct",
                "mnist1pct",
                "mnist10pct-best",
                "mnist-best"
            ]
        );
        // Every committed table's presets exist, so none needs `pending`.
        assert!(manifest.tables.iter().all(|t| !t.pending));
        let ring8 = manifest.table("ring8").unwrap();
        let runs: Vec<(&str, &[u64])> = ring8
            .presets
            .iter()
            .map(|p| (p.name.as_str(), p.seeds.as_slice()))
            .collect();
        assert_eq!(
            runs,
            [
                ("ring8-pacgan-gan", &[0, 1, 2][..]),
                ("ring8-best", &[0, 1, 2][..])
            ]
        );
        // A pending table's preset may be absent, but only there.
        let table = |pending: bool| {
            format!(
                "[[table]]\nid = \"future\"\npending = {pending}\n[[table.preset]]\n\
                 name = \"no-such-preset\"\n[[table.column]]\nkey = \"steps\"\n\
                 title = \"steps\"\nformat = \"integer\"\n"
            )
        };
        let lenient = Manifest::parse(&table(true), "results.toml").unwrap();
        lenient.check_presets(&configs, "results.toml").unwrap();
        let strict = Manifest::parse(&table(false), "results.toml").unwrap();
        let error = format!(
            "{:#}",
            strict.check_presets(&configs, "results.toml").unwrap_err()
        );
        assert!(error.contains("`no-such-preset`"), "{error}");
        assert!(error.contains("pending = true"), "{error}");
    }
}
