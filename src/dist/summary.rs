//! Human-readable summary of a joint distribution: each parameter's value ± sd and 95 %
//! interval in natural units, with its unit, and the correlation matrix.

use super::{JointDistribution, Transform};
use std::fmt::Write as _;

/// Format a number with 4 significant digits, switching to exponent form outside [1e-3, 1e5).
pub fn sig4(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || (1e-3..1e5).contains(&a) {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 8) as usize;
        format!("{v:.digits$}")
    } else {
        format!("{v:.3e}")
    }
}

/// The summary table as Markdown-compatible text.
pub fn summary_table(d: &JointDistribution) -> String {
    let mut s = String::new();
    if !d.title.is_empty() {
        let _ = writeln!(s, "# {}\n", d.title);
    }
    if !d.source.is_empty() {
        let _ = writeln!(s, "source: {}\n", d.source.trim());
    }
    let _ = writeln!(
        s,
        "| parameter | unit | distribution | median | mean ± sd | 95 % interval |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for (i, p) in d.params.iter().enumerate() {
        let (m, sd) = d.marginal_mean_sd(i);
        let med = d.marginal_quantile(i, 0.5);
        let lo = d.marginal_quantile(i, 0.025);
        let hi = d.marginal_quantile(i, 0.975);
        let dist = match p.transform {
            Transform::Identity => "normal".to_string(),
            Transform::Log => format!("lognormal (log-sd {})", sig4(d.cov_z[(i, i)].sqrt())),
            Transform::Logit { lower, upper } => format!("logit-normal on ({lower}, {upper})"),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} ± {} | [{}, {}] |",
            p.name,
            p.unit,
            dist,
            sig4(med),
            sig4(m),
            sig4(sd),
            sig4(lo),
            sig4(hi)
        );
    }
    let n = d.dim();
    if n > 1 {
        let c = d.correlation();
        let _ = writeln!(
            s,
            "\nCorrelation (of the transformed, jointly normal variables):\n"
        );
        let _ = writeln!(s, "| | {} |", d.names().join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(n));
        for i in 0..n {
            let row: Vec<String> = (0..n).map(|j| format!("{:+.3}", c[(i, j)])).collect();
            let _ = writeln!(s, "| {} | {} |", d.params[i].name, row.join(" | "));
        }
    }
    s
}
