//! An electrode's active material as a list of particles, one per particle size.

use super::ocp::Coefficient;
use super::particle::Particle;
use crate::model::Scalar;
use crate::numerics::bdf::Bdf;

/// The particles of one electrode, one per particle size, each standing for a volume fraction
/// of the active material. The SPM and SPMe hold one (a single radius per electrode). A size
/// distribution adds entries, each with its own radius, flux per ampere
/// ([`Particle::set_flux_unit`]) and fraction; its voltage then needs the current split between
/// the sizes at one overpotential (a nonlinear solve per step), which [`Electrode::particle`]'s
/// callers would take over. Everything that steps, saves, averages or range-checks the
/// particles goes through the list.
#[derive(Debug, Clone)]
pub struct Electrode<D> {
    particles: Vec<Particle<D>>,
    /// volume fraction of the active material in each particle \[1\] (sum 1)
    fractions: Vec<f64>,
}

impl<D: Scalar> Electrode<D> {
    /// An electrode of one particle size.
    pub fn single(particle: Particle<D>) -> Self {
        Self {
            particles: vec![particle],
            fractions: vec![1.0],
        }
    }

    /// The particle of a single-size electrode, whose surface the voltage reads.
    #[inline]
    pub fn particle(&self) -> &Particle<D> {
        debug_assert_eq!(self.particles.len(), 1, "one particle size");
        &self.particles[0]
    }

    /// Take the state of `other`, an electrode of the same particles.
    pub fn copy_state_from(&mut self, other: &Self) {
        for (p, o) in self.particles.iter_mut().zip(&other.particles) {
            p.copy_state_from(o);
        }
    }

    /// Whether every particle is in modal form (then all can step exactly).
    #[inline]
    pub fn is_modal(&self) -> bool {
        self.particles.iter().all(Particle::is_modal)
    }

    /// Volume-averaged concentration of the active material Σ_k f_k·c̄_k \[mol/m³\].
    #[inline(always)]
    pub fn average(&self) -> D {
        match self.particles.as_slice() {
            [p] => p.average(),
            ps => ps
                .iter()
                .zip(&self.fractions)
                .map(|(p, &f)| p.average() * f)
                .fold(D::zero(), |a, b| a + b),
        }
    }

    /// Smallest and largest shell concentration over the particles \[mol/m³\] (real parts).
    #[inline(always)]
    pub fn min_max(&self) -> (f64, f64) {
        match self.particles.as_slice() {
            [p] => p.min_max(),
            ps => ps
                .iter()
                .map(Particle::min_max)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (l, h)| {
                    (lo.min(l), hi.max(h))
                }),
        }
    }

    /// [`Particle::set_flux_unit`] of each particle (one size: the electrode's q/I).
    pub fn set_flux_unit(&mut self, q_unit: D) {
        for p in &mut self.particles {
            p.set_flux_unit(q_unit);
        }
    }

    /// [`Particle::step_current`] of each particle.
    #[inline]
    pub fn step_current(
        &mut self,
        h: f64,
        bdf: Bdf,
        omega: f64,
        cur: f64,
        diff: &Coefficient<D>,
        dfac: D,
    ) {
        for p in &mut self.particles {
            p.step_current(h, bdf, omega, cur, diff, dfac);
        }
    }

    /// [`Particle::step_exact`] of each particle.
    #[inline]
    pub fn step_exact(&mut self, h: f64, i0: f64, i1: f64, diff: &Coefficient<D>, dfac: D) {
        for p in &mut self.particles {
            p.step_exact(h, i0, i1, diff, dfac);
        }
    }

    /// [`Particle::restep_exact`] of each particle.
    #[inline]
    pub fn restep_exact(&mut self, h: f64, i0: f64, i1: f64, diff: &Coefficient<D>, dfac: D) {
        for p in &mut self.particles {
            p.restep_exact(h, i0, i1, diff, dfac);
        }
    }

    /// [`Particle::step_exact_batch`] of each particle.
    #[inline]
    pub fn step_exact_batch(&mut self, hs: &[f64], i: f64, diff: &Coefficient<D>, dfac: D) {
        for p in &mut self.particles {
            p.step_exact_batch(hs, i, diff, dfac);
        }
    }

    /// [`Particle::show_exact_step`] of each particle.
    #[inline]
    pub fn show_exact_step(&mut self, j: usize) {
        for p in &mut self.particles {
            p.show_exact_step(j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two particles of one size, half the material each, step, average and range-check as the
    /// single particle they split: the list is carried through every operation.
    #[test]
    fn an_electrode_of_two_equal_halves_behaves_as_one_particle() {
        let p = crate::cell::tests::chen();
        let e = &p.neg;
        let particle = || {
            let mut part = Particle::new(20, e.particle_radius, e.c_max, 0.8 * e.c_max, true);
            part.set_flux_unit(1e-5);
            part
        };
        let mut one = Electrode::single(particle());
        let mut two = Electrode {
            particles: vec![particle(), particle()],
            fractions: vec![0.5, 0.5],
        };
        for el in [&mut one, &mut two] {
            el.step_exact(30.0, 5.0, 5.0, &e.diffusivity, 1.0);
            el.step_exact(30.0, 5.0, 2.0, &e.diffusivity, 1.0);
            el.restep_exact(12.0, 5.0, 4.0, &e.diffusivity, 1.0);
        }
        assert!(
            one.average() < 0.8 * e.c_max,
            "the particle was lithiated, not delithiated"
        );
        assert!((one.average() - two.average()).abs() < 1e-9 * e.c_max);
        assert_eq!(one.min_max(), two.min_max());
        let mut copy = Electrode {
            particles: vec![particle(), particle()],
            fractions: vec![0.5, 0.5],
        };
        copy.copy_state_from(&two);
        assert_eq!(copy.average(), two.average());
        assert!(one.is_modal() && two.is_modal());
    }
}
