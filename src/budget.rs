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
}
