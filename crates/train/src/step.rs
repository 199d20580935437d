//! One optimisation step: embed a batch's queries and passages, InfoNCE, backward, clip, update.
//!
//! With `chunk_size` set, the step uses GradCache (Gao et al., 2021) so the contrastive batch is
//! not limited by memory: (1) embed every chunk without a graph, (2) compute the loss on all
//! embeddings and its gradient with respect to them, (3) re-embed chunk by chunk with a graph and
//! back-propagate each chunk's embeddings' gradient. A chunk's dropout seed is the same in passes
//! 1 and 3, so its masks match and the gradients are those of the full batch.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use polyret_encoder::{BertModel, Mode, ModelInput, SentenceConfig, pad_batch_to, sentence_embeddings};

use crate::cache::LayerCache;
use crate::config::TrainConfig;
use crate::data::PairTokens;
use crate::loss::info_nce;
use crate::optim::{AdamW, SparseEmbedding, accumulate_rows, grad_sq_norm, rows_sq_norm};

/// The model being trained and everything that updates it.
pub struct Trainee {
    /// The transformer on the autodiff device (frozen parts do not require gradients); `None`
    /// only while the optimizer owns it during an update.
    model: Option<BertModel>,
    /// The word-embedding table, when trained sparsely on the host.
    pub words: Option<SparseEmbedding>,
    /// Cached outputs of the frozen bottom layers, when training on the cache.
    pub cache: Option<LayerCache>,
    /// Dense AdamW state.
    pub adam: AdamW,
    /// Pooling, normalisation, prompts.
    pub sentence: SentenceConfig,
    /// The autodiff device.
    pub device: Device,
    /// Padding token id.
    pub pad_id: u32,
    /// Bottom layers that are frozen (and run without dropout).
    pub frozen_layers: usize,
    /// Dropout in trainable layers.
    pub dropout: bool,
    /// Pad queries and passages to these lengths instead of the batch's longest (ablation only).
    pub pad_to: Option<(usize, usize)>,
}

/// What a step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean InfoNCE of the batch.
    pub loss: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Real (unpadded) tokens embedded, counting GradCache's second pass once.
    pub tokens: usize,
    /// Wall time.
    pub seconds: f64,
}

/// A chunk embedded with a graph, and the leaf whose gradient updates the sparse table (with
/// the token id of each of its rows).
struct Embedded {
    reps: Tensor<2>,
    words: Option<(Tensor<2>, Vec<u32>)>,
}

impl Trainee {
    /// Assembles a trainee; `model` must live on the autodiff `device` with frozen parts
    /// already excluded from gradients.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: BertModel,
        words: Option<SparseEmbedding>,
        cache: Option<LayerCache>,
        adam: AdamW,
        sentence: SentenceConfig,
        device: Device,
        pad_id: u32,
        frozen_layers: usize,
        dropout: bool,
    ) -> Self {
        Self { model: Some(model), words, cache, adam, sentence, device, pad_id, frozen_layers, dropout, pad_to: None }
    }

    /// The model being trained.
    pub fn model(&self) -> &BertModel {
        self.model.as_ref().expect("model is only taken during an update")
    }

    /// Dropout mode of trainable layers for a forward pass seeded with `seed`.
    fn mode(&self, seed: u64) -> Mode {
        if self.dropout { Mode::Train { seed } } else { Mode::Eval }
    }

    /// Embeds `sequences` (already token ids) on `device`, returning pooled sentence vectors.
    /// `graph`: whether to track gradients (the trainable part only); `mode`: dropout in
    /// trainable layers (frozen ones always run without).
    fn embed(
        &self,
        model: &BertModel,
        sequences: &[&[u32]],
        side: Side,
        device: &Device,
        graph: bool,
        mode: Mode,
    ) -> Embedded {
        let min_len = match (self.pad_to, side) {
            (Some((q, _)), Side::Query) => q,
            (Some((_, p)), Side::Passage) => p,
            (None, _) => 0,
        };
        let batch = pad_batch_to(sequences, self.pad_id, min_len);
        let input = ModelInput::new(&batch, model.config(), device);
        let layers = model.layers.len();
        let h = model.config().hidden_size;
        let (hidden, words) = if let Some(cache) = &self.cache {
            let states =
                Tensor::<2>::from_data(TensorData::new(cache.packed_states(sequences), [input.tokens, h]), device);
            (states, None)
        } else {
            let (words, leaf) = match &self.words {
                Some(table) => {
                    let ids: Vec<u32> = sequences.iter().flat_map(|s| s.iter().copied()).collect();
                    let rows = Tensor::<2>::from_data(TensorData::new(table.gather(&ids), [ids.len(), h]), device);
                    let train_rows = graph && self.frozen_layers == 0;
                    let rows = if train_rows { rows.require_grad() } else { rows };
                    (rows.clone(), train_rows.then_some((rows, ids)))
                }
                None => (model.word_embeddings(&input), None),
            };
            let embed_mode = if self.frozen_layers == 0 { mode } else { Mode::Eval };
            let x = model.embed(words, &input, embed_mode);
            (model.encode_layers(x, &input, 0..self.frozen_layers, Mode::Eval), leaf)
        };
        let hidden = model.encode_layers(hidden, &input, self.frozen_layers..layers, mode);
        Embedded { reps: sentence_embeddings(hidden, &input, &self.sentence), words }
    }

    /// One step over `pairs` at learning rate `lr`; `seed` fixes dropout.
    pub fn step(&mut self, config: &TrainConfig, pairs: &[PairTokens<'_>], lr: f64, seed: u64) -> StepStats {
        let started = Instant::now();
        let queries: Vec<&[u32]> = pairs.iter().map(|p| p.query).collect();
        let mut passages: Vec<&[u32]> = pairs.iter().map(|p| p.positive).collect();
        if config.loss.hard_negatives {
            passages.extend(pairs.iter().filter_map(|p| p.negative));
        }
        let tokens = queries.iter().chain(&passages).map(|s| s.len()).sum();
        let (scale, symmetric) = (config.loss.scale, config.loss.symmetric);
        let chunk = config.training.chunk_size;
        let mut word_grads: BTreeMap<u32, Vec<f32>> = BTreeMap::new();
        let (loss, mut grads) = if chunk == 0 || chunk >= queries.len().max(passages.len()) {
            let q = self.embed(self.model(), &queries, Side::Query, &self.device, true, self.mode(seed));
            let p =
                self.embed(self.model(), &passages, Side::Passage, &self.device, true, self.mode(seed ^ PASSAGE_SALT));
            let loss = info_nce(q.reps, p.reps, scale, symmetric);
            let mut g = loss.backward();
            for leaf in [q.words, p.words].into_iter().flatten() {
                self.collect_word_grads(&mut word_grads, leaf, &g);
            }
            (loss.into_scalar::<f32>() as f64, GradientsParams::from_module(&mut g, self.model()))
        } else {
            self.grad_cache_step(&queries, &passages, chunk, scale, symmetric, seed, &mut word_grads)
        };
        let dense = grad_sq_norm(self.model(), &grads);
        let grad_norm = (dense + rows_sq_norm(&word_grads)).sqrt();
        let max = config.optimizer.max_grad_norm;
        let grad_scale = if max > 0.0 && grad_norm > max { max / (grad_norm + 1e-6) } else { 1.0 };
        if loss.is_finite() && grad_norm.is_finite() {
            let model = self.model.take().expect("model present");
            self.model = Some(self.adam.step(&config.optimizer, model, &mut grads, lr, grad_scale));
            if let Some(table) = &mut self.words {
                table.step(&config.optimizer, &word_grads, lr, grad_scale);
            }
        }
        StepStats { loss, grad_norm, tokens, seconds: started.elapsed().as_secs_f64() }
    }

    #[allow(clippy::too_many_arguments)]
    fn grad_cache_step(
        &self,
        queries: &[&[u32]],
        passages: &[&[u32]],
        chunk: usize,
        scale: f64,
        symmetric: bool,
        seed: u64,
        word_grads: &mut BTreeMap<u32, Vec<f32>>,
    ) -> (f64, GradientsParams) {
        let inference = self.model().valid();
        let inner = self.device.clone().without_autodiff();
        let chunk_seed = |side: u64, i: usize| seed ^ side ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Pass 1: embeddings without a graph.
        let embed_all = |seqs: &[&[u32]], side: Side| -> Tensor<2> {
            let parts: Vec<Tensor<2>> = seqs
                .chunks(chunk)
                .enumerate()
                .map(|(i, c)| {
                    self.embed(&inference, c, side, &inner, false, self.mode(chunk_seed(side.salt(), i))).reps
                })
                .collect();
            Tensor::cat(parts, 0)
        };
        let q_all = Tensor::from_inner(embed_all(queries, Side::Query)).require_grad();
        let p_all = Tensor::from_inner(embed_all(passages, Side::Passage)).require_grad();
        // Pass 2: the loss and its gradient with respect to the embeddings.
        let loss = info_nce(q_all.clone(), p_all.clone(), scale, symmetric);
        let g = loss.backward();
        let dq = q_all.grad(&g).expect("query embeddings require grad");
        let dp = p_all.grad(&g).expect("passage embeddings require grad");
        // Pass 3: per chunk, back-propagate <embeddings, their gradient>.
        let mut accumulator = GradientsAccumulator::<BertModel>::new();
        for (seqs, grad, side) in [(queries, dq, Side::Query), (passages, dp, Side::Passage)] {
            for (i, c) in seqs.chunks(chunk).enumerate() {
                let start = i * chunk;
                let g_chunk = Tensor::from_inner(grad.clone().slice(start..start + c.len()));
                let e = self.embed(self.model(), c, side, &self.device, true, self.mode(chunk_seed(side.salt(), i)));
                let surrogate = (e.reps * g_chunk).sum();
                let mut gc = surrogate.backward();
                if let Some(leaf) = e.words {
                    self.collect_word_grads(word_grads, leaf, &gc);
                }
                accumulator.accumulate(self.model(), GradientsParams::from_module(&mut gc, self.model()));
            }
        }
        (loss.into_scalar::<f32>() as f64, accumulator.grads())
    }

    fn collect_word_grads(
        &self,
        into: &mut BTreeMap<u32, Vec<f32>>,
        leaf: (Tensor<2>, Vec<u32>),
        grads: &burn::tensor::Gradients,
    ) {
        let (tensor, ids) = leaf;
        if let Some(grad) = tensor.grad(grads) {
            let values = grad.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 grads");
            accumulate_rows(into, &ids, &values);
        }
    }

    /// Mean InfoNCE over `batches` without gradients or dropout (validation).
    pub fn validation_loss(&self, config: &TrainConfig, batches: &[Vec<PairTokens<'_>>]) -> f64 {
        let inference = self.model().valid();
        let inner = self.device.clone().without_autodiff();
        let mut total = 0.0;
        for pairs in batches {
            let queries: Vec<&[u32]> = pairs.iter().map(|p| p.query).collect();
            let passages: Vec<&[u32]> = pairs.iter().map(|p| p.positive).collect();
            let q = self.embed(&inference, &queries, Side::Query, &inner, false, Mode::Eval).reps;
            let p = self.embed(&inference, &passages, Side::Passage, &inner, false, Mode::Eval).reps;
            total += info_nce(q, p, config.loss.scale, config.loss.symmetric).into_scalar::<f32>() as f64;
        }
        total / batches.len().max(1) as f64
    }
}

/// Which side of the pairs a forward pass embeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Query,
    Passage,
}

impl Side {
    /// Distinguishes the two sides' dropout seeds.
    fn salt(self) -> u64 {
        match self {
            Side::Query => 0,
            Side::Passage => PASSAGE_SALT,
        }
    }
}

/// Distinguishes the passage side's dropout seeds from the query side's.
const PASSAGE_SALT: u64 = 0x5151_5151_5151_5151;
