//! The library: the files a user has ingested, their indexes, tables and chat history, kept
//! in memory while open and sealed on disk.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    fs,
    path::{Path, PathBuf},
};

use crate::{
    answer::{Answer, AnswerKind, Citation},
    at_rest::{self, AtRest},
    chat::Turn,
    chunk::{self, Chunk, FileKind, Locator},
    embed::{Embedder, MiniLm},
    error::{Error, Result},
    exact,
    generate::Backend,
    index::{Bm25, ChunkId, Dense, RRF_K, rrf},
    store::{self, FileHeader},
    table::Tables,
};

/// Largest file accepted by `ingest`.
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Candidates each retriever contributes to the fusion.
pub const CANDIDATES: usize = 50;
/// Passages given to the language model.
pub const CONTEXT_CHUNKS: usize = 6;
/// Passages quoted in an extractive answer.
pub const EXTRACTIVE_CHUNKS: usize = 3;
/// Texts embedded per call while ingesting (progress is reported between calls).
const EMBED_STEP: usize = 64;

const FILES_DIR: &str = "files";
pub(crate) const CHATS_DIR: &str = "chats";

/// Which files a question may draw on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every file in the library.
    #[default]
    All,
    /// Only these files, by id or name.
    Files(Vec<String>),
}

/// What `ingest` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestReport {
    /// Chunks the file has now.
    pub chunks: usize,
    /// Chunks embedded by this call.
    pub embedded: usize,
    /// Chunks whose vector was already known (same text) and reused.
    pub reused: usize,
    /// The file is a table (CSV, or JSON with an array of objects) for exact answers.
    pub table: bool,
}

/// A file in the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Id given to `ingest`.
    pub file_id: String,
    /// Name given to `ingest`.
    pub name: String,
    /// How it was read.
    pub kind: FileKind,
    /// Number of chunks.
    pub chunks: usize,
    /// Whether it is queryable as a table.
    pub table: bool,
}

/// A retrieved passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// Where it is.
    pub citation: Citation,
    /// The chunk's text.
    pub text: String,
    /// Fused score (reciprocal rank fusion).
    pub score: f64,
}

pub(crate) struct FileEntry {
    pub(crate) name: String,
    pub(crate) kind: FileKind,
    pub(crate) source: String,
    pub(crate) chunks: Vec<Chunk>,
    pub(crate) hashes: Vec<[u8; 32]>,
    pub(crate) ids: Vec<ChunkId>,
}

/// A user's local question-answering library.
pub struct Library {
    dir: PathBuf,
    keys: AtRest,
    embedder: Box<dyn Embedder>,
    pub(crate) files: BTreeMap<String, FileEntry>,
    /// chunk id → (file id, index in the file)
    owners: HashMap<ChunkId, (String, usize)>,
    bm25: Bm25,
    dense: Dense,
    pub(crate) tables: Tables,
    pub(crate) chats: BTreeMap<String, Vec<Turn>>,
    next_id: ChunkId,
    llm_queries: bool,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("dir", &self.dir)
            .field("files", &self.files.len())
            .field("chunks", &self.owners.len())
            .finish()
    }
}

fn hex32(h: &[u8; 32]) -> String {
    hex::encode(h)
}

fn unhex32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

impl Library {
    /// Opens (or creates) the library in `dir`, sealed under a key derived from `at_rest_key`
    /// (at least 32 bytes of key material from the user's keystore), with the embedding model
    /// installed by `scripts/setup`.
    pub fn open(dir: &Path, at_rest_key: &[u8]) -> Result<Self> {
        let model = MiniLm::load_default()?;
        Self::open_with(dir, at_rest_key, Box::new(model))
    }

    /// Opens with a given embedder. Vectors stored by another model are recomputed.
    pub fn open_with(dir: &Path, at_rest_key: &[u8], embedder: Box<dyn Embedder>) -> Result<Self> {
        let keys = AtRest::derive(at_rest_key)?;
        fs::create_dir_all(dir).map_err(Error::io(dir))?;
        let mut lib = Self {
            dir: dir.to_owned(),
            keys,
            dense: Dense::new(embedder.dim()),
            embedder,
            files: BTreeMap::new(),
            owners: HashMap::new(),
            bm25: Bm25::new()?,
            tables: Tables::new()?,
            chats: BTreeMap::new(),
            next_id: 1,
            llm_queries: false,
        };
        for path in sealed_files(&dir.join(FILES_DIR))? {
            let plain = lib.keys.read(&path)?;
            let (header, vectors) = store::decode(&plain).map_err(|what| Error::Corrupt {
                path: path.clone(),
                what,
            })?;
            lib.restore(header, vectors)?;
        }
        lib.bm25.commit()?;
        for path in sealed_files(&dir.join(CHATS_DIR))? {
            let plain = lib.keys.read(&path)?;
            let (session, turns): (String, Vec<Turn>) =
                serde_json::from_slice(&plain).map_err(|e| Error::Corrupt {
                    path: path.clone(),
                    what: e.to_string(),
                })?;
            lib.chats.insert(session, turns);
        }
        Ok(lib)
    }

    fn restore(&mut self, header: FileHeader, vectors: Vec<f32>) -> Result<()> {
        let same_model =
            header.model == self.embedder.model_id() && header.dim == self.embedder.dim();
        let mut known: HashMap<[u8; 32], Vec<f32>> = HashMap::new();
        if same_model && header.dim > 0 {
            for (h, v) in header.hashes.iter().zip(vectors.chunks_exact(header.dim)) {
                if let Some(h) = unhex32(h) {
                    known.insert(h, v.to_vec());
                }
            }
        }
        let report = self.install(
            &header.file_id,
            &header.name,
            header.source,
            known,
            &mut |_, _| {},
        )?;
        if report.embedded > 0 {
            // chunking or the model changed since it was stored: store the new vectors
            self.save_file(&header.file_id)?;
        }
        Ok(())
    }

    /// Lets the configured language model write the table query when the deterministic
    /// planner cannot map a question (off by default; the planner always goes first). The
    /// query is shown with the answer and only runs if it is one read-only SELECT over tables
    /// in scope.
    pub fn set_llm_queries(&mut self, on: bool) {
        self.llm_queries = on;
    }

    /// The files in the library.
    pub fn files(&self) -> Vec<FileInfo> {
        self.files
            .iter()
            .map(|(id, f)| FileInfo {
                file_id: id.clone(),
                name: f.name.clone(),
                kind: f.kind,
                chunks: f.chunks.len(),
                table: self.tables.get(id).is_some(),
            })
            .collect()
    }

    /// Adds or replaces a file from its plaintext (in memory; nothing of it is written in the
    /// clear). Chunks whose text is already known are not embedded again.
    pub fn ingest(&mut self, file_id: &str, name: &str, bytes: &[u8]) -> Result<IngestReport> {
        self.ingest_with_progress(file_id, name, bytes, &mut |_, _| {})
    }

    /// `ingest`, calling `progress(done, total)` as chunks are embedded.
    pub fn ingest_with_progress(
        &mut self,
        file_id: &str,
        name: &str,
        bytes: &[u8],
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<IngestReport> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(Error::Unsupported {
                name: name.into(),
                what: format!("larger than {MAX_FILE_BYTES} bytes"),
            });
        }
        let text = std::str::from_utf8(bytes)
            .ok()
            .filter(|t| !t.contains('\0'))
            .ok_or_else(|| Error::Unsupported {
                name: name.into(),
                what: "not UTF-8 text (only CSV, JSON, text and markdown are indexed)".into(),
            })?;
        let report = self.install(file_id, name, text.to_owned(), HashMap::new(), progress)?;
        self.bm25.commit()?;
        self.save_file(file_id)?;
        Ok(report)
    }

    /// Chunks, embeds what is new, and swaps the file's chunks into every index.
    fn install(
        &mut self,
        file_id: &str,
        name: &str,
        source: String,
        mut known: HashMap<[u8; 32], Vec<f32>>,
        progress: &mut dyn FnMut(usize, usize),
    ) -> Result<IngestReport> {
        let kind = FileKind::from_name(name);
        let chunks = chunk::chunk_file(kind, &source);
        let hashes: Vec<[u8; 32]> = chunks.iter().map(Chunk::hash).collect();
        // vectors already in the library, from any file, are reused
        let wanted: HashSet<[u8; 32]> = hashes.iter().copied().collect();
        for entry in self.files.values() {
            for (h, id) in entry.hashes.iter().zip(&entry.ids) {
                if wanted.contains(h)
                    && !known.contains_key(h)
                    && let Some(v) = self.dense.get(*id)
                {
                    known.insert(*h, v.to_vec());
                }
            }
        }
        let mut todo: Vec<usize> = Vec::new();
        let mut seen = HashSet::new();
        for (i, h) in hashes.iter().enumerate() {
            if !known.contains_key(h) && seen.insert(*h) {
                todo.push(i);
            }
        }
        let total = todo.len();
        progress(0, total);
        for (step, batch) in todo.chunks(EMBED_STEP).enumerate() {
            let texts: Vec<&str> = batch
                .iter()
                .filter_map(|&i| chunks.get(i).map(|c| c.text.as_str()))
                .collect();
            let vectors = self.embedder.embed(&texts)?;
            if vectors.len() != batch.len()
                || vectors.iter().any(|v| v.len() != self.embedder.dim())
            {
                return Err(Error::Model(
                    "the embedder returned vectors of the wrong shape".into(),
                ));
            }
            for (&i, v) in batch.iter().zip(vectors) {
                if let Some(h) = hashes.get(i) {
                    known.insert(*h, v);
                }
            }
            progress((step * EMBED_STEP + batch.len()).min(total), total);
        }
        // the table view (CSV, or JSON with an array of objects)
        let table = match kind {
            FileKind::Csv => {
                let records = chunk::parse_csv(&source);
                records.split_first().map(|(header, rows)| {
                    let rows = rows
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.iter().any(|v| !v.trim().is_empty()))
                        .map(|(i, r)| {
                            (
                                Locator::Row {
                                    row: u32::try_from(i + 1).unwrap_or(u32::MAX),
                                },
                                r.iter().map(|v| Some(v.clone())).collect(),
                            )
                        })
                        .collect::<Vec<_>>();
                    (header.clone(), rows)
                })
            }
            FileKind::Json => serde_json::from_str::<serde_json::Value>(&source)
                .ok()
                .as_ref()
                .and_then(chunk::json_table)
                .map(|t| {
                    let rows = t
                        .rows
                        .into_iter()
                        .map(|(path, values)| (Locator::Record { path }, values))
                        .collect();
                    (t.columns, rows)
                }),
            FileKind::Text => None,
        };
        self.remove_from_indexes(file_id)?;
        let is_table = match table {
            Some((header, rows)) if !header.is_empty() && !rows.is_empty() => {
                self.tables.load(file_id, name, &header, rows)?;
                true
            }
            _ => false,
        };
        let mut ids = Vec::with_capacity(chunks.len());
        for (i, (c, h)) in chunks.iter().zip(&hashes).enumerate() {
            let id = self.next_id;
            self.next_id += 1;
            let v = known
                .get(h)
                .ok_or_else(|| Error::Model("missing vector".into()))?;
            self.dense.push(id, v);
            self.bm25.add(id, file_id, &c.text)?;
            self.owners.insert(id, (file_id.to_owned(), i));
            ids.push(id);
        }
        let report = IngestReport {
            chunks: chunks.len(),
            embedded: total,
            reused: chunks.len() - total.min(chunks.len()),
            table: is_table,
        };
        self.files.insert(
            file_id.to_owned(),
            FileEntry {
                name: name.to_owned(),
                kind,
                source,
                chunks,
                hashes,
                ids,
            },
        );
        Ok(report)
    }

    fn remove_from_indexes(&mut self, file_id: &str) -> Result<bool> {
        let Some(old) = self.files.remove(file_id) else {
            return Ok(false);
        };
        let gone: HashSet<ChunkId> = old.ids.iter().copied().collect();
        self.dense.retain(|id| !gone.contains(&id));
        for id in &old.ids {
            self.owners.remove(id);
        }
        self.bm25.remove_file(file_id);
        self.tables.remove(file_id)?;
        Ok(true)
    }

    fn file_path(&self, file_id: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join(FILES_DIR)
            .join(self.keys.file_name("file", file_id)?))
    }

    pub(crate) fn chat_path(&self, session: &str) -> Result<PathBuf> {
        Ok(self
            .dir
            .join(CHATS_DIR)
            .join(self.keys.file_name("chat", session)?))
    }

    pub(crate) fn keys(&self) -> &AtRest {
        &self.keys
    }

    fn save_file(&self, file_id: &str) -> Result<()> {
        let entry = self
            .files
            .get(file_id)
            .ok_or_else(|| Error::UnknownFile(file_id.into()))?;
        let dim = self.embedder.dim();
        let mut vectors = Vec::with_capacity(entry.ids.len() * dim);
        for id in &entry.ids {
            vectors.extend_from_slice(
                self.dense
                    .get(*id)
                    .ok_or_else(|| Error::Model("missing vector".into()))?,
            );
        }
        let header = FileHeader {
            file_id: file_id.to_owned(),
            name: entry.name.clone(),
            kind: entry.kind,
            model: self.embedder.model_id().to_owned(),
            dim,
            hashes: entry.hashes.iter().map(hex32).collect(),
            source: entry.source.clone(),
        };
        let plain = zeroize::Zeroizing::new(store::encode(&header, &vectors));
        self.keys.write(&self.file_path(file_id)?, &plain)
    }

    /// Removes a file: its chunks, vectors, table and stored record, and every chat turn that
    /// cited it or was asked about it. Returns whether it was there.
    pub fn forget(&mut self, file_id: &str) -> Result<bool> {
        let existed = self.remove_from_indexes(file_id)?;
        self.bm25.commit()?;
        at_rest::remove(&self.file_path(file_id)?)?;
        self.forget_in_chats(file_id)?;
        Ok(existed)
    }

    /// Resolves a scope to file ids (None for all). Unknown names are an error, so a typo
    /// never widens a question to the whole library.
    pub(crate) fn resolve(&self, scope: &Scope) -> Result<Option<Vec<String>>> {
        match scope {
            Scope::All => Ok(None),
            Scope::Files(names) => {
                let mut ids = Vec::new();
                for n in names {
                    let matches: Vec<&String> = self
                        .files
                        .iter()
                        .filter(|(id, f)| *id == n || f.name == *n)
                        .map(|(id, _)| id)
                        .collect();
                    if matches.is_empty() {
                        return Err(Error::UnknownFile(n.clone()));
                    }
                    ids.extend(matches.into_iter().cloned());
                }
                ids.sort();
                ids.dedup();
                Ok(Some(ids))
            }
        }
    }

    /// Hybrid retrieval: BM25 top 50 and cosine top 50 inside the scope, fused by RRF; the
    /// best `k`.
    pub fn search(&mut self, scope: &Scope, query: &str, k: usize) -> Result<Vec<Hit>> {
        let files = self.resolve(scope)?;
        self.search_in(files.as_deref(), query, k)
    }

    pub(crate) fn search_in(
        &mut self,
        files: Option<&[String]>,
        query: &str,
        k: usize,
    ) -> Result<Vec<Hit>> {
        // BM25 runs on its own thread while the query is embedded and the vectors scanned
        let (bm25, embedder, vectors, owners) = (
            &mut self.bm25,
            &mut self.embedder,
            &self.dense,
            &self.owners,
        );
        let (keyword, dense) = std::thread::scope(|scope| {
            let keyword = scope.spawn(move || bm25.search(query, CANDIDATES, files));
            let dense = (|| {
                let qv = embedder
                    .embed(&[query])?
                    .pop()
                    .ok_or_else(|| Error::Model("no query vector".into()))?;
                let allowed: Option<HashSet<&str>> =
                    files.map(|f| f.iter().map(String::as_str).collect());
                Ok::<_, Error>(vectors.search(&qv, CANDIDATES, |id| {
                    match &allowed {
                        None => true,
                        Some(set) => owners
                            .get(&id)
                            .is_some_and(|(f, _)| set.contains(f.as_str())),
                    }
                }))
            })();
            let keyword = keyword
                .join()
                .unwrap_or_else(|_| Err(Error::Index("the keyword search panicked".into())));
            (keyword, dense)
        });
        let keyword: Vec<ChunkId> = keyword?.into_iter().map(|(id, _)| id).collect();
        let dense: Vec<ChunkId> = dense?.into_iter().map(|(id, _)| id).collect();
        let fused = rrf(&[&keyword, &dense], RRF_K);
        Ok(fused
            .into_iter()
            .take(k)
            .filter_map(|(id, score)| {
                let (file_id, i) = self.owners.get(&id)?;
                let entry = self.files.get(file_id)?;
                let chunk = entry.chunks.get(*i)?;
                let mut citation = Citation::new(file_id, &entry.name, Some(chunk.locator.clone()));
                citation.excerpt = Some(chunk.text.clone());
                Some(Hit {
                    citation,
                    text: chunk.text.clone(),
                    score,
                })
            })
            .collect())
    }

    /// Answers a question inside `scope`. Table questions get an exact answer computed by a
    /// query, with no language model. Otherwise the best passages are retrieved and, with a
    /// backend, the model answers from them (streamed to `on_token`); without one the answer
    /// is extractive. A table question that cannot be mapped to a query gets passages and a
    /// note, never a number.
    pub fn ask(
        &mut self,
        scope: &Scope,
        question: &str,
        backend: &Backend,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Answer> {
        self.answer(scope, question, &[], backend, on_token)
    }

    pub(crate) fn answer(
        &mut self,
        scope: &Scope,
        question: &str,
        history: &[Turn],
        backend: &Backend,
        on_token: &mut dyn FnMut(&str),
    ) -> Result<Answer> {
        let files = self.resolve(scope)?;
        let has_tables = self
            .tables
            .all()
            .any(|t| files.as_ref().is_none_or(|f| f.contains(&t.file_id)));
        let mut note = None;
        if has_tables {
            match exact::answer(&self.tables, files.as_deref(), question) {
                Ok(ex) => {
                    return Ok(Answer {
                        kind: AnswerKind::Exact,
                        text: ex.text,
                        value: Some(ex.value),
                        query: Some(ex.plan.sql),
                        citations: ex.citations,
                        note: None,
                    });
                }
                Err(why) if crate::prompt::wants_computation(question) => {
                    let by_model = if self.llm_queries && backend.is_some() {
                        crate::llm_sql::answer(&self.tables, files.as_deref(), question, backend)
                    } else {
                        Err(why.clone())
                    };
                    if let Ok(answer) = by_model {
                        return Ok(answer);
                    }
                    note = Some(format!(
                        "not computed: the question could not be mapped to a query over the tables ({why}); these are the passages that match best"
                    ));
                }
                Err(_) => {}
            }
        }
        let retrieval_query = crate::prompt::retrieval_query(question, history);
        let k = if backend.is_some() && note.is_none() {
            CONTEXT_CHUNKS
        } else {
            EXTRACTIVE_CHUNKS
        };
        let hits = self.search_in(files.as_deref(), &retrieval_query, k)?;
        if let Some(note) = note {
            return Ok(crate::prompt::extractive(
                question,
                &hits,
                AnswerKind::Retrieval,
                Some(note),
            ));
        }
        if !backend.is_some() {
            return Ok(crate::prompt::extractive(
                question,
                &hits,
                AnswerKind::Extractive,
                Some("no language model is configured: the passages that match best".into()),
            ));
        }
        if hits.is_empty() {
            return Ok(Answer {
                kind: AnswerKind::Generated,
                text: "Nothing in the selected files matches the question.".into(),
                value: None,
                query: None,
                citations: Vec::new(),
                note: None,
            });
        }
        let messages = crate::prompt::messages(question, history, &hits);
        let text = backend.chat(&messages, on_token)?;
        let citations = crate::prompt::cited(&text, &hits);
        Ok(Answer {
            kind: AnswerKind::Generated,
            text,
            value: None,
            query: None,
            citations,
            note: None,
        })
    }
}

/// The sealed files in a folder (none if it does not exist), in name order.
fn sealed_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                path: dir.to_owned(),
                source: e,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries {
        let path = entry.map_err(Error::io(dir))?.path();
        if path.extension().is_some_and(|e| e == at_rest::EXT) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests;
