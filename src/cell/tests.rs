//! Tests of the cell model as a whole.

use super::*;
use crate::model::{jacobian, jacobian_central_fd, max_rel_diff};
use std::path::Path;

pub(crate) fn shared(rel: &str) -> String {
    format!("{}/../shared/{rel}", env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn chen() -> CellParams<f64> {
    CellParams::chen2020_from_dir(Path::new(&shared("data/ocp"))).unwrap()
}

fn one_c() -> Protocol {
    Protocol::c_rate(1.0, 4000.0)
}

#[test]
fn debug_print_chen_1c() {
    let p = chen();
    let sol = simulate(&p, &one_c(), &SolverOptions::default()).unwrap();
    eprintln!(
        "steps {} rows {} stop {:?} tcut {:?}",
        sol.steps,
        sol.rows.len(),
        sol.stop,
        sol.cutoff_time
    );
    for r in sol.rows.iter().step_by(30) {
        eprintln!(
            "{} {:.5} {:.4} {:.4} {:.5} {:.5}",
            r.time_s, r.voltage, r.theta_n_surf, r.theta_p_surf, r.eta_n, r.eta_p
        );
    }
    let mut o = SolverOptions::default();
    o.model = CellModelKind::Spme;
    let sol = simulate(&p, &one_c(), &o).unwrap();
    eprintln!(
        "SPMe steps {} rows {} stop {:?} tcut {:?}",
        sol.steps,
        sol.rows.len(),
        sol.stop,
        sol.cutoff_time
    );
    for r in sol.rows.iter().step_by(30) {
        eprintln!(
            "{} {:.5} {:.5} {:.5} {:.5}",
            r.time_s, r.voltage, r.eta_c, r.dphi_e, r.dphi_s
        );
    }
}
