//! `burngan eval`: scores a checkpoint's generator in the feature space of the shipped (or a
//! user-trained) feature network, with the two reference rows, and `burngan eval
//! train-classifier`, which trains such a network.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::anyhow;
use burn::tensor::Device;
use burngan_app::{
    AppError, DEFAULT_IMAGES, DataConfig, ImageDataConfig, ImageEvaluator, STACKED_FEATURE_IMAGES,
    TrainConfig, load_image_generator, load_images,
};
use burngan_backend::BackendKind;
use burngan_core::HostRng;
use burngan_data::Channels;
use burngan_eval::{
    ClassifierCard, ClassifierConfig, ClassifierTraining, MNIST_CLASSIFIER, RowScores,
    STACKED_SAMPLES, ScoreSettings, render_table, save_classifier, train_classifier,
};
use burngan_train::write_atomically;

use crate::{Failure, checkpoint_config};

/// Arguments of `burngan eval`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct EvalArgs {
    #[command(subcommand)]
    action: Option<EvalAction>,
    /// A run directory, its checkpoints/ directory or one checkpoint directory.
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Generated images per row [default: 10,000; 26,000 for StackedMNIST, the VEEGAN/PacGAN
    /// protocol].
    #[arg(long, value_name = "N")]
    n: Option<usize>,
    /// Backend to generate and classify on.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
    /// Feature-network weights (its card, the .json of the same name, beside them)
    /// [default: assets/eval/mnist-classifier.bpk].
    #[arg(long, value_name = "FILE.bpk")]
    classifier: Option<PathBuf>,
    /// Score the generator itself, not its moving average, when the run kept one.
    #[arg(long)]
    no_ema: bool,
    /// Seed of the latent noise (and of the KID subsets).
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Neighbourhood size of precision/recall and density/coverage.
    #[arg(long, value_name = "K", default_value_t = 3)]
    k: usize,
    /// KID subsets of up to 1,000 images; 0 (the default) skips KID, whose subset estimates
    /// in this network's unnormalised features scatter more than they separate real from real.
    #[arg(long, value_name = "N", default_value_t = 0)]
    kid_subsets: usize,
    /// The JSON report to write [default: eval.json in the checkpoint directory].
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

#[derive(clap::Subcommand, Debug)]
enum EvalAction {
    /// Train a feature network on labelled images and write its weights and card.
    TrainClassifier(TrainClassifierArgs),
}

#[derive(clap::Args, Debug)]
struct TrainClassifierArgs {
    /// Labelled images: an IDX image file (labels beside it) or a folder with one
    /// sub-folder per class.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_IMAGES)]
    data: PathBuf,
    /// The IDX labels file of --data, when it is not beside the images.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Image size HEIGHTxWIDTH for image folders (IDX files keep their own).
    #[arg(long, value_name = "HxW", default_value = "28x28")]
    size: String,
    /// Colour channels of image folders: grayscale or rgb.
    #[arg(long, value_name = "NAME", default_value = "grayscale")]
    channels: String,
    /// The weights file to write; the card goes beside it (.json).
    #[arg(long, value_name = "FILE.bpk")]
    out: PathBuf,
    /// Replace an existing file at --out.
    #[arg(long)]
    overwrite: bool,
    /// Passes over the training split.
    #[arg(long, value_name = "N", default_value_t = ClassifierTraining::default().epochs)]
    epochs: usize,
    /// Images held out at the end of the set for the accuracy.
    #[arg(long, value_name = "N", default_value_t = ClassifierTraining::default().held_out)]
    held_out: usize,
    /// Seed of the host RNG (weights, order, shifts).
    #[arg(long, value_name = "S", default_value_t = 0)]
    seed: u64,
    /// Backend to train on.
    #[arg(long, value_name = "NAME", default_value = "flex")]
    backend: String,
}

/// Runs `burngan eval` or its sub-command.
pub(crate) fn eval(mut args: EvalArgs) -> Result<(), Failure> {
    if let Some(EvalAction::TrainClassifier(train)) = args.action.take() {
        return train_classifier_command(train);
    }
    let dir = args.checkpoint.clone().ok_or_else(|| {
        Failure::Usage(anyhow!(
            "burngan eval needs --checkpoint DIR (a run directory or checkpoint), or the \
             sub-command train-classifier"
        ))
    })?;
    let kind: BackendKind = args.backend.parse()?;
    let (checkpoint, step, config) = checkpoint_config(&dir)?;
    let classifier = eval_classifier(&args, &dir, &config)?;
    let images = match &config.data {
        DataConfig::Images(images) => images.clone(),
        DataConfig::Toy(_) => unreachable_toy(&dir)?,
    };
    let n = args.n.unwrap_or(if images.is_stacked() {
        STACKED_SAMPLES
    } else {
        10_000
    });
    check_sizes(n, args.k)?;
    let device = burngan_backend::device(kind)?;
    let started = Instant::now();
    let dataset = load_images(&config)?;
    let evaluator = ImageEvaluator::for_data(&classifier, &dataset, &images, args.k, &device)?;
    let warnings = evaluator.data_warnings(&dataset, Path::new(&data_path(&config.data)));
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    let settings = ScoreSettings {
        k: args.k,
        kid_subsets: args.kid_subsets,
        seed: args.seed,
        ..ScoreSettings::default()
    };
    let (ema, rows) = score_rows(
        &args,
        n,
        &config,
        &checkpoint,
        &evaluator,
        &settings,
        &device,
    )?;
    let scored = Scored {
        n,
        kind,
        checkpoint,
        step,
        config,
        classifier,
        evaluator,
        settings,
        ema,
        rows,
        warnings,
        seconds: started.elapsed().as_secs_f64(),
    };
    report_eval(&args, &scored)
}

/// Checks `--n` (the images per row, `n`) and `--k`.
fn check_sizes(n: usize, k: usize) -> Result<(), Failure> {
    if k == 0 {
        return Err(Failure::Usage(anyhow!("--k must be at least 1, got 0")));
    }
    if !(k + 1..=1_000_000).contains(&n) {
        return Err(Failure::Usage(anyhow!(
            "--n must be between k + 1 = {} and 1,000,000, got {n}",
            k + 1
        )));
    }
    Ok(())
}

/// The refusal of a toy run, which [`eval_classifier`] has already refused.
fn unreachable_toy<T>(dir: &Path) -> Result<T, Failure> {
    Err(Failure::Usage(anyhow!(
        "{} is a toy run; burngan eval scores image generators",
        dir.display()
    )))
}

/// The feature network to score with, once the run in `dir` (trained with `config`) is
/// known to be an image run.
fn eval_classifier(args: &EvalArgs, dir: &Path, config: &TrainConfig) -> Result<PathBuf, Failure> {
    if !matches!(config.data, DataConfig::Images(_)) {
        return Err(Failure::Usage(anyhow!(
            "{} is a toy run; its mode coverage is in the run's eval.json and metrics.jsonl \
             (toy runs are scored while training); burngan eval scores image generators",
            dir.display()
        )));
    }
    let classifier = args
        .classifier
        .clone()
        .unwrap_or_else(|| PathBuf::from(MNIST_CLASSIFIER));
    if args.classifier.is_none() && !classifier.is_file() {
        return Err(Failure::Usage(anyhow!(
            "the shipped feature network {MNIST_CLASSIFIER} is not in this directory; run \
             burngan from the repository root or pass --classifier FILE.bpk"
        )));
    }
    Ok(classifier)
}

/// The three rows: held-out real images (the floor), the checkpoint's generator (its moving
/// average unless `--no-ema`; the returned flag says whether that was used) and an untrained
/// generator of the same config (the ceiling).
fn score_rows(
    args: &EvalArgs,
    n: usize,
    config: &TrainConfig,
    checkpoint: &Path,
    evaluator: &ImageEvaluator,
    settings: &ScoreSettings,
    device: &Device,
) -> Result<(bool, Vec<RowScores>), Failure> {
    let generator = load_image_generator(config, checkpoint, !args.no_ema, device)?;
    let ema = !args.no_ema && checkpoint.join(burngan_train::files::EMA).is_file();
    let label = if ema { "generator (EMA)" } else { "generator" };
    let mut untrained_rng = HostRng::seed_from(config.run.seed);
    let shape = match &config.data {
        DataConfig::Images(images) => images.shape(),
        DataConfig::Toy(_) => return Err(Failure::Run(anyhow!("a toy run has no images"))),
    };
    let untrained = config
        .generator
        .init_image(shape, &mut untrained_rng, &device.clone())
        .map_err(|e| Failure::Usage(anyhow!(e)))?
        .ok_or_else(|| {
            Failure::Run(anyhow!(
                "the checkpoint's generator is not an image network"
            ))
        })?;
    let untrained = burn::module::Module::valid(&untrained);
    let rows = vec![
        evaluator.score_held_out(settings)?,
        evaluator.score_generator(label, &generator, n, args.seed, settings)?,
        evaluator.score_generator("untrained", &untrained, n, args.seed, settings)?,
    ];
    Ok((ema, rows))
}

/// A scored checkpoint, as `burngan eval` reports it.
struct Scored {
    /// Generated images per row.
    n: usize,
    kind: BackendKind,
    checkpoint: PathBuf,
    /// The checkpoint's step.
    step: u64,
    /// The config stored with the checkpoint.
    config: TrainConfig,
    /// The feature network's weights file.
    classifier: PathBuf,
    evaluator: ImageEvaluator,
    settings: ScoreSettings,
    /// Whether the generator row scored the moving average.
    ema: bool,
    rows: Vec<RowScores>,
    /// Seconds from loading the data to the last row.
    /// Why the feature network may not describe the run's data (empty when nothing says so).
    warnings: Vec<String>,
    seconds: f64,
}

/// Writes the JSON report (`--out`, or eval.json in the checkpoint directory) and prints the
/// table.
fn report_eval(args: &EvalArgs, scored: &Scored) -> Result<(), Failure> {
    let Scored {
        kind,
        checkpoint,
        step,
        classifier,
        evaluator,
        rows,
        seconds,
        ..
    } = scored;
    let card = evaluator.card();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| checkpoint.join("eval.json"));
    let text = serde_json::to_string_pretty(&eval_json(args, scored))
        .map_err(|e| Failure::Run(anyhow!("cannot encode {}: {e}", out.display())))?;
    write_atomically(&out, (text + "\n").as_bytes())?;
    println!(
        "{} (step {step}) on {kind}: {} generated images per row against {} reference images; \
         feature network {} (held-out accuracy {:.2} %)",
        checkpoint.display(),
        scored.n,
        evaluator.reference_len(),
        classifier.display(),
        100.0 * card.report.held_out_accuracy
    );
    print!("{}", render_table(rows));
    println!(
        "floor: real (held-out) · ceiling: untrained generator · {seconds:.1} s · wrote {}",
        out.display()
    );
    Ok(())
}

/// The JSON report of `scored`.
fn eval_json(args: &EvalArgs, scored: &Scored) -> serde_json::Value {
    let card = scored.evaluator.card();
    serde_json::json!({
        "checkpoint": scored.checkpoint.display().to_string(),
        "step": scored.step,
        "backend": scored.kind.name(),
        "generator": if scored.ema { "ema" } else { "generator" },
        "samples": scored.n,
        "seed": args.seed,
        "settings": scored.settings,
        "classifier": {
            "path": scored.classifier.display().to_string(),
            "sha256": card.sha256,
            "held_out_accuracy": card.report.held_out_accuracy,
        },
        "reference": {
            "data": data_path(&scored.config.data),
            "images": scored.evaluator.reference_len(),
            "split": "a fixed permutation of the run's images (seed EVAL_SPLIT_SEED): first half reference, second half held out",
        },
        "stacked": stacked_protocol(scored),
        "rows": scored.rows,
        "warnings": scored.warnings,
        "seconds": scored.seconds,
    })
}

/// For StackedMNIST, how the rows' `stacked` modes and feature columns were measured; null
/// otherwise.
fn stacked_protocol(scored: &Scored) -> serde_json::Value {
    if !scored.evaluator.is_stacked() {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "protocol": "VEEGAN/PacGAN: each channel classified by the feature network (arg max); modes covered = modes with at least one image; reverse KL = KL(mode histogram || uniform over the 1,000 modes)",
        "samples": scored.n,
        "held_out_samples": STACKED_SAMPLES,
        "feature_columns": format!("the channel digits of the first {} images of each row, against the reference digits", scored.n.min(STACKED_FEATURE_IMAGES)),
    })
}

/// The images a config trains on, for the report.
fn data_path(data: &DataConfig) -> String {
    match data {
        DataConfig::Images(images) => images.path.display().to_string(),
        DataConfig::Toy(_) => String::new(),
    }
}

fn train_classifier_command(args: TrainClassifierArgs) -> Result<(), Failure> {
    let kind: BackendKind = args.backend.parse()?;
    if args.out.exists() && !args.overwrite {
        return Err(Failure::Usage(anyhow!(
            "{} already exists; pass --overwrite to replace it or choose another --out",
            args.out.display()
        )));
    }
    if args.out.is_dir() {
        return Err(Failure::Usage(anyhow!(
            "--out names the weights file (e.g. DIR/classifier.bpk), but {} is a directory",
            args.out.display()
        )));
    }
    let size = parse_size(&args.size)?;
    let channels = match args.channels.as_str() {
        "grayscale" | "gray" | "1" => Channels::Grayscale,
        "rgb" | "3" => Channels::Rgb,
        other => {
            return Err(Failure::Usage(anyhow!(
                "--channels must be grayscale or rgb, got {other:?}"
            )));
        }
    };
    let data = ImageDataConfig {
        path: args.data.clone(),
        labels: args.labels.clone(),
        size,
        channels,
        ..ImageDataConfig::default()
    };
    let dataset = data.load()?;
    let shape = dataset.shape();
    let classes = dataset.num_classes().ok_or_else(|| {
        Failure::Usage(anyhow!(
            "{} has no labels; give --labels FILE (IDX) or a folder with one sub-folder per \
             class",
            args.data.display()
        ))
    })?;
    let config = ClassifierConfig {
        channels: shape[0],
        size: [shape[1], shape[2]],
        classes,
        ..ClassifierConfig::mnist()
    };
    let training = ClassifierTraining {
        epochs: args.epochs,
        held_out: args.held_out,
        seed: args.seed,
        ..ClassifierTraining::default()
    };
    let device = burngan_backend::device(kind)?;
    println!(
        "training a feature network on {} ({} images {:?}, {} classes; the last {} held out) \
         on {kind}",
        args.data.display(),
        dataset.len(),
        shape,
        classes,
        training.held_out
    );
    let started = Instant::now();
    let mut on_epoch = |e: &burngan_eval::EpochReport| {
        println!(
            "epoch {:>2}: mean loss {:.4}, held-out accuracy {:.2} % ({:.0} s)",
            e.epoch,
            e.mean_loss,
            100.0 * e.held_out_accuracy,
            started.elapsed().as_secs_f64()
        );
    };
    let (classifier, report) =
        train_classifier(&dataset, &config, &training, &device, &mut on_epoch)
            .map_err(AppError::from)?;
    let card = ClassifierCard {
        format: burngan_eval::CARD_FORMAT,
        config,
        sha256: String::new(),
        data: args.data.display().to_string(),
        data_sha256: Some(burngan_eval::dataset_sha256(&dataset)),
        backend: kind.name().to_string(),
        report,
    };
    let card = save_classifier(&classifier, &args.out, card).map_err(AppError::from)?;
    println!(
        "held-out accuracy {:.2} % ({} of {} images); wrote {} (SHA-256 {}) and {}",
        100.0 * card.report.held_out_accuracy,
        (card.report.held_out_accuracy * card.report.held_out_images as f64).round(),
        card.report.held_out_images,
        args.out.display(),
        card.sha256,
        burngan_eval::card_path(&args.out).display()
    );
    Ok(())
}

/// `HxW` → `[h, w]`.
fn parse_size(text: &str) -> Result<[usize; 2], Failure> {
    let parsed = text
        .split_once(['x', 'X', '×'])
        .and_then(|(h, w)| Some([h.trim().parse().ok()?, w.trim().parse().ok()?]));
    match parsed {
        Some([h, w]) if h > 0 && w > 0 => Ok([h, w]),
        _ => Err(Failure::Usage(anyhow!(
            "--size must be HEIGHTxWIDTH with positive numbers, e.g. 28x28; got {text:?}"
        ))),
    }
}
