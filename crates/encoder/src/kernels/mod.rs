//! Reduced-precision matrix products on the CPU: bf16 for training, int8 for encoding.
//!
//! Burn's CPU backend computes a bf16 matmul by converting to f32, so the speed that bf16 and
//! int8 instructions offer has to come from kernels of our own. Each kernel has one packed data
//! layout and several code paths over it, chosen at run time from what the CPU has:
//!
//! | kernel | AVX-512 path | AVX2 path | portable |
//! |---|---|---|---|
//! | [`matmul_bf16`] | `vdpbf16ps` (AVX512_BF16) | bf16 → f32 and FMA | scalar `mul_add` |
//! | [`Int8Weights::linear`] | `vpdpbusd` (AVX512-VNNI) | `vpmaddubsw` + `vpmaddwd` | scalar |
//!
//! The int8 paths add the same integers, so they give the same bits on every CPU; the bf16 paths
//! round the same inputs and differ only in the order f32 sums are taken.

mod bf16;
mod int8;

pub use bf16::{MatRef, matmul_bf16, matmul_bf16_with, to_bf16};
pub use int8::Int8Weights;

/// The number format of the encoder's linear layers (the matmuls that hold ~90% of its FLOPs;
/// attention scores, LayerNorm, softmax and GELU stay f32).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// float32 everywhere: exact, the default.
    #[default]
    F32,
    /// bf16 products with float32 sums: mixed-precision training (weights, gradients and
    /// optimiser state stay float32) and encoding within 0.0005 mAP of float32
    /// (`docs/encoder.md`). On Flex only; other backends compute these products in f32.
    Bf16,
    /// int8 products for encoding (per-column weights, per-token activations): faster, with
    /// the retrieval quality measured in `docs/encoder.md`. Inference only.
    Int8,
}

impl Precision {
    /// Whether this is [`Precision::F32`] (configs leave the default out of their TOML).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
            Precision::Int8 => "int8",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Precision::F32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            "int8" => Ok(Precision::Int8),
            _ => Err(format!("unknown precision {s:?} (expected f32, bf16 or int8)")),
        }
    }
}

/// Which instructions a kernel runs with, narrowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Plain Rust, any CPU.
    Portable,
    /// AVX2 + FMA.
    Avx2,
    /// AVX-512 with the kernel's own extension (BF16 or VNNI).
    Avx512,
}

impl Isa {
    /// The widest path the bf16 kernel can take on this CPU.
    pub fn for_bf16() -> Isa {
        Self::detect(|| {
            #[cfg(target_arch = "x86_64")]
            return std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16");
            #[cfg(not(target_arch = "x86_64"))]
            false
        })
    }

    /// The widest path the int8 kernel can take on this CPU.
    pub fn for_int8() -> Isa {
        Self::detect(|| {
            #[cfg(target_arch = "x86_64")]
            return std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni");
            #[cfg(not(target_arch = "x86_64"))]
            false
        })
    }

    /// Every path up to `widest`, widest first (tests run each one).
    pub fn runnable(widest: Isa) -> Vec<Isa> {
        match widest {
            Isa::Avx512 => vec![Isa::Avx512, Isa::Avx2, Isa::Portable],
            Isa::Avx2 => vec![Isa::Avx2, Isa::Portable],
            Isa::Portable => vec![Isa::Portable],
        }
    }

    /// The widest path the CPU has, capped by `POLYRET_ISA` (`portable`, `avx2` or `avx512`) so a
    /// benchmark can measure the narrower paths on a wide CPU.
    fn detect(avx512: impl Fn() -> bool) -> Isa {
        let widest = if avx512() {
            Isa::Avx512
        } else if cfg!(target_arch = "x86_64") && avx2_fma() {
            Isa::Avx2
        } else {
            Isa::Portable
        };
        let cap = match std::env::var("POLYRET_ISA").as_deref() {
            Ok("portable") => Isa::Portable,
            Ok("avx2") => Isa::Avx2,
            _ => Isa::Avx512,
        };
        widest.min(cap)
    }
}

fn avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        })
    }
}

/// Output rows per parallel task: a multiple of every kernel's row tile, small enough that two
/// cores stay busy on the shortest batches.
const ROWS_PER_TASK: usize = 48;

/// Columns per packed panel: one AVX-512 register of f32 / i32 lanes.
const PANEL: usize = 16;
