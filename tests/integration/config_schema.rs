//! `docs/config.md` against the config parser: every key a resolved config can contain is
//! documented, every default the parser fills in is the one documented, and every key
//! documented as required is refused when missing.

use std::collections::{BTreeMap, BTreeSet};

use burngan_train::TrainConfig;
use toml::{Table, Value};

use crate::support::root;

/// A documented row: its default cell (the literal values in backticks) and whether the key
/// is required.
#[derive(Debug, Default)]
struct Documented {
    defaults: Vec<Value>,
    required: bool,
}

/// The rows `| `key` | type | default | … |` of docs/config.md, by key.
fn documented() -> BTreeMap<String, Documented> {
    let text = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let mut rows: BTreeMap<String, Documented> = BTreeMap::new();
    for line in text.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // ["", key, type, default, unit, meaning, ""]
        if cells.len() < 6 || !cells[1].starts_with('`') {
            continue;
        }
        let key = cells[1].trim_matches('`').to_string();
        let entry = rows.entry(key).or_default();
        let default = cells[3];
        if default == "required" {
            entry.required = true;
            continue;
        }
        for literal in default.split('`').skip(1).step_by(2) {
            if let Ok(table) = format!("v = {literal}").parse::<Table>() {
                entry.defaults.push(table["v"].clone());
            }
        }
    }
    rows
}

/// The key under which the document lists `key`: the discriminator's optimizer shares the
/// generator's rows.
fn doc_key(key: &str) -> String {
    match key.strip_prefix("optimizer.discriminator.") {
        Some(rest) => format!("optimizer.generator.{rest}"),
        None => key.to_string(),
    }
}

/// Every leaf of `table` by dotted key; activations (a name or `{ leaky_relu = s }`) are
/// leaves.
fn leaves(table: &Table, prefix: &str, out: &mut BTreeMap<String, Value>) {
    for (name, value) in table {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            Value::Table(inner) if !name.ends_with("activation") => leaves(inner, &key, out),
            _ => {
                out.insert(key, value.clone());
            }
        }
    }
}

fn resolved(text: &str, origin: &str) -> BTreeMap<String, Value> {
    let config = TrainConfig::from_toml(text, origin)
        .unwrap_or_else(|e| panic!("{origin} does not parse: {e}"));
    let mut out = BTreeMap::new();
    leaves(&config.to_toml().parse::<Table>().unwrap(), "", &mut out);
    out
}

const OPTIMIZERS: &str = r#"
[optimizer.generator]
kind = "adam"
lr = 1e-3
[optimizer.discriminator]
kind = "rmsprop"
lr = 1e-3
"#;

/// Configs that give only what is required, one per variant of every tagged section.
fn minimal_configs() -> Vec<(String, String)> {
    let toy = |data: &str, loss: &str, extra: &str| {
        format!(
            "[data]\n{data}\n[generator]\nlatent_dim = 2\nhidden = [8]\n[discriminator]\n\
             hidden = [8]\n[loss]\n{loss}\n{extra}\n{OPTIMIZERS}"
        )
    };
    let image = |generator: &str, discriminator: &str| {
        format!(
            "[data]\nkind = \"images\"\n[generator]\n{generator}\n[discriminator]\n\
             {discriminator}\n[loss]\nkind = \"hinge\"\n[eval]\nevery = 10\n{OPTIMIZERS}"
        )
    };
    let mut configs = vec![
        (
            "ring".into(),
            toy("kind = \"ring\"", "kind = \"wgan\"", "[eval]\nevery = 5"),
        ),
        (
            "grid".into(),
            toy(
                "kind = \"grid\"",
                "kind = \"lsgan\"",
                "[ema]\ndecay = 0.9\n[eval]\nevery = 5",
            ),
        ),
        (
            "image-mlp".into(),
            image("kind = \"image-mlp\"", "kind = \"image-mlp\""),
        ),
        (
            "dcgan".into(),
            image("kind = \"dcgan\"", "kind = \"dcgan\""),
        ),
        (
            "conditional".into(),
            image(
                "kind = \"conditional-dcgan\"\nnum_classes = 10",
                "kind = \"projection\"\nnum_classes = 10",
            ),
        ),
    ];
    for penalty in ["wgan-gp", "r1", "r2", "dragan"] {
        configs.push((
            format!("penalty {penalty}"),
            toy(
                "kind = \"ring\"",
                "kind = \"wasserstein\"",
                &format!("[penalty]\nkind = \"{penalty}\""),
            ),
        ));
    }
    for loss in [
        "minimax",
        "non-saturating",
        "hinge",
        "rsgan",
        "ragan",
        "softmax",
    ] {
        configs.push((
            format!("loss {loss}"),
            toy("kind = \"ring\"", &format!("kind = \"{loss}\""), ""),
        ));
    }
    configs
}

#[test]
fn every_key_of_a_resolved_config_is_documented_with_its_default() {
    let doc = documented();
    let mut seen = BTreeSet::new();
    let mut checked_defaults = 0;
    for (origin, text) in minimal_configs() {
        let mut given = BTreeMap::new();
        leaves(&text.parse::<Table>().unwrap(), "", &mut given);
        for (key, value) in resolved(&text, &origin) {
            let row = doc
                .get(&doc_key(&key))
                .unwrap_or_else(|| panic!("{origin}: `{key}` is not in docs/config.md"));
            seen.insert(doc_key(&key));
            if given.contains_key(&key) {
                continue;
            }
            // Filled in by the parser: the value must be one the document gives as default.
            assert!(
                row.defaults.contains(&value),
                "{origin}: `{key}` defaults to {value}, docs/config.md says {:?}",
                row.defaults
            );
            checked_defaults += 1;
        }
    }
    // Every preset resolves to documented keys too (paths, labels, eval settings as written).
    let presets = std::fs::read_dir(root().join("assets/configs")).unwrap();
    for entry in presets {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for key in resolved(&text, &path.display().to_string()).keys() {
            assert!(
                doc.contains_key(&doc_key(key)),
                "{}: `{key}` is not in docs/config.md",
                path.display()
            );
            seen.insert(doc_key(key));
        }
    }
    assert!(
        checked_defaults > 100,
        "only {checked_defaults} defaults checked"
    );
    // Three optional keys stay absent from a resolved config when not given; their defaults
    // are computed where they are used, and checked here against those functions.
    let unseen: Vec<&String> = doc.keys().filter(|k| !seen.contains(*k)).collect();
    assert_eq!(unseen, ["data.labels", "eval.classifier", "eval.samples"]);
    let mut samples = Vec::new();
    for (origin, text) in minimal_configs().into_iter().take(3) {
        let config = TrainConfig::from_toml(&text, &origin).unwrap();
        let eval = config
            .eval
            .expect("the first three minimal configs have [eval]");
        samples.push(Value::Integer(eval.samples_for(&config.data) as i64));
        if origin == "image-mlp" {
            let path = Value::String(eval.classifier_path().display().to_string());
            assert_eq!(doc["eval.classifier"].defaults, [path]);
        }
    }
    assert_eq!(samples[0], Value::Integer(2500), "toy runs");
    assert_eq!(samples[2], Value::Integer(2000), "image runs");
    for value in [&samples[0], &samples[2]] {
        assert!(doc["eval.samples"].defaults.contains(value), "{value}");
    }
}

#[test]
fn every_key_documented_as_required_is_refused_when_missing() {
    let doc = documented();
    let required: Vec<&String> = doc
        .iter()
        .filter(|(_, r)| r.required)
        .map(|(k, _)| k)
        .collect();
    assert!(required.len() >= 10, "{required:?}");
    for key in required {
        // A minimal config that gives the key; removing it must make the file invalid.
        let (origin, text) = minimal_configs()
            .into_iter()
            .find(|(_, text)| {
                let mut given = BTreeMap::new();
                leaves(&text.parse::<Table>().unwrap(), "", &mut given);
                given.keys().any(|k| doc_key(k) == *key)
            })
            .unwrap_or_else(|| panic!("no minimal config gives required `{key}`"));
        let mut table = text.parse::<Table>().unwrap();
        let path: Vec<&str> = key.split('.').collect();
        let mut node = &mut table;
        for part in &path[..path.len() - 1] {
            node = node.get_mut(*part).and_then(Value::as_table_mut).unwrap();
        }
        node.remove(path[path.len() - 1]).unwrap();
        let text = toml::to_string(&table).unwrap();
        let error = TrainConfig::from_toml(&text, &origin)
            .err()
            .unwrap_or_else(|| panic!("{origin} without `{key}` was accepted"));
        let name = path[path.len() - 1];
        let message = error.to_string();
        assert!(
            message.contains(name) || message.contains("missing field"),
            "{origin} without `{key}`: {message}"
        );
    }
}

#[test]
fn a_key_is_documented_as_required_exactly_when_leaving_it_out_is_refused() {
    let doc = documented();
    let mut checked = 0;
    for (origin, text) in minimal_configs() {
        let mut given = BTreeMap::new();
        leaves(&text.parse::<Table>().unwrap(), "", &mut given);
        for key in given.keys() {
            let mut table = text.parse::<Table>().unwrap();
            let path: Vec<&str> = key.split('.').collect();
            let mut node = &mut table;
            for part in &path[..path.len() - 1] {
                node = node.get_mut(*part).and_then(Value::as_table_mut).unwrap();
            }
            node.remove(path[path.len() - 1]).unwrap();
            let accepted = TrainConfig::from_toml(&toml::to_string(&table).unwrap(), &origin);
            let row = &doc[&doc_key(key)];
            match accepted {
                Ok(_) => assert!(
                    !row.defaults.is_empty(),
                    "{origin}: `{key}` may be left out, but docs/config.md gives no default"
                ),
                // Leaving out a network's `kind` selects the MLP, whose own fields are then
                // missing: that refusal is about those fields.
                Err(_)
                    if key.ends_with("generator.kind") || key.ends_with("discriminator.kind") => {}
                Err(e) => assert!(
                    row.required,
                    "{origin}: leaving out `{key}` is refused ({e}), but docs/config.md does not \
                     say it is required"
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}
