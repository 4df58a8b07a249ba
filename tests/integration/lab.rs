//! The theory lab's claims, asserted at the reduced sizes of `LabSettings::quick()` (the
//! tolerances are the issue's, stated beside each assertion), and `burngan lab` itself: the
//! report, its figures and numbers, appending, and bad input.

use burngan_backend::BackendKind;
use burngan_lab::{LabSettings, collapse, disjoint, optimal, starve};

use crate::support::burngan;

fn flex() -> burn::tensor::Device {
    burngan_backend::device(BackendKind::Flex).expect("flex is compiled in")
}

const LN2: f64 = std::f64::consts::LN_2;

#[test]
fn a_trained_discriminator_matches_the_optimal_one_and_v_matches_js() {
    let settings = LabSettings::quick();
    let result = optimal::run(&settings.optimal, 2, 2, &flex()).unwrap();
    // The reference: 2·JS − 2·log 2 by numerical integration (itself checked against SciPy and
    // the closed-form KL in burngan-lab's unit tests).
    assert!(result.optimal_value < 0.0 && result.optimal_value > -2.0 * LN2);
    for seed in &result.seeds {
        // Issue tolerance: max |D − D*| over the bulk < 0.05, |V − (2JS − 2log2)| < 0.05.
        assert!(
            seed.max_error < 0.05,
            "seed {}: max |D − D*| {}",
            seed.seed,
            seed.max_error
        );
        let gap = (seed.value - result.optimal_value).abs();
        assert!(
            gap < 0.05,
            "seed {}: |V − (2JS − 2log2)| = {gap}",
            seed.seed
        );
    }
}

#[test]
fn a_strong_discriminator_starves_the_saturating_loss_only() {
    let settings = LabSettings::quick();
    let result = starve::run(&settings.starve, 2, 2, &flex()).unwrap();
    for points in &result.seeds {
        let first = &points[0];
        let last = points.last().unwrap();
        assert_eq!((first.k, last.k), (0, 1000));
        // Before D is trained D(G(z)) ≈ ½, where both gradients are (1/2)·∇logit: the same
        // order of magnitude.
        let start = first.saturating / first.non_saturating;
        assert!((0.5..2.0).contains(&start), "ratio at k = 0: {start}");
        // Issue tolerance: at k = 1000 the saturating norm is below 1e-2 of the
        // non-saturating one.
        assert!(
            last.saturating < 1e-2 * last.non_saturating,
            "k = 1000: saturating {} vs non-saturating {}",
            last.saturating,
            last.non_saturating
        );
        assert!(
            last.d_fake < 1e-2 && last.d_real > 0.99,
            "D is near-perfect: {last:?}"
        );
    }
}

#[test]
fn js_is_stuck_at_log2_while_w1_falls_linearly() {
    let settings = LabSettings::quick();
    let result = disjoint::run(&settings.disjoint, 1, 2, &flex()).unwrap();
    let js: Vec<f64> = result.points.iter().map(|p| p.js).collect();
    let spread =
        js.iter().copied().fold(f64::MIN, f64::max) - js.iter().copied().fold(f64::MAX, f64::min);
    // Issue tolerance: JS constant to 1e-3 (and equal to log 2: the supports are 50σ apart
    // at the smallest shift).
    assert!(spread < 1e-3, "JS spread {spread}");
    assert!(js.iter().all(|j| (j - LN2).abs() < 1e-3), "{js:?}");
    // Issue tolerance: W1 linear in θ to 1e-2 (largest residual of the least-squares line),
    // and that line is W1 = θ (the closed form for a shift).
    assert!(
        result.w1_max_residual < 1e-2,
        "residual {}",
        result.w1_max_residual
    );
    let (slope, intercept) = result.w1_fit;
    assert!(
        (slope - 1.0).abs() < 1e-2 && intercept.abs() < 1e-2,
        "{slope} θ + {intercept}"
    );
    // The clipped critic's estimate grows with θ (it tracks W1, up to its Lipschitz factor).
    let estimates: Vec<f64> = result.points.iter().map(|p| p.critic[0]).collect();
    assert!(estimates.iter().all(|&e| e > 0.0), "{estimates:?}");
    assert!(
        estimates.last().unwrap() > &(5.0 * estimates[0]),
        "{estimates:?}"
    );
}

#[test]
fn non_saturating_and_wgan_gp_cover_the_ring() {
    let settings = LabSettings::quick();
    assert_eq!(settings.collapse.losses, ["ns", "wgan-gp"]);
    let result = collapse::run(&settings.collapse, 2, 2, &flex()).unwrap();
    for row in &result.rows {
        let (modes, _) = row.modes();
        // Issue tolerance: ≥ 7.5 of 8 ring modes on average over the seeds.
        assert!(
            modes >= 7.5,
            "{} covers {modes} modes on average: {:?}",
            row.loss,
            row.runs
        );
        assert!(row.runs.iter().all(|r| r.modes_total == 8));
    }
}

#[test]
fn the_optimal_discriminator_experiment_agrees_across_backends() {
    // Short training so the comparison isolates the backends' arithmetic: the same seeds give
    // the same weights and batches everywhere, so the numbers differ by rounding only.
    let settings = optimal::OptimalSettings {
        steps: 150,
        eval_samples: 20_000,
        ..LabSettings::quick().optimal
    };
    let results: Vec<(BackendKind, optimal::OptimalResult)> = crate::support::regression_backends()
        .into_iter()
        .map(|(kind, device)| (kind, optimal::run(&settings, 1, 1, &device).unwrap()))
        .collect();
    let (_, reference) = &results[0];
    for (kind, result) in &results[1..] {
        let (a, b) = (&reference.seeds[0], &result.seeds[0]);
        assert!(
            (a.value - b.value).abs() < 1e-4,
            "{kind}: V {} vs {}",
            b.value,
            a.value
        );
        assert!(
            (a.max_error - b.max_error).abs() < 1e-4,
            "{kind}: {} vs {}",
            b.max_error,
            a.max_error
        );
    }
}

#[test]
fn burngan_lab_writes_and_appends_report_sections() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    let out_s = out.to_str().unwrap();
    let args = [
        "lab",
        "optimal-discriminator",
        "--quick",
        "--seeds",
        "1",
        "--out",
        out_s,
    ];
    assert_eq!(burngan(&args), (0, String::new()));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(report.matches("# burngan theory lab").count(), 1);
    assert_eq!(report.matches("## 1. The optimal discriminator").count(), 1);
    assert!(report.contains("![") && report.contains("(lab-figures/optimal-discriminator.png)"));
    let png = std::fs::read(out.join("lab-figures/optimal-discriminator.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("results/optimal-discriminator.json")).unwrap(),
    )
    .unwrap();
    let seeds = json["seeds"].as_array().unwrap();
    assert_eq!(seeds.len(), 1);
    // The report's table shows the same number the JSON holds.
    let max_error = seeds[0]["max_error"].as_f64().unwrap();
    assert!(
        report.contains(&format!("| 0 | {max_error:.4} |")),
        "{report}"
    );

    // A second run appends its section under the same header; the seeded run is reproducible.
    assert_eq!(burngan(&args).0, 0);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(report.matches("# burngan theory lab").count(), 1);
    assert_eq!(report.matches("## 1. The optimal discriminator").count(), 2);
    let again: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.join("results/optimal-discriminator.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(again["seeds"], json["seeds"]);
}

#[test]
fn burngan_lab_rejects_bad_input_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lab");
    let out_s = out.to_str().unwrap();
    let (code, message) = burngan(&["lab", "optimal-discrimnator", "--out", out_s]);
    assert_eq!(code, 2);
    assert!(
        message.contains("optimal-discriminator") && message.contains("critic-steps"),
        "{message}"
    );
    let (code, message) = burngan(&["lab", "dynamics", "--seeds", "0", "--out", out_s]);
    assert_eq!(code, 2);
    assert!(message.contains("--seeds"), "{message}");
    let (code, message) = burngan(&["lab", "dynamics", "--jobs", "0", "--out", out_s]);
    assert_eq!(code, 2);
    assert!(message.contains("--jobs"), "{message}");
    // Nothing was written by the refused commands.
    assert!(!out.exists());
    // An output path that is a file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let (code, message) = burngan(&["lab", "dynamics", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 2, "{message}");
    assert!(message.contains("--out"), "{message}");
}
