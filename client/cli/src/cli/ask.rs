//! `zgvault ask`, `chat` and `forget`: questions over the user's files, answered on this
//! device (`zgvault-rag`). A file named by its id is fetched as `get` fetches it (K through
//! whichever custody holds it, so the gate is checked again every time) and opened **in
//! memory**; only what the library seals under a key derived from the account's key is
//! written to disk.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use alloy::primitives::B256;
use anyhow::{Context, bail};
use zgvault_client::account::home_dir;
use zgvault_client::flows::{self, GetStage, Session};
use zgvault_rag::{Answer, AnswerKind, Backend, Library, Locator, Scope};

use super::session::{SessionArgs, bar, print_json, runtime};

/// The largest file opened in memory to be asked about.
const MAX_ASK_BYTES: u64 = 256 << 20;
/// The label of the library's at-rest key (`Session::local_data_key`).
const LIBRARY_KEY_PURPOSE: &str = "zgvault/v1/rag-library";
/// The file naming the language model that writes answers, in the zgvault home.
const BACKEND_FILE: &str = "rag.toml";
/// How a local file is named in the library: this, then its absolute path.
const PATH_PREFIX: &str = "path:";
/// The chat session `zgvault chat` continues unless `--session` names another.
const DEFAULT_CHAT: &str = "default";

/// What to ask about: registered files by id, and local files.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Sources {
    /// A local file to ask about as well (CSV, JSON, text); repeatable. It is read, never
    /// uploaded.
    #[arg(long = "path", value_name = "FILE")]
    paths: Vec<PathBuf>,
    /// Answer from the passages alone (extractive), even when a model is configured in
    /// `rag.toml`.
    #[arg(long)]
    no_llm: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct AskArgs {
    /// File ids to ask about (`zgvault put` printed them), then the question, last.
    #[arg(required = true, num_args = 1.., value_name = "FILEID... QUESTION")]
    words: Vec<String>,
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    net: SessionArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ChatArgs {
    /// File ids to talk about [default: every file already asked about on this device].
    #[arg(value_name = "FILEID")]
    files: Vec<B256>,
    /// The conversation to continue; each keeps its own history on this device.
    #[arg(long, default_value = DEFAULT_CHAT)]
    session: String,
    #[command(flatten)]
    sources: Sources,
    #[command(flatten)]
    net: SessionArgs,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ForgetArgs {
    /// The file id, or for a local file its path (as given to `--path`, or `path:…` as
    /// `ask` cited it).
    file: String,
    #[command(flatten)]
    net: SessionArgs,
}

pub(crate) fn run_ask(args: AskArgs) -> anyhow::Result<()> {
    let Some((question, ids)) = args.words.split_last() else {
        bail!("give the question last: `zgvault ask FILEID... \"question\"`");
    };
    let file_ids = ids
        .iter()
        .map(|w| {
            w.parse::<B256>().with_context(|| {
                format!(
                    "{} is not a file id (0x and 64 hex digits); give the question last, \
                     in quotes",
                    zgvault_client::quoted(w)
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if file_ids.is_empty() && args.sources.paths.is_empty() {
        bail!("name what to ask about: `zgvault ask FILEID... \"question\"` or `--path FILE`");
    }
    let (session, mut library) = open(&args.net)?;
    let scope = gather(
        &session,
        &mut library,
        &file_ids,
        &args.sources,
        args.net.json,
    )?;
    let backend = backend(&args.sources)?;
    let answer = answer(
        &mut library,
        None,
        &scope,
        question,
        &backend,
        args.net.json,
    )?;
    report(&answer, args.net.json)
}

pub(crate) fn run_chat(args: ChatArgs) -> anyhow::Result<()> {
    let (session, mut library) = open(&args.net)?;
    let scope = if args.files.is_empty() && args.sources.paths.is_empty() {
        if library.files().is_empty() {
            bail!(
                "nothing to talk about yet: `zgvault chat FILEID...` (or `--path FILE`) \
                 reads the files first"
            );
        }
        Scope::All
    } else {
        gather(
            &session,
            &mut library,
            &args.files,
            &args.sources,
            args.net.json,
        )?
    };
    let backend = backend(&args.sources)?;
    let interactive = std::io::stdin().is_terminal();
    if interactive && !args.net.json {
        eprintln!(
            "asking about {}; one question per line, an empty line or Ctrl-D ends",
            describe(&scope)
        );
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive && !args.net.json {
            eprint!("> ");
            std::io::stderr().flush().ok();
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("cannot read the question from standard input")?;
        let question = line.trim();
        if question.is_empty() {
            if interactive {
                break;
            }
            continue;
        }
        let answer = answer(
            &mut library,
            Some(&args.session),
            &scope,
            question,
            &backend,
            args.net.json,
        )?;
        if args.net.json {
            println!("{}", serde_json::to_string(&answer)?);
        } else {
            report(&answer, false)?;
            println!();
        }
    }
    Ok(())
}

pub(crate) fn run_forget(args: ForgetArgs) -> anyhow::Result<()> {
    let (_session, mut library) = open(&args.net)?;
    let id = match args.file.parse::<B256>() {
        Ok(file_id) => file_key(file_id),
        // As `ask` printed it, or the path itself.
        Err(_) if args.file.starts_with(PATH_PREFIX) => args.file.clone(),
        Err(_) => path_key(Path::new(&args.file))?,
    };
    let removed = library.forget(&id)?;
    if args.net.json {
        return print_json(&serde_json::json!({ "file": id, "forgotten": removed }));
    }
    if removed {
        println!(
            "forgot {id}: its passages, vectors, table and the chat turns about it are gone \
             from this device"
        );
    } else {
        println!("{id} was not in this device's library: nothing to forget");
    }
    Ok(())
}

/// Unlocks the account and opens its library (sealed under a key derived from the account's).
fn open(net: &SessionArgs) -> anyhow::Result<(Session, Library)> {
    let session = net.open()?;
    let dir = home_dir().join("rag");
    let key = session.local_data_key(LIBRARY_KEY_PURPOSE);
    let library = Library::open(&dir, key.as_slice())
        .with_context(|| format!("cannot open the question library in {}", dir.display()))?;
    Ok((session, library))
}

/// Reads every named file into the library and returns the scope that names them all.
fn gather(
    session: &Session,
    library: &mut Library,
    file_ids: &[B256],
    sources: &Sources,
    quiet: bool,
) -> anyhow::Result<Scope> {
    let mut scope = Vec::new();
    if !file_ids.is_empty() {
        let rt = runtime()?;
        for &file_id in file_ids {
            let bar = bar(0, "asking for the key", quiet);
            let progress = |stage: GetStage, done: u64, total: u64| {
                bar.set_message(match stage {
                    GetStage::Confirming => "waiting for block",
                    GetStage::Key => "asking for the key",
                    GetStage::Download => "downloading segments",
                });
                bar.set_length(total);
                bar.set_position(done);
            };
            let read = rt.block_on(flows::get_in_memory(
                session,
                file_id,
                MAX_ASK_BYTES,
                &progress,
            ));
            bar.finish_and_clear();
            let read = read?;
            let id = file_key(file_id);
            ingest(library, &id, &read.report.name, &read.plaintext, quiet)?;
            scope.push(id);
        }
    }
    for path in &sources.paths {
        let bytes = zeroize::Zeroizing::new(
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let id = path_key(path)?;
        ingest(library, &id, &name, &bytes, quiet)?;
        scope.push(id);
    }
    Ok(Scope::Files(scope))
}

fn ingest(
    library: &mut Library,
    id: &str,
    name: &str,
    bytes: &[u8],
    quiet: bool,
) -> anyhow::Result<()> {
    let bar = bar(0, "reading", quiet);
    bar.set_message(format!("reading {}", zgvault_client::quoted(name)));
    let report = library.ingest_with_progress(id, name, bytes, &mut |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report =
        report.with_context(|| format!("cannot index {}", zgvault_client::quoted(name)))?;
    if !quiet && report.embedded > 0 {
        eprintln!(
            "indexed {} ({} passages, {} new)",
            zgvault_client::quoted(name),
            report.chunks,
            report.embedded
        );
    }
    Ok(())
}

/// Asks, streaming a generated answer's tokens to the terminal as they come.
fn answer(
    library: &mut Library,
    chat: Option<&str>,
    scope: &Scope,
    question: &str,
    backend: &Backend,
    json: bool,
) -> anyhow::Result<Answer> {
    let mut streamed = false;
    let mut on_token = |t: &str| {
        if !json {
            streamed = true;
            print!("{t}");
            std::io::stdout().flush().ok();
        }
    };
    let answer = match chat {
        Some(session) => library.chat(session, scope, question, backend, &mut on_token),
        None => library.ask(scope, question, backend, &mut on_token),
    }?;
    if streamed {
        println!();
    }
    Ok(Answer {
        // Already on the terminal; `report` prints the rest.
        text: if streamed { String::new() } else { answer.text },
        ..answer
    })
}

fn report(answer: &Answer, json: bool) -> anyhow::Result<()> {
    if json {
        return print_json(&serde_json::to_value(answer)?);
    }
    let label = match answer.kind {
        AnswerKind::Exact => "exact answer from the table",
        AnswerKind::Generated => "answer written by your model from the passages below",
        AnswerKind::Extractive => "no model configured: the passages that answer best",
        AnswerKind::Retrieval => "the passages that answer best",
    };
    if !answer.text.is_empty() {
        println!("{}", answer.text);
    }
    println!("({label})");
    if let Some(query) = &answer.query {
        println!("query: {query}");
    }
    if let Some(note) = &answer.note {
        println!("note: {note}");
    }
    for (i, c) in answer.citations.iter().enumerate() {
        let place = match &c.locator {
            Some(Locator::Row { row }) => format!(", row {row}"),
            Some(Locator::Record { path }) => format!(", record {path}"),
            Some(Locator::Lines { start, end }) => format!(", lines {start}-{end}"),
            None => String::new(),
        };
        println!("[{}] {}{place} ({})", i + 1, c.file_name, c.file_id);
    }
    Ok(())
}

/// The model that writes answers: `$ZGVAULT_HOME/rag.toml` (`backend = "ollama"`, `url`,
/// `model`, ...), or none (extractive answers).
fn backend(sources: &Sources) -> anyhow::Result<Backend> {
    if sources.no_llm {
        return Ok(Backend::None);
    }
    let path = home_dir().join(BACKEND_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str(&text).with_context(|| {
            format!(
                "{} is not a model setting: write `backend = \"ollama\"` with `url` and \
                 `model`, `backend = \"open_ai\"` with `url` and `model`, or `backend = \
                 \"none\"`",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Backend::None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn describe(scope: &Scope) -> String {
    match scope {
        Scope::All => "every file in this device's library".to_owned(),
        Scope::Files(files) => format!("{} file(s)", files.len()),
    }
}

/// A registered file's name in the library.
fn file_key(file_id: B256) -> String {
    format!("{file_id}")
}

/// A local file's name in the library: `path:` and its absolute path.
fn path_key(path: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(path)
        .with_context(|| format!("cannot resolve the path {}", path.display()))?;
    Ok(format!("{PATH_PREFIX}{}", abs.display()))
}

/// The web app's Ask panel over the same library `zgvault ask` uses: each question fetches
/// its files again (so the gate is checked again), opens them in memory and answers here.
#[cfg(feature = "ui")]
pub(crate) struct UiAsker {
    /// The library, opened for the first user who asks (one account per `zgvault ui`).
    library: std::sync::Mutex<Option<(alloy::primitives::Address, Library)>>,
}

#[cfg(feature = "ui")]
impl UiAsker {
    pub(crate) fn new() -> UiAsker {
        UiAsker {
            library: std::sync::Mutex::new(None),
        }
    }

    fn answer(
        &self,
        user: &Session,
        files: Vec<(B256, flows::InMemory)>,
        question: &str,
    ) -> anyhow::Result<zgvault_ui::AskAnswer> {
        let mut slot = self.library.lock().map_err(|_| {
            anyhow::anyhow!("the question library failed earlier: restart zgvault ui")
        })?;
        if slot.as_ref().is_none_or(|(who, _)| *who != user.address()) {
            let dir = home_dir().join("rag");
            let key = user.local_data_key(LIBRARY_KEY_PURPOSE);
            let library = Library::open(&dir, key.as_slice()).with_context(|| {
                format!("cannot open the question library in {}", dir.display())
            })?;
            *slot = Some((user.address(), library));
        }
        let Some((_, library)) = slot.as_mut() else {
            bail!("the question library is not open");
        };
        let mut scope = Vec::new();
        for (file_id, read) in &files {
            let id = file_key(*file_id);
            library
                .ingest(&id, &read.report.name, &read.plaintext)
                .with_context(|| {
                    format!("cannot index {}", zgvault_client::quoted(&read.report.name))
                })?;
            scope.push(id);
        }
        let backend = backend(&Sources {
            paths: Vec::new(),
            no_llm: false,
        })?;
        let answer = library.ask(&Scope::Files(scope), question, &backend, &mut |_| {})?;
        let mut text = answer.text.clone();
        if let Some(query) = &answer.query {
            text.push_str(&format!("\n(exact answer from the table; query: {query})"));
        } else if answer.kind == AnswerKind::Extractive {
            text.push_str("\n(no model configured: the passages that answer best)");
        }
        if let Some(note) = &answer.note {
            text.push_str(&format!("\n({note})"));
        }
        let citations = answer
            .citations
            .iter()
            .filter_map(|c| {
                Some(zgvault_ui::Citation {
                    file_id: c.file_id.parse().ok()?,
                    name: c.file_name.clone(),
                    locator: match &c.locator {
                        Some(Locator::Row { row }) => format!("row {row}"),
                        Some(Locator::Record { path }) => path.clone(),
                        Some(Locator::Lines { start, end }) => format!("lines {start}-{end}"),
                        None => String::new(),
                    },
                    excerpt: c.excerpt.clone().unwrap_or_default(),
                })
            })
            .collect();
        Ok(zgvault_ui::AskAnswer { text, citations })
    }
}

#[cfg(feature = "ui")]
impl zgvault_ui::Asker for UiAsker {
    fn ask<'a>(
        &'a self,
        user: &'a zgvault_ui::AskSession,
        request: zgvault_ui::AskRequest,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<zgvault_ui::AskAnswer, zgvault_ui::AskError>>
                + Send
                + 'a,
        >,
    > {
        Box::pin(async move {
            let fail = |e: anyhow::Error| zgvault_ui::AskError {
                message: format!("{e:#}"),
            };
            if request.files.is_empty() {
                return Err(zgvault_ui::AskError {
                    message: "pick the files to ask about".to_owned(),
                });
            }
            let mut files = Vec::new();
            for &file_id in &request.files {
                let read = flows::get_in_memory(user, file_id, MAX_ASK_BYTES, &|_, _, _| {})
                    .await
                    .map_err(|e| fail(e.into()))?;
                files.push((file_id, read));
            }
            let question = request.question;
            tokio::task::block_in_place(|| self.answer(user, files, &question)).map_err(fail)
        })
    }
}
