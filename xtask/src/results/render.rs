//! The generated blocks of the results page: numbers formatted as mean ± sample standard
//! deviation with the per-seed values, the machine line from the runs' sidecars, the table,
//! and the replacement of the text between a table's two markers.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::bail;

use super::manifest::{Format, Table, metric};
use super::runs::{Sidecar, Sitting};

/// One finished run: its seed, `eval.json` and sidecar (absent for runs made by hand).
#[derive(Debug)]
pub(crate) struct RunResult {
    /// The seed.
    pub seed: u64,
    /// Where the run lives, as named in messages.
    pub dir: String,
    /// Its `eval.json`.
    pub eval: serde_json::Value,
    /// Its `results-run.json`.
    pub sidecar: Option<Sidecar>,
    /// The lines of its `sittings.jsonl` (burngan's ledger of the sittings that trained, those
    /// made by hand included); absent when the run has none.
    pub ledger_sittings: Option<usize>,
}

/// The begin and end markers of table `id`.
pub(crate) fn markers(id: &str) -> (String, String) {
    (
        format!("<!-- results:{id}:begin -->"),
        format!("<!-- results:{id}:end -->"),
    )
}

/// The byte range between table `id`'s markers in `page` (`name` is the page in errors).
pub(crate) fn block_range(page: &str, id: &str, name: &str) -> anyhow::Result<(usize, usize)> {
    let (begin, end) = markers(id);
    let fix = format!("put `{begin}` and `{end}`, each on its own line, where the table belongs");
    let (Some(b), Some(e)) = (page.find(&begin), page.find(&end)) else {
        let missing = if page.contains(&begin) { &end } else { &begin };
        bail!("{name} has no `{missing}` marker; {fix}");
    };
    if page.matches(&begin).count() > 1 || page.matches(&end).count() > 1 {
        bail!("{name} has table `{id}`'s markers more than once; keep one pair");
    }
    if e < b {
        bail!("{name} has `{end}` before `{begin}`; {fix}");
    }
    Ok((b + begin.len(), e))
}

/// `page` with the text between table `id`'s markers replaced by `inner`; every byte outside
/// the markers is kept.
pub(crate) fn replace_block(
    page: &str,
    id: &str,
    inner: &str,
    name: &str,
) -> anyhow::Result<String> {
    let (start, end) = block_range(page, id, name)?;
    Ok(format!("{}{inner}{}", &page[..start], &page[end..]))
}

/// The mean and, for two or more values, the sample standard deviation (n − 1).
pub(crate) fn mean_std(values: &[f64]) -> (f64, Option<f64>) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let std = (values.len() > 1).then(|| {
        let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
        (ss / (n - 1.0)).sqrt()
    });
    (mean, std)
}

/// `n` with a comma between thousands: 10000 → `10,000`.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One value as `format` prints it (a percentage without its ` %`).
fn one(value: f64, format: Format) -> String {
    match format {
        Format::Integer if value >= 0.0 => thousands(value.round() as u64),
        Format::Integer => format!("{value:.0}"),
        Format::Percent => format!("{:.1}", value * 100.0),
        Format::Fixed1 => format!("{value:.1}"),
        Format::Fixed2 => format!("{value:.2}"),
        Format::Fixed3 => format!("{value:.3}"),
        Format::Fixed4 => format!("{value:.4}"),
    }
}

/// A cell: one value, or mean ± sample standard deviation followed by the per-seed values in
/// parentheses. Integers get one decimal in the mean and deviation (grouped in thousands);
/// percentages carry ` %` after the deviation.
pub(crate) fn format_cell(values: &[f64], format: Format) -> String {
    let unit = if format == Format::Percent { " %" } else { "" };
    let (mean, std) = mean_std(values);
    let Some(std) = std else {
        return format!("{}{unit}", one(mean, format));
    };
    let spread = |value: f64| match format {
        Format::Integer => tenths(value),
        _ => one(value, format),
    };
    let each: Vec<String> = values.iter().map(|v| one(*v, format)).collect();
    format!(
        "{} ± {}{unit} ({})",
        spread(mean),
        spread(std),
        each.join(", ")
    )
}

/// A mean or deviation of integers: one decimal, the whole part grouped in thousands as the
/// integers are (1,000.0).
fn tenths(value: f64) -> String {
    if value < 0.0 {
        return format!("{value:.1}");
    }
    let tenths = (value * 10.0).round() as u64;
    format!("{}.{}", thousands(tenths / 10), tenths % 10)
}

/// The wall-time cell: whole seconds, mean ± sample standard deviation over seeds.
pub(crate) fn format_seconds(values: &[f64]) -> String {
    match mean_std(values) {
        (mean, None) => format!("{mean:.0} s"),
        (mean, Some(std)) => format!("{mean:.0} ± {std:.0} s"),
    }
}

/// The seeds cell: `1 (seed 0)` or `3 (0, 1, 2)`.
pub(crate) fn format_seeds(seeds: &[u64]) -> String {
    let list: Vec<String> = seeds.iter().map(u64::to_string).collect();
    match seeds {
        [seed] => format!("1 (seed {seed})"),
        _ => format!("{} ({})", seeds.len(), list.join(", ")),
    }
}

/// The values of column `key` over `runs`, or an error naming the key, the run and the keys
/// its `eval.json` has.
fn column_values(runs: &[RunResult], key: &str, table: &str) -> anyhow::Result<Vec<f64>> {
    runs.iter()
        .map(|run| {
            metric(&run.eval, key).ok_or_else(|| {
                let mut keys: Vec<String> = Vec::new();
                if let Some(object) = run.eval.as_object() {
                    for (name, value) in object {
                        match value.as_object() {
                            Some(inner) if name == "eval" => {
                                keys.extend(inner.keys().map(|k| format!("eval.{k}")));
                            }
                            _ if value.is_number() => keys.push(name.clone()),
                            _ => {}
                        }
                    }
                }
                anyhow::anyhow!(
                    "table `{table}`: metric key `{key}` is not a number in {}/eval.json (it has \
                     {}); fix the key in the manifest",
                    run.dir,
                    keys.join(", ")
                )
            })
        })
        .collect()
}

/// The markdown table: header, published rows, then one row per preset.
pub(crate) fn table_markdown(
    table: &Table,
    rows: &[(String, Vec<RunResult>)],
) -> anyhow::Result<String> {
    let mut titles = vec![table.row_title.clone()];
    titles.extend(table.columns.iter().map(|c| c.title.clone()));
    titles.extend(["seeds", "steps", "wall time"].map(String::from));
    let mut out = format!(
        "| {} |\n|{}\n",
        titles.join(" | "),
        " --- |".repeat(titles.len())
    );
    let dash = || "—".to_string();
    for row in &table.published {
        let mut cells = vec![row.label.clone()];
        cells.extend(row.cells.iter().cloned());
        cells.push(row.seeds.clone().unwrap_or_else(dash));
        cells.push(row.steps.clone().unwrap_or_else(dash));
        cells.push(row.wall.clone().unwrap_or_else(dash));
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    for (preset, runs) in rows {
        let mut cells = vec![format!("`{preset}`")];
        for column in &table.columns {
            cells.push(format_cell(
                &column_values(runs, &column.key, &table.id)?,
                column.format,
            ));
        }
        let seeds: Vec<u64> = runs.iter().map(|r| r.seed).collect();
        cells.push(format_seeds(&seeds));
        let steps: BTreeSet<u64> = runs
            .iter()
            .filter_map(|r| r.eval.get("steps")?.as_u64())
            .collect();
        let steps: Vec<String> = steps.into_iter().map(thousands).collect();
        cells.push(steps.join(" / "));
        cells.push(format_seconds(&wall_seconds(runs, &table.id)?));
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(out)
}

/// Each run's wall time: `run_train_seconds` of eval.json (every sitting's training,
/// `burngan train`'s `sittings.jsonl`) where it has one, else `train_seconds`.
fn wall_seconds(runs: &[RunResult], table: &str) -> anyhow::Result<Vec<f64>> {
    let fallback = column_values(runs, "train_seconds", table)?;
    Ok(runs
        .iter()
        .zip(fallback)
        .map(|(run, last)| metric(&run.eval, "run_train_seconds").unwrap_or(last))
        .collect())
}

/// The machine line: each distinct machine, thread count and backend of the runs' sittings,
/// with the range of load averages at their starts, the commits the tree was at (`-dirty`:
/// with uncommitted changes), whether a prebuilt binary ran, and the dates.
pub(crate) fn machine_line(rows: &[(String, Vec<RunResult>)]) -> String {
    let runs = || rows.iter().flat_map(|(_, runs)| runs);
    let sittings: Vec<&Sitting> = runs()
        .filter_map(|r| r.sidecar.as_ref())
        .flat_map(|s| &s.sittings)
        .filter(|s| s.trained())
        .collect();
    // (machine, load averages, commits, a prebuilt binary ran)
    let mut groups: Vec<(String, Vec<f64>, Vec<String>, bool)> = Vec::new();
    for s in &sittings {
        let avx = if s.avx512 { "AVX-512" } else { "no AVX-512" };
        let key = format!(
            "{}, {} cores, {avx}; `RAYON_NUM_THREADS={}`, backend {}",
            s.cpu, s.cores, s.threads, s.backend
        );
        let index = match groups.iter().position(|g| g.0 == key) {
            Some(index) => index,
            None => {
                groups.push((key, Vec::new(), Vec::new(), false));
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        group.1.push(s.load_average);
        let short = match s.commit.strip_suffix("-dirty") {
            Some(head) => format!("{}-dirty", head.get(..10).unwrap_or(head)),
            None => s.commit.get(..10).unwrap_or(&s.commit).to_string(),
        };
        if !group.2.contains(&short) {
            group.2.push(short);
        }
        group.3 |= s.binary.is_some();
    }
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(key, loads, commits, prebuilt)| {
            let low = loads.iter().copied().fold(f64::INFINITY, f64::min);
            let high = loads.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let load = if low == high {
                format!("{low:.2}")
            } else {
                format!("{low:.2}–{high:.2}")
            };
            let plural = if commits.len() > 1 {
                "commits"
            } else {
                "commit"
            };
            let binary = if *prebuilt {
                "; a prebuilt binary (`BURNGAN_BIN`)"
            } else {
                ""
            };
            format!(
                "{key}; load average at start {load}; {plural} {}{binary}",
                commits.join(", ")
            )
        })
        .collect();
    let unknown = runs().filter(|r| r.sidecar.is_none()).count();
    if unknown > 0 {
        parts.push(format!(
            "{unknown} run(s) without results-run.json (machine unknown)"
        ));
    }
    let dates: BTreeSet<&str> = sittings
        .iter()
        .map(|s| s.date.get(..10).unwrap_or(&s.date))
        .collect();
    let dates: Vec<&str> = dates.into_iter().collect();
    let when = match dates.as_slice() {
        [] => String::new(),
        [one] => format!(" ({one})"),
        [first, .., last] => format!(" ({first} to {last})"),
    };
    format!("Machine{when}: {}.", parts.join(". "))
}

/// The whole generated block of `table` (the text between its markers).
pub(crate) fn block(
    table: &Table,
    rows: &[(String, Vec<RunResult>)],
    (runs_dir, manifest): (&str, &str),
) -> anyhow::Result<String> {
    let mut out = format!(
        "\n\n_Generated by `cargo xtask results --only {}` from the runs in `{runs_dir}/` \
         (manifest `{manifest}`); edits between these markers are overwritten._\n\n",
        table.id
    );
    writeln!(out, "{}\n", machine_line(rows))?;
    out.push_str(&table_markdown(table, rows)?);
    let sources: BTreeSet<&str> = table.published.iter().map(|p| p.source.as_str()).collect();
    out.push('\n');
    for source in sources {
        writeln!(out, "Fixed rows: {source}.\n")?;
    }
    out.push_str(
        "burngan's rows: mean ± sample standard deviation over the seeds, each seed's value in \
         parentheses; wall time is training only (`run_train_seconds` of `eval.json`, or \
         `train_seconds` where a run has no sittings ledger).\n\n",
    );
    for (preset, runs) in rows {
        for run in runs {
            let sittings = run.ledger_sittings.unwrap_or_else(|| {
                let sidecar = run.sidecar.as_ref();
                sidecar.map_or(1, |s| s.sittings.iter().filter(|s| s.trained()).count())
            });
            let whole = if run.eval.get("run_train_seconds").is_some() {
                "the sum of its sittings' (`run_train_seconds`)"
            } else {
                "the last sitting's"
            };
            if sittings > 1 {
                writeln!(
                    out,
                    "`{preset}` seed {} ran in {sittings} sittings (resumed); its wall time is \
                     {whole}.\n",
                    run.seed
                )?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::manifest::Manifest;

    /// `python3 -c "import statistics as s; v=[94.4,93.5,97.0]; print(s.mean(v), s.stdev(v))"`
    /// prints 94.96666666666667 1.8175074506954105.
    #[test]
    fn mean_and_sample_deviation_match_pythons_statistics() {
        let (mean, std) = mean_std(&[94.4, 93.5, 97.0]);
        assert!((mean - 94.966_666_666_666_67).abs() < 1e-12);
        assert!((std.unwrap() - 1.817_507_450_695_410_5).abs() < 1e-12);
        assert_eq!(
            format_cell(&[94.4, 93.5, 97.0], Format::Fixed2),
            "94.97 ± 1.82 (94.40, 93.50, 97.00)"
        );
        assert_eq!(mean_std(&[3.0]), (3.0, None));
    }

    /// Percentages: `python3 -c "import statistics as s; v=[94.4,93.5,97.0]; print('%.1f
    /// %.1f' % (s.mean(v), s.stdev(v)))"` gives 95.0 1.8; integers (24, 21, 24) have mean 23.0
    /// and deviation 1.7 (`s.stdev([24,21,24])` = 1.7320508…).
    #[test]
    fn cells_follow_their_format() {
        assert_eq!(
            format_cell(&[0.944, 0.935, 0.970], Format::Percent),
            "95.0 ± 1.8 % (94.4, 93.5, 97.0)"
        );
        assert_eq!(format_cell(&[0.54], Format::Percent), "54.0 %");
        assert_eq!(
            format_cell(&[24.0, 21.0, 24.0], Format::Integer),
            "23.0 ± 1.7 (24, 21, 24)"
        );
        assert_eq!(format_cell(&[1000.0], Format::Integer), "1,000");
        assert_eq!(
            format_cell(&[1000.0, 1000.0, 1000.0], Format::Integer),
            "1,000.0 ± 0.0 (1,000, 1,000, 1,000)"
        );
        // s.mean([884, 906, 927]) = 905.666…, s.stdev(...) = 21.50…
        assert_eq!(
            format_cell(&[884.0, 906.0, 927.0], Format::Integer),
            "905.7 ± 21.5 (884, 906, 927)"
        );
        assert_eq!(format_cell(&[0.49315827], Format::Fixed4), "0.4932");
        assert_eq!(format_cell(&[131.04], Format::Fixed1), "131.0");
        assert_eq!(format_cell(&[0.078], Format::Fixed3), "0.078");
        // s.mean([200.1, 247.3, 210.2]) = 219.2, s.stdev(...) = 24.85…
        assert_eq!(format_seconds(&[200.1, 247.3, 210.2]), "219 ± 25 s");
        assert_eq!(format_seconds(&[375.4]), "375 s");
        assert_eq!(format_seeds(&[0]), "1 (seed 0)");
        assert_eq!(format_seeds(&[0, 1, 2]), "3 (0, 1, 2)");
        assert_eq!(thousands(400_000), "400,000");
        assert_eq!(thousands(999), "999");
    }

    const PAGE: &str = "# Results\n\nProse *kept*.\n\n<!-- results:a:begin -->\n\n| old |\n\n\
                        <!-- results:a:end -->\n\nMiddle.\n<!-- results:b:begin -->\nB\n\
                        <!-- results:b:end -->\ntail without newline";

    #[test]
    fn replacing_a_block_keeps_every_other_byte() {
        let page = replace_block(PAGE, "a", "\nNEW\n\n", "page.md").unwrap();
        let (begin, end) = markers("a");
        let cut = PAGE.find(&begin).unwrap() + begin.len();
        assert_eq!(&page[..cut], &PAGE[..cut]);
        let rest = &PAGE[PAGE.find(&end).unwrap()..];
        assert!(page.ends_with(rest));
        assert_eq!(page.len(), cut + "\nNEW\n\n".len() + rest.len());
        // Replacing again with the old text gives the page back.
        let old = &PAGE[cut..PAGE.find(&end).unwrap()];
        assert_eq!(replace_block(&page, "a", old, "page.md").unwrap(), PAGE);
    }

    #[test]
    fn missing_repeated_and_reversed_markers_are_named() {
        let error = replace_block(PAGE, "c", "x", "page.md")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("page.md has no `<!-- results:c:begin -->` marker"),
            "{error}"
        );
        let page = PAGE.replace("<!-- results:b:end -->", "");
        let error = replace_block(&page, "b", "x", "page.md")
            .unwrap_err()
            .to_string();
        assert!(error.contains("no `<!-- results:b:end -->`"), "{error}");
        let page = format!("{PAGE}\n<!-- results:a:begin -->\n");
        let error = replace_block(&page, "a", "x", "page.md")
            .unwrap_err()
            .to_string();
        assert!(error.contains("more than once"), "{error}");
        let page = "<!-- results:a:end -->\n<!-- results:a:begin -->\n";
        let error = replace_block(page, "a", "x", "page.md")
            .unwrap_err()
            .to_string();
        assert!(error.contains("before"), "{error}");
    }

    fn table() -> Manifest {
        Manifest::parse(
            r#"
[[table]]
id = "ring8"
[[table.preset]]
name = "ring8-best"
seeds = [0, 1]
[[table.column]]
key = "high_quality_fraction"
title = "high quality"
format = "percent"
[[table.column]]
key = "eval.mode_kl"
title = "reverse KL"
format = "fixed3"
[[table.published]]
label = "PacGAN: GAN"
cells = ["98.2 ± 0.2 %", "0.45 ± 0.09"]
steps = "400,000"
source = "Lin et al. 2018, Table 1"
"#,
            "m.toml",
        )
        .unwrap()
    }

    fn run(seed: u64, hq: f64, kl: f64, seconds: f64) -> RunResult {
        RunResult {
            seed,
            dir: format!("runs/ring8-best/seed-{seed}"),
            eval: serde_json::json!({"steps": 8000, "seed": seed, "train_seconds": seconds,
                "high_quality_fraction": hq, "eval": {"mode_kl": kl}}),
            sidecar: None,
            ledger_sittings: None,
        }
    }

    /// A resumed run's eval.json holds its last sitting (`train_seconds`) and the whole run
    /// (`run_train_seconds`): the whole run is its wall time; a run without the ledger keeps
    /// `train_seconds`. (300 + 240)/2 = 270 s, stdev 60/√2 = 42.4 s.
    #[test]
    fn a_resumed_runs_wall_time_is_every_sittings() {
        let manifest = table();
        let mut resumed = run(0, 0.95, 0.004, 100.0);
        resumed.eval["run_train_seconds"] = serde_json::json!(300.0);
        let rows = vec![(
            "ring8-best".to_string(),
            vec![resumed, run(1, 0.93, 0.002, 240.0)],
        )];
        let text = table_markdown(&manifest.tables[0], &rows).unwrap();
        assert!(text.ends_with("| 270 ± 42 s |\n"), "{text}");
    }

    /// The sittings a note counts are those of burngan's ledger (`sittings.jsonl`, sittings made
    /// by hand included); without one, the sidecar's, less those refused with exit code 2.
    #[test]
    fn a_note_counts_the_sittings_that_trained() {
        let manifest = table();
        let mut by_hand = run(0, 0.95, 0.004, 100.0);
        by_hand.ledger_sittings = Some(3);
        let mut refused_once = run(1, 0.93, 0.002, 240.0);
        let sitting = |exit_code| Sitting {
            command: String::new(),
            commit: "6f910ea".into(),
            date: "2025-12-05T20:00:00Z".into(),
            cpu: "AMD EPYC".into(),
            cores: 2,
            avx512: false,
            load_average: 1.0,
            threads: 1,
            backend: "flex".into(),
            exit_code: Some(exit_code),
            process_seconds: None,
            binary: None,
        };
        refused_once.sidecar = Some(Sidecar {
            preset: "ring8-best".into(),
            seed: 1,
            planned_steps: 8000,
            sittings: vec![sitting(2), sitting(0)],
            preset_text: None,
        });
        let rows = vec![("ring8-best".to_string(), vec![by_hand, refused_once])];
        let block = block(&manifest.tables[0], &rows, ("runs/results", "m.toml")).unwrap();
        assert!(
            block.contains("`ring8-best` seed 0 ran in 3 sittings (resumed)"),
            "{block}"
        );
        assert!(!block.contains("seed 1 ran in"), "{block}");
    }

    /// Means by hand: (0.950 + 0.930)/2 = 94.0 %, stdev = 0.02/√2 = 1.41 %; (0.004 +
    /// 0.002)/2 = 0.003, stdev 0.0014; (200 + 240)/2 = 220 s, stdev 28.3 s.
    #[test]
    fn the_table_has_published_rows_first_then_the_presets() {
        let manifest = table();
        let rows = vec![(
            "ring8-best".to_string(),
            vec![run(0, 0.95, 0.004, 200.0), run(1, 0.93, 0.002, 240.0)],
        )];
        let text = table_markdown(&manifest.tables[0], &rows).unwrap();
        assert_eq!(
            text,
            "| row | high quality | reverse KL | seeds | steps | wall time |\n\
             | --- | --- | --- | --- | --- | --- |\n\
             | PacGAN: GAN | 98.2 ± 0.2 % | 0.45 ± 0.09 | — | 400,000 | — |\n\
             | `ring8-best` | 94.0 ± 1.4 % (95.0, 93.0) | 0.003 ± 0.001 (0.004, 0.002) | 2 (0, 1) | 8,000 | 220 ± 28 s |\n"
        );
        let block = block(&manifest.tables[0], &rows, ("runs/results", "m.toml")).unwrap();
        assert!(
            block.contains("`cargo xtask results --only ring8`"),
            "{block}"
        );
        assert!(
            block.contains("Fixed rows: Lin et al. 2018, Table 1."),
            "{block}"
        );
        assert!(
            block.contains("2 run(s) without results-run.json"),
            "{block}"
        );
    }

    #[test]
    fn an_unknown_metric_key_names_the_key_and_the_run() {
        let manifest = table();
        let mut runs = vec![run(0, 0.95, 0.004, 200.0)];
        runs[0].eval["eval"] = serde_json::json!({"fd": 1.0});
        let rows = vec![("ring8-best".to_string(), runs)];
        let error = table_markdown(&manifest.tables[0], &rows)
            .unwrap_err()
            .to_string();
        assert!(error.contains("metric key `eval.mode_kl`"), "{error}");
        assert!(
            error.contains("runs/ring8-best/seed-0/eval.json"),
            "{error}"
        );
        assert!(error.contains("eval.fd"), "{error}");
    }

    #[test]
    fn the_machine_line_groups_sittings_and_spans_their_load() {
        let sitting = |load: f64, date: &str| Sitting {
            command: String::new(),
            commit: "6f910ea0123456789-dirty".into(),
            date: date.into(),
            cpu: "AMD EPYC".into(),
            cores: 2,
            avx512: false,
            load_average: load,
            threads: 1,
            backend: "flex".into(),
            exit_code: Some(0),
            process_seconds: None,
            binary: None,
        };
        let mut a = run(0, 0.9, 0.1, 1.0);
        a.sidecar = Some(Sidecar {
            preset: "p".into(),
            seed: 0,
            planned_steps: 1,
            preset_text: None,
            sittings: vec![
                sitting(2.25, "2025-12-05T20:00:00Z"),
                Sitting {
                    commit: "4ff25e171e2b".into(),
                    binary: Some("/tmp/burngan".into()),
                    ..sitting(1.5, "2025-12-06T01:00:00Z")
                },
                sitting(2.0, "2025-12-05T21:00:00Z"),
                // Refused as a usage error: it trained nothing and is left out.
                Sitting {
                    commit: "0123456789ab".into(),
                    exit_code: Some(2),
                    ..sitting(9.0, "2025-12-07T01:00:00Z")
                },
            ],
        });
        let line = machine_line(&[("p".into(), vec![a])]);
        assert_eq!(
            line,
            "Machine (2025-12-05 to 2025-12-06): AMD EPYC, 2 cores, no AVX-512; \
             `RAYON_NUM_THREADS=1`, backend flex; load average at start 1.50–2.25; commits \
             6f910ea012-dirty, 4ff25e171e; a prebuilt binary (`BURNGAN_BIN`)."
        );
    }
}
