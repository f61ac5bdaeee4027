//! `bridgelaw simulate` through the built binary: a 1C discharge of the About:Energy BPX cell,
//! a current file, and bad input (missing BPX file, bad --model, unstated sign, bad electrolyte
//! mesh) exiting 2.

use std::process::Command;

const BPX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/data/about_energy_nmc/nmc_pouch_cell_BPX.json"
);

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bridgelaw"))
}

/// (time, current, voltage) columns of the CSV text, checking the header.
fn parse(csv: &str) -> Vec<(f64, f64, f64)> {
    let mut lines = csv.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("time_s,current_A,voltage_V,"),
        "{header}"
    );
    assert!(header.contains("eta_n_V") && header.contains("theta_n_surf"));
    lines
        .map(|l| {
            let c: Vec<f64> = l.split(',').map(|s| s.parse().unwrap()).collect();
            (c[0], c[1], c[2])
        })
        .collect()
}

#[test]
fn one_c_discharge_to_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.csv");
    let o = bin()
        .args(["simulate", "--bpx", BPX, "--c-rate", "1", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = parse(&std::fs::read_to_string(&out).unwrap());
    assert!(rows.len() > 200, "{} rows", rows.len());
    // discharge current positive, ~12.5 A for the 12.5 A·h cell
    assert!(rows.iter().all(|r| r.1 > 11.0 && r.1 < 14.0));
    // monotone-ish: never rises by more than 1 mV between rows
    for w in rows.windows(2) {
        assert!(w[1].2 < w[0].2 + 1e-3, "{:?} -> {:?}", w[0], w[1]);
    }
    let (t_end, _, v_end) = *rows.last().unwrap();
    assert!(rows[0].2 > 3.9, "V(0) = {}", rows[0].2);
    assert!((v_end - 2.7).abs() < 1e-6, "last V {v_end}");
    assert!(t_end > 2800.0 && t_end < 3800.0, "cut-off at {t_end} s");
    // how the run ended, with the time and voltage of the last row
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains(&format!(
            "stopped at the lower voltage cut-off at t = {t_end:.1} s, V = 2.7000 V"
        )),
        "{e}"
    );
}

#[test]
fn spme_from_a_current_file_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("i.csv");
    // cycler convention: discharge negative; 600 s at 1C then 300 s rest
    std::fs::write(
        &f,
        "time_s,current_A\n0,-12.5\n600,-12.5\n600.001,0\n900,0\n",
    )
    .unwrap();
    let o = bin()
        .args([
            "simulate",
            "--bpx",
            BPX,
            "--model",
            "spme",
            "--current-file",
        ])
        .arg(&f)
        .args(["--sign", "discharge-negative", "--temperature", "308"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = parse(&String::from_utf8(o.stdout).unwrap());
    assert_eq!(rows.len(), 91);
    assert!((rows[10].1 - 12.5).abs() < 1e-9);
    // relaxation during the rest: the voltage rises back
    assert!(
        rows[90].2 > rows[59].2 + 0.01,
        "{:?} {:?}",
        rows[59],
        rows[90]
    );
    // the sign convention is required
    let o = bin()
        .args(["simulate", "--bpx", BPX, "--current-file"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("sign convention"));
}

#[test]
fn missing_bpx_file_exits_2_naming_it() {
    let o = bin()
        .args(["simulate", "--bpx", "/nonexistent/cell_BPX.json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("/nonexistent/cell_BPX.json"), "{e}");
}

#[test]
fn bad_model_exits_2_naming_it() {
    let o = bin()
        .args(["simulate", "--bpx", BPX, "--model", "p2d"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("--model") && e.contains("p2d") && e.contains("spme"),
        "{e}"
    );
}

#[test]
fn electrolyte_mesh_is_set_or_refused_by_name() {
    let run = |mesh: &str| {
        bin()
            .args(["simulate", "--bpx", BPX, "--model", "spme", "--c-rate", "1"])
            .args(["--duration", "60", "--electrolyte-mesh", mesh])
            .output()
            .unwrap()
    };
    let fine = run("10,5,10");
    assert!(
        fine.status.success(),
        "{}",
        String::from_utf8_lossy(&fine.stderr)
    );
    for bad in ["0,20,20", "20,20", "20,x,20", "20,20,99999"] {
        let o = run(bad);
        assert_eq!(o.status.code(), Some(2), "{bad}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("--electrolyte-mesh") && e.contains("expected"),
            "{bad}: {e}"
        );
    }
}

/// Sizes from one number are checked before anything is allocated, and a negative rate is a
/// clear error (charges go through --current-file), never a panic, an abort or a silent charge.
#[test]
fn oversized_runs_and_negative_rates_exit_2() {
    for (args, expect) in [
        (&["--duration", "1e308"][..], "time steps"),
        (&["--duration", "1e12"][..], "time steps"),
        (&["--output-dt", "1e-9"][..], "output rows"),
        (&["--output-dt", "-1"][..], "output_dt"),
        (&["--c-rate", "-1"][..], "discharge rate > 0"),
        (&["--c-rate=-1"][..], "discharge rate > 0"),
        (&["--current", "-5"][..], "discharge rate > 0"),
    ] {
        let o = bin()
            .args(["simulate", "--bpx", BPX])
            .args(args)
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
        assert!(e.contains(expect), "{args:?}: {e}");
    }
}
