//! Exact answers over tables: pick the table (and plan) that explains the question best, run
//! the query read-only, format the value, cite the rows.

use crate::{
    answer::Citation,
    planner::{self, Plan, Shape},
    table::{Cell, QueryResult, Tables},
};

/// Most rows cited one by one; an answer resting on more cites the file and the query.
pub(crate) const MAX_CITED_ROWS: usize = 20;

/// A computed answer.
#[derive(Debug, Clone)]
pub(crate) struct Exact {
    pub(crate) plan: Plan,
    pub(crate) value: String,
    pub(crate) text: String,
    pub(crate) citations: Vec<Citation>,
}

/// Formats a result cell; `round` fixes the number of decimals.
pub(crate) fn format_cell(cell: &Cell, round: Option<u32>) -> String {
    match (cell, round) {
        (Cell::Null, _) => "none".into(),
        (Cell::Int(i), _) => i.to_string(),
        (Cell::Real(f), Some(n)) => format!("{f:.prec$}", prec = n as usize),
        (Cell::Real(f), None) => {
            // float sums carry binary noise (0.1 + 0.2); 10 decimals is beyond any input's
            let s = format!("{f:.10}");
            let s = s.trim_end_matches('0').trim_end_matches('.');
            if s == "-0" { "0".into() } else { s.to_owned() }
        }
        (Cell::Text(t), _) => t.clone(),
    }
}

/// Plans the question over every table in `files` (all tables when None), keeps the plan that
/// explains most of the question, runs it. `Err` says why no table answers it.
pub(crate) fn answer(
    tables: &Tables,
    files: Option<&[String]>,
    question: &str,
) -> Result<Exact, String> {
    let mut best: Option<Plan> = None;
    let mut reasons = Vec::new();
    for table in tables.all() {
        if files.is_some_and(|f| !f.contains(&table.file_id)) {
            continue;
        }
        match planner::plan(question, table) {
            Ok(p) => {
                if best.as_ref().is_none_or(|b| p.score > b.score) {
                    best = Some(p);
                }
            }
            Err(why) => reasons.push(format!("{}: {why}", table.file_name)),
        }
    }
    let Some(plan) = best else {
        return Err(if reasons.is_empty() {
            "no table in scope".into()
        } else {
            reasons.join("; ")
        });
    };
    let result = tables.query(&plan.sql).map_err(|e| e.to_string())?;
    let table = tables
        .get(&plan.file_id)
        .ok_or_else(|| "table vanished".to_owned())?;
    let (value, text) = render(&plan, &result);
    let rows = tables.query(&plan.rows_sql).map_err(|e| e.to_string())?;
    let row_ids: Vec<usize> = rows
        .rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(Cell::Int(i)) => usize::try_from(*i).ok(),
            _ => None,
        })
        .collect();
    let citations = if row_ids.len() <= MAX_CITED_ROWS && !row_ids.is_empty() {
        row_ids
            .iter()
            .filter_map(|&i| table.locators.get(i))
            .map(|loc| Citation::new(&table.file_id, &table.file_name, Some(loc.clone())))
            .collect()
    } else {
        vec![Citation::new(&table.file_id, &table.file_name, None)]
    };
    let text = if row_ids.len() > MAX_CITED_ROWS {
        format!("{text} (from {} rows)", row_ids.len())
    } else {
        text
    };
    Ok(Exact {
        plan,
        value,
        text,
        citations,
    })
}

/// The answer's canonical value (what the evaluation compares) and its sentence.
fn render(plan: &Plan, result: &QueryResult) -> (String, String) {
    let cells = |col: usize| -> Vec<String> {
        result
            .rows
            .iter()
            .filter_map(|r| r.get(col).map(|c| format_cell(c, plan.round)))
            .collect()
    };
    match plan.shape {
        Shape::Group | Shape::Extreme => {
            let keys = cells(0);
            let vals = cells(1);
            let value = keys.join(", ");
            let detail: Vec<String> = keys
                .iter()
                .zip(&vals)
                .map(|(k, v)| format!("{k} ({v})"))
                .collect();
            let text = match (keys.len(), plan.shape) {
                (0, _) => "no rows match".into(),
                (1, _) => detail.join(""),
                (_, Shape::Group) => format!("a tie: {}", detail.join(", ")),
                _ => detail.join(", "),
            };
            (value, text)
        }
        _ => {
            let vals = cells(0);
            let value = vals.join(", ");
            let text = if vals.is_empty() {
                "no rows match".into()
            } else {
                value.clone()
            };
            (value, text)
        }
    }
}
