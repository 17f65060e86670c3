use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use super::*;
use crate::generate::tests::fake_server;

/// A test embedder: words hashed into 64 buckets (feature hashing), normalised. It counts the
/// texts it embeds, so tests can see what was (not) re-embedded.
struct HashEmbedder {
    calls: Arc<AtomicUsize>,
}

impl Embedder for HashEmbedder {
    fn model_id(&self) -> &str {
        "test-hash-64"
    }
    fn dim(&self) -> usize {
        64
    }
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        self.calls.fetch_add(texts.len(), Ordering::SeqCst);
        Ok(texts
            .iter()
            .map(|t| {
                let mut v = vec![0f32; 64];
                for w in t
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                {
                    let h = w
                        .to_lowercase()
                        .bytes()
                        .fold(1469598103934665603u64, |h, b| {
                            (h ^ u64::from(b)).wrapping_mul(1099511628211)
                        });
                    v[(h % 64) as usize] += 1.0;
                }
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter().map(|x| x / n).collect()
            })
            .collect())
    }
}

const KEY: [u8; 32] = [42u8; 32];

fn open(dir: &Path) -> (Library, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let lib = Library::open_with(
        dir,
        &KEY,
        Box::new(HashEmbedder {
            calls: calls.clone(),
        }),
    )
    .expect("open");
    (lib, calls)
}

const NOTES: &str = "# Home\n\nThe wifi password at the holiday house is aubergine-77.\n\n\
# Health\n\nThe dentist appointment is on 14 March at 9:30 with Dr Okafor.\n\n\
# Car\n\nThe car insurance renews in October; policy TP1337.\n";

const ORDERS: &str = "order_id,customer,region,amount,date\n\
1001,Zanzibar Traders,North,120.50,2024-03-02\n\
1002,Ada,South,80,2024-03-15\n\
1003,Zanzibar Traders,North,45.25,2024-04-01\n\
1004,Bob,East,300,2024-05-20\n";

fn all_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = fs::read(&p).expect("read");
                out.push((p, bytes));
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// A question with no language model.
fn ask(lib: &mut Library, scope: &Scope, question: &str) -> Answer {
    lib.ask(scope, question, &Backend::None, &mut |_| {})
        .expect("ask")
}

/// A library holding the notes (as `n`) and the orders table (as `o`).
fn notes_and_orders(dir: &Path) -> Library {
    let (mut lib, _) = open(dir);
    lib.ingest("n", "notes.md", NOTES.as_bytes())
        .expect("ingest");
    lib.ingest("o", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    lib
}

#[test]
fn nothing_plaintext_on_disk_and_reopen_does_not_reembed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, calls) = open(dir.path());
    lib.ingest("file-notes", "secret-notes.md", NOTES.as_bytes())
        .expect("ingest");
    lib.ingest("file-orders", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    lib.chat(
        "s1",
        &Scope::All,
        "what is the wifi password",
        &Backend::None,
        &mut |_| {},
    )
    .expect("chat");
    let embedded = calls.load(Ordering::SeqCst);
    assert!(embedded >= 7, "{embedded}");
    drop(lib);

    let files = all_bytes(dir.path());
    assert!(
        files.len() >= 3,
        "two files and a chat are stored: {files:?}"
    );
    for (path, bytes) in &files {
        for word in [
            "aubergine",
            "Zanzibar",
            "Okafor",
            "secret-notes",
            "orders.csv",
            "wifi",
            "s1.zgv",
        ] {
            assert!(!contains(bytes, word), "{word} in {}", path.display());
            assert!(
                !path.to_string_lossy().contains(word),
                "{word} in the name {}",
                path.display()
            );
        }
    }

    let (mut lib, calls) = open(dir.path());
    assert_eq!(lib.files().len(), 2);
    assert_eq!(lib.history("s1").len(), 1);
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(before, 0, "reopening re-embedded {before} chunks");
    let hits = lib.search(&Scope::All, "wifi password", 3).expect("search");
    assert_eq!(hits[0].citation.file_id, "file-notes");
    assert_eq!(
        hits[0].citation.locator,
        Some(Locator::Lines { start: 1, end: 3 })
    );
    // only the query was embedded
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    drop(lib);

    let wrong = Library::open_with(
        dir.path(),
        &[1u8; 32],
        Box::new(HashEmbedder {
            calls: Arc::new(AtomicUsize::new(0)),
        }),
    );
    assert!(
        matches!(wrong, Err(Error::WrongKeyOrTampered { .. })),
        "{wrong:?}"
    );
}

#[test]
fn a_changed_file_re_embeds_only_what_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, calls) = open(dir.path());
    let r = lib
        .ingest("n", "notes.md", NOTES.as_bytes())
        .expect("ingest");
    assert_eq!((r.chunks, r.embedded, r.reused), (3, 3, 0));
    let changed = NOTES.replace("October", "November");
    calls.store(0, Ordering::SeqCst);
    let r = lib
        .ingest("n", "notes.md", changed.as_bytes())
        .expect("ingest");
    assert_eq!((r.chunks, r.embedded, r.reused), (3, 1, 2));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // the same text under another file id reuses the vectors too
    let r = lib
        .ingest("copy", "copy.md", changed.as_bytes())
        .expect("ingest");
    assert_eq!(r.embedded, 0);
    // re-ingesting replaces: the old text is no longer found
    let hits = lib
        .search(&Scope::Files(vec!["n".into()]), "October", 5)
        .expect("search");
    assert!(hits.iter().all(|h| !h.text.contains("October")));
}

#[test]
fn scoped_questions_stay_inside_their_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, _) = open(dir.path());
    lib.ingest(
        "a",
        "a.md",
        b"invoice invoice invoice paid in full for the boiler",
    )
    .expect("ingest");
    lib.ingest("b", "b.md", b"an invoice for the garden")
        .expect("ingest");
    let all = lib
        .search(&Scope::All, "invoice boiler", 5)
        .expect("search");
    assert_eq!(all[0].citation.file_id, "a");
    for scope in [
        Scope::Files(vec!["b".into()]),
        Scope::Files(vec!["b.md".into()]),
    ] {
        let hits = lib.search(&scope, "invoice boiler", 5).expect("search");
        assert!(!hits.is_empty());
        assert!(hits.iter().all(|h| h.citation.file_id == "b"), "{hits:?}");
        let answer = ask(&mut lib, &scope, "which invoice is for the boiler?");
        assert!(answer.citations.iter().all(|c| c.file_id == "b"));
    }
    assert!(matches!(
        lib.search(&Scope::Files(vec!["nope".into()]), "invoice", 5),
        Err(Error::UnknownFile(_))
    ));
}

#[test]
fn table_questions_are_exact_and_show_the_query() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, _) = open(dir.path());
    let r = lib
        .ingest("o", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    assert!(r.table);
    let a = ask(
        &mut lib,
        &Scope::All,
        "What is the total amount for region North?",
    );
    assert_eq!(a.kind, AnswerKind::Exact);
    assert_eq!(a.value.as_deref(), Some("165.75"));
    let q = a.query.expect("query");
    assert!(
        q.contains("SUM(\"amount\")") && q.contains("\"region\" = 'North'"),
        "{q}"
    );
    let rows: Vec<_> = a.citations.iter().map(|c| c.locator.clone()).collect();
    assert_eq!(
        rows,
        vec![Some(Locator::Row { row: 1 }), Some(Locator::Row { row: 3 })]
    );
    let json = serde_json::to_value(ask(&mut lib, &Scope::All, "How many orders are there?"))
        .expect("json");
    assert_eq!(json["kind"], "exact");
    assert_eq!(json["value"], "4");
    assert_eq!(json["citations"][0]["file_name"], "orders.csv");
    assert!(json["query"].as_str().is_some());

    // an unknown customer: no number, the passages instead, and a note saying why
    let a = ask(&mut lib, &Scope::All, "How many orders did Zelda place?");
    assert_eq!(a.kind, AnswerKind::Retrieval);
    assert!(a.value.is_none() && a.query.is_none());
    assert!(
        a.note.as_deref().is_some_and(|n| n.contains("zelda")),
        "{:?}",
        a.note
    );
}

#[test]
fn json_tables_cite_record_paths() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, _) = open(dir.path());
    let doc = r#"{"owner":"me","trips":[{"city":"Lisbon","year":2023,"cost":900},
        {"city":"Oslo","year":2024,"cost":1500},{"city":"Rome","year":2024,"cost":700}]}"#;
    lib.ingest("t", "trips.json", doc.as_bytes())
        .expect("ingest");
    let a = ask(&mut lib, &Scope::All, "What is the total cost in 2024?");
    assert_eq!(a.value.as_deref(), Some("2200"));
    let paths: Vec<String> = a
        .citations
        .iter()
        .filter_map(|c| c.locator.as_ref().map(|l| l.to_string()))
        .collect();
    assert_eq!(paths, vec!["record trips[1]", "record trips[2]"]);
}

#[test]
fn extractive_without_a_model_and_generated_with_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, _) = open(dir.path());
    lib.ingest("n", "notes.md", NOTES.as_bytes())
        .expect("ingest");
    // a table in the library does not capture questions that are not about it
    lib.ingest("o", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    let a = ask(&mut lib, &Scope::All, "When is the dentist appointment?");
    assert_eq!(a.kind, AnswerKind::Extractive);
    assert!(
        a.note
            .as_deref()
            .is_some_and(|n| n.contains("no language model"))
    );
    assert!(
        a.text
            .starts_with("[1] notes.md, lines 5-7: \u{201c}The dentist appointment is on 14 March"),
        "{}",
        a.text
    );

    let reply = vec![
        "{\"message\":{\"content\":\"On 14 March at 9:30 [1].\"},\"done\":false}\n".to_owned(),
        "{\"message\":{\"content\":\"\"},\"done\":true}\n".to_owned(),
    ];
    let (url, seen) = fake_server(200, "application/x-ndjson", reply);
    let backend = Backend::Ollama {
        url,
        model: "m".into(),
    };
    let mut streamed = String::new();
    let a = lib
        .chat(
            "s",
            &Scope::All,
            "When is the dentist appointment?",
            &backend,
            &mut |t| streamed.push_str(t),
        )
        .expect("ask");
    assert_eq!(a.kind, AnswerKind::Generated);
    assert_eq!(a.text, "On 14 March at 9:30 [1].");
    assert_eq!(streamed, a.text);
    assert_eq!(a.citations.len(), 1);
    assert_eq!(
        a.citations[0].locator,
        Some(Locator::Lines { start: 5, end: 7 })
    );
    let seen = seen.recv().expect("request");
    let prompt = seen.body["messages"][1]["content"]
        .as_str()
        .expect("prompt")
        .to_owned();
    assert!(
        prompt.contains("[1] notes.md, lines 5-7\nHealth\nThe dentist"),
        "{prompt}"
    );

    // the follow-up carries the history to the model
    let reply = vec!["{\"message\":{\"content\":\"Dr Okafor [1]\"},\"done\":true}\n".to_owned()];
    let (url, seen) = fake_server(200, "application/x-ndjson", reply);
    let backend = Backend::Ollama {
        url,
        model: "m".into(),
    };
    lib.chat("s", &Scope::All, "with whom?", &backend, &mut |_| {})
        .expect("ask");
    let seen = seen.recv().expect("request");
    let msgs = seen.body["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4);
    assert_eq!(msgs[1]["content"], "When is the dentist appointment?");
    assert_eq!(msgs[2]["content"], "On 14 March at 9:30 [1].");
    assert_eq!(lib.history("s").len(), 2);
}

#[test]
fn forget_removes_the_index_the_record_and_the_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lib = notes_and_orders(dir.path());
    lib.chat(
        "s",
        &Scope::All,
        "wifi password",
        &Backend::None,
        &mut |_| {},
    )
    .expect("chat");
    lib.chat(
        "s",
        &Scope::Files(vec!["o".into()]),
        "How many orders are there?",
        &Backend::None,
        &mut |_| {},
    )
    .expect("chat");
    assert_eq!(lib.history("s").len(), 2);
    let stored_before = all_bytes(dir.path()).len();
    assert!(lib.forget("n").expect("forget"));
    assert!(!lib.forget("n").expect("forget again"));
    assert_eq!(all_bytes(dir.path()).len(), stored_before - 1);
    let hits = lib
        .search(&Scope::All, "wifi password aubergine", 10)
        .expect("search");
    assert!(hits.iter().all(|h| h.citation.file_id != "n"));
    assert_eq!(lib.history("s").len(), 1);
    assert_eq!(lib.history("s")[0].question, "How many orders are there?");
    drop(lib);
    let (lib, _) = open(dir.path());
    assert_eq!(lib.files().len(), 1);
    assert_eq!(lib.history("s").len(), 1);
}

/// With the real model (skipped, with a message, when it is not installed).
#[test]
fn hybrid_retrieval_with_minilm_finds_paraphrases() {
    let Some(model) =
        crate::embed::tests::minilm_or_skip("hybrid_retrieval_with_minilm_finds_paraphrases")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lib = Library::open_with(dir.path(), &KEY, Box::new(model)).expect("open");
    lib.ingest("n", "notes.md", NOTES.as_bytes())
        .expect("ingest");
    lib.ingest("o", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    let hits = lib
        .search(
            &Scope::All,
            "what is the internet key at the holiday home",
            3,
        )
        .expect("search");
    assert!(hits[0].text.contains("wifi password"), "{hits:?}");
    let hits = lib
        .search(&Scope::All, "when do I see the tooth doctor", 3)
        .expect("search");
    assert!(hits[0].text.contains("dentist"), "{hits:?}");
    let hits = lib.search(&Scope::All, "TP1337", 3).expect("search");
    assert!(hits[0].text.contains("TP1337"));
}

#[test]
fn a_configured_model_may_write_the_query_but_only_a_read_only_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut lib, _) = open(dir.path());
    lib.ingest("o", "orders.csv", ORDERS.as_bytes())
        .expect("ingest");
    let question = "What is the total amount of orders whose customer starts with Z?";
    let ollama = |sql: &str| {
        let reply = serde_json::json!({"message": {"content": format!("```sql\n{sql}\n```")}, "done": true});
        let (url, seen) = fake_server(200, "application/x-ndjson", vec![format!("{reply}\n")]);
        (
            Backend::Ollama {
                url,
                model: "m".into(),
            },
            seen,
        )
    };
    // off by default: the planner cannot map it, so no number
    let (backend, _) = ollama("SELECT 1");
    let a = lib
        .ask(&Scope::All, question, &backend, &mut |_| {})
        .expect("ask");
    assert_eq!(a.kind, AnswerKind::Retrieval);

    lib.set_llm_queries(true);
    let (backend, seen) =
        ollama("SELECT SUM(\"amount\") FROM \"t1_orders\" WHERE \"customer\" LIKE 'Z%';");
    let a = lib
        .ask(&Scope::All, question, &backend, &mut |_| {})
        .expect("ask");
    assert_eq!(a.kind, AnswerKind::Exact);
    assert_eq!(a.value.as_deref(), Some("165.75"));
    assert_eq!(
        a.query.as_deref(),
        Some("SELECT SUM(\"amount\") FROM \"t1_orders\" WHERE \"customer\" LIKE 'Z%'")
    );
    assert!(
        a.note
            .as_deref()
            .is_some_and(|n| n.contains("language model"))
    );
    let prompt = seen.recv().expect("request").body["messages"][1]["content"]
        .as_str()
        .expect("prompt")
        .to_owned();
    assert!(
        prompt.contains("Table \"t1_orders\" (from orders.csv, 4 rows): \"order_id\" INTEGER"),
        "{prompt}"
    );

    // a query that writes is refused and nothing changes
    let (backend, _) = ollama("DELETE FROM \"t1_orders\"");
    let a = lib
        .ask(&Scope::All, question, &backend, &mut |_| {})
        .expect("ask");
    assert_eq!(a.kind, AnswerKind::Retrieval);
    let n = ask(&mut lib, &Scope::All, "How many orders are there?");
    assert_eq!(n.value.as_deref(), Some("4"));
}
