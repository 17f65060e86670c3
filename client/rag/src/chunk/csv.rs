//! CSV (RFC 4180: quoted fields, doubled quotes, newlines inside quotes): one chunk per data
//! row, each with the header's names, so a row read alone still says what its values are.

use super::{Chunk, Locator};

/// Longest row count read from one CSV file.
pub(crate) const MAX_ROWS: usize = 2_000_000;

/// Parses CSV into records (the first is the header). Blank lines are skipped. A stray quote
/// inside an unquoted field is kept as text.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut field_started = false;
    let mut chars = text
        .strip_prefix('\u{feff}')
        .unwrap_or(text)
        .chars()
        .peekable();
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if !field_started => {
                in_quotes = true;
                field_started = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                field_started = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                if field_started || !record.is_empty() || !field.is_empty() {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                    if records.len() > MAX_ROWS {
                        return records;
                    }
                }
                field_started = false;
            }
            _ => {
                field.push(c);
                field_started = true;
            }
        }
    }
    if field_started || !record.is_empty() || !field.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// One chunk per data row: `name: value; name: value`, cited by row number.
pub(crate) fn chunk_csv(text: &str) -> Vec<Chunk> {
    let records = parse_csv(text);
    let Some((header, rows)) = records.split_first() else {
        return Vec::new();
    };
    rows.iter()
        .enumerate()
        .filter(|(_, row)| row.iter().any(|v| !v.trim().is_empty()))
        .map(|(i, row)| {
            let fields: Vec<String> = row
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(c, v)| {
                    let name = header.get(c).map(|h| h.trim()).unwrap_or("");
                    if name.is_empty() {
                        v.trim().to_owned()
                    } else {
                        format!("{name}: {}", v.trim())
                    }
                })
                .collect();
            Chunk {
                text: fields.join("; "),
                locator: Locator::Row {
                    row: u32::try_from(i + 1).unwrap_or(u32::MAX),
                },
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_commas_and_newlines() {
        let text = "id,note,amount\r\n1,\"a, b\",3\n2,\"say \"\"hi\"\"\nthere\",4\n\n3,,5";
        let rows = parse_csv(text);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1], vec!["1", "a, b", "3"]);
        assert_eq!(rows[2], vec!["2", "say \"hi\"\nthere", "4"]);
        assert_eq!(rows[3], vec!["3", "", "5"]);
    }

    #[test]
    fn rows_carry_header_and_row_number() {
        let chunks = chunk_csv("name,city\nAda,London\n,\nBob,Paris\n");
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, "name: Ada; city: London");
        assert_eq!(chunks[0].locator, Locator::Row { row: 1 });
        // the empty row 2 is skipped but numbering follows the file
        assert_eq!(chunks[1].locator, Locator::Row { row: 3 });
    }
}
