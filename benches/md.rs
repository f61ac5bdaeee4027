//! MSD with its covariance and the GLS fit for the size: 10^5 frames × 500 ions (Brownian
//! walkers generated on the fly), 80 lags up to 10^4 frames, then the tracer and collective GLS fits
//! with the random-walk covariance. `MD_BENCH_FRAMES` shortens the run for a quick look.

use bridgelaw::md::diffusion::{CovarianceModel, Displacement, Window, fit_diffusivity};
use bridgelaw::md::msd::{MsdAccumulator, lag_set};
use bridgelaw::md::synthetic::{WalkKind, Walkers};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn msd_and_fit(frames: usize, ions: usize, max_lag: usize) -> f64 {
    let mut w = Walkers::new(WalkKind::Brownian, ions, 0.05, 0.1, 30.0, 1);
    let mut acc = MsdAccumulator::new(lag_set(max_lag, 80), ions);
    for _ in 0..frames {
        acc.push(w.positions());
        w.step();
    }
    let c = acc.finish(0.1);
    let win = Window {
        start_ps: 1.0,
        end_ps: max_lag as f64 * 0.1,
    };
    let t = fit_diffusivity(
        &[&c],
        Displacement::Tracer,
        win,
        CovarianceModel::RandomWalk,
    )
    .unwrap();
    let k = fit_diffusivity(
        &[&c],
        Displacement::Collective,
        win,
        CovarianceModel::RandomWalk,
    )
    .unwrap();
    t.mean + k.mean
}

fn bench(c: &mut Criterion) {
    let frames = std::env::var("MD_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let mut g = c.benchmark_group("md");
    g.sample_size(10);
    g.bench_function(format!("msd_cov_gls_{frames}x500"), |b| {
        b.iter(|| black_box(msd_and_fit(frames, 500, 10_000.min(frames / 2))))
    });
    g.finish();
}

// Plots off: criterion's plotters backend has no font registered in this crate's feature set.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
