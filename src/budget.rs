//! What the machine can hold: a size the user controls (draws × chains, Sobol rows) is turned
//! into the memory it needs and checked against the memory available *before* anything is
//! allocated, so a too-large setting is an input error naming the limit, not an abort.

/// Bytes of memory available to a new allocation: `MemAvailable` of /proc/meminfo (Linux),
/// else 4 GiB. `BRIDGELAW_MEMORY_BYTES` overrides it (tests, batch systems with a smaller
/// allowance than the node).
pub fn available_bytes() -> f64 {
    if let Some(b) = std::env::var("BRIDGELAW_MEMORY_BYTES")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
    {
        return b;
    }
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemAvailable:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(4.0 * GIB, |kb| kb * 1024.0)
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// A byte count for messages: "3.2 GiB", "120 MiB".
pub fn human_bytes(b: f64) -> String {
    if b >= GIB {
        format!("{:.1} GiB", b / GIB)
    } else {
        format!("{:.0} MiB", (b / (1024.0 * 1024.0)).max(1.0))
    }
}

/// A duration for messages: "45 s", "12 min", "3.5 h", "2.1 days".
pub fn human_duration(seconds: f64) -> String {
    if seconds < 120.0 {
        format!("{seconds:.0} s")
    } else if seconds < 7200.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 172_800.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else {
        format!("{:.1} days", seconds / 86_400.0)
    }
}

/// `Ok` when `bytes` (the estimate for `what`) fits in 80 % of the available memory, else the
/// message: the estimate, the limit and what to lower.
pub fn check_memory(what: &str, bytes: f64, lower: &str) -> Result<(), String> {
    let available = available_bytes();
    let limit = 0.8 * available;
    if bytes.is_finite() && bytes <= limit {
        Ok(())
    } else {
        Err(format!(
            "{what} needs about {} of memory, more than the {} this machine can give \
             (80 % of the {} available): lower {lower}",
            human_bytes(bytes),
            human_bytes(limit),
            human_bytes(available)
        ))
    }
}

/// Longest run a setting may ask for \[s\]: 30 days on this machine's threads. Longer is almost
/// always a slip (a few zeros too many); a genuine one is split with `--shard` over machines.
pub const MAX_RUN_SECONDS: f64 = 30.0 * 86_400.0;

/// Seconds per model evaluation, from timing `eval` a few times (at most 8, stopping once
/// 0.2 s have passed).
pub fn seconds_per_evaluation(mut eval: impl FnMut()) -> f64 {
    let start = std::time::Instant::now();
    let mut n = 0u32;
    while n < 8 && (n == 0 || start.elapsed().as_secs_f64() < 0.2) {
        eval();
        n += 1;
    }
    start.elapsed().as_secs_f64() / f64::from(n)
}

/// The wall time \[s\] of `evaluations` model evaluations of `seconds_each` spread over the
/// thread pool; an error (the estimate, the limit and what to lower) when it exceeds
/// [`MAX_RUN_SECONDS`].
pub fn check_duration(
    what: &str,
    evaluations: f64,
    seconds_each: f64,
    lower: &str,
) -> Result<f64, String> {
    let threads = rayon::current_num_threads().max(1);
    let seconds = evaluations * seconds_each / threads as f64;
    if seconds.is_finite() && seconds <= MAX_RUN_SECONDS {
        Ok(seconds)
    } else {
        Err(format!(
            "{what} ({evaluations:.3e} model evaluations at {:.2e} s each on {threads} threads) \
             would take about {}, more than the {} a run may ask for: lower {lower} (a Sobol or \
             Monte Carlo run can be split over machines with --shard)",
            seconds_each,
            human_duration(seconds),
            human_duration(MAX_RUN_SECONDS)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_beyond_the_memory_is_refused_with_the_estimate() {
        assert!(check_memory("a small run", 1024.0, "n").is_ok());
        let e = check_memory("4e12 draws", 3.2e13, "draws").unwrap_err();
        assert!(
            e.contains("4e12 draws") && e.contains("GiB") && e.contains("lower draws"),
            "{e}"
        );
        assert!(check_memory("overflow", f64::INFINITY, "n").is_err());
    }

    #[test]
    fn a_run_beyond_a_month_is_refused_with_the_estimate() {
        assert!(check_duration("a short run", 1e6, 1e-6, "n").is_ok_and(|s| s <= 1.0));
        let e = check_duration("1e12 outer draws", 6e12, 1e-5, "outer").unwrap_err();
        assert!(
            e.contains("1e12 outer draws") && e.contains("days") && e.contains("lower outer"),
            "{e}"
        );
        assert!(check_duration("overflow", f64::INFINITY, 1.0, "n").is_err());
        let each = seconds_per_evaluation(|| std::hint::black_box(()));
        assert!((0.0..1e-3).contains(&each), "{each}");
    }
}
