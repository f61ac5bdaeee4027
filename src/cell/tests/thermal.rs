//! Tests of the cell temperature: the lumped thermal model against PyBaMM, its energy balance,
//! gradients through it, and the measured-temperature input.

use super::*;
use crate::cell::thermal::{TemperatureSeries, ThermalOption};
use std::sync::Arc;

/// The shipped LG M50 cell with PyBaMM Chen2020's thermal data (BPX 1.1).
fn lgm50_thermal() -> CellParams<f64> {
    read_bpx_file(Path::new(&data_file(
        "pybamm/lgm50_chen2020_thermal.bpx.json",
    )))
    .unwrap()
    .params
}

fn lumped(model: CellModelKind) -> SolverOptions {
    SolverOptions {
        model,
        thermal: ThermalOption::Lumped,
        ..SolverOptions::default()
    }
}

/// PyBaMM 26.10 SPMe with `thermal: "lumped"` on the same cell, 1C from 298.15 K
/// (data/pybamm/lgm50_spme_1C_lumped_298K.csv, scripts/pybamm_reference.py), 100 shells, 20/20/20
/// mesh. Measured: 0.135 mV and 0.013 K after the first 60 s, while the cell warms by 13.4 K
/// (isothermal vs thermal differ by up to 30 mV there).
#[test]
fn lumped_spme_matches_pybamm_on_chen2020() {
    let text = std::fs::read_to_string(data_file("pybamm/lgm50_spme_1C_lumped_298K.csv")).unwrap();
    let rows: Vec<[f64; 3]> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("time_s"))
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect();
    // PyBaMM's last row is its cut-off crossing, off the 10 s grid
    let grid: Vec<[f64; 3]> = rows[..rows.len() - 1]
        .iter()
        .copied()
        .filter(|r| r[0] > 0.0)
        .collect();
    let o = SolverOptions {
        shells: 100,
        output_times: Some(grid.iter().map(|r| r[0]).collect()),
        ..lumped(CellModelKind::Spme)
    };
    let sol = simulate(&lgm50_thermal(), &Protocol::c_rate(1.0, 4320.0), &o).unwrap();
    let (mut dv, mut dt) = (0.0f64, 0.0f64);
    for (r, g) in sol.rows.iter().zip(&grid).filter(|(_, g)| g[0] >= 60.0) {
        dv = dv.max((r.voltage - g[1]).abs());
        dt = dt.max((r.temperature_k - g[2]).abs());
    }
    let rise = sol.rows.last().unwrap().temperature_k - 298.15;
    eprintln!(
        "lumped SPMe 1C: |ΔV| ≤ {:.3} mV, |ΔT| ≤ {dt:.4} K, rise {rise:.2} K",
        dv * 1e3
    );
    assert!(dv < 0.3e-3, "{} mV", dv * 1e3);
    assert!(dt < 0.03, "{dt} K");
    assert!(rise > 12.0 && rise < 15.0, "{rise} K");
    let (tc, tc_pybamm) = (sol.cutoff_time.unwrap(), rows[rows.len() - 1][0]);
    assert!((tc - tc_pybamm).abs() < 1.0, "cut-off {tc} vs {tc_pybamm}");
}

/// The heat the model generates is what it stores plus what it gives off, to round-off, and it
/// is the time integral of the rows' heat rate (independently, by the trapezoid rule on 1 s
/// rows).
#[test]
fn lumped_energy_balance_closes() {
    let mut p = lgm50_thermal();
    p.contact_resistance = 0.01;
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let o = SolverOptions {
            output_dt: 1.0,
            ..lumped(model)
        };
        // discharge, rest and charge: heat and cooling in every sign
        let protocol = Protocol::Steps(vec![
            Step::CRate {
                c_rate: 1.5,
                duration_s: 1500.0,
            },
            Step::Rest { duration_s: 600.0 },
            Step::CRate {
                c_rate: -0.5,
                duration_s: 900.0,
            },
        ]);
        let sol = simulate(&p, &protocol, &o).unwrap();
        assert_eq!(sol.stop, StopReason::EndOfProtocol);
        let b = sol.heat_balance.unwrap();
        let residual = (b.stored_j - (b.generated_j - b.removed_j)).abs() / b.generated_j;
        let mut integral = 0.0;
        for w in sol.rows.windows(2) {
            // (a row at a current change holds the old current's heat: the interval after it
            // runs at the new current, so it takes the right end's value)
            let left = if w[0].current_a == w[1].current_a {
                w[0].heat_w()
            } else {
                w[1].heat_w()
            };
            integral += 0.5 * (left + w[1].heat_w()) * (w[1].time_s - w[0].time_s);
        }
        eprintln!(
            "{model:?}: generated {:.3} J, removed {:.3} J, stored {:.3} J, residual {residual:.1e}, \
             trapezoid {integral:.3} J",
            b.generated_j, b.removed_j, b.stored_j
        );
        assert!(residual < 1e-8, "{model:?}: {residual}");
        assert!(
            ((integral - b.generated_j) / b.generated_j).abs() < 1e-4,
            "{model:?}: {integral} vs {}",
            b.generated_j
        );
        assert!(b.removed_j > 0.0 && b.stored_j > 0.0);
    }
}

/// The heat sources add up to the electrical work lost, I·(U_p − U_n − V), plus the reversible
/// heat, at every row; and with no entropic change the reversible heat is zero.
#[test]
fn heat_sources_add_up_to_the_lost_work() {
    let mut p = about_energy().params;
    p.contact_resistance = 0.005;
    let sol = simulate(
        &p,
        &Protocol::c_rate(1.0, 3000.0),
        &opts(CellModelKind::Spme),
    )
    .unwrap();
    for r in &sol.rows[1..] {
        let lost = r.current_a * (r.ocp_p - r.ocp_n - r.voltage);
        let irreversible = r.heat_reaction_w + r.heat_ohmic_w;
        assert!(
            (irreversible - lost).abs() < 1e-12 * lost.abs().max(1.0),
            "t = {}: {irreversible} vs {lost}",
            r.time_s
        );
        assert_eq!(r.temperature_k, p.temperature);
    }
}

/// Exact gradients through the temperature state (SPM and SPMe) against central differences,
/// including the thermal parameters themselves and an activation energy.
#[test]
fn lumped_gradients_match_central_differences() {
    let mut base = lgm50_thermal();
    base.contact_resistance = 0.002;
    base.neg.diffusivity_ea = 30_000.0;
    base.electrolyte.conductivity_ea = 15_000.0;
    let names = ["D_n", "k_p", "E_a_k_n", "h_transfer", "c_p"];
    let theta = [
        base.neg.diffusivity.scale,
        base.pos.rate_constant,
        base.neg.rate_constant_ea,
        30.0,
        base.thermal.as_ref().unwrap().specific_heat,
    ];
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let m = ChainModel::cell(
            base.clone(),
            lumped(model),
            &names,
            Protocol::c_rate(2.0, 1800.0),
            times_to(1500.0, 100.0),
        )
        .unwrap();
        assert_gradients_match_fd(&m, &theta, &names, &format!("{model:?}"));
    }
}

/// A measured temperature equal to the lumped model's own T(t) at every step end gives the
/// model's voltage (the voltage is evaluated at the temperature the row reports; the
/// operators between rows differ by the interpolated against the extrapolated temperature,
/// O(h²·T'')). Output every 10 ms, so every step ends on a row.
#[test]
fn measured_temperature_equal_to_the_model_reproduces_its_voltage() {
    let p = lgm50_thermal();
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let o = SolverOptions {
            output_dt: 0.01,
            ..lumped(model)
        };
        let protocol = Protocol::c_rate(2.0, 30.0);
        let model_run = simulate(&p, &protocol, &o).unwrap();
        let series = TemperatureSeries::new(
            model_run.rows.iter().map(|r| r.time_s).collect(),
            model_run.rows.iter().map(|r| r.temperature_k).collect(),
            "the model's rows",
        )
        .unwrap();
        assert!(model_run.rows.last().unwrap().temperature_k > 298.2);
        let o_measured = SolverOptions {
            thermal: ThermalOption::Measured(Arc::new(series)),
            ..o
        };
        let measured = simulate(&p, &protocol, &o_measured).unwrap();
        assert_eq!(model_run.steps, measured.steps);
        let dv = max_dv(&model_run, &measured);
        eprintln!("{model:?}: |ΔV| ≤ {dv:.1e} V");
        assert!(dv < 1e-9, "{model:?}: {dv} V");
    }
}

/// A measured temperature that stays at T is the isothermal solve at T on the same (BDF2)
/// path, to round-off; and one that jumps changes the voltage by what the isothermal solves at
/// the two temperatures say (the operators follow the temperature, no stale factorisation).
#[test]
fn measured_temperature_follows_the_series() {
    let p = about_energy().params;
    let bdf = |thermal| SolverOptions {
        model: CellModelKind::Spme,
        exponential: false,
        thermal,
        ..SolverOptions::default()
    };
    let constant = TemperatureSeries::new(vec![0.0, 10.0], vec![310.0, 310.0], "test").unwrap();
    let protocol = Protocol::c_rate(1.0, 2000.0);
    let mut p310 = p.clone();
    p310.temperature = 310.0;
    let iso = simulate(&p310, &protocol, &bdf(ThermalOption::Isothermal)).unwrap();
    let measured = simulate(
        &p,
        &protocol,
        &bdf(ThermalOption::Measured(Arc::new(constant))),
    )
    .unwrap();
    assert!(
        max_dv(&iso, &measured) < 1e-12,
        "{}",
        max_dv(&iso, &measured)
    );
    assert!(measured.rows.iter().all(|r| r.temperature_k == 310.0));
    // 298 K until 1000 s, then 318 K: right after the jump the voltage moves to the hot solve's
    // side by most of the isothermal difference (the particles keep their state)
    let jump = TemperatureSeries::new(
        vec![0.0, 1000.0, 1000.001],
        vec![298.15, 298.15, 318.15],
        "test",
    )
    .unwrap();
    let run = simulate(&p, &protocol, &bdf(ThermalOption::Measured(Arc::new(jump)))).unwrap();
    let at = |s: &Solution<f64>, t: f64| s.rows.iter().find(|r| r.time_s == t).unwrap().voltage;
    let mut p318 = p.clone();
    p318.temperature = 318.15;
    let cold = simulate(&p, &protocol, &bdf(ThermalOption::Isothermal)).unwrap();
    let hot = simulate(&p318, &protocol, &bdf(ThermalOption::Isothermal)).unwrap();
    assert!((at(&run, 990.0) - at(&cold, 990.0)).abs() < 1e-12);
    let (v, c, h) = (at(&run, 1010.0), at(&cold, 1010.0), at(&hot, 1010.0));
    assert!(
        (v - c) / (h - c) > 0.8 && (v - c) / (h - c) < 1.2,
        "{v} between {c} and {h}"
    );
}

/// A cycler file's temperature column drives the solve (°C converted to K), and bad values are
/// named with file, row and column.
#[test]
fn temperature_column_of_a_current_file() {
    let text = "time_s,current_A,cellTemp_mid\n0,5,25\n600,5,30\n1200,5,35\n";
    let (protocol, series) = Protocol::series_with_temperature_from_csv_str(
        text,
        "run.csv",
        Some(SignConvention::DischargePositive),
    )
    .unwrap();
    assert!((series.at(300.0) - (273.15 + 27.5)).abs() < 1e-12);
    let o = SolverOptions {
        thermal: ThermalOption::Measured(Arc::new(series)),
        ..SolverOptions::default()
    };
    let sol = simulate(&chen(), &protocol, &o).unwrap();
    let r = sol.rows.iter().find(|r| r.time_s == 600.0).unwrap();
    assert!((r.temperature_k - 303.15).abs() < 1e-12);
    for (bad, what) in [
        (
            "time_s,current_A,temperature_C\n0,5,25\n600,5,nan\n",
            "line 3",
        ),
        (
            "time_s,current_A,temperature_K\n0,5,25\n600,5,25\n",
            "temperature_K",
        ),
        ("time_s,current_A\n0,5\n600,5\n", "cell temperature"),
    ] {
        let e = Protocol::series_with_temperature_from_csv_str(
            bad,
            "run.csv",
            Some(SignConvention::DischargePositive),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("run.csv") && e.contains(what), "{e}");
    }
}

/// BPX: the thermal fields read, round-trip through the export, and a file with some but not
/// all of them names the missing one.
#[test]
fn bpx_thermal_fields() {
    let p = lgm50_thermal();
    let th = p.thermal.as_ref().unwrap();
    assert_eq!(th.heat_transfer_coefficient, 10.0);
    assert!(
        (th.heat_capacity() - 42.775).abs() < 1e-3,
        "{}",
        th.heat_capacity()
    );
    let back = read_bpx_str(&to_bpx_json(&p, "t", &[]), "back.json")
        .unwrap()
        .params;
    let tb = back.thermal.unwrap();
    assert_eq!(
        (tb.heat_capacity(), tb.conductance(), tb.initial_temperature),
        (th.heat_capacity(), th.conductance(), th.initial_temperature)
    );
    let text = std::fs::read_to_string(data_file("pybamm/lgm50_chen2020_thermal.bpx.json"))
        .unwrap()
        .replace("\"Volume [m3]\"", "\"Unused\"");
    let e = read_bpx_str(&text, "x.json").unwrap_err().to_string();
    assert!(e.contains("Volume [m3]"), "{e}");
}

/// The About:Energy curves (C/2, 1C, 2C, driven by the measured current) with the SPMe at the
/// BPX values: isothermal at 298.15 K, and with the lumped model, adiabatic (the file has
/// density, heat capacity, volume and area but no heat-transfer coefficient, which PyBaMM reads
/// as adiabatic) and with h = 10 W/(m²·K). Measured (mV, isothermal / adiabatic / h = 10):
/// C/2 12.4 / 26.5 / 11.2, 1C 13.4 / 56.0 / 22.1, 2C 25.0 / 120.7 / 74.9 — the file's parameters
/// were fitted isothermally, so the warming the lumped model adds moves the curves away. The
/// bounds only catch a broken run.
#[test]
fn about_energy_curves_isothermal_and_lumped() {
    for name in [
        "NMC_25degC_Co2.csv",
        "NMC_25degC_1C.csv",
        "NMC_25degC_2C.csv",
    ] {
        let (iso, n, _) = rmse_with(name, ThermalOption::Isothermal, None);
        let (adiabatic, _, t_ad) = rmse_with(name, ThermalOption::Lumped, None);
        let (cooled, _, t_h) = rmse_with(name, ThermalOption::Lumped, Some(10.0));
        eprintln!(
            "{name} ({n} points): RMSE isothermal {:.2} mV; lumped adiabatic {:.2} mV (up to \
             {t_ad:.1} K); lumped h = 10 W/m2/K {:.2} mV (up to {t_h:.1} K)",
            iso * 1e3,
            adiabatic * 1e3,
            cooled * 1e3
        );
        assert!(iso < 0.03 && adiabatic < 0.2 && cooled < 0.2, "{name}");
        assert!(t_ad > t_h && t_h > 298.15);
    }
}
