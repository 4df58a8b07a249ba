//! `burngan lab [EXPERIMENT]`: runs the theory lab's experiments, prints each one's table and
//! finding, and appends its section to `DIR/report.md` (figures in `DIR/lab-figures/`, numbers
//! in `DIR/results/`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::anyhow;
use burngan_backend::BackendKind;
use burngan_lab::{Experiment, LabError, LabSettings, run_experiment};

use crate::Failure;

#[derive(clap::Args, Debug)]
pub(crate) struct LabArgs {
    /// The experiment: optimal-discriminator, vanishing-gradients, disjoint-supports,
    /// mode-collapse, dynamics, critic-steps, or all.
    #[arg(value_name = "EXPERIMENT", default_value = "all")]
    experiment: String,
    /// Backend to run on: ndarray, flex, wgpu, vulkan, metal or cuda.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Seeds (independent repetitions) of every configuration.
    #[arg(long, value_name = "N")]
    seeds: Option<usize>,
    /// Output directory; each experiment appends a section to DIR/report.md.
    #[arg(long, value_name = "DIR", default_value = "runs/lab")]
    out: PathBuf,
    /// Reduced sizes (as in the test suite): seconds per experiment, rougher numbers, 2 seeds
    /// unless --seeds is given.
    #[arg(long)]
    quick: bool,
    /// Worker threads for independent runs [default: the number of CPU cores]; the results do
    /// not depend on it.
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
}

impl From<LabError> for Failure {
    fn from(error: LabError) -> Self {
        if error.is_usage_error() {
            Failure::Usage(error.into())
        } else {
            Failure::Run(error.into())
        }
    }
}

pub(crate) fn lab(args: LabArgs) -> Result<(), Failure> {
    let experiments = Experiment::parse_selection(&args.experiment)?;
    let mut settings = if args.quick {
        LabSettings::quick()
    } else {
        LabSettings::default()
    };
    if let Some(seeds) = args.seeds {
        settings.seeds = seeds;
    }
    if let Some(jobs) = args.jobs {
        settings.jobs = jobs;
    }
    settings.validate()?;
    let kind: BackendKind = args.backend.parse()?;
    let device = burngan_backend::device(kind)?;
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Failure::Usage(anyhow!(
            "cannot create output directory {}: {e}; choose a writable --out",
            args.out.display()
        ))
    })?;
    let start = Instant::now();
    for experiment in &experiments {
        eprintln!(
            "running {} on {} ({} seeds, {} threads)…",
            experiment.name(),
            kind.name(),
            settings.seeds,
            settings.jobs
        );
        let outcome = run_experiment(*experiment, &settings, &device, &args.out, kind.name())?;
        println!("{}", outcome.section.plain());
        println!("({:.1} s)\n", outcome.section.seconds);
    }
    println!(
        "report: {} ({} section{} appended in {:.1} s); figures in {}",
        args.out.join(burngan_lab::report::REPORT_FILE).display(),
        experiments.len(),
        if experiments.len() == 1 { "" } else { "s" },
        start.elapsed().as_secs_f64(),
        args.out.join(burngan_lab::report::FIGURES_DIR).display()
    );
    Ok(())
}
