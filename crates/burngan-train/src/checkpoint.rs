//! Checkpoints: module weights written atomically (a temporary file, then a rename), so a crash
//! mid-write leaves the previous checkpoint intact.

use std::path::Path;

use burn::module::Module;

use crate::TrainError;

/// Writes `module`'s parameters to `path` in Burn's burnpack format, atomically.
pub fn save_module<M: Module>(module: &M, path: &Path) -> Result<(), TrainError> {
    let bytes = module
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| TrainError::Output(format!("cannot serialise {}: {e}", path.display())))?;
    write_atomically(path, &bytes)
}

/// Loads parameters saved by [`save_module`] into `module` (which fixes the architecture).
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, TrainError> {
    if !path.is_file() {
        return Err(TrainError::io(
            "cannot read checkpoint",
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    module.try_load_file(path).map_err(|e| {
        TrainError::Output(format!(
            "checkpoint {} does not fit this model: {e}; load it with the config it was \
             trained with (config.toml in the run directory)",
            path.display()
        ))
    })
}

/// Writes `bytes` to a sibling temporary file, syncs it, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), TrainError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let result = std::fs::File::create(&tmp)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        TrainError::io("cannot write", path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};
    use burngan_core::{Generator, HostRng};
    use burngan_models::MlpGeneratorConfig;

    #[test]
    fn a_saved_module_loads_back_exactly_and_a_wrong_shape_is_an_error() {
        let device = device(BackendKind::Flex).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.bpk");
        let config = MlpGeneratorConfig::new(2, vec![8, 8]);
        let trained = config.init(2, &mut HostRng::seed_from(1), &device).unwrap();
        save_module(&trained, &path).unwrap();
        assert!(!path.with_extension("tmp").exists());
        let fresh = config.init(2, &mut HostRng::seed_from(2), &device).unwrap();
        let loaded = load_module(fresh, &path).unwrap();
        let z = HostRng::seed_from(3).normal([5, 2], &device);
        loaded
            .forward(z.clone())
            .into_data()
            .assert_eq(&trained.forward(z).into_data(), true);

        let other = MlpGeneratorConfig::new(2, vec![4])
            .init(2, &mut HostRng::seed_from(1), &device)
            .unwrap();
        let error = load_module(other, &path).unwrap_err().to_string();
        assert!(error.contains("does not fit this model"), "{error}");
        let missing = load_module(trained, &dir.path().join("none.bpk"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none.bpk"), "{missing}");
    }
}
