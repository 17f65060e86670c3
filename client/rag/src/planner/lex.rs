//! The planner's reading of a question: tokens, and where the table's own column names and
//! values occur in them.

use crate::table::{ColType, TableInfo};

/// One word of the question.
#[derive(Debug, Clone)]
pub(super) struct Tok {
    /// Lowercased, surrounding punctuation removed.
    pub(super) text: String,
    /// Written with a capital letter (and not the first word).
    pub(super) capital: bool,
    /// Its value, if it is a number (`1,000`, `$12.50`, `7%` read as 7).
    pub(super) num: Option<f64>,
}

/// Splits a question into tokens.
pub(super) fn tokenize(question: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    for (i, raw) in question.split_whitespace().enumerate() {
        let trimmed = raw.trim_matches(|c: char| {
            !(c.is_alphanumeric() || matches!(c, '$' | '€' | '£' | '%' | '*' | '+' | '/'))
        });
        let trimmed = trimmed
            .strip_suffix("'s")
            .or_else(|| trimmed.strip_suffix("’s"))
            .unwrap_or(trimmed);
        if trimmed.is_empty() {
            continue;
        }
        let capital = i > 0 && trimmed.chars().next().is_some_and(char::is_uppercase);
        let text = trimmed.to_lowercase();
        let num = parse_number(&text);
        out.push(Tok { text, capital, num });
    }
    out
}

/// `12`, `-3.5`, `1,000`, `$12.50`, `7%`.
pub(super) fn parse_number(text: &str) -> Option<f64> {
    let t = text
        .trim_start_matches(['$', '€', '£'])
        .trim_end_matches('%');
    if t.is_empty() || !t.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    let grouped = t.contains(',');
    if grouped {
        // only well-formed thousands groups
        let mut parts = t.split('.').next().unwrap_or("").split(',');
        let first = parts.next().unwrap_or("");
        if first.is_empty() || first.len() > 3 || parts.any(|p| p.len() != 3) {
            return None;
        }
    }
    let clean: String = t.chars().filter(|&c| c != ',').collect();
    if !clean
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        return None;
    }
    clean.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Words of a column name: `unitPrice`, `unit_price` and `Unit Price` are all `unit price`.
pub(super) fn name_words(ident: &str) -> Vec<String> {
    ident
        .split(['_', '.', ' '])
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Common abbreviations in headers.
fn expand(word: &str) -> &str {
    match word {
        "qty" => "quantity",
        "amt" => "amount",
        "dept" => "department",
        "num" | "no" => "number",
        "desc" => "description",
        other => other,
    }
}

/// A question word matches a name word, allowing plurals either way.
pub(super) fn word_eq(tok: &str, word: &str) -> bool {
    let word = expand(word);
    let tok = expand(tok);
    if tok == word {
        return true;
    }
    // "released" names `release_year`, "ordered" names `order_date`
    if word.len() >= 4
        && [
            tok.strip_suffix('d'),
            tok.strip_suffix("ed"),
            tok.strip_suffix("ing"),
        ]
        .contains(&Some(word))
    {
        return true;
    }
    let plural = |s: &str, p: &str| {
        p.strip_suffix("ies")
            .is_some_and(|stem| s.strip_suffix('y') == Some(stem))
            || p.strip_suffix("es") == Some(s)
            || p.strip_suffix('s') == Some(s)
    };
    plural(tok, word) || plural(word, tok)
}

/// Generic name words that do not name a column alone.
fn generic(word: &str) -> bool {
    matches!(
        word,
        "id" | "no"
            | "number"
            | "num"
            | "name"
            | "code"
            | "type"
            | "value"
            | "total"
            | "of"
            | "the"
            | "c"
    )
}

/// Where a column is named in the question.
#[derive(Debug, Clone)]
pub(super) struct Mention {
    pub(super) start: usize,
    pub(super) len: usize,
    /// Columns it may name; several only when a partial name fits more than one.
    pub(super) cols: Vec<usize>,
    /// Every word of the name was matched.
    pub(super) full: bool,
}

/// Where a value of a text column occurs in the question.
#[derive(Debug, Clone)]
pub(super) struct ValueHit {
    pub(super) start: usize,
    pub(super) len: usize,
    /// (column, the value as stored).
    pub(super) cols: Vec<(usize, String)>,
}

fn seq_matches(toks: &[Tok], at: usize, words: &[String]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| toks.get(at + k).is_some_and(|t| word_eq(&t.text, w)))
}

/// Finds column mentions: the whole name, or a contiguous part of it that is not only generic
/// words (so "price" names `unit_price`).
pub(super) fn find_mentions(toks: &[Tok], table: &TableInfo) -> Vec<Mention> {
    let mut found: Vec<Mention> = Vec::new();
    for at in 0..toks.len() {
        // (len, col, full)
        let mut best: Vec<(usize, usize, bool)> = Vec::new();
        for (c, col) in table.columns.iter().enumerate() {
            let words = name_words(&col.ident);
            let n = words.len();
            // the identifier itself, as in "order_id"
            if n > 1
                && toks
                    .get(at)
                    .is_some_and(|t| crate::table::ident_of(&t.text) == col.ident)
            {
                best.push((1, c, true));
                continue;
            }
            for len in (1..=n).rev() {
                for from in 0..=(n - len) {
                    let part = words.get(from..from + len).unwrap_or(&[]);
                    let full = len == n;
                    if !full && part.iter().all(|w| generic(w)) {
                        continue;
                    }
                    if seq_matches(toks, at, part) {
                        best.push((len, c, full));
                    }
                }
            }
        }
        let Some(&(max_len, _, _)) = best.iter().max_by_key(|b| (b.0, b.2)) else {
            continue;
        };
        let any_full = best.iter().any(|b| b.0 == max_len && b.2);
        let mut cols: Vec<usize> = best
            .iter()
            .filter(|b| b.0 == max_len && (b.2 || !any_full))
            .map(|b| b.1)
            .collect();
        cols.dedup();
        found.push(Mention {
            start: at,
            len: max_len,
            cols,
            full: any_full,
        });
    }
    longest_first(found, toks.len(), |m| (m.start, m.len))
}

/// Of spans that overlap, keeps the longest (then the first); returns them in question order.
fn longest_first<T>(
    mut items: Vec<T>,
    n_toks: usize,
    span: impl Fn(&T) -> (usize, usize),
) -> Vec<T> {
    items.sort_by_key(|x| {
        let (start, len) = span(x);
        (std::cmp::Reverse(len), start)
    });
    let mut taken = vec![false; n_toks];
    let mut out = Vec::new();
    for x in items {
        let (start, len) = span(&x);
        if (start..start + len).all(|i| !taken.get(i).copied().unwrap_or(true)) {
            for t in taken.iter_mut().skip(start).take(len) {
                *t = true;
            }
            out.push(x);
        }
    }
    out.sort_by_key(|x| span(x).0);
    out
}

/// Finds values of text (and id-like) columns written in the question, longest first.
pub(super) fn find_values(toks: &[Tok], table: &TableInfo) -> Vec<ValueHit> {
    let mut hits: Vec<ValueHit> = Vec::new();
    for (c, col) in table.columns.iter().enumerate() {
        if !matches!(col.ty, ColType::Text) {
            continue;
        }
        for value in &col.distinct {
            let vt: Vec<String> = tokenize(value).into_iter().map(|t| t.text).collect();
            if vt.is_empty() || vt.len() > 8 {
                continue;
            }
            for at in 0..toks.len() {
                let m = vt
                    .iter()
                    .enumerate()
                    .all(|(k, w)| toks.get(at + k).is_some_and(|t| &t.text == w));
                if m {
                    match hits.iter_mut().find(|h| h.start == at && h.len == vt.len()) {
                        Some(h) => h.cols.push((c, value.clone())),
                        None => hits.push(ValueHit {
                            start: at,
                            len: vt.len(),
                            cols: vec![(c, value.clone())],
                        }),
                    }
                }
            }
        }
    }
    longest_first(hits, toks.len(), |h| (h.start, h.len))
}

/// Month number of a month name or its abbreviation (`mar`, `sept`).
pub(super) fn month(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() >= 3 && m.starts_with(word)))
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// Small numbers written as words ("rounded to two decimal places").
pub(super) fn number_word(word: &str) -> Option<u32> {
    match word {
        "zero" => Some(0),
        "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        "four" => Some(4),
        "five" => Some(5),
        "six" => Some(6),
        _ => word.parse().ok().filter(|n| *n <= 12),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_words() {
        let t = tokenize("What's the total for Order 1,007 above $12.50?");
        let texts: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(
            texts,
            vec![
                "what", "the", "total", "for", "order", "1,007", "above", "$12.50"
            ]
        );
        assert_eq!(t[5].num, Some(1007.0));
        assert_eq!(t[7].num, Some(12.5));
        assert!(t[4].capital && !t[0].capital);
        assert_eq!(parse_number("1,00"), None);
        assert_eq!(parse_number("C-1042"), None);
        assert!(word_eq("categories", "category"));
        assert!(word_eq("orders", "order"));
        assert!(word_eq("quantity", "qty"));
        assert!(!word_eq("order", "ordered"));
        assert_eq!(month("march"), Some(3));
        assert_eq!(month("sep"), Some(9));
        assert_eq!(month("may"), Some(5));
        assert_eq!(month("mark"), None);
    }
}
