//! Tables for exact answers: each CSV file and each JSON array of objects becomes a table in
//! an in-memory SQLite database (temporary storage in memory too, so nothing reaches the
//! disk), with column types inferred from the values. Queries run read-only.

use std::collections::BTreeMap;

use rusqlite::{Connection, types::ValueRef};

use crate::{
    chunk::Locator,
    error::{Error, Result},
};

/// Most distinct values of a text column the planner matches against.
pub(crate) const MAX_DISTINCT: usize = 20_000;
/// Most rows a query returns.
pub(crate) const MAX_RESULT_ROWS: usize = 1_000;
/// Hidden column holding each row's index into `TableInfo::locators`.
pub(crate) const ROW_COLUMN: &str = "_row";

/// A column's inferred type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    Integer,
    Real,
    /// ISO dates (`2024-03-05`, `2024-03`, `2024-03-05T10:00`), stored as text.
    Date,
    Text,
}

impl ColType {
    pub(crate) fn numeric(self) -> bool {
        matches!(self, ColType::Integer | ColType::Real)
    }
}

/// What the planner knows about one column.
#[derive(Debug, Clone)]
pub(crate) struct Column {
    /// The header as written in the file.
    pub(crate) name: String,
    /// The SQL identifier (lowercase, `[a-z0-9_]`), unique in its table.
    pub(crate) ident: String,
    pub(crate) ty: ColType,
    /// Distinct values of text, date and integer columns (up to [`MAX_DISTINCT`]), as text.
    pub(crate) distinct: Vec<String>,
    /// Every non-empty value differs from the others, and none is missing.
    pub(crate) unique: bool,
}

/// One loaded table.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub(crate) file_id: String,
    pub(crate) file_name: String,
    /// SQL name of the table.
    pub(crate) ident: String,
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: usize,
    /// Citation of each row, by `_row`.
    pub(crate) locators: Vec<Locator>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueryResult {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<Cell>>,
}

/// One result value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

/// The in-memory database holding every table of a library.
pub(crate) struct Tables {
    conn: Connection,
    tables: BTreeMap<String, TableInfo>,
    next: u64,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("tables", &self.tables.len())
            .finish()
    }
}

fn sql_err(e: rusqlite::Error) -> Error {
    Error::Table(e.to_string())
}

/// Turns a header into an identifier: lowercase words joined by `_`.
pub(crate) fn ident_of(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.trim().chars() {
        if c.is_alphanumeric() {
            if c.is_uppercase() && prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
            prev_lower = c.is_lowercase() || c.is_ascii_digit();
        } else {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            prev_lower = false;
        }
    }
    let out = out.trim_end_matches('_').to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("c_{out}")
    } else {
        out
    }
}

/// SQL string literal.
pub(crate) fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn is_date(v: &str) -> bool {
    let b = v.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let ym = b.len() >= 7 && digits(0..4) && b.get(4) == Some(&b'-') && digits(5..7);
    match b.len() {
        7 => ym,
        10 => ym && b.get(7) == Some(&b'-') && digits(8..10),
        n if n > 10 => {
            ym && b.get(7) == Some(&b'-') && digits(8..10) && matches!(b.get(10), Some(b'T' | b' '))
        }
        _ => false,
    }
}

fn parse_int(v: &str) -> Option<i64> {
    // "007" is an identifier, not the number 7
    if v.len() > 1 && v.starts_with('0') || v.starts_with('+') {
        return None;
    }
    v.parse().ok()
}

fn parse_real(v: &str) -> Option<f64> {
    // "007" is an identifier; "0.5" is a number
    if v.len() > 1 && v.starts_with('0') && !v.starts_with("0.") {
        return None;
    }
    let f: f64 = v.parse().ok()?;
    (f.is_finite() && !v.starts_with('+') && !v.contains(['e', 'E', 'i', 'n', 'N', 'I']))
        .then_some(f)
}

fn infer(values: impl Iterator<Item = Option<String>> + Clone) -> ColType {
    let present = values
        .flatten()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let mut any = false;
    let (mut int, mut real, mut date) = (true, true, true);
    for v in present {
        any = true;
        int &= parse_int(&v).is_some();
        real &= parse_real(&v).is_some();
        date &= is_date(&v);
        if !(int || real || date) {
            break;
        }
    }
    match (any, int, real, date) {
        (false, ..) => ColType::Text,
        (_, true, ..) => ColType::Integer,
        (_, _, true, _) => ColType::Real,
        (.., true) => ColType::Date,
        _ => ColType::Text,
    }
}

impl Tables {
    pub(crate) fn new() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(sql_err)?;
        conn.execute_batch("PRAGMA temp_store = MEMORY;")
            .map_err(sql_err)?;
        Ok(Self {
            conn,
            tables: BTreeMap::new(),
            next: 0,
        })
    }

    pub(crate) fn get(&self, file_id: &str) -> Option<&TableInfo> {
        self.tables.get(file_id)
    }

    pub(crate) fn all(&self) -> impl Iterator<Item = &TableInfo> {
        self.tables.values()
    }

    /// Loads (or replaces) the table of a file. `rows` holds each row's citation and one value
    /// per header column.
    pub(crate) fn load(
        &mut self,
        file_id: &str,
        file_name: &str,
        header: &[String],
        rows: Vec<(Locator, Vec<Option<String>>)>,
    ) -> Result<()> {
        self.remove(file_id)?;
        self.next += 1;
        let base = file_name.rsplit('/').next().unwrap_or(file_name);
        let stem = base.rsplit_once('.').map_or(base, |(stem, _)| stem);
        let table_ident = format!("t{}_{}", self.next, ident_of(stem));
        let mut columns: Vec<Column> = Vec::with_capacity(header.len());
        for (i, name) in header.iter().enumerate() {
            let mut ident = ident_of(name);
            if ident == ROW_COLUMN.trim_start_matches('_') || ident.starts_with('_') {
                ident = format!("c_{ident}");
            }
            while columns.iter().any(|c| c.ident == ident) {
                ident.push_str("_2");
            }
            let ty = infer(rows.iter().map(|(_, v)| v.get(i).cloned().flatten()));
            columns.push(Column {
                name: name.trim().to_owned(),
                ident,
                ty,
                distinct: Vec::new(),
                unique: false,
            });
        }
        let defs: Vec<String> = columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    ColType::Integer => "INTEGER",
                    ColType::Real => "REAL",
                    ColType::Date | ColType::Text => "TEXT",
                };
                format!("\"{}\" {ty}", c.ident)
            })
            .collect();
        let tx = self.conn.transaction().map_err(sql_err)?;
        tx.execute_batch(&format!(
            "CREATE TABLE \"{table_ident}\" (\"{ROW_COLUMN}\" INTEGER PRIMARY KEY, {});",
            defs.join(", ")
        ))
        .map_err(sql_err)?;
        let mut locators = Vec::with_capacity(rows.len());
        {
            let placeholders = vec!["?"; columns.len() + 1].join(", ");
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO \"{table_ident}\" VALUES ({placeholders})"
                ))
                .map_err(sql_err)?;
            for (locator, values) in rows {
                let mut params: Vec<rusqlite::types::Value> = Vec::with_capacity(columns.len() + 1);
                params.push(rusqlite::types::Value::Integer(locators.len() as i64));
                for (i, col) in columns.iter().enumerate() {
                    let v = values
                        .get(i)
                        .cloned()
                        .flatten()
                        .map(|v| v.trim().to_owned())
                        .filter(|v| !v.is_empty());
                    params.push(match (v, col.ty) {
                        (None, _) => rusqlite::types::Value::Null,
                        (Some(v), ColType::Integer) => parse_int(&v)
                            .map(rusqlite::types::Value::Integer)
                            .unwrap_or(rusqlite::types::Value::Text(v)),
                        (Some(v), ColType::Real) => parse_real(&v)
                            .map(rusqlite::types::Value::Real)
                            .unwrap_or(rusqlite::types::Value::Text(v)),
                        (Some(v), _) => rusqlite::types::Value::Text(v),
                    });
                }
                insert
                    .execute(rusqlite::params_from_iter(params))
                    .map_err(sql_err)?;
                locators.push(locator);
            }
        }
        tx.commit().map_err(sql_err)?;
        for col in &mut columns {
            let (n_distinct, n_present): (i64, i64) = self
                .conn
                .query_row(
                    &format!(
                        "SELECT COUNT(DISTINCT \"{0}\"), COUNT(\"{0}\") FROM \"{table_ident}\"",
                        col.ident
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql_err)?;
            col.unique = n_present == locators.len() as i64 && n_distinct == n_present;
            if !matches!(col.ty, ColType::Real) {
                let mut stmt = self
                    .conn
                    .prepare(&format!(
                        "SELECT DISTINCT \"{0}\" FROM \"{table_ident}\" WHERE \"{0}\" IS NOT NULL LIMIT {MAX_DISTINCT}",
                        col.ident
                    ))
                    .map_err(sql_err)?;
                col.distinct = stmt
                    .query_map([], |r| {
                        Ok(match r.get_ref(0)? {
                            ValueRef::Integer(i) => i.to_string(),
                            other => String::from_utf8_lossy(other.as_bytes().unwrap_or_default())
                                .into_owned(),
                        })
                    })
                    .map_err(sql_err)?
                    .collect::<Result<_, _>>()
                    .map_err(sql_err)?;
            }
        }
        self.tables.insert(
            file_id.to_owned(),
            TableInfo {
                file_id: file_id.to_owned(),
                file_name: file_name.to_owned(),
                ident: table_ident,
                columns,
                rows: locators.len(),
                locators,
            },
        );
        Ok(())
    }

    pub(crate) fn remove(&mut self, file_id: &str) -> Result<()> {
        if let Some(t) = self.tables.remove(file_id) {
            self.conn
                .execute_batch(&format!("DROP TABLE IF EXISTS \"{}\"", t.ident))
                .map_err(sql_err)?;
        }
        Ok(())
    }

    /// Runs one read-only SELECT. Anything else (several statements, writes, pragmas,
    /// attaching files) is refused before it runs, and the connection is in `query_only` mode
    /// while it runs.
    pub(crate) fn query(&self, sql: &str) -> Result<QueryResult> {
        let head = sql.trim_start().to_ascii_lowercase();
        if !(head.starts_with("select") || head.starts_with("with")) {
            return Err(Error::QueryRefused(sql.to_owned()));
        }
        let mut stmt = match self.conn.prepare(sql) {
            Ok(s) => s,
            Err(rusqlite::Error::MultipleStatement) => {
                return Err(Error::QueryRefused(sql.to_owned()));
            }
            Err(e) => return Err(sql_err(e)),
        };
        if !stmt.readonly() {
            return Err(Error::QueryRefused(sql.to_owned()));
        }
        self.conn
            .pragma_update(None, "query_only", true)
            .map_err(sql_err)?;
        let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
        let n = columns.len();
        let result = (|| {
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                if out.len() >= MAX_RESULT_ROWS {
                    break;
                }
                let mut cells = Vec::with_capacity(n);
                for i in 0..n {
                    cells.push(match row.get_ref(i)? {
                        ValueRef::Null => Cell::Null,
                        ValueRef::Integer(v) => Cell::Int(v),
                        ValueRef::Real(v) => Cell::Real(v),
                        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
                        ValueRef::Blob(_) => Cell::Text("<blob>".into()),
                    });
                }
                out.push(cells);
            }
            Ok::<_, rusqlite::Error>(out)
        })();
        let reset = self.conn.pragma_update(None, "query_only", false);
        let rows = result.map_err(sql_err)?;
        reset.map_err(sql_err)?;
        Ok(QueryResult { columns, rows })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: u32, v: &[&str]) -> (Locator, Vec<Option<String>>) {
        (
            Locator::Row { row: n },
            v.iter()
                .map(|s| (!s.is_empty()).then(|| (*s).to_owned()))
                .collect(),
        )
    }

    fn sample() -> Tables {
        let mut t = Tables::new().expect("db");
        let header: Vec<String> = ["Order ID", "Customer", "unitPrice", "qty", "Date", "code"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        t.load(
            "f1",
            "orders.csv",
            &header,
            vec![
                row(1, &["1", "Ada", "2.5", "4", "2024-03-01", "007"]),
                row(2, &["2", "Bob", "10", "1", "2024-04-11", "12"]),
                row(3, &["3", "Ada", "", "2", "2024-03-30", "13"]),
            ],
        )
        .expect("load");
        t
    }

    #[test]
    fn infers_types_and_identifiers() {
        let t = sample();
        let info = t.get("f1").expect("table");
        let cols: Vec<(&str, ColType, bool)> = info
            .columns
            .iter()
            .map(|c| (c.ident.as_str(), c.ty, c.unique))
            .collect();
        assert_eq!(
            cols,
            vec![
                ("order_id", ColType::Integer, true),
                ("customer", ColType::Text, false),
                ("unit_price", ColType::Real, false),
                ("qty", ColType::Integer, true),
                ("date", ColType::Date, true),
                ("code", ColType::Text, true),
            ]
        );
        assert_eq!(info.columns[1].distinct, vec!["Ada", "Bob"]);
        let r = t
            .query(&format!(
                "SELECT SUM(\"unit_price\" * \"qty\") FROM \"{}\"",
                info.ident
            ))
            .expect("query");
        assert_eq!(r.rows, vec![vec![Cell::Real(20.0)]]);
    }

    #[test]
    fn only_read_only_selects_run() {
        let t = sample();
        let name = t.get("f1").expect("table").ident.clone();
        for bad in [
            format!("DELETE FROM \"{name}\""),
            format!("SELECT 1; DELETE FROM \"{name}\""),
            "PRAGMA query_only = 0".to_owned(),
            "ATTACH DATABASE '/tmp/x.db' AS x".to_owned(),
            format!("WITH x AS (SELECT 1) DELETE FROM \"{name}\""),
        ] {
            assert!(
                matches!(
                    t.query(&bad),
                    Err(Error::QueryRefused(_)) | Err(Error::Table(_))
                ),
                "{bad}"
            );
        }
        let count = t
            .query(&format!("SELECT COUNT(*) FROM \"{name}\""))
            .expect("count");
        assert_eq!(count.rows, vec![vec![Cell::Int(3)]]);
    }
}
