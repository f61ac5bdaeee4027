//! A small, safe expression language in one variable `x`, compiled once and evaluated generic over the scalar.
//!
//! Grammar (Python-like, as BPX files write their functions): numbers (`1`, `2.5`, `1e-3`),
//! the variable `x`, binary `+ - * /`, power `^` or `**` (right-associative, binds tighter than
//! unary minus: `-x**2 = -(x**2)`), unary `+`/`-`, parentheses, and the functions `exp`, `log`
//! (natural), `ln`, `log10`, `sqrt`, `tanh`, `sinh`, `cosh`, `tan`, `sin`, `cos`, `arctan`/`atan`,
//! `abs`. Anything else is a parse error with its position. No names are looked up at run time.

use crate::model::Scalar;
use crate::numerics::table::UniformHermite;
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Errors from parsing an expression string.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum ExprError {
    /// The expression is not one the parser knows.
    #[error("expression '{expr}': {msg} at character {pos}")]
    Parse {
        /// The expression.
        expr: String,
        /// What is wrong.
        msg: String,
        /// Position of the fault in the expression (0-based byte offset).
        pos: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Exp,
    Ln,
    Log10,
    Sqrt,
    Tanh,
    Sinh,
    Cosh,
    Sin,
    Cos,
    Tan,
    Atan,
    Abs,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Num(f64),
    X,
    Neg(Box<Node>),
    Add(Box<Node>, Box<Node>),
    Sub(Box<Node>, Box<Node>),
    Mul(Box<Node>, Box<Node>),
    Div(Box<Node>, Box<Node>),
    Pow(Box<Node>, Box<Node>),
    Call(Func, Box<Node>),
}

/// One instruction of the compiled stack program.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Const(f64),
    X,
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    /// Power with a constant non-integer exponent.
    PowConst(f64),
    /// Power with a constant integer exponent (|n| < 64), by multiplication for n = 2, 3.
    PowInt(i32),
    /// Power with a variable exponent.
    Pow,
    Call(Func),
}

/// A compiled expression f(x). Evaluate with [`Expr::eval`] for any scalar type.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    source: String,
    ops: Vec<Op>,
    depth: usize,
    tables: Tables,
}

/// The Hermite tables of an expression built so far ([`Expr::hermite_table`]), by range and
/// number of intervals. A cache, not part of the expression's value: equal expressions compare
/// equal whatever their tables.
#[derive(Default)]
struct Tables(Mutex<Vec<(TableKey, Arc<UniformHermite>)>>);

/// (x0, x1) as bits, and the number of intervals.
type TableKey = (u64, u64, usize);

impl Tables {
    /// Tables kept per expression (a solve asks for one or two ranges; more only when a
    /// sampled quantity moves the range, where the oldest is rebuilt if asked again).
    const KEPT: usize = 8;

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(TableKey, Arc<UniformHermite>)>> {
        // (a panic while holding the lock cannot leave a half-written entry: entries are
        // pushed whole, so the list is usable as it is)
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Clone for Tables {
    fn clone(&self) -> Self {
        Self(Mutex::new(self.lock().clone()))
    }
}

impl PartialEq for Tables {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Not the number of tables: a cache is not part of the value, and a study's fingerprint
/// ([`crate::shard::study_hash`], over debug forms) must not change once the model has run
/// (a shard that hashed its study after the work was refused by the merge).
impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(cached tables)")
    }
}

const MAX_DEPTH: usize = 64;

impl Expr {
    /// Parse and compile `src`.
    pub fn parse(src: &str) -> Result<Self, ExprError> {
        let mut p = Parser {
            s: src.as_bytes(),
            pos: 0,
            src,
        };
        let node = p.expr()?;
        p.skip_ws();
        if p.pos != p.s.len() {
            return Err(p.err("unexpected trailing input"));
        }
        let node = fold(node);
        let mut ops = Vec::new();
        emit(&node, &mut ops);
        // stack depth
        let mut d: isize = 0;
        let mut maxd: isize = 0;
        for op in &ops {
            match op {
                Op::Const(_) | Op::X => d += 1,
                Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow => d -= 1,
                _ => {}
            }
            maxd = maxd.max(d);
        }
        if maxd as usize > MAX_DEPTH {
            return Err(ExprError::Parse {
                expr: src.to_string(),
                msg: format!("expression nests too deeply (stack depth {maxd} > {MAX_DEPTH})"),
                pos: 0,
            });
        }
        Ok(Self {
            source: src.to_string(),
            ops,
            depth: maxd as usize,
            tables: Tables::default(),
        })
    }

    /// The expression as a cubic Hermite table ([`UniformHermite`]) on `intervals` equal
    /// intervals over [x0, x1], from its value and slope at the nodes. Built once per range and
    /// kept with the expression (shared by its clones made afterwards and by every solve that
    /// holds the same `Arc<Expr>`), so that a solver tabulating a property per solve pays for
    /// it once per run; the same range gives the same table bit for bit, whichever solve built
    /// it first.
    pub fn hermite_table(&self, x0: f64, x1: f64, intervals: usize) -> Arc<UniformHermite> {
        let key = (x0.to_bits(), x1.to_bits(), intervals);
        if let Some((_, t)) = self.tables.lock().iter().find(|(k, _)| *k == key) {
            return t.clone();
        }
        // built outside the lock: two threads may both build it, with the same result
        let table = Arc::new(UniformHermite::new(x0, x1, intervals, |x| {
            let r = self.eval(num_dual::Dual64::new(x, 1.0));
            (r.re, r.eps)
        }));
        let mut tables = self.tables.lock();
        if !tables.iter().any(|(k, _)| *k == key) {
            if tables.len() == Tables::KEPT {
                tables.remove(0);
            }
            tables.push((key, table.clone()));
        }
        table
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression does not depend on x.
    pub fn is_constant(&self) -> bool {
        !self.ops.iter().any(|o| matches!(o, Op::X))
    }

    /// Evaluate f(x).
    #[inline]
    pub fn eval<D: Scalar>(&self, x: D) -> D {
        // the stack sized to the program (it is initialised on every call)
        if self.depth <= 8 {
            self.eval_on::<D, 8>(x)
        } else {
            self.eval_on::<D, MAX_DEPTH>(x)
        }
    }

    /// [`Expr::eval`] on a stack of `N` ≥ the program's depth.
    #[inline]
    fn eval_on<D: Scalar, const N: usize>(&self, x: D) -> D {
        let mut st = [D::zero(); N];
        let mut n = 0usize;
        debug_assert!(self.depth <= N);
        for op in &self.ops {
            match *op {
                Op::Const(c) => {
                    st[n] = D::from(c);
                    n += 1;
                }
                Op::X => {
                    st[n] = x;
                    n += 1;
                }
                Op::Neg => st[n - 1] = -st[n - 1],
                Op::Add => {
                    n -= 1;
                    st[n - 1] += st[n];
                }
                Op::Sub => {
                    n -= 1;
                    st[n - 1] -= st[n];
                }
                Op::Mul => {
                    n -= 1;
                    st[n - 1] *= st[n];
                }
                Op::Div => {
                    n -= 1;
                    st[n - 1] /= st[n];
                }
                Op::PowConst(e) => st[n - 1] = st[n - 1].powf(e),
                Op::PowInt(k) => {
                    let b = st[n - 1];
                    st[n - 1] = match k {
                        2 => b * b,
                        3 => b * b * b,
                        _ => b.powi(k),
                    };
                }
                Op::Pow => {
                    n -= 1;
                    let e = st[n];
                    st[n - 1] = st[n - 1].powd(e);
                }
                Op::Call(f) => {
                    let a = st[n - 1];
                    st[n - 1] = match f {
                        Func::Exp => a.exp(),
                        Func::Ln => a.ln(),
                        Func::Log10 => a.log10(),
                        Func::Sqrt => a.sqrt(),
                        Func::Tanh => a.tanh(),
                        Func::Sinh => a.sinh(),
                        Func::Cosh => a.cosh(),
                        Func::Sin => a.sin(),
                        Func::Cos => a.cos(),
                        Func::Tan => a.tan(),
                        Func::Atan => a.atan(),
                        Func::Abs => a.abs(),
                    };
                }
            }
        }
        st[0]
    }
}

fn fold(n: Node) -> Node {
    use Node::*;
    let bin = |a: Box<Node>, b: Box<Node>| (fold(*a), fold(*b));
    match n {
        Neg(a) => match fold(*a) {
            Num(v) => Num(-v),
            o => Neg(Box::new(o)),
        },
        Add(a, b) => match bin(a, b) {
            (Num(x), Num(y)) => Num(x + y),
            (x, y) => Add(Box::new(x), Box::new(y)),
        },
        Sub(a, b) => match bin(a, b) {
            (Num(x), Num(y)) => Num(x - y),
            (x, y) => Sub(Box::new(x), Box::new(y)),
        },
        Mul(a, b) => match bin(a, b) {
            (Num(x), Num(y)) => Num(x * y),
            (x, y) => Mul(Box::new(x), Box::new(y)),
        },
        Div(a, b) => match bin(a, b) {
            (Num(x), Num(y)) => Num(x / y),
            (x, y) => Div(Box::new(x), Box::new(y)),
        },
        Pow(a, b) => match bin(a, b) {
            (Num(x), Num(y)) => Num(x.powf(y)),
            (x, y) => Pow(Box::new(x), Box::new(y)),
        },
        Call(f, a) => Call(f, Box::new(fold(*a))),
        o => o,
    }
}

fn emit(n: &Node, ops: &mut Vec<Op>) {
    use Node::*;
    match n {
        Num(v) => ops.push(Op::Const(*v)),
        X => ops.push(Op::X),
        Neg(a) => {
            emit(a, ops);
            ops.push(Op::Neg);
        }
        Add(a, b) | Sub(a, b) | Mul(a, b) | Div(a, b) => {
            emit(a, ops);
            emit(b, ops);
            ops.push(match n {
                Add(..) => Op::Add,
                Sub(..) => Op::Sub,
                Mul(..) => Op::Mul,
                _ => Op::Div,
            });
        }
        Pow(a, b) => {
            emit(a, ops);
            if let Num(e) = **b {
                ops.push(if e == e.round() && e.abs() < 64.0 {
                    Op::PowInt(e as i32)
                } else {
                    Op::PowConst(e)
                });
            } else {
                emit(b, ops);
                ops.push(Op::Pow);
            }
        }
        Call(f, a) => {
            emit(a, ops);
            ops.push(Op::Call(*f));
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, msg: &str) -> ExprError {
        ExprError::Parse {
            expr: self.src.to_string(),
            msg: msg.to_string(),
            pos: self.pos,
        }
    }
    fn skip_ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }
    // expr := term (('+'|'-') term)*
    fn expr(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.term()?;
        while let Some(c) = self.peek() {
            if c == b'+' || c == b'-' {
                self.pos += 1;
                let rhs = self.term()?;
                lhs = if c == b'+' {
                    Node::Add(Box::new(lhs), Box::new(rhs))
                } else {
                    Node::Sub(Box::new(lhs), Box::new(rhs))
                };
            } else {
                break;
            }
        }
        Ok(lhs)
    }
    // term := unary (('*'|'/') unary)*
    fn term(&mut self) -> Result<Node, ExprError> {
        let mut lhs = self.unary()?;
        loop {
            match self.peek() {
                Some(b'*') if self.s.get(self.pos + 1) != Some(&b'*') => {
                    self.pos += 1;
                    let rhs = self.unary()?;
                    lhs = Node::Mul(Box::new(lhs), Box::new(rhs));
                }
                Some(b'/') => {
                    self.pos += 1;
                    let rhs = self.unary()?;
                    lhs = Node::Div(Box::new(lhs), Box::new(rhs));
                }
                _ => break,
            }
        }
        Ok(lhs)
    }
    // unary := ('-'|'+') unary | power
    fn unary(&mut self) -> Result<Node, ExprError> {
        match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                Ok(Node::Neg(Box::new(self.unary()?)))
            }
            Some(b'+') => {
                self.pos += 1;
                self.unary()
            }
            _ => self.power(),
        }
    }
    // power := atom (('^'|'**') unary)?
    fn power(&mut self) -> Result<Node, ExprError> {
        let base = self.atom()?;
        match self.peek() {
            Some(b'^') => {
                self.pos += 1;
                Ok(Node::Pow(Box::new(base), Box::new(self.unary()?)))
            }
            Some(b'*') if self.s.get(self.pos + 1) == Some(&b'*') => {
                self.pos += 2;
                Ok(Node::Pow(Box::new(base), Box::new(self.unary()?)))
            }
            _ => Ok(base),
        }
    }
    fn atom(&mut self) -> Result<Node, ExprError> {
        match self.peek() {
            None => Err(self.err("unexpected end of expression")),
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ')'"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                let start = self.pos;
                while self.pos < self.s.len()
                    && (self.s[self.pos].is_ascii_alphanumeric()
                        || self.s[self.pos] == b'_'
                        || self.s[self.pos] == b'.')
                {
                    self.pos += 1;
                }
                let name = &self.src[start..self.pos];
                let name = name
                    .strip_prefix("np.")
                    .or_else(|| name.strip_prefix("math."))
                    .or_else(|| name.strip_prefix("pybamm."))
                    .unwrap_or(name);
                if name == "x" {
                    return Ok(Node::X);
                }
                if name == "pi" {
                    return Ok(Node::Num(std::f64::consts::PI));
                }
                let f = match name {
                    "exp" => Func::Exp,
                    "log" | "ln" => Func::Ln,
                    "log10" => Func::Log10,
                    "sqrt" => Func::Sqrt,
                    "tanh" => Func::Tanh,
                    "sinh" => Func::Sinh,
                    "cosh" => Func::Cosh,
                    "sin" => Func::Sin,
                    "cos" => Func::Cos,
                    "tan" => Func::Tan,
                    "atan" | "arctan" => Func::Atan,
                    "abs" => Func::Abs,
                    _ => {
                        self.pos = start;
                        return Err(self.err(&format!(
                            "unknown name '{name}' (only x and exp, log, log10, sqrt, tanh, sinh, cosh, sin, cos, tan, arctan, abs are allowed)"
                        )));
                    }
                };
                if self.peek() != Some(b'(') {
                    return Err(self.err("expected '(' after function name"));
                }
                self.pos += 1;
                let arg = self.expr()?;
                if self.peek() != Some(b')') {
                    return Err(self.err("expected ')' closing the function argument"));
                }
                self.pos += 1;
                Ok(Node::Call(f, Box::new(arg)))
            }
            Some(_) => Err(self.err("unexpected character")),
        }
    }
    fn number(&mut self) -> Result<Node, ExprError> {
        let start = self.pos;
        let s = self.s;
        while self.pos < s.len() && (s[self.pos].is_ascii_digit() || s[self.pos] == b'.') {
            self.pos += 1;
        }
        if self.pos < s.len() && (s[self.pos] == b'e' || s[self.pos] == b'E') {
            let save = self.pos;
            self.pos += 1;
            if self.pos < s.len() && (s[self.pos] == b'+' || s[self.pos] == b'-') {
                self.pos += 1;
            }
            if self.pos < s.len() && s[self.pos].is_ascii_digit() {
                while self.pos < s.len() && s[self.pos].is_ascii_digit() {
                    self.pos += 1;
                }
            } else {
                self.pos = save;
            }
        }
        let txt = &self.src[start..self.pos];
        txt.parse::<f64>().map(Node::Num).map_err(|_| {
            self.pos = start;
            self.err(&format!("bad number '{txt}'"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::Dual64;

    fn ev(s: &str, x: f64) -> f64 {
        Expr::parse(s).unwrap().eval(x)
    }

    #[test]
    fn precedence_and_functions() {
        assert_eq!(ev("1 + 2 * 3", 0.0), 7.0);
        assert_eq!(ev("-x**2", 3.0), -9.0);
        assert_eq!(ev("2**-1", 0.0), 0.5);
        assert_eq!(ev("2^3^2", 0.0), 512.0);
        assert_eq!(ev("(1 - x) / 4", 0.2), 0.2);
        assert!(
            (ev("exp(-((x - 0.08309) ** 2) / 0.004616)", 0.1)
                - (-(0.1f64 - 0.08309).powi(2) / 0.004616).exp())
            .abs()
                < 1e-15
        );
        assert!(
            (ev(
                "0.1297 * (x / 1000) ** 3 - 2.51 * (x / 1000) ** 1.5 + 3.329 * (x / 1000)",
                1000.0
            ) - (0.1297 - 2.51 + 3.329))
                .abs()
                < 1e-13
        );
        assert!(
            (ev("1.2e-3*tanh(x)+sqrt(x)+cosh(x)-sinh(x)+log(x)", 0.5)
                - (1.2e-3 * 0.5f64.tanh() + 0.5f64.sqrt() + 0.5f64.cosh() - 0.5f64.sinh()
                    + 0.5f64.ln()))
            .abs()
                < 1e-15
        );
        assert!(Expr::parse("3").unwrap().is_constant());
    }

    #[test]
    fn derivative_through_expression() {
        let e = Expr::parse("x**3 + tanh(2*x)").unwrap();
        let d = e.eval(Dual64::new(0.3, 1.0));
        let exact = 3.0 * 0.09 + 2.0 / (0.6f64.cosh().powi(2));
        assert!((d.eps - exact).abs() < 1e-14);
    }

    #[test]
    fn errors_name_position() {
        for bad in ["1 +", "foo(x)", "x ** ", "(x", "exp x", "x $ 2", "y"] {
            let e = Expr::parse(bad).unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
    }
}
