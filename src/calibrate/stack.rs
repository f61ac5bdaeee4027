//! Several models with the same inputs behind one [`Model`]: their outputs concatenated, so one
//! posterior can bind curves measured under different protocols (e.g. C/2, 1C and 2C
//! discharges, each its own cell model) to one shared parameter vector θ.
//!
//! out = [out_1(θ), out_2(θ), …]; output `j` of part `k` is renamed `{label_k}:{name_j}` and
//! keeps its unit and axis.

use super::CalibrateError;
use crate::model::{InputSpec, Model, ModelError, OutputSpec, Scalar, n_outputs};

/// Models sharing one input vector, outputs stacked in order. See the module doc.
#[derive(Debug, Clone)]
pub struct ModelStack<M> {
    parts: Vec<M>,
    labels: Vec<String>,
    inputs: Vec<InputSpec>,
    outputs: Vec<OutputSpec>,
    /// Index of part k's first output in [`Model::outputs`].
    first_output: Vec<usize>,
    /// Flat offset of part k's outputs and its flat length.
    flat: Vec<(usize, usize)>,
}

impl<M: Model> ModelStack<M> {
    /// Stack `(label, model)` parts. Every part must have the same inputs (names and units, in
    /// the same order) as the first; at least one part is required.
    pub fn new(parts: Vec<(String, M)>) -> Result<Self, CalibrateError> {
        let Some((_, first)) = parts.first() else {
            return Err(CalibrateError::Setup(
                "a model stack needs at least one model".into(),
            ));
        };
        let inputs = first.inputs().to_vec();
        let mut outputs = Vec::new();
        let mut first_output = Vec::new();
        let mut flat = Vec::new();
        let mut offset = 0;
        for (label, m) in &parts {
            let same = m.inputs().len() == inputs.len()
                && m.inputs()
                    .iter()
                    .zip(&inputs)
                    .all(|(a, b)| a.name == b.name && a.unit == b.unit);
            if !same {
                return Err(CalibrateError::Setup(format!(
                    "model stack part '{label}': inputs [{}] differ from the first part's [{}]",
                    names(m.inputs()),
                    names(&inputs)
                )));
            }
            first_output.push(outputs.len());
            for o in m.outputs() {
                let mut o = o.clone();
                o.name = format!("{label}:{}", o.name);
                outputs.push(o);
            }
            let n = n_outputs(m);
            flat.push((offset, n));
            offset += n;
        }
        let (labels, parts) = parts.into_iter().unzip();
        Ok(Self {
            parts,
            labels,
            inputs,
            outputs,
            first_output,
            flat,
        })
    }

    /// The stacked models, in order.
    pub fn parts(&self) -> &[M] {
        &self.parts
    }

    /// The part labels, in order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Index in [`Model::outputs`] of output `output` of part `part`.
    pub fn output_index(&self, part: usize, output: usize) -> usize {
        self.first_output[part] + output
    }
}

fn names(v: &[InputSpec]) -> String {
    v.iter()
        .map(|i| i.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl<M: Model> Model for ModelStack<M> {
    fn inputs(&self) -> &[InputSpec] {
        &self.inputs
    }

    fn outputs(&self) -> &[OutputSpec] {
        &self.outputs
    }

    fn eval<D: Scalar>(&self, theta: &[D], out: &mut [D]) -> Result<(), ModelError> {
        for (m, &(off, n)) in self.parts.iter().zip(&self.flat) {
            m.eval(theta, &mut out[off..off + n])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Axis, evaluate, jacobian, jacobian_central_fd, max_rel_diff};

    /// y_k = a·exp(−b·t_k) on a part-specific grid, plus the scalar a·b.
    #[derive(Debug)]
    struct Decay {
        inputs: Vec<InputSpec>,
        outputs: Vec<OutputSpec>,
        t: Vec<f64>,
    }

    fn decay(t: Vec<f64>, unit_b: &str) -> Decay {
        Decay {
            inputs: vec![InputSpec::new("a", "1"), InputSpec::new("b", unit_b)],
            outputs: vec![
                OutputSpec::curve(
                    "y",
                    "1",
                    Axis {
                        name: "t".into(),
                        unit: "s".into(),
                        values: t.clone(),
                    },
                ),
                OutputSpec::scalar("ab", "1"),
            ],
            t,
        }
    }

    impl Model for Decay {
        fn inputs(&self) -> &[InputSpec] {
            &self.inputs
        }
        fn outputs(&self) -> &[OutputSpec] {
            &self.outputs
        }
        fn eval<D: Scalar>(&self, th: &[D], out: &mut [D]) -> Result<(), ModelError> {
            for (o, &t) in out.iter_mut().zip(&self.t) {
                *o = th[0] * (-(th[1] * t)).exp();
            }
            out[self.t.len()] = th[0] * th[1];
            Ok(())
        }
    }

    #[test]
    fn stacked_outputs_are_the_parts_outputs_in_order_with_exact_jacobian() {
        let s = ModelStack::new(vec![
            ("fast".into(), decay(vec![0.0, 1.0, 2.0], "1/s")),
            ("slow".into(), decay(vec![0.5, 5.0], "1/s")),
        ])
        .unwrap();
        assert_eq!(s.outputs().len(), 4);
        assert_eq!(s.outputs()[2].name, "slow:y");
        assert_eq!(s.output_index(1, 1), 3);
        let th = [2.0, 0.3];
        let y = evaluate(&s, &th).unwrap();
        let want = [
            2.0,
            2.0 * (-0.3f64).exp(),
            2.0 * (-0.6f64).exp(),
            0.6,
            2.0 * (-0.15f64).exp(),
            2.0 * (-1.5f64).exp(),
            0.6,
        ];
        assert_eq!(y.len(), want.len());
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-14, "{a} vs {b}");
        }
        let (_, j) = jacobian(&s, &th).unwrap();
        let fd = jacobian_central_fd(&s, &th, 1e-6).unwrap();
        assert!(max_rel_diff(&j, &fd, 1e-8) < 1e-6);
    }

    #[test]
    fn parts_with_different_inputs_are_rejected() {
        let e = ModelStack::new(vec![
            ("a".into(), decay(vec![0.0], "1/s")),
            ("b".into(), decay(vec![0.0], "1/h")),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("part 'b'"), "{e}");
        assert!(ModelStack::<Decay>::new(vec![]).is_err());
    }
}
