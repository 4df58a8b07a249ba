//! Writes what `scripts/torch_load_export.py` needs to check an export against PyTorch: for a
//! small DCGAN generator (with trained-looking BatchNorm statistics) and an MLP generator,
//! the safetensors file, a latent batch and Burn's evaluation-mode output on it; for spectral-norm
//! critics (a DCGAN critic and an MLP critic under `spectral_convention = "pytorch"`, whose
//! training mode PyTorch reproduces too, and a DCGAN critic under the default burngan
//! convention, exported as its evaluation-mode equivalent), the file, an input batch, Burn's
//! evaluation-mode output and the output of Burn's next training forward (one more
//! power-iteration step per layer). Batches and outputs are raw little-endian f32.
//!
//! ```text
//! cargo run --release -p burngan-export --example export_for_torch -- /tmp/export
//! python3 scripts/torch_load_export.py /tmp/export/dcgan.safetensors \
//!     --latent /tmp/export/dcgan_latent.f32 --reference /tmp/export/dcgan_burn.f32
//! python3 scripts/torch_load_export.py /tmp/export/mlp.safetensors \
//!     --latent /tmp/export/mlp_latent.f32 --reference /tmp/export/mlp_burn.f32
//! python3 scripts/torch_load_export.py /tmp/export/dcgan_critic_sn.safetensors \
//!     --input /tmp/export/dcgan_critic_sn_input.f32 \
//!     --reference /tmp/export/dcgan_critic_sn_burn.f32 \
//!     --train-reference /tmp/export/dcgan_critic_sn_burn_train.f32
//! ```
//!
//! (the same for `mlp_critic_sn`; `dcgan_critic_sn_burngan` has no `_burn_train.f32`, since
//! PyTorch's training mode follows its own convention).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, Generator, HostRng};
use burngan_export::export_safetensors;
use burngan_models::{
    DcganDiscriminatorConfig, DcganGeneratorConfig, MlpDiscriminatorConfig, MlpGeneratorConfig,
    Normalization, SpectralConvention,
};

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

/// Runs three training forwards of `critic` (a module on an autodiff device) so that its
/// spectral-norm vectors move away from their initial values, exports it, then writes an input
/// batch `[5, ..shape]`, Burn's evaluation-mode output on it and, when `train`, the output of
/// the next training forward, as `{stem}_input.f32`, `{stem}_burn.f32`, `{stem}_burn_train.f32`.
fn export_critic<C, const D: usize>(
    critic: &C,
    shape: [usize; D],
    train: bool,
    (dir, stem): (&Path, &str),
    rng: &mut HostRng,
    plain: &Device,
) -> Result<(), String>
where
    C: Discriminator<D>,
{
    let training = plain.clone().autodiff();
    let mut batch = shape;
    batch[0] = 5;
    for _ in 0..3 {
        let _ = critic.forward(rng.normal(batch, &training));
    }
    let summary = export_safetensors(critic, &dir.join(format!("{stem}.safetensors")))
        .map_err(|e| e.to_string())?;
    println!("{summary}");
    let x = rng.normal(batch, plain);
    let eval = critic.valid().forward(x.clone());
    write_f32(&dir.join(format!("{stem}_input.f32")), &values(x.clone())?)?;
    write_f32(&dir.join(format!("{stem}_burn.f32")), &values(eval)?)?;
    if train {
        let x = Tensor::from_data(x.into_data(), &training);
        let output = critic.forward(x);
        write_f32(
            &dir.join(format!("{stem}_burn_train.f32")),
            &values(output)?,
        )?;
    }
    Ok(())
}

/// The spectral-norm critics: DCGAN (8×8 images, convolutions 1→4→8, hidden 16) under both
/// conventions, MLP (3 → 6 → 6 → 1) under the PyTorch convention.
fn export_critics(dir: &Path, rng: &mut HostRng, plain: &Device) -> Result<(), String> {
    let training = plain.clone().autodiff();
    for (convention, stem) in [
        (SpectralConvention::Pytorch, "dcgan_critic_sn"),
        (SpectralConvention::Burngan, "dcgan_critic_sn_burngan"),
    ] {
        let critic = DcganDiscriminatorConfig {
            channels: vec![4, 8],
            hidden: 16,
            ..DcganDiscriminatorConfig::default()
        }
        .with_spectral_norm(true)
        .with_spectral_convention(convention)
        .init([1, 8, 8], rng, &training)
        .map_err(|e| e.to_string())?;
        let train = convention == SpectralConvention::Pytorch;
        export_critic(&critic, [0, 1, 8, 8], train, (dir, stem), rng, plain)?;
    }
    let mlp = MlpDiscriminatorConfig::new(vec![6, 6])
        .with_normalization(Normalization::Spectral)
        .with_spectral_convention(SpectralConvention::Pytorch)
        .init(3, rng, &training)
        .map_err(|e| e.to_string())?;
    export_critic(&mlp, [0, 3], true, (dir, "mlp_critic_sn"), rng, plain)
}

fn run(dir: &Path) -> Result<(), String> {
    let plain = device(BackendKind::Flex).map_err(|e| e.to_string())?;
    let training = plain.clone().autodiff();
    let mut rng = HostRng::seed_from(7);

    let config = DcganGeneratorConfig {
        latent_dim: 8,
        hidden: 16,
        channels: vec![8, 4],
        ..DcganGeneratorConfig::default()
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
    export(&mlp, dir, "mlp", &mut rng, &plain)?;
    export_critics(dir, &mut rng, &plain)
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
