//! Linear algebra for the regression model, in two paths that solve the same
//! weighted ridge problem `min_b sum_t w_t (y_t - x_t b)^2 + sum_j r_j b_j^2`:
//!
//! - [`Gram`]: the fast path for the many backtest and calibration origins.
//!   The regression is refitted at every backtest origin of every series;
//!   doing that with a general-purpose solver would cost a full pass over the
//!   data per origin. Accumulating `X'WX` and `X'Wy` once, in time order, and
//!   solving a snapshot by Cholesky at each origin makes all the origins of a
//!   series cost one pass plus a few `p^3/6` solves.
//! - [`linfa_ridge`]: the fit behind the forecast the user gets (the final
//!   origin), done by `linfa-linear`'s ordinary least squares (a Householder
//!   QR of the design, numerically sturdier than the normal equations) on the
//!   design whose rows are scaled by `sqrt(w_t)` and augmented with one row
//!   `sqrt(r_j) e_j` (target 0) per penalized column, which is exactly the
//!   ridge problem above. It costs a full pass and `2 n p^2` flops, once per
//!   series. A unit test pins both paths to the same coefficients on real data
//!   so they cannot drift apart.

/// Upper-triangle packed Gram matrix `X'WX` with its right-hand side `X'Wy`.
#[derive(Debug, Clone)]
pub(crate) struct Gram {
    p: usize,
    /// Row-major full matrix (only the upper triangle is maintained while accumulating).
    xtx: Vec<f64>,
    xty: Vec<f64>,
}

impl Gram {
    pub(crate) fn new(p: usize) -> Self {
        Gram {
            p,
            xtx: vec![0.0; p * p],
            xty: vec![0.0; p],
        }
    }

    /// Add one observation whose non-zero entries are `idx` (ascending), with
    /// their values in the dense scratch row `x` (zero elsewhere).
    pub(crate) fn add_sparse(&mut self, idx: &[usize], x: &[f64], y: f64, w: f64) {
        let p = self.p;
        for (a, &i) in idx.iter().enumerate() {
            let xi = x[i] * w;
            self.xty[i] += xi * y;
            let row = &mut self.xtx[i * p..(i + 1) * p];
            for &j in &idx[a..] {
                row[j] += xi * x[j];
            }
        }
    }

    #[cfg(test)]
    /// Add one observation given as sparse-aware dense row `x` with weight `w`.
    pub(crate) fn add(&mut self, x: &[f64], y: f64, w: f64) {
        let p = self.p;
        for i in 0..p {
            let xi = x[i] * w;
            if xi == 0.0 {
                continue;
            }
            self.xty[i] += xi * y;
            let row = &mut self.xtx[i * p..(i + 1) * p];
            for j in i..p {
                row[j] += xi * x[j];
            }
        }
    }

    /// Solve `(X'WX + diag(ridge)) b = X'Wy`. Returns `None` only when the
    /// system stays singular after the ridge is raised a few times.
    pub(crate) fn solve(&self, ridge: &[f64]) -> Option<Vec<f64>> {
        let p = self.p;
        let mut boost = 1.0;
        for _ in 0..6 {
            let mut a = vec![0.0; p * p];
            for i in 0..p {
                for j in i..p {
                    let v = self.xtx[i * p + j];
                    a[i * p + j] = v;
                    a[j * p + i] = v;
                }
                a[i * p + i] += ridge[i] * boost + 1e-12;
            }
            if let Some(b) = cholesky_solve(&mut a, &self.xty, p) {
                return Some(b);
            }
            boost *= 100.0;
        }
        None
    }
}

/// One observation for [`linfa_ridge`]: its non-zero `(column, value)`
/// entries, target and weight.
pub(crate) struct Observation {
    pub(crate) entries: Vec<(usize, f64)>,
    pub(crate) y: f64,
    pub(crate) w: f64,
}

/// Weighted ridge least squares with `p` columns, fitted by `linfa-linear`'s
/// [`LinearRegression`](linfa_linear::LinearRegression) (no intercept: the
/// design carries its own levels) on the row-scaled, ridge-augmented design.
/// Columns with `ridge[j] == 0` are not penalized. Returns `None` when linfa
/// reports the design rank-deficient (the caller then falls back to the
/// [`Gram`] path, which raises the ridge until the system is solvable).
pub(crate) fn linfa_ridge(p: usize, obs: &[Observation], ridge: &[f64]) -> Option<Vec<f64>> {
    use linfa::Dataset;
    use linfa::traits::Fit;
    use ndarray::{Array1, Array2, ShapeBuilder};

    let penalized: Vec<usize> = (0..p).filter(|j| ridge[*j] > 0.0).collect();
    let m = obs.len() + penalized.len();
    if m < p {
        return None;
    }
    // Column-major: linfa's Householder QR walks the design column by column.
    let mut x = Array2::<f64>::zeros((m, p).f());
    let mut y = Array1::<f64>::zeros(m);
    for (r, o) in obs.iter().enumerate() {
        let sw = o.w.sqrt();
        for &(j, v) in &o.entries {
            x[[r, j]] = v * sw;
        }
        y[r] = o.y * sw;
    }
    for (k, &j) in penalized.iter().enumerate() {
        x[[obs.len() + k, j]] = ridge[j].sqrt();
    }
    let fitted = linfa_linear::LinearRegression::new()
        .with_intercept(false)
        .fit(&Dataset::new(x, y))
        .ok()?;
    let b = fitted.params().to_vec();
    b.iter().all(|v| v.is_finite()).then_some(b)
}

/// Solve `A x = b` for symmetric positive-definite `A` (overwritten by its factor).
///
/// Row-oriented Cholesky–Banachiewicz. Each entry's sum runs over `k` in
/// order, as the plain triple loop does (the same rounding, bit for bit);
/// four rows below the diagonal are reduced side by side, so the four
/// independent sums overlap in the pipeline instead of each waiting on its
/// own previous addition (this factorisation was over half of a day-ahead
/// forecast's time).
pub(crate) fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
    if a.len() < p * p || b.len() < p {
        return None;
    }
    for j in 0..p {
        let (head, tail) = a.split_at_mut(j * p + p);
        let row_j = &mut head[j * p..];
        let d = row_j[..j].iter().fold(row_j[j], |s, v| s - v * v);
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        let d = d.sqrt();
        row_j[j] = d;
        let rj = &row_j[..j];
        // The rows below j, four (contiguous) at a time.
        for block in tail[..(p - j - 1) * p].chunks_mut(4 * p) {
            if block.len() == 4 * p {
                let (r0, rest) = block.split_at_mut(p);
                let (r1, rest) = rest.split_at_mut(p);
                let (r2, r3) = rest.split_at_mut(p);
                let (mut s0, mut s1, mut s2, mut s3) = (r0[j], r1[j], r2[j], r3[j]);
                for ((((v, x0), x1), x2), x3) in rj
                    .iter()
                    .zip(&r0[..j])
                    .zip(&r1[..j])
                    .zip(&r2[..j])
                    .zip(&r3[..j])
                {
                    s0 -= x0 * v;
                    s1 -= x1 * v;
                    s2 -= x2 * v;
                    s3 -= x3 * v;
                }
                r0[j] = s0 / d;
                r1[j] = s1 / d;
                r2[j] = s2 / d;
                r3[j] = s3 / d;
            } else {
                for r in block.chunks_exact_mut(p) {
                    let s = r[..j].iter().zip(rj).fold(r[j], |s, (u, v)| s - u * v);
                    r[j] = s / d;
                }
            }
        }
    }
    let mut y = b[..p].to_vec();
    for i in 0..p {
        let row = &a[i * p..i * p + p];
        let s = row[..i]
            .iter()
            .zip(&y[..i])
            .fold(y[i], |s, (u, v)| s - u * v);
        y[i] = s / row[i];
    }
    back_substitute(a, &mut y, p);
    Some(y)
}

/// Solve `L^T x = y` in place, `L` the lower factor in `a`.
fn back_substitute(a: &[f64], y: &mut [f64], p: usize) {
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= a[k * p + i] * y[k];
        }
        y[i] = s / a[i * p + i];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_exact_coefficients() {
        let mut g = Gram::new(3);
        for i in 0..50 {
            let x = [1.0, i as f64 / 10.0, ((i * 7) % 5) as f64];
            let y = 2.0 - 0.5 * x[1] + 3.0 * x[2];
            g.add(&x, y, 1.0);
        }
        let b = g.solve(&[0.0; 3]).unwrap();
        assert!(
            (b[0] - 2.0).abs() < 1e-8 && (b[1] + 0.5).abs() < 1e-8 && (b[2] - 3.0).abs() < 1e-8
        );
    }

    #[test]
    fn linfa_matches_gram_on_a_weighted_ridge_problem() {
        let (mut g, mut obs) = (Gram::new(3), Vec::new());
        for i in 0..60 {
            let x = [1.0, (i as f64 / 7.0).sin(), ((i * 7) % 5) as f64];
            let y = 2.0 - 0.5 * x[1] + 3.0 * x[2] + ((i * 13) % 11) as f64 / 10.0;
            let w = (0.05 * i as f64).exp();
            g.add(&x, y, w);
            obs.push(Observation {
                entries: x.iter().copied().enumerate().collect(),
                y,
                w,
            });
        }
        let ridge = [0.0, 5.0, 2.0];
        let a = g.solve(&ridge).unwrap();
        let b = linfa_ridge(3, &obs, &ridge).unwrap();
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() < 1e-9, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn ridge_rescues_a_singular_system() {
        let mut g = Gram::new(2);
        for i in 0..10 {
            g.add(&[1.0, 1.0], i as f64, 1.0);
        }
        assert!(g.solve(&[0.0, 0.0]).is_some());
    }

    /// The plain triple loop the factorisation replaced (the reference; the
    /// back substitution did not change and is shared).
    fn plain_cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
        for j in 0..p {
            let mut d = a[j * p + j];
            for k in 0..j {
                d -= a[j * p + k] * a[j * p + k];
            }
            if d <= 0.0 || !d.is_finite() {
                return None;
            }
            let d = d.sqrt();
            a[j * p + j] = d;
            for i in j + 1..p {
                let mut s = a[i * p + j];
                for k in 0..j {
                    s -= a[i * p + k] * a[j * p + k];
                }
                a[i * p + j] = s / d;
            }
        }
        let mut y = b.to_vec();
        for i in 0..p {
            let mut s = y[i];
            for k in 0..i {
                s -= a[i * p + k] * y[k];
            }
            y[i] = s / a[i * p + i];
        }
        super::back_substitute(a, &mut y, p);
        Some(y)
    }

    #[test]
    fn cholesky_has_the_bits_of_the_plain_loop() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 11) as f64) / ((1u64 << 53) as f64) - 0.5
        };
        for p in [1usize, 2, 3, 4, 5, 6, 7, 8, 9, 13, 50, 101] {
            let x: Vec<f64> = (0..p * (p + 3)).map(|_| rnd()).collect();
            let mut a = vec![0.0; p * p];
            for i in 0..p {
                for j in 0..p {
                    let mut s = 0.0;
                    for k in 0..p + 3 {
                        s += x[i * (p + 3) + k] * x[j * (p + 3) + k];
                    }
                    a[i * p + j] = s;
                }
                a[i * p + i] += 0.1;
            }
            let b: Vec<f64> = (0..p).map(|_| rnd()).collect();
            let mut a1 = a.clone();
            let mut a2 = a.clone();
            let y1 = super::cholesky_solve(&mut a1, &b, p).unwrap();
            let y2 = plain_cholesky_solve(&mut a2, &b, p).unwrap();
            for (i, (u, v)) in a1.iter().zip(&a2).enumerate() {
                if i % p <= i / p {
                    assert_eq!(u.to_bits(), v.to_bits(), "p {p} a[{i}]");
                }
            }
            for (u, v) in y1.iter().zip(&y2) {
                assert_eq!(u.to_bits(), v.to_bits(), "p {p} y");
            }
        }
    }
}
