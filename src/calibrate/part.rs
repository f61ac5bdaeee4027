//! A calibration split over processes: each shard samples a contiguous range of the chains
//! ([`super::nuts::sample_chains`]) and keeps them as a [`NutsPart`], every float as its bit
//! pattern; [`merge_nuts_parts`] puts the parts back in chain order into the [`NutsRun`] one
//! process makes. Nothing is reduced before the merge (summaries, R̂, ESS, bands are computed
//! from the merged run, by the same code as a single run), so the merged run folder is the
//! single run's, save the chains' measured elapsed times, which differ between any two runs.

use super::nuts::{ChainResult, DrawStats, NutsConfig, NutsRun};
use crate::shard::{hex_f64, hex_f64s, hex_f64s_opt};
use serde::{Deserialize, Serialize};

/// One chain of a part: [`ChainResult`] with the per-draw statistics as columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainPart {
    /// The chain's index.
    pub chain: u64,
    /// Draws in z, row-major (draws × dim).
    #[serde(with = "hex_f64s")]
    pub z: Vec<f64>,
    /// Draws in natural units, row-major (draws × dim).
    #[serde(with = "hex_f64s")]
    pub x: Vec<f64>,
    /// ln p per kept draw ([`super::nuts::DrawStats::lp`]).
    #[serde(with = "hex_f64s")]
    pub lp: Vec<f64>,
    /// Acceptance statistic per kept draw.
    #[serde(with = "hex_f64s")]
    pub accept_stat: Vec<f64>,
    /// Step size per kept draw (jittered).
    #[serde(with = "hex_f64s")]
    pub draw_step_size: Vec<f64>,
    /// Tree depth per kept draw.
    pub treedepth: Vec<u64>,
    /// Leapfrog steps per kept draw.
    pub n_leapfrog: Vec<u64>,
    /// Divergent per kept draw.
    pub divergent: Vec<bool>,
    /// Hamiltonian energy per kept draw.
    #[serde(with = "hex_f64s")]
    pub energy: Vec<f64>,
    /// Tree depth at the maximum per kept draw.
    pub maxdepth_reached: Vec<bool>,
    /// Adapted step size ([`ChainResult::step_size`]).
    #[serde(with = "hex_f64")]
    pub step_size: f64,
    /// Relative step-size jitter.
    #[serde(with = "hex_f64")]
    pub step_size_jitter: f64,
    /// Adapted diagonal of the inverse mass matrix in z (`None` for the low-rank metric).
    #[serde(with = "hex_f64s_opt")]
    pub inv_mass_diag: Option<Vec<f64>>,
    /// Failed model evaluations, warm-up included.
    pub model_errors: u64,
    /// Divergences during warm-up.
    pub divergences_warmup: u64,
    /// Wall time of warm-up \[s\].
    #[serde(with = "hex_f64")]
    pub seconds_warmup: f64,
    /// Wall time of the kept draws \[s\].
    #[serde(with = "hex_f64")]
    pub seconds_sampling: f64,
    /// Where the chain started, in z.
    #[serde(with = "hex_f64s")]
    pub init_z: Vec<f64>,
}

impl From<&ChainResult> for ChainPart {
    fn from(c: &ChainResult) -> Self {
        let col = |f: fn(&DrawStats) -> f64| c.stats.iter().map(f).collect();
        Self {
            chain: c.chain,
            z: c.z.clone(),
            x: c.x.clone(),
            lp: col(|s| s.lp),
            accept_stat: col(|s| s.accept_stat),
            draw_step_size: col(|s| s.step_size),
            treedepth: c.stats.iter().map(|s| s.treedepth).collect(),
            n_leapfrog: c.stats.iter().map(|s| s.n_leapfrog).collect(),
            divergent: c.stats.iter().map(|s| s.divergent).collect(),
            energy: col(|s| s.energy),
            maxdepth_reached: c.stats.iter().map(|s| s.maxdepth_reached).collect(),
            step_size: c.step_size,
            step_size_jitter: c.step_size_jitter,
            inv_mass_diag: c.inv_mass_diag.clone(),
            model_errors: c.model_errors,
            divergences_warmup: c.divergences_warmup,
            seconds_warmup: c.seconds_warmup,
            seconds_sampling: c.seconds_sampling,
            init_z: c.init_z.clone(),
        }
    }
}

impl ChainPart {
    /// The chain back, checked against the run's shape (`draws` kept draws of `dim` values).
    fn into_chain(self, draws: usize, dim: usize) -> Result<ChainResult, String> {
        let n = draws;
        let lens = [
            ("z", self.z.len(), n * dim),
            ("x", self.x.len(), n * dim),
            ("lp", self.lp.len(), n),
            ("accept_stat", self.accept_stat.len(), n),
            ("draw_step_size", self.draw_step_size.len(), n),
            ("treedepth", self.treedepth.len(), n),
            ("n_leapfrog", self.n_leapfrog.len(), n),
            ("divergent", self.divergent.len(), n),
            ("energy", self.energy.len(), n),
            ("maxdepth_reached", self.maxdepth_reached.len(), n),
            ("init_z", self.init_z.len(), dim),
        ];
        for (name, found, expected) in lens {
            if found != expected {
                return Err(format!(
                    "chain {}: '{name}' holds {found} values, expected {expected} ({n} draws of {dim} parameters)",
                    self.chain
                ));
            }
        }
        let stats = (0..n)
            .map(|i| DrawStats {
                lp: self.lp[i],
                accept_stat: self.accept_stat[i],
                step_size: self.draw_step_size[i],
                treedepth: self.treedepth[i],
                n_leapfrog: self.n_leapfrog[i],
                divergent: self.divergent[i],
                energy: self.energy[i],
                maxdepth_reached: self.maxdepth_reached[i],
            })
            .collect();
        Ok(ChainResult {
            chain: self.chain,
            z: self.z,
            x: self.x,
            stats,
            step_size: self.step_size,
            step_size_jitter: self.step_size_jitter,
            inv_mass_diag: self.inv_mass_diag,
            model_errors: self.model_errors,
            divergences_warmup: self.divergences_warmup,
            seconds_warmup: self.seconds_warmup,
            seconds_sampling: self.seconds_sampling,
            init_z: self.init_z,
        })
    }
}

/// A shard of a NUTS run: its chains and what every shard shares (the unknowns, the notes on
/// the start, the MAP the chains started from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NutsPart {
    /// Unknown names (model parameters, then σ's).
    pub names: Vec<String>,
    /// Units of the unknowns.
    pub units: Vec<String>,
    /// Number of unknowns.
    pub dim: usize,
    /// Notes on the run's start, as [`super::nuts::NutsRun::notes`].
    pub notes: Vec<String>,
    /// The MAP in z the chains started from (init "map").
    #[serde(with = "hex_f64s_opt")]
    pub map_z: Option<Vec<f64>>,
    /// This shard's chains.
    pub chains: Vec<ChainPart>,
}

impl From<&NutsRun> for NutsPart {
    fn from(r: &NutsRun) -> Self {
        Self {
            names: r.names.clone(),
            units: r.units.clone(),
            dim: r.dim,
            notes: r.notes.clone(),
            map_z: r.map_z.clone(),
            chains: r.chains.iter().map(ChainPart::from).collect(),
        }
    }
}

/// The run of `cfg` from its parts in shard order: their chains concatenated, which must be
/// chains 0..`cfg.chains` in order, each `cfg.draws` draws long; the parts must agree on the
/// unknowns, the notes and the MAP start (bit for bit). An error says which part (0-based
/// position) and what.
pub fn merge_nuts_parts(
    cfg: &NutsConfig,
    parts: Vec<NutsPart>,
) -> Result<NutsRun, (usize, String)> {
    let first = parts.first().ok_or((0, "no parts".to_string()))?.clone();
    let bits = |v: &Option<Vec<f64>>| {
        v.as_ref()
            .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
    };
    let mut chains = Vec::with_capacity(cfg.chains);
    for (i, p) in parts.into_iter().enumerate() {
        let differs = |what: &str| Err((i, format!("its {what} differ from the first part's")));
        if p.names != first.names || p.units != first.units || p.dim != first.dim {
            return differs("unknowns");
        }
        if p.notes != first.notes {
            return differs("notes on the chains' start");
        }
        if bits(&p.map_z) != bits(&first.map_z) {
            return differs("MAP start point");
        }
        for c in p.chains {
            if c.chain != chains.len() as u64 {
                return Err((
                    i,
                    format!(
                        "holds chain {} where chain {} comes next",
                        c.chain,
                        chains.len()
                    ),
                ));
            }
            chains.push(
                c.into_chain(cfg.draws as usize, first.dim)
                    .map_err(|e| (i, e))?,
            );
        }
    }
    if chains.len() != cfg.chains {
        return Err((
            0,
            format!(
                "the parts hold {} chains, the run {}",
                chains.len(),
                cfg.chains
            ),
        ));
    }
    Ok(NutsRun {
        names: first.names,
        units: first.units,
        config: cfg.clone(),
        dim: first.dim,
        chains,
        notes: first.notes,
        map_z: first.map_z,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(c: u64, draws: usize, dim: usize) -> ChainResult {
        let v = |k: usize| {
            (0..k)
                .map(|i| (c as f64 + 0.1) * (i as f64 + 0.3))
                .collect()
        };
        ChainResult {
            chain: c,
            z: v(draws * dim),
            x: v(draws * dim),
            stats: (0..draws)
                .map(|i| DrawStats {
                    lp: -(i as f64) / 3.0,
                    accept_stat: 0.9,
                    step_size: 0.1 + i as f64,
                    treedepth: 3,
                    n_leapfrog: 7,
                    divergent: i == 1,
                    energy: 1.5 + i as f64,
                    maxdepth_reached: false,
                })
                .collect(),
            step_size: 0.1,
            step_size_jitter: 0.1,
            inv_mass_diag: Some(v(dim)),
            model_errors: 2,
            divergences_warmup: 1,
            seconds_warmup: 0.5,
            seconds_sampling: 1.0 / 3.0,
            init_z: v(dim),
        }
    }

    #[test]
    fn parts_round_trip_and_merge_in_chain_order() {
        let cfg = NutsConfig {
            chains: 3,
            draws: 4,
            ..NutsConfig::default()
        };
        let run = |cs: Vec<u64>| NutsRun {
            names: vec!["a".into(), "b".into()],
            units: vec!["eV".into(), "V".into()],
            config: cfg.clone(),
            dim: 2,
            chains: cs.into_iter().map(|c| chain(c, 4, 2)).collect(),
            notes: vec![],
            map_z: Some(vec![0.1, 0.2]),
        };
        let through_json = |r: &NutsRun| -> NutsPart {
            serde_json::from_str(&serde_json::to_string(&NutsPart::from(r)).unwrap()).unwrap()
        };
        let whole = NutsPart::from(&run(vec![0, 1, 2]));
        let merged = merge_nuts_parts(
            &cfg,
            vec![through_json(&run(vec![0, 1])), through_json(&run(vec![2]))],
        )
        .unwrap();
        assert_eq!(NutsPart::from(&merged), whole);
        let e = merge_nuts_parts(
            &cfg,
            vec![through_json(&run(vec![2])), through_json(&run(vec![0, 1]))],
        )
        .unwrap_err();
        assert_eq!(e.0, 0);
        assert!(
            e.1.contains("holds chain 2 where chain 0 comes next"),
            "{}",
            e.1
        );
        let e = merge_nuts_parts(&cfg, vec![through_json(&run(vec![0, 1]))]).unwrap_err();
        assert!(e.1.contains("hold 2 chains, the run 3"), "{}", e.1);
        let mut short = through_json(&run(vec![2]));
        short.chains[0].lp.pop();
        let e = merge_nuts_parts(&cfg, vec![through_json(&run(vec![0, 1])), short]).unwrap_err();
        assert_eq!(e.0, 1);
        assert!(e.1.contains("'lp' holds 3 values"), "{}", e.1);
    }
}
