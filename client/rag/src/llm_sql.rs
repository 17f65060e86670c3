//! Optional: a configured language model writes the table query when the planner cannot map
//! a question. The query is shown, checked to be one read-only SELECT and run by SQLite; the
//! model never sees more than the schema and three sample rows per table, and never gives
//! the number itself.

use crate::{
    answer::{Answer, AnswerKind, Citation},
    exact::format_cell,
    generate::{Backend, Message, Role},
    table::{ColType, Tables},
};

/// Sample rows shown to the model per table.
const SAMPLE_ROWS: usize = 3;

const SYSTEM: &str = "You write one SQLite SELECT statement that answers the user's question \
over the tables described. Use only the tables and columns given, quoted with double quotes. \
Reply with the statement alone in a ```sql block, no explanation.";

/// The prompt describing the tables in scope.
fn schema(tables: &Tables, files: Option<&[String]>) -> String {
    let mut out = String::new();
    for t in tables.all() {
        if files.is_some_and(|f| !f.contains(&t.file_id)) {
            continue;
        }
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| {
                let ty = match c.ty {
                    ColType::Integer => "INTEGER",
                    ColType::Real => "REAL",
                    ColType::Date => "TEXT (ISO date)",
                    ColType::Text => "TEXT",
                };
                if c.name == c.ident {
                    format!("\"{}\" {ty}", c.ident)
                } else {
                    format!("\"{}\" {ty} (header {:?})", c.ident, c.name)
                }
            })
            .collect();
        out.push_str(&format!(
            "Table \"{}\" (from {}, {} rows): {}\n",
            t.ident,
            t.file_name,
            t.rows,
            cols.join(", ")
        ));
        let sample = format!("SELECT * FROM \"{}\" LIMIT {SAMPLE_ROWS}", t.ident);
        if let Ok(rows) = tables.query(&sample) {
            for row in rows.rows {
                let cells: Vec<String> = row.iter().skip(1).map(|c| format_cell(c, None)).collect();
                out.push_str(&format!("  sample: {}\n", cells.join(" | ")));
            }
        }
    }
    out
}

/// The statement inside the reply's ```sql block (or the whole reply).
fn extract_sql(reply: &str) -> String {
    let body = reply
        .split("```")
        .nth(1)
        .map(|b| b.strip_prefix("sql").unwrap_or(b))
        .unwrap_or(reply);
    body.trim().trim_end_matches(';').trim().to_owned()
}

/// Asks the model for a query and runs it. `Err` says why there is no exact answer.
pub(crate) fn answer(
    tables: &Tables,
    files: Option<&[String]>,
    question: &str,
    backend: &Backend,
) -> Result<Answer, String> {
    let prompt = format!("{}\nQuestion: {question}", schema(tables, files));
    let messages = [
        Message::new(Role::System, SYSTEM),
        Message::new(Role::User, prompt),
    ];
    let reply = backend
        .chat(&messages, &mut |_| {})
        .map_err(|e| e.to_string())?;
    let sql = extract_sql(&reply);
    // the query may only read tables in scope
    let used: Vec<_> = tables.all().filter(|t| sql.contains(&t.ident)).collect();
    if used.is_empty()
        || used
            .iter()
            .any(|t| files.is_some_and(|f| !f.contains(&t.file_id)))
    {
        return Err(format!(
            "the model's query does not read the tables in scope: {sql}"
        ));
    }
    let result = tables
        .query(&sql)
        .map_err(|e| format!("the model's query was not run: {e}"))?;
    let value = result
        .rows
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| format_cell(c, None))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Answer {
        kind: AnswerKind::Exact,
        text: if value.is_empty() {
            "no rows match".into()
        } else {
            value.clone()
        },
        value: Some(value),
        query: Some(sql),
        citations: used
            .iter()
            .map(|t| Citation::new(&t.file_id, &t.file_name, None))
            .collect(),
        note: Some(
            "query written by the language model, checked read-only and run on the table".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_statement() {
        assert_eq!(extract_sql("```sql\nSELECT 1;\n```"), "SELECT 1");
        assert_eq!(extract_sql("SELECT 2"), "SELECT 2");
    }
}
