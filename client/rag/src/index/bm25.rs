//! BM25 over the chunk texts with tantivy, in RAM only (rebuilt when a library is opened, so
//! nothing of the index is ever on disk). English stop words are dropped and words stemmed:
//! with stop words left in, "the/is/my" matches dragged the fused ranking down.

use tantivy::{
    Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term,
    collector::TopDocs,
    query::{BooleanQuery, Occur, Query, TermQuery},
    schema::{
        Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
        Value,
    },
    tokenizer::{Language, LowerCaser, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer},
};

use super::ChunkId;
use crate::error::{Error, Result};

/// Name of the analyzer registered for the body field.
const ANALYZER: &str = "en_stem";
/// Memory budget of tantivy's writer (its minimum per thread is 15 MB).
const WRITER_HEAP: usize = 50_000_000;

fn err(e: impl std::fmt::Display) -> Error {
    Error::Index(e.to_string())
}

/// The keyword index.
pub(crate) struct Bm25 {
    writer: IndexWriter,
    reader: IndexReader,
    id: Field,
    file: Field,
    body: Field,
    analyzer: TextAnalyzer,
    dirty: bool,
}

impl std::fmt::Debug for Bm25 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bm25")
    }
}

/// Matches documents holding any of `terms` in `field`.
fn any_of(field: Field, terms: &[String], option: IndexRecordOption) -> Box<dyn Query> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .iter()
        .map(|t| {
            let q: Box<dyn Query> =
                Box::new(TermQuery::new(Term::from_field_text(field, t), option));
            (Occur::Should, q)
        })
        .collect();
    Box::new(BooleanQuery::new(clauses))
}

fn analyzer() -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(LowerCaser)
        .dynamic();
    let builder = match StopWordFilter::new(Language::English) {
        Some(stop) => builder.filter_dynamic(stop),
        None => builder,
    };
    builder
        .filter_dynamic(Stemmer::new(Language::English))
        .build()
}

impl Bm25 {
    pub(crate) fn new() -> Result<Self> {
        let mut schema = Schema::builder();
        let id = schema.add_u64_field("id", INDEXED | STORED);
        let file = schema.add_text_field("file", STRING);
        let body = schema.add_text_field(
            "body",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ANALYZER)
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        );
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(ANALYZER, analyzer());
        let writer = index.writer_with_num_threads(1, WRITER_HEAP).map_err(err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(Self {
            writer,
            reader,
            id,
            file,
            body,
            analyzer: analyzer(),
            dirty: false,
        })
    }

    pub(crate) fn add(&mut self, id: ChunkId, file: &str, text: &str) -> Result<()> {
        let mut doc = TantivyDocument::default();
        doc.add_u64(self.id, id);
        doc.add_text(self.file, file);
        doc.add_text(self.body, text);
        self.writer.add_document(doc).map_err(err)?;
        self.dirty = true;
        Ok(())
    }

    pub(crate) fn remove_file(&mut self, file: &str) {
        self.writer
            .delete_term(Term::from_field_text(self.file, file));
        self.dirty = true;
    }

    /// Makes the changes searchable.
    pub(crate) fn commit(&mut self) -> Result<()> {
        if self.dirty {
            self.writer.commit().map_err(err)?;
            self.reader.reload().map_err(err)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// The analyzed terms of a text (lowercased, stop words dropped, stemmed).
    pub(crate) fn terms(&mut self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stream = self.analyzer.token_stream(text);
        while stream.advance() {
            let t = stream.token().text.clone();
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    /// The `k` best chunks for `text`, restricted to `files` when given. The text is never
    /// parsed as query syntax: each analyzed term is one optional clause.
    pub(crate) fn search(
        &mut self,
        text: &str,
        k: usize,
        files: Option<&[String]>,
    ) -> Result<Vec<(ChunkId, f32)>> {
        let terms = self.terms(text);
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let mut query = any_of(self.body, &terms, IndexRecordOption::WithFreqs);
        if let Some(files) = files {
            query = Box::new(BooleanQuery::new(vec![
                (Occur::Must, query),
                (
                    Occur::Must,
                    any_of(self.file, files, IndexRecordOption::Basic),
                ),
            ]));
        }
        let searcher = self.reader.searcher();
        let top = searcher
            .search(&query, &TopDocs::with_limit(k).order_by_score())
            .map_err(err)?;
        let mut out = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr).map_err(err)?;
            if let Some(id) = doc.get_first(self.id).and_then(|v| v.as_u64()) {
                out.push((id, score));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_drops_stop_words_scopes_and_deletes() {
        let mut b = Bm25::new().expect("index");
        b.add(1, "a", "The invoices were paid in March")
            .expect("add");
        b.add(2, "a", "the the the is is my").expect("add");
        b.add(3, "b", "Invoice paid for the boiler repair")
            .expect("add");
        b.commit().expect("commit");
        assert_eq!(b.terms("The invoices are paid"), vec!["invoic", "paid"]);
        let ids: Vec<u64> = b
            .search("is the invoice paid", 10, None)
            .expect("search")
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(ids.len(), 2, "stop words match nothing: {ids:?}");
        assert!(ids.contains(&1) && ids.contains(&3));
        let scoped = b
            .search("invoice", 10, Some(&["b".to_owned()]))
            .expect("search");
        assert_eq!(scoped.iter().map(|x| x.0).collect::<Vec<_>>(), vec![3]);
        b.remove_file("b");
        b.commit().expect("commit");
        let left: Vec<u64> = b
            .search("invoice", 10, None)
            .expect("search")
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(left, vec![1]);
    }
}
