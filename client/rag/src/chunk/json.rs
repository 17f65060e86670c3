//! JSON: one chunk per record (an object's scalar fields, arrays of scalars included), cited by
//! its key path; and the table view of the largest array of objects, for exact answers.

use serde_json::{Map, Value};

use super::{Chunk, Locator};

/// Deepest nesting walked.
const MAX_DEPTH: usize = 64;
/// Most fields in one chunk; a wider record is split into several chunks with the same path.
const MAX_FIELDS_PER_CHUNK: usize = 24;

/// Chunks a parsed JSON document.
pub(crate) fn chunk_json(value: &Value) -> Vec<Chunk> {
    let mut out = Vec::new();
    walk(value, "$", 0, &mut out);
    out
}

fn child_path(parent: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (parent, simple) {
        ("$", true) => key.to_owned(),
        (_, true) => format!("{parent}.{key}"),
        _ => format!(
            "{parent}[{}]",
            serde_json::to_string(key).unwrap_or_default()
        ),
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if !items.is_empty() && items.iter().all(is_scalar) => Some(
            items
                .iter()
                .filter_map(scalar_text)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Array(_) | Value::Object(_))
}

fn walk(value: &Value, path: &str, depth: usize, out: &mut Vec<Chunk>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            let fields: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| scalar_text(v).map(|t| format!("{k}: {t}")))
                .collect();
            for part in fields.chunks(MAX_FIELDS_PER_CHUNK) {
                let label = if path == "$" {
                    String::new()
                } else {
                    format!("{path}: ")
                };
                out.push(Chunk {
                    text: format!("{label}{}", part.join("; ")),
                    locator: Locator::Record {
                        path: path.to_owned(),
                    },
                });
            }
            for (k, v) in map {
                if scalar_text(v).is_none() && !v.is_null() {
                    walk(v, &child_path(path, k), depth + 1, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let p = format!("{}[{i}]", if path == "$" { "" } else { path });
                match item {
                    Value::Object(_) | Value::Array(_) => walk(item, &p, depth + 1, out),
                    other => {
                        if let Some(t) = scalar_text(other) {
                            out.push(Chunk {
                                text: format!("{p}: {t}"),
                                locator: Locator::Record { path: p },
                            });
                        }
                    }
                }
            }
        }
        other => {
            if let Some(t) = scalar_text(other) {
                out.push(Chunk {
                    text: t,
                    locator: Locator::Record {
                        path: path.to_owned(),
                    },
                });
            }
        }
    }
}

/// A JSON array of objects seen as a table: one row per object, nested objects flattened to
/// dotted column names.
#[derive(Debug, Clone)]
pub(crate) struct JsonTable {
    /// Column names in first-seen order.
    pub(crate) columns: Vec<String>,
    /// Each row: its record path and one value per column (None when absent or null).
    pub(crate) rows: Vec<(String, Vec<Option<String>>)>,
}

/// The table view of a document: the top-level array of objects, or else the largest array of
/// objects directly under a top-level key. None if there is none.
pub(crate) fn json_table(value: &Value) -> Option<JsonTable> {
    let (prefix, items) = match value {
        Value::Array(items) => (String::new(), items),
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| match v {
                Value::Array(items) if items.iter().filter(|i| i.is_object()).count() >= 2 => {
                    Some((child_path("$", k), items))
                }
                _ => None,
            })
            .max_by_key(|(_, items)| items.len())?,
        _ => return None,
    };
    let objects: Vec<(usize, &Map<String, Value>)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_object().map(|o| (i, o)))
        .collect();
    if objects.len() < 2 {
        return None;
    }
    let mut columns: Vec<String> = Vec::new();
    let mut flat_rows = Vec::with_capacity(objects.len());
    for (i, obj) in objects {
        let mut flat = Vec::new();
        flatten(obj, "", 0, &mut flat);
        for (name, _) in &flat {
            if !columns.contains(name) {
                columns.push(name.clone());
            }
        }
        flat_rows.push((format!("{prefix}[{i}]"), flat));
    }
    let rows = flat_rows
        .into_iter()
        .map(|(path, flat)| {
            let values = columns
                .iter()
                .map(|c| flat.iter().find(|(n, _)| n == c).map(|(_, v)| v.clone()))
                .collect();
            (path, values)
        })
        .collect();
    Some(JsonTable { columns, rows })
}

fn flatten(obj: &Map<String, Value>, prefix: &str, depth: usize, out: &mut Vec<(String, String)>) {
    for (k, v) in obj {
        let name = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) if depth < 4 => flatten(inner, &name, depth + 1, out),
            Value::Null => {}
            other => {
                if let Some(t) = scalar_text(other) {
                    out.push((name, t));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_their_key_paths() {
        let doc: Value = serde_json::from_str(
            r#"{"owner":"ana","wifi":{"ssid":"casa","password":"tortilla42"},
                "trips":[{"to":"Lisbon","year":2023},{"to":"Oslo","year":2024,"tags":["cold","work"]}]}"#,
        )
        .expect("json");
        let chunks = chunk_json(&doc);
        let find = |needle: &str| {
            chunks
                .iter()
                .find(|c| c.text.contains(needle))
                .map(|c| c.locator.clone())
        };
        assert_eq!(
            find("owner: ana"),
            Some(Locator::Record { path: "$".into() })
        );
        assert_eq!(
            find("tortilla42"),
            Some(Locator::Record {
                path: "wifi".into()
            })
        );
        assert_eq!(
            find("Oslo"),
            Some(Locator::Record {
                path: "trips[1]".into()
            })
        );
        assert!(chunks.iter().any(|c| c.text.contains("tags: cold, work")));
    }

    #[test]
    fn table_view_flattens_nested_objects() {
        let doc: Value = serde_json::from_str(
            r#"{"meta":{"v":1},"orders":[{"id":1,"customer":{"name":"Ada"},"total":9.5},
                {"id":2,"customer":{"name":"Bob"},"note":"gift"}]}"#,
        )
        .expect("json");
        let table = json_table(&doc).expect("table");
        // serde_json's maps are sorted by key
        assert_eq!(table.columns, vec!["customer.name", "id", "total", "note"]);
        assert_eq!(table.rows[1].0, "orders[1]");
        assert_eq!(
            table.rows[1].1,
            vec![
                Some("Bob".into()),
                Some("2".into()),
                None,
                Some("gift".into())
            ]
        );
        assert!(json_table(&serde_json::json!({"a": 1})).is_none());
    }
}
