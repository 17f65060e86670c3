//! Evaluation of exact table answers: ingests the tables in `eval/`, asks every question in
//! `eval/questions.tsv` over the whole library (so picking the right table is part of the
//! test), and prints accuracy per shape and overall.
//!
//!     cargo run -p zgvault-rag --example eval [-- --verbose]
//!
//! Needs the embedding model (`scripts/setup`). Numbers are compared as numbers (relative
//! error 1e-9: float sums), everything else as text. `REFUSED` means the question must not
//! get an exact answer.

use std::{collections::BTreeMap, path::Path, process::ExitCode};

use zgvault_rag::{AnswerKind, Backend, Library, Scope};

fn same(got: &str, want: &str) -> bool {
    match (got.parse::<f64>(), want.parse::<f64>()) {
        (Ok(a), Ok(b)) => (a - b).abs() <= 1e-9 * b.abs().max(1.0),
        _ => got == want,
    }
}

fn main() -> ExitCode {
    let verbose = std::env::args().any(|a| a == "--verbose");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("eval");
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("eval: temp dir: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut lib = match Library::open(dir.path(), &[7u8; 32]) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("eval: {e}");
            return ExitCode::FAILURE;
        }
    };
    for name in ["sales.csv", "employees.csv", "films.json"] {
        let bytes = match std::fs::read(root.join(name)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("eval: {name}: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = lib.ingest(name, name, &bytes) {
            eprintln!("eval: ingest {name}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let questions = match std::fs::read_to_string(root.join("questions.tsv")) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("eval: questions.tsv: {e}");
            return ExitCode::FAILURE;
        }
    };
    // shape → (right, asked)
    let mut per_shape: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for line in questions
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let mut cols = line.split('\t');
        let (Some(shape), Some(question), Some(want)) = (cols.next(), cols.next(), cols.next())
        else {
            eprintln!("eval: bad line {line:?}");
            return ExitCode::FAILURE;
        };
        let answer = lib.ask(&Scope::All, question, &Backend::None, &mut |_| {});
        let (ok, got) = match &answer {
            Ok(a) if want == "REFUSED" => (a.kind != AnswerKind::Exact, format!("{:?}", a.kind)),
            Ok(a) => (
                a.kind == AnswerKind::Exact && a.value.as_deref().is_some_and(|v| same(v, want)),
                format!(
                    "{:?} {}",
                    a.kind,
                    a.value
                        .clone()
                        .unwrap_or_else(|| a.note.clone().unwrap_or_default())
                ),
            ),
            Err(e) => (false, format!("error: {e}")),
        };
        let entry = per_shape.entry(shape.to_owned()).or_default();
        entry.1 += 1;
        if ok {
            entry.0 += 1;
        } else {
            failures.push(format!(
                "  [{shape}] {question}\n    want {want}\n    got  {got}"
            ));
        }
        if verbose {
            let query = answer
                .as_ref()
                .ok()
                .and_then(|a| a.query.clone())
                .unwrap_or_default();
            println!(
                "{} [{shape}] {question}\n    {got}\n    {query}",
                if ok { "ok  " } else { "FAIL" }
            );
        }
    }
    println!("{:<12} {:>7} {:>9}", "shape", "right", "accuracy");
    let (mut right, mut asked) = (0, 0);
    for (shape, (r, n)) in &per_shape {
        println!(
            "{shape:<12} {:>7} {:>8.1}%",
            format!("{r}/{n}"),
            100.0 * *r as f64 / *n as f64
        );
        right += r;
        asked += n;
    }
    println!(
        "{:<12} {:>7} {:>8.1}%",
        "overall",
        format!("{right}/{asked}"),
        100.0 * right as f64 / asked.max(1) as f64
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("\nwrong:\n{}", failures.join("\n"));
        ExitCode::FAILURE
    }
}
