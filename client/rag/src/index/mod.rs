//! Hybrid retrieval: BM25 (tantivy, in memory) and exact cosine search over a flat matrix,
//! fused by reciprocal rank.

mod bm25;
mod dense;

pub(crate) use self::{bm25::Bm25, dense::Dense};

use std::collections::HashMap;

/// A chunk's id inside one open library (not stored; assigned on load and ingest).
pub(crate) type ChunkId = u64;

/// The RRF constant (Cormack et al.; every hybrid anchor uses 60).
pub const RRF_K: f64 = 60.0;

/// Reciprocal rank fusion: `score(d) = Σ 1 / (k + rank(d))` over the lists (ranks from 1),
/// best first; ties broken by id so the order is deterministic.
pub fn rrf<T: Copy + Eq + std::hash::Hash + Ord>(lists: &[&[T]], k: f64) -> Vec<(T, f64)> {
    let mut scores: HashMap<T, f64> = HashMap::new();
    for list in lists {
        for (rank, id) in list.iter().enumerate() {
            *scores.entry(*id).or_insert(0.0) += 1.0 / (k + rank as f64 + 1.0);
        }
    }
    let mut out: Vec<(T, f64)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement_and_rank() {
        let bm25 = [1u64, 2, 3, 4];
        let dense = [3u64, 1, 5];
        let fused = rrf(&[&bm25, &dense], RRF_K);
        let ids: Vec<u64> = fused.iter().map(|(id, _)| *id).collect();
        // 1: 1/61 + 1/62; 3: 1/63 + 1/61; 2: 1/62; 5: 1/63; 4: 1/64
        assert_eq!(ids, vec![1, 3, 2, 5, 4]);
        let score1 = 1.0 / 61.0 + 1.0 / 62.0;
        assert!((fused[0].1 - score1).abs() < 1e-12);
        assert!(rrf::<u64>(&[&[], &[]], RRF_K).is_empty());
        // equal scores: lower id first
        let tie = rrf(&[&[9u64], &[8u64]], RRF_K);
        assert_eq!(tie[0].0, 8);
    }
}
