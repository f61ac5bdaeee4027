//! BPX 1.x export: read → write → read gives the same cell (to 1e-15 relative), for legacy 0.x
//! and 1.x sources, with and without thermal data; a 1.x file reads as its 0.x form; the
//! written layout is the 1.x one (State, thermal data, geometry, distributions).

use bridgelaw::cell::bpx::{BpxExport, DistributionKind, ParamUncertainty, write_bpx};
use bridgelaw::cell::{CellParams, read_bpx_file, read_bpx_str};
use serde_json::Value;
use std::path::Path;

fn file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

const SOURCES: [&str; 4] = [
    "data/about_energy_nmc/nmc_pouch_cell_BPX.json",
    "data/about_energy_nmc/nmc_pouch_cell_BPX_v1.json",
    "models/cells/lgm50_chen2020.bpx.json",
    "data/pybamm/lgm50_chen2020_thermal.bpx.json",
];

/// Largest relative difference allowed between two numbers of the same cell: BPX stores the
/// porosity as a transport efficiency ε^1.5, the rate constant normalised and the active
/// fraction as a surface area per volume, each a few roundings away.
const REL: f64 = 1e-15;

/// Compare two cells field by field through their `Debug` text: the same structure (every
/// variant, expression tree and table) and every number equal to `REL` relative. Returns the
/// largest relative difference found.
fn same_cell(a: &CellParams<f64>, b: &CellParams<f64>) -> f64 {
    let (ta, tb) = (format!("{a:?}"), format!("{b:?}"));
    // Runs of characters that can make up a number, and every other character alone.
    let split = |t: &str| -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for ch in t.chars() {
            if ch.is_ascii_digit() || matches!(ch, '.' | '-' | '+' | 'e' | 'E') {
                cur.push(ch);
            } else {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(ch.to_string());
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out
    };
    let (xa, xb) = (split(&ta), split(&tb));
    assert_eq!(xa.len(), xb.len(), "different structure:\n{ta}\n{tb}");
    let mut worst = 0.0f64;
    for (u, v) in xa.iter().zip(&xb) {
        match (u.parse::<f64>(), v.parse::<f64>()) {
            (Ok(x), Ok(y)) if u.chars().any(|c| c.is_ascii_digit()) => {
                let r = if x == y {
                    0.0
                } else {
                    (x - y).abs() / x.abs().max(y.abs())
                };
                assert!(r <= REL, "{u} vs {v} (relative {r:e})");
                worst = worst.max(r);
            }
            _ => assert_eq!(u, v, "different structure at '{u}' vs '{v}'"),
        }
    }
    worst
}

#[test]
fn read_write_read_gives_the_same_cell() {
    for src in SOURCES {
        let cell = read_bpx_file(&file(src)).unwrap();
        let text = write_bpx(
            &cell.params,
            &BpxExport {
                title: cell.title.clone(),
                geometry: cell.geometry,
                ..BpxExport::default()
            },
        );
        let back = read_bpx_str(&text, "back.json").unwrap();
        let worst = same_cell(&cell.params, &back.params);
        eprintln!("{src}: largest relative difference {worst:e}");
        // Written again, the text is the same: the second read is a fixed point.
        let again = write_bpx(
            &back.params,
            &BpxExport {
                title: back.title.clone(),
                geometry: back.geometry,
                ..BpxExport::default()
            },
        );
        assert_eq!(
            read_bpx_str(&again, "again.json")
                .unwrap()
                .params
                .initial_soc,
            cell.params.initial_soc
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["Header"]["BPX"], "1.1.1", "{src}");
        for key in [
            "/State/Initial conditions/Initial state-of-charge",
            "/State/Initial conditions/Initial temperature [K]",
            "/State/Initial conditions/Initial electrolyte concentration [mol.m-3]",
            "/State/Thermal environment/Ambient temperature [K]",
            "/State/Thermal environment/Heat transfer coefficient [W.m-2.K-1]",
            "/Parameterisation/Cell/Volume [m3]",
            "/Parameterisation/Cell/External surface area [m2]",
        ] {
            assert!(
                doc.pointer(key).is_some_and(Value::is_number),
                "{src}: {key}"
            );
        }
        // No 0.x places: the strict 1.x schema refuses them.
        for key in [
            "/Parameterisation/Electrolyte/Initial concentration [mol.m-3]",
            "/Parameterisation/Cell/Initial temperature [K]",
            "/Parameterisation/Cell/Ambient temperature [K]",
        ] {
            assert!(doc.pointer(key).is_none(), "{src}: {key}");
        }
        let thermal = doc
            .pointer("/Parameterisation/Cell/Density [kg.m-3]")
            .is_some();
        assert_eq!(thermal, cell.params.thermal.is_some(), "{src}");
        // The geometry is the source's where it had one.
        if let Some(g) = cell.geometry {
            assert_eq!(back.geometry, Some(g), "{src}");
        }
    }
}

/// A 1.x file reads as the same cell as its legacy 0.x form: the About:Energy file and its
/// conversion by the `bpx` package, and the shipped LG M50 file and our 1.x export of it.
#[test]
fn a_1x_file_reads_as_its_0x_form() {
    let v0 = read_bpx_file(&file(SOURCES[0])).unwrap().params;
    let v1 = read_bpx_file(&file(SOURCES[1])).unwrap().params;
    assert_eq!(same_cell(&v0, &v1), 0.0);
    let lg0 = read_bpx_file(&file(SOURCES[2])).unwrap();
    let text = std::fs::read_to_string(file(SOURCES[2])).unwrap();
    assert!(text.contains("\"BPX\": 0.4"));
    let lg1 = read_bpx_str(&write_bpx(&lg0.params, &BpxExport::default()), "lg1.json").unwrap();
    same_cell(&lg0.params, &lg1.params);
}

/// Without geometry or thermal data the export estimates the geometry (and says so); the
/// estimate for the LG M50 cell is the stack volume and a cube's surface.
#[test]
fn geometry_is_estimated_when_the_source_has_none() {
    let lg = read_bpx_file(&file(SOURCES[2])).unwrap();
    assert!(lg.geometry.is_none() && lg.params.thermal.is_none());
    let text = write_bpx(&lg.params, &BpxExport::default());
    let back = read_bpx_str(&text, "x.json").unwrap();
    let g = back.geometry.unwrap();
    assert!((g.volume_m3 / 1.7747e-5 - 1.0).abs() < 1e-3, "{g:?}");
    assert!(
        (g.external_surface_area_m2 / 4.08e-3 - 1.0).abs() < 1e-2,
        "{g:?}"
    );
    assert!(back.params.thermal.is_none());
    assert!(text.contains("estimates"));
}

/// The distributions go to User-defined/Distributions, one object each, numbers only.
#[test]
fn distributions_layout() {
    let cell = read_bpx_file(&file(SOURCES[1])).unwrap();
    let u = |name: &str, kind| ParamUncertainty {
        name: name.into(),
        central: 2.7e-14,
        mean: 2.8e-14,
        sd: 3e-15,
        median: Some(2.75e-14),
        interval: Some((2.2e-14, 3.3e-14, 0.95)),
        kind,
    };
    let text = write_bpx(
        &cell.params,
        &BpxExport {
            uncertainties: vec![
                u(
                    "Negative electrode diffusivity [m2.s-1]",
                    DistributionKind::LogNormal {
                        mu: -31.2,
                        sigma: 0.1,
                    },
                ),
                u(
                    "Positive electrode diffusivity [m2.s-1]",
                    DistributionKind::Empirical { samples: Some(400) },
                ),
            ],
            ..BpxExport::default()
        },
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    let d = &doc["Parameterisation"]["User-defined"]["Distributions"]["Negative electrode diffusivity [m2.s-1]"];
    assert_eq!(d["Value written"], 2.7e-14);
    assert_eq!(d["Standard deviation"], 3e-15);
    assert_eq!(d["Interval lower (95 %)"], 2.2e-14);
    assert_eq!(d["Interval upper (95 %)"], 3.3e-14);
    assert_eq!(d["Log-normal"]["Standard deviation of ln x"], 0.1);
    let e = &doc["Parameterisation"]["User-defined"]["Distributions"]["Positive electrode diffusivity [m2.s-1]"];
    assert_eq!(e["Empirical"]["Samples"], 400);
    // Still a cell the reader takes, the same as without the distributions.
    let back = read_bpx_str(&text, "d.json").unwrap();
    same_cell(&cell.params, &back.params);
    assert!(back.user_defined.contains_key("Distributions"));
}
