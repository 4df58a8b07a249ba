//! Runtime backend selection: turns a backend name into a Burn [`Device`], or into an error
//! that says how to get one.
//!
//! This is the only burngan crate that enables Burn backend features and the only one that
//! calls a `Device::` factory; every other crate takes `&Device`. The Cargo features of this
//! crate have the backends' names: `ndarray`, `flex` and `wgpu` are on by default; `vulkan`,
//! `metal` and `cuda` are opt-in.
//!
//! # Example
//!
//! ```
//! use burngan_backend::{BackendKind, device};
//!
//! let kind: BackendKind = "flex".parse().unwrap();
//! # #[cfg(feature = "flex")] {
//! let device = device(kind).unwrap();
//! let x = burn::tensor::Tensor::<1>::from_floats([1.0, 2.0], &device);
//! assert_eq!(x.sum().into_scalar::<f32>(), 3.0);
//! # }
//! ```

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// A Burn execution backend burngan can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// burn-ndarray on the CPU (deprecated by Burn in favour of flex, kept because users ask
    /// for it).
    Ndarray,
    /// burn-flex, Burn's pure-Rust CPU backend.
    Flex,
    /// wgpu with the graphics API chosen automatically (Vulkan, Metal, DX12).
    Wgpu,
    /// wgpu pinned to Vulkan.
    Vulkan,
    /// wgpu pinned to Metal.
    Metal,
    /// CUDA on the first NVIDIA GPU.
    Cuda,
}

impl BackendKind {
    /// Every backend burngan knows, compiled in or not.
    pub const ALL: [BackendKind; 6] = [
        BackendKind::Ndarray,
        BackendKind::Flex,
        BackendKind::Wgpu,
        BackendKind::Vulkan,
        BackendKind::Metal,
        BackendKind::Cuda,
    ];

    /// The backend's name, as accepted by `--backend` and as the Cargo feature that enables it.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Ndarray => "ndarray",
            BackendKind::Flex => "flex",
            BackendKind::Wgpu => "wgpu",
            BackendKind::Vulkan => "vulkan",
            BackendKind::Metal => "metal",
            BackendKind::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend's Cargo feature.
    pub fn is_compiled(self) -> bool {
        match self {
            BackendKind::Ndarray => cfg!(feature = "ndarray"),
            BackendKind::Flex => cfg!(feature = "flex"),
            BackendKind::Wgpu => cfg!(feature = "wgpu"),
            BackendKind::Vulkan => cfg!(feature = "vulkan"),
            BackendKind::Metal => cfg!(feature = "metal"),
            BackendKind::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Whether the backend executes on the host CPU (as opposed to a GPU driver).
    pub fn is_cpu(self) -> bool {
        matches!(self, BackendKind::Ndarray | BackendKind::Flex)
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = BackendError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let wanted = name.trim().to_ascii_lowercase();
        BackendKind::ALL
            .into_iter()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| BackendError::UnknownName {
                name: name.to_string(),
            })
    }
}

/// Why a backend could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The name is not one of [`BackendKind::ALL`].
    #[error("'{name}' is not a backend; valid backends are: {}", valid_names())]
    UnknownName {
        /// The name that was given.
        name: String,
    },
    /// The backend exists but this binary was built without its Cargo feature.
    #[error(
        "backend '{kind}' is not compiled into this binary; rebuild with `--features {kind}` \
         (compiled in: {})",
        compiled_names()
    )]
    NotCompiled {
        /// The backend that was asked for.
        kind: BackendKind,
    },
    /// The backend is compiled in but the machine has no adapter or driver for it.
    #[error("backend '{kind}' has no usable device on this machine: {detail}. {hint}")]
    NoAdapter {
        /// The backend that was asked for.
        kind: BackendKind,
        /// What the driver layer reported.
        detail: String,
        /// How to get a device.
        hint: &'static str,
    },
}

impl BackendError {
    /// True for errors the user can fix by asking for something else (an unknown or
    /// compiled-out backend), false for a missing driver on this machine.
    pub fn is_usage_error(&self) -> bool {
        matches!(
            self,
            BackendError::UnknownName { .. } | BackendError::NotCompiled { .. }
        )
    }
}

fn valid_names() -> String {
    BackendKind::ALL.map(BackendKind::name).join(", ")
}

fn compiled_names() -> String {
    let names: Vec<&str> = available().into_iter().map(BackendKind::name).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// The backends compiled into this binary, in [`BackendKind::ALL`] order.
pub fn available() -> Vec<BackendKind> {
    BackendKind::ALL
        .into_iter()
        .filter(|kind| kind.is_compiled())
        .collect()
}

/// Whether `device` (with or without autodiff) is flex's. A flex tensor lives in host memory,
/// and one whose buffer has a single owner moves in and out of [`TensorData`] without a copy,
/// so host code can update it in place. False when flex is not compiled in.
///
/// [`TensorData`]: burn::tensor::TensorData
pub fn is_flex(device: &Device) -> bool {
    #[cfg(feature = "flex")]
    {
        *device == Device::flex()
    }
    #[cfg(not(feature = "flex"))]
    {
        let _ = device;
        false
    }
}

/// What `device` found for a backend: the device and, for GPU backends, the adapter.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// The device, without autodiff; call `.autodiff()` on it to train.
    pub device: Device,
    /// A one-line description of the adapter or CPU implementation behind the device.
    pub description: String,
}

/// A device for `kind` (without autodiff), or an error naming the fix.
///
/// GPU backends are initialised eagerly so that a missing driver is reported here rather than
/// as a panic at the first tensor operation. Repeated calls return the same device.
pub fn device(kind: BackendKind) -> Result<Device, BackendError> {
    describe(kind).map(|info| info.device)
}

/// Like [`device`], with a description of the adapter that backs it.
pub fn describe(kind: BackendKind) -> Result<DeviceInfo, BackendError> {
    if !kind.is_compiled() {
        return Err(BackendError::NotCompiled { kind });
    }
    imp::describe(kind)
}

#[allow(unreachable_code, unused_variables)]
mod imp {
    use super::{BackendError, BackendKind, DeviceInfo};

    pub(super) fn describe(kind: BackendKind) -> Result<DeviceInfo, BackendError> {
        match kind {
            BackendKind::Ndarray => {
                #[cfg(feature = "ndarray")]
                {
                    #[allow(deprecated)] // Burn deprecates ndarray; burngan keeps it on request.
                    let device = burn::tensor::Device::ndarray();
                    return Ok(DeviceInfo {
                        device,
                        description: "burn-ndarray on the host CPU".to_string(),
                    });
                }
            }
            BackendKind::Flex => {
                #[cfg(feature = "flex")]
                return Ok(DeviceInfo {
                    device: burn::tensor::Device::flex(),
                    description: "burn-flex on the host CPU".to_string(),
                });
            }
            BackendKind::Wgpu | BackendKind::Vulkan | BackendKind::Metal => {
                #[cfg(feature = "wgpu")]
                return gpu::describe(kind);
            }
            BackendKind::Cuda => {
                #[cfg(feature = "cuda")]
                return cuda();
            }
        }
        Err(BackendError::NotCompiled { kind })
    }

    #[cfg(feature = "cuda")]
    fn cuda() -> Result<DeviceInfo, BackendError> {
        // CUDA initialises its context lazily and panics without a driver; probe it on a
        // thread so a missing driver becomes an error.
        let probe = std::thread::spawn(|| {
            let device = burn::tensor::Device::cuda(0);
            let one = burn::tensor::Tensor::<1>::ones([1], &device);
            let _ = one.into_data();
            device
        });
        match probe.join() {
            Ok(device) => Ok(DeviceInfo {
                device,
                description: "CUDA device 0".to_string(),
            }),
            Err(_) => Err(BackendError::NoAdapter {
                kind: BackendKind::Cuda,
                detail: "the CUDA runtime could not initialise device 0".to_string(),
                hint: "install the NVIDIA driver and CUDA toolkit, or choose the flex backend",
            }),
        }
    }

    #[cfg(feature = "wgpu")]
    mod gpu {
        use std::collections::HashMap;
        use std::sync::{Mutex, OnceLock};

        use burn::tensor::wgpu::WgpuBackend;
        use burn::tensor::{Device, DeviceKind};

        use super::super::{BackendError, BackendKind, DeviceInfo};

        const HINT: &str = "wgpu needs a Vulkan (Linux, Windows), Metal (macOS) or DX12 \
             (Windows) driver; on a CPU-only Linux machine Mesa's lavapipe provides one: \
             `apt-get install mesa-vulkan-drivers libvulkan1`. Or choose the flex backend";

        type Cache = Mutex<HashMap<BackendKind, Result<DeviceInfo, BackendError>>>;

        /// Burn refuses to initialise a wgpu runtime twice, so the first result is kept.
        fn cache() -> &'static Cache {
            static CACHE: OnceLock<Cache> = OnceLock::new();
            CACHE.get_or_init(|| Mutex::new(HashMap::new()))
        }

        pub(super) fn describe(kind: BackendKind) -> Result<DeviceInfo, BackendError> {
            let mut cache = cache().lock().unwrap_or_else(|poison| poison.into_inner());
            cache.entry(kind).or_insert_with(|| init(kind)).clone()
        }

        fn api(kind: BackendKind) -> WgpuBackend {
            match kind {
                BackendKind::Vulkan => WgpuBackend::Vulkan,
                BackendKind::Metal => WgpuBackend::Metal,
                _ => WgpuBackend::Auto,
            }
        }

        fn init(kind: BackendKind) -> Result<DeviceInfo, BackendError> {
            let options = Device::wgpu_options().device_kind(DeviceKind::DefaultDevice);
            let options = match api(kind) {
                WgpuBackend::Auto => options,
                pinned => options.graphics_api(pinned),
            };
            // Adapter discovery can panic inside drivers; keep that from taking the program down.
            let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                options.init_with_setup()
            }));
            match attempt {
                Ok(Ok((device, setup))) => {
                    let info = setup.adapter.get_info();
                    Ok(DeviceInfo {
                        device,
                        description: format!(
                            "{} ({:?}, {:?}, driver {} {})",
                            info.name,
                            info.device_type,
                            info.backend,
                            info.driver,
                            info.driver_info
                        ),
                    })
                }
                Ok(Err(error)) => Err(BackendError::NoAdapter {
                    kind,
                    detail: error.to_string(),
                    hint: HINT,
                }),
                Err(_) => Err(BackendError::NoAdapter {
                    kind,
                    detail: "the wgpu runtime panicked while looking for an adapter".to_string(),
                    hint: HINT,
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for kind in BackendKind::ALL {
            assert_eq!(kind.name().parse::<BackendKind>(), Ok(kind));
        }
        assert_eq!("FLEX".parse::<BackendKind>(), Ok(BackendKind::Flex));
        let error = "tpu".parse::<BackendKind>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "'tpu' is not a backend; valid backends are: ndarray, flex, wgpu, vulkan, metal, cuda"
        );
        assert!(error.is_usage_error());
    }

    #[test]
    fn compiled_out_backend_names_the_feature_flag() {
        let missing = BackendKind::ALL.into_iter().find(|k| !k.is_compiled());
        if let Some(kind) = missing {
            let error = device(kind).unwrap_err();
            assert_eq!(error, BackendError::NotCompiled { kind });
            assert!(
                error
                    .to_string()
                    .contains(&format!("rebuild with `--features {kind}`"))
            );
        }
        assert_eq!(
            available(),
            BackendKind::ALL
                .into_iter()
                .filter(|k| k.is_compiled())
                .collect::<Vec<_>>()
        );
    }

    /// flex's device is flex's with or without autodiff; ndarray's is not.
    #[cfg(all(feature = "flex", feature = "ndarray"))]
    #[test]
    fn only_flex_devices_are_flex() {
        let flex = device(BackendKind::Flex).unwrap();
        assert!(is_flex(&flex));
        assert!(is_flex(&flex.autodiff()));
        assert!(!is_flex(&device(BackendKind::Ndarray).unwrap()));
    }

    /// Runs `f` on the flex device inside a fresh rayon pool of `threads` threads.
    #[cfg(feature = "flex")]
    fn on_flex_with_threads<R: Send>(threads: usize, f: impl FnOnce(&Device) -> R + Send) -> R {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| f(&device(BackendKind::Flex).unwrap()))
    }

    /// `len` values `sin(0.618034 i + phase)`, in [-1, 1]: test data without a pattern gemm's
    /// blocking could hide.
    #[cfg(feature = "flex")]
    fn wave(len: usize, phase: f32) -> Vec<f32> {
        (0..len)
            .map(|i| (i as f32 * 0.618_034 + phase).sin())
            .collect()
    }

    /// The vendored flex patch (vendor/burn-flex/PATCH.md) splits maps that call a libm function
    /// per value across rayon's threads from 8 Ki values, in 4 Ki chunks; every value is still
    /// computed by the same function, so two threads give the bits of one thread and of the
    /// host's own `f32` functions (sigmoid: flex's two-branch formula, written out below).
    #[cfg(feature = "flex")]
    #[test]
    fn flex_costly_maps_give_the_bits_of_one_thread_on_two() {
        use burn::tensor::{Tensor, TensorData, activation};
        // Above the split threshold, with a short last chunk; values over [-12, 12].
        let n = 5 * 4096 + 17;
        let values: Vec<f32> = (0..n)
            .map(|i| (i as f32 * 0.618_034).sin() * 12.0)
            .collect();
        let maps = |threads: usize| {
            on_flex_with_threads(threads, |flex| {
                let x = Tensor::<1>::from_data(TensorData::new(values.clone(), [n]), flex);
                [
                    x.clone().tanh(),
                    x.clone().exp(),
                    x.clone().abs().log(),
                    activation::sigmoid(x),
                ]
                .map(|t| t.into_data().try_to_vec::<f32>().unwrap())
            })
        };
        let sigmoid = |x: f32| {
            if x >= 0.0 {
                1.0 / (1.0 + (-x).exp())
            } else {
                x.exp() / (1.0 + x.exp())
            }
        };
        let host: [fn(f32) -> f32; 4] = [f32::tanh, f32::exp, |x| x.abs().ln(), sigmoid];
        let (one, two) = (maps(1), maps(2));
        for (k, name) in ["tanh", "exp", "ln |x|", "sigmoid"].into_iter().enumerate() {
            let expected: Vec<u32> = values.iter().map(|&x| host[k](x).to_bits()).collect();
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&one[k]),
                expected,
                "{name}: one thread against the host"
            );
            assert_eq!(
                bits(&two[k]),
                expected,
                "{name}: two threads against the host"
            );
        }
    }

    /// The flex patch's change 5: `grad_out x weight^T`, the product autodiff forms for a
    /// linear layer's input gradient, is computed column-major and transposed once when the
    /// weight is large against the batch. Against the same product with the transpose
    /// materialised (gemm's row-major path): the same bits, on one thread and on two. Shapes
    /// `[m, k] x [k, n]`: (64, 1024, 784) and (9, 37, 300) take the new path, (64, 100, 1024)
    /// and (512, 256, 256) the old one. Against an f64 host product: within 1e-3 (k ≤ 1024
    /// values in [-1, 1]).
    #[cfg(feature = "flex")]
    #[test]
    fn flex_matmul_by_a_transposed_weight_gives_the_bits_of_a_contiguous_one() {
        use burn::tensor::{Tensor, TensorData};
        for (m, k, n) in [
            (64, 1024, 784),
            (9, 37, 300),
            (64, 100, 1024),
            (512, 256, 256),
        ] {
            let lhs = wave(m * k, 0.3);
            let weight = wave(n * k, 1.7); // [n, k], as a linear layer's transposed weight
            let weight_t: Vec<f32> = (0..k * n).map(|i| weight[(i % n) * k + i / n]).collect();
            let products = |threads: usize| {
                on_flex_with_threads(threads, |flex| {
                    let x = Tensor::<2>::from_data(TensorData::new(lhs.clone(), [m, k]), flex);
                    let w = Tensor::<2>::from_data(TensorData::new(weight.clone(), [n, k]), flex);
                    let wt =
                        Tensor::<2>::from_data(TensorData::new(weight_t.clone(), [k, n]), flex);
                    [x.clone().matmul(w.transpose()), x.matmul(wt)]
                        .map(|t| t.into_data().try_to_vec::<f32>().unwrap())
                })
            };
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for threads in [1, 2] {
                let [view, contiguous] = products(threads);
                assert_eq!(
                    bits(&view),
                    bits(&contiguous),
                    "({m}, {k}, {n}), {threads} threads"
                );
                for (i, &got) in view.iter().enumerate() {
                    let (r, c) = (i / n, i % n);
                    let exact: f64 = (0..k)
                        .map(|j| lhs[r * k + j] as f64 * weight[c * k + j] as f64)
                        .sum();
                    assert!(
                        (got as f64 - exact).abs() <= 1e-3,
                        "({m}, {k}, {n}) at ({r}, {c}): {got} against {exact}"
                    );
                }
            }
        }
    }

    /// The flex patch's change 6: a convolution's im2col is built column-major straight from
    /// the NCHW input, and gemm computes the same sums. Against the old path written out —
    /// per image, group and tile of 512 output positions, the weights flattened to
    /// `[c_out, (kh, kw, c_in)]` times the transpose of a row-major im2col with the same
    /// column order, as a flex matmul (the gemm call the old path made): the same bits, on one
    /// thread and on two. Against an f64 host convolution: within 1e-4. Cases `(batch, c_in,
    /// size, c_out, kernel, stride, padding, dilation, groups)`: the DCGAN critic's two
    /// convolutions, a weight-gradient-like one (dilation 2, 16 outputs an image), one of
    /// four tiles with a short last one, and a grouped one.
    #[cfg(feature = "flex")]
    #[test]
    fn flex_conv2d_gives_the_bits_of_the_row_major_im2col_product() {
        use burn::tensor::ops::ConvOptions;
        use burn::tensor::{Tensor, TensorData, module};
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for case in [
            [2, 64, 14, 128, 4, 2, 1, 1, 1],
            [2, 1, 28, 64, 4, 2, 1, 1, 1],
            [3, 5, 14, 32, 7, 1, 1, 2, 1],
            [1, 3, 40, 20, 3, 1, 1, 1, 1],
            [2, 8, 10, 12, 3, 1, 1, 1, 2],
        ] {
            let [
                batch,
                c_in,
                size,
                c_out,
                kernel,
                stride,
                pad,
                dilation,
                groups,
            ] = case;
            let cpg = c_in / groups;
            let x = wave(batch * c_in * size * size, 0.3);
            let w = wave(c_out * cpg * kernel * kernel, 1.7);
            let out = (size + 2 * pad - dilation * (kernel - 1) - 1) / stride + 1;
            // Input row of output row `o` and kernel row `k`, if inside the image.
            let at = |o: usize, k: usize| {
                (o * stride + k * dilation)
                    .checked_sub(pad)
                    .filter(|&i| i < size)
            };
            let outputs = |threads: usize| {
                on_flex_with_threads(threads, |flex| {
                    let xt = Tensor::<4>::from_data(
                        TensorData::new(x.clone(), [batch, c_in, size, size]),
                        flex,
                    );
                    let wt = Tensor::<4>::from_data(
                        TensorData::new(w.clone(), [c_out, cpg, kernel, kernel]),
                        flex,
                    );
                    let options = ConvOptions::new([stride; 2], [pad; 2], [dilation; 2], groups);
                    let conv = module::conv2d(xt, wt, None, options);
                    let mut old = vec![0.0f32; batch * c_out * out * out];
                    let ocpg = c_out / groups;
                    let col_len = cpg * kernel * kernel;
                    for (b, g) in (0..batch).flat_map(|b| (0..groups).map(move |g| (b, g))) {
                        let w_flat: Vec<f32> = (0..ocpg * col_len)
                            .map(|i| {
                                let (o, j) = (g * ocpg + i / col_len, i % col_len);
                                let (kpos, c) = (j / cpg, j % cpg);
                                w[(o * cpg + c) * kernel * kernel + kpos]
                            })
                            .collect();
                        let wf =
                            Tensor::<2>::from_data(TensorData::new(w_flat, [ocpg, col_len]), flex);
                        for start in (0..out * out).step_by(512) {
                            let tile = (out * out - start).min(512);
                            let col: Vec<f32> = (0..tile * col_len)
                                .map(|i| {
                                    let (p, j) = (start + i / col_len, i % col_len);
                                    let (kpos, c) = (j / cpg, j % cpg);
                                    let ih = at(p / out, kpos / kernel);
                                    let iw = at(p % out, kpos % kernel);
                                    match (ih, iw) {
                                        (Some(ih), Some(iw)) => {
                                            x[((b * c_in + g * cpg + c) * size + ih) * size + iw]
                                        }
                                        _ => 0.0,
                                    }
                                })
                                .collect();
                            let ct =
                                Tensor::<2>::from_data(TensorData::new(col, [tile, col_len]), flex);
                            let product = wf.clone().matmul(ct.transpose()).into_data();
                            let product = product.try_to_vec::<f32>().unwrap();
                            for (i, v) in product.into_iter().enumerate() {
                                let (o, p) = (g * ocpg + i / tile, start + i % tile);
                                old[(b * c_out + o) * out * out + p] = v;
                            }
                        }
                    }
                    (conv.into_data().try_to_vec::<f32>().unwrap(), old)
                })
            };
            for threads in [1, 2] {
                let (conv, old) = outputs(threads);
                assert_eq!(bits(&conv), bits(&old), "{case:?}, {threads} threads");
                for (i, &got) in conv.iter().enumerate() {
                    let (b, o, p) = (
                        i / (c_out * out * out),
                        i / (out * out) % c_out,
                        i % (out * out),
                    );
                    let g = o / (c_out / groups);
                    let mut exact = 0.0f64;
                    for (c, kh, kw) in (0..cpg).flat_map(|c| {
                        (0..kernel).flat_map(move |kh| (0..kernel).map(move |kw| (c, kh, kw)))
                    }) {
                        if let (Some(ih), Some(iw)) = (at(p / out, kh), at(p % out, kw)) {
                            let xv = x[((b * c_in + g * cpg + c) * size + ih) * size + iw];
                            let wv = w[((o * cpg + c) * kernel + kh) * kernel + kw];
                            exact += xv as f64 * wv as f64;
                        }
                    }
                    assert!(
                        (got as f64 - exact).abs() <= 1e-4,
                        "{case:?} at {i}: {got} against {exact}"
                    );
                }
            }
        }
    }
}
