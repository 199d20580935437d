//! Fused element-wise kernels through Burn's backend-extension API.
//!
//! Profiling a training step on the Flex CPU backend (perf, e5-small, batch 32) showed exact GELU
//! taking ~15% of CPU samples: Burn evaluates it one element at a time with libm's `erff`, on one
//! thread, forward and backward. [`gelu`] keeps the exact (erf) definition HF uses but evaluates
//! it with a branch-free rational approximation of erf (Abramowitz & Stegun 7.1.26, absolute error
//! ≤ 1.5e-7) and a Cody–Waite `exp`, compiled for AVX-512 / AVX2 (picked at run time) and split
//! across threads; the backward pass shares the same `exp(-x²/2)` for the CDF and the density.
//! Softmax over the last dimension (attention) is fused the same way: Burn composes it from
//! single-threaded passes with libm's `expf`, whose slow underflow path every masked (padding)
//! score takes. Other backends run Burn's own ops through the trait's default bodies.
//!
//! [`attention_softmax`] folds attention's scale and padding bias into that softmax pass, and
//! [`mul`] is dropout's mask product split across threads: Burn runs the scale, the broadcast add
//! and the product (and their backward passes) on one thread, which kept the second core of a
//! 2-core machine idle for about a third of a training step (perf, per thread). Both give the same
//! bits as the ops they replace.
//!
//! [`matmul`] is the linear layers' product: f32 through Burn, or bf16 with f32 sums through
//! [`crate::kernels::matmul_bf16`] on Flex (mixed-precision training), with its own backward pass
//! whose two products are bf16 as well.

// NdArray is deprecated upstream; it stays because the design asks for it.
#![allow(deprecated)]

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, backend_extension};
use burn::tensor::{Scalar, Tensor};

/// Encoder operations with faster kernels on some backends.
#[backend_extension(Flex: cfg(feature = "flex"), NdArray: cfg(feature = "ndarray"), Cube: cfg(feature = "wgpu"), Autodiff)]
pub trait EncoderOps: Backend {
    /// Exact GELU, `x · Φ(x)`.
    fn encoder_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu(x)
    }

    /// Gradient of [`EncoderOps::encoder_gelu`] at `x` times `grad`.
    fn encoder_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }

    /// `op(lhs) · op(rhs)` for 2-D tensors, `op` a transpose where asked; bf16 products with f32
    /// sums when `bf16` is set and the backend has the kernel (Flex), f32 otherwise.
    fn encoder_matmul(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        transpose_lhs: bool,
        transpose_rhs: bool,
        bf16: bool,
    ) -> FloatTensor<Self> {
        let _ = bf16;
        let lhs = if transpose_lhs { Self::float_transpose(lhs) } else { lhs };
        let rhs = if transpose_rhs { Self::float_transpose(rhs) } else { rhs };
        Self::float_matmul(lhs, rhs)
    }

    /// Softmax over the last dimension.
    fn encoder_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let dim = x.rank() - 1;
        Self::softmax(x, dim)
    }

    /// Attention's probabilities: softmax over the last dimension of `scores · scale + bias`,
    /// `bias` broadcast against `scores` (`[batch, 1, 1, keys]` against `[batch, heads, queries,
    /// keys]`). The bias is a constant (the padding mask, zeros where nothing is padded): no
    /// gradient flows to it.
    fn encoder_attention_softmax(scores: FloatTensor<Self>, scale: f32, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let scaled = Self::float_mul_scalar(scores, Scalar::Float(scale.into()));
        Self::encoder_softmax(Self::float_add(scaled, bias))
    }

    /// Gradient of a softmax given its output `y`, times the scale its input was multiplied by:
    /// `scale · y · (g − Σ g·y)` ([`EncoderOps::encoder_softmax`] has scale 1).
    fn encoder_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        let dim = y.rank() - 1;
        let dot = Self::float_sum_dim(Self::float_mul(grad.clone(), y.clone()), dim);
        let grad = Self::float_mul(y, Self::float_sub(grad, dot));
        if scale == 1.0 { grad } else { Self::float_mul_scalar(grad, Scalar::Float(scale.into())) }
    }

    /// `lhs ⊙ rhs` for tensors of one shape (dropout's mask product).
    fn encoder_mul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_mul(lhs, rhs)
    }
}

#[cfg(feature = "ndarray")]
impl EncoderOps for burn::backend::NdArray {}

#[cfg(feature = "wgpu")]
impl EncoderOps for burn::backend::Cube {}

#[cfg(feature = "flex")]
impl EncoderOps for burn::backend::Flex {
    fn encoder_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::map1(x, fast::gelu_slice).unwrap_or_else(Self::gelu)
    }

    fn encoder_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::map2(x, grad, fast::gelu_backward_slice).unwrap_or_else(|(x, grad)| Self::gelu_backward(x, grad))
    }

    fn encoder_matmul(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        transpose_lhs: bool,
        transpose_rhs: bool,
        bf16: bool,
    ) -> FloatTensor<Self> {
        if !bf16 {
            let lhs = if transpose_lhs { Self::float_transpose(lhs) } else { lhs };
            let rhs = if transpose_rhs { Self::float_transpose(rhs) } else { rhs };
            return Self::float_matmul(lhs, rhs);
        }
        flex::matmul_bf16(lhs, rhs, transpose_lhs, transpose_rhs)
    }

    fn encoder_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::attention_softmax(x, 1.0, None).unwrap_or_else(|x| {
            let dim = x.rank() - 1;
            Self::softmax(x, dim)
        })
    }

    fn encoder_attention_softmax(scores: FloatTensor<Self>, scale: f32, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::attention_softmax(scores, scale, Some(&bias)).unwrap_or_else(|scores| {
            let biased = Self::float_add(Self::float_mul_scalar(scores, Scalar::Float(scale.into())), bias);
            let dim = biased.rank() - 1;
            Self::softmax(biased, dim)
        })
    }

    fn encoder_softmax_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>, scale: f32) -> FloatTensor<Self> {
        flex::softmax_backward(y, grad, scale).unwrap_or_else(|(y, grad)| {
            let dim = y.rank() - 1;
            let dot = Self::float_sum_dim(Self::float_mul(grad.clone(), y.clone()), dim);
            let grad = Self::float_mul(y, Self::float_sub(grad, dot));
            if scale == 1.0 { grad } else { Self::float_mul_scalar(grad, Scalar::Float(scale.into())) }
        })
    }

    fn encoder_mul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        flex::map2(lhs, rhs, fast::mul_slice).unwrap_or_else(|(lhs, rhs)| Self::float_mul(lhs, rhs))
    }
}

impl<B: Backend + EncoderOps, C: CheckpointStrategy> EncoderOps for burn::backend::Autodiff<B, C> {
    fn encoder_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct GeluBackward;

        impl<B: Backend + EncoderOps> Backward<B, 1> for GeluBackward {
            type State = FloatTensor<B>;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                if let Some(node) = parent {
                    grads.register::<B>(node.id, B::encoder_gelu_backward(ops.state, grad));
                }
            }
        }

        let (input, node) = x.into_parts();
        match GeluBackward.prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::encoder_gelu(input.clone());
                prep.finish(input, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::encoder_gelu(input)),
        }
    }

    fn encoder_matmul(
        lhs: FloatTensor<Self>,
        rhs: FloatTensor<Self>,
        transpose_lhs: bool,
        transpose_rhs: bool,
        bf16: bool,
    ) -> FloatTensor<Self> {
        let (lhs, lhs_node) = lhs.into_parts();
        let (rhs, rhs_node) = rhs.into_parts();
        let backward = MatmulBackward { transpose_lhs, transpose_rhs, bf16 };
        match backward.prepare::<C>([lhs_node, rhs_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::encoder_matmul(lhs.clone(), rhs.clone(), transpose_lhs, transpose_rhs, bf16);
                prep.finish((lhs, rhs), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::encoder_matmul(lhs, rhs, transpose_lhs, transpose_rhs, bf16)),
        }
    }

    fn encoder_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (input, node) = x.into_parts();
        match (SoftmaxBackward { scale: 1.0 }).prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::encoder_softmax(input);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::encoder_softmax(input)),
        }
    }

    fn encoder_attention_softmax(scores: FloatTensor<Self>, scale: f32, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let (input, node) = scores.into_parts();
        let (bias, _) = bias.into_parts();
        match (SoftmaxBackward { scale }).prepare::<C>([node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::encoder_attention_softmax(input, scale, bias);
                prep.finish(output.clone(), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::encoder_attention_softmax(input, scale, bias)),
        }
    }

    fn encoder_mul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        // Each side's gradient needs the other side only: keep what a tracked parent needs.
        let (lhs_tracked, rhs_tracked) = (lhs.is_tracked(), rhs.is_tracked());
        let (lhs, lhs_node) = lhs.into_parts();
        let (rhs, rhs_node) = rhs.into_parts();
        match MulBackward.prepare::<C>([lhs_node, rhs_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = (rhs_tracked.then(|| lhs.clone()), lhs_tracked.then(|| rhs.clone()));
                prep.finish(state, B::encoder_mul(lhs, rhs))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::encoder_mul(lhs, rhs)),
        }
    }
}

/// Backward of [`EncoderOps::encoder_mul`]: `d lhs = grad ⊙ rhs`, `d rhs = grad ⊙ lhs`; the state
/// holds `(lhs, rhs)`, each only where the other side is tracked.
#[derive(Debug)]
struct MulBackward;

impl<B: Backend + EncoderOps> Backward<B, 2> for MulBackward {
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [lhs_node, rhs_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (lhs, rhs) = ops.state;
        if let (Some(node), Some(rhs)) = (lhs_node, rhs) {
            grads.register::<B>(node.id, B::encoder_mul(grad.clone(), rhs));
        }
        if let (Some(node), Some(lhs)) = (rhs_node, lhs) {
            grads.register::<B>(node.id, B::encoder_mul(grad, lhs));
        }
    }
}

/// Backward of [`EncoderOps::encoder_matmul`]: keeps both inputs. For `C = A'·B'` (`A'` is `A` or
/// its transpose), `dA' = dC·B'ᵀ` and `dB' = A'ᵀ·dC`, each written as one more `encoder_matmul`
/// in the forward pass's precision, with the transposes folded into its flags.
#[derive(Debug)]
struct MatmulBackward {
    transpose_lhs: bool,
    transpose_rhs: bool,
    bf16: bool,
}

impl<B: Backend + EncoderOps> Backward<B, 2> for MatmulBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [lhs_node, rhs_node] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (lhs, rhs) = ops.state;
        let (ta, tb, bf16) = (self.transpose_lhs, self.transpose_rhs, self.bf16);
        if let Some(node) = lhs_node {
            // dA = dC·B'ᵀ, or for a transposed A, (dC·B'ᵀ)ᵀ = B'·dCᵀ.
            let grad_lhs = if ta {
                B::encoder_matmul(rhs.clone(), grad.clone(), tb, true, bf16)
            } else {
                B::encoder_matmul(grad.clone(), rhs, false, !tb, bf16)
            };
            grads.register::<B>(node.id, grad_lhs);
        }
        if let Some(node) = rhs_node {
            // dB = A'ᵀ·dC, or for a transposed B, (A'ᵀ·dC)ᵀ = dCᵀ·A'.
            let grad_rhs = if tb {
                B::encoder_matmul(grad, lhs, true, ta, bf16)
            } else {
                B::encoder_matmul(lhs, grad, !ta, false, bf16)
            };
            grads.register::<B>(node.id, grad_rhs);
        }
    }
}

/// Backward of [`EncoderOps::encoder_softmax`] and [`EncoderOps::encoder_attention_softmax`]
/// (whose input was multiplied by `scale`): keeps the output.
#[derive(Debug)]
struct SoftmaxBackward {
    scale: f32,
}

impl<B: Backend + EncoderOps> Backward<B, 1> for SoftmaxBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        if let Some(node) = parent {
            grads.register::<B>(node.id, B::encoder_softmax_backward(ops.state, grad, self.scale));
        }
    }
}

/// Whether the model uses Polyret's kernels (fused GELU, counter-based dropout masks): yes unless
/// the environment variable `POLYRET_KERNELS=burn` asks for Burn's own, which only exists so that
/// `cargo xtask bench train` can measure what they save. Read once per process.
pub fn fused_kernels() -> bool {
    static FUSED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FUSED.get_or_init(|| std::env::var("POLYRET_KERNELS").map_or(true, |v| v != "burn"))
}

/// Exact GELU on any backend, fused on Flex.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as EncoderOps>::encoder_gelu(x.into_dispatch()))
}

/// `lhs · rhs` of 2-D tensors: f32 through Burn, or with bf16 products (and f32 sums) on Flex when
/// `bf16` is set; differentiable either way.
pub fn matmul(lhs: Tensor<2>, rhs: Tensor<2>, bf16: bool) -> Tensor<2> {
    let output = <burn::backend::Dispatch as EncoderOps>::encoder_matmul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
        false,
        false,
        bf16,
    );
    Tensor::from_dispatch(output)
}

/// Softmax over the last dimension on any backend, fused on Flex (the model uses
/// [`attention_softmax`]; this is the reference its tests compare with).
#[cfg(test)]
pub fn softmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as EncoderOps>::encoder_softmax(x.into_dispatch()))
}

/// Attention's probabilities, `softmax(scores · scale + bias)` over the keys, in one parallel
/// pass on Flex (Burn's scale, broadcast add and their backward passes run on one thread). The
/// same arithmetic in the same order as the composed ops, so results are bit-identical.
pub fn attention_softmax(scores: Tensor<4>, scale: f32, bias: Tensor<4>) -> Tensor<4> {
    Tensor::from_dispatch(<burn::backend::Dispatch as EncoderOps>::encoder_attention_softmax(
        scores.into_dispatch(),
        scale,
        bias.into_dispatch(),
    ))
}

/// `lhs ⊙ rhs` for tensors of one shape, split across threads on Flex (Burn's product runs on
/// one thread); differentiable in both.
pub fn mul<const D: usize>(lhs: Tensor<D>, rhs: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as EncoderOps>::encoder_mul(
        lhs.into_dispatch(),
        rhs.into_dispatch(),
    ))
}

/// Dropout's mask as a pure function of the drop probability, a stream number and each element's
/// index: elements are taken in chunks of [`Dropout::CHUNK`], and chunk `c` draws 16 bits per
/// element from `splitmix64(stream + c·γ + k·γ)`, `k` counting groups of four from 1. So a mask
/// never depends on thread scheduling (chunks are generated in parallel). Generating masks this
/// way costs a fraction of Burn's per-element ChaCha sampling (~10% of a training step in perf
/// before it).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Elements whose 16 bits fall below this are dropped (`p` at 16-bit resolution).
    threshold: u64,
    /// The value of a kept element, `1 / (1 − p)`.
    keep: f32,
    stream: u64,
}

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

impl Dropout {
    /// Elements per independently generated chunk.
    pub const CHUNK: usize = 1 << 14;

    /// Drops with probability `p` (in `[0, 1)`), from stream `stream`.
    pub fn new(p: f64, stream: u64) -> Self {
        Self { threshold: (p * 65536.0).round() as u64, keep: (1.0 / (1.0 - p)) as f32, stream }
    }

    /// The mask of an `n`-element tensor: each value 0 or `1 / (1 − p)`.
    pub fn mask(self, n: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let mut mask = vec![0f32; n];
        mask.par_chunks_mut(Self::CHUNK).enumerate().for_each(|(c, out)| {
            let mut state = self.stream.wrapping_add((c as u64).wrapping_mul(GAMMA));
            for quad in out.chunks_mut(4) {
                state = state.wrapping_add(GAMMA);
                let bits = splitmix64(state);
                for (j, v) in quad.iter_mut().enumerate() {
                    *v = if (bits >> (16 * j)) & 0xFFFF < self.threshold { 0.0 } else { self.keep };
                }
            }
        });
        mask
    }
}

/// SplitMix64's output function: a fast, well-mixed 64-bit hash.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(feature = "flex")]
mod flex {
    //! Flex tensors in and out of plain f32 slices.
    use burn::backend::flex::FlexTensor;
    use burn::tensor::{DType, TensorData};
    use rayon::prelude::*;

    /// `op(lhs) · op(rhs)` through the bf16 kernel, reading both operands in place (a transposed or
    /// strided 2-D view is read through its strides; anything else is copied once).
    pub fn matmul_bf16(lhs: FlexTensor, rhs: FlexTensor, transpose_lhs: bool, transpose_rhs: bool) -> FlexTensor {
        let lhs = dense(lhs);
        let rhs = dense(rhs);
        fn view(t: &FlexTensor, transpose: bool) -> crate::kernels::MatRef<'_> {
            let shape = t.layout().shape();
            let (rows, cols) = (shape[0], shape[1]);
            let view = crate::kernels::MatRef::row_major(f32_slice(t).expect("dense f32"), rows, cols);
            if transpose { view.t() } else { view }
        }
        let (a, b) = (view(&lhs, transpose_lhs), view(&rhs, transpose_rhs));
        let mut out = vec![0f32; a.rows * b.cols];
        crate::kernels::matmul_bf16(a, b, &mut out);
        FlexTensor::from_data(TensorData::new(out, [a.rows, b.cols]))
    }

    /// A 2-D f32 tensor whose elements are contiguous and row-major (copied only if not).
    fn dense(t: FlexTensor) -> FlexTensor {
        let t = if t.dtype() == DType::F32 { t } else { FlexTensor::from_data(t.into_data().convert::<f32>()) };
        assert_eq!(t.layout().shape().num_dims(), 2, "encoder_matmul takes 2-D tensors");
        if f32_slice(&t).is_some() { t } else { FlexTensor::from_data(t.into_data()) }
    }

    /// Elements per parallel task: large enough to amortise scheduling, small enough to balance.
    const CHUNK: usize = 1 << 14;

    fn f32_slice(t: &FlexTensor) -> Option<&[f32]> {
        (t.dtype() == DType::F32).then(|| t.as_slice::<f32>()).flatten()
    }

    /// A buffer of `n` values written by `fill`, zeroed first in parallel chunks (a plain
    /// `vec![0.0; n]` is one thread's `memset` of reused memory, ~4% of a training step).
    fn filled(n: usize, fill: impl FnOnce(&mut [f32])) -> Vec<f32> {
        let mut out = Vec::with_capacity(n);
        out.spare_capacity_mut().par_chunks_mut(CHUNK).for_each(|c| c.fill(std::mem::MaybeUninit::new(0.0)));
        // SAFETY: all `n` elements were just initialised.
        unsafe { out.set_len(n) };
        fill(&mut out);
        out
    }

    /// `out[i] = f(x[i])` in parallel chunks; `Err(x)` when `x` is not contiguous f32.
    pub fn map1(x: FlexTensor, f: fn(&[f32], &mut [f32])) -> Result<FlexTensor, FlexTensor> {
        let Some(src) = f32_slice(&x) else { return Err(x) };
        let out =
            filled(src.len(), |out| out.par_chunks_mut(CHUNK).zip(src.par_chunks(CHUNK)).for_each(|(o, s)| f(s, o)));
        let shape = x.layout().shape().clone();
        Ok(FlexTensor::from_data(TensorData::new(out, shape)))
    }

    /// Rows of `scores · scale + bias` through softmax, in parallel groups of rows. `bias`, when
    /// given, has one row per leading index of a 4-D `scores` (`[b, 1, 1, keys]` against
    /// `[b, heads, queries, keys]`). `Err(scores)` for any other layout, for the composed path.
    pub fn attention_softmax(
        scores: FlexTensor,
        scale: f32,
        bias: Option<&FlexTensor>,
    ) -> Result<FlexTensor, FlexTensor> {
        let Some(src) = f32_slice(&scores) else { return Err(scores) };
        let shape = scores.layout().shape().clone();
        let dims = shape.num_dims();
        let row = shape[dims - 1].max(1);
        let rows = src.len() / row;
        // Rows that share one bias row, and the bias rows (an empty bias: none).
        let (group, bias): (usize, &[f32]) = match bias {
            None => (rows.max(1), &[]),
            Some(bias) => {
                let bias_shape = bias.layout().shape();
                let fits = dims == 4
                    && bias_shape.num_dims() == 4
                    && (bias_shape[0], bias_shape[1], bias_shape[2], bias_shape[3]) == (shape[0], 1, 1, row);
                match (fits, f32_slice(bias)) {
                    (true, Some(values)) => ((shape[1] * shape[2]).max(1), values),
                    _ => return Err(scores),
                }
            }
        };
        let rows_per_task = (CHUNK / row).max(1);
        let out = filled(src.len(), |out| {
            out.par_chunks_mut(rows_per_task * row).zip(src.par_chunks(rows_per_task * row)).enumerate().for_each(
                |(task, (o, s))| {
                    // Split the task's rows where the bias row changes.
                    let mut first = task * rows_per_task;
                    let (mut o, mut s) = (o, s);
                    while !s.is_empty() {
                        let g = first / group;
                        let take = ((g + 1) * group - first).min(s.len() / row);
                        let (o_now, o_rest) = o.split_at_mut(take * row);
                        let (s_now, s_rest) = s.split_at(take * row);
                        let b = if bias.is_empty() { bias } else { &bias[g * row..(g + 1) * row] };
                        super::fast::softmax_rows(s_now, o_now, row, scale, b);
                        (o, s, first) = (o_rest, s_rest, first + take);
                    }
                },
            )
        });
        Ok(FlexTensor::from_data(TensorData::new(out, shape)))
    }

    /// `scale · y · (g − Σ g·y)` by rows, in parallel; `Err` when either is not contiguous f32.
    #[allow(clippy::result_large_err)]
    pub fn softmax_backward(y: FlexTensor, g: FlexTensor, scale: f32) -> Result<FlexTensor, (FlexTensor, FlexTensor)> {
        let (Some(ys), Some(gs)) = (f32_slice(&y), f32_slice(&g)) else { return Err((y, g)) };
        if ys.len() != gs.len() {
            return Err((y, g));
        }
        let shape = y.layout().shape().clone();
        let row = shape[shape.num_dims() - 1].max(1);
        let chunk = (CHUNK / row).max(1) * row;
        let out = filled(ys.len(), |out| {
            out.par_chunks_mut(chunk)
                .zip(ys.par_chunks(chunk).zip(gs.par_chunks(chunk)))
                .for_each(|(o, (a, b))| super::fast::softmax_backward_rows(a, b, o, row, scale))
        });
        Ok(FlexTensor::from_data(TensorData::new(out, shape)))
    }

    /// `out[i] = f(x[i], g[i])` in parallel chunks; `Err` when either is not contiguous f32.
    /// (The error hands both inputs back for the fallback path, hence its size.)
    #[allow(clippy::type_complexity, clippy::result_large_err)]
    pub fn map2(
        x: FlexTensor,
        g: FlexTensor,
        f: fn(&[f32], &[f32], &mut [f32]),
    ) -> Result<FlexTensor, (FlexTensor, FlexTensor)> {
        let (Some(xs), Some(gs)) = (f32_slice(&x), f32_slice(&g)) else { return Err((x, g)) };
        if xs.len() != gs.len() {
            return Err((x, g));
        }
        let out = filled(xs.len(), |out| {
            out.par_chunks_mut(CHUNK)
                .zip(xs.par_chunks(CHUNK).zip(gs.par_chunks(CHUNK)))
                .for_each(|(o, (a, b))| f(a, b, o))
        });
        let shape = x.layout().shape().clone();
        Ok(FlexTensor::from_data(TensorData::new(out, shape)))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tensor, TensorData};

    use crate::BackendKind;

    /// Value and gradient of `sum(f(x) · w)` through autodiff.
    fn value_and_grad<const D: usize>(
        f: impl Fn(Tensor<D>) -> Tensor<D>,
        x: &Tensor<D>,
        w: &Tensor<D>,
    ) -> (Vec<f32>, Vec<f32>) {
        let x = x.clone().require_grad();
        let y = f(x.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        let host = |t: Tensor<D>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        (host(y.inner()), host(x.grad(&grads).unwrap()))
    }

    /// Value of `f(a, b)` and the gradients of `sum(f(a, b) · w)` for `a` and `b`.
    fn value_and_grads2(
        f: &dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<2>,
        a: &Tensor<2>,
        b: &Tensor<2>,
        w: &Tensor<2>,
    ) -> [Vec<f32>; 3] {
        let host = |t: Tensor<2>| t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
        let (a, b) = (a.clone().require_grad(), b.clone().require_grad());
        let y = f(a.clone(), b.clone());
        let grads = (y.clone() * w.clone()).sum().backward();
        [host(y.inner()), host(a.grad(&grads).unwrap()), host(b.grad(&grads).unwrap())]
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// The bf16 product and its two gradients (which run as transposed bf16 products) against
    /// Burn's f32 matmul: unit-normal inputs, inner dimension 50, so bf16 rounding (≤ 2⁻⁹ per
    /// input) errs by ~0.02 per element; the bound is 0.15. Without `bf16` the op is Burn's.
    #[test]
    fn bf16_matmul_and_its_gradients_match_f32_within_rounding() {
        let device = BackendKind::Flex.device().autodiff();
        let a = Tensor::<2>::random([37, 50], Distribution::Normal(0.0, 1.0), &device);
        let b = Tensor::<2>::random([50, 21], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<2>::random([37, 21], Distribution::Normal(0.0, 1.0), &device);
        let run = |f: &dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<2>| value_and_grads2(f, &a, &b, &w);
        let burn = run(&|a, b| a.matmul(b));
        let f32_ops = run(&|a, b| super::matmul(a, b, false));
        let bf16_ops = run(&|a, b| super::matmul(a, b, true));
        for ((exact, f32_ours), bf16_ours) in burn.iter().zip(&f32_ops).zip(&bf16_ops) {
            assert!(max_diff(exact, f32_ours) < 1e-4);
            let err = max_diff(exact, bf16_ours);
            assert!(err > 0.0 && err < 0.15, "bf16 error {err}");
        }
    }

    #[test]
    fn fused_ops_match_burn_forward_and_backward_on_every_backend() {
        for backend in BackendKind::available() {
            let device = backend.device().autodiff();
            let x = Tensor::<3>::random([2, 5, 19], Distribution::Normal(0.0, 3.0), &device);
            let w = Tensor::<3>::random([2, 5, 19], Distribution::Normal(0.0, 1.0), &device);
            let (ours, our_grad) = value_and_grad(super::gelu, &x, &w);
            let (burn, burn_grad) = value_and_grad(burn::tensor::activation::gelu, &x, &w);
            assert!(max_diff(&ours, &burn) < 1e-5 && max_diff(&our_grad, &burn_grad) < 1e-5, "gelu on {backend}");
            let (ours, our_grad) = value_and_grad(super::softmax, &x, &w);
            let (burn, burn_grad) = value_and_grad(|t| burn::tensor::activation::softmax(t, 2), &x, &w);
            assert!(max_diff(&ours, &burn) < 1e-5 && max_diff(&our_grad, &burn_grad) < 1e-5, "softmax on {backend}");
        }
    }

    /// The fused attention softmax against the composed ops it replaces (scale, broadcast bias
    /// add, softmax), forward and backward: bit-identical, on every backend. Rows of 19 keys (a
    /// vector tail) and a bias that masks some keys of one sequence.
    #[test]
    fn attention_softmax_is_the_composed_ops_bit_for_bit() {
        for backend in BackendKind::available() {
            let device = backend.device().autodiff();
            let x = Tensor::<4>::random([2, 3, 5, 19], Distribution::Normal(0.0, 3.0), &device);
            let w = Tensor::<4>::random([2, 3, 5, 19], Distribution::Normal(0.0, 1.0), &device);
            let mut bias = vec![0f32; 2 * 19];
            bias[19 + 11..].fill(-1e9);
            let bias = Tensor::<4>::from_data(TensorData::new(bias, [2, 1, 1, 19]), &device);
            let scale = 1.0 / 8f64.sqrt();
            let (fused, fused_grad) =
                value_and_grad(|t| super::attention_softmax(t, scale as f32, bias.clone()), &x, &w);
            let (composed, composed_grad) = value_and_grad(|t| super::softmax(t * scale + bias.clone()), &x, &w);
            assert_eq!(fused, composed, "forward on {backend}");
            assert_eq!(fused_grad, composed_grad, "backward on {backend}");
            assert!(fused.iter().skip(19 * 15).take(19).skip(11).all(|&p| p < 1e-30), "masked keys get ~nothing");
        }
    }

    /// The parallel product against Burn's, forward and both gradients: bit-identical on every
    /// backend, for a tensor longer than one parallel chunk.
    #[test]
    fn mul_is_burns_product_bit_for_bit() {
        let n = (1 << 15) + 6;
        for backend in BackendKind::available() {
            let device = backend.device().autodiff();
            let a = Tensor::<2>::random([2, n / 2], Distribution::Normal(0.0, 1.0), &device);
            let b = Tensor::<2>::random([2, n / 2], Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<2>::random([2, n / 2], Distribution::Normal(0.0, 1.0), &device);
            let run = |f: &dyn Fn(Tensor<2>, Tensor<2>) -> Tensor<2>| value_and_grads2(f, &a, &b, &w);
            assert_eq!(run(&|a, b| super::mul(a, b)), run(&|a, b| a * b), "on {backend}");
        }
    }
}

pub(crate) mod fast {
    //! Branch-free scalar kernels written so LLVM vectorises the loops, compiled for AVX-512 and
    //! AVX2+FMA with a run-time choice (the default x86-64 target only has SSE2).

    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

    /// Accumulators of the reductions below, one per lane: LLVM keeps a float fold in source
    /// order, so a single accumulator makes the whole loop scalar; sixteen independent ones (one
    /// AVX-512 register, two AVX2 ones) let it vectorise.
    const LANES: usize = 16;

    /// `e^x` (Cephes `expf` polynomial, relative error < 2e-7), for x ≤ 0 as used here. The
    /// range reduction rounds half to even (`roundps`): `f32::round`'s half-away-from-zero has no
    /// x86 vector instruction, and LLVM turns it into one `roundf` call per lane, which kept
    /// GELU and softmax scalar (a third of int8 encoding time, measured with perf).
    #[inline(always)]
    fn exp_neg(x: f32) -> f32 {
        // NaN becomes -87 too (`clamp` would keep it NaN); the range keeps the exponent below
        // in [-126, 0].
        #[allow(clippy::manual_clamp)]
        let x = x.max(-87.0).min(0.0);
        let n = (x * LOG2E).round_ties_even();
        let r = x - n * LN2_HI - n * LN2_LO;
        let mut p = 1.987_569_1e-4_f32;
        p = p * r + 1.398_199_9e-3;
        p = p * r + 8.333_452e-3;
        p = p * r + 4.166_579_6e-2;
        p = p * r + 1.666_666_5e-1;
        p = p * r + 0.5;
        let e = p * r * r + r + 1.0;
        // SAFETY: n is a whole number in [-126, 0] (x in [-87, 0]), so the conversion is exact;
        // the checked `as` adds per-lane saturation code that kept this loop half scalar.
        let n = unsafe { n.to_int_unchecked::<i32>() };
        e * f32::from_bits(((n + 127) as u32) << 23)
    }

    /// `(Φ(x), φ(x))`: the standard normal CDF via erf (A&S 7.1.26) and density, sharing one exp.
    #[inline(always)]
    fn cdf_pdf(x: f32) -> (f32, f32) {
        let e = exp_neg(-0.5 * x * x);
        let y = (x * FRAC_1_SQRT_2).abs();
        let t = 1.0 / (1.0 + 0.327_591_1 * y);
        let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
        let erf_abs = 1.0 - poly * e;
        let erf = if x < 0.0 { -erf_abs } else { erf_abs };
        (0.5 * (1.0 + erf), e * FRAC_1_SQRT_2PI)
    }

    #[inline(always)]
    fn gelu_body(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v * cdf_pdf(v).0;
        }
    }

    #[inline(always)]
    fn mul_body(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = x * y;
        }
    }

    #[inline(always)]
    fn gelu_backward_body(x: &[f32], g: &[f32], out: &mut [f32]) {
        for ((o, &v), &d) in out.iter_mut().zip(x).zip(g) {
            let (cdf, pdf) = cdf_pdf(v);
            *o = d * (cdf + v * pdf);
        }
    }

    /// `max(a, b)` as `maxps` computes it (`b` if either is NaN), which vectorises;
    /// `f32::max`'s NaN rule needs a fix-up per lane.
    #[inline(always)]
    fn max_ps(a: f32, b: f32) -> f32 {
        if a > b { a } else { b }
    }

    /// The largest element (exact in any order, so lane by lane).
    #[inline(always)]
    fn max_of(xs: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let chunks = xs.chunks_exact(LANES);
        let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| max_ps(v, m));
        for chunk in chunks {
            for (m, &v) in lanes.iter_mut().zip(chunk) {
                *m = max_ps(v, *m);
            }
        }
        lanes.into_iter().fold(tail, max_ps)
    }

    /// `Σ a·b`, summed lane by lane and then across the lanes.
    #[inline(always)]
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; LANES];
        let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
        for (xa, xb) in ca.zip(cb) {
            for ((s, &x), &y) in lanes.iter_mut().zip(xa).zip(xb) {
                *s += x * y;
            }
        }
        lanes.iter().sum::<f32>() + tail
    }

    /// Softmax of each row of `x · scale + bias` (`bias` one row for all rows, or empty). The
    /// scale and bias are applied as separate roundings, as the composed tensor ops do.
    #[inline(always)]
    fn softmax_rows_body(x: &[f32], out: &mut [f32], row: usize, scale: f32, bias: &[f32]) {
        for (xs, os) in x.chunks_exact(row).zip(out.chunks_exact_mut(row)) {
            if bias.is_empty() {
                for (o, &v) in os.iter_mut().zip(xs) {
                    *o = v * scale;
                }
            } else {
                for ((o, &v), &b) in os.iter_mut().zip(xs).zip(bias) {
                    *o = v * scale + b;
                }
            }
            softmax_in_place(os);
        }
    }

    #[inline(always)]
    fn softmax_in_place(os: &mut [f32]) {
        let max = max_of(os);
        let whole = os.len() / LANES * LANES;
        let (body, tail) = os.split_at_mut(whole);
        let mut lanes = [0f32; LANES];
        for chunk in body.chunks_exact_mut(LANES) {
            for (o, s) in chunk.iter_mut().zip(lanes.iter_mut()) {
                *o = exp_neg(*o - max);
                *s += *o;
            }
        }
        // The last partial chunk through a padded one, so that it is vectorised too (rows are
        // sequence lengths, often a few dozen, where a scalar tail is a large share).
        let mut padded = [0f32; LANES];
        padded[..tail.len()].copy_from_slice(tail);
        let mut tail_sum = 0.0;
        for (i, v) in padded.iter_mut().enumerate() {
            let e = exp_neg(*v - max);
            *v = e;
            tail_sum += if i < tail.len() { e } else { 0.0 };
        }
        let n = tail.len();
        tail.copy_from_slice(&padded[..n]);
        let inv = 1.0 / (lanes.iter().sum::<f32>() + tail_sum);
        for o in os.iter_mut() {
            *o *= inv;
        }
    }

    #[inline(always)]
    fn softmax_backward_rows_body(y: &[f32], g: &[f32], out: &mut [f32], row: usize, scale: f32) {
        for ((ys, gs), os) in y.chunks_exact(row).zip(g.chunks_exact(row)).zip(out.chunks_exact_mut(row)) {
            let dot = dot(ys, gs);
            for ((o, &yv), &gv) in os.iter_mut().zip(ys).zip(gs) {
                *o = yv * (gv - dot) * scale;
            }
        }
    }

    macro_rules! dispatch {
        ($name:ident, $body:ident, ($($arg:ident: $ty:ty),*)) => {
            /// Runs the kernel with the widest vector instructions this CPU has.
            pub fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f")]
                    unsafe fn avx512($($arg: $ty),*) { $body($($arg),*) }
                    #[target_feature(enable = "avx2,fma")]
                    unsafe fn avx2($($arg: $ty),*) { $body($($arg),*) }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU supports the enabled features (checked just above).
                        return unsafe { avx512($($arg),*) };
                    }
                    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                        // SAFETY: as above.
                        return unsafe { avx2($($arg),*) };
                    }
                }
                $body($($arg),*)
            }
        };
    }

    dispatch!(gelu_slice, gelu_body, (x: &[f32], out: &mut [f32]));
    dispatch!(gelu_backward_slice, gelu_backward_body, (x: &[f32], g: &[f32], out: &mut [f32]));
    dispatch!(mul_slice, mul_body, (a: &[f32], b: &[f32], out: &mut [f32]));
    dispatch!(softmax_rows, softmax_rows_body, (x: &[f32], out: &mut [f32], row: usize, scale: f32, bias: &[f32]));
    dispatch!(
        softmax_backward_rows,
        softmax_backward_rows_body,
        (y: &[f32], g: &[f32], out: &mut [f32], row: usize, scale: f32)
    );

    #[cfg(test)]
    mod tests {
        use super::*;

        fn erf64(x: f64) -> f64 {
            libm::erf(x)
        }

        #[test]
        fn gelu_and_its_gradient_match_the_exact_definition() {
            let xs: Vec<f32> = (-12_000..=12_000).map(|i| i as f32 * 1e-3).collect();
            let mut fwd = vec![0.0; xs.len()];
            let mut bwd = vec![0.0; xs.len()];
            gelu_slice(&xs, &mut fwd);
            gelu_backward_slice(&xs, &vec![1.0; xs.len()], &mut bwd);
            for ((&x, &f), &b) in xs.iter().zip(&fwd).zip(&bwd) {
                let x64 = f64::from(x);
                let cdf = 0.5 * (1.0 + erf64(x64 / std::f64::consts::SQRT_2));
                let pdf = (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
                assert!((f64::from(f) - x64 * cdf).abs() < 2e-6, "gelu({x}) = {f}, exact {}", x64 * cdf);
                assert!((f64::from(b) - (cdf + x64 * pdf)).abs() < 2e-6, "gelu'({x}) = {b}");
            }
        }

        #[test]
        fn softmax_rows_and_gradient_match_the_definition() {
            // Rows shorter than, equal to and longer than the 16 lanes (whole chunks and a tail).
            for row in [7, 16, 37] {
                softmax_matches_the_definition(row);
            }
        }

        fn softmax_matches_the_definition(row: usize) {
            // Three ordinary rows and one with masked (padding) scores.
            let mut x: Vec<f32> = (0..row * 3).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.7).collect();
            x.extend([0.5, -1e9, 2.0, -1e9, 0.0, 1.0, -3.0].into_iter().cycle().take(row));
            let mut y = vec![0.0; x.len()];
            softmax_rows(&x, &mut y, row, 1.0, &[]);
            for (xs, ys) in x.chunks(row).zip(y.chunks(row)) {
                let max = xs.iter().cloned().fold(f64::NEG_INFINITY, |m, v| m.max(f64::from(v)));
                let z: f64 = xs.iter().map(|&v| (f64::from(v) - max).exp()).sum();
                for (&v, &p) in xs.iter().zip(ys) {
                    assert!((f64::from(p) - (f64::from(v) - max).exp() / z).abs() < 1e-6);
                }
            }
            let g: Vec<f32> = (0..x.len()).map(|i| (i % 5) as f32 - 2.0).collect();
            let mut dx = vec![0.0; x.len()];
            softmax_backward_rows(&y, &g, &mut dx, row, 1.0);
            for ((ys, gs), ds) in y.chunks(row).zip(g.chunks(row)).zip(dx.chunks(row)) {
                let dot: f64 = ys.iter().zip(gs).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
                for ((&p, &gv), &d) in ys.iter().zip(gs).zip(ds) {
                    assert!((f64::from(d) - f64::from(p) * (f64::from(gv) - dot)).abs() < 1e-5);
                }
            }
        }

        #[test]
        fn exp_is_accurate_and_saturates() {
            for i in 0..=8700 {
                let x = -(i as f32) * 0.01;
                let rel = ((f64::from(exp_neg(x)) - f64::from(x).exp()) / f64::from(x).exp()).abs();
                assert!(rel < 1e-6, "exp({x}) rel error {rel}");
            }
            assert_eq!(exp_neg(-1e4), exp_neg(-87.0));
        }
    }
}
