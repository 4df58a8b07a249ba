//! `docs/config.md` against the parser: every resolved key has a row, every default is right.

use std::collections::{BTreeMap, BTreeSet};

use burngan_app::TrainConfig;
use toml::{Table, Value};

use crate::support::root;

/// The header every table of the document has.
const HEADER: &str = "| key | type | default | unit / range | meaning |";

/// The sections chosen by a `kind`.
const TAGGED: [&str; 6] = [
    "data",
    "generator",
    "discriminator",
    "loss",
    "penalty",
    "optimizer.generator",
];

/// Keys whose default is not written into the resolved config: they stay absent when not
/// given and are resolved where they are used, from another field (`data.labels` from
/// `data.path`, `eval.samples` from `data.kind`, `eval.classifier` only for image runs). Their
/// default cells are prose; `eval.samples` and `eval.classifier` are checked against the
/// functions that resolve them instead.
/// The optional keys without a default value (`data.limit`, `ema.half_life`, `ema.ramp`,
/// `optimizer.generator.clip`) behave the same way: absent unless given.
const RESOLVED_WHERE_USED: [&str; 7] = [
    "data.labels",
    "data.limit",
    "eval.samples",
    "eval.classifier",
    "ema.half_life",
    "ema.ramp",
    "optimizer.generator.clip",
];

/// A row of one of the document's tables.
#[derive(Debug)]
struct Row {
    /// The dotted key, as written (`optimizer.generator.*` stands for both optimizers).
    key: String,
    /// The `kind`s of the `###` heading the row is under; empty for a whole section.
    kinds: BTreeSet<String>,
    /// The default cell.
    default: String,
    /// The unit / range cell.
    range: String,
    /// The line number in the document, for messages.
    line: usize,
}

impl Row {
    fn covers(&self, kind: Option<&str>) -> bool {
        self.kinds.is_empty() || kind.is_some_and(|k| self.kinds.contains(k))
    }

    fn required(&self) -> bool {
        self.default == "required"
    }

    /// The default cell as a TOML value: exactly one literal in backticks.
    fn default_value(&self) -> Value {
        let literal = self
            .default
            .strip_prefix('`')
            .and_then(|d| d.strip_suffix('`'))
            .filter(|d| !d.contains('`'))
            .unwrap_or_else(|| {
                panic!(
                    "docs/config.md:{}: the default of `{}` must be one TOML literal in \
                     backticks or `required`, got {:?}",
                    self.line, self.key, self.default
                )
            });
        literal_value(literal)
            .unwrap_or_else(|| panic!("docs/config.md:{}: `{literal}` is not TOML", self.line))
    }
}

fn literal_value(literal: &str) -> Option<Value> {
    format!("v = {literal}")
        .parse::<Table>()
        .ok()
        .and_then(|mut table| table.remove("v"))
}

/// The backticked literals of a cell that parse as TOML values.
fn literals(cell: &str) -> Vec<Value> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(literal_value)
        .collect()
}

/// Every table row of docs/config.md; checks that every table has the five columns.
fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    let mut rows = Vec::new();
    let mut kinds = BTreeSet::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.starts_with("## ") {
            kinds.clear();
        } else if let Some(heading) = line.strip_prefix("### ") {
            kinds = heading
                .split("kind = \"")
                .skip(1)
                .filter_map(|rest| rest.split('"').next())
                .map(str::to_string)
                .collect();
        } else if line.starts_with("| key ") {
            assert_eq!(line, HEADER, "docs/config.md:{line_no}: table header");
        } else if line.starts_with("| `") {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            assert!(
                cells.len() == 7 && cells[0].is_empty() && cells[6].is_empty(),
                "docs/config.md:{line_no}: a row needs exactly five cells: {line}"
            );
            let key = cells[1]
                .strip_prefix('`')
                .and_then(|k| k.strip_suffix('`'))
                .filter(|k| !k.contains('`'))
                .unwrap_or_else(|| panic!("docs/config.md:{line_no}: key cell {}", cells[1]));
            rows.push(Row {
                key: key.to_string(),
                kinds: kinds.clone(),
                default: cells[3].to_string(),
                range: cells[4].to_string(),
                line: line_no,
            });
        }
    }
    rows
}

/// The section of a dotted key: `""` for top-level keys, `optimizer.generator` or
/// `optimizer.discriminator` for optimizer keys, the first component otherwise.
fn section_of(key: &str) -> &str {
    for optimizer in ["optimizer.generator", "optimizer.discriminator"] {
        if key.starts_with(&format!("{optimizer}.")) {
            return optimizer;
        }
    }
    key.split_once('.').map_or("", |(section, _)| section)
}

/// The key under which the document lists `key`: the discriminator's optimizer shares the
/// generator's rows.
fn doc_key(key: &str) -> String {
    match key.strip_prefix("optimizer.discriminator.") {
        Some(rest) => format!("optimizer.generator.{rest}"),
        None => key.to_string(),
    }
}

/// Every leaf of `table` by dotted key: tables are followed, arrays and values written as
/// tables are leaves: activations (`{ leaky_relu = 0.2 }`), initialisations
/// (`{ normal = 0.02 }`), schedules (`{ from = 2e-4, … }`) and gradient clipping
/// (`{ norm = 1.0 }`). An array of tables (`[[penalty]]`) is followed
/// into each element under the same prefix.
fn leaves(table: &Table, prefix: &str, out: &mut BTreeMap<String, Value>) {
    for (name, value) in table {
        let key = match prefix {
            "" => name.clone(),
            _ => format!("{prefix}.{name}"),
        };
        let is_value = |inner: &Table| {
            name.ends_with("activation")
                || name == "init"
                || name == "clip"
                || inner.contains_key("from")
        };
        match value {
            Value::Table(inner) if !is_value(inner) => leaves(inner, &key, out),
            Value::Array(items) if items.iter().all(Value::is_table) && !items.is_empty() => {
                for item in items {
                    leaves(item.as_table().expect("checked"), &key, out);
                }
            }
            _ => {
                out.insert(key, value.clone());
            }
        }
    }
}

fn leaves_of(text: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    leaves(&text.parse::<Table>().unwrap(), "", &mut out);
    out
}

/// Parses and validates `text`; returns the config and the leaves of its resolved TOML.
fn resolve(text: &str, origin: &str) -> (TrainConfig, BTreeMap<String, Value>) {
    let config = TrainConfig::from_toml(text, origin)
        .unwrap_or_else(|error| panic!("{origin} does not parse: {error}\n{text}"));
    config
        .validate()
        .unwrap_or_else(|error| panic!("{origin} is not valid: {error}\n{text}"));
    let resolved = leaves_of(&config.to_toml());
    (config, resolved)
}

/// The `kind` of `section` in a resolved config, if the section has one.
fn kind_in<'a>(resolved: &'a BTreeMap<String, Value>, section: &str) -> Option<&'a str> {
    resolved
        .get(&format!("{section}.kind"))
        .and_then(Value::as_str)
}

/// A config as its sections, `(header, body)`, written out as TOML.
struct Sections(Vec<(&'static str, String)>);

impl Sections {
    /// The MINIMAL ring config of `config.rs`'s tests: only what has no default.
    fn toy() -> Self {
        Self(vec![
            ("data", "kind = \"ring\"".into()),
            ("generator", "latent_dim = 2\nhidden = [8]".into()),
            ("discriminator", "hidden = [8]".into()),
            ("loss", "kind = \"minimax\"".into()),
            ("optimizer.generator", "kind = \"adam\"\nlr = 1e-3".into()),
            (
                "optimizer.discriminator",
                "kind = \"rmsprop\"\nlr = 5e-5".into(),
            ),
        ])
    }

    /// The same for images: the shipped digits, a DCGAN pair and the hinge loss.
    fn images(generator: &str, discriminator: &str) -> Self {
        Self::toy()
            .with("data", "kind = \"images\"")
            .with("generator", generator)
            .with("discriminator", discriminator)
            .with("loss", "kind = \"hinge\"")
    }

    /// Replaces (or adds) the body of `section`.
    fn with(mut self, section: &'static str, body: &str) -> Self {
        self.0.retain(|(name, _)| *name != section);
        self.0.push((section, body.to_string()));
        self
    }

    fn text(&self) -> String {
        self.0
            .iter()
            .map(|(name, body)| format!("[{name}]\n{body}\n"))
            .collect()
    }
}

const CONDITIONAL_GENERATOR: &str = "kind = \"conditional-dcgan\"\nnum_classes = 10";
const PROJECTION: &str = "kind = \"projection\"\nnum_classes = 10";

/// The smallest valid config that uses `kind` of `section` (or the section at all, with no
/// `kind`): it gives only keys that have no default, plus the `kind`s that select variants.
fn minimal(section: &str, kind: Option<&str>) -> String {
    let toy = Sections::toy();
    let config = match (section, kind) {
        ("ema", _) => toy.with("ema", "decay = 0.999"),
        ("eval", _) => toy.with("eval", "every = 5"),
        ("augment", _) => {
            Sections::images("kind = \"dcgan\"", "kind = \"dcgan\"").with("augment", "")
        }
        ("penalty", None) => toy.with("penalty", "kind = \"wgan-gp\""),
        (_, None) => toy,
        ("data", Some(kind @ ("ring" | "grid"))) => toy.with("data", &format!("kind = \"{kind}\"")),
        ("data", Some("images")) => Sections::images("kind = \"dcgan\"", "kind = \"dcgan\""),
        ("data", Some("stacked-mnist")) => Sections::images("kind = \"dcgan\"", "kind = \"dcgan\"")
            .with("data", "kind = \"stacked-mnist\""),
        ("generator" | "discriminator", Some("mlp")) => toy,
        ("generator", Some("conditional-dcgan")) | ("discriminator", Some("projection")) => {
            Sections::images(CONDITIONAL_GENERATOR, PROJECTION)
        }
        ("generator", Some(kind @ ("image-mlp" | "dcgan" | "resnet" | "r3gan"))) => {
            Sections::images(&format!("kind = \"{kind}\""), "kind = \"dcgan\"")
        }
        ("discriminator", Some(kind @ ("image-mlp" | "dcgan" | "resnet" | "r3gan"))) => {
            Sections::images("kind = \"dcgan\"", &format!("kind = \"{kind}\""))
        }
        // The unclipped Wasserstein loss needs a Lipschitz constraint from a penalty.
        ("loss", Some("wasserstein")) => toy
            .with("loss", "kind = \"wasserstein\"")
            .with("penalty", "kind = \"wgan-gp\""),
        (
            "loss",
            Some(
                kind @ ("minimax" | "non-saturating" | "wgan" | "hinge" | "lsgan" | "rsgan"
                | "ragan" | "softmax"),
            ),
        ) => toy.with("loss", &format!("kind = \"{kind}\"")),
        ("penalty", Some(kind @ ("wgan-gp" | "r1" | "r2" | "dragan"))) => {
            toy.with("penalty", &format!("kind = \"{kind}\""))
        }
        (
            "optimizer.generator" | "optimizer.discriminator",
            Some(kind @ ("adam" | "adamw" | "rmsprop" | "sgd")),
        ) => {
            let body = format!("kind = \"{kind}\"\nlr = 1e-3");
            toy.with("optimizer.generator", &body)
                .with("optimizer.discriminator", &body)
        }
        (section, Some(kind)) => panic!(
            "[{section}] kind = \"{kind}\" is new: give it a minimal config here and a section \
             in docs/config.md"
        ),
    };
    config.text()
}

/// The kinds of a tagged section, from the parser itself: the error for an unknown kind lists
/// every one it accepts.
fn kinds_of(section: &'static str) -> Vec<String> {
    let text = Sections::toy()
        .with(section, "kind = \"no-such-kind\"")
        .text();
    let message = TrainConfig::from_toml(&text, "probe")
        .expect_err("an unknown kind is refused")
        .to_string();
    let (_, expected) = message
        .rsplit_once("expected")
        .unwrap_or_else(|| panic!("[{section}]: no list of kinds in {message:?}"));
    let kinds: Vec<String> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    assert!(kinds.len() >= 2, "[{section}]: {message}");
    kinds
}

/// Configs that set the optional keys a resolved config leaves out when they are not given.
fn with_optional_keys() -> Vec<(String, String)> {
    let idx = Sections::images("kind = \"dcgan\"", "kind = \"dcgan\"")
        .with(
            "data",
            "kind = \"images\"\npath = \"assets/data/mnist10k-images-idx3-ubyte.gz\"\n\
             labels = \"assets/data/mnist10k-labels-idx1-ubyte.gz\"",
        )
        .with(
            "eval",
            "every = 100\nsamples = 500\nclassifier = \"assets/eval/mnist-classifier.bpk\"",
        );
    let folder = Sections::images(CONDITIONAL_GENERATOR, PROJECTION)
        .with(
            "data",
            "kind = \"images\"\npath = \"data/faces\"\nsize = [32, 32]\nchannels = \"rgb\"",
        )
        .with("ema", "decay = 0.99\nwarmup = false");
    let stacked = Sections::images("kind = \"dcgan\"", "kind = \"dcgan\"").with(
        "data",
        "kind = \"stacked-mnist\"\npath = \"assets/data/mnist10k-images-idx3-ubyte.gz\"\n\
         labels = \"assets/data/mnist10k-labels-idx1-ubyte.gz\"\nlimit = 1000",
    );
    let toy = Sections::toy().with("eval", "every = 5\nsamples = 100\nseed = 3");
    let recipe = Sections::toy()
        .with(
            "optimizer.generator",
            "kind = \"adam\"\nlr = { from = 2e-4, to = 0.0, shape = \"cosine\", warmup = 10 }\n\
             clip = { norm = 1.0 }",
        )
        .with("ema", "half_life = 500\nramp = 0.05")
        .text()
        + "[[penalty]]\nkind = \"r1\"\n[[penalty]]\nkind = \"r2\"\nevery = 4\n";
    vec![
        ("idx images with labels and [eval]".into(), idx.text()),
        ("an image folder".into(), folder.text()),
        ("stacked digits with labels".into(), stacked.text()),
        ("toy [eval] with samples".into(), toy.text()),
        (
            "schedules, clipping, a half-life and two penalties".into(),
            recipe,
        ),
    ]
}

/// Every config the test resolves: the presets, the document's examples, a minimal config per
/// section and `kind`, and configs that set the optional keys.
fn configs() -> Vec<(String, String)> {
    let mut configs = Vec::new();
    let doc = std::fs::read_to_string(root().join("docs/config.md")).unwrap();
    for (index, block) in doc.split("```toml\n").skip(1).enumerate() {
        let example = block.split("```").next().unwrap_or_default();
        configs.push((
            format!("docs/config.md example {}", index + 1),
            example.into(),
        ));
    }
    assert!(!configs.is_empty(), "docs/config.md has no ```toml example");
    let mut presets: Vec<_> = std::fs::read_dir(root().join("assets/configs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    presets.sort();
    assert!(presets.len() >= 10, "{presets:?}");
    for path in presets {
        let text = std::fs::read_to_string(&path).unwrap();
        configs.push((path.display().to_string(), text));
    }
    for section in TAGGED {
        for kind in kinds_of(section) {
            configs.push((
                format!("minimal [{section}] kind = \"{kind}\""),
                minimal(section, Some(&kind)),
            ));
        }
    }
    for section in ["run", "ema", "eval", "augment"] {
        configs.push((format!("minimal [{section}]"), minimal(section, None)));
    }
    configs.extend(with_optional_keys());
    configs
}

#[test]
fn every_key_of_a_resolved_config_is_documented_under_its_section_and_kind() {
    let rows = rows();
    assert!(rows.len() >= 50, "only {} rows", rows.len());
    // The kinds of every tagged section are named in its `kind` row.
    for section in TAGGED {
        let key = format!("{section}.kind");
        let row = rows
            .iter()
            .find(|row| row.key == key && row.kinds.is_empty())
            .unwrap_or_else(|| panic!("docs/config.md has no row `{key}` for all of [{section}]"));
        for kind in kinds_of(section) {
            assert!(
                row.range.contains(&format!("`\"{kind}\"`")),
                "docs/config.md:{}: `{key}` does not list `\"{kind}\"`",
                row.line
            );
        }
    }
    // Every leaf of every resolved config has a row; every row is used by some config.
    let mut used = BTreeSet::new();
    let mut keys = BTreeSet::new();
    for (origin, text) in configs() {
        let (_, resolved) = resolve(&text, &origin);
        for key in resolved.keys() {
            let kind = kind_in(&resolved, section_of(key));
            let found: Vec<usize> = rows
                .iter()
                .enumerate()
                .filter(|(_, row)| row.key == doc_key(key) && row.covers(kind))
                .map(|(index, _)| index)
                .collect();
            assert!(
                !found.is_empty(),
                "{origin}: `{key}` (kind {kind:?}) has no row in docs/config.md"
            );
            assert!(
                found.len() == 1,
                "{origin}: `{key}` (kind {kind:?}) has {} rows in docs/config.md",
                found.len()
            );
            used.insert(found[0]);
            keys.insert(key.clone());
        }
    }
    for (index, row) in rows.iter().enumerate() {
        assert!(
            used.contains(&index),
            "docs/config.md:{}: `{}` (kinds {:?}) is in no resolved config: not a key of the \
             schema",
            row.line,
            row.key,
            row.kinds
        );
    }
    println!(
        "{} distinct keys documented in {} rows",
        keys.len(),
        rows.len()
    );
}

#[test]
fn every_documented_default_is_the_one_the_parser_fills_in() {
    let rows = rows();
    let mut checked = 0;
    for row in &rows {
        let section = section_of(&row.key);
        let kinds: Vec<Option<&str>> = if row.kinds.is_empty() {
            vec![None]
        } else {
            row.kinds.iter().map(|k| Some(k.as_str())).collect()
        };
        for kind in kinds {
            let origin = format!("minimal [{section}] kind {kind:?}");
            let text = minimal(section, kind);
            let given = leaves_of(&text);
            let (_, resolved) = resolve(&text, &origin);
            // The optimizer rows hold for both networks.
            let keys = match row.key.strip_prefix("optimizer.generator.") {
                Some(rest) => vec![row.key.clone(), format!("optimizer.discriminator.{rest}")],
                None => vec![row.key.clone()],
            };
            for key in keys {
                if row.required() {
                    // A required key is given by the minimal config, which fails without it.
                    assert!(given.contains_key(&key), "{origin} does not give `{key}`");
                    let mut table = text.parse::<Table>().unwrap();
                    let path: Vec<&str> = key.split('.').collect();
                    let mut node = &mut table;
                    for part in &path[..path.len() - 1] {
                        node = node.get_mut(*part).and_then(Value::as_table_mut).unwrap();
                    }
                    node.remove(path[path.len() - 1]).unwrap();
                    let without = toml::to_string(&table).unwrap();
                    assert!(
                        TrainConfig::from_toml(&without, &origin).is_err(),
                        "docs/config.md:{}: `{key}` is documented as required, but {origin} \
                         parses without it",
                        row.line
                    );
                    continue;
                }
                assert!(
                    !given.contains_key(&key),
                    "{origin} gives `{key}`, which has a default"
                );
                if RESOLVED_WHERE_USED.contains(&row.key.as_str()) {
                    assert!(
                        !resolved.contains_key(&key),
                        "`{key}` is now written into the resolved config: check its default \
                         like the others"
                    );
                    continue;
                }
                let value = resolved
                    .get(&key)
                    .unwrap_or_else(|| panic!("{origin}: the resolved config has no `{key}`"));
                assert_eq!(
                    value,
                    &row.default_value(),
                    "docs/config.md:{}: the default of `{key}` ({origin})",
                    row.line
                );
                checked += 1;
            }
        }
    }
    // A minimal config gives nothing but required keys and the kinds that select variants.
    for section in TAGGED.into_iter().chain(["run", "ema", "eval"]) {
        let kinds: Vec<Option<String>> = if TAGGED.contains(&section) {
            kinds_of(section).into_iter().map(Some).collect()
        } else {
            vec![None]
        };
        for kind in kinds {
            let text = minimal(section, kind.as_deref());
            let (_, resolved) = resolve(&text, "minimal");
            for key in leaves_of(&text).keys() {
                if key.ends_with(".kind") {
                    continue;
                }
                let kind = kind_in(&resolved, section_of(key));
                let row = rows
                    .iter()
                    .find(|row| row.key == doc_key(key) && row.covers(kind))
                    .unwrap_or_else(|| panic!("`{key}` (kind {kind:?}) has no row"));
                assert!(
                    row.required(),
                    "docs/config.md:{}: `{key}` has a default, but the minimal configs give it \
                     as if required",
                    row.line
                );
            }
        }
    }
    // The defaults resolved where they are used, against the functions that resolve them.
    let samples = rows.iter().find(|r| r.key == "eval.samples").unwrap();
    let classifier = rows.iter().find(|r| r.key == "eval.classifier").unwrap();
    for kind in kinds_of("data") {
        let text = format!("{}[eval]\nevery = 5\n", minimal("data", Some(&kind)));
        let (config, _) = resolve(&text, &format!("[eval] on {kind} data"));
        let eval = config.eval.as_ref().unwrap();
        let value = Value::Integer(eval.samples_for(&config.data) as i64);
        assert!(
            literals(&samples.default).contains(&value),
            "docs/config.md:{}: the default of `eval.samples` for {kind} data is {value}",
            samples.line
        );
        checked += 1;
        if kind == "images" {
            let path = eval.classifier_path().display().to_string();
            assert_eq!(
                literals(&classifier.default),
                [Value::String(path)],
                "docs/config.md:{}: the default of `eval.classifier`",
                classifier.line
            );
            checked += 1;
        }
    }
    println!("{checked} defaults checked against the parser");
    assert!(checked >= 60, "only {checked} defaults checked");
}
