//! Exports burngan's generators (and a few hand-made modules) and reads the files back with
//! the `safetensors` crate: names, shapes, dtypes and values must be the module's, in
//! PyTorch's conventions.

use std::collections::HashMap;

use crate::{
    Dtype, ExportError, TensorKind, Values, export_safetensors, pytorch_tensors,
    to_safetensors_bytes,
};
use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Generator, HostRng};
use burngan_models::{DcganGenerator, DcganGeneratorConfig, MlpGeneratorConfig};
use safetensors::SafeTensors;

fn flex() -> Device {
    device(BackendKind::Flex).expect("flex is enabled for the tests")
}

/// The row-major values of a float tensor.
fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// `[rows, cols]` row-major → `[cols, rows]` row-major.
fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// The f32 values of the tensor `name` in a safetensors file, checking dtype and shape.
fn read_f32(file: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Vec<f32> {
    let view = file.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    assert_eq!(view.shape(), shape, "{name}");
    view.data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The names and shapes of a file, in name order.
fn names_and_shapes(file: &SafeTensors<'_>) -> Vec<(String, Vec<usize>)> {
    let mut tensors: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    tensors.sort();
    tensors
}

fn metadata(bytes: &[u8]) -> HashMap<String, String> {
    let (_, metadata) = SafeTensors::read_metadata(bytes).unwrap();
    metadata.metadata().clone().unwrap().into_iter().collect()
}

#[test]
fn mlp_generator_is_written_with_transposed_linear_weights() {
    let device = flex();
    let generator = MlpGeneratorConfig::new(2, vec![8, 8])
        .init(2, &mut HostRng::seed_from(1), &device)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mlp.safetensors");
    let summary = export_safetensors(&generator, &path).unwrap();

    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let expected: Vec<(String, Vec<usize>)> = [
        ("layers.0.bias", vec![8]),
        ("layers.0.weight", vec![8, 2]),
        ("layers.1.bias", vec![8]),
        ("layers.1.weight", vec![8, 8]),
        ("layers.2.bias", vec![2]),
        ("layers.2.weight", vec![2, 8]),
    ]
    .into_iter()
    .map(|(n, s)| (n.to_string(), s))
    .collect();
    assert_eq!(names_and_shapes(&file), expected);

    for (i, layer) in generator.layers.iter().enumerate() {
        let [d_in, d_out] = layer.weight.dims();
        let burn_weight = values(layer.weight.val());
        let written = read_f32(&file, &format!("layers.{i}.weight"), &[d_out, d_in]);
        assert_eq!(
            written,
            transposed(&burn_weight, d_in, d_out),
            "layers.{i}.weight"
        );
        let burn_bias = values(layer.bias.as_ref().unwrap().val());
        assert_eq!(
            read_f32(&file, &format!("layers.{i}.bias"), &[d_out]),
            burn_bias
        );
    }
    // Spot check of the layout: PyTorch's weight[o][i] is Burn's weight[i][o].
    let burn = values(generator.layers[0].weight.val()); // [2, 8]
    let written = read_f32(&file, "layers.0.weight", &[8, 2]);
    assert_eq!(written[3 * 2 + 1], burn[8 + 3]);

    assert_eq!(
        metadata(&bytes),
        HashMap::from([
            ("format".to_string(), "pt".to_string()),
            ("producer".to_string(), "burngan".to_string()),
        ])
    );
    assert_eq!(summary.path, path);
    assert_eq!(summary.bytes, bytes.len() as u64);
    assert_eq!(summary.num_parameters, 2 * 8 + 8 + 8 * 8 + 8 + 8 * 2 + 2);
    assert!(summary.skipped.is_empty());
    let summary_names: Vec<(String, Vec<usize>)> = summary
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone()))
        .collect();
    assert_eq!(summary_names, expected);
    assert!(summary.tensors.iter().all(|t| t.dtype == Dtype::F32));
    assert!(
        summary
            .tensors
            .iter()
            .all(|t| t.kind == TensorKind::Parameter)
    );
    // The in-memory encoding is the file, byte for byte, and does not vary between calls.
    assert_eq!(to_safetensors_bytes(&generator).unwrap(), bytes);
    assert_eq!(to_safetensors_bytes(&generator).unwrap(), bytes);
}

/// A DCGAN generator with non-trivial BatchNorm γ, β and running statistics: γ and β drawn
/// from the host RNG, statistics from `steps` training-mode forwards on an autodiff device.
fn trained_dcgan(steps: usize) -> DcganGenerator {
    let device = flex().autodiff();
    let mut rng = HostRng::seed_from(1);
    let config = DcganGeneratorConfig {
        latent_dim: 8,
        hidden: 16,
        channels: vec![8, 4],
        ..DcganGeneratorConfig::default()
    };
    let mut generator = config.init([1, 28, 28], &mut rng, &device).unwrap();
    for norm in generator
        .dense_norms
        .iter_mut()
        .chain(&mut generator.up_norms)
    {
        let [n] = norm.gamma.dims();
        let gamma = rng.uniform_vec(n, 0.5, 1.5);
        let beta = rng.uniform_vec(n, -0.5, 0.5);
        norm.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [n]), &device));
        norm.beta = Param::from_tensor(Tensor::from_data(TensorData::new(beta, [n]), &device));
    }
    for _ in 0..steps {
        let _ = generator.forward(rng.normal([16, 8], &device));
    }
    generator
}

#[test]
fn dcgan_generator_is_written_with_pytorch_names_and_batch_norm_buffers() {
    let generator = trained_dcgan(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dcgan.safetensors");
    let summary = export_safetensors(&generator, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();

    let first = 8 * 7 * 7; // channels[0] × (28 / 2²)²
    let mut expected: Vec<(String, Vec<usize>)> = vec![
        ("dense.0.linear.weight".into(), vec![16, 8]),
        ("dense.0.linear.bias".into(), vec![16]),
        ("dense.1.linear.weight".into(), vec![first, 16]),
        ("dense.1.linear.bias".into(), vec![first]),
        ("ups.0.weight".into(), vec![8, 4, 4, 4]),
        ("ups.0.bias".into(), vec![4]),
        ("ups.1.weight".into(), vec![4, 1, 4, 4]),
        ("ups.1.bias".into(), vec![1]),
    ];
    for (prefix, n) in [
        ("dense_norms.0", 16),
        ("dense_norms.1", first),
        ("up_norms.0", 4),
    ] {
        for field in ["weight", "bias", "running_mean", "running_var"] {
            expected.push((format!("{prefix}.{field}"), vec![n]));
        }
        expected.push((format!("{prefix}.num_batches_tracked"), vec![]));
    }
    expected.sort();
    assert_eq!(names_and_shapes(&file), expected);

    // Linear weights transposed, biases as they are.
    for (i, dense) in generator.dense.iter().enumerate() {
        let [d_in, d_out] = dense.linear.weight.dims();
        let name = format!("dense.{i}.linear.weight");
        let burn = values(dense.linear.weight.val());
        assert_eq!(
            read_f32(&file, &name, &[d_out, d_in]),
            transposed(&burn, d_in, d_out)
        );
        let bias = values(dense.linear.bias.as_ref().unwrap().val());
        assert_eq!(
            read_f32(&file, &format!("dense.{i}.linear.bias"), &[d_out]),
            bias
        );
    }
    // Transposed-convolution kernels as they are: Burn's [c_in, c_out, k, k] is PyTorch's.
    for (i, up) in generator.ups.iter().enumerate() {
        let dims = up.weight.dims().to_vec();
        assert_eq!(
            read_f32(&file, &format!("ups.{i}.weight"), &dims),
            values(up.weight.val())
        );
        assert_eq!(
            read_f32(&file, &format!("ups.{i}.bias"), &[dims[1]]),
            values(up.bias.val())
        );
    }
    // BatchNorm: γ → weight, β → bias, the running statistics after the training forwards
    // (what evaluation uses), and a zero int64 counter.
    let norms = generator
        .dense_norms
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("dense_norms.{i}"), n))
        .chain([("up_norms.0".to_string(), &generator.up_norms[0])]);
    for (prefix, norm) in norms {
        let [n] = norm.gamma.dims();
        let gamma = values(norm.gamma.val());
        assert!(gamma.iter().all(|&g| g != 1.0), "{prefix}: γ was set");
        assert_eq!(read_f32(&file, &format!("{prefix}.weight"), &[n]), gamma);
        let beta = values(norm.beta.val());
        assert_eq!(read_f32(&file, &format!("{prefix}.bias"), &[n]), beta);
        let mean = values(norm.running_mean.value_sync());
        let var = values(norm.running_var.value_sync());
        assert!(mean.iter().any(|&m| m != 0.0), "{prefix}: the mean moved");
        assert!(
            var.iter().any(|&v| v != 1.0),
            "{prefix}: the variance moved"
        );
        assert_eq!(
            read_f32(&file, &format!("{prefix}.running_mean"), &[n]),
            mean
        );
        assert_eq!(read_f32(&file, &format!("{prefix}.running_var"), &[n]), var);
        let counter = file
            .tensor(&format!("{prefix}.num_batches_tracked"))
            .unwrap();
        assert_eq!(counter.dtype(), safetensors::Dtype::I64);
        assert_eq!(counter.shape(), &[] as &[usize]);
        assert_eq!(counter.data(), &0i64.to_le_bytes());
    }

    // Buffers are the running statistics and counters; parameters the rest.
    for tensor in &summary.tensors {
        let buffer = ["running_mean", "running_var", "num_batches_tracked"]
            .iter()
            .any(|b| tensor.name.ends_with(b));
        let kind = if buffer {
            TensorKind::Buffer
        } else {
            TensorKind::Parameter
        };
        assert_eq!(tensor.kind, kind, "{}", tensor.name);
    }
    let linear = 8 * 16 + 16 + 16 * first + first;
    let convs = 8 * 4 * 16 + 4 + 4 * 16 + 1;
    let affine = 2 * (16 + first + 4);
    assert_eq!(summary.num_parameters, linear + convs + affine);
}

#[test]
fn pending_running_statistics_are_merged_before_reading() {
    // One training forward leaves the new statistics pending: `value()` (what a visitor sees
    // without synchronising) still gives the initial zeros.
    let generator = trained_dcgan(1);
    let norm = &generator.dense_norms[0];
    assert!(values(norm.running_mean.value()).iter().all(|&m| m == 0.0));
    let tensors = pytorch_tensors(&generator).unwrap();
    let mean = tensors
        .iter()
        .find(|t| t.name == "dense_norms.0.running_mean")
        .unwrap();
    assert_eq!(
        mean.burn_path.as_deref(),
        Some("dense_norms.0.running_mean")
    );
    let synced = values(norm.running_mean.value_sync());
    assert!(synced.iter().any(|&m| m != 0.0));
    assert_eq!(mean.values, Values::F32(synced));
    // Names are sorted and unique.
    let names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted);
}

#[test]
fn writing_into_a_missing_directory_names_the_path() {
    let generator = MlpGeneratorConfig::new(2, vec![4])
        .init(2, &mut HostRng::seed_from(0), &flex())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("g.safetensors");
    let error = export_safetensors(&generator, &path).unwrap_err();
    assert!(matches!(&error, ExportError::Write { path: p, .. } if *p == path));
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "cannot write the safetensors file {}: ",
            path.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("check that the directory exists"),
        "{message}"
    );
    assert!(!path.exists());
    // A directory in place of the file is an error too, naming it.
    let error = export_safetensors(&generator, dir.path()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains(&dir.path().display().to_string()),
        "{error}"
    );
}

/// A module whose type is called `BatchNorm` with both a `gamma` and a `weight`: the renaming
/// follows the declaring struct's name, and the clash is an error naming both sources.
#[derive(Module, Debug)]
struct BatchNorm {
    gamma: Param<Tensor<1>>,
    weight: Param<Tensor<1>>,
}

#[derive(Module, Debug)]
struct Holder {
    norm: BatchNorm,
}

#[test]
fn two_tensors_with_one_pytorch_name_are_an_error() {
    let device = flex();
    let holder = Holder {
        norm: BatchNorm {
            gamma: Param::from_tensor(Tensor::ones([2], &device)),
            weight: Param::from_tensor(Tensor::zeros([2], &device)),
        },
    };
    let error = pytorch_tensors(&holder).unwrap_err();
    assert_eq!(
        error.to_string(),
        "two tensors would both be written as norm.weight (norm.gamma and norm.weight); rename \
         one of the module fields so that the PyTorch names differ"
    );
    let bare = Param::from_tensor(Tensor::<1>::ones([2], &device));
    let error = pytorch_tensors(&bare).unwrap_err();
    assert!(matches!(error, ExportError::EmptyName), "{error}");
}

/// Records what Burn passes to `enter_module`.
#[derive(Default)]
struct Entries(Vec<(String, String)>);

impl ModuleVisitor for Entries {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.0.push((name.to_string(), container_type.to_string()));
    }
}

#[test]
fn burn_passes_the_declaring_struct_as_container_type() {
    // The naming rules rest on this: the container type of a field is the struct that
    // declares it ("Struct:Linear" for a Linear's weight), "Vec" for a Vec element, and an
    // Option adds no entry.
    let generator = trained_dcgan(0);
    let mut entries = Entries::default();
    generator.visit(&mut entries);
    let entries: Vec<(&str, &str)> = entries
        .0
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        entries[..5],
        [
            ("dense", "Struct:DcganGenerator"),
            ("0", "Vec"),
            ("linear", "Struct:Dense"),
            ("weight", "Struct:Linear"),
            ("bias", "Struct:Linear"),
        ]
    );
    for field in ["gamma", "beta", "running_mean", "running_var"] {
        assert!(entries.contains(&(field, "Struct:BatchNorm")), "{field}");
    }
    assert!(entries.contains(&("weight", "Struct:ConvTranspose")));
}

#[test]
fn a_batch_norm_exported_alone_has_pytorch_root_names() {
    let device = flex();
    let norm = burn::nn::BatchNormConfig::new(3).init(&device);
    let tensors = pytorch_tensors(&norm).unwrap();
    let names: Vec<(&str, Option<&str>, Vec<usize>)> = tensors
        .iter()
        .map(|t| (t.name.as_str(), t.burn_path.as_deref(), t.shape.clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("bias", Some("beta"), vec![3]),
            ("num_batches_tracked", None, vec![]),
            ("running_mean", Some("running_mean"), vec![3]),
            ("running_var", Some("running_var"), vec![3]),
            ("weight", Some("gamma"), vec![3]),
        ]
    );
    assert_eq!(tensors[1].values, Values::I64(vec![0]));
    assert_eq!(tensors[3].values, Values::F32(vec![1.0; 3]));
    assert_eq!(tensors[4].values, Values::F32(vec![1.0; 3]));
}

#[cfg(unix)]
#[test]
fn the_file_gets_ordinary_permissions_and_replaces_an_old_one() {
    use std::os::unix::fs::PermissionsExt;
    let generator = MlpGeneratorConfig::new(2, vec![4])
        .init(2, &mut HostRng::seed_from(0), &flex())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.safetensors");
    std::fs::write(&path, b"old").unwrap();
    export_safetensors(&generator, &path).unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        to_safetensors_bytes(&generator).unwrap()
    );
    // Same mode as any file the process creates (umask applied), not a private temp file's.
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode();
    assert_eq!(mode(&path), mode(&reference));
    // Nothing else is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn the_bytes_do_not_vary_between_exports() {
    let generator = MlpGeneratorConfig::new(2, vec![4])
        .init(2, &mut HostRng::seed_from(3), &flex())
        .unwrap();
    let first = to_safetensors_bytes(&generator).unwrap();
    // The metadata keys come first, in a fixed order (the encoder takes a randomly seeded
    // HashMap, so this is checked over many encodings).
    let header_len = u64::from_le_bytes(first[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&first[8..8 + header_len]).unwrap();
    assert!(
        header.starts_with(r#"{"__metadata__":{"format":"pt","producer":"burngan"},"#),
        "{header}"
    );
    for _ in 0..32 {
        assert_eq!(to_safetensors_bytes(&generator).unwrap(), first);
    }
}

/// A module with int and bool tensor parameters.
#[derive(Module, Debug)]
struct Tables {
    steps: Param<Tensor<2, Int>>,
    mask: Param<Tensor<1, Bool>>,
}

#[test]
fn int_and_bool_tensors_are_written_as_i64_and_bool() {
    let device = flex();
    let tables = Tables {
        steps: Param::initialized(
            ParamId::new(),
            Tensor::<2, Int>::from_data(
                TensorData::new(vec![3i64, -1, 7, 100_000], [2, 2]),
                &device,
            ),
        ),
        mask: Param::initialized(
            ParamId::new(),
            Tensor::<1, Bool>::from_data(TensorData::new(vec![true, false, true], [3]), &device),
        ),
    };
    let bytes = to_safetensors_bytes(&tables).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let steps = file.tensor("steps").unwrap();
    assert_eq!(steps.dtype(), safetensors::Dtype::I64);
    assert_eq!(steps.shape(), [2, 2]);
    let values: Vec<i64> = steps
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(values, [3, -1, 7, 100_000]);
    let mask = file.tensor("mask").unwrap();
    assert_eq!(mask.dtype(), safetensors::Dtype::BOOL);
    assert_eq!(mask.shape(), [3]);
    assert_eq!(mask.data(), [1, 0, 1]);
}
