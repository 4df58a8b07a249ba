//! The reports: a burngan run as JSON ([`BenchReport`]), the PyTorch script's JSON
//! ([`TorchReport`], written by `scripts/pytorch_bench.py`), the ratios between them
//! ([`compare`]), the generated `BENCHMARKS.md` ([`render_markdown`]) and the bar charts
//! ([`write_chart`]).

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use burngan_app::charts::{Bar, BarChart, bar_charts_png};
use serde::{Deserialize, Serialize};

use crate::{BenchError, BenchResult, Workload};

/// One timed workload on one backend, as stored in the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchRecord {
    /// Workload name (`ring8-mlp`, …).
    pub workload: String,
    /// Backend name (`flex`, `wgpu`, …).
    pub backend: String,
    /// Whether the backend runs on the host CPU (compared with PyTorch on the CPU; GPU
    /// backends with PyTorch on CUDA).
    pub on_cpu: bool,
    /// The adapter or CPU implementation behind the backend.
    pub device: String,
    /// Batch size.
    pub batch: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Wall-clock seconds of the timed iterations.
    pub seconds: f64,
    /// Iterations per second.
    pub iterations_per_second: f64,
    /// Model GFLOP of one iteration ([`Workload::flops`]).
    pub gflop_per_iteration: f64,
    /// Achieved model GFLOP/s.
    pub gflops: f64,
    /// Highest resident memory of the process while the workload ran (bytes).
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory when timing started (bytes).
    pub rss_start_bytes: Option<u64>,
    /// Resident memory when timing ended (bytes).
    pub rss_end_bytes: Option<u64>,
}

impl BenchRecord {
    /// The record of `result` on `backend`.
    pub fn new(result: &BenchResult, backend: &str, on_cpu: bool, device: &str) -> Self {
        Self {
            workload: result.workload.name().to_string(),
            backend: backend.to_string(),
            on_cpu,
            device: device.to_string(),
            batch: result.batch,
            iterations: result.iterations,
            seconds: result.seconds,
            iterations_per_second: result.iterations_per_second(),
            gflop_per_iteration: result.workload.flops(result.batch) / 1e9,
            gflops: result.gflops(),
            peak_rss_bytes: result.peak_rss_bytes,
            rss_start_bytes: result.rss_start_bytes,
            rss_end_bytes: result.rss_end_bytes,
        }
    }
}

/// A burngan benchmark run: the machine and one record per workload and backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// burngan's version.
    pub version: String,
    /// CPU model (from `/proc/cpuinfo` where there is one).
    pub cpu: String,
    /// Logical cores available to the process.
    pub cores: usize,
    /// The minimum timed seconds per workload that was asked for.
    pub min_seconds: f64,
    /// When the run ended (seconds since 1970, UTC).
    pub finished_unix: u64,
    /// The records, in run order.
    pub results: Vec<BenchRecord>,
    /// Backends that were asked for but could not run, with the reason.
    #[serde(default)]
    pub skipped: Vec<String>,
}

impl BenchReport {
    /// An empty report for this machine.
    pub fn new(min_seconds: f64) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            cpu: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            min_seconds,
            finished_unix: now_unix(),
            results: Vec::new(),
            skipped: Vec::new(),
        }
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), BenchError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| write_error(path, e))?;
        write_file(path, text.as_bytes())
    }
}

/// One workload of a PyTorch run (`scripts/pytorch_bench.py --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchRecord {
    /// Workload name.
    pub workload: String,
    /// `pytorch-cpu` or `pytorch-cuda`.
    pub backend: String,
    /// Batch size.
    pub batch: usize,
    /// Timed iterations.
    pub iterations: usize,
    /// Timed seconds.
    pub seconds: f64,
    /// Iterations per second.
    pub iterations_per_second: f64,
    /// Peak resident memory of the child process that ran the workload (bytes).
    #[serde(default)]
    pub peak_rss_bytes: Option<u64>,
    /// Peak CUDA memory allocated (bytes), on CUDA only.
    #[serde(default)]
    pub peak_device_bytes: Option<u64>,
}

/// A PyTorch run of the workloads, as `scripts/pytorch_bench.py --json` writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TorchReport {
    /// PyTorch's version.
    pub torch_version: String,
    /// `cpu` or `cuda`.
    pub device: String,
    /// CPU model or GPU name.
    #[serde(default)]
    pub device_name: String,
    /// Intra-op threads (CPU).
    #[serde(default)]
    pub threads: Option<usize>,
    /// The machine's matrix-multiply peak measured by the script (GFLOP/s), if it did.
    #[serde(default)]
    pub matmul_peak_gflops: Option<f64>,
    /// One record per workload.
    pub results: Vec<TorchRecord>,
}

impl TorchReport {
    /// Reads the script's JSON; a missing or malformed file is a usage error naming it.
    pub fn read(path: &Path) -> Result<Self, BenchError> {
        let read_error = |message: String| BenchError::File {
            action: "read",
            path: path.to_path_buf(),
            message,
        };
        let text = fs::read_to_string(path).map_err(|e| {
            read_error(format!(
                "{e}; write it with `python3 scripts/pytorch_bench.py --json {}`",
                path.display()
            ))
        })?;
        let report: TorchReport = serde_json::from_str(&text).map_err(|e| {
            read_error(format!(
                "not a pytorch_bench.py report ({e}); write it again with \
                 `python3 scripts/pytorch_bench.py --json {}`",
                path.display()
            ))
        })?;
        for record in &report.results {
            Workload::from_name(&record.workload).map_err(|e| read_error(e.to_string()))?;
            if !(record.iterations_per_second.is_finite() && record.iterations_per_second > 0.0) {
                return Err(read_error(format!(
                    "{} has iterations_per_second = {}, expected a positive number",
                    record.workload, record.iterations_per_second
                )));
            }
        }
        Ok(report)
    }
}

/// A burngan record beside the PyTorch record of the same workload, batch and device class.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison<'a> {
    /// The burngan record.
    pub ours: &'a BenchRecord,
    /// The matching PyTorch record, if the PyTorch run had one.
    pub torch: Option<&'a TorchRecord>,
}

impl Comparison<'_> {
    /// burngan's iterations/s divided by PyTorch's (> 1: burngan is faster).
    pub fn ratio(&self) -> Option<f64> {
        self.torch
            .map(|t| self.ours.iterations_per_second / t.iterations_per_second)
    }
}

/// Pairs every burngan record with PyTorch's record of the same workload and batch: CPU
/// backends with a `cpu` PyTorch run, GPU backends with a `cuda` one.
pub fn compare<'a>(ours: &'a BenchReport, torch: &'a [TorchReport]) -> Vec<Comparison<'a>> {
    ours.results
        .iter()
        .map(|record| {
            let wanted = if record.on_cpu { "cpu" } else { "cuda" };
            let torch = torch
                .iter()
                .filter(|t| t.device == wanted)
                .flat_map(|t| &t.results)
                .find(|t| t.workload == record.workload && t.batch == record.batch);
            Comparison {
                ours: record,
                torch,
            }
        })
        .collect()
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| {
        format!("{:.0}", b as f64 / (1 << 20) as f64)
    })
}

fn rss_change(record: &BenchRecord) -> String {
    match (record.rss_start_bytes, record.rss_end_bytes) {
        (Some(a), Some(b)) => format!("{:+.1}", (b as f64 - a as f64) / (1 << 20) as f64),
        _ => "–".into(),
    }
}

/// The plain-text table `burngan bench` prints.
pub fn render_text(comparisons: &[Comparison<'_>]) -> String {
    let mut out = format!(
        "{:<15} {:<8} {:>5} {:>9} {:>8} {:>9} {:>9} {:>9} {:>7}\n",
        "workload", "backend", "batch", "it/s", "GFLOP/s", "peak MiB", "iters", "torch", "ratio"
    );
    for c in comparisons {
        let r = c.ours;
        let _ = writeln!(
            out,
            "{:<15} {:<8} {:>5} {:>9.3} {:>8.1} {:>9} {:>9} {:>9} {:>7}",
            r.workload,
            r.backend,
            r.batch,
            r.iterations_per_second,
            r.gflops,
            mib(r.peak_rss_bytes),
            r.iterations,
            c.torch
                .map_or("–".into(), |t| format!("{:.3}", t.iterations_per_second)),
            c.ratio().map_or("–".into(), |x| format!("{x:.2}×")),
        );
    }
    out
}

/// `BENCHMARKS.md`: the machine, the command, the table with ratios, the state of each target
/// and how the figures are made. `invocation` is the command that produced it; `figure` the
/// chart's path relative to the Markdown file.
pub fn render_markdown(
    ours: &BenchReport,
    torch: &[TorchReport],
    invocation: &str,
    figure: Option<&str>,
) -> String {
    let comparisons = compare(ours, torch);
    let peak = torch.iter().find_map(|t| t.matmul_peak_gflops);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Benchmarks\n\n<!-- Generated by `{invocation}`. Do not edit by hand: run the command \
         again. -->\n\nGenerated by `{invocation}` on {} (UTC), from the repository root. Every \
         number below comes from that one run; the raw JSON is in `docs/bench/`.\n",
        utc_date(ours.finished_unix)
    );
    write_machine(&mut md, ours, torch, peak);
    write_results(&mut md, &comparisons, peak);
    let _ = writeln!(md, "\n## Targets\n");
    let _ = writeln!(md, "| target | measured | met |\n| --- | --- | --- |");
    write_cpu_targets(&mut md, &comparisons);
    if let Some(p) = peak {
        write_peak_targets(&mut md, ours, p);
    }
    write_gpu_targets(&mut md, &comparisons);
    if let Some(figure) = figure {
        let _ = writeln!(
            md,
            "\n## Chart\n\n![Achieved GFLOP/s per workload and backend, and the ratio to \
             PyTorch]({figure})"
        );
    }
    write_method(&mut md, ours.min_seconds);
    md
}

/// The "Machine" section: CPU, burngan, the PyTorch runs, the matrix-multiply `peak` and the
/// skipped backends.
fn write_machine(md: &mut String, ours: &BenchReport, torch: &[TorchReport], peak: Option<f64>) {
    let _ = writeln!(md, "## Machine\n");
    let _ = writeln!(
        md,
        "- CPU: {} ({} logical cores)\n- burngan {} (release build)",
        ours.cpu, ours.cores, ours.version
    );
    for t in torch {
        let _ = writeln!(
            md,
            "- PyTorch {} on {} ({}{}), run by `scripts/pytorch_bench.py` in the same sitting",
            t.torch_version,
            t.device,
            t.device_name,
            t.threads
                .map_or(String::new(), |n| format!(", {n} threads"))
        );
    }
    if torch.is_empty() {
        let _ = writeln!(
            md,
            "- PyTorch: not measured in this run (not installed, or `--compare-torch` not given)"
        );
    }
    if let Some(p) = peak {
        let _ = writeln!(
            md,
            "- Matrix-multiply peak (PyTorch, f32, 2048 × 2048, same threads): {p:.1} GFLOP/s"
        );
    }
    for s in &ours.skipped {
        let _ = writeln!(md, "- Skipped: {s}");
    }
}

/// The "Results" section: one table row per burngan record, beside PyTorch's.
fn write_results(md: &mut String, comparisons: &[Comparison<'_>], peak: Option<f64>) {
    let _ = writeln!(
        md,
        "\n## Results\n\nratio = burngan iterations/s ÷ PyTorch iterations/s on the same \
         workload and batch (CPU backends against PyTorch on the CPU, GPU backends against \
         PyTorch CUDA eager); above 1 burngan is faster.\n"
    );
    let _ = writeln!(
        md,
        "| workload | backend | batch | it/s | GFLOP/s | % of matmul peak | peak RSS (MiB) | RSS \
         change while timed (MiB) | PyTorch it/s | PyTorch peak RSS (MiB) | ratio |\n| --- | --- \
         | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for c in comparisons {
        let r = c.ours;
        let of_peak = match peak {
            Some(p) if r.on_cpu => format!("{:.0} %", 100.0 * r.gflops / p),
            _ => "–".into(),
        };
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {:.3} | {:.1} | {} | {} | {} | {} | {} | {} |",
            r.workload,
            r.backend,
            r.batch,
            r.iterations_per_second,
            r.gflops,
            of_peak,
            mib(r.peak_rss_bytes),
            rss_change(r),
            c.torch
                .map_or("–".into(), |t| format!("{:.3}", t.iterations_per_second)),
            mib(c.torch.and_then(|t| t.peak_rss_bytes)),
            c.ratio().map_or("–".into(), |x| format!("**{x:.2}×**")),
        );
    }
}

/// Target rows: the best CPU backend against PyTorch on the CPU, per workload.
fn write_cpu_targets(md: &mut String, comparisons: &[Comparison<'_>]) {
    for workload in Workload::ALL {
        let best = comparisons
            .iter()
            .filter(|c| c.ours.on_cpu && c.ours.workload == workload.name())
            .filter_map(|c| c.ratio().map(|x| (x, c)))
            .max_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((ratio, c)) = best {
            let _ = writeln!(
                md,
                "| best CPU backend ≥ 1.1× PyTorch CPU on `{}` (batch {}) | {ratio:.2}× ({}) | {} |",
                workload.name(),
                c.ours.batch,
                c.ours.backend,
                yes_no(ratio >= 1.1)
            );
        }
    }
}

/// Target rows: the best CPU backend's share of the matrix-multiply peak `p` (GFLOP/s).
fn write_peak_targets(md: &mut String, ours: &BenchReport, p: f64) {
    for workload in [Workload::Ring8Mlp, Workload::MnistDcgan] {
        let best = ours
            .results
            .iter()
            .filter(|r| r.on_cpu && r.workload == workload.name())
            .max_by(|a, b| a.gflops.total_cmp(&b.gflops));
        if let Some(r) = best {
            let share = r.gflops / p;
            let _ = writeln!(
                md,
                "| ≥ 75 % of the matrix-multiply peak on `{}` | {:.0} % ({:.1} of {p:.1} \
                 GFLOP/s, {}) | {} |",
                workload.name(),
                100.0 * share,
                r.gflops,
                r.backend,
                yes_no(share >= 0.75)
            );
        }
    }
}

/// Target rows: every GPU backend against PyTorch CUDA eager, or one row saying that none
/// was measured.
fn write_gpu_targets(md: &mut String, comparisons: &[Comparison<'_>]) {
    for c in comparisons.iter().filter(|c| !c.ours.on_cpu) {
        if let Some(ratio) = c.ratio() {
            let _ = writeln!(
                md,
                "| {} ≥ 1.0× PyTorch CUDA eager on `{}` (batch {}) | {ratio:.2}× | {} |",
                c.ours.backend,
                c.ours.workload,
                c.ours.batch,
                yes_no(ratio >= 1.0)
            );
        }
    }
    if !comparisons
        .iter()
        .any(|c| !c.ours.on_cpu && c.torch.is_some())
    {
        let _ = writeln!(
            md,
            "| GPU backends ≥ 1.0× PyTorch CUDA eager | not measured: no GPU backend with a \
             PyTorch CUDA run in this report | – |"
        );
    }
}

/// The "How the numbers are made" section; `min_seconds` is the timed minimum per workload.
fn write_method(md: &mut String, min_seconds: f64) {
    let _ = writeln!(
        md,
        "\n## How the numbers are made\n\n\
         - Workloads: `shared/bench/WORKLOADS.md` — architectures, losses, optimizers and batch \
         sizes as defined there; one iteration is one `GanTrainer::step` (K critic updates, then \
         one generator update), exactly what `burngan train` runs.\n\
         - Timing: 10 warm-up iterations, then at least {} s and at least 10 iterations; the last \
         iteration reads its losses back to the host, so queued device work is counted. Real data \
         is a fixed batch uniform in [−1, 1] already on the device. burngan draws its noise from \
         the seeded host RNG and uploads it (its determinism guarantee); PyTorch draws it on the \
         device.\n\
         - GFLOP/s: model FLOPs per iteration × iterations/s. FLOPs count the matrix multiplies \
         and convolutions only, a backward pass as twice its forward pass, and 4 forward passes \
         of D for the gradient penalty (`Workload::flops` documents the count).\n\
         - Peak RSS: the process's high-water mark of resident memory, reset before each workload \
         (burngan: `/proc/self/clear_refs`; PyTorch: one child process per workload). The RSS \
         change is resident memory at the end of timing minus at its start.\n\
         - PyTorch runs first, then burngan, one after the other on the same machine: ratios from \
         the same sitting are what to compare, not absolute numbers across machines or days.",
        min_seconds
    );
}

fn yes_no(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

/// Draws the achieved GFLOP/s per workload (one bar per backend, PyTorch included) and, when
/// there are PyTorch figures, the ratio to PyTorch, into a PNG.
pub fn write_chart(
    path: &Path,
    ours: &BenchReport,
    torch: &[TorchReport],
) -> Result<(), BenchError> {
    let comparisons = compare(ours, torch);
    let key = |workload: &str, batch: usize| match Workload::from_name(workload) {
        Ok(w) if w.default_batch() == batch => workload.to_string(),
        _ => format!("{workload} (batch {batch})"),
    };
    let mut categories: Vec<String> = Vec::new();
    for r in &ours.results {
        let k = key(&r.workload, r.batch);
        if !categories.contains(&k) {
            categories.push(k);
        }
    }
    let mut backends: Vec<String> = Vec::new();
    for r in &ours.results {
        if !backends.contains(&r.backend) {
            backends.push(r.backend.clone());
        }
    }
    let bar = |value: f64| Some(Bar { value, error: 0.0 });
    let mut gflops: Vec<(String, Vec<Option<Bar>>)> = backends
        .iter()
        .map(|b| {
            let bars = categories
                .iter()
                .map(|k| {
                    ours.results
                        .iter()
                        .find(|r| &r.backend == b && &key(&r.workload, r.batch) == k)
                        .and_then(|r| bar(r.gflops))
                })
                .collect();
            (b.clone(), bars)
        })
        .collect();
    for t in torch {
        let bars = categories
            .iter()
            .map(|k| {
                t.results
                    .iter()
                    .find(|r| &key(&r.workload, r.batch) == k)
                    .and_then(|r| {
                        let w = Workload::from_name(&r.workload).ok()?;
                        bar(w.flops(r.batch) * r.iterations_per_second / 1e9)
                    })
            })
            .collect();
        gflops.push((format!("PyTorch {}", t.device), bars));
    }
    let top = |series: &[(String, Vec<Option<Bar>>)]| {
        series
            .iter()
            .flat_map(|(_, bars)| bars.iter().flatten().map(|b| b.value))
            .fold(0.0f64, f64::max)
            * 1.15
    };
    let mut charts = vec![BarChart {
        title: "Achieved model GFLOP/s (higher is better)".into(),
        y_label: "GFLOP/s".into(),
        categories: categories.clone(),
        y_max: top(&gflops).max(1e-3),
        series: gflops,
    }];
    if comparisons.iter().any(|c| c.torch.is_some()) {
        let ratios: Vec<(String, Vec<Option<Bar>>)> = backends
            .iter()
            .map(|b| {
                let bars = categories
                    .iter()
                    .map(|k| {
                        comparisons
                            .iter()
                            .find(|c| {
                                &c.ours.backend == b && &key(&c.ours.workload, c.ours.batch) == k
                            })
                            .and_then(|c| c.ratio())
                            .and_then(bar)
                    })
                    .collect();
                (b.clone(), bars)
            })
            .collect();
        charts.push(BarChart {
            title: "burngan iterations/s ÷ PyTorch iterations/s (same sitting)".into(),
            y_label: "ratio".into(),
            categories,
            y_max: top(&ratios).max(1.2),
            series: ratios,
        });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| write_error(path, e))?;
    }
    bar_charts_png(path, &charts, 1100, 420).map_err(|e| write_error(path, e))
}

/// Writes `bytes` to `path` (creating its directory), via a temporary file renamed into place
/// so an interrupted run never leaves half a report.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BenchError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| write_error(path, e))?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    fs::write(&temporary, bytes).map_err(|e| write_error(path, e))?;
    fs::rename(&temporary, path).map_err(|e| write_error(path, e))
}

fn write_error(path: &Path, error: impl std::fmt::Display) -> BenchError {
    BenchError::File {
        action: "write",
        path: path.to_path_buf(),
        message: error.to_string(),
    }
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|rest| rest.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// `YYYY-MM-DD HH:MM` for seconds since 1970 (UTC), by the days-to-civil conversion of the
/// proleptic Gregorian calendar.
pub fn utc_date(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let (hour, minute) = ((unix % 86_400) / 3600, (unix % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(workload: &str, backend: &str, on_cpu: bool, ips: f64) -> BenchRecord {
        let w = Workload::from_name(workload).unwrap();
        BenchRecord {
            workload: workload.into(),
            backend: backend.into(),
            on_cpu,
            device: "test".into(),
            batch: w.default_batch(),
            iterations: 10,
            seconds: 10.0 / ips,
            iterations_per_second: ips,
            gflop_per_iteration: w.flops(w.default_batch()) / 1e9,
            gflops: w.flops(w.default_batch()) * ips / 1e9,
            peak_rss_bytes: Some(100 << 20),
            rss_start_bytes: Some(90 << 20),
            rss_end_bytes: Some(91 << 20),
        }
    }

    fn torch(device: &str, workload: &str, ips: f64) -> TorchReport {
        TorchReport {
            torch_version: "2.15".into(),
            device: device.into(),
            device_name: "x".into(),
            threads: Some(2),
            matmul_peak_gflops: Some(100.0),
            results: vec![TorchRecord {
                workload: workload.into(),
                backend: format!("pytorch-{device}"),
                batch: Workload::from_name(workload).unwrap().default_batch(),
                iterations: 10,
                seconds: 1.0,
                iterations_per_second: ips,
                peak_rss_bytes: None,
                peak_device_bytes: None,
            }],
        }
    }

    /// CPU backends are paired with the CPU run only, GPU backends with the CUDA run only,
    /// and the ratio is ours ÷ theirs.
    #[test]
    fn ratios_pair_cpu_with_cpu_and_gpu_with_cuda() {
        let mut ours = BenchReport::new(10.0);
        ours.results = vec![
            record("ring8-mlp", "flex", true, 44.0),
            record("ring8-mlp", "wgpu", false, 300.0),
            record("mnist-mlp", "flex", true, 10.0),
        ];
        let runs = [
            torch("cpu", "ring8-mlp", 40.0),
            torch("cuda", "ring8-mlp", 200.0),
        ];
        let c = compare(&ours, &runs);
        assert_eq!(c[0].torch.unwrap().backend, "pytorch-cpu");
        assert!((c[0].ratio().unwrap() - 1.1).abs() < 1e-12);
        assert_eq!(c[1].torch.unwrap().backend, "pytorch-cuda");
        assert!((c[1].ratio().unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(c[2].ratio(), None);

        let md = render_markdown(&ours, &runs, "cargo xtask bench --compare-torch", None);
        assert!(md.contains("| `ring8-mlp` | flex | 512 | 44.000 |"), "{md}");
        assert!(md.contains("**1.10×**") && md.contains("**1.50×**"));
        // 1.756 GFLOP × 44 it/s = 77.3 GFLOP/s = 77 % of the 100 GFLOP/s peak.
        assert!(md.contains("| 77.3 | 77 % |"), "{md}");
        assert!(md.contains(
            "best CPU backend ≥ 1.1× PyTorch CPU on `ring8-mlp` (batch 512) | 1.10× (flex) | yes"
        ));
        assert!(
            md.contains("wgpu ≥ 1.0× PyTorch CUDA eager on `ring8-mlp` (batch 512) | 1.50× | yes")
        );
        assert!(md.contains("| +1.0 |"), "RSS change 90 → 91 MiB: {md}");
    }

    /// Known dates (from `date -u -d @SECONDS`).
    #[test]
    fn utc_dates_match_the_calendar() {
        assert_eq!(utc_date(0), "1970-01-01 00:00");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00");
        assert_eq!(utc_date(1_795_350_000), "2026-11-22 12:20");
    }

    #[test]
    fn a_malformed_torch_report_is_a_read_error_naming_the_file() {
        let dir = std::env::temp_dir().join(format!("burngan-bench-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("torch.json");
        fs::write(&path, "{\"results\": 3}").unwrap();
        let error = TorchReport::read(&path).unwrap_err();
        assert!(error.is_usage_error());
        assert!(error.to_string().contains("torch.json"), "{error}");
        let error = TorchReport::read(&dir.join("missing.json")).unwrap_err();
        assert!(error.to_string().contains("pytorch_bench.py"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
