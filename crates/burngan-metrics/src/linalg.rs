//! Dense linear algebra in `f64` for the Fréchet distance: the eigendecomposition of a
//! symmetric matrix and the singular values of a square matrix.
//!
//! Matrices are row-major `&[f64]` buffers of length `dim · dim`.
//!
//! Both follow Golub & Van Loan, *Matrix Computations* (4th ed.):
//!
//! * symmetric eigenproblem: Householder reduction to tridiagonal form (§8.3.1), then the
//!   implicit symmetric QR iteration with the Wilkinson shift (Algorithms 8.3.2 and 8.3.3),
//!   accumulating the rotations into the eigenvectors. About 9·dim³ flops with eigenvectors.
//! * singular values: Householder reduction to upper bidiagonal form B (Golub & Kahan 1965;
//!   §5.4.8), then the eigenvalues ±σ_i of the 2·dim × 2·dim symmetric tridiagonal matrix
//!   obtained by interleaving the diagonal and superdiagonal of B with zeros (the
//!   Golub–Kahan form, §8.6.1), by the same QR iteration without eigenvectors. About
//!   (8/3)·dim³ flops.
//!
//! Both are backward stable: every computed eigenvalue or singular value is within a small
//! multiple of ε·‖A‖₂ of the exact one. All inner loops run along rows, so the memory
//! access is contiguous.

use crate::MetricError;

/// The most implicit QR steps per eigenvalue before the iteration reports failure.
const MAX_STEPS_PER_EIGENVALUE: usize = 60;

/// The eigendecomposition A = V·diag(λ)·Vᵀ of a symmetric matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct SymmetricEigen {
    /// The eigenvalues λ, in ascending order; length `dim`.
    pub values: Vec<f64>,
    /// The eigenvectors as the rows of a row-major `[dim, dim]` buffer (that is, Vᵀ): row k
    /// is the unit eigenvector of `values[k]`, and the rows are orthonormal.
    pub vectors: Vec<f64>,
    /// The matrix dimension.
    pub dim: usize,
}

/// The eigenvalues and orthonormal eigenvectors of the symmetric `[dim, dim]` row-major
/// `matrix` (tridiagonalisation and implicit QR; see the module documentation). The matrix
/// is symmetrised as (A + Aᵀ)/2 first.
///
/// # Errors
///
/// [`MetricError::ZeroDim`], [`MetricError::WrongLength`] unless `matrix.len() == dim²`,
/// [`MetricError::NonFinite`], and [`MetricError::NoConvergence`] if the QR iteration needs
/// more than 60 steps per eigenvalue (not observed for finite matrices).
pub fn symmetric_eigen(matrix: &[f64], dim: usize) -> Result<SymmetricEigen, MetricError> {
    let mut a = checked_square("matrix", matrix, dim)?;
    symmetrize(&mut a, dim);
    let (mut diagonal, mut off_diagonal, reflectors) = tridiagonalize(&mut a, dim);
    let mut vectors = orthogonal_from_reflectors(&reflectors, dim);
    tridiagonal_qr(&mut diagonal, &mut off_diagonal, Some(&mut vectors))?;
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&i, &j| diagonal[i].total_cmp(&diagonal[j]));
    let mut sorted_vectors = Vec::with_capacity(dim * dim);
    for &k in &order {
        sorted_vectors.extend_from_slice(&vectors[k * dim..(k + 1) * dim]);
    }
    Ok(SymmetricEigen {
        values: order.iter().map(|&k| diagonal[k]).collect(),
        vectors: sorted_vectors,
        dim,
    })
}

/// The eigenvalues, in ascending order, of the symmetric `[dim, dim]` row-major `matrix`
/// (cheaper than [`symmetric_eigen`]: no eigenvectors are accumulated). The matrix is
/// symmetrised as (A + Aᵀ)/2 first.
///
/// # Errors
///
/// As [`symmetric_eigen`].
pub fn symmetric_eigenvalues(matrix: &[f64], dim: usize) -> Result<Vec<f64>, MetricError> {
    let mut a = checked_square("matrix", matrix, dim)?;
    symmetrize(&mut a, dim);
    let (mut diagonal, mut off_diagonal, _) = tridiagonalize(&mut a, dim);
    tridiagonal_qr(&mut diagonal, &mut off_diagonal, None)?;
    diagonal.sort_by(f64::total_cmp);
    Ok(diagonal)
}

/// The singular values, in descending order, of the square row-major `[dim, dim]` `matrix`
/// (bidiagonalisation and the Golub–Kahan tridiagonal; see the module documentation). Each
/// has an absolute error of order ε·σ_max, whereas square roots of the eigenvalues of AᵀA
/// would give errors of order √ε·σ_max for the small ones.
///
/// # Errors
///
/// As [`symmetric_eigen`].
pub fn singular_values(matrix: &[f64], dim: usize) -> Result<Vec<f64>, MetricError> {
    let mut a = checked_square("matrix", matrix, dim)?;
    let (diagonal, super_diagonal) = bidiagonalize(&mut a, dim);
    // The Golub–Kahan matrix: zero diagonal, off-diagonal d₀, e₀, d₁, e₁, …, d_{n−1}. Its
    // eigenvalues are ±σ_i.
    let mut gk_diagonal = vec![0.0; 2 * dim];
    let mut gk_off = vec![0.0; 2 * dim];
    for k in 0..dim {
        gk_off[2 * k] = diagonal[k];
        if k + 1 < dim {
            gk_off[2 * k + 1] = super_diagonal[k];
        }
    }
    tridiagonal_qr(&mut gk_diagonal, &mut gk_off, None)?;
    gk_diagonal.sort_by(|a, b| b.total_cmp(a));
    gk_diagonal.truncate(dim);
    for s in &mut gk_diagonal {
        *s = s.max(0.0);
    }
    Ok(gk_diagonal)
}

/// Copies the upper triangle of a row-major square matrix onto its lower triangle.
pub(crate) fn mirror_upper(a: &mut [f64], dim: usize) {
    for i in 0..dim {
        for j in 0..i {
            a[i * dim + j] = a[j * dim + i];
        }
    }
}

/// Replaces a square matrix by its symmetric part (A + Aᵀ)/2.
pub(crate) fn symmetrize(a: &mut [f64], dim: usize) {
    for i in 0..dim {
        for j in (i + 1)..dim {
            let mean = 0.5 * (a[i * dim + j] + a[j * dim + i]);
            a[i * dim + j] = mean;
            a[j * dim + i] = mean;
        }
    }
}

/// Validates a `[dim, dim]` buffer and returns a copy.
fn checked_square(what: &'static str, matrix: &[f64], dim: usize) -> Result<Vec<f64>, MetricError> {
    if dim == 0 {
        return Err(MetricError::ZeroDim);
    }
    let expected = dim.saturating_mul(dim);
    if matrix.len() != expected {
        return Err(MetricError::WrongLength {
            what,
            len: matrix.len(),
            dim,
            expected,
        });
    }
    crate::error::to_finite_f64(what, matrix)
}

/// A Householder reflector H = I − β·v·vᵀ acting on the coordinates `start..start + v.len()`.
struct Reflector {
    start: usize,
    v: Vec<f64>,
    beta: f64,
}

/// The reflector that maps `x` onto α·e₁, returned as (v, β, α) with H = I − β·v·vᵀ and
/// α = −sign(x₀)·‖x‖ (so that v₀ = x₀ − α involves no cancellation). β = 0 (H = I) when x = 0.
fn householder(x: &[f64]) -> (Vec<f64>, f64, f64) {
    let norm = crate::error::euclidean_norm(x);
    if norm == 0.0 {
        return (x.to_vec(), 0.0, 0.0);
    }
    let alpha = if x[0] >= 0.0 { -norm } else { norm };
    // v = x − α·e₁ scaled so that v₀ = 1 (v₀ = x₀ − α = sign(x₀)·(|x₀| + ‖x‖) is never 0):
    // vᵀv = 2‖x‖/(‖x‖ + |x₀|), so β = 2/vᵀv = (‖x‖ + |x₀|)/‖x‖ needs no second pass, and no
    // product of two norms can underflow for a tiny x (‖x‖² < 1e-308 gave β = ∞ and NaNs).
    let v0 = x[0] - alpha;
    let v = std::iter::once(1.0)
        .chain(x[1..].iter().map(|xi| xi / v0))
        .collect();
    let beta = (norm + x[0].abs()) / norm;
    (v, beta, alpha)
}

/// Reduces the symmetric row-major `a` to tridiagonal form T = Qᵀ·A·Q by Householder
/// reflections applied from both sides (Golub & Van Loan §8.3.1), destroying `a`. Returns
/// the diagonal (length n), the off-diagonal (length n, entry i coupling i and i + 1, the
/// last one 0) and the reflectors H₀, H₁, … whose product is Q.
fn tridiagonalize(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>, Vec<Reflector>) {
    let mut off_diagonal = vec![0.0; n];
    let mut reflectors = Vec::with_capacity(n.saturating_sub(2));
    let mut p = vec![0.0; n];
    for k in 0..n.saturating_sub(2) {
        let start = k + 1;
        let m = n - start;
        // Column k below the diagonal equals row k right of it (symmetry): contiguous.
        let (v, beta, alpha) = householder(&a[k * n + start..(k + 1) * n]);
        off_diagonal[k] = alpha;
        if beta != 0.0 {
            // The trailing block S becomes H·S·H = S − v·wᵀ − w·vᵀ with p = β·S·v and
            // w = p − (β/2)(pᵀv)·v.
            for i in 0..m {
                let row = &a[(start + i) * n + start..(start + i + 1) * n];
                p[i] = beta * row.iter().zip(&v).map(|(s, x)| s * x).sum::<f64>();
            }
            let half = 0.5 * beta * p[..m].iter().zip(&v).map(|(x, y)| x * y).sum::<f64>();
            for i in 0..m {
                p[i] -= half * v[i];
            }
            for i in 0..m {
                let (vi, wi) = (v[i], p[i]);
                let row = &mut a[(start + i) * n + start..(start + i + 1) * n];
                for ((s, &vj), &wj) in row.iter_mut().zip(&v).zip(&p[..m]) {
                    *s -= vi * wj + wi * vj;
                }
            }
        }
        reflectors.push(Reflector { start, v, beta });
    }
    if n >= 2 {
        off_diagonal[n - 2] = a[(n - 2) * n + (n - 1)];
    }
    let diagonal = (0..n).map(|i| a[i * n + i]).collect();
    (diagonal, off_diagonal, reflectors)
}

/// Qᵀ for Q = H₀·H₁·⋯, row-major: row j of the result is column j of Q. Q is built by
/// applying the reflectors from the last to the first (each touches only its trailing
/// block), then transposed.
fn orthogonal_from_reflectors(reflectors: &[Reflector], n: usize) -> Vec<f64> {
    let mut q = vec![0.0; n * n];
    for i in 0..n {
        q[i * n + i] = 1.0;
    }
    let mut z = vec![0.0; n];
    for r in reflectors.iter().rev() {
        if r.beta == 0.0 {
            continue;
        }
        let s = r.start;
        // Q ← H·Q on rows and columns s..n: z = vᵀ·Q, then Q −= β·v·z.
        z[s..].fill(0.0);
        for (i, &vi) in r.v.iter().enumerate() {
            let row = &q[(s + i) * n + s..(s + i + 1) * n];
            for (zj, &qj) in z[s..].iter_mut().zip(row) {
                *zj += vi * qj;
            }
        }
        for (i, &vi) in r.v.iter().enumerate() {
            let factor = r.beta * vi;
            let row = &mut q[(s + i) * n + s..(s + i + 1) * n];
            for (qj, &zj) in row.iter_mut().zip(&z[s..]) {
                *qj -= factor * zj;
            }
        }
    }
    // Transpose in place.
    for i in 0..n {
        for j in (i + 1)..n {
            q.swap(i * n + j, j * n + i);
        }
    }
    q
}

/// Reduces the row-major `a` to upper bidiagonal form B = Uᵀ·A·V by Householder reflections
/// alternately from the left (zeroing a column below the diagonal) and from the right
/// (zeroing a row right of the superdiagonal); destroys `a`. Returns the diagonal (length n)
/// and the superdiagonal (length n − 1) of B, which has the singular values of A.
fn bidiagonalize(a: &mut [f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut diagonal = vec![0.0; n];
    let mut super_diagonal = vec![0.0; n.saturating_sub(1)];
    let mut column = vec![0.0; n];
    let mut z = vec![0.0; n];
    for k in 0..n {
        // Left reflector on rows k..n, from column k.
        for i in k..n {
            column[i] = a[i * n + k];
        }
        let (v, beta, alpha) = householder(&column[k..n]);
        diagonal[k] = alpha;
        if beta != 0.0 && k + 1 < n {
            // A[k.., k+1..] −= β·v·(vᵀ·A[k.., k+1..]).
            z[k + 1..].fill(0.0);
            for (i, &vi) in v.iter().enumerate() {
                let row = &a[(k + i) * n + k + 1..(k + i + 1) * n];
                for (zj, &x) in z[k + 1..].iter_mut().zip(row) {
                    *zj += vi * x;
                }
            }
            for (i, &vi) in v.iter().enumerate() {
                let factor = beta * vi;
                let row = &mut a[(k + i) * n + k + 1..(k + i + 1) * n];
                for (x, &zj) in row.iter_mut().zip(&z[k + 1..]) {
                    *x -= factor * zj;
                }
            }
        }
        if k + 1 >= n {
            continue;
        }
        // Right reflector on columns k+1..n, from row k.
        let (u, beta, alpha) = householder(&a[k * n + k + 1..(k + 1) * n]);
        super_diagonal[k] = alpha;
        if beta != 0.0 {
            // A[k+1.., k+1..] −= β·(A[k+1.., k+1..]·u)·uᵀ.
            for i in (k + 1)..n {
                let row = &mut a[i * n + k + 1..(i + 1) * n];
                let y = beta * row.iter().zip(&u).map(|(x, w)| x * w).sum::<f64>();
                for (x, &uj) in row.iter_mut().zip(&u) {
                    *x -= y * uj;
                }
            }
        }
    }
    (diagonal, super_diagonal)
}

/// The rotation (c, s) with c·x − s·z = r and s·x + c·z = 0, r = ±√(x² + z²).
fn givens(x: f64, z: f64) -> (f64, f64) {
    if z == 0.0 {
        return (1.0, 0.0);
    }
    let r = x.hypot(z);
    (x / r, -z / r)
}

/// Diagonalises the symmetric tridiagonal matrix with `diagonal` a (length n) and
/// `off_diagonal` b (length n, b[i] coupling i and i + 1; b[n − 1] is ignored) by implicit
/// QR steps with the Wilkinson shift, deflating negligible b[i] (|b[i]| ≤ ε·(|a[i]| +
/// |a[i+1]|)). On return `diagonal` holds the eigenvalues (unsorted). When `vectors` is
/// given (a row-major `[n, n]` buffer whose rows span the basis, Qᵀ from the reduction), its
/// rows are rotated along, so that row k ends as the eigenvector of `diagonal[k]`.
fn tridiagonal_qr(
    a: &mut [f64],
    b: &mut [f64],
    mut vectors: Option<&mut [f64]>,
) -> Result<(), MetricError> {
    let n = a.len();
    if n < 2 {
        return Ok(());
    }
    b[n - 1] = 0.0;
    let limit = MAX_STEPS_PER_EIGENVALUE * n;
    let mut steps = 0;
    loop {
        for i in 0..n - 1 {
            if b[i].abs() <= f64::EPSILON * (a[i].abs() + a[i + 1].abs())
                || b[i].abs() < f64::MIN_POSITIVE
            {
                b[i] = 0.0;
            }
        }
        // The last unreduced block lo..=hi: b[hi..n−1] are all 0, b[lo..hi] all non-zero.
        let mut hi = n - 1;
        while hi > 0 && b[hi - 1] == 0.0 {
            hi -= 1;
        }
        if hi == 0 {
            return Ok(());
        }
        let mut lo = hi - 1;
        while lo > 0 && b[lo - 1] != 0.0 {
            lo -= 1;
        }
        steps += 1;
        if steps > limit {
            return Err(MetricError::NoConvergence { dim: n, steps });
        }
        qr_step(a, b, lo, hi, vectors.as_deref_mut());
    }
}

/// One implicit symmetric QR step with the Wilkinson shift on the unreduced block lo..=hi
/// (Golub & Van Loan, Algorithm 8.3.2): a rotation in the plane (lo, lo + 1) built from the
/// first column of T − μI, then rotations chasing the resulting bulge down the band.
fn qr_step(a: &mut [f64], b: &mut [f64], lo: usize, hi: usize, mut vectors: Option<&mut [f64]>) {
    // μ: the eigenvalue of the trailing 2×2 block closer to a[hi].
    let delta = 0.5 * (a[hi - 1] - a[hi]);
    let coupling = b[hi - 1];
    let denominator = delta
        + delta
            .hypot(coupling)
            .copysign(if delta == 0.0 { 1.0 } else { delta });
    let mu = a[hi] - coupling * (coupling / denominator);
    let mut x = a[lo] - mu;
    let mut z = b[lo];
    for k in lo..hi {
        let (c, s) = givens(x, z);
        if k > lo {
            // The rotation zeroes the bulge at (k − 1, k + 1) into b[k − 1].
            b[k - 1] = c * x - s * z;
        }
        // Tᵀ-conjugation of the 2×2 block [a_k, b_k; b_k, a_{k+1}] by [[c, s], [−s, c]].
        let (ak, bk, ak1) = (a[k], b[k], a[k + 1]);
        a[k] = c * c * ak - 2.0 * c * s * bk + s * s * ak1;
        a[k + 1] = s * s * ak + 2.0 * c * s * bk + c * c * ak1;
        b[k] = c * s * (ak - ak1) + (c * c - s * s) * bk;
        if k + 1 < hi {
            // Row k + 2 meets the rotated columns: a new bulge at (k + 2, k).
            x = b[k];
            z = -s * b[k + 1];
            b[k + 1] *= c;
        }
        if let Some(v) = vectors.as_deref_mut() {
            let n = a.len();
            let (head, tail) = v.split_at_mut((k + 1) * n);
            let row_k = &mut head[k * n..];
            let row_k1 = &mut tail[..n];
            for (p, q) in row_k.iter_mut().zip(row_k1.iter_mut()) {
                let (vp, vq) = (*p, *q);
                *p = c * vp - s * vq;
                *q = s * vp + c * vq;
            }
        }
    }
}
