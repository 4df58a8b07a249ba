//! The run directory's ledger of training sittings, `sittings.jsonl`: one line per sitting of
//! `burngan train` that ended with its steps kept (finished, stopped by `--stop-at`, or
//! interrupted by Ctrl-C after its checkpoint), `{"from": s₀, "to": s₁, "seconds": t,
//! "backend": "flex"}`. A run resumed over several sittings adds their seconds up for
//! `eval.json`'s `run_train_seconds`; `train_seconds` stays the last sitting's.
//!
//! A resume drops the lines past the checkpoint it continues from, as `metrics.jsonl` drops
//! its later lines. A sitting killed outright writes no line, so the ledger no longer chains
//! from step 0 and the total is left out rather than understated.

use std::path::Path;

use serde_json::{Value, json};

/// The ledger's file name in the run directory.
pub(crate) const FILE: &str = "sittings.jsonl";

/// One sitting: generator steps `from..to`, in `seconds` of training.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sitting {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) seconds: f64,
    pub(crate) backend: String,
}

impl Sitting {
    fn to_line(&self) -> String {
        json!({
            "from": self.from,
            "to": self.to,
            "seconds": self.seconds,
            "backend": self.backend,
        })
        .to_string()
    }

    fn from_line(line: &str) -> Option<Self> {
        let value: Value = serde_json::from_str(line).ok()?;
        Some(Self {
            from: usize::try_from(value["from"].as_u64()?).ok()?,
            to: usize::try_from(value["to"].as_u64()?).ok()?,
            seconds: value["seconds"].as_f64()?,
            backend: value["backend"].as_str()?.to_string(),
        })
    }
}

/// The sittings of `dir` that ended at or before step `resumed_at` (none for a fresh run,
/// `resumed_at` = `None`); unreadable lines are skipped.
pub(crate) fn kept(dir: &Path, resumed_at: Option<usize>) -> Vec<Sitting> {
    let Some(step) = resumed_at else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(dir.join(FILE)).unwrap_or_default();
    text.lines()
        .filter_map(Sitting::from_line)
        .filter(|s| s.to <= step)
        .collect()
}

/// The seconds of `sittings` when they chain from step 0 to `to` (each starting where the one
/// before ended); `None` when a sitting is missing.
pub(crate) fn total_seconds(sittings: &[Sitting], to: usize) -> Option<f64> {
    let mut step = 0;
    let mut seconds = 0.0;
    for sitting in sittings {
        if sitting.from != step {
            return None;
        }
        step = sitting.to;
        seconds += sitting.seconds;
    }
    (step == to).then_some(seconds)
}

/// Writes `sittings` as the ledger of `dir`, replacing it atomically.
pub(crate) fn write(dir: &Path, sittings: &[Sitting]) -> Result<(), burngan_train::TrainError> {
    let text: String = sittings.iter().map(|s| s.to_line() + "\n").collect();
    burngan_train::write_atomically(&dir.join(FILE), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sitting(from: usize, to: usize, seconds: f64) -> Sitting {
        Sitting {
            from,
            to,
            seconds,
            backend: "flex".to_string(),
        }
    }

    #[test]
    fn chained_sittings_add_up_and_a_gap_gives_no_total() {
        let chain = [sitting(0, 250, 10.5), sitting(250, 600, 20.25)];
        assert_eq!(total_seconds(&chain, 600), Some(30.75));
        assert_eq!(total_seconds(&chain, 700), None);
        assert_eq!(total_seconds(&chain[1..], 600), None);
        assert_eq!(total_seconds(&[], 0), Some(0.0));
    }

    #[test]
    fn a_sittings_seconds_survive_the_ledger_bit_for_bit() {
        // Decimals that serde_json's default parser reads one ulp off (`float_roundtrip`
        // reads them exactly): a resumed run's total must equal the sum of its lines.
        for seconds in [0.11801793343883843, 0.09858908599999999, 1234.5678901234567] {
            let line = sitting(0, 4, seconds).to_line();
            let back = Sitting::from_line(&line).unwrap();
            assert_eq!(back.seconds.to_bits(), seconds.to_bits(), "{line}");
        }
    }

    #[test]
    fn a_resume_keeps_the_sittings_up_to_its_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = [sitting(0, 250, 1.5), sitting(250, 500, 2.0)];
        write(dir.path(), &ledger).unwrap();
        let text = std::fs::read_to_string(dir.path().join(FILE)).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"backend":"flex","from":0,"seconds":1.5,"to":250}"#
        );
        assert_eq!(kept(dir.path(), Some(500)), ledger);
        assert_eq!(kept(dir.path(), Some(400)), ledger[..1]);
        assert_eq!(kept(dir.path(), None), []);
        std::fs::write(dir.path().join(FILE), "not json\n").unwrap();
        assert_eq!(kept(dir.path(), Some(500)), []);
    }
}
