//! Sensitivity benchmarks: Ishigami Sobol indices (2^16 base rows, first and total order,
//! 100 bootstrap resamples), the figure compared with SALib's `sobol.sample` + `sobol.analyze`.

use bridgelaw::sensitivity::testfns::ishigami_unit;
use bridgelaw::sensitivity::{ScalarCubeFn, SobolSettings, sobol_fn};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn ishigami_sobol(c: &mut Criterion) {
    let f = ScalarCubeFn {
        dim: 3,
        f: |u: &[f64]| ishigami_unit(u, 7.0, 0.1),
    };
    let settings = SobolSettings {
        base_samples: 1 << 16,
        seed: 1,
        bootstrap: 100,
        progress: false,
        ..Default::default()
    };
    let mut g = c.benchmark_group("sensitivity");
    g.sample_size(20);
    g.bench_function("ishigami_sobol_2^16_boot100", |b| {
        b.iter(|| black_box(sobol_fn(black_box(&f), &settings).unwrap()))
    });
    g.finish();
}

// No plots: the crate's plotters build uses ab_glyph without a registered font, on which
// criterion's plot backend panics.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = ishigami_sobol
}
criterion_main!(benches);
