//! Benchmark: ingest rate with the embedding model, query latency (p50/p95) at 10 k and 100 k
//! chunks, re-open time, and memory.
//!
//!     cargo run -p zgvault-rag --release --example bench [-- --quick | --ingest-only]
//!
//! candle uses every core; `RAYON_NUM_THREADS=1` measures one.
//!
//! Needs the model (`scripts/setup`). Ingest is measured with the real model on chunks of
//! about 150 words. For the 10 k / 100 k libraries, embedding every chunk with the model
//! would take 9 min / 1.5 h on 2 cores, so their chunk vectors are pseudo-random unit
//! vectors (the cosine scan costs the same whatever the values); the query itself is
//! embedded by the real model, so latency includes it. Generation is excluded.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use zgvault_rag::{Backend, Embedder, Library, MiniLm, Result, Scope};

/// MiniLM for queries; while `synthetic` is set, pseudo-random unit vectors for chunks.
struct BenchEmbedder {
    model: MiniLm,
    synthetic: Arc<AtomicBool>,
}

impl Embedder for BenchEmbedder {
    fn model_id(&self) -> &str {
        "bench"
    }
    fn dim(&self) -> usize {
        MiniLm::DIM
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if !self.synthetic.load(Ordering::SeqCst) {
            return self.model.embed(texts);
        }
        Ok(texts
            .iter()
            .map(|t| {
                let mut x = t.bytes().fold(0xcbf29ce484222325u64, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
                });
                let v: Vec<f32> = (0..MiniLm::DIM)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x % 2001) as f32 / 1000.0 - 1.0
                    })
                    .collect();
                let n = v.iter().map(|a| a * a).sum::<f32>().sqrt().max(1e-6);
                v.into_iter().map(|a| a / n).collect()
            })
            .collect())
    }
}

const WORDS: &[&str] = &[
    "invoice",
    "rent",
    "dentist",
    "appointment",
    "insurance",
    "policy",
    "renewal",
    "contract",
    "salary",
    "payment",
    "holiday",
    "flight",
    "hotel",
    "booking",
    "password",
    "account",
    "bank",
    "transfer",
    "mortgage",
    "school",
    "doctor",
    "prescription",
    "tax",
    "return",
    "deadline",
    "meeting",
    "project",
    "budget",
    "receipt",
    "warranty",
    "repair",
    "boiler",
    "garden",
    "car",
    "service",
    "passport",
    "visa",
    "train",
    "ticket",
    "subscription",
    "electricity",
    "water",
    "internet",
    "phone",
    "plan",
    "loan",
    "pension",
    "savings",
    "dividend",
    "shares",
];

/// Common English words, for prose that tokenizes like real notes (about 1.2 word pieces a
/// word).
const COMMON: &[&str] = &[
    "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "on", "at",
    "by", "this", "we", "you", "from", "they", "have", "not", "are", "but", "had", "his", "her",
    "one", "all", "there", "when", "will", "can", "said", "which", "their", "time", "about",
    "would", "make", "like", "him", "into", "year", "your", "good", "some", "could", "them", "see",
    "other", "than", "then", "now", "look", "only", "come", "over", "think", "also", "back",
    "after", "use", "two", "how", "our", "work", "first", "well", "way", "even", "new", "want",
    "because", "any", "these", "give", "day", "most", "us", "week", "month", "paid", "called",
    "office", "letter", "price", "house", "family",
];

struct Rng(u64);
impl Rng {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
    fn words(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| {
                // a large synthetic vocabulary plus common words, like real notes
                if self.next(3) == 0 {
                    WORDS[self.next(WORDS.len())].to_owned()
                } else {
                    format!("w{}", self.next(20_000))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Prose of `n` words: common English words and the notes' own vocabulary.
fn prose(rng: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| {
            if rng.next(4) == 0 {
                WORDS[rng.next(WORDS.len())]
            } else {
                COMMON[rng.next(COMMON.len())]
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A markdown file of `sections` chunks of about `words` words each.
fn document(rng: &mut Rng, sections: usize, words: usize) -> String {
    let mut out = String::new();
    for s in 0..sections {
        out.push_str(&format!("# Note {s}\n\n{}\n\n", rng.words(words)));
    }
    out
}

fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map(|kb| format!("{} MB", kb / 1024))
            .unwrap_or_else(|| "?".into())
    };
    format!("RSS {}, peak {}", field("VmRSS:"), field("VmHWM:"))
}

/// CPU time (user + system) this process has used: fields 14 and 15 of /proc/self/stat, in
/// clock ticks (100 a second on Linux).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // the command name (field 2) may hold spaces; count fields after its closing parenthesis
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

fn latency(
    lib: &mut Library,
    rng: &mut Rng,
    queries: usize,
    scope: &Scope,
) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(queries);
    for _ in 0..queries {
        let q = format!(
            "when is the {} {}",
            WORDS[rng.next(WORDS.len())],
            WORDS[rng.next(WORDS.len())]
        );
        let start = Instant::now();
        let a = lib.ask(scope, &q, &Backend::None, &mut |_| {});
        times.push(start.elapsed());
        if let Err(e) = a {
            eprintln!("bench: ask: {e}");
            std::process::exit(1);
        }
    }
    times.sort();
    (percentile(&times, 0.5), percentile(&times, 0.95))
}

fn main() -> Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let ingest_only = std::env::args().any(|a| a == "--ingest-only");
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let synthetic = Arc::new(AtomicBool::new(false));
    let embedder = || -> Result<Box<dyn Embedder>> {
        Ok(Box::new(BenchEmbedder {
            model: MiniLm::load_default()?,
            synthetic: synthetic.clone(),
        }))
    };
    let tmp = tempfile::tempdir().map_err(|e| zgvault_rag::Error::Io {
        path: "tmp".into(),
        source: e,
    })?;
    let key = [9u8; 32];
    println!(
        "zgvault-rag bench ({cores} cores{})",
        if quick { ", quick" } else { "" }
    );

    // 1. ingest with the real model
    let mut rng = Rng(0x9E3779B97F4A7C15);
    let n_ingest = if quick { 32 } else { 192 };
    let doc: String = (0..n_ingest)
        .map(|s| format!("# Note {s}\n\n{}\n\n", prose(&mut rng, 120)))
        .collect();
    let mut lib = Library::open_with(&tmp.path().join("ingest"), &key, embedder()?)?;
    // warm-up (first forward pass allocates)
    lib.ingest(
        "warm",
        "warm.md",
        b"# warm up\n\nthe first forward pass is slower",
    )?;
    let start = Instant::now();
    let cpu = cpu_seconds();
    let r = lib.ingest("doc", "notes.md", doc.as_bytes())?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu;
    // per core: chunks per CPU-second this process got (the machine may be shared)
    println!(
        "ingest (MiniLM, {} chunks of 120 English words, ~150 word pieces): {secs:.1} s wall, {cpu:.1} s CPU; {:.1} chunks/s, {:.1} chunks per CPU-second",
        r.embedded,
        r.embedded as f64 / secs,
        r.embedded as f64 / cpu.max(1e-9)
    );
    let start = Instant::now();
    let r = lib.ingest(
        "doc",
        "notes.md",
        doc.replace("# Note 7\n", "# Note seven\n").as_bytes(),
    )?;
    println!(
        "re-ingest after editing one section: {} embedded, {} reused, {:.2} s",
        r.embedded,
        r.reused,
        start.elapsed().as_secs_f64()
    );
    let (p50, p95) = latency(&mut lib, &mut rng, 50, &Scope::All);
    println!(
        "query on {} chunks: p50 {:.1} ms, p95 {:.1} ms",
        n_ingest + 1,
        p50.as_secs_f64() * 1e3,
        p95.as_secs_f64() * 1e3
    );
    drop(lib);
    if ingest_only {
        return Ok(());
    }

    // 2. latency at 10 k and 100 k chunks
    let sizes: &[usize] = if quick { &[10_000] } else { &[10_000, 100_000] };
    for &size in sizes {
        let dir = tmp.path().join(format!("lib{size}"));
        synthetic.store(true, Ordering::SeqCst);
        let mut lib = Library::open_with(&dir, &key, embedder()?)?;
        let per_file = 1000;
        let start = Instant::now();
        for f in 0..size / per_file {
            let doc = document(&mut rng, per_file, 40);
            lib.ingest(&format!("f{f}"), &format!("notes-{f}.md"), doc.as_bytes())?;
        }
        let build = start.elapsed().as_secs_f64();
        synthetic.store(false, Ordering::SeqCst);
        let (p50, p95) = latency(&mut lib, &mut rng, 100, &Scope::All);
        let scope = Scope::Files(vec!["f3".into(), "f5".into()]);
        let (s50, s95) = latency(&mut lib, &mut rng, 50, &scope);
        println!(
            "{size} chunks: index build {build:.1} s (vectors synthetic); query p50 {:.1} ms, p95 {:.1} ms; scoped to 2 files p50 {:.1} ms, p95 {:.1} ms; {}",
            p50.as_secs_f64() * 1e3,
            p95.as_secs_f64() * 1e3,
            s50.as_secs_f64() * 1e3,
            s95.as_secs_f64() * 1e3,
            memory()
        );
        drop(lib);
        let e = embedder()?;
        let start = Instant::now();
        let lib = Library::open_with(&dir, &key, e)?;
        println!(
            "{size} chunks: re-open (decrypt, rebuild BM25 and tables, no embedding) {:.1} s; {}",
            start.elapsed().as_secs_f64(),
            memory()
        );
        drop(lib);
    }
    Ok(())
}
