//! The first-order gradient scalar of every exact derivative in bridgelaw: a value and its
//! derivatives with respect to N inputs, the derivative vector always present.
//!
//! `x = re + Σ_i eps_i·ε_i` with ε_i·ε_j = 0: sums add componentwise, products follow
//! d(uv) = u·dv + v·du, a function f follows the chain rule d f(u) = f′(u)·du.
//!
//! Why not num-dual's `DualSVec64<N>`: its derivative is an `Option` (`None` for a constant),
//! and the compiler, to keep the arithmetic branch-free, computes on the undefined payload of a
//! `None` and discards the result. Those values are often subnormal and an Intel core takes a
//! microcode assist (~100 cycles) per subnormal operand: the SPMe with four gradients ran 6×
//! slower than with the CPU's flush-to-zero bits set, to the same bits. Here a constant's
//! derivative is a vector of zeros, and zeros cost nothing. The arithmetic and the elementary
//! functions are num-dual's own (its exported implementation macros over the chain rule below),
//! so `Grad<N>` is a [`DualNum`] like the others and every law and cell model takes it unchanged.

use nalgebra::allocator::Allocator;
use nalgebra::{Const, DefaultAllocator, Dim, OVector, U1};
use num_dual::{
    DualNum, DualNumFloat, DualStruct, chain_rule, first, forward_binop, impl_add_sub_rem,
    impl_assign_ops, impl_comparisons, impl_derivatives, impl_dual, impl_dual_struct,
    impl_first_derivatives, impl_float_const, impl_from_f, impl_from_primitive, impl_inv,
    impl_iterator, impl_neg, impl_num, impl_scalar_op, impl_signed, impl_zero_one, second, third,
    zeroth,
};
use num_traits::{FloatConst, FromPrimitive, Inv, Num, One, Signed, Zero};
use std::fmt;
use std::iter::{Product, Sum};
use std::ops::{
    Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Rem, RemAssign, Sub, SubAssign,
};

/// The derivative part of a [`GradVec`]: one entry per input, always allocated.
#[derive(Clone, Debug, PartialEq)]
pub struct Tangent<T: DualNum, D: Dim>(pub OVector<T, D>)
where
    DefaultAllocator: Allocator<D>;

impl<T: DualNum + Copy, const N: usize> Copy for Tangent<T, Const<N>> {}

impl<T: DualNum, D: Dim> Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    /// Zeros. `D` is a compile-time dimension (`Const<N>`); a dynamic one would have no length
    /// to take, so [`Grad`] is the only form exported.
    #[inline]
    fn zeros() -> Self {
        let n = D::try_to_usize().unwrap_or(0);
        Self(OVector::zeros_generic(D::from_usize(n), U1))
    }

    /// The derivatives as a slice, input order.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self.0.as_slice()
    }
}

macro_rules! tangent_binop {
    ($trt:ident, $mth:ident, $op:tt) => {
        impl<T: DualNum, D: Dim> $trt<&Tangent<T, D>> for Tangent<T, D>
        where
            DefaultAllocator: Allocator<D>,
        {
            type Output = Self;
            #[inline]
            fn $mth(self, rhs: &Self) -> Self {
                Self(self.0 $op &rhs.0)
            }
        }
        impl<T: DualNum, D: Dim> $trt for Tangent<T, D>
        where
            DefaultAllocator: Allocator<D>,
        {
            type Output = Self;
            #[inline]
            fn $mth(self, rhs: Self) -> Self {
                Self(self.0 $op rhs.0)
            }
        }
    };
}
tangent_binop!(Add, add, +);
tangent_binop!(Sub, sub, -);

impl<T: DualNum, D: Dim> Neg for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    type Output = Self;
    #[inline]
    fn neg(self) -> Self {
        Self(-self.0)
    }
}

impl<T: DualNum, D: Dim> Mul<T> for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    type Output = Self;
    #[inline]
    fn mul(self, f: T) -> Self {
        Self(self.0 * f)
    }
}

impl<T: DualNum, D: Dim> Mul<&T> for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    type Output = Self;
    #[inline]
    fn mul(self, f: &T) -> Self {
        Self(self.0 * f.clone())
    }
}

impl<T: DualNum, D: Dim> AddAssign for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    #[inline]
    fn add_assign(&mut self, rhs: Self) {
        self.0 += rhs.0;
    }
}

impl<T: DualNum, D: Dim> SubAssign for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    #[inline]
    fn sub_assign(&mut self, rhs: Self) {
        self.0 -= rhs.0;
    }
}

impl<T: DualNum, D: Dim> MulAssign<T> for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    #[inline]
    fn mul_assign(&mut self, f: T) {
        self.0 *= f;
    }
}

impl<T: DualNum, D: Dim> DivAssign<T> for Tangent<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    #[inline]
    fn div_assign(&mut self, f: T) {
        self.0 /= f;
    }
}

/// A value with its first derivatives with respect to `D` inputs (see the module doc);
/// use it as [`Grad<N>`].
#[derive(Clone, Debug)]
pub struct GradVec<T: DualNum, D: Dim>
where
    DefaultAllocator: Allocator<D>,
{
    /// The value.
    pub re: T,
    /// ∂value/∂input_i.
    pub eps: Tangent<T, D>,
}

impl<T: DualNum + Copy, const N: usize> Copy for GradVec<T, Const<N>> {}

/// The gradient scalar with respect to N inputs, f64 values.
pub type Grad<const N: usize> = GradVec<f64, Const<N>>;

impl<T: DualNum, D: Dim> GradVec<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    /// A value with its derivatives.
    #[inline]
    pub fn new(re: T, eps: Tangent<T, D>) -> Self {
        Self { re, eps }
    }

    /// A constant (all derivatives zero).
    #[inline]
    pub fn from_re(re: T) -> Self {
        Self::new(re, Tangent::zeros())
    }

    /// f(self) with f = `f0` and f′ = `f1` at the value.
    #[inline]
    fn chain_rule(&self, f0: T, f1: T) -> Self {
        Self::new(f0, self.eps.clone() * f1)
    }
}

impl<T: DualNum, const N: usize> GradVec<T, Const<N>> {
    /// This value as input `index`: its derivative vector the unit vector e_index.
    #[inline]
    pub fn derivative(mut self, index: usize) -> Self {
        self.eps = Tangent::zeros();
        self.eps.0[index] = T::one();
        self
    }
}

impl<T: DualNum, D: Dim> Mul<&GradVec<T, D>> for &GradVec<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    type Output = GradVec<T, D>;
    #[inline]
    fn mul(self, other: &GradVec<T, D>) -> GradVec<T, D> {
        GradVec::new(
            self.re.clone() * other.re.clone(),
            self.eps.clone() * other.re.clone() + other.eps.clone() * self.re.clone(),
        )
    }
}

impl<T: DualNum, D: Dim> Div<&GradVec<T, D>> for &GradVec<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    type Output = GradVec<T, D>;
    #[inline]
    fn div(self, other: &GradVec<T, D>) -> GradVec<T, D> {
        let inv = other.re.recip();
        GradVec::new(
            self.re.clone() * inv.clone(),
            (self.eps.clone() * other.re.clone() - other.eps.clone() * self.re.clone())
                * (inv.clone() * inv),
        )
    }
}

impl<T: DualNum, D: Dim> fmt::Display for GradVec<T, D>
where
    DefaultAllocator: Allocator<D>,
{
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} + [", self.re)?;
        for (i, e) in self.eps.as_slice().iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{e}")?;
        }
        write!(f, "]ε")
    }
}

impl_first_derivatives!(GradVec, [eps], [D], [D]);
impl_dual!(GradVec, [eps], [D], [D]);

#[cfg(test)]
mod tests {
    use super::*;
    use num_dual::DualSVec64;

    /// The same expression in `Grad<3>` and num-dual's `DualSVec64<3>`: the same bits.
    #[test]
    fn agrees_with_num_dual_to_the_bit() {
        fn f<D: DualNum<Primitive = f64> + Copy>(x: &[D]) -> D {
            let (a, b, c) = (x[0], x[1], x[2]);
            (a * b).sqrt() + (c / a).ln() - (b.powf(1.7) * 0.3).exp() + a.asinh() * c.recip()
                - (b - 2.0).powi(3)
                + (a * c + 1.0).powd(b * 0.1)
        }
        let v = [1.3, 0.7, 2.9];
        let g: Vec<Grad<3>> = (0..3).map(|i| Grad::from_re(v[i]).derivative(i)).collect();
        let d: Vec<DualSVec64<3>> = (0..3)
            .map(|i| DualSVec64::from_re(v[i]).derivative(i))
            .collect();
        let (fg, fd) = (f(&g), f(&d));
        assert_eq!(fg.re.to_bits(), fd.re.to_bits());
        let de = fd.eps.unwrap_generic(Const::<3>, U1);
        for i in 0..3 {
            assert_eq!(fg.eps.as_slice()[i].to_bits(), de[i].to_bits(), "∂/∂x{i}");
        }
    }

    /// A constant has zero derivatives, not absent ones.
    #[test]
    fn constants_carry_zeros() {
        let c = Grad::<4>::from(2.5);
        assert_eq!(c.eps.as_slice(), &[0.0; 4]);
        let x = Grad::<4>::from_re(3.0).derivative(2);
        let y = c * x + c.exp();
        assert_eq!(y.eps.as_slice(), &[0.0, 0.0, 2.5, 0.0]);
    }
}
