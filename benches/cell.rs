//! Cell-model speed: Chen2020-like SPM, 1C discharge to cut-off, 20 shells, outputs every 10 s.

use bridgelaw::cell::{
    CellModelKind, CellParams, Protocol, SolverOptions, ThermalOption, simulate,
};
use bridgelaw::chain::ChainModel;
use bridgelaw::numerics::cpu::with_flush_to_zero;
use bridgelaw::numerics::gradient::Grad;
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;

fn chen() -> CellParams<f64> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ocp");
    CellParams::chen2020_from_dir(Path::new(dir)).expect("Chen2020 OCP tables")
}

fn bench(c: &mut Criterion) {
    let p = chen();
    let prot = Protocol::c_rate(1.0, 4000.0);
    let opts = SolverOptions::default();
    let sol = simulate(&p, &prot, &opts).unwrap();
    eprintln!(
        "SPM 1C: {} output rows, {} steps, cut-off at {:?} s",
        sol.rows.len(),
        sol.steps,
        sol.cutoff_time
    );
    c.bench_function("spm_1c_f64", |b| {
        b.iter(|| simulate(black_box(&p), &prot, &opts).unwrap())
    });

    // exact gradients w.r.t. D_n, D_p, k_n, k_p in one pass
    type D4 = Grad<4>;
    let mut pd: CellParams<D4> = p.to_scalar().unwrap();
    pd.neg.diffusivity.scale = D4::from_re(p.neg.diffusivity.scale).derivative(0);
    pd.pos.diffusivity.scale = D4::from_re(p.pos.diffusivity.scale).derivative(1);
    pd.neg.rate_constant = D4::from_re(p.neg.rate_constant).derivative(2);
    pd.pos.rate_constant = D4::from_re(p.pos.rate_constant).derivative(3);
    c.bench_function("spm_1c_dual4", |b| {
        b.iter(|| simulate(black_box(&pd), &prot, &opts).unwrap())
    });

    let spme = SolverOptions {
        model: CellModelKind::Spme,
        ..SolverOptions::default()
    };
    c.bench_function("spme_1c_f64", |b| {
        b.iter(|| simulate(black_box(&p), &prot, &spme).unwrap())
    });
    c.bench_function("spme_1c_dual4", |b| {
        b.iter(|| simulate(black_box(&pd), &prot, &spme).unwrap())
    });
    // the lumped thermal model (a temperature state: BDF2 for every component, steps ≤ 10 s)
    let lumped = SolverOptions {
        model: CellModelKind::Spme,
        thermal: ThermalOption::Lumped,
        ..SolverOptions::default()
    };
    c.bench_function("spme_1c_lumped_f64", |b| {
        b.iter(|| simulate(black_box(&p), &prot, &lumped).unwrap())
    });
    c.bench_function("spme_1c_lumped_dual4", |b| {
        b.iter(|| simulate(black_box(&pd), &prot, &lumped).unwrap())
    });
    // the same with subnormals flushed by the CPU: equal times mean none arise
    c.bench_function("spme_1c_dual4_ftz", |b| {
        b.iter(|| with_flush_to_zero(|| simulate(black_box(&pd), &prot, &spme).unwrap()))
    });
    c.bench_function("spm_1c_dual4_ftz", |b| {
        b.iter(|| with_flush_to_zero(|| simulate(black_box(&pd), &prot, &opts).unwrap()))
    });

    // through the Model trait (parameter conversion + solve + output), Jacobian 4 parameters
    let times: Vec<f64> = (0..=350).map(|k| k as f64 * 10.0).collect();
    let m = ChainModel::cell(
        p.clone(),
        SolverOptions::default(),
        &["D_n", "D_p", "k_n", "k_p"],
        prot.clone(),
        times,
    )
    .unwrap();
    let theta = [
        p.neg.diffusivity.scale,
        p.pos.diffusivity.scale,
        p.neg.rate_constant,
        p.pos.rate_constant,
    ];
    c.bench_function("cellmodel_jacobian4", |b| {
        b.iter(|| bridgelaw::model::jacobian(&m, black_box(&theta)).unwrap())
    });
}

// Plots off: criterion's plotters backend has no font registered in this crate's feature set.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
