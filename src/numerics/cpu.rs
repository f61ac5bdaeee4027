//! Which vector instructions the kernels may use: detected once per process, and overridable.
//!
//! Every SIMD kernel in [`crate::numerics`] has a portable path that computes the same bits.
//! Setting the environment variable `BRIDGELAW_PORTABLE=1` (any value but `0` or empty) before
//! the first kernel call forces the portable paths everywhere, so a test suite can be run on
//! them (`.ci/run` does) and a result can be checked on a CPU without AVX2.

use std::sync::OnceLock;

/// `BRIDGELAW_PORTABLE` is set: every kernel takes its portable path.
pub fn portable_forced() -> bool {
    static FORCED: OnceLock<bool> = OnceLock::new();
    *FORCED.get_or_init(|| {
        std::env::var_os("BRIDGELAW_PORTABLE").is_some_and(|v| !v.is_empty() && v != "0")
    })
}

/// The CPU has AVX2 (whatever `BRIDGELAW_PORTABLE` says): for the equality tests, which run
/// both paths.
pub fn hardware_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx2"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The CPU has AVX2 and FMA (whatever `BRIDGELAW_PORTABLE` says).
pub fn hardware_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: OnceLock<bool> = OnceLock::new();
        *HAS.get_or_init(|| hardware_avx2() && std::arch::is_x86_feature_detected!("fma"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The AVX2 kernels may run: the CPU has AVX2 and the portable paths are not forced.
#[inline(always)]
pub fn avx2() -> bool {
    hardware_avx2() && !portable_forced()
}

/// The AVX2 + FMA kernels may run: the CPU has both and the portable paths are not forced.
#[inline(always)]
pub fn avx2_fma() -> bool {
    hardware_avx2_fma() && !portable_forced()
}

/// Run `f` with the CPU's flush-to-zero and denormals-are-zero modes on (x86-64 MXCSR bits 15
/// and 6), then restore the previous mode; elsewhere `f` runs as it is. For benchmarks only:
/// a solve whose time changes under it computes on subnormal numbers (an Intel core takes a
/// microcode assist per subnormal operand), which bridgelaw removes at their source instead.
pub fn with_flush_to_zero<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);
        let mut old: u32 = 0;
        // SAFETY: stmxcsr/ldmxcsr read and write the SSE control register of this thread only;
        // the mode is restored before returning.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut old, options(nostack));
            let new = old | FTZ_DAZ;
            std::arch::asm!("ldmxcsr [{}]", in(reg) &new, options(nostack, readonly));
        }
        let r = f();
        unsafe {
            std::arch::asm!("ldmxcsr [{}]", in(reg) &old, options(nostack, readonly));
        }
        r
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}
