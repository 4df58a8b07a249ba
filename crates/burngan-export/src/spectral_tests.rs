//! Spectrally normalised critics in the file: the names, shapes and kinds of
//! `torch.nn.utils.spectral_norm` (`weight_orig`, `weight_u`, `weight_v`), the layer's own
//! tensors bit for bit under the PyTorch convention, and PyTorch's evaluation-mode weight
//! W_orig/(uᵀ·W_orig·v), computed here in f64 from the written tensors, equal to burngan's
//! evaluation-mode W/σ under both conventions.

use std::collections::HashMap;

use burn::module::{Module, Param};
use burn::tensor::{Device, Int, Tensor, TensorData};
use burngan_backend::{BackendKind, device};
use burngan_core::{Discriminator, HostRng};
use burngan_models::{
    ClassEmbedding, Conv, DcganDiscriminator, DcganDiscriminatorConfig, Dense,
    MlpDiscriminatorConfig, Normalization, ProjectionDiscriminatorConfig, SpectralConvention,
    SpectralNorm,
};
use safetensors::SafeTensors;

use crate::{
    ExportError, PytorchTensor, SpectralLayer, SpectralVectors, TensorKind, export_safetensors,
    pytorch_tensors,
};

/// The largest difference allowed between PyTorch's evaluation-mode weight (in f64 from the
/// written f32 tensors) and burngan's (f32).
const TOLERANCE: f64 = 1e-6;

fn flex() -> Device {
    device(BackendKind::Flex).expect("flex is enabled for the tests")
}

/// The row-major values of a float tensor.
fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// The bit patterns of `values`, for exact comparisons.
fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
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

/// The tensors of `module` as written, by name.
fn by_name<M: Module>(module: &M) -> HashMap<String, PytorchTensor> {
    pytorch_tensors(module)
        .unwrap()
        .into_iter()
        .map(|t| (t.name.clone(), t))
        .collect()
}

/// The f32 values of the tensor `name`.
fn f32s<'a>(tensors: &'a HashMap<String, PytorchTensor>, name: &str) -> &'a [f32] {
    let tensor = tensors
        .get(name)
        .unwrap_or_else(|| panic!("{name} missing"));
    tensor.values.as_f32().unwrap()
}

/// PyTorch's evaluation-mode weight W/(uᵀ·W·v) in f64, from the written `{module}.weight_orig`
/// (viewed as `[rows, cols]`), `weight_u` and `weight_v`: what `spectral_norm`'s
/// `compute_weight(do_power_iteration=False)` computes.
fn pytorch_eval_weight(tensors: &HashMap<String, PytorchTensor>, module: &str) -> Vec<f64> {
    let w = f32s(tensors, &format!("{module}.weight_orig"));
    let u = f32s(tensors, &format!("{module}.weight_u"));
    let v = f32s(tensors, &format!("{module}.weight_v"));
    let (rows, cols) = (u.len(), v.len());
    assert_eq!(
        w.len(),
        rows * cols,
        "{module}: u and v do not fit the weight"
    );
    let sigma: f64 = (0..rows)
        .map(|r| {
            let wv: f64 = (0..cols)
                .map(|c| f64::from(w[r * cols + c]) * f64::from(v[c]))
                .sum();
            f64::from(u[r]) * wv
        })
        .sum();
    w.iter().map(|&x| f64::from(x) / sigma).collect()
}

/// The largest |PyTorch − burngan| between the evaluation-mode weights of `module`, `burngan`
/// in PyTorch's layout.
fn eval_weight_error(
    tensors: &HashMap<String, PytorchTensor>,
    module: &str,
    burngan: &[f32],
) -> f64 {
    let pytorch = pytorch_eval_weight(tensors, module);
    assert_eq!(pytorch.len(), burngan.len(), "{module}");
    pytorch
        .iter()
        .zip(burngan)
        .map(|(p, &b)| (p - f64::from(b)).abs())
        .fold(0.0, f64::max)
}

/// The state of a spectrally normalised layer: u, and v under the PyTorch convention.
fn state(spectral: &Option<SpectralNorm>) -> (Vec<f32>, Option<Vec<f32>>) {
    let state = spectral.as_ref().expect("a spectrally normalised layer");
    let v = state.v.as_ref().map(|v| values(v.value()));
    (values(state.u.value()), v)
}

/// Checks the dense layer written under `{prefix}.linear` (a plain-device copy): shapes, the
/// raw weight transposed bit for bit, the vectors (u and v bit for bit under the PyTorch
/// convention; under the burngan convention `weight_v` = u), and PyTorch's evaluation-mode
/// weight against [`Dense::weight`]. Returns the weight error.
fn check_dense(tensors: &HashMap<String, PytorchTensor>, prefix: &str, dense: &Dense) -> f64 {
    let module = format!("{prefix}.linear");
    let [d_in, d_out] = dense.linear.weight.dims();
    let raw = transposed(&values(dense.linear.weight.val()), d_in, d_out);
    let orig = &tensors[&format!("{module}.weight_orig")];
    assert_eq!(orig.shape, [d_out, d_in], "{module}");
    assert_eq!(orig.kind, TensorKind::Parameter);
    assert_eq!(bits(orig.values.as_f32().unwrap()), bits(&raw), "{module}");
    let bias = values(dense.linear.bias.as_ref().unwrap().val());
    assert_eq!(bits(f32s(tensors, &format!("{module}.bias"))), bits(&bias));
    let (u, v) = state(&dense.spectral);
    let weight_u = &tensors[&format!("{module}.weight_u")];
    let weight_v = &tensors[&format!("{module}.weight_v")];
    assert_eq!(
        (weight_u.shape.as_slice(), weight_v.shape.as_slice()),
        (&[d_out][..], &[d_in][..])
    );
    assert_eq!(
        (weight_u.kind, weight_v.kind),
        (TensorKind::Buffer, TensorKind::Buffer)
    );
    match v {
        Some(v) => {
            assert_eq!(
                bits(weight_u.values.as_f32().unwrap()),
                bits(&u),
                "{module}"
            );
            assert_eq!(
                bits(weight_v.values.as_f32().unwrap()),
                bits(&v),
                "{module}"
            );
        }
        None => assert_eq!(
            bits(weight_v.values.as_f32().unwrap()),
            bits(&u),
            "{module}"
        ),
    }
    let eval = transposed(&values(dense.weight(false)), d_in, d_out);
    eval_weight_error(tensors, &module, &eval)
}

/// As [`check_dense`] for a convolution written under `prefix` (`weight_u` = u under the
/// burngan convention), against [`Conv::kernel`].
fn check_conv(tensors: &HashMap<String, PytorchTensor>, prefix: &str, conv: &Conv) -> f64 {
    let dims = conv.weight.dims();
    let orig = &tensors[&format!("{prefix}.weight_orig")];
    assert_eq!(orig.shape, dims, "{prefix}");
    assert_eq!(
        bits(orig.values.as_f32().unwrap()),
        bits(&values(conv.weight.val()))
    );
    let bias = values(conv.bias.val());
    assert_eq!(bits(f32s(tensors, &format!("{prefix}.bias"))), bits(&bias));
    let (u, v) = state(&conv.spectral);
    let weight_u = &tensors[&format!("{prefix}.weight_u")];
    let weight_v = &tensors[&format!("{prefix}.weight_v")];
    let cols = dims[1] * dims[2] * dims[3];
    assert_eq!(
        (weight_u.shape.as_slice(), weight_v.shape.as_slice()),
        (&[dims[0]][..], &[cols][..])
    );
    assert_eq!(
        bits(weight_u.values.as_f32().unwrap()),
        bits(&u),
        "{prefix}"
    );
    if let Some(v) = v {
        assert_eq!(
            bits(weight_v.values.as_f32().unwrap()),
            bits(&v),
            "{prefix}"
        );
    }
    eval_weight_error(tensors, prefix, &values(conv.kernel(false)))
}

/// As [`check_conv`] for a class embedding written under `prefix`, against
/// [`ClassEmbedding::table`].
fn check_embedding(
    tensors: &HashMap<String, PytorchTensor>,
    prefix: &str,
    table: &ClassEmbedding,
) -> f64 {
    let [classes, dim] = table.weight.dims();
    let orig = &tensors[&format!("{prefix}.weight_orig")];
    assert_eq!(orig.shape, [classes, dim]);
    assert_eq!(
        bits(orig.values.as_f32().unwrap()),
        bits(&values(table.weight.val()))
    );
    let (u, v) = state(&table.spectral);
    assert_eq!(tensors[&format!("{prefix}.weight_u")].shape, [classes]);
    assert_eq!(tensors[&format!("{prefix}.weight_v")].shape, [dim]);
    assert_eq!(bits(f32s(tensors, &format!("{prefix}.weight_u"))), bits(&u));
    if let Some(v) = v {
        assert_eq!(bits(f32s(tensors, &format!("{prefix}.weight_v"))), bits(&v));
    }
    eval_weight_error(tensors, prefix, &values(table.table(false)))
}

/// A DCGAN critic for 8×8 images (convolutions 1→4→8, hidden 16) under `convention`, after
/// three training forwards (so u and v are no longer the initial ones), as a plain-device copy.
fn trained_dcgan_critic(convention: SpectralConvention) -> DcganDiscriminator {
    let training = flex().autodiff();
    let mut rng = HostRng::seed_from(11);
    let critic = DcganDiscriminatorConfig {
        channels: vec![4, 8],
        hidden: 16,
        ..DcganDiscriminatorConfig::default()
    }
    .with_spectral_norm(true)
    .with_spectral_convention(convention)
    .init([1, 8, 8], &mut rng, &training)
    .unwrap();
    for _ in 0..3 {
        let _ = critic.forward(rng.normal([2, 1, 8, 8], &training));
    }
    critic.valid()
}

/// The names and shapes every spectral DCGAN critic of [`trained_dcgan_critic`] is written
/// with, under either convention.
fn dcgan_critic_names() -> Vec<(String, Vec<usize>)> {
    [
        ("convs.0.bias", vec![4]),
        ("convs.0.weight_orig", vec![4, 1, 4, 4]),
        ("convs.0.weight_u", vec![4]),
        ("convs.0.weight_v", vec![16]),
        ("convs.1.bias", vec![8]),
        ("convs.1.weight_orig", vec![8, 4, 4, 4]),
        ("convs.1.weight_u", vec![8]),
        ("convs.1.weight_v", vec![64]),
        ("hidden.linear.bias", vec![16]),
        ("hidden.linear.weight_orig", vec![16, 32]),
        ("hidden.linear.weight_u", vec![16]),
        ("hidden.linear.weight_v", vec![32]),
        ("output.linear.bias", vec![1]),
        ("output.linear.weight_orig", vec![1, 16]),
        ("output.linear.weight_u", vec![1]),
        ("output.linear.weight_v", vec![16]),
    ]
    .into_iter()
    .map(|(name, shape)| (name.to_string(), shape))
    .collect()
}

/// The spectral layers of the DCGAN critic as the summary lists them.
fn dcgan_critic_layers(vectors: SpectralVectors) -> Vec<SpectralLayer> {
    [
        ("convs.0", "convs.0"),
        ("convs.1", "convs.1"),
        ("hidden", "hidden.linear"),
        ("output", "output.linear"),
    ]
    .into_iter()
    .map(|(layer, module)| SpectralLayer {
        layer: layer.to_string(),
        module: module.to_string(),
        vectors,
    })
    .collect()
}

/// Exports the DCGAN critic under `convention` to a file, checks the file's names, shapes,
/// kinds and parameter count and every layer's tensors, and returns the summary and the
/// largest evaluation-mode weight error.
fn check_dcgan_critic(convention: SpectralConvention) -> (crate::ExportSummary, f64) {
    let critic = trained_dcgan_critic(convention);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("critic.safetensors");
    let summary = export_safetensors(&critic, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut in_file: Vec<(String, Vec<usize>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.shape().to_vec()))
        .collect();
    in_file.sort();
    assert_eq!(in_file, dcgan_critic_names());
    for tensor in &summary.tensors {
        let buffer = tensor.name.ends_with("_u") || tensor.name.ends_with("_v");
        let kind = if buffer {
            TensorKind::Buffer
        } else {
            TensorKind::Parameter
        };
        assert_eq!(tensor.kind, kind, "{}", tensor.name);
    }
    let weights = 4 * 16 + 4 + 8 * 64 + 8 + 16 * 32 + 16 + 16 + 1;
    assert_eq!(summary.num_parameters, weights);
    assert!(summary.skipped.is_empty(), "{:?}", summary.skipped);

    let tensors = by_name(&critic);
    // The file holds exactly what pytorch_tensors returns.
    for (name, view) in file.tensors() {
        let written: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(bits(&written), bits(f32s(&tensors, &name)), "{name}");
    }
    let errors = [
        check_conv(&tensors, "convs.0", &critic.convs[0]),
        check_conv(&tensors, "convs.1", &critic.convs[1]),
        check_dense(&tensors, "hidden", &critic.hidden),
        check_dense(&tensors, "output", &critic.output),
    ];
    (summary, errors.into_iter().fold(0.0, f64::max))
}

#[test]
fn pytorch_convention_dcgan_critic_is_written_as_torch_spectral_norm() {
    let (summary, error) = check_dcgan_critic(SpectralConvention::Pytorch);
    println!("PyTorch convention: max |W_torch_eval - W_burngan_eval| = {error:.3e}");
    assert_eq!(summary.spectral, dcgan_critic_layers(SpectralVectors::Kept));
    assert!(
        error <= TOLERANCE,
        "PyTorch eval weight differs by {error:.3e}"
    );
    assert!(
        !summary.to_string().contains("evaluation-mode"),
        "{summary}"
    );
}

#[test]
fn burngan_convention_dcgan_critic_is_written_as_its_evaluation_mode_equivalent() {
    let (summary, error) = check_dcgan_critic(SpectralConvention::Burngan);
    println!("burngan convention: max |W_torch_eval - W_burngan_eval| = {error:.3e}");
    assert_eq!(
        summary.spectral,
        dcgan_critic_layers(SpectralVectors::EvaluationEquivalent)
    );
    assert!(
        error <= TOLERANCE,
        "PyTorch eval weight differs by {error:.3e}"
    );
    let message = summary.to_string();
    assert!(
        message.contains(
            "spectral norm of convs.0, convs.1, hidden, output (burngan convention) written as \
             its evaluation-mode equivalent: PyTorch reproduces it in eval() only"
        ),
        "{message}"
    );
}

#[test]
fn mlp_critic_vectors_follow_pytorch_orientation_under_both_conventions() {
    // Input 3, hidden [6, 6]: the square middle layer shows that the orientation comes from the
    // layer, not from the lengths.
    for convention in [SpectralConvention::Pytorch, SpectralConvention::Burngan] {
        let training = flex().autodiff();
        let mut rng = HostRng::seed_from(5);
        let critic = MlpDiscriminatorConfig::new(vec![6, 6])
            .with_normalization(Normalization::Spectral)
            .with_spectral_convention(convention)
            .init(3, &mut rng, &training)
            .unwrap();
        for _ in 0..2 {
            let _ = critic.forward(rng.normal([4, 3], &training));
        }
        let critic = critic.valid();
        let tensors = by_name(&critic);
        let mut names: Vec<(&str, &[usize])> = tensors
            .values()
            .map(|t| (t.name.as_str(), t.shape.as_slice()))
            .collect();
        names.sort();
        let mut expected: Vec<(String, Vec<usize>)> = Vec::new();
        for (i, (d_in, d_out)) in [(3, 6), (6, 6), (6, 1)].into_iter().enumerate() {
            let p = format!("layers.{i}.linear");
            expected.push((format!("{p}.bias"), vec![d_out]));
            expected.push((format!("{p}.weight_orig"), vec![d_out, d_in]));
            expected.push((format!("{p}.weight_u"), vec![d_out]));
            expected.push((format!("{p}.weight_v"), vec![d_in]));
        }
        let expected: Vec<(&str, &[usize])> = expected
            .iter()
            .map(|(n, s)| (n.as_str(), s.as_slice()))
            .collect();
        assert_eq!(names, expected, "{convention:?}");
        for (i, layer) in critic.layers.iter().enumerate() {
            let error = check_dense(&tensors, &format!("layers.{i}"), layer);
            assert!(error <= TOLERANCE, "{convention:?} layer {i}: {error:.3e}");
        }
    }
}

#[test]
fn projection_critic_embedding_is_written_as_torch_spectral_norm() {
    for convention in [SpectralConvention::Pytorch, SpectralConvention::Burngan] {
        let training = flex().autodiff();
        let mut rng = HostRng::seed_from(9);
        let mut config = ProjectionDiscriminatorConfig::new(3)
            .with_spectral_norm(true)
            .with_spectral_convention(convention);
        config.channels = vec![4];
        config.hidden = 8;
        let critic = config.init([1, 4, 4], &mut rng, &training).unwrap();
        let labels = TensorData::new(vec![0i64, 2, 1], [3]);
        let labels = Tensor::<1, Int>::from_data(labels, &training);
        let _ = critic.forward_labeled(rng.normal([3, 1, 4, 4], &training), labels);
        let critic = critic.valid();
        let tensors = by_name(&critic);
        assert!(!tensors.contains_key("embedding.weight"));
        let error = check_embedding(&tensors, "embedding", &critic.embedding);
        assert!(error <= TOLERANCE, "{convention:?}: {error:.3e}");
        let error = check_conv(&tensors, "trunk.convs.0", &critic.trunk.convs[0]);
        assert!(error <= TOLERANCE, "{convention:?}: {error:.3e}");
        let error = check_dense(&tensors, "trunk.hidden", &critic.trunk.hidden);
        assert!(error <= TOLERANCE, "{convention:?}: {error:.3e}");
    }
}

#[test]
fn critics_without_spectral_norm_keep_plain_names() {
    let critic = MlpDiscriminatorConfig::new(vec![4])
        .init(3, &mut HostRng::seed_from(2), &flex())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let summary = export_safetensors(&critic, &dir.path().join("c.safetensors")).unwrap();
    let names: Vec<&str> = summary.tensors.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "layers.0.linear.bias",
            "layers.0.linear.weight",
            "layers.1.linear.bias",
            "layers.1.linear.weight"
        ]
    );
    assert!(summary.spectral.is_empty());
    assert!(summary.skipped.is_empty());
}

/// A struct with a spectral-norm state and no weight named `weight` or `linear.weight`.
#[derive(Module, Debug)]
struct Orphan {
    kernel: Param<Tensor<2>>,
    spectral: Option<SpectralNorm>,
}

#[test]
fn a_spectral_state_without_a_fitting_weight_is_refused() {
    let device = flex();
    let mut rng = HostRng::seed_from(3);
    // u and v swapped: a PyTorch-convention dense layer 3 → 4 needs u [4] and v [3].
    let mut dense = Dense::new(3, 4, false, &mut rng, &device);
    dense.spectral = Some(SpectralNorm::pytorch(
        Tensor::ones([3], &device),
        Tensor::ones([4], &device),
    ));
    let error = pytorch_tensors(&vec![dense]).unwrap_err();
    assert!(matches!(&error, ExportError::SpectralState { layer, .. } if layer == "0"));
    assert_eq!(
        error.to_string(),
        "cannot write the spectral norm of 0 as PyTorch's weight_orig, weight_u and weight_v: \
         0.spectral.u has 3 entries, but PyTorch's weight_u needs 4; the layer's state does not \
         belong to its weight (rebuild the layer with `with_spectral_norm`)"
    );
    // The same layer as the exported module itself.
    let mut dense = Dense::new(3, 4, false, &mut rng, &device);
    dense.spectral = Some(SpectralNorm::pytorch(
        Tensor::ones([3], &device),
        Tensor::ones([4], &device),
    ));
    let error = pytorch_tensors(&dense).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cannot write the spectral norm of the exported module as"),
        "{error}"
    );

    let orphan = vec![Orphan {
        kernel: Param::from_tensor(Tensor::ones([2, 2], &device)),
        spectral: Some(SpectralNorm::new(2, &mut rng, &device)),
    }];
    let error = pytorch_tensors(&orphan).unwrap_err();
    assert_eq!(
        error.to_string(),
        "0 holds a spectral-norm state (SpectralNorm) but neither 0.weight nor \
         0.linear.weight, so there is no weight to write as PyTorch's weight_orig; name the \
         normalised weight `weight`, or hold it in a Linear field named `linear`"
    );
}
