//! Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative
//! Adversarial Networks"): a layer uses W/σ(W), where σ(W) is the largest singular value of its
//! weight viewed as a matrix, estimated by power iteration.
//!
//! The state is one vector u (as many entries as the matrix has rows), kept in the module's
//! record so that a checkpoint resumes with the same estimate. With v = Wᵀu/‖Wᵀu‖ the estimate
//! is σ = uᵀWv = ‖Wᵀu‖. u and v are treated as constants by autodiff (as in the paper and in
//! PyTorch's `spectral_norm`), so ∂σ/∂W = u vᵀ.

use burn::module::{Module, RunningState};
use burn::tensor::{Device, Tensor, TensorData};
use burngan_core::HostRng;

/// The power-iteration state of one spectrally normalised weight.
#[derive(Module, Debug)]
pub struct SpectralNorm {
    /// The left singular vector estimate u, shape `[rows]`, unit length.
    pub u: RunningState<Tensor<1>>,
}

/// x / max(‖x‖₂, 1e-12) for a column `[n, 1]` (PyTorch's `F.normalize` epsilon).
fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().mul(x.clone()).sum().sqrt().clamp_min(1e-12);
    x.div(norm.unsqueeze())
}

impl SpectralNorm {
    /// A state for a weight matrix with `rows` rows: u drawn from N(0, 1) on the host RNG and
    /// normalised.
    pub fn new(rows: usize, rng: &mut HostRng, device: &Device) -> Self {
        let mut u = rng.normal_vec(rows);
        let norm = u.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        u.iter_mut().for_each(|x| *x /= norm);
        let u = Tensor::from_data(
            TensorData::new(u, [rows]),
            &device.clone().without_autodiff(),
        );
        Self {
            u: RunningState::new(u),
        }
    }

    /// One power-iteration step on `matrix` `[rows, cols]` (treated as a constant): u ←
    /// W·v/‖W·v‖ with v = Wᵀu/‖Wᵀu‖. The new u is stored.
    pub fn power_iteration(&self, matrix: &Tensor<2>) {
        let w = matrix.clone().detach();
        let u = self.current_u(&w);
        let v = normalize(w.clone().transpose().matmul(u));
        let u = normalize(w.matmul(v));
        let [rows, _] = u.dims();
        let u = u.reshape([rows]);
        let u = if u.is_autodiff() {
            Tensor::from_inner(u.inner())
        } else {
            u
        };
        self.u.update(u);
    }

    /// σ = ‖Wᵀu‖ for `matrix` `[rows, cols]` with the stored u, differentiable in `matrix`;
    /// shape `[1]`. Does not change u.
    pub fn sigma(&self, matrix: Tensor<2>) -> Tensor<1> {
        let u = self.current_u(&matrix);
        let wt_u = matrix.transpose().matmul(u); // [cols, 1]
        wt_u.clone().mul(wt_u).sum().sqrt()
    }

    /// The stored u as a column `[rows, 1]` on the device of `like`, outside any graph.
    fn current_u(&self, like: &Tensor<2>) -> Tensor<2> {
        let u = self.u.value_sync();
        let [rows] = u.dims();
        let device = like.device();
        let u = if device.is_autodiff() {
            Tensor::from_inner(u.to_device(&device.clone().without_autodiff()))
        } else {
            u.to_device(&device)
        };
        u.reshape([rows, 1])
    }

    /// W/σ(W) for `matrix` `[rows, cols]`. When `iterate` is true, one power-iteration step
    /// runs first (what a training forward does); the σ used is that of the updated u.
    pub fn normalise(&self, matrix: Tensor<2>, iterate: bool) -> Tensor<2> {
        if iterate {
            self.power_iteration(&matrix);
        }
        let sigma = self.sigma(matrix.clone());
        matrix.div(sigma.unsqueeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burngan_backend::{BackendKind, device};

    /// Q = I − 2·vvᵀ/‖v‖², an orthogonal (Householder) matrix, row-major `n × n`.
    fn householder(v: &[f64]) -> Vec<f64> {
        let n = v.len();
        let norm2: f64 = v.iter().map(|x| x * x).sum();
        let mut q = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                q[i * n + j] = f64::from(u8::from(i == j)) - 2.0 * v[i] * v[j] / norm2;
            }
        }
        q
    }

    #[test]
    fn power_iteration_converges_to_the_largest_singular_value() {
        // W = U·diag(s)·Vᵀ with U (5×5) and V (3×3) orthogonal: its singular values are s.
        let s = [3.0, 1.25, 0.5];
        let u = householder(&[1.0, -2.0, 0.5, 3.0, 1.0]);
        let v = householder(&[0.3, 1.0, -1.0]);
        let mut w = vec![0.0f32; 5 * 3];
        for i in 0..5 {
            for j in 0..3 {
                let value: f64 = (0..3).map(|k| u[i * 5 + k] * s[k] * v[j * 3 + k]).sum();
                w[i * 3 + j] = value as f32;
            }
        }
        let device = device(BackendKind::Flex).unwrap();
        let matrix = Tensor::<2>::from_data(TensorData::new(w, [5, 3]), &device);
        let state = SpectralNorm::new(5, &mut HostRng::seed_from(3), &device);
        for _ in 0..100 {
            state.power_iteration(&matrix);
        }
        let sigma: Vec<f32> = state
            .sigma(matrix.clone())
            .into_data()
            .try_to_vec()
            .unwrap();
        assert!((sigma[0] - 3.0).abs() < 1e-5, "σ = {}", sigma[0]);
        // The normalised matrix has spectral norm 1: its σ estimate is 1 with the same u.
        let normalised = state.normalise(matrix, false);
        let one: Vec<f32> = state.sigma(normalised).into_data().try_to_vec().unwrap();
        assert!((one[0] - 1.0).abs() < 1e-5, "{}", one[0]);
        // The converged u is ± the first column of U.
        let found: Vec<f32> = state.u.value_sync().into_data().try_to_vec().unwrap();
        let dot: f64 = (0..5).map(|i| f64::from(found[i]) * u[i * 5]).sum();
        assert!((dot.abs() - 1.0).abs() < 1e-5, "u·u₁ = {dot}");
    }
}
