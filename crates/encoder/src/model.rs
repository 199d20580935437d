//! The BERT / XLM-R encoder as Burn modules: embeddings, post-norm transformer layers, pooler.
//!
//! Layout choices made for speed, invisible at the checkpoint boundary: linear weights are held
//! `[in, out]` (Burn's layout, transposed from HF's `[out, in]`), and the query/key/value
//! projections are fused into one `[hidden, 3·hidden]` matrix so each layer runs one large
//! matmul instead of three. [`BertModel::from_weights`] and [`BertModel::to_weights`] convert from
//! and to HF names and layouts, so the fusion never leaks into saved files.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::activation::{gelu_approximate, relu, softmax, tanh};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use crate::EncoderError;
use crate::config::{Activation, BertConfig};
use crate::kernels::{Int8Weights, Precision};
use crate::ops::{Dropout, splitmix64};
use crate::weights::{LoadReport, NamedTensor, WeightMap};

/// A padded batch of token ids on the host, built by the tokenizer, before it meets a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenBatch {
    /// `[batch, seq_len]` token ids, row-major, padded with the model's pad id.
    pub input_ids: Vec<u32>,
    /// `[batch, seq_len]` 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<u8>,
    /// `[batch, seq_len]` segment ids; `None` means all 0 (single-segment inputs, our case).
    pub token_type_ids: Option<Vec<u32>>,
    /// Sequences in the batch.
    pub batch: usize,
    /// Padded length (the longest sequence of this batch: dynamic padding).
    pub seq_len: usize,
}

impl TokenBatch {
    /// Real (unpadded) length of every sequence.
    pub fn lengths(&self) -> Vec<usize> {
        self.attention_mask
            .chunks_exact(self.seq_len.max(1))
            .map(|row| row.iter().filter(|&&m| m == 1).count())
            .collect()
    }

    /// Real tokens in the batch (what the model actually computes on).
    pub fn real_tokens(&self) -> usize {
        self.attention_mask.iter().filter(|&&m| m == 1).count()
    }
}

/// A [`TokenBatch`] moved to a device, in the *packed* layout the model computes in: the real
/// tokens of all sequences, one after another, as rows of a `[tokens, hidden]` matrix.
///
/// Every part of a transformer layer except attention works token by token, so running the
/// linear layers, LayerNorms, GELU and dropout on real tokens only skips the padding that a
/// `[batch, seq, hidden]` layout computes on (close to half the work for variable-length
/// passages). Attention scatters rows into a padded `[batch, seq]` view and gathers them back.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// `[tokens]` token ids of the real tokens, sequence after sequence.
    pub token_ids: Tensor<1, Int>,
    /// `[tokens]` position ids (BERT counts from 0; XLM-R from `pad + 1`).
    pub position_ids: Tensor<1, Int>,
    /// `[tokens]` segment ids, when any is not 0.
    pub token_type_ids: Option<Tensor<1, Int>>,
    /// `[batch · seq]`: for each padded slot, its row in the packed matrix, or `tokens` (a zero
    /// row appended for the purpose) for padding.
    pub scatter_index: Tensor<1, Int>,
    /// `[tokens]`: the padded slot (`b · seq + i`) of each packed row.
    pub gather_index: Tensor<1, Int>,
    /// `[batch, tokens]`: `1 / length` where a token belongs to a sequence (mean pooling).
    pub pool_weights: Tensor<2>,
    /// `[batch]`: the packed row of each sequence's first token (CLS pooling).
    pub first_token: Tensor<1, Int>,
    /// `[batch, 1, 1, seq]` 0 for tokens, a large negative number for padding (added to scores).
    pub attention_bias: Tensor<4>,
    /// Whether any sequence is padded; when none is, the bias is skipped.
    pub padded: bool,
    /// Sequences.
    pub batch: usize,
    /// Padded length.
    pub seq_len: usize,
    /// Real tokens (rows of the packed matrix).
    pub tokens: usize,
}

/// Added to attention scores of padding keys: `exp` of it underflows to exactly 0 in f32.
const MASKED_SCORE: f32 = -1.0e9;

impl ModelInput {
    /// Uploads `batch` to `device`, computing position ids for `config`'s architecture.
    pub fn new(batch: &TokenBatch, config: &BertConfig, device: &Device) -> Self {
        let (b, l) = (batch.batch, batch.seq_len);
        let offset = config.position_offset() as i64;
        let lengths = batch.lengths();
        let tokens: usize = lengths.iter().sum();
        let mut token_ids = Vec::with_capacity(tokens);
        let mut positions = Vec::with_capacity(tokens);
        let mut types = Vec::with_capacity(tokens);
        let mut gather = Vec::with_capacity(tokens);
        let mut scatter = vec![tokens as i64; b * l];
        let mut pool = vec![0f32; b * tokens];
        let mut first = Vec::with_capacity(b);
        let mut bias = vec![MASKED_SCORE; b * l];
        let mut row = 0usize;
        for (s, &len) in lengths.iter().enumerate() {
            // Real tokens are a prefix of each padded row (right padding).
            debug_assert!(batch.attention_mask[s * l..s * l + len].iter().all(|&m| m == 1));
            first.push(row as i64);
            for i in 0..len {
                let slot = s * l + i;
                token_ids.push(i64::from(batch.input_ids[slot]));
                positions.push(offset + i as i64);
                types.push(batch.token_type_ids.as_ref().map_or(0, |t| i64::from(t[slot])));
                gather.push(slot as i64);
                scatter[slot] = row as i64;
                pool[s * tokens + row] = 1.0 / len as f32;
                bias[slot] = 0.0;
                row += 1;
            }
        }
        let int1 = |v: Vec<i64>| Tensor::<1, Int>::from_data(TensorData::new(v.clone(), [v.len()]), device);
        Self {
            token_type_ids: types.iter().any(|&t| t != 0).then(|| int1(types)),
            token_ids: int1(token_ids),
            position_ids: int1(positions),
            scatter_index: int1(scatter),
            gather_index: int1(gather),
            pool_weights: Tensor::from_data(TensorData::new(pool, [b, tokens]), device),
            first_token: int1(first),
            attention_bias: Tensor::from_data(TensorData::new(bias, [b, 1, 1, l]), device),
            padded: lengths.iter().any(|&n| n < l),
            batch: b,
            seq_len: l,
            tokens,
        }
    }

    /// `[tokens, width]` packed rows → `[batch, seq, width]`, zeros at padding.
    pub fn unpack(&self, packed: Tensor<2>) -> Tensor<3> {
        let [_, width] = packed.dims();
        let zero = Tensor::<2>::zeros([1, width], &packed.device());
        Tensor::cat(vec![packed, zero], 0).select(0, self.scatter_index.clone()).reshape([
            self.batch,
            self.seq_len,
            width,
        ])
    }

    /// `[batch, seq, width]` → `[tokens, width]`, dropping padding.
    pub fn pack(&self, padded: Tensor<3>) -> Tensor<2> {
        let [b, l, width] = padded.dims();
        padded.reshape([b * l, width]).select(0, self.gather_index.clone())
    }
}

/// Whether dropout is active. Inference passes `Eval`; the trainer passes `Train` with a seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Dropout off.
    Eval,
    /// Dropout on, with the config's probabilities. Masks are a pure function of `seed` and the
    /// dropout site, so a forward pass can be replayed exactly (GradCache, resumed runs) on any
    /// backend.
    Train {
        /// Seed of this forward pass's masks.
        seed: u64,
    },
}

/// Applies dropout at `site` (a number unique to the call site within one forward pass).
fn dropout<const D: usize>(x: Tensor<D>, p: f64, mode: Mode, site: u64) -> Tensor<D> {
    let Mode::Train { seed } = mode else { return x };
    if p <= 0.0 {
        return x;
    }
    let shape = x.shape();
    if !crate::ops::fused_kernels() {
        let keep = Tensor::<D>::random(shape, Distribution::Bernoulli(1.0 - p), &x.device());
        return x * keep / (1.0 - p);
    }
    let mask = Dropout::new(p, splitmix64(seed ^ splitmix64(site))).mask(shape.num_elements());
    let mask = Tensor::<D>::from_data(TensorData::new(mask, shape), &x.device());
    crate::ops::mul(x, mask)
}

/// Word + position + token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct Embeddings {
    /// `[vocab, hidden]`.
    pub word: Param<Tensor<2>>,
    /// `[max_positions, hidden]`.
    pub position: Param<Tensor<2>>,
    /// `[type_vocab, hidden]`; inputs are single segments, so only row 0 is used.
    pub token_type: Param<Tensor<2>>,
    /// Output LayerNorm.
    pub norm: LayerNorm,
}

/// Self-attention with its output projection, residual and LayerNorm (post-norm).
#[derive(Module, Debug)]
pub struct Attention {
    /// Fused query/key/value projection, `[hidden, 3·hidden]`.
    pub qkv: Linear,
    /// Output projection.
    pub output: Linear,
    /// Post-residual LayerNorm.
    pub norm: LayerNorm,
    heads: usize,
}

/// Feed-forward block with residual and LayerNorm (post-norm).
#[derive(Module, Debug)]
pub struct FeedForward {
    /// `hidden → intermediate`.
    pub intermediate: Linear,
    /// `intermediate → hidden`.
    pub output: Linear,
    /// Post-residual LayerNorm.
    pub norm: LayerNorm,
}

/// One transformer layer.
#[derive(Module, Debug)]
pub struct Layer {
    /// Attention sub-block.
    pub attention: Attention,
    /// Feed-forward sub-block.
    pub ffn: FeedForward,
}

/// A BERT-family encoder (BERT, XLM-R, multilingual-e5, LaBSE, MiniLM).
#[derive(Module, Debug)]
pub struct BertModel {
    /// Input embeddings.
    pub embeddings: Embeddings,
    /// Transformer layers, bottom first.
    pub layers: Vec<Layer>,
    /// `tanh(W·h_cls + b)` head of BERT checkpoints; absent in e5.
    pub pooler: Option<Linear>,
    #[module(skip)]
    config: BertConfig,
    #[module(skip)]
    precision: Precision,
    /// The layers' linears quantized for [`Precision::Int8`], made once by
    /// [`BertModel::set_precision`].
    #[module(skip)]
    int8: Option<Arc<Vec<QuantizedLayer>>>,
}

/// One layer's four linears as int8, with their biases on the host.
#[derive(Debug)]
struct QuantizedLayer {
    qkv: QuantizedLinear,
    attention_output: QuantizedLinear,
    intermediate: QuantizedLinear,
    output: QuantizedLinear,
}

#[derive(Debug)]
struct QuantizedLinear {
    weights: Int8Weights,
    bias: Option<Vec<f32>>,
}

impl QuantizedLinear {
    fn new(linear: &Linear) -> Self {
        let [k, n] = linear.weight.dims();
        let weights = Int8Weights::quantize(&host(linear.weight.val()).data, k, n);
        Self { weights, bias: linear.bias.as_ref().map(|b| host(b.val()).data) }
    }

    /// `x · W + b` on the host, `[tokens, out]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let device = x.device();
        let [m, _] = x.dims();
        let input = x.into_data().convert::<f32>();
        let input = input.as_slice::<f32>().expect("f32 activations");
        let n = self.weights.output_dim();
        let mut out = vec![0f32; m * n];
        self.weights.linear(input, self.bias.as_deref(), &mut out);
        Tensor::from_data(TensorData::new(out, [m, n]), &device)
    }
}

/// How one forward pass runs its linear layers.
#[derive(Clone, Copy)]
enum Products<'a> {
    F32,
    Bf16,
    Int8(&'a QuantizedLayer),
}

impl Products<'_> {
    fn linear(self, linear: &Linear, x: Tensor<2>, pick: fn(&QuantizedLayer) -> &QuantizedLinear) -> Tensor<2> {
        match self {
            Products::F32 => linear.forward(x),
            Products::Bf16 => {
                let y = crate::ops::matmul(x, linear.weight.val(), true);
                match &linear.bias {
                    Some(bias) => y + bias.val().unsqueeze(),
                    None => y,
                }
            }
            Products::Int8(layer) => pick(layer).forward(x),
        }
    }

    /// Columns `cols` of [`Self::linear`]'s output, computed from those columns of the weight
    /// and bias only (training; the int8 path is inference-only and has no column blocks).
    fn linear_columns(self, linear: &Linear, x: Tensor<2>, cols: Range<usize>) -> Tensor<2> {
        let weight = linear.weight.val();
        let rows = weight.dims()[0];
        let weight = weight.slice([0..rows, cols.clone()]);
        let y = match self {
            Products::F32 => x.matmul(weight),
            Products::Bf16 => crate::ops::matmul(x, weight, true),
            Products::Int8(_) => unreachable!("Attention::forward keeps int8 products fused"),
        };
        match &linear.bias {
            Some(bias) => y + bias.val().slice([cols]).unsqueeze(),
            None => y,
        }
    }
}

fn layer_norm(width: usize, eps: f64, device: &Device) -> LayerNorm {
    LayerNormConfig::new(width).with_epsilon(eps).init(device)
}

impl BertModel {
    /// A randomly initialised model (for tests and training from scratch).
    pub fn new(config: &BertConfig, device: &Device) -> Self {
        let (h, eps) = (config.hidden_size, config.layer_norm_eps);
        let table =
            |rows: usize| Param::from_tensor(Tensor::random([rows, h], Distribution::Normal(0.0, 0.02), device));
        let layers = (0..config.num_hidden_layers)
            .map(|_| Layer {
                attention: Attention {
                    qkv: LinearConfig::new(h, 3 * h).init(device),
                    output: LinearConfig::new(h, h).init(device),
                    norm: layer_norm(h, eps, device),
                    heads: config.num_attention_heads,
                },
                ffn: FeedForward {
                    intermediate: LinearConfig::new(h, config.intermediate_size).init(device),
                    output: LinearConfig::new(config.intermediate_size, h).init(device),
                    norm: layer_norm(h, eps, device),
                },
            })
            .collect();
        Self {
            embeddings: Embeddings {
                word: table(config.vocab_size),
                position: table(config.max_position_embeddings),
                token_type: table(config.type_vocab_size),
                norm: layer_norm(h, eps, device),
            },
            layers,
            pooler: Some(LinearConfig::new(h, h).init(device)),
            config: config.clone(),
            precision: Precision::F32,
            int8: None,
        }
    }

    /// How the layers' linears multiply from now on (see [`Precision`]). [`Precision::Int8`]
    /// quantizes the current weights once (inference only: later weight updates are not seen).
    pub fn set_precision(&mut self, precision: Precision) {
        self.int8 = (precision == Precision::Int8).then(|| {
            Arc::new(
                self.layers
                    .iter()
                    .map(|layer| QuantizedLayer {
                        qkv: QuantizedLinear::new(&layer.attention.qkv),
                        attention_output: QuantizedLinear::new(&layer.attention.output),
                        intermediate: QuantizedLinear::new(&layer.ffn.intermediate),
                        output: QuantizedLinear::new(&layer.ffn.output),
                    })
                    .collect(),
            )
        });
        self.precision = precision;
    }

    /// How the layers' linears multiply.
    pub fn precision(&self) -> Precision {
        self.precision
    }

    fn products(&self, layer: usize) -> Products<'_> {
        match (self.precision, &self.int8) {
            (Precision::Int8, Some(layers)) => Products::Int8(&layers[layer]),
            (Precision::Bf16, _) => Products::Bf16,
            _ => Products::F32,
        }
    }

    /// The HF config this model was built from.
    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Builds the model from HF-named weights. Every missing tensor is reported at once; unused
    /// ones come back in the [`LoadReport`].
    pub fn from_weights(
        config: &BertConfig,
        mut weights: WeightMap,
        device: &Device,
    ) -> Result<(Self, LoadReport), EncoderError> {
        let (h, ff) = (config.hidden_size, config.intermediate_size);
        let w = &mut weights;
        let embeddings = Embeddings {
            word: param(w.take("embeddings.word_embeddings.weight", &[config.vocab_size, h])?, device),
            position: param(
                w.take("embeddings.position_embeddings.weight", &[config.max_position_embeddings, h])?,
                device,
            ),
            token_type: param(w.take("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?, device),
            norm: load_norm(w, "embeddings.LayerNorm", h, config.layer_norm_eps, device)?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let q = take_linear(w, &format!("{p}.attention.self.query"), h, h)?;
            let k = take_linear(w, &format!("{p}.attention.self.key"), h, h)?;
            let v = take_linear(w, &format!("{p}.attention.self.value"), h, h)?;
            layers.push(Layer {
                attention: Attention {
                    qkv: fuse_linears([q, k, v], device),
                    output: linear(take_linear(w, &format!("{p}.attention.output.dense"), h, h)?, device),
                    norm: load_norm(w, &format!("{p}.attention.output.LayerNorm"), h, config.layer_norm_eps, device)?,
                    heads: config.num_attention_heads,
                },
                ffn: FeedForward {
                    intermediate: linear(take_linear(w, &format!("{p}.intermediate.dense"), ff, h)?, device),
                    output: linear(take_linear(w, &format!("{p}.output.dense"), h, ff)?, device),
                    norm: load_norm(w, &format!("{p}.output.LayerNorm"), h, config.layer_norm_eps, device)?,
                },
            });
        }
        // Layers the config does not build would be dropped silently: a truncated model.
        if let Some(deepest) = w.highest_index("encoder.layer.").filter(|&i| i >= config.num_hidden_layers) {
            return Err(EncoderError::Weights {
                path: w.source().to_owned(),
                message: format!(
                    "the weights have {} layers but the config (num_hidden_layers) builds {}; \
                     the config does not belong to these weights",
                    deepest + 1,
                    config.num_hidden_layers
                ),
            });
        }
        let mut absent = Vec::new();
        let pooler = if w.contains("pooler.dense.weight") {
            Some(linear(take_linear(w, "pooler.dense", h, h)?, device))
        } else {
            absent.push("pooler.dense".to_string());
            None
        };
        let report = weights.finish(absent)?;
        Ok((Self { embeddings, layers, pooler, config: config.clone(), precision: Precision::F32, int8: None }, report))
    }

    /// The weights in HF names and layouts (`[out, in]` linears, separate q/k/v).
    pub fn to_weights(&self) -> BTreeMap<String, NamedTensor> {
        let mut out = BTreeMap::new();
        let e = &self.embeddings;
        out.insert("embeddings.word_embeddings.weight".into(), host(e.word.val()));
        out.insert("embeddings.position_embeddings.weight".into(), host(e.position.val()));
        out.insert("embeddings.token_type_embeddings.weight".into(), host(e.token_type.val()));
        export_norm(&mut out, "embeddings.LayerNorm", &e.norm);
        let h = self.config.hidden_size;
        for (i, layer) in self.layers.iter().enumerate() {
            let p = format!("encoder.layer.{i}");
            let qkv_w = layer.attention.qkv.weight.val();
            let qkv_b = layer.attention.qkv.bias.as_ref().expect("qkv has a bias").val();
            for (j, name) in ["query", "key", "value"].into_iter().enumerate() {
                let cols = j * h..(j + 1) * h;
                let weight = host(qkv_w.clone().slice([0..h, cols.clone()]).transpose());
                out.insert(format!("{p}.attention.self.{name}.weight"), weight);
                out.insert(format!("{p}.attention.self.{name}.bias"), host(qkv_b.clone().slice([cols])));
            }
            export_linear(&mut out, &format!("{p}.attention.output.dense"), &layer.attention.output);
            export_norm(&mut out, &format!("{p}.attention.output.LayerNorm"), &layer.attention.norm);
            export_linear(&mut out, &format!("{p}.intermediate.dense"), &layer.ffn.intermediate);
            export_linear(&mut out, &format!("{p}.output.dense"), &layer.ffn.output);
            export_norm(&mut out, &format!("{p}.output.LayerNorm"), &layer.ffn.norm);
        }
        if let Some(pooler) = &self.pooler {
            export_linear(&mut out, "pooler.dense", pooler);
        }
        out
    }

    /// Looks up word embeddings of the real tokens, `[tokens, hidden]`.
    pub fn word_embeddings(&self, input: &ModelInput) -> Tensor<2> {
        self.embeddings.word.val().select(0, input.token_ids.clone())
    }

    /// The embedding block's output from already looked-up word embeddings (`[tokens, hidden]`).
    /// The trainer passes rows gathered from its own sparse table here; inference passes
    /// [`Self::word_embeddings`].
    pub fn embed(&self, words: Tensor<2>, input: &ModelInput, mode: Mode) -> Tensor<2> {
        let e = &self.embeddings;
        let [t, h] = words.dims();
        let positions = e.position.val().select(0, input.position_ids.clone());
        let token_type = match &input.token_type_ids {
            Some(ids) => e.token_type.val().select(0, ids.clone()),
            None => e.token_type.val().slice([0..1, 0..h]).expand([t, h]),
        };
        let x = words + positions + token_type;
        dropout(e.norm.forward(x), self.config.hidden_dropout_prob, mode, 0)
    }

    /// Runs transformer layers `range` (e.g. `0..num_layers`, or the top few over cached states)
    /// on packed hidden states `[tokens, hidden]`.
    pub fn encode_layers(
        &self,
        mut hidden: Tensor<2>,
        input: &ModelInput,
        range: Range<usize>,
        mode: Mode,
    ) -> Tensor<2> {
        for (i, layer) in self.layers[range.clone()].iter().enumerate() {
            let index = range.start + i;
            hidden = layer.forward(hidden, input, &self.config, mode, index as u64, self.products(index));
        }
        hidden
    }

    /// The full encoder: last hidden states of the real tokens, packed, `[tokens, hidden]`
    /// ([`ModelInput::unpack`] gives HF's padded `last_hidden_state`).
    pub fn forward(&self, input: &ModelInput, mode: Mode) -> Tensor<2> {
        let x = self.embed(self.word_embeddings(input), input, mode);
        self.encode_layers(x, input, 0..self.layers.len(), mode)
    }

    /// HF's pooler output, `tanh(W·h_cls + b)`, when the checkpoint has one.
    pub fn pooler_output(&self, hidden: Tensor<2>, input: &ModelInput) -> Option<Tensor<2>> {
        self.pooler.as_ref().map(|pooler| tanh(pooler.forward(cls(hidden, input))))
    }
}

/// First-token states of packed hidden states, `[batch, hidden]`.
pub fn cls(hidden: Tensor<2>, input: &ModelInput) -> Tensor<2> {
    hidden.select(0, input.first_token.clone())
}

/// Mean of each sequence's token states (padding excluded by construction), `[batch, hidden]`.
pub fn mean_pool(hidden: Tensor<2>, input: &ModelInput) -> Tensor<2> {
    input.pool_weights.clone().matmul(hidden)
}

impl Layer {
    /// Dropout sites of layer `index`: `3·index + 1 ..= 3·index + 3` (0 is the embeddings').
    fn forward(
        &self,
        x: Tensor<2>,
        input: &ModelInput,
        config: &BertConfig,
        mode: Mode,
        index: u64,
        products: Products<'_>,
    ) -> Tensor<2> {
        let x = self.attention.forward(x, input, config, mode, 3 * index + 1, products);
        self.ffn.forward(x, config, mode, 3 * index + 3, products)
    }
}

impl Attention {
    fn forward(
        &self,
        x: Tensor<2>,
        input: &ModelInput,
        config: &BertConfig,
        mode: Mode,
        site: u64,
        products: Products<'_>,
    ) -> Tensor<2> {
        let [_, h] = x.dims();
        let (b, l) = (input.batch, input.seq_len);
        let (heads, d) = (self.heads, h / self.heads);
        let column_blocks = self.qkv.weight.val().is_require_grad() && !matches!(products, Products::Int8(_));
        let [q, k, v] = if column_blocks {
            // Training: three products against column blocks of the fused weight. Slicing the
            // fused output instead costs three output-sized zero tensors, their slice assignments
            // and two additions in every backward pass; slicing the weight moves that to the
            // [h, 3h] weight. Packed [tokens, h] → padded [b, l, heads, d] → [b, heads, l, d].
            [0, 1, 2].map(|i| {
                let projected = products.linear_columns(&self.qkv, x.clone(), i * h..(i + 1) * h);
                input.unpack(projected).reshape([b, l, heads, d]).swap_dims(1, 2)
            })
        } else {
            // Inference: one wider product. Packed [tokens, 3h] → padded [b, l, 3, heads, d] →
            // [3, b, heads, l, d].
            let qkv = input
                .unpack(products.linear(&self.qkv, x.clone(), |l| &l.qkv))
                .reshape([b, l, 3, heads, d])
                .permute([2, 0, 3, 1, 4]);
            [0, 1, 2].map(|i| qkv.clone().slice_dim(0, i..i + 1).reshape([b, heads, l, d]))
        };
        let scores = q.matmul(k.swap_dims(2, 3));
        let scale = 1.0 / (d as f64).sqrt();
        let probs = if crate::ops::fused_kernels() {
            // The bias is all zeros when nothing is padded; adding it in the fused pass is free.
            crate::ops::attention_softmax(scores, scale as f32, input.attention_bias.clone())
        } else if input.padded {
            softmax(scores * scale + input.attention_bias.clone(), 3)
        } else {
            softmax(scores * scale, 3)
        };
        let probs = dropout(probs, config.attention_probs_dropout_prob, mode, site);
        let context = input.pack(probs.matmul(v).swap_dims(1, 2).reshape([b, l, h]));
        let out = products.linear(&self.output, context, |l| &l.attention_output);
        let out = dropout(out, config.hidden_dropout_prob, mode, site + 1);
        self.norm.forward(out + x)
    }
}

impl FeedForward {
    fn forward(&self, x: Tensor<2>, config: &BertConfig, mode: Mode, site: u64, products: Products<'_>) -> Tensor<2> {
        let inner = products.linear(&self.intermediate, x.clone(), |l| &l.intermediate);
        let inner = match config.hidden_act {
            Activation::Gelu if crate::ops::fused_kernels() => crate::ops::gelu(inner),
            Activation::Gelu => burn::tensor::activation::gelu(inner),
            Activation::GeluTanh => gelu_approximate(inner),
            Activation::Relu => relu(inner),
        };
        let out = dropout(products.linear(&self.output, inner, |l| &l.output), config.hidden_dropout_prob, mode, site);
        self.norm.forward(out + x)
    }
}

// ---- conversion helpers between HF tensors and Burn modules ----

fn param<const D: usize>(t: NamedTensor, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(Tensor::from_data(TensorData::new(t.data, t.shape), device))
}

/// An HF linear: `[out, in]` weight and `[out]` bias, still on the host.
struct HostLinear {
    weight: NamedTensor,
    bias: NamedTensor,
}

fn take_linear(w: &mut WeightMap, prefix: &str, out: usize, inp: usize) -> Result<HostLinear, EncoderError> {
    Ok(HostLinear {
        weight: w.take(&format!("{prefix}.weight"), &[out, inp])?,
        bias: w.take(&format!("{prefix}.bias"), &[out])?,
    })
}

/// Transposes `[out, in]` → `[in, out]` on the host.
fn transpose_host(t: &NamedTensor) -> Vec<f32> {
    let (rows, cols) = (t.shape[0], t.shape[1]);
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = t.data[r * cols + c];
        }
    }
    out
}

fn linear(l: HostLinear, device: &Device) -> Linear {
    fuse_linears([l], device)
}

/// Concatenates linears along their outputs: weights `[in, Σout]`, bias `[Σout]`.
fn fuse_linears<const N: usize>(parts: [HostLinear; N], device: &Device) -> Linear {
    let inp = parts[0].weight.shape[1];
    let outs: Vec<usize> = parts.iter().map(|p| p.weight.shape[0]).collect();
    let total: usize = outs.iter().sum();
    let mut weight = vec![0.0; inp * total];
    let mut bias = Vec::with_capacity(total);
    let mut col = 0;
    for (part, &out) in parts.iter().zip(&outs) {
        let t = transpose_host(&part.weight); // [in, out]
        for r in 0..inp {
            weight[r * total + col..r * total + col + out].copy_from_slice(&t[r * out..(r + 1) * out]);
        }
        bias.extend_from_slice(&part.bias.data);
        col += out;
    }
    Linear {
        weight: Param::from_tensor(Tensor::from_data(TensorData::new(weight, [inp, total]), device)),
        bias: Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [total]), device))),
    }
}

fn load_norm(
    w: &mut WeightMap,
    prefix: &str,
    width: usize,
    eps: f64,
    device: &Device,
) -> Result<LayerNorm, EncoderError> {
    let mut norm = layer_norm(width, eps, device);
    norm.gamma = param(w.take(&format!("{prefix}.weight"), &[width])?, device);
    norm.beta = Some(param(w.take(&format!("{prefix}.bias"), &[width])?, device));
    Ok(norm)
}

fn host<const D: usize>(t: Tensor<D>) -> NamedTensor {
    let shape = t.dims().to_vec();
    let data = t.into_data().convert::<f32>().try_into_vec::<f32>().expect("f32 tensor");
    NamedTensor::new(shape, data)
}

fn export_linear(out: &mut BTreeMap<String, NamedTensor>, prefix: &str, l: &Linear) {
    out.insert(format!("{prefix}.weight"), host(l.weight.val().transpose()));
    if let Some(bias) = &l.bias {
        out.insert(format!("{prefix}.bias"), host(bias.val()));
    }
}

fn export_norm(out: &mut BTreeMap<String, NamedTensor>, prefix: &str, n: &LayerNorm) {
    out.insert(format!("{prefix}.weight"), host(n.gamma.val()));
    if let Some(beta) = &n.beta {
        out.insert(format!("{prefix}.bias"), host(beta.val()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with fewer layers than its weights is an error, not a warning about unused
    /// tensors and a silently truncated model.
    #[test]
    fn a_config_with_fewer_layers_than_the_weights_is_an_error() {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert");
        let text = std::fs::read_to_string(fixture.join("config.json")).unwrap();
        let mut config: BertConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(config.num_hidden_layers, 2);
        config.num_hidden_layers = 1;
        let source = fixture.join("model.safetensors");
        let weights = WeightMap::new(&source, crate::weights::read_safetensors(&source).unwrap());
        let device = crate::BackendKind::Flex.device();
        let Err(err) = BertModel::from_weights(&config, weights, &device) else { panic!("loaded") };
        let err = err.to_string();
        assert!(err.contains("model.safetensors") && err.contains("2 layers") && err.contains("builds 1"), "{err}");
    }

    /// The tiny fixture model on `device`, with its config.
    fn tiny_model(device: &Device) -> (BertConfig, BertModel) {
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert");
        let config = BertConfig::from_file(&fixture.join("config.json")).unwrap();
        let source = fixture.join("model.safetensors");
        let weights = WeightMap::new(&source, crate::weights::read_safetensors(&source).unwrap());
        let (model, _) = BertModel::from_weights(&config, weights, device).unwrap();
        (config, model)
    }

    /// A padded batch with one sequence of made-up token ids per length, padded to the longest.
    fn tiny_batch(config: &BertConfig, lengths: &[usize]) -> TokenBatch {
        let (b, l) = (lengths.len(), lengths.iter().copied().max().unwrap_or(0));
        let mut batch = TokenBatch {
            input_ids: vec![config.pad_token_id; b * l],
            attention_mask: vec![0; b * l],
            token_type_ids: None,
            batch: b,
            seq_len: l,
        };
        for (s, &len) in lengths.iter().enumerate() {
            for i in 0..len {
                batch.input_ids[s * l + i] = ((s * 31 + i * 17) % config.vocab_size) as u32;
                batch.attention_mask[s * l + i] = 1;
            }
        }
        batch
    }

    /// bf16 and int8 forward passes of the tiny fixture model against f32: every token state has
    /// cosine > 0.999 (bf16) / 0.99 (int8) to f32's, and differs from it (the kernels ran).
    #[test]
    fn reduced_precision_forward_passes_stay_close_to_f32() {
        let device = crate::BackendKind::Flex.device();
        let (config, mut model) = tiny_model(&device);
        let input = ModelInput::new(&tiny_batch(&config, &[11, 7, 4]), &config, &device);
        let run = |model: &BertModel| host(model.forward(&input, Mode::Eval)).data;
        let exact = run(&model);
        let h = config.hidden_size;
        for (precision, min_cosine) in [(Precision::Bf16, 0.999), (Precision::Int8, 0.99)] {
            model.set_precision(precision);
            let ours = run(&model);
            assert_ne!(ours, exact, "{precision} computed nothing different");
            for (x, y) in ours.chunks_exact(h).zip(exact.chunks_exact(h)) {
                let dot: f32 = x.iter().zip(y).map(|(a, b)| a * b).sum();
                let norm = |v: &[f32]| v.iter().map(|a| a * a).sum::<f32>().sqrt();
                let cosine = dot / (norm(x) * norm(y));
                assert!(cosine > min_cosine, "{precision}: token cosine {cosine}");
            }
        }
    }

    /// Training runs the query/key/value projections as three column blocks of the fused weight
    /// ([`Products::linear_columns`]): its forward pass equals inference's fused product (f32 and
    /// bf16), and the gradient of each block matches a central difference of the same loss.
    #[test]
    fn training_attention_matches_inference_and_finite_differences() {
        let device = crate::BackendKind::Flex.device().autodiff();
        let (config, mut model) = tiny_model(&device);
        let h = config.hidden_size;
        let batch = tiny_batch(&config, &[9, 5]);
        let input = ModelInput::new(&batch, &config, &device);
        let inference_input = ModelInput::new(&batch, &config, &device.clone().without_autodiff());
        let pattern = |n: usize, phase: f32| (0..n).map(|i| (i as f32 * 0.37 + phase).sin()).collect::<Vec<f32>>();
        let weights_of_loss =
            Tensor::<2>::from_data(TensorData::new(pattern(input.tokens * h, 0.3), [input.tokens, h]), &device);
        for precision in [Precision::F32, Precision::Bf16] {
            model.set_precision(precision);
            let trained = model.forward(&input, Mode::Eval);
            assert!(model.layers[0].attention.qkv.weight.val().is_require_grad());
            let inferred = host(model.valid().forward(&inference_input, Mode::Eval)).data;
            let max_diff =
                host(trained.clone()).data.iter().zip(&inferred).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
            assert!(max_diff < 1e-5, "{precision}: training and inference differ by {max_diff}");
            if precision != Precision::F32 {
                continue;
            }
            let grads = (trained * weights_of_loss.clone()).sum().backward();
            let qkv = &model.layers[0].attention.qkv.weight;
            let grad = qkv.grad(&grads).expect("qkv weight gradient");
            let loss_at = |shift: Tensor<2>| {
                let mut shifted = model.valid();
                let w = shifted.layers[0].attention.qkv.weight.val() + shift;
                shifted.layers[0].attention.qkv.weight = Param::from_tensor(w);
                let out = shifted.forward(&inference_input, Mode::Eval);
                (out * weights_of_loss.clone().inner()).sum().into_scalar::<f32>() as f64
            };
            for block in 0..3 {
                // A direction inside one block: query, key or value columns.
                let mut direction = vec![0f32; h * 3 * h];
                for (i, v) in pattern(h * h, block as f32).into_iter().enumerate() {
                    direction[(i / h) * 3 * h + block * h + i % h] = v;
                }
                let direction = Tensor::<2>::from_data(TensorData::new(direction, [h, 3 * h]), &grad.device());
                let analytic = (grad.clone() * direction.clone()).sum().into_scalar::<f32>() as f64;
                let eps = 1e-2;
                let numeric = (loss_at(direction.clone() * eps) - loss_at(direction * -eps)) / (2.0 * eps);
                assert!(
                    (analytic - numeric).abs() <= 1e-2 * numeric.abs() + 1e-4,
                    "block {block}: gradient {analytic} vs central difference {numeric}"
                );
            }
        }
    }

    #[test]
    fn dropout_mask_is_deterministic_scaled_and_close_to_p() {
        let a = Dropout::new(0.1, 42).mask(100_003);
        assert_eq!(a, Dropout::new(0.1, 42).mask(100_003));
        assert_ne!(a, Dropout::new(0.1, 43).mask(100_003));
        let dropped = a.iter().filter(|&&v| v == 0.0).count() as f64 / a.len() as f64;
        assert!((dropped - 0.1).abs() < 0.005, "dropped {dropped}");
        let keep = (1.0 / 0.9) as f32;
        assert!(a.iter().all(|&v| v == 0.0 || v == keep));
    }
}
