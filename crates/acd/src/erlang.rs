//! Staffing arithmetic for `hotlined staffing`.
//!
//! - **Erlang C** (M/M/n, A. K. Erlang 1917): callers wait as long as it takes. The probability of waiting and
//!   the service level `P(wait ≤ t) = 1 − C(n, A)·e^{−(n−A)·t/AHT}` are the textbook figures of every staffing
//!   table; used here for the service-level target. It ignores callers who give up, so it errs on the side of
//!   more operators.
//! - **Erlang A** (M/M/n+M: exponential patience; C. Palm 1943, and O. Garnett, A. Mandelbaum, M. Reiman,
//!   "Designing a call center with impatient customers", Manufacturing & Service Operations Management 4(3),
//!   2002, pp. 208–227): callers abandon at rate θ while they wait. Used for the answer rate (1 − P(abandon)),
//!   which Erlang C cannot give. It is computed exactly from its birth–death chain (states = calls in the system,
//!   births λ, deaths `min(k, n)·μ + max(k − n, 0)·θ`), summed until the terms vanish.
//! - The patience is estimated from the measured calls as `θ̂ = abandoned / total time waited` (answered and
//!   abandoned callers alike): the maximum-likelihood estimate for exponential patience censored by answers,
//!   the one Brown et al. use ("Statistical analysis of a telephone call center", JASA 100(469), 2005).

/// Erlang B: the blocking probability of `n` servers offered `a` Erlangs (the stable recurrence).
pub fn erlang_b(n: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=n {
        b = a * b / (f64::from(k) + a * b);
    }
    b
}

/// Erlang C: the probability that a caller waits, with `n` operators and `a` Erlangs (1 when `n ≤ a`: the
/// queue grows without bound).
pub fn erlang_c(n: u32, a: f64) -> f64 {
    let nf = f64::from(n);
    if nf <= a {
        return 1.0;
    }
    let b = erlang_b(n, a);
    nf * b / (nf - a * (1.0 - b))
}

/// Erlang C service level: the share of callers answered within `t_s` (0 when unstable).
pub fn service_level(n: u32, a: f64, aht_s: f64, t_s: f64) -> f64 {
    let nf = f64::from(n);
    if nf <= a {
        return 0.0;
    }
    (1.0 - erlang_c(n, a) * (-(nf - a) * t_s / aht_s).exp()).clamp(0.0, 1.0)
}

/// Erlang C average speed of answer, in seconds (infinite when unstable).
pub fn asa_s(n: u32, a: f64, aht_s: f64) -> f64 {
    let nf = f64::from(n);
    if nf <= a {
        return f64::INFINITY;
    }
    erlang_c(n, a) * aht_s / (nf - a)
}

/// Erlang A figures for one staffing level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ErlangA {
    /// A caller finds every operator busy.
    pub wait_probability: f64,
    /// A caller gives up before an answer.
    pub abandon_probability: f64,
}

/// Erlang A with `n` operators, `lambda` calls per second, mean handle time `aht_s` and mean patience
/// `patience_s` (infinite patience is Erlang C; then an unstable system abandons nobody but answers nobody in
/// time either, reported as abandon probability 1).
pub fn erlang_a(n: u32, lambda: f64, aht_s: f64, patience_s: f64) -> ErlangA {
    if lambda <= 0.0 {
        return ErlangA {
            wait_probability: 0.0,
            abandon_probability: 0.0,
        };
    }
    let mu = 1.0 / aht_s;
    let theta = if patience_s.is_finite() && patience_s > 0.0 {
        1.0 / patience_s
    } else {
        0.0
    };
    let a = lambda / mu;
    if theta == 0.0 {
        let c = erlang_c(n, a);
        return ErlangA {
            wait_probability: c,
            abandon_probability: if f64::from(n) <= a { 1.0 } else { 0.0 },
        };
    }
    // Unnormalised stationary probabilities q_k, rescaled when they grow large.
    let (mut total, mut waiting, mut queued) = (0.0f64, 0.0f64, 0.0f64);
    let mut q = 1.0f64;
    let mut k: u64 = 0;
    let n64 = u64::from(n);
    loop {
        total += q;
        if k >= n64 {
            waiting += q;
            queued += (k - n64) as f64 * q;
        }
        if total > 1e250 {
            for v in [&mut total, &mut waiting, &mut queued, &mut q] {
                *v /= 1e250;
            }
        }
        k += 1;
        let death = if k <= n64 {
            k as f64 * mu
        } else {
            n64 as f64 * mu + (k - n64) as f64 * theta
        };
        q *= lambda / death;
        // Past the servers the terms fall geometrically (deaths grow with k): stop once they are negligible.
        if k > n64 && q < total * 1e-16 {
            break;
        }
        if k > n64 + 10_000_000 {
            break;
        }
    }
    ErlangA {
        wait_probability: waiting / total,
        abandon_probability: (theta * (queued / total) / lambda).clamp(0.0, 1.0),
    }
}

/// The fewest operators for which Erlang C answers `target` of the calls within `t_s` (0 without traffic).
pub fn agents_for_service_level(a: f64, aht_s: f64, t_s: f64, target: f64) -> u32 {
    if a <= 0.0 {
        return 0;
    }
    let mut n = a.floor() as u32 + 1;
    while service_level(n, a, aht_s, t_s) < target {
        n += 1;
    }
    n
}

/// The fewest operators for which Erlang A answers `target` of the calls (the rest abandon).
pub fn agents_for_answer_rate(lambda: f64, aht_s: f64, patience_s: f64, target: f64) -> u32 {
    if lambda <= 0.0 {
        return 0;
    }
    let mut n = 1;
    while 1.0 - erlang_a(n, lambda, aht_s, patience_s).abandon_probability < target {
        n += 1;
    }
    n
}

/// Mean patience (s) from what was measured: abandons and the total time callers waited (answered and
/// abandoned). None when nobody abandoned (patience looks unbounded: use Erlang C).
pub fn patience_estimate_s(abandoned: u64, total_wait_s: f64) -> Option<f64> {
    (abandoned > 0 && total_wait_s > 0.0).then(|| total_wait_s / abandoned as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// Erlang B tables (any teletraffic handbook): 1% blocking is reached at 4.46 E on 10 lines, 12.03 E on
    /// 20 lines, 1.36 E on 5 lines.
    #[test]
    fn erlang_b_matches_the_published_table() {
        assert!(close(erlang_b(10, 4.46), 0.01, 0.0005));
        assert!(close(erlang_b(20, 12.03), 0.01, 0.0005));
        assert!(close(erlang_b(5, 1.36), 0.01, 0.0005));
        assert_eq!(erlang_b(0, 3.0), 1.0);
    }

    /// The textbook case of the issue: 100 calls an hour of 180 s = 5 Erlangs; 80% within 20 s needs 8
    /// operators (7 give 74.0%, 8 give 88.0%).
    #[test]
    fn five_erlangs_at_80_in_20_seconds_needs_eight() {
        let a = 100.0 * 180.0 / 3600.0;
        assert!(close(service_level(7, a, 180.0, 20.0), 0.7404, 0.0005));
        assert!(close(service_level(8, a, 180.0, 20.0), 0.8801, 0.0005));
        assert_eq!(agents_for_service_level(a, 180.0, 20.0, 0.8), 8);
        assert!(close(erlang_c(8, a), 0.1673, 0.0005));
    }

    /// Call Centre Helper's worked example ("Erlang C formula made simple"): 100 calls per half hour, 180 s
    /// AHT = 10 Erlangs; with 11 agents a call waits with probability 68.21%, and 80% in 20 s needs 14.
    #[test]
    fn ten_erlangs_worked_example() {
        let a = 200.0 * 180.0 / 3600.0;
        assert!(close(erlang_c(11, a), 0.6821, 0.00005));
        assert!(service_level(13, a, 180.0, 20.0) < 0.8);
        assert_eq!(agents_for_service_level(a, 180.0, 20.0, 0.8), 14);
        assert!(asa_s(10, a, 180.0).is_infinite());
        assert_eq!(agents_for_service_level(0.0, 180.0, 20.0, 0.8), 0);
    }

    /// Erlang A tends to Erlang C as patience grows, abandons more with less patience, and its abandon
    /// probability equals the flow balance P(ab) = θ·E[Lq]/λ (checked against Erlang C's own queue length).
    #[test]
    fn erlang_a_is_consistent_with_erlang_c() {
        let lambda = 100.0 / 3600.0;
        let patient = erlang_a(8, lambda, 180.0, 1e9);
        assert!(close(patient.wait_probability, erlang_c(8, 5.0), 1e-4));
        assert!(patient.abandon_probability < 1e-4);
        let impatient = erlang_a(8, lambda, 180.0, 60.0);
        let very = erlang_a(8, lambda, 180.0, 10.0);
        assert!(very.abandon_probability > impatient.abandon_probability);
        assert!(impatient.abandon_probability > 0.0);
        // With little patience, fewer are lost: a queue with abandonment waits less than Erlang C says.
        assert!(impatient.wait_probability < erlang_c(8, 5.0));
        // Overloaded (10 E on 8): Erlang C diverges, Erlang A stays finite; the lost share is at least the
        // excess load (1 − 8/10).
        let over = erlang_a(8, 200.0 / 3600.0, 180.0, 60.0);
        assert!(over.abandon_probability > 0.2 && over.abandon_probability < 1.0);
        assert_eq!(agents_for_answer_rate(0.0, 180.0, 60.0, 0.95), 0);
        let n = agents_for_answer_rate(lambda, 180.0, 60.0, 0.95);
        assert!(1.0 - erlang_a(n, lambda, 180.0, 60.0).abandon_probability >= 0.95);
        assert!(1.0 - erlang_a(n - 1, lambda, 180.0, 60.0).abandon_probability < 0.95);
    }

    /// A closed form to check the chain against: with one operator and patience equal to the handle time, the
    /// death rate of state k is k·μ, so the number of calls in the system is Poisson(a): P(wait) = 1 − e^{−a}.
    #[test]
    fn erlang_a_chain_matches_a_closed_form() {
        let (lambda, aht) = (1.0 / 60.0, 120.0);
        let r = erlang_a(1, lambda, aht, aht);
        let a = lambda * aht;
        assert!(close(r.wait_probability, 1.0 - (-a).exp(), 1e-9));
        // E[Lq] = E[(K−1)+] = a − 1 + e^{−a}; P(ab) = θ·E[Lq]/λ.
        let lq = a - 1.0 + (-a).exp();
        assert!(close(r.abandon_probability, lq / aht / lambda, 1e-9));
        assert_eq!(patience_estimate_s(0, 100.0), None);
        assert_eq!(patience_estimate_s(4, 100.0), Some(25.0));
    }
}
