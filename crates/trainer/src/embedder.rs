//! Evaluating a model whose bottom layers are frozen: embeddings computed from the frozen-layer
//! cache through the top layers only. With the original weights this gives exactly the base
//! model's embeddings (frozen layers run without dropout either way), so the zero-shot reference
//! and the fine-tuned models are measured through the same path.

use std::sync::Mutex;

use burn::tensor::{Device, Tensor, TensorData};
use polyret_encoder::{
    BatchLimits, BertModel, Mode, ModelInput, SentenceConfig, TextTokenizer, length_sorted_batches, pad_batch,
    sentence_embeddings,
};
use polyret_evaluator::{Embedder, EvalError, Role};

use polyret_train::LayerCache;

/// An [`Embedder`] over a [`LayerCache`] and a model's top layers.
pub struct CachedEmbedder<'a> {
    /// Inference copy of the model (its bottom layers compute missing cache entries).
    pub model: BertModel,
    /// Shared with the run; grows with new texts.
    pub cache: &'a Mutex<LayerCache>,
    /// Full-length tokenizer (evaluation texts are not truncated to training lengths).
    pub tokenizer: &'a TextTokenizer,
    /// Pooling, normalisation, prompts.
    pub sentence: SentenceConfig,
    /// Inference device.
    pub device: Device,
    /// Identifies the weights (cache key of the evaluator's embedding cache).
    pub fingerprint: String,
}

impl CachedEmbedder<'_> {
    fn run(&self, texts: &[&str], role: Role) -> Vec<f32> {
        let prefix = match role {
            Role::Query => &self.sentence.query_prefix,
            Role::Passage => &self.sentence.passage_prefix,
        };
        let prompted: Vec<String> = texts.iter().map(|t| format!("{prefix}{t}")).collect();
        let refs: Vec<&str> = prompted.iter().map(String::as_str).collect();
        let ids = self.tokenizer.encode(&refs).expect("tokenizer loaded from a valid file");
        let mut cache = self.cache.lock().expect("cache lock");
        cache.extend(&self.model, self.tokenizer.pad_id(), ids.iter().map(Vec::as_slice), &self.device);
        let (dim, layers, start) = (self.model.config().hidden_size, self.model.layers.len(), cache.layer());
        let mut out = vec![0f32; ids.len() * dim];
        for rows in length_sorted_batches(&ids, BatchLimits::default()) {
            let seqs: Vec<&[u32]> = rows.iter().map(|&i| ids[i].as_slice()).collect();
            let batch = pad_batch(&seqs, self.tokenizer.pad_id());
            let input = ModelInput::new(&batch, self.model.config(), &self.device);
            let states = cache.packed_states(&seqs);
            let hidden = Tensor::<2>::from_data(TensorData::new(states, [input.tokens, dim]), &self.device);
            let hidden = self.model.encode_layers(hidden, &input, start..layers, Mode::Eval);
            let pooled = sentence_embeddings(hidden, &input, &self.sentence);
            let values = pooled.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 embeddings");
            for (row, &i) in rows.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&values[row * dim..(row + 1) * dim]);
            }
        }
        out
    }
}

impl Embedder for CachedEmbedder<'_> {
    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn dim(&self) -> usize {
        self.model.config().hidden_size
    }

    fn embed(&self, texts: &[&str], role: Role) -> Result<Vec<f32>, EvalError> {
        Ok(self.run(texts, role))
    }
}
