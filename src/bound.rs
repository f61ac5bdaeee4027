//! A model with some inputs fixed and the rest bound, in order, to the parameters of a joint
//! distribution — what every engine sees. Built once when a study loads; no name lookups
//! happen during evaluation.

use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar};

/// Where one input of the inner model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// The k-th parameter of the joint distribution (the bound model's k-th input).
    Free(usize),
    /// A fixed value in the input's unit.
    Fixed(f64),
}

/// `inner` with its inputs bound: the bound model's inputs are the free parameters, in the
/// order of the distribution they are drawn from.
#[derive(Debug, Clone)]
pub struct BoundModel<M> {
    /// The model whose inputs are bound.
    pub inner: M,
    /// One binding per input of `inner`.
    pub bindings: Vec<Binding>,
    inputs: Vec<InputSpec>,
}

/// Inner models with at most this many inputs are evaluated without a heap allocation.
const STACK_INPUTS: usize = 32;

impl<M: Model> BoundModel<M> {
    /// Bind `inner`'s inputs. `free_inputs[k]` names and units the k-th free input; every
    /// `Binding::Free(k)` must have k < free_inputs.len() and each k must be used once.
    pub fn new(
        inner: M,
        bindings: Vec<Binding>,
        free_inputs: Vec<InputSpec>,
    ) -> Result<Self, String> {
        if bindings.len() != inner.inputs().len() {
            return Err(format!(
                "expected one binding per model input ({}), found {}",
                inner.inputs().len(),
                bindings.len()
            ));
        }
        let mut used = vec![false; free_inputs.len()];
        for b in &bindings {
            if let Binding::Free(k) = *b {
                if k >= used.len() || used[k] {
                    return Err(format!(
                        "free parameter #{k} is out of range or bound twice"
                    ));
                }
                used[k] = true;
            }
        }
        if let Some(k) = used.iter().position(|u| !u) {
            return Err(format!(
                "free parameter '{}' is not used by the model",
                free_inputs[k].name
            ));
        }
        Ok(Self {
            inner,
            bindings,
            inputs: free_inputs,
        })
    }

    /// The full input vector of the inner model for free values `theta` (f64).
    pub fn full_inputs(&self, theta: &[f64]) -> Vec<f64> {
        self.bindings
            .iter()
            .map(|b| match *b {
                Binding::Free(k) => theta[k],
                Binding::Fixed(v) => v,
            })
            .collect()
    }
}

impl<M: Model> Model for BoundModel<M> {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[OutputSpec] {
        self.inner.outputs()
    }

    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        if theta.len() != self.inputs.len() {
            return Err(ModelError::WrongInputCount {
                expected: self.inputs.len(),
                found: theta.len(),
            });
        }
        let fill = |full: &mut [D]| {
            for (f, b) in full.iter_mut().zip(&self.bindings) {
                *f = match *b {
                    Binding::Free(k) => theta[k],
                    Binding::Fixed(v) => D::from(v),
                };
            }
        };
        let n = self.bindings.len();
        if n <= STACK_INPUTS {
            let mut buf = [D::from(0.0); STACK_INPUTS];
            fill(&mut buf[..n]);
            self.inner.eval(&buf[..n], out)
        } else {
            let mut full = vec![D::from(0.0); n];
            fill(&mut full);
            self.inner.eval(&full, out)
        }
    }

    /// The inner model's batched evaluation on the full input columns (free columns copied,
    /// fixed inputs broadcast), so a law's vectorised `eval_batch` is used through a study.
    fn eval_batch(
        &self,
        x: &[f64],
        count: usize,
        out: &mut [f64],
        failed: &mut Vec<(usize, ModelError)>,
    ) {
        let mut full = vec![0.0; count * self.bindings.len()];
        for (col, b) in full.chunks_exact_mut(count.max(1)).zip(&self.bindings) {
            match *b {
                Binding::Free(k) => col.copy_from_slice(&x[k * count..(k + 1) * count]),
                Binding::Fixed(v) => col.fill(v),
            }
        }
        self.inner.eval_batch(&full, count, out, failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::laws::arrhenius::ArrheniusModel;
    use crate::model::{evaluate, jacobian};

    #[test]
    fn binds_and_differentiates_only_free_inputs() {
        let m = BoundModel::new(
            ArrheniusModel::default(),
            vec![Binding::Free(1), Binding::Free(0), Binding::Fixed(300.0)],
            vec![InputSpec::new("E_a", "eV"), InputSpec::new("D0", "m^2/s")],
        )
        .unwrap();
        let v = evaluate(&m, &[0.3, 1e-8]).unwrap();
        let direct = evaluate(&ArrheniusModel::default(), &[1e-8, 0.3, 300.0]).unwrap();
        assert_eq!(v, direct);
        let (_, j) = jacobian(&m, &[0.3, 1e-8]).unwrap();
        assert_eq!(j.ncols(), 2);
        assert!((j[(0, 1)] - v[0] / 1e-8).abs() < 1e-12 * j[(0, 1)].abs());
    }

    #[test]
    fn batch_passes_through_bindings() {
        let m = BoundModel::new(
            ArrheniusModel::default(),
            vec![Binding::Free(1), Binding::Free(0), Binding::Fixed(300.0)],
            vec![InputSpec::new("E_a", "eV"), InputSpec::new("D0", "m^2/s")],
        )
        .unwrap();
        let n = 5;
        let x: Vec<f64> = (0..n)
            .map(|i| 0.2 + 0.05 * i as f64)
            .chain((0..n).map(|i| 1e-8 * (1 + i) as f64))
            .collect();
        let mut out = vec![0.0; n];
        let mut failed = Vec::new();
        m.eval_batch(&x, n, &mut out, &mut failed);
        assert!(failed.is_empty());
        for i in 0..n {
            let v = evaluate(&m, &[x[i], x[n + i]]).unwrap();
            assert!((out[i] / v[0] - 1.0).abs() < 1e-14, "sample {i}");
        }
    }

    #[test]
    fn rejects_inconsistent_bindings() {
        let spec = vec![InputSpec::new("x", "1")];
        let m = ArrheniusModel::default;
        assert!(BoundModel::new(m(), vec![Binding::Free(0)], spec.clone()).is_err());
        let b = vec![Binding::Free(0), Binding::Free(0), Binding::Fixed(1.0)];
        assert!(BoundModel::new(m(), b, spec.clone()).is_err());
        let b = vec![
            Binding::Fixed(1.0),
            Binding::Fixed(1.0),
            Binding::Fixed(1.0),
        ];
        assert!(BoundModel::new(m(), b, spec).is_err());
    }
}
