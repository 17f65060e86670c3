//! The filters a question sets: rounding, comparisons ("above 100", "in 2020 or later"),
//! months, years and date prefixes, the table's own values (negated or not), ids given as
//! numbers, and arithmetic of two columns.

use super::{
    Ctx, date_literal, fmt_num, ident,
    lex::{find_values, month, number_word},
    year_like,
};
use crate::table::{ColType, Column, quote};

/// Comparison phrases before the number, longest first.
const BEFORE: &[(&[&str], &str)] = &[
    (&["greater", "than", "or", "equal", "to"], ">="),
    (&["less", "than", "or", "equal", "to"], "<="),
    (&["no", "less", "than"], ">="),
    (&["not", "less", "than"], ">="),
    (&["no", "more", "than"], "<="),
    (&["not", "more", "than"], "<="),
    (&["at", "least"], ">="),
    (&["at", "most"], "<="),
    (&["up", "to"], "<="),
    (&["more", "than"], ">"),
    (&["greater", "than"], ">"),
    (&["higher", "than"], ">"),
    (&["larger", "than"], ">"),
    (&["bigger", "than"], ">"),
    (&["later", "than"], ">"),
    (&["less", "than"], "<"),
    (&["fewer", "than"], "<"),
    (&["lower", "than"], "<"),
    (&["smaller", "than"], "<"),
    (&["earlier", "than"], "<"),
    (&["since"], ">="),
    (&["above"], ">"),
    (&["over"], ">"),
    (&["exceeding"], ">"),
    (&["exceeds"], ">"),
    (&["exceed"], ">"),
    (&["after"], ">"),
    (&["below"], "<"),
    (&["under"], "<"),
    (&["before"], "<"),
];

/// Comparison phrases after the number.
const AFTER: &[(&[&str], &str)] = &[
    (&["or", "more"], ">="),
    (&["or", "later"], ">="),
    (&["or", "after"], ">="),
    (&["or", "above"], ">="),
    (&["or", "higher"], ">="),
    (&["or", "greater"], ">="),
    (&["or", "newer"], ">="),
    (&["and", "above"], ">="),
    (&["and", "later"], ">="),
    (&["and", "up"], ">="),
    (&["onwards"], ">="),
    (&["onward"], ">="),
    (&["or", "less"], "<="),
    (&["or", "fewer"], "<="),
    (&["or", "earlier"], "<="),
    (&["or", "before"], "<="),
    (&["or", "below"], "<="),
    (&["or", "lower"], "<="),
    (&["or", "older"], "<="),
    (&["and", "below"], "<="),
    (&["and", "earlier"], "<="),
];

impl Ctx<'_> {
    pub(super) fn rounding(&mut self) -> Option<u32> {
        for i in 0..self.toks.len() {
            let t = self.tok(i).to_owned();
            if matches!(t.as_str(), "decimal" | "decimals" | "places" | "digits") {
                for back in 1..=2 {
                    if let Some(n) = i
                        .checked_sub(back)
                        .and_then(|j| number_word(self.tok(j)).map(|n| (j, n)))
                    {
                        let (j, n) = n;
                        let end = if self.tok(i + 1) == "places" {
                            i + 2
                        } else {
                            i + 1
                        };
                        self.mark(j, end - j);
                        self.mark_round_words();
                        return Some(n);
                    }
                }
            }
            if t == "nearest" {
                let (n, len) = match (self.tok(i + 1), self.tok(i + 2)) {
                    ("whole", "number") => (0, 3),
                    ("integer", _) | ("dollar", _) | ("euro", _) | ("unit", _) => (0, 2),
                    ("cent", _) | ("hundredth", _) => (2, 2),
                    ("tenth", _) => (1, 2),
                    _ => continue,
                };
                self.mark(i, len);
                self.mark_round_words();
                return Some(n);
            }
        }
        None
    }

    pub(super) fn mark_round_words(&mut self) {
        for i in 0..self.toks.len() {
            if matches!(self.tok(i), "round" | "rounded" | "rounding") {
                self.mark(i, 1);
            }
        }
    }

    /// Comparison filters ("above 100", "in 2020 or later", "between 5 and 10").
    pub(super) fn comparisons(&mut self) -> Result<(), String> {
        let mut i = 0;
        while i < self.toks.len() {
            let operand = self.toks.get(i).and_then(|t| {
                t.num
                    .map(|n| (fmt_num(n), Some(n)))
                    .or_else(|| date_literal(&t.text).map(|d| (quote(d), None)))
            });
            let Some((literal, num)) = operand.filter(|_| self.free(i)) else {
                i += 1;
                continue;
            };
            // between A and B
            if i >= 1
                && self.tok(i - 1) == "between"
                && self.tok(i + 1) == "and"
                && let Some(hi) = self.toks.get(i + 2).and_then(|t| t.num)
            {
                let (expr, _) = self.cmp_target(i - 1, i + 3, num)?;
                self.filters
                    .push(format!("{expr} BETWEEN {literal} AND {}", fmt_num(hi)));
                self.mark(i - 1, 4);
                i += 3;
                continue;
            }
            let before = BEFORE
                .iter()
                .find(|(words, _)| i >= words.len() && self.seq_at(i - words.len(), words));
            let after = AFTER.iter().find(|(words, _)| self.seq_at(i + 1, words));
            let (op, from, to) = match (before, after) {
                (Some((w, op)), _) => (*op, i - w.len(), i + 1),
                (None, Some((w, op))) => (*op, i, i + 1 + w.len()),
                (None, None) => {
                    i += 1;
                    continue;
                }
            };
            let (expr, _) = self.cmp_target(from, to, num)?;
            self.filters.push(format!("{expr} {op} {literal}"));
            // "in 2020 or later": the "in" belongs to the phrase
            let from = if from >= 1 && matches!(self.tok(from - 1), "in" | "from") {
                from - 1
            } else {
                from
            };
            self.mark(from, to - from);
            i = to;
        }
        Ok(())
    }

    /// The column a comparison at `from..to` is about, as an SQL expression.
    pub(super) fn cmp_target(
        &mut self,
        from: usize,
        to: usize,
        num: Option<f64>,
    ) -> Result<(String, bool), String> {
        let year = num.is_some_and(year_like);
        let date_operand = num.is_none();
        let want = |c: &Column| {
            if date_operand {
                c.ty == ColType::Date
            } else {
                c.ty.numeric() || (year && c.ty == ColType::Date)
            }
        };
        let found = self
            .mention_before(from, 6, want)
            .or_else(|| self.mention_after(to, 2, want));
        if let Some((m, c)) = found {
            self.mention_cmp[m] = true;
            self.mark_mention(m);
            let col = self.col(c).ok_or("column")?;
            if col.ty == ColType::Date && !date_operand {
                return Ok((
                    format!("CAST(substr({}, 1, 4) AS INTEGER)", ident(col)),
                    true,
                ));
            }
            return Ok((ident(col), false));
        }
        if year && let Some(found) = self.year_expr(None) {
            return Ok(found);
        }
        if date_operand && let Some(c) = self.date_col().and_then(|c| self.col(c)) {
            return Ok((ident(c), false));
        }
        Err(format!(
            "cannot tell which column the comparison \"{}\" is about",
            (from..to)
                .map(|k| self.tok(k))
                .collect::<Vec<_>>()
                .join(" ")
        ))
    }

    /// Month, year and date-prefix filters ("in March 2024", "in 2023", "on 2024-03-05").
    pub(super) fn dates(&mut self) -> Result<(), String> {
        for i in 0..self.toks.len() {
            if !self.free(i) {
                continue;
            }
            let text = self.tok(i).to_owned();
            if let Some(d) = date_literal(&text) {
                let c = self
                    .date_col()
                    .ok_or("no date column for the date in the question")?;
                let col = self.col(c).ok_or("column")?;
                self.filters
                    .push(format!("{} LIKE {}", ident(col), quote(&format!("{d}%"))));
                self.mark(i, 1);
                continue;
            }
            if let Some(m) = month(&text) {
                let prep =
                    i >= 1 && matches!(self.tok(i - 1), "in" | "during" | "of" | "for" | "on");
                let (year, len) = if let Some(y) = self
                    .toks
                    .get(i + 1)
                    .and_then(|t| t.num)
                    .filter(|n| year_like(*n))
                {
                    (Some(y), 2)
                } else if self.tok(i + 1) == "of" {
                    match self
                        .toks
                        .get(i + 2)
                        .and_then(|t| t.num)
                        .filter(|n| year_like(*n))
                    {
                        Some(y) => (Some(y), 3),
                        None => (None, 1),
                    }
                } else {
                    (None, 1)
                };
                if !(prep || year.is_some()) || (text == "may" && year.is_none() && !prep) {
                    continue;
                }
                let c = self
                    .date_col()
                    .ok_or("no date column for the month in the question")?;
                let col = self.col(c).ok_or("column")?;
                match year {
                    Some(y) => self.filters.push(format!(
                        "{} LIKE {}",
                        ident(col),
                        quote(&format!("{}-{m:02}%", fmt_num(y)))
                    )),
                    None => self.filters.push(format!(
                        "substr({}, 6, 2) = {}",
                        ident(col),
                        quote(&format!("{m:02}"))
                    )),
                }
                self.mark(i, len);
                continue;
            }
            let year = self
                .toks
                .get(i)
                .and_then(|t| t.num)
                .filter(|n| year_like(*n));
            if let Some(y) = year {
                let prep =
                    i >= 1 && matches!(self.tok(i - 1), "in" | "during" | "for" | "of" | "from");
                // a year right after a column that holds years ("year 2020", "hired in 2020")
                let named = self.mention_before(i, 1, |c| {
                    c.ty == ColType::Date
                        || (c.ty == ColType::Integer
                            && c.ident.split('_').any(|w| w == "year" || w == "years"))
                });
                if !prep && named.is_none() {
                    continue;
                }
                let prefer = named.map(|(_, c)| c);
                let Some((expr, _)) = self.year_expr(prefer) else {
                    continue;
                };
                if let Some((m, _)) = named {
                    self.mention_used[m] = true;
                    self.mark_mention(m);
                }
                self.filters.push(format!("{expr} = {}", fmt_num(y)));
                self.mark(i, 1);
            }
        }
        Ok(())
    }

    /// Filters on the text values the question names, and on ids given as numbers.
    pub(super) fn values(&mut self) -> Result<(), String> {
        let hits = find_values(&self.toks, self.table);
        let mut by_col: Vec<(usize, bool, Vec<String>)> = Vec::new();
        for h in hits {
            if (h.start..h.start + h.len).any(|k| !self.free(k)) {
                continue;
            }
            // A column name of the same length at the same place is the column, not a value.
            if self
                .mentions
                .iter()
                .any(|m| m.start <= h.start && m.start + m.len >= h.start + h.len && m.full)
            {
                continue;
            }
            let named: Vec<&(usize, String)> = h
                .cols
                .iter()
                .filter(|(c, _)| self.mentions.iter().any(|m| m.cols.contains(c)))
                .collect();
            let (c, value) = match (h.cols.len(), named.len()) {
                (1, _) => h.cols.first().cloned().ok_or("value")?,
                (_, 1) => named.first().map(|x| (*x).clone()).ok_or("value")?,
                _ => {
                    return Err(format!(
                        "\"{}\" is a value of several columns",
                        (h.start..h.start + h.len)
                            .map(|k| self.tok(k))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ));
                }
            };
            let negated = self.negated_before(h.start);
            self.mark(h.start, h.len);
            self.consume_mention_near(h.start, h.len, c);
            match by_col
                .iter_mut()
                .find(|(cc, neg, _)| *cc == c && *neg == negated)
            {
                Some((_, _, vs)) => vs.push(value),
                None => by_col.push((c, negated, vec![value])),
            }
        }
        for (c, negated, values) in by_col {
            let col = self.col(c).ok_or("column")?;
            let list: Vec<String> = values.iter().map(|v| quote(v)).collect();
            self.filters.push(match (list.len(), negated) {
                (1, false) => format!("{} = {}", ident(col), list.join("")),
                (1, true) => format!("{} <> {}", ident(col), list.join("")),
                (_, false) => format!("{} IN ({})", ident(col), list.join(", ")),
                (_, true) => format!("{} NOT IN ({})", ident(col), list.join(", ")),
            });
        }
        // ids given as numbers: "order 1007"
        for i in 0..self.toks.len() {
            let Some(n) = self
                .toks
                .get(i)
                .and_then(|t| t.num)
                .filter(|_| self.free(i))
            else {
                continue;
            };
            let text = fmt_num(n);
            let holds = |c: &Column| c.ty == ColType::Integer && c.distinct.contains(&text);
            let named = self.mention_before(i, 1, holds);
            let c = match named {
                Some((m, c)) => {
                    self.mention_used[m] = true;
                    self.mark_mention(m);
                    c
                }
                None => {
                    let unique: Vec<usize> = (0..self.table.columns.len())
                        .filter(|&c| self.col(c).is_some_and(|col| col.unique && holds(col)))
                        .collect();
                    if unique.len() != 1 {
                        continue;
                    }
                    unique[0]
                }
            };
            let col = self.col(c).ok_or("column")?;
            self.filters.push(format!("{} = {text}", ident(col)));
            self.mark(i, 1);
        }
        Ok(())
    }

    /// Whether the value at `start` is negated: "not (in the) South", "except North", "other
    /// than Drama", "outside the West".
    pub(super) fn negated_before(&self, start: usize) -> bool {
        let mut i = start;
        while i > 0
            && matches!(
                self.tok(i - 1),
                "in" | "the" | "from" | "of" | "a" | "an" | "to" | "at" | "for" | "by" | "with"
            )
        {
            i -= 1;
        }
        i >= 1
            && (matches!(self.tok(i - 1), "not" | "except" | "excluding" | "outside")
                || (i >= 2 && self.tok(i - 2) == "other" && self.tok(i - 1) == "than"))
    }

    /// A mention of column `c` right next to its value ("status shipped", "the North region")
    /// is part of the filter, not a target.
    pub(super) fn consume_mention_near(&mut self, start: usize, len: usize, c: usize) {
        let mut marks = Vec::new();
        for (k, m) in self.mentions.iter().enumerate() {
            let before = m.start + m.len <= start && start - (m.start + m.len) <= 2;
            let after = m.start >= start + len && m.start - (start + len) <= 1;
            if (before || after) && m.cols.contains(&c) {
                if let Some(u) = self.mention_used.get_mut(k) {
                    *u = true;
                }
                marks.push((m.start, m.len));
            }
        }
        for (s, l) in marks {
            self.mark(s, l);
        }
    }

    /// Arithmetic of two numeric columns ("quantity times unit price").
    pub(super) fn arithmetic(&mut self) -> Option<String> {
        for i in 0..self.toks.len() {
            if !self.free(i) {
                continue;
            }
            let (op, len) = match (self.tok(i), self.tok(i + 1)) {
                ("times" | "*" | "×" | "x", _) => ("*", 1),
                ("multiplied", "by") => ("*", 2),
                ("plus" | "+", _) => ("+", 1),
                ("minus" | "-", _) => ("-", 1),
                ("divided", "by") => ("/", 2),
                ("/", _) => ("/", 1),
                _ => continue,
            };
            let numeric = |c: &Column| c.ty.numeric();
            let left = self.mention_before(i, 1, numeric)?;
            let right = self.mention_after(i + len, 1, numeric)?;
            let (l, r) = (self.col(left.1)?, self.col(right.1)?);
            let expr = if op == "/" {
                format!("(CAST({} AS REAL) / {})", ident(l), ident(r))
            } else {
                format!("({} {op} {})", ident(l), ident(r))
            };
            self.mention_used[left.0] = true;
            self.mention_used[right.0] = true;
            self.mark_mention(left.0);
            self.mark_mention(right.0);
            self.mark(i, len);
            return Some(expr);
        }
        None
    }
}
