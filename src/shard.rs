//! Runs split over processes: shard specifications (`K/N`), the versioned header every partial
//! result file carries, the check that a set of parts is one whole run, and exact (bit-pattern)
//! serialisation of floating-point state.
//!
//! A shard is a contiguous range of an engine's independent work units (Monte Carlo chunks,
//! Sobol base rows). Each engine reduces its units in one fixed order (unit index order), and a
//! part file carries per-unit state, never a sum over units: floating-point addition is not
//! associative, so a shard that pre-reduced its units could not be merged into the same bits as
//! the single-process fold. Merging replays the single-process fold over the units of all parts
//! in index order, which makes merged and single-process results identical bit for bit whatever
//! the number of shards. Integer state (histogram counts, failure counts) is summed.
//!
//! Floats in part files are written as IEEE-754 bit patterns (16 hex digits each), so a part
//! read back holds the very bits it was written with (decimal JSON numbers need not round-trip,
//! and cannot hold NaN or ±∞).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` tag of every part file.
pub const PART_FORMAT: &str = "bridgelaw-part";
/// Version of the part-file layout; parts of another version are refused.
pub const PART_VERSION: u32 = 1;

/// What went wrong with a shard specification or a set of parts.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ShardError {
    /// A shard specification that is not K/N with 1 ≤ K ≤ N.
    #[error("shard '{0}': expected K/N with 1 ≤ K ≤ N (e.g. 2/8)")]
    BadSpec(String),
    /// A part file that cannot be read or is not a part of this engine.
    #[error("{path}: {message}")]
    BadPart {
        /// The part file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// Parts that do not come from one run: a header field differs from the first part's.
    #[error("{path}: {field} is {found}, but {first} has {expected}; parts must come from one run")]
    Mismatch {
        /// The part that differs.
        path: PathBuf,
        /// The first part given.
        first: PathBuf,
        /// The header field.
        field: String,
        /// Its value in `path`.
        found: String,
        /// Its value in `first`.
        expected: String,
    },
    /// The same shard given twice.
    #[error("{path}: shard {index}/{count} is also in {other}")]
    Duplicate {
        /// The part.
        path: PathBuf,
        /// The other part with the same shard.
        other: PathBuf,
        /// The shard's K (1-based).
        index: usize,
        /// The shards' N.
        count: usize,
    },
    /// Shards missing from the parts given.
    #[error("shard(s) {missing} of {count} missing (given: {given})")]
    Missing {
        /// The missing shards' K's.
        missing: String,
        /// The shards' N.
        count: usize,
        /// The K's given.
        given: String,
    },
    /// No part files given.
    #[error("no part files given")]
    Empty,
}

/// Shard K of N (1 ≤ K ≤ N), parsed from `K/N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardSpec {
    /// K, 1-based.
    pub index: usize,
    /// N, the number of shards.
    pub count: usize,
}

impl ShardSpec {
    /// The whole run as one shard.
    pub const WHOLE: ShardSpec = ShardSpec { index: 1, count: 1 };

    /// Checked constructor: 1 ≤ index ≤ count.
    pub fn new(index: usize, count: usize) -> Result<Self, ShardError> {
        if index == 0 || index > count {
            return Err(ShardError::BadSpec(format!("{index}/{count}")));
        }
        Ok(Self { index, count })
    }

    /// This shard's units out of `total`: the contiguous range
    /// [⌊(K−1)·total/N⌋, ⌊K·total/N⌋), so the N ranges tile 0..total in order and differ in
    /// length by at most one unit (a shard may be empty when N > total).
    pub fn range(&self, total: u64) -> Range<u64> {
        let at = |k: usize| ((k as u128 * total as u128) / self.count as u128) as u64;
        at(self.index - 1)..at(self.index)
    }

    /// File-name fragment `K-of-N`.
    pub fn tag(&self) -> String {
        format!("{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for ShardSpec {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ShardError::BadSpec(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k = k.trim().parse().map_err(|_| bad())?;
        let n = n.trim().parse().map_err(|_| bad())?;
        Self::new(k, n).map_err(|_| bad())
    }
}

/// The header of a part file: what run it belongs to and which share of it it holds.
///
/// Two parts belong to one run when every field but `shard` and `units` agrees; `run` holds the
/// engine's settings (as `name = value` pairs, compared one by one so a refusal names the
/// setting that differs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartHeader {
    /// Always [`PART_FORMAT`].
    pub format: String,
    /// Always [`PART_VERSION`] for files this build writes.
    pub version: u32,
    /// bridgelaw version that wrote the part (parts of different versions are not merged:
    /// the numerics may differ).
    pub bridgelaw: String,
    /// The engine: "propagate", "sobol", "calibrate-fleet".
    pub kind: String,
    /// The study file as given on the command line (the merge reloads it).
    pub study: String,
    /// Fingerprint of the resolved study (model, bound values, distribution, title).
    pub study_hash: String,
    /// Seed of every random stream.
    pub seed: u64,
    /// The engine's settings that fix the design, as (name, value) pairs.
    pub run: Vec<(String, String)>,
    /// Which shard.
    pub shard: ShardSpec,
    /// Work units of this shard [start, end) and the run's total (chunks, rows or cells).
    pub units: [u64; 2],
    /// Work units of the whole run.
    pub total_units: u64,
}

impl PartHeader {
    /// A header for shard `shard` of `total_units` units.
    pub fn new(
        kind: &str,
        study: &Path,
        study_hash: String,
        seed: u64,
        run: Vec<(String, String)>,
        shard: ShardSpec,
        total_units: u64,
    ) -> Self {
        let r = shard.range(total_units);
        Self {
            format: PART_FORMAT.into(),
            version: PART_VERSION,
            bridgelaw: env!("CARGO_PKG_VERSION").into(),
            kind: kind.into(),
            study: study.display().to_string(),
            study_hash,
            seed,
            run,
            shard,
            units: [r.start, r.end],
            total_units,
        }
    }

    /// The header's identity fields as (name, value), compared across parts.
    fn identity(&self) -> Vec<(String, String)> {
        let mut v = vec![
            ("format".to_string(), self.format.clone()),
            ("version".into(), self.version.to_string()),
            ("bridgelaw version".into(), self.bridgelaw.clone()),
            ("kind".into(), self.kind.clone()),
            (
                "study_hash (the study's model or inputs)".into(),
                self.study_hash.clone(),
            ),
            ("seed".into(), self.seed.to_string()),
            ("number of shards".into(), self.shard.count.to_string()),
            ("total_units".into(), self.total_units.to_string()),
        ];
        v.extend(
            self.run
                .iter()
                .map(|(k, x)| (format!("setting '{k}'"), x.clone())),
        );
        v
    }
}

/// Check that `parts` ((file, header) pairs) are the N shards of one run, each once: same
/// format, version, engine, study, seed, settings and N; every K in 1..=N present once; units
/// as the shard specification says. Returns the positions of the parts in shard order.
pub fn check_parts(parts: &[(PathBuf, PartHeader)]) -> Result<Vec<usize>, ShardError> {
    let (first_path, first) = parts.first().ok_or(ShardError::Empty)?;
    for (path, h) in parts {
        if h.format != PART_FORMAT || h.version != PART_VERSION {
            return Err(ShardError::BadPart {
                path: path.clone(),
                message: format!(
                    "not a bridgelaw part file of version {PART_VERSION} (format '{}', version {})",
                    h.format, h.version
                ),
            });
        }
        // Field by field in the header's order (engine, study, seed before the settings), so a
        // part of another engine is named as such before its settings are compared.
        let (a, b) = (first.identity(), h.identity());
        let list_differs = || ShardError::Mismatch {
            path: path.clone(),
            first: first_path.clone(),
            field: "the list of settings".into(),
            found: format!("{:?}", h.run),
            expected: format!("{:?}", first.run),
        };
        for ((name, x), (other, y)) in a.iter().zip(&b) {
            if name != other {
                return Err(list_differs());
            }
            if x != y {
                return Err(ShardError::Mismatch {
                    path: path.clone(),
                    first: first_path.clone(),
                    field: name.clone(),
                    found: y.clone(),
                    expected: x.clone(),
                });
            }
        }
        if a.len() != b.len() {
            return Err(list_differs());
        }
        let r = h.shard.range(h.total_units);
        if h.shard.index == 0 || h.shard.index > h.shard.count || h.units != [r.start, r.end] {
            return Err(ShardError::BadPart {
                path: path.clone(),
                message: format!(
                    "shard {} holds units {:?}, not the range {r:?} that shard number gives",
                    h.shard, h.units
                ),
            });
        }
    }
    let n = first.shard.count;
    let mut seen: Vec<Option<usize>> = vec![None; n];
    for (i, part) in parts.iter().enumerate() {
        let slot = &mut seen[part.1.shard.index - 1];
        if let Some(other) = slot {
            return Err(ShardError::Duplicate {
                path: part.0.clone(),
                other: parts[*other].0.clone(),
                index: part.1.shard.index,
                count: n,
            });
        }
        *slot = Some(i);
    }
    let missing: Vec<String> = (1..=n)
        .filter(|k| seen[k - 1].is_none())
        .map(|k| k.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ShardError::Missing {
            missing: missing.join(", "),
            count: n,
            given: parts
                .iter()
                .map(|(p, h)| format!("{} = {}", p.display(), h.shard))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(seen.into_iter().flatten().collect())
}

/// A part file: its header and the engine's share of the run (`body`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartFile<T> {
    /// The run's identity and this shard's place in it.
    pub header: PartHeader,
    /// The engine's share of the run.
    pub body: T,
}

/// A part file read for its header only: the body is skipped without being kept.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderOnly {
    header: PartHeader,
    #[allow(dead_code)] // read to check it is there, not kept
    body: serde::de::IgnoredAny,
}

/// Read a part file's header (the body is parsed but not kept, so checking many large parts
/// takes little memory).
pub fn read_part_header(path: &Path) -> Result<PartHeader, ShardError> {
    let f = std::fs::File::open(path).map_err(|e| ShardError::BadPart {
        path: path.to_path_buf(),
        message: format!("cannot read: {e}"),
    })?;
    serde_json::from_reader::<_, HeaderOnly>(std::io::BufReader::new(f))
        .map(|h| h.header)
        .map_err(|e| ShardError::BadPart {
            path: path.to_path_buf(),
            message: format!("not a bridgelaw part file: {e}"),
        })
}

/// The typed body of a part file (whose header [`read_part_header`] checked).
pub fn read_part_body<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ShardError> {
    let bad = |message: String| ShardError::BadPart {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    serde_json::from_str::<PartFile<T>>(&text)
        .map(|f| f.body)
        .map_err(|e| bad(format!("body: {e}")))
}

/// Fingerprint of a resolved study: its model with every bound value, the joint distribution,
/// the title and the engines' sections (their debug forms hold every number in shortest
/// round-trip form, and no hash-ordered maps, so equal studies give equal fingerprints).
pub fn study_hash(study: &crate::study::Study) -> String {
    fingerprint(
        format!(
            "{:?}\n{:?}\n{}\n{:?}",
            study.model, study.dist, study.title, study.engines
        )
        .as_bytes(),
    )
}

/// Fingerprint of the contents of `files` in order (each file's length, then its bytes), so
/// shards of a run can tell that they read the same data; an unreadable file is named.
pub fn files_fingerprint(files: &[&Path]) -> Result<String, String> {
    let mut bytes = Vec::new();
    for f in files {
        let b = std::fs::read(f).map_err(|e| format!("{}: cannot read: {e}", f.display()))?;
        bytes.extend_from_slice(&(b.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&b);
    }
    Ok(fingerprint(&bytes))
}

/// 64-bit FNV-1a hash of `bytes`, as 16 hex digits: a fingerprint that catches parts of
/// different studies mixed by mistake (not a defence against forgery).
pub fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", fingerprint_u64(bytes))
}

/// 64-bit FNV-1a hash of `bytes`.
pub fn fingerprint_u64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Serde of `Vec<f64>` as one string of 16-hex-digit IEEE-754 bit patterns (exact, NaN and ±∞
/// included).
pub mod hex_f64s {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// The hex string of `v`.
    pub fn encode(v: &[f64]) -> String {
        let mut s = String::with_capacity(16 * v.len());
        for x in v {
            s.push_str(&format!("{:016x}", x.to_bits()));
        }
        s
    }

    /// The floats of a hex string written by [`encode`].
    pub fn decode(s: &str) -> Result<Vec<f64>, String> {
        if !s.len().is_multiple_of(16) || !s.is_ascii() {
            return Err(format!(
                "a float array must be 16 hex digits per value; found {} characters",
                s.len()
            ));
        }
        (0..s.len() / 16)
            .map(|i| {
                u64::from_str_radix(&s[16 * i..16 * i + 16], 16)
                    .map(f64::from_bits)
                    .map_err(|e| format!("value {i}: {e}"))
            })
            .collect()
    }

    /// Write `v` as one string of 16 hex digits per value.
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    /// Read what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let s = String::deserialize(d)?;
        decode(&s).map_err(D::Error::custom)
    }
}

/// Serde of one `f64` as its 16-hex-digit bit pattern.
pub mod hex_f64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Write `v` as its 16-hex-digit bit pattern.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::hex_f64s::encode(&[*v]))
    }

    /// Read what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        match super::hex_f64s::decode(&s)
            .map_err(D::Error::custom)?
            .as_slice()
        {
            [x] => Ok(*x),
            _ => Err(D::Error::custom("expected one 16-hex-digit float")),
        }
    }
}

/// Serde of `Option<f64>` as an optional 16-hex-digit bit pattern.
pub mod hex_f64_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Write `v` as an optional 16-hex-digit bit pattern.
    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(x) => s.serialize_some(&super::hex_f64s::encode(&[*x])),
            None => s.serialize_none(),
        }
    }

    /// Read what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => match super::hex_f64s::decode(&s)
                .map_err(D::Error::custom)?
                .as_slice()
            {
                [x] => Ok(Some(*x)),
                _ => Err(D::Error::custom("expected one 16-hex-digit float")),
            },
        }
    }
}

/// Serde of `Option<Vec<f64>>` with [`hex_f64s`] inside.
pub mod hex_f64s_opt {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Write `v` as an optional [`super::hex_f64s`] string.
    pub fn serialize<S: Serializer>(v: &Option<Vec<f64>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&super::hex_f64s::encode(v)),
            None => s.serialize_none(),
        }
    }

    /// Read what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<f64>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| super::hex_f64s::decode(&s).map_err(D::Error::custom))
            .transpose()
    }
}

/// Integer counts with few non-zero slots (histograms), as (slot, count) pairs of the non-zero
/// slots and the total length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SparseCounts {
    /// Length of the dense counts.
    pub len: usize,
    /// (slot, count) of every non-zero slot, in slot order.
    pub nonzero: Vec<(u32, u64)>,
}

impl SparseCounts {
    /// The sparse form of dense counts `c`.
    pub fn from_dense(c: &[u64]) -> Self {
        Self {
            len: c.len(),
            nonzero: c
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(i, n)| (i as u32, *n))
                .collect(),
        }
    }

    /// Add these counts to `dense` (of length `len`); `None` if a slot is out of range.
    pub fn add_to(&self, dense: &mut [u64]) -> Option<()> {
        if dense.len() != self.len {
            return None;
        }
        for (i, n) in &self.nonzero {
            *dense.get_mut(*i as usize)? += n;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_tile_the_units_in_order() {
        for total in [0u64, 1, 5, 17, 100] {
            for n in 1..=7 {
                let mut next = 0;
                for k in 1..=n {
                    let r = ShardSpec::new(k, n).unwrap().range(total);
                    assert_eq!(r.start, next);
                    assert!(r.end - r.start <= total / n as u64 + 1);
                    next = r.end;
                }
                assert_eq!(next, total);
            }
        }
    }

    #[test]
    fn specs_parse_and_refuse() {
        assert_eq!(
            "2/8".parse::<ShardSpec>().unwrap(),
            ShardSpec::new(2, 8).unwrap()
        );
        for bad in ["0/3", "4/3", "3", "a/b", "1/0", ""] {
            assert!(bad.parse::<ShardSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn floats_round_trip_bitwise() {
        let v = vec![
            0.1,
            -0.0,
            f64::NAN,
            f64::INFINITY,
            f64::MIN_POSITIVE / 3.0,
            1e308,
        ];
        let back = hex_f64s::decode(&hex_f64s::encode(&v)).unwrap();
        assert_eq!(
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert!(hex_f64s::decode("123").is_err());
    }

    #[test]
    fn a_study_fingerprint_does_not_change_when_its_model_runs() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lgm50_chain_voltage_band.toml");
        let study = crate::study::load_study(&path).unwrap();
        let before = study_hash(&study);
        crate::model::evaluate(&study.model, &study.dist.median_natural()).unwrap();
        assert_eq!(study_hash(&study), before);
    }

    fn header(k: usize, n: usize, seed: u64) -> (PathBuf, PartHeader) {
        (
            PathBuf::from(format!("p{k}.json")),
            PartHeader::new(
                "propagate",
                Path::new("s.toml"),
                "abc".into(),
                seed,
                vec![("samples".into(), "100".into())],
                ShardSpec::new(k, n).unwrap(),
                10,
            ),
        )
    }

    #[test]
    fn part_sets_are_checked() {
        let ok = vec![header(2, 2, 1), header(1, 2, 1)];
        assert_eq!(check_parts(&ok).unwrap(), vec![1, 0]);
        let e = check_parts(&[header(1, 2, 1), header(2, 2, 7)]).unwrap_err();
        assert!(e.to_string().contains("p2.json: seed is 7"), "{e}");
        let e = check_parts(&[header(1, 2, 1), header(1, 2, 1)]).unwrap_err();
        assert!(matches!(e, ShardError::Duplicate { .. }), "{e}");
        let e = check_parts(&[header(1, 3, 1), header(3, 3, 1)]).unwrap_err();
        assert!(e.to_string().contains("shard(s) 2 of 3 missing"), "{e}");
        let mut other = header(2, 2, 1);
        other.1.run[0].1 = "200".into();
        let e = check_parts(&[header(1, 2, 1), other]).unwrap_err();
        assert!(e.to_string().contains("setting 'samples' is 200"), "{e}");
    }
}
