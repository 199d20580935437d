//! bf16 matrix products with f32 accumulation, for mixed-precision training.
//!
//! Inputs stay f32 in memory (master weights, activations, gradients); the product rounds them to
//! bf16 (round to nearest even) while packing and accumulates in f32. A product of two bf16
//! values is exact in f32, so the paths round the same sums in the same order (odd `k`, then
//! even, as `vdpbf16ps` does) and differ only in how denormals are flushed.

use rayon::prelude::*;

use super::{Isa, PANEL, ROWS_PER_TASK};

/// A read-only strided view of an f32 matrix (row-major, or a transpose of one, without copying).
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    /// The elements; `(r, c)` is at `r · row_stride + c · col_stride`.
    pub data: &'a [f32],
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub cols: usize,
    /// Distance between rows.
    pub row_stride: usize,
    /// Distance between columns.
    pub col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `[rows, cols]` matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "data is not [{rows}, {cols}]");
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose, as a view.
    pub fn t(self) -> Self {
        Self { rows: self.cols, cols: self.rows, row_stride: self.col_stride, col_stride: self.row_stride, ..self }
    }

    #[inline(always)]
    fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.row_stride + c * self.col_stride]
    }
}

/// `v` rounded to bf16 (nearest, ties to even), as its bits.
#[inline(always)]
pub fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    if v.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    (bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16) as u16
}

/// `out = a · b`, row-major `out` `[a.rows, b.cols]`, inputs rounded to bf16, sums in f32, on the
/// widest path this CPU has.
pub fn matmul_bf16(a: MatRef<'_>, b: MatRef<'_>, out: &mut [f32]) {
    matmul_bf16_with(Isa::for_bf16(), a, b, out)
}

/// [`matmul_bf16`] on a chosen path (tests compare them).
pub fn matmul_bf16_with(isa: Isa, a: MatRef<'_>, b: MatRef<'_>, out: &mut [f32]) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "inner dimensions differ: [{m}, {k}] · [{}, {n}]", b.rows);
    assert_eq!(out.len(), m * n, "output is not [{m}, {n}]");
    if n == 0 || m == 0 {
        return;
    }
    let k2 = k.div_ceil(2) * 2;
    let packed = pack_columns(b, k2);
    let width = packed.len() / k2.max(1);
    out.par_chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(|(task, out)| {
        let rows = out.len() / n;
        let rows_in = pack_rows(a, task * ROWS_PER_TASK, rows, k2);
        let mut sums = vec![0f32; rows * width];
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::avx512_bf16(&rows_in, rows, k2, &packed, &mut sums) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::avx2(&rows_in, rows, k2, &packed, &mut sums) },
            _ => portable(&rows_in, rows, k2, &packed, &mut sums),
        }
        for (o, s) in out.chunks_exact_mut(n).zip(sums.chunks_exact(width)) {
            o.copy_from_slice(&s[..n]);
        }
    });
}

/// `b` as panels of 16 columns, `[panel][k / 2][column][k % 2]` bf16, zero padded.
fn pack_columns(b: MatRef<'_>, k2: usize) -> Vec<u16> {
    let panels = b.cols.div_ceil(PANEL);
    let mut packed = vec![0u16; panels * k2 * PANEL];
    packed.par_chunks_mut((k2 * PANEL).max(1)).enumerate().for_each(|(p, panel)| {
        let columns = p * PANEL..((p + 1) * PANEL).min(b.cols);
        let mut put =
            |kk: usize, c: usize| panel[(kk / 2) * 2 * PANEL + (c % PANEL) * 2 + kk % 2] = to_bf16(b.at(kk, c));
        // Walk memory in order: along columns for a row-major `b`, along rows for a transpose.
        if b.col_stride <= b.row_stride {
            (0..b.rows).for_each(|kk| columns.clone().for_each(|c| put(kk, c)));
        } else {
            columns.clone().for_each(|c| (0..b.rows).for_each(|kk| put(kk, c)));
        }
    });
    packed
}

/// Rows `first..first + rows` of `a` as bf16, `[rows][k2]`, zero padded.
fn pack_rows(a: MatRef<'_>, first: usize, rows: usize, k2: usize) -> Vec<u16> {
    let mut packed = vec![0u16; rows * k2];
    if a.col_stride <= a.row_stride {
        for r in 0..rows {
            for kk in 0..a.cols {
                packed[r * k2 + kk] = to_bf16(a.at(first + r, kk));
            }
        }
    } else {
        for kk in 0..a.cols {
            for r in 0..rows {
                packed[r * k2 + kk] = to_bf16(a.at(first + r, kk));
            }
        }
    }
    packed
}

/// The f32 values of a bf16 pair packed in a u32 (low half first in memory): `(even, odd)`.
#[inline(always)]
fn unpair(pair: u32) -> (f32, f32) {
    (f32::from_bits(pair << 16), f32::from_bits(pair & 0xFFFF_0000))
}

#[inline(always)]
fn pair_at(values: &[u16], i: usize) -> u32 {
    u32::from(values[i]) | (u32::from(values[i + 1]) << 16)
}

/// `sums[r][c] = Σ_k a[r][k] · b[k][c]` over the packed layouts, any CPU.
fn portable(a: &[u16], rows: usize, k2: usize, packed: &[u16], sums: &mut [f32]) {
    let width = sums.len() / rows.max(1);
    for (p, panel) in packed.chunks_exact(k2 * PANEL).enumerate() {
        for r in 0..rows {
            let mut acc = [0f32; PANEL];
            for (step, block) in panel.chunks_exact(2 * PANEL).enumerate() {
                let (xe, xo) = unpair(pair_at(a, r * k2 + 2 * step));
                for (c, acc) in acc.iter_mut().enumerate() {
                    let (we, wo) = unpair(pair_at(block, 2 * c));
                    *acc = xe.mul_add(we, xo.mul_add(wo, *acc));
                }
            }
            sums[r * width + p * PANEL..][..PANEL].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD paths. Tiles: AVX2 4 rows × 16 columns (8 accumulators, bf16 widened to f32 by a
    //! shift or a mask), AVX-512 6 rows × 64 columns (24 accumulators, `vdpbf16ps`).
    use std::arch::x86_64::*;

    use super::{PANEL, pair_at, unpair};

    /// # Safety
    /// The CPU must have AVX2 and FMA (checked by [`super::Isa::for_bf16`]).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(a: &[u16], rows: usize, k2: usize, packed: &[u16], sums: &mut [f32]) {
        let width = sums.len() / rows.max(1);
        for (p, panel) in packed.chunks_exact(k2 * PANEL).enumerate() {
            let mut r = 0;
            while r < rows {
                let out = &mut sums[r * width + p * PANEL..];
                unsafe {
                    match rows - r {
                        1 => avx2_tile::<1>(a, r, k2, panel, out, width),
                        2 => avx2_tile::<2>(a, r, k2, panel, out, width),
                        3 => avx2_tile::<3>(a, r, k2, panel, out, width),
                        _ => avx2_tile::<4>(a, r, k2, panel, out, width),
                    }
                }
                r += 4;
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_tile<const MR: usize>(
        a: &[u16],
        r0: usize,
        k2: usize,
        panel: &[u16],
        out: &mut [f32],
        width: usize,
    ) {
        let high = _mm256_set1_epi32(0xFFFF_0000_u32 as i32);
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let mut w = panel.as_ptr();
        for k in (0..k2).step_by(2) {
            unsafe {
                let b0 = _mm256_loadu_si256(w.cast());
                let b1 = _mm256_loadu_si256(w.add(16).cast());
                w = w.add(2 * PANEL);
                let (e0, o0) =
                    (_mm256_castsi256_ps(_mm256_slli_epi32(b0, 16)), _mm256_castsi256_ps(_mm256_and_si256(b0, high)));
                let (e1, o1) =
                    (_mm256_castsi256_ps(_mm256_slli_epi32(b1, 16)), _mm256_castsi256_ps(_mm256_and_si256(b1, high)));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let (xe, xo) = unpair(pair_at(a, (r0 + r) * k2 + k));
                    let (xe, xo) = (_mm256_set1_ps(xe), _mm256_set1_ps(xo));
                    acc[0] = _mm256_fmadd_ps(xe, e0, _mm256_fmadd_ps(xo, o0, acc[0]));
                    acc[1] = _mm256_fmadd_ps(xe, e1, _mm256_fmadd_ps(xo, o1, acc[1]));
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr().add(r * width), acc[0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(r * width + 8), acc[1]);
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX512F and AVX512_BF16 (checked by [`super::Isa::for_bf16`]).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn avx512_bf16(a: &[u16], rows: usize, k2: usize, packed: &[u16], sums: &mut [f32]) {
        let width = sums.len() / rows.max(1);
        let panels: Vec<&[u16]> = packed.chunks_exact(k2 * PANEL).collect();
        let mut p = 0;
        while p < panels.len() {
            let group = &panels[p..(p + 4).min(panels.len())];
            let mut r = 0;
            while r < rows {
                let out = &mut sums[r * width + p * PANEL..];
                unsafe {
                    if rows - r >= 6 && group.len() == 4 {
                        bf16_tile::<6, 4>(a, r, k2, group, out, width)
                    } else {
                        for (g, panel) in group.iter().enumerate() {
                            for i in 0..(rows - r).min(6) {
                                bf16_tile::<1, 1>(a, r + i, k2, &[*panel], &mut out[i * width + g * PANEL..], width);
                            }
                        }
                    }
                }
                r += 6;
            }
            p += 4;
        }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn bf16_tile<const MR: usize, const NP: usize>(
        a: &[u16],
        r0: usize,
        k2: usize,
        group: &[&[u16]],
        out: &mut [f32],
        width: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); NP]; MR];
        let w: [*const u16; NP] = std::array::from_fn(|g| group[g].as_ptr());
        for (step, k) in (0..k2).step_by(2).enumerate() {
            unsafe {
                let b: [__m512bh; NP] =
                    std::array::from_fn(|g| std::mem::transmute(_mm512_loadu_si512(w[g].add(step * 2 * PANEL).cast())));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair_at(a, (r0 + r) * k2 + k) as i32));
                    for g in 0..NP {
                        acc[g] = _mm512_dpbf16_ps(acc[g], x, b[g]);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (g, &v) in acc.iter().enumerate() {
                unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(r * width + g * PANEL), v) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n).map(|_| rng.f32() * 2.0 - 1.0).collect()
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3F80);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assert_eq!(to_bf16(1.0 + 2f32.powi(-8)), 0x3F80);
        assert_eq!(to_bf16(1.0 + 3.0 * 2f32.powi(-8)), 0x3F82);
        assert_eq!(to_bf16(f32::INFINITY), 0x7F80);
        assert!(f32::from_bits(u32::from(to_bf16(f32::NAN)) << 16).is_nan());
    }

    /// Every path, on plain and transposed operands, against an f64 product of the f32 inputs:
    /// rounding both inputs to bf16 (relative error ≤ 2⁻⁹ each) bounds the error by
    /// 2⁻⁷ · Σ|a·b|; the AVX2 and portable paths agree bit for bit (same fused operations, same
    /// order).
    #[test]
    fn every_path_matches_f32_within_bf16_rounding_on_plain_and_transposed_operands() {
        for &(m, k, n) in &[(1, 1, 1), (5, 7, 17), (50, 64, 33), (97, 129, 80)] {
            let a = random(m * k, 1);
            let b = random(k * n, 2);
            let at = transpose(&a, m, k);
            let bt = transpose(&b, k, n);
            let views = [
                (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n)),
                (MatRef::row_major(&at, k, m).t(), MatRef::row_major(&bt, n, k).t()),
            ];
            let mut portable = None;
            for isa in Isa::runnable(Isa::for_bf16()) {
                for (va, vb) in views {
                    let mut out = vec![f32::NAN; m * n];
                    matmul_bf16_with(isa, va, vb, &mut out);
                    for r in 0..m {
                        for c in 0..n {
                            let exact: f64 = (0..k).map(|i| f64::from(a[r * k + i]) * f64::from(b[i * n + c])).sum();
                            let scale: f64 = (0..k).map(|i| f64::from((a[r * k + i] * b[i * n + c]).abs())).sum();
                            let err = (f64::from(out[r * n + c]) - exact).abs();
                            assert!(err <= scale / 128.0 + 1e-6, "{isa} [{m}×{k}×{n}] ({r}, {c}): error {err}");
                        }
                    }
                    if isa != Isa::Avx512 {
                        match &portable {
                            None => portable = Some(out),
                            Some(p) => assert_eq!(p, &out, "{isa} differs from the portable path"),
                        }
                    }
                }
            }
        }
    }

    fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        let mut out = vec![0f32; x.len()];
        for r in 0..rows {
            for c in 0..cols {
                out[c * rows + r] = x[r * cols + c];
            }
        }
        out
    }
}
