//! Writes what `scripts/torch_load_export.py` needs to check an export against PyTorch: for a
//! small DCGAN generator (with trained-looking BatchNorm statistics) and an MLP generator,
//! the safetensors file, a latent batch and Burn's evaluation-mode output on it, the last two
//! as raw little-endian f32.
//!
//! ```text
//! cargo run --release -p burngan-export --example export_for_torch -- /tmp/export
//! python3 scripts/torch_load_export.py /tmp/export/dcgan.safetensors \
//!     --latent /tmp/export/dcgan_latent.f32 --reference /tmp/export/dcgan_burn.f32
//! python3 scripts/torch_load_export.py /tmp/export/mlp.safetensors \
//!     --latent /tmp/export/mlp_latent.f32 --reference /tmp/export/mlp_burn.f32
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Generator, HostRng};
use burngan_export::export_safetensors;
use burngan_models::{DcganGeneratorConfig, MlpGeneratorConfig};

/// Writes `values` as raw little-endian f32 to `path`.
fn write_f32(path: &Path, values: &[f32]) -> Result<(), String> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The row-major values of a float tensor.
fn values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, String> {
    tensor.try_to_vec_as::<f32>().map_err(|e| e.to_string())
}

/// Exports `generator`, then writes a latent batch and its evaluation-mode output next to it
/// as `{stem}_latent.f32` and `{stem}_burn.f32`.
fn export<G, const D: usize>(
    generator: &G,
    dir: &Path,
    stem: &str,
    rng: &mut HostRng,
    plain: &Device,
) -> Result<(), String>
where
    G: Generator<D>,
{
    let summary = export_safetensors(generator, &dir.join(format!("{stem}.safetensors")))
        .map_err(|e| e.to_string())?;
    println!("{summary}");
    let z = rng.normal([5, generator.latent_dim()], plain);
    let output = generator.valid().forward(z.clone());
    println!("  Burn output shape {:?}", output.dims());
    write_f32(&dir.join(format!("{stem}_latent.f32")), &values(z)?)?;
    write_f32(&dir.join(format!("{stem}_burn.f32")), &values(output)?)
}

fn run(dir: &Path) -> Result<(), String> {
    let plain = device(BackendKind::Flex).map_err(|e| e.to_string())?;
    let training = plain.clone().autodiff();
    let mut rng = HostRng::seed_from(7);

    let config = DcganGeneratorConfig {
        latent_dim: 8,
        hidden: 16,
        channels: vec![8, 4],
    };
    let mut dcgan = config
        .init([1, 28, 28], &mut rng, &training)
        .map_err(|e| e.to_string())?;
    // γ and β away from 1 and 0, and running statistics from a few training-mode forwards,
    // so that every BatchNorm tensor matters in evaluation mode.
    for norm in dcgan.dense_norms.iter_mut().chain(&mut dcgan.up_norms) {
        let [n] = norm.gamma.dims();
        let gamma = TensorData::new(rng.uniform_vec(n, 0.5, 1.5), [n]);
        let beta = TensorData::new(rng.uniform_vec(n, -0.5, 0.5), [n]);
        norm.gamma = Param::from_tensor(Tensor::from_data(gamma, &training));
        norm.beta = Param::from_tensor(Tensor::from_data(beta, &training));
    }
    for _ in 0..5 {
        let _ = dcgan.forward(
            rng.normal([32, 8], &training)
                .mul_scalar(2.0)
                .add_scalar(0.5),
        );
    }
    export(&dcgan, dir, "dcgan", &mut rng, &plain)?;

    let mlp = MlpGeneratorConfig::new(2, vec![8, 8])
        .init(2, &mut rng, &plain)
        .map_err(|e| e.to_string())?;
    export(&mlp, dir, "mlp", &mut rng, &plain)
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: export_for_torch <output directory>");
        return ExitCode::FAILURE;
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    match run(&dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
