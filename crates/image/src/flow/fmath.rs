//! Scalar float helpers with the exact semantics OpenCV relies on, written
//! without `libm` calls so they stay cheap (and vectorisable) on the baseline
//! x86-64 target, which has neither `roundss` nor FMA instructions.

/// OpenCV's `cvFloor` on a float: the largest integer not above `v`
/// (saturating far outside the `i32` range).
#[inline]
pub(crate) fn floor_i32(v: f32) -> i32 {
    let i = v as i32;
    i - i32::from((i as f32) > v)
}

/// Round to nearest, ties to even (`cvRound` / `v_round`), for
/// `0 <= v < 2^23`: adding and removing 2^23 leaves the rounded value.
#[inline]
pub(crate) fn round_half_even_small(v: f32) -> f32 {
    const MAGIC: f32 = 8_388_608.0;
    (v + MAGIC) - MAGIC
}

/// `a * b + c` rounded once to `f32`, as a hardware fused multiply-add
/// computes it (OpenCV's `v_fma` / `v_muladd` on AVX2).
///
/// The product of two floats is exact in `f64`; the sum is rounded to `f64`
/// and then to `f32`. That double rounding can only go wrong when the `f64`
/// sum lies exactly halfway between two floats while the exact sum does not;
/// the exact error of the sum (TwoSum) then says which way to go.
#[inline]
pub(crate) fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let cd = f64::from(c);
    let s = p + cd;
    let bits = s.to_bits();
    // Halfway between two floats: the 29 bits `f32` drops are exactly 1000...0.
    if bits & 0x1FFF_FFFF != 0x1000_0000 {
        return s as f32;
    }
    let r = s as f32;
    if !r.is_normal() {
        // Subnormal or overflowing results: let the library do it exactly.
        return a.mul_add(b, c);
    }
    let bv = s - p;
    let err = (p - (s - bv)) + (cd - bv);
    if err == 0.0 {
        return r;
    }
    // Move s one f64 step toward the exact value, off the midpoint.
    let toward_larger_magnitude = (err > 0.0) == (s > 0.0);
    let nudged = f64::from_bits(if toward_larger_magnitude { bits + 1 } else { bits - 1 });
    nudged as f32
}

/// [`fma_f32`] without its rare case, so that loops of it vectorise: the
/// result, and whether it is wrong (the `f64` sum is a tie for `f32`; then
/// [`fma_f32`] must be called instead).
#[inline(always)]
pub(crate) fn fma_f32_unless_tie(a: f32, b: f32, c: f32) -> (f32, bool) {
    let s = f64::from(a) * f64::from(b) + f64::from(c);
    // Halfway between two floats: the 29 bits `f32` drops are exactly 1000...0.
    (s as f32, s.to_bits() & 0x1FFF_FFFF == 0x1000_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_matches_std() {
        for v in [-2.5f32, -2.0, -1.0e-7, -0.0, 0.0, 0.3, 1.0, 1.999_999_9, 7.5, 1.0e9, -1.0e9] {
            assert_eq!(floor_i32(v), v.floor() as i32, "{v}");
        }
    }

    #[test]
    fn rounding_is_half_even() {
        for (v, r) in [(0.5f32, 0.0f32), (1.5, 2.0), (2.5, 2.0), (2.499_999_8, 2.0), (254.5, 254.0), (255.0, 255.0)] {
            assert_eq!(round_half_even_small(v), r, "{v}");
        }
    }

    #[test]
    fn fma_matches_a_correctly_rounded_fma() {
        // A deterministic sweep of awkward operands, including exact
        // midpoint cases, against the correctly rounded library FMA.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            let a = f32::from_bits((next() as u32 & 0x807f_ffff) | 0x3f00_0000);
            let b = f32::from_bits((next() as u32 & 0x807f_ffff) | 0x4000_0000);
            let c = f32::from_bits((next() as u32 & 0x807f_ffff) | (0x3c00_0000 + ((next() as u32 & 0xf) << 23)));
            assert_eq!(fma_f32(a, b, c).to_bits(), a.mul_add(b, c).to_bits(), "{a} {b} {c}");
            let (r, tie) = fma_f32_unless_tie(a, b, c);
            assert!(tie || r.to_bits() == a.mul_add(b, c).to_bits(), "{a} {b} {c}");
        }
        // a*b = 2^-24 - 2^-70: the f64 sum 1 + 2^-23 + 2^-24 is a float
        // midpoint (ties to even would round up), the exact sum is below it.
        let a = 1.0 + f32::EPSILON;
        let b = (1.0 - f32::EPSILON) * 2f32.powi(-24);
        let c = 1.0 + f32::EPSILON;
        assert_eq!(a.mul_add(b, c), c);
        assert_eq!(fma_f32(a, b, c), c);
        assert!(fma_f32_unless_tie(a, b, c).1, "a tie must be reported");
        assert_ne!((f64::from(a) * f64::from(b) + f64::from(c)) as f32, c);
    }
}
