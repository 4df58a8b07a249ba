//! The lab's report: each experiment yields a [`Section`] (claim, setup, table, figures and a
//! paragraph on what was shown), printed as a text table and appended to `DIR/report.md`;
//! figures go to `DIR/lab-figures/`, the numbers to `DIR/results/<experiment>.json`.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::LabError;

/// The folder, inside the output directory, that holds the figures the report links to.
pub const FIGURES_DIR: &str = "lab-figures";
/// The folder, inside the output directory, that holds each experiment's numbers as JSON.
pub const RESULTS_DIR: &str = "results";
/// The report's file name inside the output directory.
pub const REPORT_FILE: &str = "report.md";

/// A table: column headers and rows of already formatted cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Rows, each with one cell per header.
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these headers and no rows.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table in GitHub Markdown.
    pub fn markdown(&self) -> String {
        // A `|` inside a cell (as in |D − D*|) would end the cell: escape it.
        let line = |cells: &[String]| {
            let cells: Vec<String> = cells.iter().map(|c| c.replace('|', "\\|")).collect();
            format!("| {} |", cells.join(" | "))
        };
        let mut out = vec![
            line(&self.headers),
            line(&vec!["---".to_string(); self.headers.len()]),
        ];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }

    /// The table as aligned plain text for the terminal.
    pub fn plain(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|c| {
                std::iter::once(&self.headers[c])
                    .chain(self.rows.iter().filter_map(|r| r.get(c)))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            cells
                .iter()
                .zip(&widths)
                .map(|(cell, &w)| format!("{cell:<w$}"))
                .collect::<Vec<_>>()
                .join("  ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![line(&self.headers)];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }
}

/// One experiment's part of the report.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// The claim being tested, as the explainers state it.
    pub claim: String,
    /// What was run: distributions, networks, optimiser, sizes, seeds.
    pub setup: String,
    /// The numbers.
    pub tables: Vec<Table>,
    /// Figures as (caption, file name inside [`FIGURES_DIR`]).
    pub figures: Vec<(String, String)>,
    /// What the numbers show, with the numbers.
    pub finding: String,
    /// The command that reproduces the section.
    pub command: String,
    /// Wall-clock seconds the experiment took.
    pub seconds: f64,
}

impl Section {
    /// The section as Markdown, figures linked relative to the report.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "## {}\n\n**Claim.** {}\n\n**Setup.** {}\n\n",
            self.title, self.claim, self.setup
        );
        for table in &self.tables {
            out.push_str(&table.markdown());
            out.push_str("\n\n");
        }
        for (caption, file) in &self.figures {
            out.push_str(&format!(
                "![{caption}]({FIGURES_DIR}/{file})\n\n*{caption}*\n\n"
            ));
        }
        out.push_str(&format!("**What this shows.** {}\n\n", self.finding));
        out.push_str(&format!(
            "Reproduce: `{}` ({:.0} s on this run).\n\n",
            self.command, self.seconds
        ));
        out
    }

    /// The section as terminal text: title, tables and the finding.
    pub fn plain(&self) -> String {
        let mut out = format!("== {} ==\n", self.title);
        for table in &self.tables {
            out.push_str(&table.plain());
            out.push_str("\n\n");
        }
        out.push_str(&self.finding);
        out.push('\n');
        out
    }
}

/// The first lines of a new report.
fn report_header(backend: &str) -> String {
    format!(
        "# burngan theory lab\n\n\
         Each section below runs one claim of the GAN explainers as an experiment: the claim, \
         what was run, the measured numbers and figures, and one paragraph on what they show. \
         Everything is seeded from burngan's host RNG, so the same command gives the same numbers \
         (on another backend, the same up to floating-point reduction order). Generated by \
         `burngan lab` on the `{backend}` backend.\n\n"
    )
}

/// Where the figures of the output directory `out` go (created when missing).
pub fn figures_dir(out: &Path) -> Result<PathBuf, LabError> {
    let dir = out.join(FIGURES_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io("cannot create", &dir, e))?;
    Ok(dir)
}

/// Appends `section` to `out/report.md` (starting the report when the file does not exist)
/// and writes `results` to `out/results/<name>.json`.
pub fn append_section(
    out: &Path,
    backend: &str,
    name: &str,
    section: &Section,
    results: &serde_json::Value,
) -> Result<PathBuf, LabError> {
    let results_dir = out.join(RESULTS_DIR);
    std::fs::create_dir_all(&results_dir)
        .map_err(|e| LabError::io("cannot create", &results_dir, e))?;
    let json_path = results_dir.join(format!("{name}.json"));
    let json = serde_json::to_string_pretty(results).unwrap_or_else(|_| "{}".to_string());
    std::fs::write(&json_path, json + "\n")
        .map_err(|e| LabError::io("cannot write", &json_path, e))?;
    let path = out.join(REPORT_FILE);
    let exists = path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| LabError::io("cannot write", &path, e))?;
    let mut text = String::new();
    if !exists {
        text.push_str(&report_header(backend));
    }
    text.push_str(&section.markdown());
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| LabError::io("cannot write", &path, e))?;
    Ok(path)
}

/// `mean ± std` of `values` with `digits` decimals (population standard deviation; a single
/// value prints without ±).
pub fn mean_std(values: &[f64], digits: usize) -> String {
    let (mean, std) = mean_and_std(values);
    if values.len() < 2 {
        format!("{mean:.digits$}")
    } else {
        format!("{mean:.digits$} ± {std:.digits$}")
    }
}

/// The smallest and largest of `values` ((+∞, −∞) when empty).
pub fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// Mean and population standard deviation (0 for fewer than two values; NaN when empty).
pub fn mean_and_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_render_in_markdown_and_plain_text() {
        let mut table = Table::new(&["loss", "modes"]);
        table.row(vec!["ns".into(), "8.0".into()]);
        assert_eq!(
            table.markdown(),
            "| loss | modes |\n| --- | --- |\n| ns | 8.0 |"
        );
        assert_eq!(table.plain(), "loss  modes\nns    8.0");
        let table = Table::new(&["max |D − D*|"]);
        assert_eq!(table.markdown(), "| max \\|D − D*\\| |\n| --- |");
    }

    #[test]
    fn mean_and_population_std() {
        // numpy: np.mean([1,2,3,4]) = 2.5, np.std([1,2,3,4]) = 1.118033988749895
        let (m, s) = mean_and_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - 1.118_033_988_749_895).abs() < 1e-15);
        assert_eq!(mean_std(&[1.0, 2.0, 3.0, 4.0], 2), "2.50 ± 1.12");
        assert_eq!(mean_std(&[7.0], 1), "7.0");
        assert_eq!(min_max(&[3.0, -1.0, 2.0]), (-1.0, 3.0));
    }
}
