//! The theory lab: the textbook claims about GANs run as seeded experiments on any backend,
//! each giving a table, PNG figures and a section of a Markdown report.
//!
//! | experiment | claim |
//! | --- | --- |
//! | [`optimal-discriminator`](optimal) | D* = p_r/(p_r + p_g) and V(D*, G) = 2·JS − 2·log 2 |
//! | [`vanishing-gradients`](starve) | a near-optimal D starves the saturating generator loss, not the non-saturating one |
//! | [`disjoint-supports`](disjoint) | on disjoint supports JS is stuck at log 2 while W1 (and a clipped WGAN critic) follows the distance |
//! | [`mode-collapse`](collapse) | modes covered and sample quality of every loss on ring8 and grid25 (PacGAN protocol) |
//! | [`dynamics`] | in a successful run D(x), D(G(z)) → ½ and V → −2·log 2 |
//! | [`critic-steps`](critic_steps) | the effect of K discriminator steps per generator step |
//!
//! Every random number comes from burngan's host RNG seeded with the experiment's seeds
//! (0, 1, 2, …), so a run is reproducible and gives the same numbers on every backend up to
//! floating-point reduction order. Independent runs (seeds, losses, settings) are spread over
//! [`LabSettings::jobs`] threads; the results do not depend on the thread count.
//!
//! ```no_run
//! use burngan_backend::{BackendKind, device};
//! use burngan_lab::{Experiment, LabSettings, run_experiment};
//!
//! let device = device(BackendKind::Flex).expect("flex is compiled in");
//! let out = std::path::Path::new("runs/lab");
//! let outcome = run_experiment(Experiment::OptimalDiscriminator, &LabSettings::quick(), &device,
//!     out, "flex").expect("the experiment runs");
//! println!("{}", outcome.section.plain());
//! ```

pub mod collapse;
mod common;
pub mod critic_steps;
pub mod density;
pub mod disjoint;
pub mod dynamics;
mod error;
pub mod optimal;
pub mod parallel;
pub mod report;
pub mod sources;
pub mod starve;

use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use serde::Serialize;

pub use error::LabError;
pub use report::{Section, Table};

/// One experiment of the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Experiment {
    /// [`optimal`]: D* and V = 2·JS − 2·log 2.
    OptimalDiscriminator,
    /// [`starve`]: generator gradients under a strong discriminator.
    VanishingGradients,
    /// [`disjoint`]: JS, W1 and a WGAN critic on disjoint supports.
    DisjointSupports,
    /// [`collapse`]: mode coverage of every loss.
    ModeCollapse,
    /// [`dynamics`]: D(x), D(G(z)) and V over a successful run.
    Dynamics,
    /// [`critic_steps`]: K discriminator steps per generator step.
    CriticSteps,
}

impl Experiment {
    /// Every experiment, in report order.
    pub const ALL: [Experiment; 6] = [
        Experiment::OptimalDiscriminator,
        Experiment::VanishingGradients,
        Experiment::DisjointSupports,
        Experiment::ModeCollapse,
        Experiment::Dynamics,
        Experiment::CriticSteps,
    ];

    /// The name used on the command line and for output files.
    pub fn name(self) -> &'static str {
        match self {
            Experiment::OptimalDiscriminator => "optimal-discriminator",
            Experiment::VanishingGradients => "vanishing-gradients",
            Experiment::DisjointSupports => "disjoint-supports",
            Experiment::ModeCollapse => "mode-collapse",
            Experiment::Dynamics => "dynamics",
            Experiment::CriticSteps => "critic-steps",
        }
    }

    /// The experiments a command-line name selects: one, or all of them for `all`.
    pub fn parse_selection(name: &str) -> Result<Vec<Experiment>, LabError> {
        if name == "all" {
            return Ok(Self::ALL.to_vec());
        }
        Self::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .map(|e| vec![e])
            .ok_or_else(|| LabError::UnknownExperiment {
                name: name.to_string(),
            })
    }
}

/// The sizes of every experiment, the number of seeds and the worker threads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabSettings {
    /// Independent repetitions (seeds 0, 1, …) of each configuration.
    pub seeds: usize,
    /// Worker threads for independent runs (results do not depend on it).
    pub jobs: usize,
    /// Experiment 1.
    pub optimal: optimal::OptimalSettings,
    /// Experiment 2.
    pub starve: starve::StarveSettings,
    /// Experiment 3.
    pub disjoint: disjoint::DisjointSettings,
    /// Experiment 4.
    pub collapse: collapse::CollapseSettings,
    /// Experiment 5.
    pub dynamics: dynamics::DynamicsSettings,
    /// Experiment 6.
    pub critic_steps: critic_steps::CriticStepsSettings,
    /// Whether these are the reduced sizes of [`LabSettings::quick`] (recorded in the report's
    /// commands).
    pub quick: bool,
}

impl Default for LabSettings {
    /// The default run: 5 seeds, sizes that finish in minutes on 2 CPU cores.
    fn default() -> Self {
        Self {
            seeds: 5,
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            optimal: optimal::OptimalSettings::default(),
            starve: starve::StarveSettings::default(),
            disjoint: disjoint::DisjointSettings::default(),
            collapse: collapse::CollapseSettings::default(),
            dynamics: dynamics::DynamicsSettings::default(),
            critic_steps: critic_steps::CriticStepsSettings::default(),
            quick: false,
        }
    }
}

impl LabSettings {
    /// Reduced sizes for the test suite and a first look: 2 seeds, fewer updates and shifts in
    /// experiments 1–3, only the non-saturating and WGAN-GP losses on the ring in experiment 4
    /// (the toy runs keep their default networks and steps, below which the ring's modes are
    /// not reliably found).
    pub fn quick() -> Self {
        let default = Self::default();
        Self {
            seeds: 2,
            optimal: optimal::OptimalSettings {
                steps: 1500,
                eval_samples: 50_000,
                ..default.optimal
            },
            starve: starve::StarveSettings::quick(),
            disjoint: disjoint::DisjointSettings::quick(),
            collapse: collapse::CollapseSettings::quick(),
            quick: true,
            ..default
        }
    }

    /// Checks the counts shared by every experiment.
    pub fn validate(&self) -> Result<(), LabError> {
        if self.seeds == 0 {
            return Err(LabError::Settings(
                "--seeds must be at least 1 (5 is the default; the mode-collapse protocol wants \
                 at least 5)"
                    .into(),
            ));
        }
        if self.jobs == 0 {
            return Err(LabError::Settings(
                "--jobs must be at least 1 (the default is the number of CPU cores)".into(),
            ));
        }
        Ok(())
    }
}

/// The seeds of `count` repetitions: 0, 1, …, count − 1.
pub fn seed_list(count: usize) -> Vec<u64> {
    (0..count as u64).collect()
}

/// What one experiment produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report section (also appended to `report.md`).
    pub section: Section,
    /// The experiment's numbers (also written to `results/<name>.json`).
    pub results: serde_json::Value,
}

/// Runs `experiment` with `settings` on `device`, draws its figures into
/// `out/lab-figures/`, appends its section to `out/report.md` (`backend` names the backend in
/// the report) and writes its numbers to `out/results/<name>.json`.
pub fn run_experiment(
    experiment: Experiment,
    settings: &LabSettings,
    device: &Device,
    out: &Path,
    backend: &str,
) -> Result<Outcome, LabError> {
    settings.validate()?;
    let figures = report::figures_dir(out)?;
    let start = Instant::now();
    let (seeds, jobs) = (settings.seeds, settings.jobs);
    let (mut section, results) = match experiment {
        Experiment::OptimalDiscriminator => {
            let r = optimal::run(&settings.optimal, seeds, jobs, device)?;
            (
                optimal::section(&r, &settings.optimal, &figures)?,
                to_json(&r),
            )
        }
        Experiment::VanishingGradients => {
            let r = starve::run(&settings.starve, seeds, jobs, device)?;
            (
                starve::section(&r, &settings.starve, &figures)?,
                to_json(&r),
            )
        }
        Experiment::DisjointSupports => {
            let r = disjoint::run(&settings.disjoint, seeds, jobs, device)?;
            (
                disjoint::section(&r, &settings.disjoint, &figures)?,
                to_json(&r),
            )
        }
        Experiment::ModeCollapse => {
            let r = collapse::run(&settings.collapse, seeds, jobs, device)?;
            (
                collapse::section(&r, &settings.collapse, &figures)?,
                to_json(&r),
            )
        }
        Experiment::Dynamics => {
            let r = dynamics::run(&settings.dynamics, seeds, jobs, device)?;
            (
                dynamics::section(&r, &settings.dynamics, &figures)?,
                to_json(&r),
            )
        }
        Experiment::CriticSteps => {
            let r = critic_steps::run(&settings.critic_steps, seeds, jobs, device)?;
            (
                critic_steps::section(&r, &settings.critic_steps, &figures)?,
                to_json(&r),
            )
        }
    };
    section.seconds = start.elapsed().as_secs_f64();
    section.command = format!(
        "burngan lab {} --backend {backend} --seeds {seeds}{}",
        experiment.name(),
        if settings.quick { " --quick" } else { "" }
    );
    report::append_section(out, backend, experiment.name(), &section, &results)?;
    Ok(Outcome { section, results })
}

/// A result as JSON (`null` if it cannot be represented, e.g. a non-finite map key).
fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}
