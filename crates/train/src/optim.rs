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
struct Moments {
    m: Tensor<1>,
    v: Tensor<1>,
}

/// Dense AdamW state, keyed by module path (stable across processes, unlike `ParamId`s).
#[derive(Default, Debug)]
pub struct AdamW {
    moments: HashMap<String, Moments>,
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
        let mut out = BTreeMap::new();
        for (path, moments) in &self.moments {
            for (suffix, t) in [("m", &moments.m), ("v", &moments.v)] {
                let data = t.to_data().convert::<f32>().try_into_vec::<f32>().expect("f32");
                out.insert(format!("{path}.{suffix}"), (vec![data.len()], data));
            }
        }
        out
    }

    /// Restores moments exported by [`Self::export`] onto `device`.
    pub fn import(
        tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
        steps: u64,
        device: &burn::tensor::Device,
    ) -> Self {
        let mut moments = HashMap::new();
        for (name, (_, data)) in tensors {
            if let Some(path) = name.strip_suffix(".m") {
                let v = &tensors[&format!("{path}.v")].1;
                let m = Tensor::from_data(TensorData::new(data.clone(), [data.len()]), device);
                let v = Tensor::from_data(TensorData::new(v.clone(), [v.len()]), device);
                moments.insert(path.to_string(), Moments { m, v });
            }
        }
        Self { moments, steps }
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
        let shape = tensor.shape();
        let require_grad = tensor.is_require_grad();
        let value = tensor.inner();
        let device = value.device();
        let n = shape.num_elements();
        let grad = grad.reshape([n]) * self.grad_scale;
        let moments = self
            .adam
            .moments
            .remove(&path)
            .unwrap_or_else(|| Moments { m: Tensor::zeros([n], &device), v: Tensor::zeros([n], &device) });
        let m = moments.m * c.beta1 + grad.clone() * (1.0 - c.beta1);
        let v = moments.v * c.beta2 + grad.square() * (1.0 - c.beta2);
        let t = self.adam.steps as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        let decay = if c.no_decay.iter().any(|p| path.contains(p.as_str())) { 0.0 } else { c.weight_decay };
        // PyTorch AdamW: p ← p·(1 − lr·wd);  p ← p − (lr / bias1) · m / (√v / √bias2 + ε)
        let mut flat = value.reshape([n]);
        if decay > 0.0 {
            flat = flat * (1.0 - self.lr * decay);
        }
        let denom = v.clone().sqrt() / bias2.sqrt() + c.eps;
        let updated = flat - m.clone() / denom * (self.lr / bias1);
        self.adam.moments.insert(path, Moments { m, v });
        let mut updated = Tensor::from_inner(updated.reshape(shape));
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
