//! Cell-model speed: Chen2020-like SPM, 1C discharge to cut-off, 20 shells, outputs every 10 s;
//! the lumped thermal model against the isothermal one also on the About:Energy cell, whose
//! diffusivities all have activation energies (Chen2020's have none).

use bridgelaw::cell::{
    CellModelKind, CellParams, Protocol, SolverOptions, ThermalOption, read_bpx_file, simulate,
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
    // the lumped thermal model (the temperature a state stepped with the exact particles,
    // steps ≤ 10 s)
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
    // every Arrhenius factor carries the temperature's derivatives on the About:Energy cell
    let ae = read_bpx_file(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/about_energy_nmc/nmc_pouch_cell_BPX.json"
    )))
    .expect("About:Energy BPX")
    .params;
    let mut ad: CellParams<D4> = ae.to_scalar().unwrap();
    ad.neg.diffusivity.scale = D4::from_re(ae.neg.diffusivity.scale).derivative(0);
    ad.pos.diffusivity.scale = D4::from_re(ae.pos.diffusivity.scale).derivative(1);
    ad.neg.rate_constant = D4::from_re(ae.neg.rate_constant).derivative(2);
    ad.pos.rate_constant = D4::from_re(ae.pos.rate_constant).derivative(3);
    for (name, o) in [("iso", &spme), ("lumped", &lumped)] {
        c.bench_function(&format!("spme_1c_about_energy_{name}_f64"), |b| {
            b.iter(|| simulate(black_box(&ae), &prot, o).unwrap())
        });
        c.bench_function(&format!("spme_1c_about_energy_{name}_dual4"), |b| {
            b.iter(|| simulate(black_box(&ad), &prot, o).unwrap())
        });
    }
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
