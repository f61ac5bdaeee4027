//! Convergence diagnostics after Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021),
//! "Rank-normalization, folding, and localization: an improved R̂", Bayesian Analysis 16(2),
//! implemented step by step as ArviZ 0.23 does (`arviz.stats.diagnostics`), so values agree with
//! ArviZ to rounding: rank-normalised split R̂, bulk and tail ESS, MCSE of mean and sd, E-BFMI;
//! plus sampler-health counts (divergences, tree-depth saturation) with plain-language warnings.
//!
//! All functions take the draws of one quantity as one slice per chain (equal lengths).

use crate::dist::sample::standard_normal_quantile;

/// A matrix of draws: chains × draws, row-major.
#[derive(Debug, Clone)]
struct Mat {
    rows: usize,
    cols: usize,
    v: Vec<f64>,
}

impl Mat {
    fn from_chains<C: AsRef<[f64]>>(chains: &[C]) -> Self {
        let cols = chains.first().map_or(0, |c| c.as_ref().len());
        let mut v = Vec::with_capacity(chains.len() * cols);
        for c in chains {
            v.extend_from_slice(&c.as_ref()[..cols]);
        }
        Self {
            rows: chains.len(),
            cols,
            v,
        }
    }
    fn row(&self, r: usize) -> &[f64] {
        &self.v[r * self.cols..(r + 1) * self.cols]
    }
    fn map(&self, f: impl Fn(f64) -> f64) -> Self {
        Self {
            rows: self.rows,
            cols: self.cols,
            v: self.v.iter().map(|&x| f(x)).collect(),
        }
    }
}

/// Split each chain in half (first ⌊n/2⌋ draws, last ⌊n/2⌋ draws; the middle draw of an odd
/// chain is dropped), giving 2m chains.
fn split_chains(a: &Mat) -> Mat {
    let half = a.cols / 2;
    let mut v = Vec::with_capacity(a.rows * 2 * half);
    for r in 0..a.rows {
        v.extend_from_slice(&a.row(r)[..half]);
    }
    for r in 0..a.rows {
        v.extend_from_slice(&a.row(r)[a.cols - half..]);
    }
    Mat {
        rows: a.rows * 2,
        cols: half,
        v,
    }
}

/// Average ranks (1-based, ties get their mean rank) over all entries.
fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

/// Rank normalisation: z = Φ⁻¹((r − 3/8)/(S − 3/4 + 1)) with r the average rank over all S draws.
fn z_scale(a: &Mat) -> Mat {
    let s = a.v.len() as f64;
    let c = 3.0 / 8.0;
    let r = average_ranks(&a.v);
    Mat {
        rows: a.rows,
        cols: a.cols,
        v: r.iter()
            .map(|&ri| standard_normal_quantile((ri - c) / (s - 2.0 * c + 1.0)))
            .collect(),
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn var(x: &[f64], ddof: f64) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() as f64 - ddof)
}

/// Median (average of the two middle values for even counts), as numpy.
fn median(x: &[f64]) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        0.5 * (s[n / 2 - 1] + s[n / 2])
    }
}

/// Quantile p of all draws, linear interpolation between order statistics (R type 7, numpy's
/// default): h = (S − 1)p, q = x₍⌊h⌋₎ + (h − ⌊h⌋)(x₍⌊h⌋+1₎ − x₍⌊h⌋₎).
pub fn quantile(x: &[f64], p: f64) -> f64 {
    let mut s = x.to_vec();
    s.sort_by(f64::total_cmp);
    quantile_sorted(&s, p)
}

/// [`quantile`] on already sorted values (p clamped to [0, 1]; NaN for no values).
pub fn quantile_sorted(s: &[f64], p: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let h = (s.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    s[lo] + (h - lo as f64) * (s[hi] - s[lo])
}

/// Classic R̂ of a chains × draws matrix:
/// $$\hat R = \sqrt{\frac{B/W + n − 1}{n}}$$, B = n·Var(chain means), W = mean chain variance
/// (both with ddof = 1).
fn rhat_basic(a: &Mat) -> f64 {
    let n = a.cols as f64;
    let means: Vec<f64> = (0..a.rows).map(|r| mean(a.row(r))).collect();
    let w = mean(&(0..a.rows).map(|r| var(a.row(r), 1.0)).collect::<Vec<_>>());
    let b = n * var(&means, 1.0);
    ((b / w + n - 1.0) / n).sqrt()
}

/// Autocovariance at lag t of one row, (1/n)Σᵢ (xᵢ − x̄)(xᵢ₊ₜ − x̄) (the FFT estimate ArviZ uses).
fn autocov_lag(centered: &[f64], t: usize) -> f64 {
    let n = centered.len();
    let mut s = 0.0;
    for i in 0..n - t {
        s += centered[i] * centered[i + t];
    }
    s / n as f64
}

/// Effective sample size of a chains × draws matrix with Geyer's initial positive and
/// monotone sequence estimators, exactly as ArviZ `_ess`.
fn ess_basic(a: &Mat) -> f64 {
    if a.v.iter().any(|x| !x.is_finite()) || a.cols < 4 {
        return f64::NAN;
    }
    let (min, max) =
        a.v.iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
    if max - min < 1e-15 {
        return a.v.len() as f64;
    }
    let (m, n) = (a.rows, a.cols);
    let nf = n as f64;
    let centered: Vec<Vec<f64>> = (0..m)
        .map(|r| {
            let mu = mean(a.row(r));
            a.row(r).iter().map(|x| x - mu).collect()
        })
        .collect();
    // Mean over chains of the lag-t autocovariance; computed lazily (the Geyer loop usually
    // stops after a few lags).
    let mut cache: Vec<Option<f64>> = vec![None; n];
    let mut acov = |t: usize| -> f64 {
        if let Some(v) = cache[t] {
            return v;
        }
        let v = centered.iter().map(|c| autocov_lag(c, t)).sum::<f64>() / m as f64;
        cache[t] = Some(v);
        v
    };
    let chain_means: Vec<f64> = (0..m).map(|r| mean(a.row(r))).collect();
    let mean_var = acov(0) * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if m > 1 {
        var_plus += var(&chain_means, 1.0);
    }
    let mut rho = vec![0.0; n];
    let mut rho_even = 1.0;
    rho[0] = rho_even;
    let mut rho_odd = 1.0 - (mean_var - acov(1)) / var_plus;
    rho[1] = rho_odd;
    let mut t = 1;
    while t + 3 < n && (rho_even + rho_odd) > 0.0 {
        rho_even = 1.0 - (mean_var - acov(t + 1)) / var_plus;
        rho_odd = 1.0 - (mean_var - acov(t + 2)) / var_plus;
        if rho_even + rho_odd >= 0.0 {
            rho[t + 1] = rho_even;
            rho[t + 2] = rho_odd;
        }
        t += 2;
    }
    // t = 1 if the loop never ran, then max_t = −1 (as in ArviZ).
    let max_t = t as isize - 2;
    if rho_even > 0.0 {
        rho[(max_t + 1) as usize] = rho_even;
    }
    let mut t: isize = 1;
    while t <= max_t - 2 {
        let tu = t as usize;
        if rho[tu + 1] + rho[tu + 2] > rho[tu - 1] + rho[tu] {
            rho[tu + 1] = (rho[tu - 1] + rho[tu]) / 2.0;
            rho[tu + 2] = rho[tu + 1];
        }
        t += 2;
    }
    let ess = (m * n) as f64;
    let upto = (max_t + 1).max(0) as usize;
    let mut tau = -1.0 + 2.0 * rho[..upto].iter().sum::<f64>();
    if upto < n {
        tau += rho[upto];
    }
    tau = tau.max(1.0 / ess.log10());
    if rho.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    ess / tau
}

fn valid<C: AsRef<[f64]>>(chains: &[C], min_chains: usize) -> Option<Mat> {
    let a = Mat::from_chains(chains);
    if a.rows < min_chains || a.cols < 4 || chains.iter().any(|c| c.as_ref().len() != a.cols) {
        return None;
    }
    if a.v.iter().any(|x| !x.is_finite()) {
        return None;
    }
    Some(a)
}

/// Rank-normalised split R̂: max(R̂ of z-scaled split chains, R̂ of z-scaled folded split chains
/// |x − median|). NaN with fewer than 2 chains or 4 draws.
pub fn rhat<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 2) else {
        return f64::NAN;
    };
    let split = split_chains(&a);
    let bulk = rhat_basic(&z_scale(&split));
    let med = median(&split.v);
    let tail = rhat_basic(&z_scale(&split.map(|x| (x - med).abs())));
    bulk.max(tail)
}

/// Bulk ESS: ESS of the rank-normalised split chains.
pub fn ess_bulk<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 1) else {
        return f64::NAN;
    };
    ess_basic(&z_scale(&split_chains(&a)))
}

/// Tail ESS: min of the ESS of the indicators x ≤ q₀.₀₅ and x ≤ q₀.₉₅ (split chains).
pub fn ess_tail<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 1) else {
        return f64::NAN;
    };
    let mut s = a.v.clone();
    s.sort_by(f64::total_cmp);
    let e = |p: f64| {
        let q = quantile_sorted(&s, p);
        ess_basic(&split_chains(&a.map(|x| if x <= q { 1.0 } else { 0.0 })))
    };
    e(0.05).min(e(0.95))
}

/// ESS of the mean: ESS of the split chains (no rank normalisation).
pub fn ess_mean<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 1) else {
        return f64::NAN;
    };
    ess_basic(&split_chains(&a))
}

/// MCSE of the mean: sd(all draws, ddof 1)/√ESS_mean.
pub fn mcse_mean<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 1) else {
        return f64::NAN;
    };
    var(&a.v, 1.0).sqrt() / ess_basic(&split_chains(&a)).sqrt()
}

/// MCSE of the sd (ArviZ ≥ 0.14): with c = (x − x̄)², E = mean c, ESS = ESS_mean(c),
/// Var̂(c̄) = (mean c² − E²)/ESS, MCSE = √(Var̂/E/4) (delta method for √).
pub fn mcse_sd<C: AsRef<[f64]>>(chains: &[C]) -> f64 {
    let Some(a) = valid(chains, 1) else {
        return f64::NAN;
    };
    let mu = mean(&a.v);
    let c2 = a.map(|x| (x - mu) * (x - mu));
    let ess = ess_basic(&split_chains(&c2));
    let evar = mean(&c2.v);
    let varvar = (c2.v.iter().map(|c| c * c).sum::<f64>() / c2.v.len() as f64 - evar * evar) / ess;
    (varvar / evar / 4.0).sqrt()
}

/// E-BFMI of one chain's energies: mean((E_{i+1} − E_i)²)/Var(E) (ddof 1). Below 0.3 the
/// momentum resampling explores the energy distribution poorly.
pub fn e_bfmi(energy: &[f64]) -> f64 {
    if energy.len() < 3 {
        return f64::NAN;
    }
    let num = energy
        .windows(2)
        .map(|w| (w[1] - w[0]).powi(2))
        .sum::<f64>()
        / (energy.len() - 1) as f64;
    num / var(energy, 1.0)
}

/// All per-quantity diagnostics at once.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ParamDiagnostics {
    /// Rank-normalised split R̂ \[1\].
    pub rhat: f64,
    /// Bulk effective sample size.
    pub ess_bulk: f64,
    /// Tail effective sample size.
    pub ess_tail: f64,
    /// Monte Carlo standard error of the mean, in the quantity's unit.
    pub mcse_mean: f64,
    /// Monte Carlo standard error of the sd, in the quantity's unit.
    pub mcse_sd: f64,
}

/// [`rhat`], [`ess_bulk`], [`ess_tail`], [`mcse_mean`], [`mcse_sd`] of one quantity.
pub fn param_diagnostics<C: AsRef<[f64]>>(chains: &[C]) -> ParamDiagnostics {
    ParamDiagnostics {
        rhat: rhat(chains),
        ess_bulk: ess_bulk(chains),
        ess_tail: ess_tail(chains),
        mcse_mean: mcse_mean(chains),
        mcse_sd: mcse_sd(chains),
    }
}

/// Thresholds used by [`warnings`]: R̂ > 1.01, ESS < 100 per chain (400 for 4 chains),
/// E-BFMI < 0.3 (Vehtari et al. 2021; Betancourt 2016).
pub const RHAT_MAX: f64 = 1.01;
/// R-hat above which chains are stuck or split between modes, not merely unconverged.
pub const RHAT_SPLIT: f64 = 1.05;
/// Least bulk and tail ESS per chain (times the chains for the run).
pub const ESS_PER_CHAIN_MIN: f64 = 100.0;
/// E-BFMI below which a chain explores the energy poorly.
pub const EBFMI_MIN: f64 = 0.3;

/// Sampler-health counts of one run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SamplerHealth {
    /// Chains run.
    pub chains: usize,
    /// Kept draws per chain.
    pub draws_per_chain: usize,
    /// Divergent transitions after warm-up, per chain.
    pub divergences: Vec<u64>,
    /// Draws whose tree hit the maximum depth, per chain.
    pub treedepth_saturated: Vec<u64>,
    /// The maximum tree depth of the run.
    pub max_depth: u64,
    /// E-BFMI per chain.
    pub e_bfmi: Vec<f64>,
    /// Model evaluations that failed (solver failure, out of physical range), per chain,
    /// warm-up included; each one is treated as a divergence by NUTS.
    pub model_errors: Vec<u64>,
}

/// Plain-language warnings, each with what to try.
pub fn warnings(
    health: &SamplerHealth,
    names: &[String],
    diags: &[ParamDiagnostics],
) -> Vec<String> {
    let mut w = Vec::new();
    let total_draws = (health.chains * health.draws_per_chain).max(1);
    let div: u64 = health.divergences.iter().sum();
    if div > 0 {
        w.push(format!(
            "{div} divergent transitions after warm-up ({:.1} % of draws): the sampler could not follow the \
             posterior's curvature somewhere, so the draws may be biased. Try a higher target_accept (0.95–0.99), \
             narrower or better-centred priors, or reparameterising strongly correlated parameters.",
            100.0 * div as f64 / total_draws as f64
        ));
    }
    let sat: u64 = health.treedepth_saturated.iter().sum();
    if sat > 0 {
        w.push(format!(
            "{sat} draws hit the maximum tree depth {}: trajectories were cut short and exploration is slow. \
             Try max_depth {} or a low-rank mass matrix if parameters are strongly correlated.",
            health.max_depth,
            health.max_depth + 2
        ));
    }
    for (c, e) in health.e_bfmi.iter().enumerate() {
        if *e < EBFMI_MIN {
            w.push(format!(
                "chain {c}: E-BFMI = {e:.2} < {EBFMI_MIN}: momentum resampling explores the energy poorly \
                 (heavy tails or a funnel). Try a longer warm-up or reparameterising."
            ));
        }
    }
    let errs: u64 = health.model_errors.iter().sum();
    if errs > 0 {
        w.push(format!(
            "{errs} model evaluations failed (solver failure or parameters outside the physical range); \
             each was counted as a divergence. If many, the prior puts mass where the model cannot run: \
             tighten the prior or check the model's valid range."
        ));
    }
    let split: Vec<String> = names
        .iter()
        .zip(diags)
        .filter(|(_, d)| d.rhat.is_nan() || d.rhat > RHAT_SPLIT)
        .map(|(n, d)| format!("{n} ({:.2})", d.rhat))
        .collect();
    if !split.is_empty() {
        w.insert(
            0,
            format!(
                "CHAINS DISAGREE: R-hat > {RHAT_SPLIT} for {}: the chains are stuck in different places \
                 or split between modes, so the summaries, intervals and fit residuals mix them and \
                 describe no single posterior, however good the residuals look. Start from the MAP \
                 (init = \"map\"), run longer, or look at each chain's draws.",
                split.join(", ")
            ),
        );
    }
    let ess_min = ESS_PER_CHAIN_MIN * health.chains as f64;
    for (n, d) in names.iter().zip(diags) {
        if d.rhat.is_nan() || d.rhat > RHAT_MAX {
            w.push(format!(
                "{n}: R-hat = {:.3} > {RHAT_MAX}: the chains disagree, so they have not converged. \
                 Run longer (more tune and draws), start from the MAP, or check for multiple modes.",
                d.rhat
            ));
        }
        if d.ess_bulk.is_nan()
            || d.ess_tail.is_nan()
            || d.ess_bulk < ess_min
            || d.ess_tail < ess_min
        {
            w.push(format!(
                "{n}: effective sample size bulk {:.0}, tail {:.0} < {ess_min:.0}: estimates (especially the \
                 5 % and 95 % quantiles) are noisy. Draw more.",
                d.ess_bulk, d.ess_tail
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_with_ties() {
        assert_eq!(
            average_ranks(&[3.0, 1.0, 3.0, 2.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
    }

    #[test]
    fn quantiles_and_median_match_numpy() {
        let x = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(median(&x), 2.5);
        assert!((quantile(&x, 0.05) - 1.15).abs() < 1e-12);
        assert!((quantile(&x, 0.95) - 3.85).abs() < 1e-12);
    }

    /// Agreement with ArviZ 0.23.4 to 1e-6 (relative) on the reference AR(1) chains.
    #[test]
    fn arviz_agreement_on_reference_chains() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/reference/");
        let csv = std::fs::read_to_string(format!("{dir}chains_ar1.csv")).unwrap();
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{dir}rhat_ess_reference.json")).unwrap(),
        )
        .unwrap();
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let rows: Vec<Vec<f64>> = lines
            .map(|l| l.split(',').map(|s| s.parse().unwrap()).collect())
            .collect();
        let n_chains = json["n_chains"].as_u64().unwrap() as usize;
        let vars = json["variables"].as_object().unwrap();
        let mut checked = 0;
        for (name, expect) in vars {
            let col = header.iter().position(|h| h == name).unwrap();
            let chains: Vec<Vec<f64>> = (0..n_chains)
                .map(|c| {
                    rows.iter()
                        .filter(|r| r[0] as usize == c)
                        .map(|r| r[col])
                        .collect()
                })
                .collect();
            let got = [
                ("rhat_rank", rhat(&chains)),
                ("ess_bulk", ess_bulk(&chains)),
                ("ess_tail", ess_tail(&chains)),
                ("ess_mean", ess_mean(&chains)),
                ("mcse_mean", mcse_mean(&chains)),
                ("mcse_sd", mcse_sd(&chains)),
            ];
            for (k, v) in got {
                let e = expect[k].as_f64().unwrap();
                let rel = (v - e).abs() / e.abs().max(1e-300);
                assert!(
                    rel < 1e-6,
                    "{name}.{k}: ours {v}, ArviZ {e}, rel diff {rel:e}"
                );
                checked += 1;
            }
        }
        assert!(checked >= 36);
        // E-BFMI of the energy column per chain.
        let col = header.iter().position(|h| *h == "energy").unwrap();
        for (c, e) in json["bfmi_energy_per_chain"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let en: Vec<f64> = rows
                .iter()
                .filter(|r| r[0] as usize == c)
                .map(|r| r[col])
                .collect();
            let v = e_bfmi(&en);
            assert!(
                (v - e.as_f64().unwrap()).abs() < 1e-9,
                "chain {c}: {v} vs {e}"
            );
        }
    }

    #[test]
    fn constant_and_short_inputs_do_not_panic() {
        let c = vec![vec![1.0; 10], vec![1.0; 10]];
        assert!(rhat(&c).is_nan() || rhat(&c).is_finite());
        assert!(ess_bulk(&[vec![1.0, 2.0]]).is_nan());
        assert!(rhat(&[vec![1.0, 2.0, 3.0, 4.0]]).is_nan());
    }

    /// Two chains sitting in different places (each well mixed around its own point, as a
    /// sampler stuck in two modes gives): the loud warning comes first; one chain pair that
    /// agrees raises none.
    #[test]
    fn split_chains_raise_the_loud_warning() {
        let mut rng = crate::dist::sample::stream_rng(5, 0);
        let mut draws = |shift: f64| {
            let mut n = vec![0.0; 400];
            crate::dist::sample::fill_standard_normals(&mut rng, &mut n);
            n.iter().map(|x| x + shift).collect::<Vec<f64>>()
        };
        let health = SamplerHealth {
            chains: 2,
            draws_per_chain: 400,
            divergences: vec![0, 0],
            treedepth_saturated: vec![0, 0],
            max_depth: 10,
            e_bfmi: vec![1.0, 1.0],
            model_errors: vec![0, 0],
        };
        let names = vec!["E_m".to_string()];
        let split = [param_diagnostics(&[draws(0.0), draws(3.0)])];
        let w = warnings(&health, &names, &split);
        assert!(
            w[0].starts_with("CHAINS DISAGREE") && w[0].contains("E_m"),
            "{w:?}"
        );
        let mixed = [param_diagnostics(&[draws(0.0), draws(0.0)])];
        let w = warnings(&health, &names, &mixed);
        assert!(!w.iter().any(|w| w.contains("CHAINS DISAGREE")), "{w:?}");
    }
}
