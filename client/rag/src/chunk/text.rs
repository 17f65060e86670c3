//! Text and markdown: chunks of whole paragraphs under one heading, about `target_words` long,
//! each starting with the end of the previous one (`overlap_words`), cited by line range.
//! A chunk carries its heading path ("Travel > Lisbon") so it reads on its own.

use super::{Chunk, Locator};

/// Chunk size and overlap, in words.
#[derive(Debug, Clone)]
pub struct TextOptions {
    /// Words per chunk, about (all-MiniLM sees at most 256 word pieces).
    pub target_words: usize,
    /// Words carried over from the end of the previous chunk of the same section.
    pub overlap_words: usize,
}

impl Default for TextOptions {
    fn default() -> Self {
        Self {
            target_words: 150,
            overlap_words: 25,
        }
    }
}

/// A line, or a window of words of a line longer than a chunk.
#[derive(Debug, Clone)]
struct Unit {
    line: u32,
    text: String,
    words: usize,
}

#[derive(Debug, Default)]
struct Section {
    path: String,
    heading_line: Option<u32>,
    /// Paragraphs: runs of non-blank lines.
    blocks: Vec<Vec<Unit>>,
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let level = trimmed.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&level) {
        let rest = trimmed.get(level..).unwrap_or("");
        if rest.starts_with(' ') || rest.is_empty() {
            return Some((level, rest.trim()));
        }
    }
    None
}

fn units_of_line(line: u32, text: &str, max_words: usize) -> Vec<Unit> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() <= max_words {
        return vec![Unit {
            line,
            text: text.trim().to_owned(),
            words: words.len(),
        }];
    }
    words
        .chunks(max_words.max(1))
        .map(|w| Unit {
            line,
            text: w.join(" "),
            words: w.len(),
        })
        .collect()
}

fn sections(text: &str, options: &TextOptions) -> Vec<Section> {
    let mut out = vec![Section::default()];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut in_block = false;
    for (i, line) in text.lines().enumerate() {
        let n = u32::try_from(i + 1).unwrap_or(u32::MAX);
        if let Some((level, title)) = heading(line) {
            stack.retain(|(l, _)| *l < level);
            stack.push((level, title.to_owned()));
            out.push(Section {
                path: stack
                    .iter()
                    .map(|(_, t)| t.as_str())
                    .collect::<Vec<_>>()
                    .join(" > "),
                heading_line: Some(n),
                blocks: Vec::new(),
            });
            in_block = false;
            continue;
        }
        if line.trim().is_empty() {
            in_block = false;
            continue;
        }
        let Some(section) = out.last_mut() else {
            continue;
        };
        if !in_block {
            section.blocks.push(Vec::new());
            in_block = true;
        }
        if let Some(block) = section.blocks.last_mut() {
            block.extend(units_of_line(n, line, options.target_words));
        }
    }
    out
}

fn emit(section: &Section, units: &[Unit], first: bool, out: &mut Vec<Chunk>) {
    let (Some(first_unit), Some(last_unit)) = (units.first(), units.last()) else {
        return;
    };
    let start = match (first, section.heading_line) {
        (true, Some(h)) => h,
        _ => first_unit.line,
    };
    let body: Vec<&str> = units.iter().map(|u| u.text.as_str()).collect();
    let text = if section.path.is_empty() {
        body.join("\n")
    } else {
        format!("{}\n{}", section.path, body.join("\n"))
    };
    out.push(Chunk {
        text,
        locator: Locator::Lines {
            start,
            end: last_unit.line,
        },
    });
}

/// The trailing units of `units` worth at most `overlap` words; if even the last unit is
/// longer, its last `overlap` words.
fn overlap_tail(units: &[Unit], overlap: usize) -> Vec<Unit> {
    if overlap == 0 {
        return Vec::new();
    }
    let mut words = 0;
    let mut tail = Vec::new();
    for unit in units.iter().rev() {
        if words + unit.words > overlap {
            break;
        }
        words += unit.words;
        tail.push(unit.clone());
    }
    if tail.is_empty()
        && let Some(last) = units.last()
    {
        let w: Vec<&str> = last.text.split_whitespace().collect();
        let from = w.len().saturating_sub(overlap);
        tail.push(Unit {
            line: last.line,
            text: w.get(from..).unwrap_or(&[]).join(" "),
            words: w.len() - from,
        });
    }
    tail.reverse();
    tail
}

pub(crate) fn chunk_text(text: &str, options: &TextOptions) -> Vec<Chunk> {
    let mut out = Vec::new();
    for section in sections(text, options) {
        let mut current: Vec<Unit> = Vec::new();
        // Words in `current` that are new (not carried over as overlap).
        let mut fresh = 0usize;
        let mut first = true;
        for block in &section.blocks {
            let block_words: usize = block.iter().map(|u| u.words).sum();
            let current_words: usize = current.iter().map(|u| u.words).sum();
            if fresh > 0 && current_words + block_words > options.target_words {
                emit(&section, &current, first, &mut out);
                first = false;
                current = overlap_tail(&current, options.overlap_words);
                fresh = 0;
            }
            // A paragraph longer than a chunk is split by lines (or word windows).
            for unit in block {
                let current_words: usize = current.iter().map(|u| u.words).sum();
                if fresh > 0 && current_words + unit.words > options.target_words {
                    emit(&section, &current, first, &mut out);
                    first = false;
                    current = overlap_tail(&current, options.overlap_words);
                    fresh = 0;
                }
                current.push(unit.clone());
                fresh += unit.words;
            }
        }
        if fresh > 0 {
            emit(&section, &current, first, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(c: &Chunk) -> (u32, u32) {
        match c.locator {
            Locator::Lines { start, end } => (start, end),
            _ => panic!("not a line range"),
        }
    }

    #[test]
    fn headings_split_and_label_chunks() {
        let text =
            "intro line\n\n# Travel\n\n## Lisbon\nhotel is Casa Azul\nroom 12\n\n## Oslo\ncold\n";
        let chunks = chunk_text(text, &TextOptions::default());
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[0].text, "intro line");
        assert_eq!(lines(&chunks[0]), (1, 1));
        assert_eq!(
            chunks[1].text,
            "Travel > Lisbon\nhotel is Casa Azul\nroom 12"
        );
        assert_eq!(lines(&chunks[1]), (5, 7));
        assert_eq!(chunks[2].text, "Travel > Oslo\ncold");
        assert_eq!(lines(&chunks[2]), (9, 10));
    }

    #[test]
    fn long_text_is_split_with_overlap_and_exact_line_ranges() {
        // 40 paragraphs of one 10-word line each, separated by blank lines.
        let text: String = (0..40)
            .map(|p| {
                let words: Vec<String> = (0..10).map(|w| format!("p{p}w{w}")).collect();
                format!("{}\n\n", words.join(" "))
            })
            .collect();
        let opts = TextOptions {
            target_words: 50,
            overlap_words: 10,
        };
        let chunks = chunk_text(&text, &opts);
        assert!(chunks.len() >= 8, "{} chunks", chunks.len());
        for c in &chunks {
            assert!(c.text.split_whitespace().count() <= 50 + 10);
            let (start, end) = lines(c);
            // paragraph p sits on line 2p+1
            let first_p: u32 = c.text[1..]
                .split('w')
                .next()
                .and_then(|s| s.parse().ok())
                .expect("p");
            assert_eq!(start, 2 * first_p + 1);
            assert!(c.text.contains(&format!("p{}w9", (end - 1) / 2)));
        }
        for pair in chunks.windows(2) {
            // the next chunk starts with the previous one's last paragraph
            let last_line_prev = pair[0].text.lines().last().expect("line");
            assert_eq!(pair[1].text.lines().next(), Some(last_line_prev));
        }
        // every paragraph is in some chunk
        for p in 0..40 {
            assert!(chunks.iter().any(|c| c.text.contains(&format!("p{p}w5"))));
        }
    }

    #[test]
    fn a_very_long_line_is_split_into_windows_of_that_line() {
        let long: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let text = format!("title\n\n{}\n", long.join(" "));
        let chunks = chunk_text(&text, &TextOptions::default());
        assert!(chunks.len() >= 3);
        // after the first, every chunk ends on line 3 (it may start with line 1 as overlap)
        assert!(chunks.iter().skip(1).all(|c| lines(c).1 == 3));
        assert!(chunks.iter().any(|c| c.text.contains("w399")));
    }
}
