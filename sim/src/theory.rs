//! Closed-form queueing results: what the simulator is validated against, and
//! what the fluid mode uses for stationary stretches.

/// Erlang C: the probability that an arrival waits in an M/M/c queue with `c`
/// servers and offered load `a = λ/μ` erlangs (1 when `a >= c`).
///
/// Computed through the Erlang B recursion, which is stable for thousands of
/// servers.
pub fn erlang_c(c: u32, a: f64) -> f64 {
    if c == 0 || a >= f64::from(c) {
        return 1.0;
    }
    if a <= 0.0 {
        return 0.0;
    }
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (f64::from(k) + a * b);
    }
    let rho = a / f64::from(c);
    b / (1.0 - rho * (1.0 - b))
}

/// Mean time in queue (before service) of an M/M/c queue; infinite if unstable.
pub fn mmc_mean_wait(lambda: f64, mu: f64, c: u32) -> f64 {
    let a = lambda / mu;
    if a >= f64::from(c) {
        return f64::INFINITY;
    }
    erlang_c(c, a) / (f64::from(c) * mu - lambda)
}

/// Mean time in queue of an M/G/1 queue (Pollaczek–Khinchine) with mean
/// service `mean_s` and squared coefficient of variation `scv` of service.
pub fn mg1_mean_wait(lambda: f64, mean_s: f64, scv: f64) -> f64 {
    let rho = lambda * mean_s;
    if rho >= 1.0 {
        return f64::INFINITY;
    }
    rho * mean_s * (1.0 + scv) / (2.0 * (1.0 - rho))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_c_matches_the_issue_example() {
        let w = mmc_mean_wait(9.0, 1.0, 10);
        assert!((w - 0.6687).abs() < 5e-5, "{w}");
        // M/M/1: Wq = rho / (mu - lambda)
        assert!((mmc_mean_wait(0.5, 1.0, 1) - 1.0).abs() < 1e-12);
        // M/D/1 at rho 0.5: 0.5 * 1 / (2 * 0.5) = 0.5
        assert!((mg1_mean_wait(0.5, 1.0, 0.0) - 0.5).abs() < 1e-12);
    }
}
