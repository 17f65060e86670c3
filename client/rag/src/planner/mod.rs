//! The deterministic table planner: maps the common question shapes to one read-only SELECT
//! over the table's own columns and values, with no language model. A question it cannot map
//! with certainty gets `Err(reason)`; the caller then falls back to retrieval and says so.
//!
//! Shapes: a field of the record with a given id; counting rows with filters; sum / average
//! (rounded as asked) / min / max of a column with filters; comparisons on numbers and years;
//! an arithmetic expression of two columns; the group with the most / least rows or the
//! largest / smallest sum or average; the record with the highest / lowest value; filters on a
//! month, a year or a date prefix.

mod filters;
mod lex;

use self::lex::{Mention, Tok, find_mentions, tokenize, word_eq};
use crate::table::{ColType, Column, ROW_COLUMN, TableInfo};

/// The kind of question a plan answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Lookup,
    Count,
    Aggregate,
    Group,
    Extreme,
}

/// A query for one question over one table.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) file_id: String,
    pub(crate) shape: Shape,
    /// The query whose result is the answer.
    pub(crate) sql: String,
    /// Selects `_row` of the rows the answer rests on, for the citations.
    pub(crate) rows_sql: String,
    /// Decimal places asked for.
    pub(crate) round: Option<u32>,
    /// How many question words the plan explains (to choose between tables).
    pub(crate) score: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Sum,
    Avg,
    Min,
    Max,
}

impl Agg {
    fn sql(self) -> &'static str {
        match self {
            Agg::Sum => "SUM",
            Agg::Avg => "AVG",
            Agg::Min => "MIN",
            Agg::Max => "MAX",
        }
    }
}

const MAX_WORDS: &[&str] = &[
    "maximum", "max", "highest", "largest", "biggest", "greatest", "latest",
];
const MIN_WORDS: &[&str] = &[
    "minimum", "min", "lowest", "smallest", "cheapest", "earliest",
];
const SUM_WORDS: &[&str] = &["total", "sum", "combined", "altogether"];
const AVG_WORDS: &[&str] = &["average", "mean", "avg"];

struct Ctx<'a> {
    table: &'a TableInfo,
    toks: Vec<Tok>,
    used: Vec<bool>,
    mentions: Vec<Mention>,
    /// Per mention: consumed by a filter (not a target), consumed by a comparison (may still
    /// be the target when nothing else is).
    mention_used: Vec<bool>,
    mention_cmp: Vec<bool>,
    filters: Vec<String>,
}

fn ident(col: &Column) -> String {
    format!("\"{}\"", col.ident)
}

fn fmt_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

fn year_like(n: f64) -> bool {
    n.fract() == 0.0 && (1900.0..=2100.0).contains(&n)
}

fn date_literal(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let ok = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ym = ok(0..4) && b.get(4) == Some(&b'-') && ok(5..7);
    match b.len() {
        7 if ym => Some(text),
        10 if ym && b.get(7) == Some(&b'-') && ok(8..10) => Some(text),
        _ => None,
    }
}

impl Ctx<'_> {
    fn tok(&self, i: usize) -> &str {
        self.toks.get(i).map(|t| t.text.as_str()).unwrap_or("")
    }

    fn free(&self, i: usize) -> bool {
        i < self.toks.len() && !self.used.get(i).copied().unwrap_or(true)
    }

    fn mark_mention(&mut self, m: usize) {
        if let Some((s, l)) = self.mentions.get(m).map(|mm| (mm.start, mm.len)) {
            self.mark(s, l);
        }
    }

    fn mark(&mut self, from: usize, len: usize) {
        for i in from..from + len {
            if let Some(u) = self.used.get_mut(i) {
                *u = true;
            }
        }
    }

    fn seq_at(&self, at: usize, words: &[&str]) -> bool {
        words
            .iter()
            .enumerate()
            .all(|(k, w)| self.free(at + k) && self.tok(at + k) == *w)
    }

    fn find_word(&self, words: &[&str]) -> Option<usize> {
        (0..self.toks.len()).find(|&i| self.free(i) && words.contains(&self.tok(i)))
    }

    fn col(&self, c: usize) -> Option<&Column> {
        self.table.columns.get(c)
    }

    /// The one column of a mention that `want` accepts.
    fn mention_col(&self, m: usize, want: impl Fn(&Column) -> bool) -> Option<usize> {
        let cols: Vec<usize> = self
            .mentions
            .get(m)?
            .cols
            .iter()
            .copied()
            .filter(|&c| self.col(c).is_some_and(&want))
            .collect();
        (cols.len() == 1).then(|| cols[0])
    }

    fn year_expr(&self, prefer: Option<usize>) -> Option<(String, bool)> {
        // (expression, is a date column)
        let cols = &self.table.columns;
        if let Some(c) = prefer.and_then(|c| cols.get(c)) {
            if c.ty == ColType::Date {
                return Some((format!("CAST(substr({}, 1, 4) AS INTEGER)", ident(c)), true));
            }
            if c.ty == ColType::Integer && !c.unique {
                return Some((ident(c), false));
            }
        }
        let years: Vec<&Column> = cols
            .iter()
            .filter(|c| {
                c.ty == ColType::Integer && c.ident.split('_').any(|w| w == "year" || w == "years")
            })
            .collect();
        if years.len() == 1 {
            return years.first().map(|c| (ident(c), false));
        }
        let dates: Vec<&Column> = cols.iter().filter(|c| c.ty == ColType::Date).collect();
        if dates.len() == 1 {
            return dates
                .first()
                .map(|c| (format!("CAST(substr({}, 1, 4) AS INTEGER)", ident(c)), true));
        }
        None
    }

    /// The date column the question is about: the one it names, or the only one.
    fn date_col(&self) -> Option<usize> {
        let named: Vec<usize> = self
            .mentions
            .iter()
            .flat_map(|m| m.cols.iter().copied())
            .filter(|&c| self.col(c).is_some_and(|c| c.ty == ColType::Date))
            .collect();
        if let Some(&c) = named.first() {
            return named.iter().all(|&x| x == c).then_some(c);
        }
        let all: Vec<usize> = (0..self.table.columns.len())
            .filter(|&c| self.col(c).is_some_and(|c| c.ty == ColType::Date))
            .collect();
        (all.len() == 1).then(|| all[0])
    }

    /// The nearest unused mention whose one column `want` accepts, ending at most `window`
    /// small words before `at`.
    fn mention_before(
        &self,
        at: usize,
        window: usize,
        want: impl Fn(&Column) -> bool,
    ) -> Option<(usize, usize)> {
        self.mention_near(at, window, true, want)
    }

    /// The same, starting at most `window` small words after `at`.
    fn mention_after(
        &self,
        at: usize,
        window: usize,
        want: impl Fn(&Column) -> bool,
    ) -> Option<(usize, usize)> {
        self.mention_near(at, window, false, want)
    }

    fn mention_near(
        &self,
        at: usize,
        window: usize,
        before: bool,
        want: impl Fn(&Column) -> bool,
    ) -> Option<(usize, usize)> {
        let near = |m: usize| {
            let mm = &self.mentions[m];
            let (from, to) = if before {
                (mm.start + mm.len, at)
            } else {
                (at, mm.start)
            };
            from <= to
                && to - from <= window
                && self.filler(from, to)
                && !self.mention_used[m]
                && !self.mention_cmp[m]
        };
        let mut order: Vec<usize> = (0..self.mentions.len()).filter(|&m| near(m)).collect();
        if before {
            order.reverse();
        }
        order
            .into_iter()
            .find_map(|m| self.mention_col(m, &want).map(|c| (m, c)))
    }

    /// Only small words between `from` and `to` ("unit price *of* at least 5"): a column
    /// named further away, across another noun, is not what a comparison is about.
    fn filler(&self, from: usize, to: usize) -> bool {
        (from..to).all(|i| {
            matches!(
                self.tok(i),
                "of" | "is"
                    | "was"
                    | "are"
                    | "were"
                    | "a"
                    | "an"
                    | "the"
                    | "that"
                    | "which"
                    | "with"
                    | "has"
                    | "have"
                    | "had"
                    | "been"
                    | "be"
                    | "its"
                    | "their"
                    | "in"
                    | "by"
                    | "for"
            )
        })
    }

    /// The first mention not yet used whose single column `want` accepts, from `from` on
    /// (then anywhere); mentions consumed by a comparison only if nothing else fits.
    fn target(&mut self, from: usize, want: impl Fn(&Column) -> bool + Copy) -> Option<usize> {
        let order: Vec<usize> = (0..self.mentions.len())
            .filter(|&m| self.mentions[m].start >= from)
            .chain((0..self.mentions.len()).filter(|&m| self.mentions[m].start < from))
            .collect();
        for allow_cmp in [false, true] {
            for &m in &order {
                if self.mention_used[m] || (self.mention_cmp[m] && !allow_cmp) {
                    continue;
                }
                if let Some(c) = self.mention_col(m, want) {
                    self.mention_used[m] = true;
                    let mm = &self.mentions[m];
                    let (s, l) = (mm.start, mm.len);
                    self.mark(s, l);
                    return Some(c);
                }
            }
        }
        None
    }

    fn where_clause(&self) -> String {
        if self.filters.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.filters.join(" AND "))
        }
    }

    /// Words left over that may name something the table does not hold: a number, or a
    /// capitalised word. Answering without them could give a wrong number, so give up.
    fn check_leftovers(&self) -> Result<(), String> {
        let mention_tok = |i: usize| {
            self.mentions
                .iter()
                .any(|m| (m.start..m.start + m.len).contains(&i))
        };
        for (i, t) in self.toks.iter().enumerate() {
            if !self.free(i) || mention_tok(i) {
                continue;
            }
            if t.num.is_some() || date_literal(&t.text).is_some() {
                return Err(format!(
                    "the number {} matches nothing in the table",
                    t.text
                ));
            }
            if t.capital && t.text != "i" && !table_word(self.table, &t.text) {
                return Err(format!(
                    "\"{}\" matches no column or value of the table",
                    t.text
                ));
            }
        }
        Ok(())
    }
}

/// The table's own name words ("orders" in orders.csv) are not unknown values.
fn table_word(table: &TableInfo, word: &str) -> bool {
    let stem = table
        .file_name
        .rsplit('/')
        .next()
        .unwrap_or(&table.file_name);
    let stem = stem.split('.').next().unwrap_or(stem);
    crate::table::ident_of(stem)
        .split('_')
        .any(|w| word_eq(word, w))
}

/// Plans a question over one table.
pub(crate) fn plan(question: &str, table: &TableInfo) -> Result<Plan, String> {
    let toks = tokenize(question);
    if toks.is_empty() {
        return Err("empty question".into());
    }
    let mentions = find_mentions(&toks, table);
    let n_mentions = mentions.len();
    let mut cx = Ctx {
        table,
        used: vec![false; toks.len()],
        toks,
        mentions,
        mention_used: vec![false; n_mentions],
        mention_cmp: vec![false; n_mentions],
        filters: Vec::new(),
    };
    let round = cx.rounding();
    cx.comparisons()?;
    cx.dates()?;
    cx.values()?;
    let expr = cx.arithmetic();

    let count_at = (0..cx.toks.len()).find(|&i| {
        (cx.tok(i) == "how" && cx.tok(i + 1) == "many")
            || (cx.tok(i) == "number" && cx.tok(i + 1) == "of")
            || cx.tok(i) == "count"
    });
    let agg_word = |cx: &Ctx<'_>, words: &[&str]| cx.find_word(words);
    let sum_at = agg_word(&cx, SUM_WORDS)
        .or_else(|| (0..cx.toks.len()).find(|&i| cx.tok(i) == "how" && cx.tok(i + 1) == "much"));
    let avg_at = agg_word(&cx, AVG_WORDS);
    let max_at = agg_word(&cx, MAX_WORDS).or_else(|| {
        (0..cx.toks.len()).find(|&i| {
            cx.free(i) && cx.tok(i) == "most" && matches!(cx.tok(i + 1), "expensive" | "recent")
        })
    });
    let min_at = agg_word(&cx, MIN_WORDS).or_else(|| {
        (0..cx.toks.len())
            .find(|&i| cx.free(i) && cx.tok(i) == "least" && cx.tok(i + 1) == "expensive")
    });
    let most_at = (0..cx.toks.len()).find(|&i| cx.free(i) && cx.tok(i) == "most");
    let fewest_at =
        (0..cx.toks.len()).find(|&i| cx.free(i) && matches!(cx.tok(i), "fewest" | "least"));
    let which_at = (0..cx.toks.len().min(3)).find(|&i| matches!(cx.tok(i), "which" | "what"));
    let t = &table.ident;

    // "which X has the most ...": a group, or the record with the extreme value
    let superlative = max_at.or(min_at).or(most_at).or(fewest_at);
    if let (Some(w), Some(sup), None) = (which_at, superlative, count_at) {
        let key = (w + 1..=w + 2).find_map(|at| {
            (0..cx.mentions.len()).find(|&m| cx.mentions[m].start == at && !cx.mention_used[m])
        });
        // "which month / year has ...": a prefix of the date column
        let virtual_key = match cx.tok(w + 1) {
            "month" => Some(7),
            "year" => Some(4),
            _ => None,
        };
        let key_col = key.and_then(|m| {
            cx.mention_col(m, |c| {
                !c.ty.numeric() || !c.unique || c.ty == ColType::Integer
            })
            .map(|c| (m, c))
        });
        let key_expr = match (key_col, virtual_key) {
            (Some((m, c)), _) => {
                cx.mention_used[m] = true;
                cx.mark_mention(m);
                cx.col(c).map(|col| (ident(col), col.unique))
            }
            (None, Some(len)) if key.is_none() => cx
                .date_col()
                .and_then(|c| cx.col(c))
                .map(|col| (format!("substr({}, 1, {len})", ident(col)), false)),
            _ => None,
        };
        if let Some((key_expr, key_unique)) = key_expr {
            if virtual_key.is_some() && key.is_none() {
                cx.mark(w + 1, 1);
            }
            cx.mark(w, 1);
            let desc = Some(sup) == max_at || Some(sup) == most_at;
            // "the most orders" counts rows; "the highest price", "the most in total" measure
            let counting = (Some(sup) == most_at || Some(sup) == fewest_at)
                && sum_at.is_none()
                && avg_at.is_none();
            let measure = if counting {
                None
            } else {
                expr.clone().or_else(|| {
                    cx.target(sup, |c| c.ty.numeric())
                        .and_then(|c| cx.col(c))
                        .map(ident)
                })
            };
            let agg = if sum_at.is_some() {
                Some(Agg::Sum)
            } else if avg_at.is_some() {
                Some(Agg::Avg)
            } else {
                None
            };
            for i in [Some(sup), sum_at, avg_at].into_iter().flatten() {
                cx.mark(i, 1);
            }
            cx.check_leftovers()?;
            let wc = cx.where_clause();
            let pick = if desc { "MAX" } else { "MIN" };
            let nonnull = if cx.filters.is_empty() {
                " WHERE"
            } else {
                " AND"
            };
            let (sql, shape) = match (agg, measure) {
                (Some(agg), Some(measure)) => (
                    format!(
                        "WITH g AS (SELECT {key_expr} AS k, {}({measure}) AS v FROM \"{t}\"{wc}{nonnull} {key_expr} IS NOT NULL GROUP BY k) SELECT k, v FROM g WHERE v = (SELECT {pick}(v) FROM g) ORDER BY k",
                        agg.sql()
                    ),
                    Shape::Group,
                ),
                (None, Some(measure)) => (
                    format!(
                        "SELECT {key_expr}, {measure} FROM \"{t}\"{wc}{nonnull} {measure} = (SELECT {pick}({measure}) FROM \"{t}\"{wc}) ORDER BY \"{ROW_COLUMN}\""
                    ),
                    Shape::Extreme,
                ),
                (Some(_), None) => return Err("no numeric column to add up".into()),
                (None, None) if key_unique => {
                    return Err("each row is its own group; nothing to count".into());
                }
                (None, None) => (
                    format!(
                        "WITH g AS (SELECT {key_expr} AS k, COUNT(*) AS v FROM \"{t}\"{wc}{nonnull} {key_expr} IS NOT NULL GROUP BY k) SELECT k, v FROM g WHERE v = (SELECT {pick}(v) FROM g) ORDER BY k"
                    ),
                    Shape::Group,
                ),
            };
            let rows_sql = match shape {
                Shape::Group => format!(
                    "SELECT \"{ROW_COLUMN}\" FROM \"{t}\"{wc}{nonnull} {key_expr} IN (SELECT k FROM ({sql}))"
                ),
                _ => format!(
                    "SELECT \"{ROW_COLUMN}\" FROM ({})",
                    sql.replacen("SELECT ", &format!("SELECT \"{ROW_COLUMN}\", "), 1)
                ),
            };
            return Ok(finish(&cx, shape, sql, rows_sql, round));
        }
    }

    let wc = cx.where_clause();
    let rows_sql = format!("SELECT \"{ROW_COLUMN}\" FROM \"{t}\"{wc} ORDER BY \"{ROW_COLUMN}\"");
    if let Some(at) = count_at {
        cx.mark(at, if cx.tok(at) == "count" { 1 } else { 2 });
        let distinct =
            (at + 2..at + 4).find(|&i| matches!(cx.tok(i), "distinct" | "different" | "unique"));
        let what = match distinct {
            Some(d) => {
                cx.mark(d, 1);
                let c = cx.target(d + 1, |_| true).ok_or("count distinct what?")?;
                format!("COUNT(DISTINCT {})", ident(cx.col(c).ok_or("column")?))
            }
            None => "COUNT(*)".into(),
        };
        cx.check_leftovers()?;
        // "how many days until my flight?" must not count this table's rows
        let names_table =
            !cx.mentions.is_empty() || cx.toks.iter().any(|t| table_word(table, &t.text));
        if cx.filters.is_empty() && !names_table {
            return Err("the question names nothing in this table".into());
        }
        let sql = format!("SELECT {what} FROM \"{t}\"{wc}");
        return Ok(finish(&cx, Shape::Count, sql, rows_sql, round));
    }

    let agg = [
        (sum_at, Agg::Sum),
        (avg_at, Agg::Avg),
        (max_at, Agg::Max),
        (min_at, Agg::Min),
    ]
    .into_iter()
    .filter_map(|(at, a)| at.map(|at| (at, a)))
    .min_by_key(|(at, _)| *at);
    if let Some((at, agg)) = agg {
        cx.mark(
            at,
            if cx.tok(at) == "how" || cx.tok(at) == "most" || cx.tok(at) == "least" {
                2
            } else {
                1
            },
        );
        // "what is the title of the film with the highest box office": a field of the record
        // with the extreme value
        if let (Agg::Max | Agg::Min, None, Some(_)) = (agg, &expr, which_at) {
            let key = (0..cx.mentions.len()).find(|&m| {
                cx.mentions[m].start < at
                    && !cx.mention_used[m]
                    && !cx.mention_cmp[m]
                    && cx.mention_col(m, |c| !c.ty.numeric()).is_some()
            });
            if let Some(m) = key {
                let save = (cx.used.clone(), cx.mention_used.clone());
                let k = cx
                    .mention_col(m, |c| !c.ty.numeric())
                    .and_then(|c| cx.col(c))
                    .map(ident);
                cx.mention_used[m] = true;
                cx.mark_mention(m);
                if let (Some(k), Some(c)) = (k, cx.target(at, |c| c.ty.numeric())) {
                    let measure = ident(cx.col(c).ok_or("column")?);
                    cx.check_leftovers()?;
                    let nonnull = if cx.filters.is_empty() {
                        " WHERE"
                    } else {
                        " AND"
                    };
                    let sql = format!(
                        "SELECT {k}, {measure} FROM \"{t}\"{wc}{nonnull} {measure} = (SELECT {}({measure}) FROM \"{t}\"{wc}) ORDER BY \"{ROW_COLUMN}\"",
                        agg.sql()
                    );
                    let rows_sql = format!(
                        "SELECT \"{ROW_COLUMN}\" FROM ({})",
                        sql.replacen("SELECT ", &format!("SELECT \"{ROW_COLUMN}\", "), 1)
                    );
                    return Ok(finish(&cx, Shape::Extreme, sql, rows_sql, round));
                }
                (cx.used, cx.mention_used) = save;
            }
        }
        let measure = match expr {
            Some(e) => e,
            None => {
                let want_date = matches!(agg, Agg::Min | Agg::Max);
                let c = cx
                    .target(at, |c| c.ty.numeric())
                    .or_else(|| {
                        if want_date {
                            cx.target(at, |c| c.ty == ColType::Date)
                        } else {
                            None
                        }
                    })
                    .ok_or("no numeric column named for the aggregate")?;
                ident(cx.col(c).ok_or("column")?)
            }
        };
        cx.check_leftovers()?;
        let value = match round {
            Some(n) => format!("ROUND({}({measure}), {n})", agg.sql()),
            None => format!("{}({measure})", agg.sql()),
        };
        let sql = format!("SELECT {value} FROM \"{t}\"{wc}");
        let rows_sql = match agg {
            Agg::Min | Agg::Max => format!(
                "SELECT \"{ROW_COLUMN}\" FROM \"{t}\"{wc}{} {measure} = (SELECT {}({measure}) FROM \"{t}\"{wc}) ORDER BY \"{ROW_COLUMN}\"",
                if cx.filters.is_empty() {
                    " WHERE"
                } else {
                    " AND"
                },
                agg.sql()
            ),
            _ => rows_sql,
        };
        return Ok(finish(&cx, Shape::Aggregate, sql, rows_sql, round));
    }

    // lookup: a field (or an expression of two) of the records the filters select
    if cx.filters.is_empty() {
        return Err("no aggregate, count or record to look up".into());
    }
    let target = match expr {
        Some(e) => e,
        None => {
            let c = cx.target(0, |_| true).ok_or("no column named to look up")?;
            ident(cx.col(c).ok_or("column")?)
        }
    };
    cx.check_leftovers()?;
    let value = match round {
        Some(n) => format!("ROUND({target}, {n})"),
        None => target,
    };
    let sql = format!("SELECT {value} FROM \"{t}\"{wc} ORDER BY \"{ROW_COLUMN}\"");
    Ok(finish(&cx, Shape::Lookup, sql, rows_sql, round))
}

fn finish(cx: &Ctx<'_>, shape: Shape, sql: String, rows_sql: String, round: Option<u32>) -> Plan {
    Plan {
        file_id: cx.table.file_id.clone(),
        shape,
        sql,
        rows_sql,
        round,
        score: cx.used.iter().filter(|u| **u).count()
            + cx.filters.len()
            + 2 * cx
                .toks
                .iter()
                .filter(|t| table_word(cx.table, &t.text))
                .count(),
    }
}

#[cfg(test)]
mod tests;
