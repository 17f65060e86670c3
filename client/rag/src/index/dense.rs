//! Exact cosine search: the vectors (unit length) in one contiguous matrix, a dot product per
//! row, the top k kept in a small heap. At personal scale (10³–10⁵ chunks) this is
//! milliseconds, exact, and has no index to keep consistent on delete.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
};

use super::ChunkId;

/// Rows of one dimension, each owned by a chunk.
#[derive(Debug, Default)]
pub(crate) struct Dense {
    dim: usize,
    data: Vec<f32>,
    ids: Vec<ChunkId>,
    rows: HashMap<ChunkId, usize>,
}

#[derive(PartialEq)]
struct Scored(f32, Reverse<ChunkId>);

impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0).then(self.1.cmp(&other.1))
    }
}

impl Dense {
    pub(crate) fn new(dim: usize) -> Self {
        Self {
            dim,
            data: Vec::new(),
            ids: Vec::new(),
            rows: HashMap::new(),
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Adds a row; a vector of the wrong length is refused.
    pub(crate) fn push(&mut self, id: ChunkId, vector: &[f32]) -> bool {
        if vector.len() != self.dim {
            return false;
        }
        if let Some(&row) = self.rows.get(&id) {
            let start = row * self.dim;
            if let Some(slot) = self.data.get_mut(start..start + self.dim) {
                slot.copy_from_slice(vector);
            }
            return true;
        }
        self.rows.insert(id, self.ids.len());
        self.data.extend_from_slice(vector);
        self.ids.push(id);
        true
    }

    /// The vector of a chunk.
    pub(crate) fn get(&self, id: ChunkId) -> Option<&[f32]> {
        let row = *self.rows.get(&id)?;
        self.data.get(row * self.dim..(row + 1) * self.dim)
    }

    /// Keeps the rows whose id `keep` accepts, in order.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(ChunkId) -> bool) {
        let dim = self.dim;
        let mut w = 0;
        for r in 0..self.ids.len() {
            let id = self.ids.get(r).copied().unwrap_or_default();
            if keep(id) {
                if w != r {
                    self.data.copy_within(r * dim..(r + 1) * dim, w * dim);
                    if let Some(slot) = self.ids.get_mut(w) {
                        *slot = id;
                    }
                }
                w += 1;
            }
        }
        self.ids.truncate(w);
        self.data.truncate(w * dim);
        self.rows = self
            .ids
            .iter()
            .enumerate()
            .map(|(r, &id)| (id, r))
            .collect();
    }

    /// The `k` rows most similar to `query` among those `allowed` accepts, best first (ties:
    /// lower id first). Large matrices are scanned by one thread per core.
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        allowed: impl Fn(ChunkId) -> bool + Sync,
    ) -> Vec<(ChunkId, f32)> {
        if query.len() != self.dim || k == 0 || self.dim == 0 {
            return Vec::new();
        }
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(self.ids.len() / PARALLEL_ROWS)
            .max(1);
        let per = self.ids.len().div_ceil(threads);
        let mut out: Vec<(ChunkId, f32)> = if threads == 1 {
            top_k(&self.data, &self.ids, self.dim, query, k, &allowed)
        } else {
            std::thread::scope(|scope| {
                let parts: Vec<_> = self
                    .ids
                    .chunks(per)
                    .zip(self.data.chunks(per * self.dim))
                    .map(|(ids, data)| {
                        let allowed = &allowed;
                        scope.spawn(move || top_k(data, ids, self.dim, query, k, allowed))
                    })
                    .collect();
                parts
                    .into_iter()
                    .flat_map(|p| p.join().unwrap_or_default())
                    .collect()
            })
        };
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }
}

/// Rows per scanning thread below which one thread is faster than starting more.
const PARALLEL_ROWS: usize = 20_000;

/// The best `k` of some rows, unordered.
fn top_k(
    data: &[f32],
    ids: &[ChunkId],
    dim: usize,
    query: &[f32],
    k: usize,
    allowed: &(impl Fn(ChunkId) -> bool + Sync),
) -> Vec<(ChunkId, f32)> {
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    for (row, &id) in data.chunks_exact(dim).zip(ids) {
        if !allowed(id) {
            continue;
        }
        let entry = Scored(dot(row, query), Reverse(id));
        if heap.len() < k {
            heap.push(Reverse(entry));
        } else if heap.peek().is_some_and(|Reverse(min)| entry > *min) {
            heap.pop();
            heap.push(Reverse(entry));
        }
    }
    heap.into_iter()
        .map(|Reverse(Scored(s, Reverse(id)))| (id, s))
        .collect()
}

/// Dot product with 8 independent accumulators, so the compiler vectorises it.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, xi), yi) in acc.iter_mut().zip(x).zip(y) {
            *s += xi * yi;
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn exact_top_k_with_filter_and_removal() {
        let mut d = Dense::new(3);
        d.push(1, &unit(&[1.0, 0.0, 0.0]));
        d.push(2, &unit(&[0.9, 0.1, 0.0]));
        d.push(3, &unit(&[0.0, 1.0, 0.0]));
        d.push(4, &unit(&[0.5, 0.5, 0.0]));
        assert!(!d.push(5, &[1.0, 0.0]));
        let q = unit(&[1.0, 0.0, 0.0]);
        let ids: Vec<u64> = d.search(&q, 3, |_| true).iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![1, 2, 4]);
        let ids: Vec<u64> = d.search(&q, 2, |id| id != 1).iter().map(|x| x.0).collect();
        assert_eq!(ids, vec![2, 4]);
        d.retain(|id| id != 2);
        assert_eq!(d.len(), 3);
        assert!(d.get(2).is_none());
        assert_eq!(d.get(4), Some(unit(&[0.5, 0.5, 0.0]).as_slice()));
        let top = d.search(&q, 10, |_| true);
        assert_eq!(top.iter().map(|x| x.0).collect::<Vec<_>>(), vec![1, 4, 3]);
        assert!((top[0].1 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn parallel_scan_equals_one_thread() {
        let dim = 8;
        let mut d = Dense::new(dim);
        let mut x = 0x1234_5678_u64;
        for id in 0..(3 * PARALLEL_ROWS as u64) {
            let v: Vec<f32> = (0..dim)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    // few distinct values, so there are ties to break
                    (x % 5) as f32
                })
                .collect();
            d.push(id, &v);
        }
        let q = vec![1.0, 0.5, 0.0, 2.0, 1.0, 0.0, 0.0, 1.0];
        let all = d.search(&q, 25, |id| !id.is_multiple_of(3));
        let one = {
            let mut v = top_k(&d.data, &d.ids, dim, &q, 25, &|id: ChunkId| {
                !id.is_multiple_of(3)
            });
            v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            v
        };
        assert_eq!(all.len(), 25);
        assert_eq!(all, one);
    }

    #[test]
    fn dot_matches_naive_for_odd_lengths() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }
}
