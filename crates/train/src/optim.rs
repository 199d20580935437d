//! AdamW for the dense parameters (decoupled weight decay, PyTorch's formula) and lazy Adam
//! for the word-embedding rows a batch touches (PyTorch's `SparseAdam` formula), plus the
//! global gradient-norm clipping and learning-rate schedule both share.
//!
//! Why our own: parameter groups (no decay on biases and norms), one clipping norm across dense
//! and sparse gradients (PyTorch's `clip_grad_norm_`), and optimizer state we can save and
//! restore bit for bit for exact resume.

use std::collections::{BTreeMap, HashMap};

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use crate::config::{Decay, OptimizerSection};

/// Learning rate at optimisation step `step` (0-based) of `total`: linear warm-up from 0, then
/// the configured decay, exactly like `transformers.get_linear_schedule_with_warmup` (whose first
/// update also uses the warm-up's lr of 0 × peak when warm-up is on).
pub fn learning_rate(config: &OptimizerSection, step: u64, total: u64) -> f64 {
    let warmup = (config.warmup_ratio * total as f64).ceil() as u64;
    if step < warmup {
        return config.lr * step as f64 / warmup.max(1) as f64;
    }
    let progress = (step - warmup) as f64 / (total - warmup).max(1) as f64;
    match config.decay {
        Decay::Constant => config.lr,
        Decay::Linear => config.lr * (1.0 - progress).max(0.0),
        Decay::Cosine => config.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress.min(1.0)).cos()),
    }
}

/// First and second moments of one dense parameter, flattened.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per parameter (~200): the size does not matter
enum Moments {
    /// On the parameter's device (GPU backends: no host round trip per step).
    Device { m: Tensor<1>, v: Tensor<1> },
    /// On the host (CPU backends), updated with the parameter in one fused, multi-threaded pass.
    Host { m: Vec<f32>, v: Vec<f32> },
}

/// Dense AdamW state, keyed by module path (stable across processes, unlike `ParamId`s).
#[derive(Debug)]
pub struct AdamW {
    moments: HashMap<String, Moments>,
    /// Whether updates run on the host (see [`AdamW::new`]).
    host: bool,
    /// Updates applied so far (for bias correction).
    pub steps: u64,
}

/// Sum of squared gradient entries of every parameter with a gradient (for clipping).
pub fn grad_sq_norm<M: burn::module::Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let sq = grad.square().sum();
                self.total = Some(match self.total.take() {
                    Some(t) => t + sq,
                    None => sq,
                });
            }
        }
    }
    let mut visitor = Norm { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map_or(0.0, |t| t.into_scalar::<f32>() as f64)
}

impl AdamW {
    /// Empty state. `host`: keep the moments on the host and update each parameter in one fused
    /// pass over both cores — for CPU backends, where Burn's element-wise ops make about fifteen
    /// passes over every parameter (e5-small: 21M dense values), each on one thread and into a
    /// freshly allocated buffer. GPU backends keep everything on the device.
    pub fn new(host: bool) -> Self {
        Self { moments: HashMap::new(), host, steps: 0 }
    }

    /// Applies one update to every parameter of `model` that has a gradient in `grads`, with
    /// learning rate `lr` and gradients scaled by `grad_scale` (clipping).
    pub fn step<M: burn::module::Module>(
        &mut self,
        config: &OptimizerSection,
        model: M,
        grads: &mut GradientsParams,
        lr: f64,
        grad_scale: f64,
    ) -> M {
        self.steps += 1;
        let mut mapper = Mapper { adam: self, config, grads, lr, grad_scale, path: Vec::new() };
        model.map(&mut mapper)
    }

    /// The moments as host tensors, named `<path>.m` / `<path>.v` (for checkpoints).
    pub fn export(&self) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
        let host = |t: &Tensor<1>| t.to_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
        let mut out = BTreeMap::new();
        for (path, moments) in &self.moments {
            let (m, v) = match moments {
                Moments::Device { m, v } => (host(m), host(v)),
                Moments::Host { m, v } => (m.clone(), v.clone()),
            };
            for (suffix, data) in [("m", m), ("v", v)] {
                out.insert(format!("{path}.{suffix}"), (vec![data.len()], data));
            }
        }
        out
    }

    /// Restores moments exported by [`Self::export`], on the host or onto `device` (see
    /// [`Self::new`]).
    pub fn import(
        tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        steps: u64,
        device: &burn::tensor::Device,
        host: bool,
    ) -> Self {
        let mut moments = HashMap::new();
        for (name, (_, m)) in tensors {
            if let Some(path) = name.strip_suffix(".m") {
                let v = &tensors[&format!("{path}.v")].1;
                let restored = if host {
                    Moments::Host { m: m.clone(), v: v.clone() }
                } else {
                    let on_device = |x: &Vec<f32>| Tensor::from_data(TensorData::new(x.clone(), [x.len()]), device);
                    Moments::Device { m: on_device(m), v: on_device(v) }
                };
                moments.insert(path.to_string(), restored);
            }
        }
        Self { moments, host, steps }
    }
}

/// One update's constants, each rounded to f32 exactly as Burn rounds a scalar operand, so the
/// host and device paths compute the same bits.
#[derive(Clone, Copy)]
struct Update {
    grad_scale: f32,
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    /// `1 − lr·wd`, when the parameter decays.
    decay: Option<f32>,
    sqrt_bias2: f32,
    eps: f32,
    step_size: f32,
}

impl Update {
    fn new(config: &OptimizerSection, steps: u64, lr: f64, decay: f64, grad_scale: f64) -> Self {
        let t = steps as i32;
        let bias1 = 1.0 - config.beta1.powi(t);
        let bias2 = 1.0 - config.beta2.powi(t);
        Self {
            grad_scale: grad_scale as f32,
            beta1: config.beta1 as f32,
            one_minus_beta1: (1.0 - config.beta1) as f32,
            beta2: config.beta2 as f32,
            one_minus_beta2: (1.0 - config.beta2) as f32,
            decay: (decay > 0.0).then_some((1.0 - lr * decay) as f32),
            sqrt_bias2: bias2.sqrt() as f32,
            eps: config.eps as f32,
            step_size: (lr / bias1) as f32,
        }
    }

    /// PyTorch AdamW with Burn's tensor ops: `p ← p·(1 − lr·wd)`, then
    /// `p ← p − (lr / bias1) · m / (√v / √bias2 + ε)`; `moments` is `None` before the first update.
    fn on_device(&self, p: Tensor<1>, g: Tensor<1>, moments: Option<(Tensor<1>, Tensor<1>)>) -> [Tensor<1>; 3] {
        let n = p.shape().num_elements();
        let (m, v) = moments.unwrap_or_else(|| (Tensor::zeros([n], &p.device()), Tensor::zeros([n], &p.device())));
        let g = g * self.grad_scale;
        let m = m * self.beta1 + g.clone() * self.one_minus_beta1;
        let v = v * self.beta2 + g.square() * self.one_minus_beta2;
        let p = match self.decay {
            Some(keep) => p * keep,
            None => p,
        };
        let denom = v.clone().sqrt() / self.sqrt_bias2 + self.eps;
        let p = p - m.clone() / denom * self.step_size;
        [p, m, v]
    }

    /// The same update on host slices, in place, split across threads: one pass instead of
    /// fifteen, with the device path's f32 operations in the device path's order.
    fn on_host(&self, p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        const CHUNK: usize = 1 << 15;
        let u = *self;
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m).zip(v) {
                    let g = g * u.grad_scale;
                    *m = *m * u.beta1 + g * u.one_minus_beta1;
                    *v = *v * u.beta2 + g * g * u.one_minus_beta2;
                    if let Some(keep) = u.decay {
                        *p *= keep;
                    }
                    let denom = v.sqrt() / u.sqrt_bias2 + u.eps;
                    *p -= *m / denom * u.step_size;
                }
            });
    }
}

struct Mapper<'a> {
    adam: &'a mut AdamW,
    config: &'a OptimizerSection,
    grads: &'a mut GradientsParams,
    lr: f64,
    grad_scale: f64,
    path: Vec<String>,
}

impl ModuleMapper for Mapper<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let path = self.path.join(".");
        let c = self.config;
        let decay = if c.no_decay.iter().any(|p| path.contains(p.as_str())) { 0.0 } else { c.weight_decay };
        let update = Update::new(c, self.adam.steps, self.lr, decay, self.grad_scale);
        let shape = tensor.shape();
        let require_grad = tensor.is_require_grad();
        let value = tensor.inner();
        let device = value.device();
        let n = shape.num_elements();
        let previous = self.adam.moments.remove(&path);
        let (updated, moments) = if self.adam.host {
            let (mut m, mut v) = match previous {
                Some(Moments::Host { m, v }) => (m, v),
                Some(Moments::Device { .. }) => unreachable!("a host AdamW only holds host moments"),
                None => (vec![0.0; n], vec![0.0; n]),
            };
            // Unique f32 tensors on a CPU backend hand over their buffers without a copy.
            let mut p = value.into_data().convert::<f32>();
            let g = grad.into_data().convert::<f32>();
            let (ps, gs) = (p.as_mut_slice::<f32>().expect("f32 weights"), g.as_slice::<f32>().expect("f32 grads"));
            update.on_host(ps, gs, &mut m, &mut v);
            (Tensor::from_data(p, &device), Moments::Host { m, v })
        } else {
            let previous = match previous {
                Some(Moments::Device { m, v }) => Some((m, v)),
                Some(Moments::Host { .. }) => unreachable!("a device AdamW only holds device moments"),
                None => None,
            };
            let [p, m, v] = update.on_device(value.reshape([n]), grad.reshape([n]), previous);
            (p.reshape(shape), Moments::Device { m, v })
        };
        self.adam.moments.insert(path, moments);
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// The word-embedding matrix on the host with lazy Adam moments: each step touches only the rows
/// of the batch's tokens (a few thousand of 250k), instead of a dense update of 96M values.
#[derive(Debug, Clone)]
pub struct SparseEmbedding {
    /// Rows.
    pub rows: usize,
    /// Row width.
    pub dim: usize,
    /// `[rows, dim]` values.
    pub weight: Vec<f32>,
    m: Vec<f32>,
    v: Vec<f32>,
    /// Updates applied (bias correction, as `SparseAdam`'s per-parameter step).
    pub steps: u64,
}

impl SparseEmbedding {
    /// Wraps a `[rows, dim]` matrix with zero moments.
    pub fn new(rows: usize, dim: usize, weight: Vec<f32>) -> Self {
        assert_eq!(weight.len(), rows * dim);
        Self { rows, dim, m: vec![0.0; weight.len()], v: vec![0.0; weight.len()], weight, steps: 0 }
    }

    /// Rows for `ids`, concatenated.
    pub fn gather(&self, ids: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(ids.len() * self.dim);
        for &id in ids {
            let r = id as usize * self.dim;
            out.extend_from_slice(&self.weight[r..r + self.dim]);
        }
        out
    }

    /// One lazy-Adam update of the rows in `grads` (PyTorch `SparseAdam`'s formula; no decay).
    pub fn step(&mut self, config: &OptimizerSection, grads: &BTreeMap<u32, Vec<f32>>, lr: f64, grad_scale: f64) {
        self.steps += 1;
        let t = self.steps as i32;
        let (b1, b2, eps) = (config.beta1 as f32, config.beta2 as f32, config.eps as f32);
        let step_size = (lr * (1.0 - config.beta2.powi(t)).sqrt() / (1.0 - config.beta1.powi(t))) as f32;
        let scale = grad_scale as f32;
        for (&row, grad) in grads {
            let rows = row as usize * self.dim..(row as usize + 1) * self.dim;
            let (weight, m, v) = (&mut self.weight[rows.clone()], &mut self.m[rows.clone()], &mut self.v[rows]);
            for (((g, w), m), v) in grad.iter().zip(weight).zip(m).zip(v) {
                let g = g * scale;
                *m += (g - *m) * (1.0 - b1);
                *v += (g * g - *v) * (1.0 - b2);
                *w -= step_size * *m / (v.sqrt() + eps);
            }
        }
    }

    /// Moments, for checkpoints.
    pub fn moments(&self) -> (&[f32], &[f32]) {
        (&self.m, &self.v)
    }

    /// Restores moments and step count saved by a checkpoint.
    pub fn restore_moments(&mut self, m: Vec<f32>, v: Vec<f32>, steps: u64) {
        assert_eq!(m.len(), self.weight.len());
        assert_eq!(v.len(), self.weight.len());
        self.m = m;
        self.v = v;
        self.steps = steps;
    }
}

/// Accumulates per-token embedding gradients `[tokens, dim]` (row `i` for token `ids[i]`) into
/// per-row sums.
pub fn accumulate_rows(into: &mut BTreeMap<u32, Vec<f32>>, ids: &[u32], grad: &[f32]) {
    let dim = grad.len() / ids.len().max(1);
    for (i, &id) in ids.iter().enumerate() {
        let row = into.entry(id).or_insert_with(|| vec![0.0; dim]);
        for (acc, g) in row.iter_mut().zip(&grad[i * dim..(i + 1) * dim]) {
            *acc += g;
        }
    }
}

/// Sum of squares of accumulated row gradients (the sparse part of the clipping norm).
pub fn rows_sq_norm(rows: &BTreeMap<u32, Vec<f32>>) -> f64 {
    rows.values().flatten().map(|&g| f64::from(g) * f64::from(g)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_matches_transformers_linear_with_warmup() {
        let config = OptimizerSection { lr: 1.0, warmup_ratio: 0.1, ..Default::default() };
        assert_eq!(learning_rate(&config, 0, 100), 0.0);
        assert!((learning_rate(&config, 5, 100) - 0.5).abs() < 1e-12);
        assert_eq!(learning_rate(&config, 10, 100), 1.0);
        assert!((learning_rate(&config, 55, 100) - 0.5).abs() < 1e-12);
        assert!(learning_rate(&config, 99, 100) > 0.0);
        let cosine = OptimizerSection { decay: Decay::Cosine, warmup_ratio: 0.0, lr: 1.0, ..Default::default() };
        assert!((learning_rate(&cosine, 50, 100) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn sparse_adam_matches_hand_computed_first_step() {
        let config = OptimizerSection { beta1: 0.9, beta2: 0.999, eps: 1e-8, ..Default::default() };
        let mut table = SparseEmbedding::new(3, 2, vec![1.0; 6]);
        let grads = BTreeMap::from([(1u32, vec![0.5, -2.0])]);
        table.step(&config, &grads, 0.1, 1.0);
        // First Adam step moves each touched entry by lr·sign(g) (up to ε).
        assert_eq!(&table.weight[0..2], &[1.0, 1.0]);
        assert!((table.weight[2] - 0.9).abs() < 1e-6, "{}", table.weight[2]);
        assert!((table.weight[3] - 1.1).abs() < 1e-6, "{}", table.weight[3]);
        assert_eq!(&table.weight[4..6], &[1.0, 1.0]);
    }

    /// A weight that decays and a bias that does not (`no_decay` holds "bias").
    #[derive(burn::module::Module, Debug)]
    struct Toy {
        weight: Param<Tensor<2>>,
        bias: Param<Tensor<1>>,
    }

    fn toy(device: &burn::tensor::Device) -> Toy {
        let values = |n: usize, phase: f32| (0..n).map(|i| (i as f32 * 0.7 + phase).sin()).collect::<Vec<f32>>();
        let weight = Tensor::from_data(TensorData::new(values(6, 0.1), [2, 3]), device).require_grad();
        let bias = Tensor::from_data(TensorData::new(values(3, 0.5), [3]), device).require_grad();
        Toy { weight: Param::from_tensor(weight), bias: Param::from_tensor(bias) }
    }

    /// One step with gradients that differ from step to step and include zeros and signs.
    fn step(
        adam: &mut AdamW,
        config: &OptimizerSection,
        model: Toy,
        step: usize,
        device: &burn::tensor::Device,
    ) -> Toy {
        let grad = |n: usize| (0..n).map(|i| ((i + step) % 3) as f32 - 1.0 + 0.25 * step as f32).collect::<Vec<f32>>();
        let mut grads = GradientsParams::new();
        grads.register(model.weight.id, Tensor::<2>::from_data(TensorData::new(grad(6), [2, 3]), device));
        grads.register(model.bias.id, Tensor::<1>::from_data(TensorData::new(grad(3), [3]), device));
        adam.step(config, model, &mut grads, 1e-2 * (step + 1) as f64, 0.5)
    }

    fn values(model: &Toy) -> Vec<u32> {
        let weight = model.weight.val().into_data().try_into_vec::<f32>().unwrap();
        let bias = model.bias.val().into_data().try_into_vec::<f32>().unwrap();
        weight.into_iter().chain(bias).map(f32::to_bits).collect()
    }

    #[test]
    fn host_and_device_updates_give_the_same_bits_and_checkpoints_move_between_them() {
        use polyret_encoder::BackendKind;
        let device = BackendKind::Flex.device();
        let ad = device.clone().autodiff();
        let config = OptimizerSection { weight_decay: 0.1, ..Default::default() };
        let (mut on_device, mut on_host) = (AdamW::new(false), AdamW::new(true));
        let (mut a, mut b) = (toy(&ad), toy(&ad));
        let start = values(&a);
        for i in 0..3 {
            a = step(&mut on_device, &config, a, i, &device);
            b = step(&mut on_host, &config, b, i, &device);
            assert_eq!(values(&a), values(&b), "step {i}");
            assert_eq!(on_device.export(), on_host.export(), "moments after step {i}");
        }
        assert_ne!(values(&a), start);
        // A checkpoint written by either path resumes on the other.
        let (mut to_host, mut to_device) = (
            AdamW::import(&on_device.export(), on_device.steps, &device, true),
            AdamW::import(&on_host.export(), on_host.steps, &device, false),
        );
        a = step(&mut to_host, &config, a, 3, &device);
        b = step(&mut to_device, &config, b, 3, &device);
        assert_eq!(values(&a), values(&b));
        assert_eq!(to_host.export(), to_device.export());
    }

    #[test]
    fn first_host_update_is_decay_then_lr_times_sign() {
        use polyret_encoder::BackendKind;
        let device = BackendKind::Flex.device();
        let config = OptimizerSection { weight_decay: 0.1, ..Default::default() };
        let model = toy(&device.clone().autodiff());
        let before: Vec<f32> = values(&model).into_iter().map(f32::from_bits).collect();
        let after: Vec<f32> =
            values(&step(&mut AdamW::new(true), &config, model, 0, &device)).into_iter().map(f32::from_bits).collect();
        // Step 0's gradients are -1, 0, 1, … and its lr 0.01; the weight (first 6) decays, the bias not.
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            let g = (i % 3) as f32 - 1.0;
            let keep = if i < 6 { 1.0 - 0.01 * 0.1 } else { 1.0 };
            let expected = b * keep - 0.01 * g.signum() * (g != 0.0) as i32 as f32;
            assert!((a - expected).abs() < 1e-6, "value {i}: {a} vs {expected}");
        }
    }

    #[test]
    fn row_gradients_sum_duplicate_tokens() {
        let mut rows = BTreeMap::new();
        accumulate_rows(&mut rows, &[4, 4, 7], &[1.0, 2.0, 3.0, 4.0, 0.5, 0.5]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[&4], vec![4.0, 6.0]);
        assert_eq!(rows[&7], vec![0.5, 0.5]);
        assert_eq!(rows_sq_norm(&rows), 52.5);
    }
}
