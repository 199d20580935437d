//! InfoNCE over cosine similarities with in-batch negatives — sentence-transformers'
//! `MultipleNegativesRankingLoss` (scale 20 by default), optionally symmetric.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};
use polyret_encoder::l2_normalize;

/// Mean cross-entropy of each query against all passages, the i-th passage being the positive
/// of the i-th query. `passages` may hold more rows than `queries` (appended hard negatives).
/// With `symmetric`, the passage → query direction (positives only) is averaged in.
pub fn info_nce(queries: Tensor<2>, passages: Tensor<2>, scale: f64, symmetric: bool) -> Tensor<1> {
    let [b, _] = queries.dims();
    let [n, _] = passages.dims();
    let q = l2_normalize(queries);
    let p = l2_normalize(passages);
    let device = q.device();
    let forward = cross_entropy_diagonal(q.clone().matmul(p.clone().transpose()) * scale, b, n, &device);
    if !symmetric {
        return forward;
    }
    let positives = p.slice(0..b);
    let backward = cross_entropy_diagonal(positives.matmul(q.transpose()) * scale, b, b, &device);
    (forward + backward) / 2.0
}

/// `-mean_i log_softmax(scores)[i, i]` for `[rows, cols]` scores.
fn cross_entropy_diagonal(scores: Tensor<2>, rows: usize, cols: usize, device: &burn::tensor::Device) -> Tensor<1> {
    let mut eye = vec![0f32; rows * cols];
    for i in 0..rows {
        eye[i * cols + i] = 1.0;
    }
    let targets = Tensor::<2>::from_data(TensorData::new(eye, [rows, cols]), device);
    (log_softmax(scores, 1) * targets).sum().neg() / rows as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use polyret_encoder::BackendKind;

    fn t(rows: &[[f32; 2]]) -> Tensor<2> {
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        Tensor::from_data(TensorData::new(flat, [rows.len(), 2]), &BackendKind::Flex.device())
    }

    fn value(x: Tensor<1>) -> f64 {
        x.into_scalar::<f32>() as f64
    }

    #[test]
    fn matches_hand_computed_cross_entropy() {
        // q0·p0 = 1, q0·p1 = 0; q1·p0 = 0, q1·p1 = 1 (unit vectors) → each row: -log(e^s/(e^s+1)).
        let q = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let p = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let scale: f64 = 2.0;
        let expected = -((scale.exp()) / (scale.exp() + 1.0)).ln();
        assert!((value(info_nce(q.clone(), p.clone(), scale, false)) - expected).abs() < 1e-5);
        // Symmetric on a symmetric problem is the same.
        assert!((value(info_nce(q, p, scale, true)) - expected).abs() < 1e-5);
    }

    #[test]
    fn normalises_and_uses_extra_passages_as_negatives() {
        let q = t(&[[3.0, 0.0]]); // normalised to (1, 0)
        let p = t(&[[2.0, 0.0], [0.0, 5.0]]); // positive (1,0), negative (0,1)
        let expected = -((1.0f64).exp() / ((1.0f64).exp() + 1.0)).ln();
        assert!((value(info_nce(q, p, 1.0, false)) - expected).abs() < 1e-5);
    }

    #[test]
    fn swapped_positives_give_a_higher_loss() {
        let q = t(&[[1.0, 0.0], [0.0, 1.0]]);
        let right = value(info_nce(q.clone(), t(&[[1.0, 0.1], [0.1, 1.0]]), 20.0, false));
        let wrong = value(info_nce(q, t(&[[0.1, 1.0], [1.0, 0.1]]), 20.0, false));
        assert!(wrong > right + 10.0, "{wrong} vs {right}");
    }
}
