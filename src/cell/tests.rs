//! Tests of the cell model as a whole: conservation, limits, convergence, gradients, BPX, measured data.

use super::spme::Side;
use super::*;
use crate::chain::ChainModel;
use crate::model::{Model, jacobian, jacobian_central_fd, max_rel_diff};
use std::path::Path;

/// A file under the repository's `data/` folder (shipped with the source, see data/README.md).
pub(crate) fn data_file(rel: &str) -> String {
    format!("{}/data/{rel}", env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn chen() -> CellParams<f64> {
    CellParams::chen2020_from_dir(Path::new(&data_file("ocp"))).unwrap()
}

fn about_energy() -> BpxCell {
    read_bpx_file(Path::new(&data_file(
        "about_energy_nmc/nmc_pouch_cell_BPX.json",
    )))
    .unwrap()
}

fn opts(model: CellModelKind) -> SolverOptions {
    SolverOptions {
        model,
        ..SolverOptions::default()
    }
}

fn one_c() -> Protocol {
    Protocol::c_rate(1.0, 4000.0)
}

/// Largest |ΔV| over the common output rows.
fn max_dv(a: &Solution<f64>, b: &Solution<f64>) -> f64 {
    a.rows
        .iter()
        .zip(&b.rows)
        .map(|(x, y)| {
            assert_eq!(x.time_s, y.time_s);
            (x.voltage - y.voltage).abs()
        })
        .fold(0.0, f64::max)
}

#[test]
fn chen_1c_discharge_is_plausible() {
    let p = chen();
    let sol = simulate(&p, &one_c(), &SolverOptions::default()).unwrap();
    assert_eq!(sol.stop, StopReason::LowerCutoff);
    let tc = sol.cutoff_time.unwrap();
    // 5 Ah cell at 1C: about an hour, a little less for the stoichiometry window used
    assert!(tc > 3300.0 && tc < 3700.0, "{tc}");
    let v0 = sol.rows[0].voltage;
    assert!(v0 > 3.95 && v0 < 4.15, "{v0}");
    assert!((sol.cutoff.unwrap().voltage - 2.5).abs() < 1e-12);
}

#[test]
fn lithium_inventory_is_conserved() {
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let p = chen();
        // discharge, rest, charge: several segments, restarts, variable steps
        let prot = Protocol::Steps(vec![
            Step::CRate {
                c_rate: 1.0,
                duration_s: 1800.0,
            },
            Step::Rest { duration_s: 600.0 },
            Step::Current {
                amps: -2.0,
                duration_s: 900.0,
            },
        ]);
        let sol = simulate(&p, &prot, &opts(model)).unwrap();
        let first = sol.rows.first().unwrap();
        let last = sol.rows.last().unwrap();
        let rel = (last.li_solid_mol - first.li_solid_mol).abs() / first.li_solid_mol;
        assert!(rel < 1e-10, "{model:?}: solid Li drift {rel}");
        let rel_e =
            (last.li_electrolyte_mol - first.li_electrolyte_mol).abs() / first.li_electrolyte_mol;
        assert!(rel_e < 1e-10, "{model:?}: electrolyte Li drift {rel_e}");
        // and lithium actually moved between the electrodes
        assert!((last.theta_n_avg - first.theta_n_avg).abs() > 0.05);
    }
}

#[test]
fn zero_current_limit_is_the_ocv() {
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let p = chen();
        let sol = simulate(&p, &Protocol::constant_current(1e-9, 100.0), &opts(model)).unwrap();
        let th_n = p.neg.theta_at_soc(1.0);
        let th_p = p.pos.theta_at_soc(1.0);
        let ocv = p.pos.ocp.eval(th_p, 298.15) - p.neg.ocp.eval(th_n, 298.15);
        for r in &sol.rows {
            assert!(
                (r.voltage - ocv).abs() < 1e-7,
                "{model:?}: {} vs {ocv}",
                r.voltage
            );
        }
    }
}

#[test]
fn time_step_refinement_changes_v_by_less_than_0p1_mv() {
    for (p, prot, model) in [
        (chen(), one_c(), CellModelKind::Spm),
        (chen(), one_c(), CellModelKind::Spme),
        (
            about_energy().params,
            Protocol::c_rate(1.0, 3800.0),
            CellModelKind::Spme,
        ),
    ] {
        let o = opts(model);
        let a = simulate(&p, &prot, &o).unwrap();
        let fine = SolverOptions {
            dt_max: o.dt_max / 8.0,
            ..o.clone()
        };
        let b = simulate(&p, &prot, &fine).unwrap();
        let d = max_dv(&a, &b);
        eprintln!(
            "{model:?}: dt refinement changes V by at most {:.3} mV",
            d * 1e3
        );
        assert!(d < 1e-4, "{model:?}: {d} V");
    }
}

#[test]
fn cell_voltage_converges_second_order_in_time_and_space() {
    let p = chen();
    let prot = Protocol::c_rate(1.0, 3000.0);
    let at = |dt: f64, shells: usize| {
        let o = SolverOptions {
            dt_max: dt,
            shells,
            output_times: Some(vec![500.0, 1500.0, 3000.0]),
            // BDF2: the exact integrator has no time error to converge
            exponential: false,
            ..SolverOptions::default()
        };
        let s = simulate(&p, &prot, &o).unwrap();
        [s.rows[0].voltage, s.rows[1].voltage, s.rows[2].voltage]
    };
    let err = |a: [f64; 3], b: [f64; 3]| (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0, f64::max);
    let reference = at(0.1, 20);
    let e: Vec<f64> = [40.0, 20.0, 10.0, 5.0]
        .iter()
        .map(|&dt| err(at(dt, 20), reference))
        .collect();
    eprintln!("time errors (dt 40, 20, 10, 5 s): {e:?}");
    for (k, w) in e.windows(2).enumerate() {
        let ord = (w[0] / w[1]).log2();
        // BDF2: order 2 once the step is in the asymptotic range
        let lo = if k == 0 { 1.5 } else { 1.8 };
        assert!(ord > lo && ord < 2.4, "time order {ord}: {e:?}");
    }
    let reference = at(2.0, 320);
    let e: Vec<f64> = [10usize, 20, 40]
        .iter()
        .map(|&n| err(at(2.0, n), reference))
        .collect();
    eprintln!("space errors (10, 20, 40 shells): {e:?}");
    for w in e.windows(2) {
        let ord = (w[0] / w[1]).log2();
        assert!(ord > 1.6 && ord < 2.6, "space order {ord}: {e:?}");
    }
}

fn times_to(t_end: f64, dt: f64) -> Vec<f64> {
    (0..=((t_end / dt) as usize))
        .map(|k| k as f64 * dt)
        .collect()
}

#[test]
fn gradients_match_central_differences() {
    // About:Energy parameters: smooth (expression) OCPs, so central differences are accurate.
    for (kind, names) in [
        (CellModelKind::Spm, vec!["D_n", "D_p", "k_n", "k_p"]),
        // (no electrolyte input: the electrolyte steps in f64 and the gradient enters its
        // voltage terms through the kinetics alone)
        (
            CellModelKind::Spme,
            vec!["D_n", "D_p", "k_n", "k_p", "R_contact"],
        ),
        (
            CellModelKind::Spme,
            // (t_plus, D_e_factor and c_e0 act through the electrolyte states)
            vec![
                "D_p",
                "k_n",
                "R_contact",
                "t_plus",
                "E_a_k_p",
                "theta100_n",
                "D_e_factor",
                "c_e0",
            ],
        ),
    ] {
        let mut base = about_energy().params;
        base.contact_resistance = 0.002;
        base.temperature = 308.0;
        let theta: Vec<f64> = names
            .iter()
            .map(|n| match *n {
                "D_n" => base.neg.diffusivity.scale,
                "D_p" => base.pos.diffusivity.scale,
                "k_n" => base.neg.rate_constant,
                "k_p" => base.pos.rate_constant,
                "R_contact" => base.contact_resistance,
                "t_plus" => base.electrolyte.transference,
                "E_a_k_p" => base.pos.rate_constant_ea,
                "theta100_n" => base.neg.theta_soc100,
                "D_e_factor" => 1.0,
                "c_e0" => base.electrolyte.initial_concentration,
                _ => unreachable!(),
            })
            .collect();
        let m = ChainModel::cell(
            base,
            opts(kind),
            &names,
            Protocol::c_rate(1.0, 3800.0),
            times_to(3300.0, 100.0),
        )
        .unwrap();
        assert_gradients_match_fd(&m, &theta, &names, &format!("{kind:?}"));
    }
}

/// The exact Jacobian of `m` at `theta` (inputs `names`) against central differences: the dual
/// solve's values equal the f64 solve's, and each column is within 1e-5 of its largest entry
/// of the closest of three differences. (An output that ends at a root of V, the capacity,
/// carries ~1e-9 s of round-off noise on the cut-off time: small relative steps are
/// noise-dominated, large ones truncation-dominated, and where the balance lies depends on the
/// parameter — SPMe, rel. diff at h = 1e-3/1e-4/1e-5: R_contact 8e-8/1e-6/1e-5, D_p
/// 6e-4/6e-6/2e-7.)
pub(crate) fn assert_gradients_match_fd<M: Model>(
    m: &M,
    theta: &[f64],
    names: &[&str],
    case: &str,
) {
    let (v, j) = jacobian(m, theta).unwrap();
    let plain = crate::model::evaluate(m, theta).unwrap();
    for (a, b) in v.iter().zip(&plain) {
        assert!((a - b).abs() < 1e-10, "{case}: dual re {a} vs f64 {b}");
    }
    let fds: Vec<_> = [1e-3, 1e-4, 1e-5]
        .iter()
        .map(|&h| jacobian_central_fd(m, theta, h).unwrap())
        .collect();
    // relative to each column's largest entry, so tiny sensitivities don't dominate
    for c in 0..theta.len() {
        let scale = j.column(c).amax().max(1e-300);
        let (rmax, d) = (0..j.nrows())
            .map(|r| {
                let d = fds
                    .iter()
                    .map(|fd| (j[(r, c)] - fd[(r, c)]).abs() / scale)
                    .fold(f64::INFINITY, f64::min);
                (r, d)
            })
            .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
        assert!(
            d < 1e-5,
            "{case} {}: rel diff {d} at output {rmax} of {}",
            names[c],
            j.nrows()
        );
    }
}

#[test]
fn gradient_of_cutoff_capacity_matches_fd() {
    let m = ChainModel::cell(
        chen(),
        SolverOptions::default(),
        &["D_p", "k_p"],
        one_c(),
        vec![0.0, 600.0],
    )
    .unwrap();
    let theta = [4e-15, 3.42e-6];
    let (v, j) = jacobian(&m, &theta).unwrap();
    let fd = jacobian_central_fd(&m, &theta, 1e-5).unwrap();
    assert!(v[2] > 4.0 && v[2] < 5.2, "capacity {}", v[2]);
    for c in 0..2 {
        let r = (j[(2, c)] - fd[(2, c)]).abs() / j[(2, c)].abs();
        assert!(
            r < 1e-3,
            "capacity column {c}: {} vs {}",
            j[(2, c)],
            fd[(2, c)]
        );
    }
}

/// 20C without the voltage cut-off fills the positive particle's surface (θ_s → 1) within a
/// minute: the run stops there with that reason, a finite voltage curve and a stop time whose
/// derivative matches central differences — for the exact and the BDF2 integrators, SPM and
/// SPMe.
#[test]
fn a_surface_reaching_its_limit_ends_the_run_with_a_finite_curve() {
    let mut p = chen();
    // (at 20C Chen2020's electrolyte would deplete first)
    p.electrolyte.diffusivity.scale = 10.0;
    let prot = Protocol::c_rate(20.0, 3600.0);
    for (model, exponential) in [
        (CellModelKind::Spm, true),
        (CellModelKind::Spm, false),
        (CellModelKind::Spme, true),
    ] {
        let o = SolverOptions {
            stop_at_cutoff: false,
            exponential,
            ..opts(model)
        };
        let s = simulate(&p, &prot, &o).unwrap();
        let tag = format!("{model:?}, exponential {exponential}");
        assert_eq!(
            s.stop,
            StopReason::SurfaceLimit {
                electrode: Side::Positive,
                full: true
            },
            "{tag}"
        );
        let last = s.cutoff.unwrap();
        assert!(
            last.theta_p_surf > 1.0 - 1e-9 && last.theta_p_surf < 1.0,
            "{tag}"
        );
        assert!(s.rows.len() >= 4, "{tag}");
        let end = s.end_summary();
        assert!(
            end.starts_with("stopped where the positive electrode's particle surface became full (end of discharge) at t = "),
            "{tag}: {end}"
        );
        for r in s.rows.iter().chain([&last]) {
            assert!(r.voltage.is_finite() && r.voltage > 0.0, "{tag}: {r:?}");
        }
        // dt_s/dD_p, exact vs central differences
        let stop_time = |scale: f64| {
            let mut q = p.clone();
            q.pos.diffusivity.scale *= scale;
            simulate(&q, &prot, &o).unwrap().cutoff_time.unwrap()
        };
        let mut qd: CellParams<num_dual::Dual64> = p.to_scalar().unwrap();
        qd.pos.diffusivity.scale = num_dual::Dual64::new(p.pos.diffusivity.scale, 1.0);
        let td = simulate(&qd, &prot, &o).unwrap().cutoff_time.unwrap();
        assert!((td.re - s.cutoff_time.unwrap()).abs() < 1e-9, "{tag}");
        let h = 1e-5;
        let fd = (stop_time(1.0 + h) - stop_time(1.0 - h)) / (2.0 * h * p.pos.diffusivity.scale);
        let r = (td.eps - fd).abs() / fd.abs();
        assert!(r < 1e-4, "{tag}: dt_s/dD_p {} vs {fd} (central FD)", td.eps);
    }
}

#[test]
fn a_nonsense_parameter_from_a_sampler_is_an_error_value() {
    let p = chen();
    let m = ChainModel::cell(
        p,
        SolverOptions::default(),
        &["D_p"],
        one_c(),
        vec![0.0, 100.0],
    )
    .unwrap();
    // negative diffusivity from a sampler: an error value
    let mut out = vec![0.0; crate::model::n_outputs(&m)];
    assert!(m.eval(&[-1e-15], &mut out).is_err());
    assert!(m.eval(&[f64::NAN], &mut out).is_err());
}

#[test]
fn negative_diffusivity_is_named() {
    let mut p = chen();
    p.pos.diffusivity.scale = -1e-15;
    let e = simulate(&p, &one_c(), &SolverOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("positive electrode diffusivity"), "{e}");
}

#[test]
fn hold_after_cutoff() {
    let m = ChainModel::cell(
        chen(),
        SolverOptions::default(),
        &["D_n"],
        one_c(),
        times_to(3900.0, 100.0),
    )
    .unwrap();
    let v = crate::model::evaluate(&m, &[3.3e-14]).unwrap();
    assert_eq!(v[39], 2.5);
    assert!(v[30] > 2.5);
}

#[test]
fn law_based_ocp_with_dual_parameters() {
    // A regular-solution positive OCP whose U0 and Ω are free inputs: derivatives flow through the law.
    let mut base = chen();
    base.pos.ocp = Ocp::RegularSolution {
        u0: 3.85,
        omega_ev: 0.02,
    };
    let m = ChainModel::cell(
        base,
        SolverOptions::default(),
        &["U0_p", "Omega_p"],
        Protocol::c_rate(0.5, 3600.0),
        times_to(3000.0, 300.0),
    )
    .unwrap();
    let (_, j) = jacobian(&m, &[3.85, 0.02]).unwrap();
    let fd = jacobian_central_fd(&m, &[3.85, 0.02], 1e-6).unwrap();
    assert!(max_rel_diff(&j, &fd, 1e-3) < 1e-5, "{j} {fd}");
    // dV/dU0 = 1 exactly
    assert!((j[(5, 0)] - 1.0).abs() < 1e-12);
}

// ---------------------------------------------------------------- BPX

#[test]
fn bpx_import_applies_the_conventions() {
    let c = about_energy();
    let p = &c.params;
    assert!((p.area - 0.016808 * 34.0).abs() < 1e-12);
    // ε_s = a R / 3
    assert!((p.neg.active_fraction - 499522.0 * 4.12e-6 / 3.0).abs() < 1e-12);
    // k normalisation: m = F k_norm / (c_max sqrt(c_e0))
    let m = crate::constants::FARADAY * 5.199e-6 / (29730.0 * 1000f64.sqrt());
    assert!((p.neg.rate_constant - m).abs() < 1e-18);
    // porosity from transport efficiency with Bruggeman 1.5
    assert!((p.neg.porosity.powf(1.5) - 0.128).abs() < 1e-12);
    assert!((p.neg.theta_soc100 - 0.75668).abs() < 1e-15);
    assert!((p.pos.theta_soc100 - 0.42424).abs() < 1e-15);
    // capacity of the window ≈ the nominal 12.5 Ah
    let q = p.electrode_capacity_ah(&p.neg);
    assert!(q > 12.0 && q < 14.0, "{q}");
}

#[test]
fn bpx_round_trip() {
    let c = about_energy();
    let unc = [bpx::ParamUncertainty {
        name: "Negative electrode diffusivity [m2.s-1]".into(),
        central: 2.728e-14,
        mean: 2.75e-14,
        sd: 3e-15,
        median: None,
        interval: Some((2.2e-14, 3.3e-14, 0.9)),
        kind: bpx::DistributionKind::Normal {
            mean: 2.75e-14,
            sd: 3e-15,
        },
    }];
    let text = to_bpx_json(&c.params, "round trip", &unc);
    let back = read_bpx_str(&text, "roundtrip.json").unwrap();
    let d = &back.user_defined["Distributions"]["Negative electrode diffusivity [m2.s-1]"];
    assert_eq!(d["Standard deviation"], 3e-15);
    assert_eq!(d["Interval upper (90 %)"], 3.3e-14);
    let o = opts(CellModelKind::Spme);
    let a = simulate(&c.params, &Protocol::c_rate(1.0, 3800.0), &o).unwrap();
    let b = simulate(&back.params, &Protocol::c_rate(1.0, 3800.0), &o).unwrap();
    assert_eq!(a.rows.len(), b.rows.len());
    assert!(max_dv(&a, &b) < 1e-12, "{}", max_dv(&a, &b));
    let p2 = &back.params;
    assert!((p2.neg.rate_constant / c.params.neg.rate_constant - 1.0).abs() < 1e-14);
    assert!((p2.pos.porosity / c.params.pos.porosity - 1.0).abs() < 1e-14);
    // Chen2020 (tables) round-trips too
    let ch = chen();
    let back = read_bpx_str(&to_bpx_json(&ch, "chen", &[]), "chen.json").unwrap();
    let a = simulate(&ch, &one_c(), &SolverOptions::default()).unwrap();
    let b = simulate(&back.params, &one_c(), &SolverOptions::default()).unwrap();
    assert!(max_dv(&a, &b) < 1e-12);
}

#[test]
fn bpx_missing_parameter_is_named() {
    let text =
        std::fs::read_to_string(data_file("about_energy_nmc/nmc_pouch_cell_BPX.json")).unwrap();
    let broken = text.replace("\"Particle radius [m]\": 4.6e-06,", "");
    let e = read_bpx_str(&broken, "cell.json").unwrap_err().to_string();
    assert!(
        e.contains("cell.json")
            && e.contains("Positive electrode/Particle radius [m]")
            && e.contains("missing"),
        "{e}"
    );
    let broken = text.replace(
        "\"Diffusivity [m2.s-1]\": 3.2e-14",
        "\"Diffusivity [m2.s-1]\": -3.2e-14",
    );
    let e = read_bpx_str(&broken, "cell.json").unwrap_err().to_string();
    assert!(
        e.contains("cell.json") && e.contains("Positive electrode/Diffusivity [m2.s-1]"),
        "{e}"
    );
    let broken = text.replace(
        "\"OCP [V]\": \"-3.04420906",
        "\"OCP [V]\": \"foo(x) -3.04420906",
    );
    let e = read_bpx_str(&broken, "cell.json").unwrap_err().to_string();
    assert!(
        e.contains("Positive electrode/OCP [V]") && e.contains("foo"),
        "{e}"
    );
    let broken = text.replace(
        "\"Diffusivity [m2.s-1]\": 3.2e-14",
        "\"Diffusivity [m2.s-1]\": {\"x\": [0.1, 0.5, 0.3], \"y\": [1e-14, 2e-14, 3e-14]}",
    );
    let e = read_bpx_str(&broken, "cell.json").unwrap_err().to_string();
    assert!(e.contains("strictly increasing"), "{e}");
}

// ---------------------------------------------------------------- measured data

/// (time, current discharge-positive, voltage) from an About:Energy CSV.
fn measured(name: &str) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let text = std::fs::read_to_string(data_file(&format!("about_energy_nmc/{name}"))).unwrap();
    let (mut t, mut i, mut v) = (vec![], vec![], vec![]);
    for l in text.lines().skip(1) {
        let c: Vec<f64> = l.split(',').map(|s| s.trim().parse().unwrap()).collect();
        t.push(c[0]);
        i.push(-c[1]);
        v.push(c[2]);
    }
    (t, i, v)
}

/// RMSE \[V\] of the SPMe with the BPX parameters against a measured curve, driven by the
/// measured current, over the samples before the model's cut-off.
fn rmse_against(name: &str) -> (f64, usize) {
    let (rmse, n, _) = rmse_with(name, ThermalOption::Isothermal, None);
    (rmse, n)
}

/// [`rmse_against`] with the cell temperature set by `thermal` (the lumped model with
/// heat-transfer coefficient `h` \[W/(m²·K)\] if given, else the file's); also the highest
/// temperature reached \[K\].
fn rmse_with(name: &str, thermal: ThermalOption, h: Option<f64>) -> (f64, usize, f64) {
    let mut cell = about_energy();
    if let (Some(h), Some(th)) = (h, cell.params.thermal.as_mut()) {
        th.heat_transfer_coefficient = h;
    }
    let (t, i, v) = measured(name);
    let prot = Protocol::Series(CurrentSeries {
        time_s: t.clone(),
        current_a: i,
    });
    let o = SolverOptions {
        model: CellModelKind::Spme,
        output_times: Some(t.clone()),
        thermal,
        ..SolverOptions::default()
    };
    let sol = simulate(&cell.params, &prot, &o).unwrap();
    let n = sol.rows.len();
    let se: f64 = sol
        .rows
        .iter()
        .zip(&v)
        .map(|(r, m)| (r.voltage - m).powi(2))
        .sum();
    let hottest = sol.rows.iter().map(|r| r.temperature_k).fold(0.0, f64::max);
    ((se / n as f64).sqrt(), n, hottest)
}

#[test]
fn about_energy_spme_matches_measured_curves() {
    let (r20, n20) = rmse_against("NMC_25degC_Co20.csv");
    let (r1, n1) = rmse_against("NMC_25degC_1C.csv");
    eprintln!(
        "About:Energy SPMe RMSE: C/20 {:.2} mV over {n20} points, 1C {:.2} mV over {n1} points",
        r20 * 1e3,
        r1 * 1e3
    );
    assert!(n20 > 7000 && n1 > 3500);
    assert!(r20 < 0.030, "C/20 RMSE {r20}");
    assert!(r1 < 0.030, "1C RMSE {r1}");
}

#[test]
fn drive_cycle_runs_from_a_current_file() {
    let (t, i, _) = measured("NMC_25degC_DriveCycle.csv");
    let mut csv = String::from("# sign_convention: discharge_positive\ntime_s,current_A\n");
    for (a, b) in t.iter().zip(&i) {
        csv.push_str(&format!("{a},{b}\n"));
    }
    let prot = Protocol::series_from_csv_str(&csv, "drive.csv", None).unwrap();
    let sol = simulate(&about_energy().params, &prot, &opts(CellModelKind::Spme)).unwrap();
    assert!(sol.rows.len() > 100);
    assert!(sol.rows.iter().all(|r| r.voltage > 2.5 && r.voltage < 4.3));
}

#[test]
fn simulate_bpx_to_csv_writes_the_columns() {
    let csv = simulate_bpx_to_csv(
        Path::new(&data_file("about_energy_nmc/nmc_pouch_cell_BPX.json")),
        &Protocol::c_rate(1.0, 4000.0),
        &opts(CellModelKind::Spme),
        None,
    )
    .unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("time_s,current_A,voltage_V,theta_n_surf")
    );
    let last = csv.lines().last().unwrap();
    assert!(last.split(',').nth(2).unwrap().starts_with("2.7"), "{last}");
}

/// CPU-time probe (run by hand with `--ignored --nocapture` under `/usr/bin/time`); not a timing test.
#[test]
#[ignore]
fn cpu_probe() {
    let p = chen();
    let prot = one_c();
    let kind = std::env::var("PROBE_KIND").unwrap_or_default();
    let dt: f64 = std::env::var("PROBE_DT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let o = SolverOptions {
        dt_max: dt,
        ..SolverOptions::default()
    };
    let n = 2000;
    if kind == "dual" {
        type D4 = crate::numerics::gradient::Grad<4>;
        let mut pd: CellParams<D4> = p.to_scalar().unwrap();
        pd.neg.diffusivity.scale = D4::from_re(p.neg.diffusivity.scale).derivative(0);
        pd.pos.diffusivity.scale = D4::from_re(p.pos.diffusivity.scale).derivative(1);
        pd.neg.rate_constant = D4::from_re(p.neg.rate_constant).derivative(2);
        pd.pos.rate_constant = D4::from_re(p.pos.rate_constant).derivative(3);
        for _ in 0..n {
            std::hint::black_box(simulate(std::hint::black_box(&pd), &prot, &o).unwrap());
        }
    } else {
        for _ in 0..n {
            std::hint::black_box(simulate(std::hint::black_box(&p), &prot, &o).unwrap());
        }
    }
}

#[test]
fn modal_and_tridiagonal_solvers_agree() {
    for model in [CellModelKind::Spm, CellModelKind::Spme] {
        let p = chen();
        let bdf2 = SolverOptions {
            exponential: false,
            ..opts(model)
        };
        let a = simulate(&p, &one_c(), &bdf2).unwrap();
        let b = simulate(
            &p,
            &one_c(),
            &SolverOptions {
                modal: false,
                ..bdf2.clone()
            },
        )
        .unwrap();
        assert!(max_dv(&a, &b) < 1e-9, "{model:?}: {}", max_dv(&a, &b));
        assert!((a.cutoff_time.unwrap() - b.cutoff_time.unwrap()).abs() < 1e-6);
    }
}

#[test]
fn exponential_spm_and_spme_match_bdf2_refined_in_time() {
    // the exact-in-time modal particles (SPMe: with the electrolyte on its own error-controlled
    // BDF2 grid, interpolated between its steps) vs BDF2 on one grid with dt → small: same
    // voltages to < 0.1 mV, same cut-off, in far fewer steps; also on a multi-segment protocol
    // (rest, charge, 2C) and at 2C
    let p = chen();
    for (model, prot) in [CellModelKind::Spm, CellModelKind::Spme]
        .into_iter()
        .flat_map(|m| [one_c(), Protocol::c_rate(2.0, 2000.0), multi_segment()].map(|p| (m, p)))
    {
        let a = simulate(&p, &prot, &opts(model)).unwrap();
        let b = simulate(
            &p,
            &prot,
            &SolverOptions {
                exponential: false,
                dt_max: 0.25,
                ..opts(model)
            },
        )
        .unwrap();
        assert_eq!(a.rows.len(), b.rows.len());
        let d = max_dv(&a, &b);
        eprintln!(
            "{model:?}: exponential vs BDF2 (dt 0.25 s): {:.4} mV, {} vs {} steps, cut-off {:?} vs {:?}",
            d * 1e3,
            a.steps,
            b.steps,
            a.cutoff_time,
            b.cutoff_time
        );
        assert!(d < 1e-4, "{model:?}: {d} V");
        assert_eq!(a.stop, b.stop);
        assert!(a.steps * 4 < b.steps);
        if let (Some(x), Some(y)) = (a.cutoff_time, b.cutoff_time) {
            assert!((x - y).abs() < 0.05, "cut-off {x} vs {y}");
            let (ca, cb) = (a.final_capacity_ah(), b.final_capacity_ah());
            assert!((ca - cb).abs() < 1e-4, "{ca} vs {cb}");
        }
    }
}

/// 1C for 1205 s, a 300 s rest, a 2 A charge for 600 s, then 2C to the cut-off.
fn multi_segment() -> Protocol {
    Protocol::Steps(vec![
        Step::CRate {
            c_rate: 1.0,
            duration_s: 1205.0,
        },
        Step::Rest { duration_s: 300.0 },
        Step::Current {
            amps: -2.0,
            duration_s: 600.0,
        },
        Step::CRate {
            c_rate: 2.0,
            duration_s: 3000.0,
        },
    ])
}

/// Writes curves for the PyBaMM cross-check (scripts/pybamm_crosscheck.py); run by hand.
#[test]
#[ignore]
fn export_for_pybamm() {
    let out = std::env::var("XCHECK_DIR").unwrap_or_else(|_| "/tmp".into());
    let spm = simulate(&chen(), &one_c(), &SolverOptions::default()).unwrap();
    std::fs::write(
        format!("{out}/bridgelaw_chen_spm_1c.csv"),
        solution_to_csv(&spm),
    )
    .unwrap();
    let spme = simulate(
        &about_energy().params,
        &Protocol::c_rate(1.0, 4000.0),
        &opts(CellModelKind::Spme),
    )
    .unwrap();
    std::fs::write(
        format!("{out}/bridgelaw_ae_spme_1c.csv"),
        solution_to_csv(&spme),
    )
    .unwrap();
    let spm = simulate(
        &about_energy().params,
        &Protocol::c_rate(1.0, 4000.0),
        &opts(CellModelKind::Spm),
    )
    .unwrap();
    std::fs::write(
        format!("{out}/bridgelaw_ae_spm_1c.csv"),
        solution_to_csv(&spm),
    )
    .unwrap();
}

/// A cut-off crossed 5 ms before the particles leave (0, c_max), where V(t) turns singular: the
/// 20 ms difference for dV/dt would step out of range, so δ shrinks and the crossing time keeps
/// its derivative.
#[test]
fn cutoff_just_before_the_range_edge_keeps_its_derivative() {
    let p = chen();
    let run_to = |t_end: f64| {
        let o = SolverOptions {
            stop_at_cutoff: false,
            output_times: Some(vec![t_end]),
            ..SolverOptions::default()
        };
        simulate(&p, &Protocol::c_rate(1.0, t_end), &o).unwrap()
    };
    let in_range = |t_end: f64| run_to(t_end).stop == StopReason::EndOfProtocol;
    // the time the range is left at 1C, to 1 µs
    let (mut lo, mut hi) = (3000.0, 5000.0);
    assert!(in_range(lo) && !in_range(hi));
    while hi - lo > 1e-6 {
        let m = 0.5 * (lo + hi);
        if in_range(m) { lo = m } else { hi = m }
    }
    let t_cross = lo - 0.005;
    let mut q = p.clone();
    q.v_min = run_to(t_cross).rows[0].voltage;
    let prot = Protocol::c_rate(1.0, 5000.0);
    let crossing = |scale: f64| {
        let mut r = q.clone();
        r.pos.diffusivity.scale *= scale;
        simulate(&r, &prot, &SolverOptions::default())
            .unwrap()
            .cutoff_time
            .unwrap()
    };
    assert!((crossing(1.0) - t_cross).abs() < 1e-3);
    let mut qd: CellParams<num_dual::Dual64> = q.to_scalar().unwrap();
    qd.pos.diffusivity.scale = num_dual::Dual64::new(q.pos.diffusivity.scale, 1.0);
    let tc = simulate(&qd, &prot, &SolverOptions::default())
        .unwrap()
        .cutoff_time
        .unwrap();
    let h = 1e-4;
    let fd = (crossing(1.0 + h) - crossing(1.0 - h)) / (2.0 * h * q.pos.diffusivity.scale);
    assert!(fd.abs() > 0.0);
    let r = (tc.eps - fd).abs() / fd.abs();
    // (the FD is converged to ~1e-6 here: h = 1e-3, 1e-4, 1e-5 agree)
    assert!(r < 2e-4, "dt_c/dD_p {} vs {fd} (central FD)", tc.eps);
}

/// Voltage curves against PyBaMM 26.10 on the shipped LG M50 BPX file (data/pybamm, made by
/// scripts/pybamm_reference.py): SPM at 1C and SPMe at 2C, 298.15 K, 100 shells, PyBaMM's
/// 20/20/20 electrolyte mesh. Largest difference after the first 60 s, measured: SPM 0.062 mV,
/// SPMe 0.77 mV (the SPMe's old evaluation points — κ_e at the local c_e(x), i0 at the electrode
/// mean — were 10.9 mV off here).
#[test]
fn spm_and_spme_match_pybamm_on_chen2020() {
    let cell = read_bpx_file(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models/cells/lgm50_chen2020.bpx.json"),
    )
    .unwrap();
    for (file, model, c_rate, tol_mv) in [
        ("lgm50_spm_1C_298K.csv", CellModelKind::Spm, 1.0, 0.2),
        ("lgm50_spme_2C_298K.csv", CellModelKind::Spme, 2.0, 1.0),
    ] {
        let text = std::fs::read_to_string(data_file(&format!("pybamm/{file}"))).unwrap();
        let rows: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("time_s"))
            .map(|l| {
                let (t, v) = l.split_once(',').unwrap();
                (t.parse().unwrap(), v.parse().unwrap())
            })
            .collect();
        // PyBaMM's last row is its cut-off crossing, off the 10 s grid
        let (grid, reference) = rows.split_at(rows.len() - 1);
        let grid: Vec<(f64, f64)> = grid.iter().copied().filter(|r| r.0 > 0.0).collect();
        let o = SolverOptions {
            model,
            shells: 100,
            output_times: Some(grid.iter().map(|r| r.0).collect()),
            ..SolverOptions::default()
        };
        let sol = simulate(&cell.params, &Protocol::c_rate(c_rate, 4000.0), &o).unwrap();
        // rows past our own cut-off are not reached (zip stops there)
        let worst = sol
            .voltages()
            .iter()
            .zip(&grid)
            .filter(|(_, r)| r.0 >= 60.0)
            .map(|(vb, r)| (vb - r.1).abs())
            .fold(0.0f64, f64::max);
        let (tc_b, tc_p) = (sol.cutoff_time.unwrap(), reference[0].0);
        eprintln!(
            "{file}: largest |ΔV| after 60 s {:.3} mV; cut-off {tc_b:.2} s vs PyBaMM {tc_p:.2} s",
            worst * 1e3
        );
        assert!(worst * 1e3 < tol_mv, "{file}: {:.3} mV", worst * 1e3);
        assert!(
            (tc_b - tc_p).abs() < 1.0,
            "{file}: cut-off {tc_b} vs {tc_p}"
        );
    }
}

/// BPX 1.x: the About:Energy file as the `bpx` package (1.1.1) converts it to the 1.x schema
/// (data/about_energy_nmc/nmc_pouch_cell_BPX_v1.json, accepted by its strict parser) reads as
/// the same cell as the legacy 0.x original, to the bit; its `State` sets the initial state.
#[test]
fn bpx_1x_reads_the_same_cell_as_its_0x_form() {
    let v0 = about_energy();
    let v1_text =
        std::fs::read_to_string(data_file("about_energy_nmc/nmc_pouch_cell_BPX_v1.json")).unwrap();
    let v1 = read_bpx_str(&v1_text, "v1.json").unwrap();
    let (a, b) = (&v0.params, &v1.params);
    assert_eq!(
        (
            a.electrolyte.initial_concentration,
            a.temperature,
            a.initial_soc,
            a.area,
            a.t_ref
        ),
        (
            b.electrolyte.initial_concentration,
            b.temperature,
            b.initial_soc,
            b.area,
            b.t_ref
        )
    );
    let prot = Protocol::c_rate(1.0, 4000.0);
    let o = opts(CellModelKind::Spme);
    let (sa, sb) = (
        simulate(a, &prot, &o).unwrap(),
        simulate(b, &prot, &o).unwrap(),
    );
    assert_eq!(sa.voltages(), sb.voltages());
    // The initial state of charge and the temperatures come from State.
    let half = v1_text
        .replace(
            "\"Initial state-of-charge\": 1,",
            "\"Initial state-of-charge\": 0.5,",
        )
        .replace(
            "\"Ambient temperature [K]\": 298.15",
            "\"Ambient temperature [K]\": 283.15",
        );
    let h = read_bpx_str(&half, "half.json").unwrap().params;
    assert_eq!((h.initial_soc, h.temperature), (0.5, 283.15));
    let sh = simulate(&h, &prot, &o).unwrap();
    assert!(sh.rows[0].voltage < sa.rows[0].voltage - 0.05);
    // Bad or missing 1.x pieces are named.
    for (text, field) in [
        (
            v1_text.replace(
                "\"Initial state-of-charge\": 1,",
                "\"Initial state-of-charge\": 1.5,",
            ),
            "State/Initial conditions/Initial state-of-charge",
        ),
        (
            v1_text.replace("\"BPX\": \"1.1.1\"", "\"BPX\": \"one\""),
            "Header/BPX",
        ),
        (
            v1_text.replace("\"BPX\": \"1.1.1\"", "\"BPX\": \"2.0.0\""),
            "Header/BPX",
        ),
        (v1_text.replace("\"State\"", "\"Stat\""), "State"),
        (
            v1_text.replace(
                "\"Initial electrolyte concentration [mol.m-3]\"",
                "\"Initial electrolyte conc\"",
            ),
            "State/Initial conditions/Initial electrolyte concentration [mol.m-3]",
        ),
    ] {
        let e = read_bpx_str(&text, "bad.json").unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains(field), "{field}: {e}");
    }
}

mod thermal;
