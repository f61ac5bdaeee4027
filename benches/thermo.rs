//! Speed of the thermodynamic laws: common tangent in f64, and model Jacobians through the implicit derivative.

use std::hint::black_box;

use bridgelaw::laws::thermo::{FreeEnergy, build_thermo_law, common_tangents};
use bridgelaw::model::{evaluate, jacobian};
use criterion::{Criterion, criterion_group, criterion_main};

fn bench(c: &mut Criterion) {
    let lfp = [0.1158, -3.42, 298.15];
    let rk3 = [0.14, 0.04, -0.015, -2e-5, 1e-5, 3e-6, -3.9, 320.0];
    let f = FreeEnergy::regular_solution(lfp[0], lfp[1], lfp[2]);
    c.bench_function("common_tangents regular solution (LiFePO4)", |b| {
        b.iter(|| common_tangents(black_box(&f)).unwrap())
    });
    let opts: toml::Table = "terms = 3".parse().unwrap();
    let plateau = build_thermo_law("redlich_kister_plateau", &opts).unwrap();
    c.bench_function("redlich_kister_plateau f64", |b| {
        b.iter(|| evaluate(&plateau, black_box(&rk3)).unwrap())
    });
    c.bench_function("redlich_kister_plateau jacobian (8 inputs)", |b| {
        b.iter(|| jacobian(&plateau, black_box(&rk3)).unwrap())
    });
    let ocv = build_thermo_law("regular_solution_ocv", &toml::Table::new()).unwrap();
    c.bench_function("regular_solution_ocv jacobian (99 points)", |b| {
        b.iter(|| jacobian(&ocv, black_box(&lfp)).unwrap())
    });
}

// Plots off: criterion's plotters backend has no font registered in this crate's feature set.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
