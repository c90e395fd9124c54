//! Small dense linear algebra for the regression model: a symmetric Gram
//! matrix accumulated row by row and solved by Cholesky with a ridge.
//!
//! The regression is refitted at every backtest origin of every series; doing
//! that with a general-purpose solver would cost a full pass over the data per
//! origin. Accumulating `X'WX` and `X'Wy` once, in time order, with
//! exponential forgetting, and taking a snapshot at each origin makes all the
//! origins of a series cost one pass plus a few `p^3/6` solves.

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

/// Solve `A x = b` for symmetric positive-definite `A` (overwritten by its factor).
pub(crate) fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Option<Vec<f64>> {
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
    for i in (0..p).rev() {
        let mut s = y[i];
        for k in i + 1..p {
            s -= a[k * p + i] * y[k];
        }
        y[i] = s / a[i * p + i];
    }
    Some(y)
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
    fn ridge_rescues_a_singular_system() {
        let mut g = Gram::new(2);
        for i in 0..10 {
            g.add(&[1.0, 1.0], i as f64, 1.0);
        }
        assert!(g.solve(&[0.0, 0.0]).is_some());
    }
}
