//! int8 linear layers for encoding.
//!
//! Weights are quantized once, symmetrically per output column to `[-127, 127]`; activations per
//! row (token), asymmetrically to `[0, 255]` with a zero point, when the layer runs. Every path
//! sums the same u8 · i8 products exactly in i32, so all give the same bits: AVX512-VNNI with
//! `vpdpbusd` on the bytes, AVX2 with `vpmaddwd` on the values widened to i16 (AVX2's byte
//! product `vpmaddubsw` saturates at 2 · 255 · 127, so it would cost a bit of weight precision
//! for no gain in multiplies per cycle). Per-column and per-row scales keep more precision than
//! ONNX Runtime's per-tensor default; the retrieval quality is measured in `docs/encoder.md`.

use rayon::prelude::*;

use super::{Isa, PANEL, ROWS_PER_TASK};

/// Largest weight magnitude after quantization.
const WEIGHT_LEVELS: f32 = 127.0;

/// Columns of a panel times the 2 `k` one i32 lane of `vpmaddwd` takes.
const PAIR_BLOCK: usize = 2 * PANEL;

/// A `[k, n]` weight matrix (Burn's `[in, out]` layout) quantized and packed for the kernels.
///
/// Packed layout: panels of 16 columns; in a panel, for every 4 consecutive `k`, the 16 columns'
/// 4 values side by side (`[panel][k / 4][column][k % 4]`), which is what one `vpdpbusd` (or a
/// `vpmaddubsw` + `vpmaddwd` pair) consumes.
#[derive(Debug, Clone)]
pub struct Int8Weights {
    k: usize,
    n: usize,
    /// `k` rounded up to a multiple of 4.
    k4: usize,
    packed: Vec<i8>,
    /// Per column: `max |w| / 64`.
    scales: Vec<f32>,
    /// Per column: the sum of its quantized values (for the activations' zero point).
    column_sums: Vec<i32>,
    /// The AVX2 path's copy, widened to i16 and paired along `k`
    /// (`[panel][k / 2][column][k % 2]`), made on its first use.
    widened: std::sync::OnceLock<Vec<i16>>,
}

impl Int8Weights {
    /// Quantizes `w`, row-major `[k, n]`.
    pub fn quantize(w: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(w.len(), k * n, "weights are not [{k}, {n}]");
        let k4 = k.div_ceil(4) * 4;
        let panels = n.div_ceil(PANEL);
        let mut max = vec![0f32; panels * PANEL];
        for row in w.chunks_exact(n.max(1)) {
            for (m, &v) in max.iter_mut().zip(row) {
                *m = m.max(v.abs());
            }
        }
        let scales: Vec<f32> =
            max.iter().map(|&m| if m > 0.0 && m.is_finite() { m / WEIGHT_LEVELS } else { 1.0 }).collect();
        let mut packed = vec![0i8; panels * k4 * PANEL];
        let mut column_sums = vec![0i32; panels * PANEL];
        for (kk, row) in w.chunks_exact(n.max(1)).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                let q = (v / scales[c]).round().clamp(-WEIGHT_LEVELS, WEIGHT_LEVELS) as i8;
                packed[(c / PANEL) * k4 * PANEL + (kk / 4) * PANEL * 4 + (c % PANEL) * 4 + kk % 4] = q;
                column_sums[c] += i32::from(q);
            }
        }
        Self { k, n, k4, packed, scales, column_sums, widened: std::sync::OnceLock::new() }
    }

    /// [`Self::packed`] re-laid for the AVX2 path (see the field).
    fn widened(&self) -> &[i16] {
        self.widened.get_or_init(|| {
            let mut out = vec![0i16; self.packed.len()];
            for (panel, wide) in self.packed.chunks_exact(self.k4 * PANEL).zip(out.chunks_exact_mut(self.k4 * PANEL)) {
                for kk in 0..self.k4 {
                    for c in 0..PANEL {
                        let value = panel[(kk / 4) * PANEL * 4 + c * 4 + kk % 4];
                        wide[(kk / 2) * PAIR_BLOCK + c * 2 + kk % 2] = i16::from(value);
                    }
                }
            }
            out
        })
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.k
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.n
    }

    /// `out = a · W (+ bias)` for row-major `a` `[m, k]` and `out` `[m, n]`, on the widest path
    /// this CPU has.
    pub fn linear(&self, a: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        self.linear_with(Isa::for_int8(), a, bias, out)
    }

    /// [`Self::linear`] on a chosen path (tests compare them).
    pub fn linear_with(&self, isa: Isa, a: &[f32], bias: Option<&[f32]>, out: &mut [f32]) {
        let (k, n) = (self.k, self.n);
        assert_eq!(a.len() % k.max(1), 0, "input is not [m, {k}]");
        let m = a.len().checked_div(k).unwrap_or(out.len() / n.max(1));
        assert_eq!(out.len(), m * n, "output is not [{m}, {n}]");
        if let Some(bias) = bias {
            assert_eq!(bias.len(), n, "bias is not [{n}]");
        }
        if n == 0 {
            return;
        }
        let width = self.scales.len();
        let no_bias;
        let bias = match bias {
            Some(bias) => bias,
            None => {
                no_bias = vec![0f32; n];
                &no_bias
            }
        };
        out.par_chunks_mut(ROWS_PER_TASK * n).enumerate().for_each(|(task, out)| {
            let rows = out.len() / n;
            let first = task * ROWS_PER_TASK;
            let rows_in = QuantizedRows::new(&a[first * k..(first + rows) * k], rows, k, self.k4);
            let mut sums = vec![0i32; rows * width];
            match isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { x86::avx512_vnni(&rows_in.values, rows, self.k4, &self.packed, &mut sums) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { x86::avx2(&rows_in.values, rows, self.k4, self.widened(), &mut sums) },
                _ => portable(&rows_in.values, rows, self.k4, &self.packed, &mut sums),
            }
            let epilogue = Epilogue {
                sums: &sums,
                width,
                rows: &rows_in,
                column_sums: &self.column_sums[..n],
                scales: &self.scales[..n],
                bias,
            };
            dequantize(out, &epilogue);
        });
    }
}

/// What turns a task's exact i32 sums back into f32 outputs.
struct Epilogue<'a> {
    /// `[rows][width]` sums of the quantized products.
    sums: &'a [i32],
    /// Row stride of `sums` (the padded column count).
    width: usize,
    rows: &'a QuantizedRows,
    /// `Σ_k q[k][c]` per output column (the zero-point correction).
    column_sums: &'a [i32],
    /// Weight scale per output column.
    scales: &'a [f32],
    bias: &'a [f32],
}

/// `out[r][c] = scale_r · w_c · (sums[r][c] − zero_r · Σ_k q[k][c]) + bias[c]`, vectorised where
/// the CPU allows (the same operations in the same order on every path, so the same bits).
fn dequantize(out: &mut [f32], e: &Epilogue<'_>) {
    #[inline(always)]
    fn body(out: &mut [f32], e: &Epilogue<'_>) {
        let n = e.scales.len();
        for (r, out_row) in out.chunks_exact_mut(n).enumerate() {
            let (scale, zero) = (e.rows.scales[r], e.rows.zeros[r]);
            let sums = &e.sums[r * e.width..r * e.width + n];
            for ((((o, &s), &cs), &w), &b) in out_row.iter_mut().zip(sums).zip(e.column_sums).zip(e.scales).zip(e.bias)
            {
                *o = (s - zero * cs) as f32 * (scale * w) + b;
            }
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(out: &mut [f32], e: &Epilogue<'_>) {
            body(out, e)
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { avx2(out, e) };
        }
    }
    body(out, e)
}

/// Rows of activations as u8 with a scale and zero point each: `a ≈ scale · (q − zero)`.
struct QuantizedRows {
    /// `[rows][k4]`, padding 0 (it meets zero weights).
    values: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
}

impl QuantizedRows {
    fn new(a: &[f32], rows: usize, k: usize, k4: usize) -> Self {
        let mut out = Self { values: vec![0u8; rows * k4], scales: vec![1.0; rows], zeros: vec![0; rows] };
        // The same arithmetic on every path (IEEE min/max/mul/add, round-half-even), so the
        // quantized values, and hence the results, are identical; the wide paths only vectorise.
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512bw")]
            unsafe fn avx512(a: &[f32], k: usize, k4: usize, out: &mut QuantizedRows) {
                quantize_rows(a, k, k4, out)
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2(a: &[f32], k: usize, k4: usize, out: &mut QuantizedRows) {
                quantize_rows(a, k, k4, out)
            }
            if std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: the features were just detected.
                unsafe { avx512(a, k, k4, &mut out) };
                return out;
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: as above.
                unsafe { avx2(a, k, k4, &mut out) };
                return out;
            }
        }
        quantize_rows(a, k, k4, &mut out);
        out
    }
}

#[inline(always)]
fn quantize_rows(a: &[f32], k: usize, k4: usize, out: &mut QuantizedRows) {
    let rows = out.scales.len();
    for (r, (row, q)) in a.chunks_exact(k.max(1)).take(rows).zip(out.values.chunks_exact_mut(k4.max(1))).enumerate() {
        // The range includes 0 so that 0 is exact (padding-free GELU outputs, ReLU).
        let (lo, hi) = range(row);
        let scale = (hi - lo) / 255.0;
        if !(scale > 0.0 && scale.is_finite()) {
            continue;
        }
        let zero = (-lo / scale).round_ties_even().clamp(0.0, 255.0);
        let inv = 1.0 / scale;
        for (q, &v) in q.iter_mut().zip(row) {
            let x = (v * inv + zero).round_ties_even();
            // Clamped with compare-and-select (a NaN goes to 255), so that the unchecked
            // conversion below is exact; the checked `as` casts are scalarised per lane (perf:
            // they made this loop slower than the int8 products themselves).
            let x = if x < 255.0 { x } else { 255.0 };
            let x = if x > 0.0 { x } else { 0.0 };
            // SAFETY: x is a whole number in [0, 255].
            *q = unsafe { x.to_int_unchecked::<i32>() } as u8;
        }
        out.scales[r] = scale;
        out.zeros[r] = zero as i32;
    }
}

/// `(min(0, row), max(0, row))`, lane by lane (exact in any order; a single accumulator would
/// keep the fold scalar).
#[inline(always)]
fn range(row: &[f32]) -> (f32, f32) {
    const LANES: usize = 16;
    let (mut lo, mut hi) = ([0f32; LANES], [0f32; LANES]);
    let chunks = row.chunks_exact(LANES);
    // `minps`/`maxps` semantics (the second operand where either is NaN), which vectorise.
    let min = |a: f32, b: f32| if a < b { a } else { b };
    let max = |a: f32, b: f32| if a > b { a } else { b };
    let tail = chunks.remainder().iter().fold((0f32, 0f32), |(lo, hi), &v| (min(v, lo), max(v, hi)));
    for chunk in chunks {
        for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
            *l = min(v, *l);
            *h = max(v, *h);
        }
    }
    (lo.into_iter().fold(tail.0, min), hi.into_iter().fold(tail.1, max))
}

/// `sums[r][c] = Σ_k a[r][k] · w[k][c]` over the packed layout, any CPU.
fn portable(a: &[u8], rows: usize, k4: usize, packed: &[i8], sums: &mut [i32]) {
    let width = sums.len() / rows.max(1);
    for (p, panel) in packed.chunks_exact(k4 * PANEL).enumerate() {
        for r in 0..rows {
            let a = &a[r * k4..(r + 1) * k4];
            let mut acc = [0i32; PANEL];
            for (quad, block) in a.chunks_exact(4).zip(panel.chunks_exact(4 * PANEL)) {
                for (c, w) in block.chunks_exact(4).enumerate() {
                    acc[c] += quad.iter().zip(w).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum::<i32>();
                }
            }
            sums[r * width + p * PANEL..][..PANEL].copy_from_slice(&acc);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD paths. Tiles: AVX2 4 rows × 16 columns (8 accumulators, i16 pairs), AVX-512 6
    //! rows × 64 columns (24 accumulators, byte quads); a panel is streamed once per row tile.
    use std::arch::x86_64::*;

    use super::PANEL;

    /// Reads the 4 activation bytes at `k` of row `r` as one i32 (for a broadcast).
    #[inline(always)]
    unsafe fn quad(a: &[u8], r: usize, k4: usize, k: usize) -> i32 {
        unsafe { std::ptr::read_unaligned(a.as_ptr().add(r * k4 + k).cast::<i32>()) }
    }

    /// # Safety
    /// The CPU must have AVX2 (checked by [`super::Isa::for_int8`]).
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2(a: &[u8], rows: usize, k4: usize, widened: &[i16], sums: &mut [i32]) {
        let width = sums.len() / rows.max(1);
        // Activation pairs as i16 lanes of an i32, for `vpmaddwd`'s broadcast operand.
        let pairs: Vec<i32> = a.chunks_exact(2).map(|p| i32::from(p[0]) | (i32::from(p[1]) << 16)).collect();
        for (p, panel) in widened.chunks_exact(k4 * PANEL).enumerate() {
            let mut r = 0;
            while r < rows {
                let out = &mut sums[r * width + p * PANEL..];
                unsafe {
                    match rows - r {
                        1 => avx2_tile::<1>(&pairs, r, k4, panel, out, width),
                        2 => avx2_tile::<2>(&pairs, r, k4, panel, out, width),
                        3 => avx2_tile::<3>(&pairs, r, k4, panel, out, width),
                        _ => avx2_tile::<4>(&pairs, r, k4, panel, out, width),
                    }
                }
                r += 4;
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn avx2_tile<const MR: usize>(
        pairs: &[i32],
        r0: usize,
        k4: usize,
        panel: &[i16],
        out: &mut [i32],
        width: usize,
    ) {
        let mut acc = [[_mm256_setzero_si256(); 2]; MR];
        let mut w = panel.as_ptr();
        let row_pairs = k4 / 2;
        for step in 0..row_pairs {
            unsafe {
                let b0 = _mm256_loadu_si256(w.cast());
                let b1 = _mm256_loadu_si256(w.add(16).cast());
                w = w.add(2 * PANEL);
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_set1_epi32(*pairs.get_unchecked((r0 + r) * row_pairs + step));
                    acc[0] = _mm256_add_epi32(acc[0], _mm256_madd_epi16(x, b0));
                    acc[1] = _mm256_add_epi32(acc[1], _mm256_madd_epi16(x, b1));
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            unsafe {
                _mm256_storeu_si256(out.as_mut_ptr().add(r * width).cast(), acc[0]);
                _mm256_storeu_si256(out.as_mut_ptr().add(r * width + 8).cast(), acc[1]);
            }
        }
    }

    /// # Safety
    /// The CPU must have AVX512F, AVX512BW and AVX512-VNNI (checked by [`super::Isa::for_int8`]).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn avx512_vnni(a: &[u8], rows: usize, k4: usize, packed: &[i8], sums: &mut [i32]) {
        let width = sums.len() / rows.max(1);
        let panels: Vec<&[i8]> = packed.chunks_exact(k4 * PANEL).collect();
        let mut p = 0;
        while p < panels.len() {
            let group = &panels[p..(p + 4).min(panels.len())];
            let mut r = 0;
            while r < rows {
                let out = &mut sums[r * width + p * PANEL..];
                unsafe {
                    if rows - r >= 6 && group.len() == 4 {
                        vnni_tile::<6, 4>(a, r, k4, group, out, width)
                    } else {
                        vnni_any(a, r, (rows - r).min(6), k4, group, out, width)
                    }
                }
                r += 6;
            }
            p += 4;
        }
    }

    /// Edge tiles (fewer than 6 rows or 4 panels).
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_any(a: &[u8], r0: usize, mr: usize, k4: usize, group: &[&[i8]], out: &mut [i32], width: usize) {
        for (g, panel) in group.iter().enumerate() {
            for r in 0..mr {
                unsafe { vnni_tile::<1, 1>(a, r0 + r, k4, &[*panel], &mut out[r * width + g * PANEL..], width) };
            }
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_tile<const MR: usize, const NP: usize>(
        a: &[u8],
        r0: usize,
        k4: usize,
        group: &[&[i8]],
        out: &mut [i32],
        width: usize,
    ) {
        let mut acc = [[_mm512_setzero_si512(); NP]; MR];
        let w: [*const i8; NP] = std::array::from_fn(|g| group[g].as_ptr());
        for (step, k) in (0..k4).step_by(4).enumerate() {
            unsafe {
                let b: [__m512i; NP] = std::array::from_fn(|g| _mm512_loadu_si512(w[g].add(step * 4 * PANEL).cast()));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_epi32(quad(a, r0 + r, k4, k));
                    for g in 0..NP {
                        acc[g] = _mm512_dpbusd_epi32(acc[g], x, b[g]);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (g, &v) in acc.iter().enumerate() {
                unsafe { _mm512_storeu_si512(out.as_mut_ptr().add(r * width + g * PANEL).cast(), v) };
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

    fn reference(a: &[f32], w: &[f32], bias: &[f32], k: usize, n: usize) -> Vec<f32> {
        let m = a.len() / k;
        let mut out = vec![0f32; m * n];
        for r in 0..m {
            for c in 0..n {
                let dot: f64 = (0..k).map(|i| f64::from(a[r * k + i]) * f64::from(w[i * n + c])).sum();
                out[r * n + c] = dot as f32 + bias[c];
            }
        }
        out
    }

    /// Every path gives the same bits, and all are within the quantization error of f32: for
    /// inputs uniform in [-1, 1], 8-bit activations and weights give a dot-product error of
    /// standard deviation ~0.002·√k; the bound is 0.02·√k.
    #[test]
    fn every_path_agrees_bit_for_bit_and_with_f32_within_quantization_error() {
        // Shapes with tails in every direction: rows not a multiple of 4 or 6 or 48, columns not
        // a multiple of 16 or 64, k not a multiple of 4.
        for &(m, k, n) in &[(1, 3, 5), (7, 33, 70), (101, 384, 129), (53, 130, 64)] {
            let a = random(m * k, 1);
            let w = random(k * n, 2);
            let bias = random(n, 3);
            let q = Int8Weights::quantize(&w, k, n);
            let exact = reference(&a, &w, &bias, k, n);
            let mut first: Option<Vec<f32>> = None;
            for isa in Isa::runnable(Isa::for_int8()) {
                let mut out = vec![f32::NAN; m * n];
                q.linear_with(isa, &a, Some(&bias), &mut out);
                let worst = out.iter().zip(&exact).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                let bound = 0.02 * (k as f32).sqrt();
                assert!(worst < bound, "{isa} [{m}×{k}]·[{k}×{n}]: error {worst} > {bound}");
                match &first {
                    None => first = Some(out),
                    Some(first) => assert_eq!(first, &out, "{isa} differs from the widest path"),
                }
            }
        }
    }

    #[test]
    fn zero_rows_and_zero_columns_give_the_bias() {
        let (k, n) = (8, 20);
        let mut w = random(k * n, 4);
        for row in w.chunks_exact_mut(n) {
            row[3] = 0.0;
        }
        let q = Int8Weights::quantize(&w, k, n);
        let bias = random(n, 5);
        let mut out = vec![0f32; 2 * n];
        let mut a = vec![0f32; 2 * k];
        a[k..].copy_from_slice(&random(k, 6));
        q.linear(&a, Some(&bias), &mut out);
        assert_eq!(&out[..n], &bias[..]);
        assert_eq!(out[n + 3], bias[3]);
    }
}
