//! Turning retrieved passages into an answer: the prompt for a language model (numbered
//! sources, cite as [n]), or, with no model, an extractive answer quoting the sentences that
//! match the question best.

use std::collections::HashSet;

use crate::{
    answer::{Answer, AnswerKind, Citation},
    chat::Turn,
    generate::{Message, Role},
    library::Hit,
};

/// Earlier turns sent to the model with a new question.
pub const HISTORY_TURNS: usize = 6;
/// A follow-up this short is searched together with the previous question.
const FOLLOW_UP_WORDS: usize = 6;
/// Sentences quoted per passage in an extractive answer.
const QUOTED_SENTENCES: usize = 2;

const SYSTEM: &str = "You answer questions about the user's own private files. Use only the \
numbered sources in the user's message. After each statement, cite the sources it rests on as \
[1], [2]. If the sources do not hold the answer, say that they do not; never guess. Do not \
compute totals or counts over tables from these excerpts: say they are excerpts.";

const STOP: &[&str] = &[
    "a", "an", "the", "is", "are", "was", "were", "be", "of", "in", "on", "at", "to", "for", "and",
    "or", "my", "i", "me", "what", "which", "who", "when", "where", "how", "does", "do", "did",
    "it", "its", "with", "by", "from", "that", "this", "there", "as", "about", "any",
];

/// Whether a question asks for something computed (a count, a total, an extreme), which
/// passages alone must not be used to answer.
pub(crate) fn wants_computation(question: &str) -> bool {
    let q = format!(" {} ", question.to_lowercase());
    [
        " how many ",
        " number of ",
        " count ",
        " total ",
        " sum ",
        " average ",
        " mean ",
        " how much ",
        " maximum ",
        " minimum ",
        " highest ",
        " lowest ",
        " largest ",
        " smallest ",
        " most ",
        " fewest ",
        " least ",
    ]
    .iter()
    .any(|w| q.contains(w))
}

/// What is searched for a question: a short follow-up ("and in 2023?") together with the
/// previous question.
pub(crate) fn retrieval_query(question: &str, history: &[Turn]) -> String {
    match history.last() {
        Some(prev) if question.split_whitespace().count() <= FOLLOW_UP_WORDS => {
            format!("{} {question}", prev.question)
        }
        _ => question.to_owned(),
    }
}

fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP.contains(&w.as_str()))
        .collect()
}

/// The sentences (or lines) of a passage that share most words with the question, in
/// passage order.
pub(crate) fn best_sentences(passage: &str, question: &str, n: usize) -> String {
    let q = words(question);
    let sentences: Vec<&str> = passage
        .split_inclusive(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut scored: Vec<(usize, usize)> = sentences
        .iter()
        .enumerate()
        .map(|(i, s)| (words(s).intersection(&q).count(), i))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut keep: Vec<usize> = scored
        .iter()
        .take(n)
        .filter(|(s, _)| *s > 0)
        .map(|(_, i)| *i)
        .collect();
    if keep.is_empty() {
        keep.push(0);
    }
    keep.sort_unstable();
    keep.iter()
        .filter_map(|&i| sentences.get(i).copied())
        .collect::<Vec<_>>()
        .join(" … ")
}

/// An answer made of the passages themselves, each quoted and cited.
pub(crate) fn extractive(
    question: &str,
    hits: &[Hit],
    kind: AnswerKind,
    note: Option<String>,
) -> Answer {
    if hits.is_empty() {
        return Answer {
            kind,
            text: "Nothing in the selected files matches the question.".into(),
            value: None,
            query: None,
            citations: Vec::new(),
            note,
        };
    }
    let mut lines = Vec::new();
    let mut citations = Vec::new();
    for (n, hit) in hits.iter().enumerate() {
        let quote = best_sentences(&hit.text, question, QUOTED_SENTENCES);
        lines.push(format!(
            "[{}] {}: \u{201c}{quote}\u{201d}",
            n + 1,
            hit.citation
        ));
        citations.push(hit.citation.clone());
    }
    Answer {
        kind,
        text: lines.join("\n"),
        value: None,
        query: None,
        citations,
        note,
    }
}

/// The conversation sent to the model: instructions, the last turns, then the numbered
/// sources and the question.
pub(crate) fn messages(question: &str, history: &[Turn], hits: &[Hit]) -> Vec<Message> {
    let mut out = vec![Message::new(Role::System, SYSTEM)];
    let start = history.len().saturating_sub(HISTORY_TURNS);
    for turn in history.get(start..).unwrap_or(&[]) {
        out.push(Message::new(Role::User, turn.question.clone()));
        out.push(Message::new(Role::Assistant, turn.answer.text.clone()));
    }
    let mut user = String::from("Sources:\n");
    for (n, hit) in hits.iter().enumerate() {
        user.push_str(&format!("[{}] {}\n{}\n\n", n + 1, hit.citation, hit.text));
    }
    user.push_str("Question: ");
    user.push_str(question);
    out.push(Message::new(Role::User, user));
    out
}

/// The sources an answer cites as [n], in order; all of them if it cites none.
pub(crate) fn cited(text: &str, hits: &[Hit]) -> Vec<Citation> {
    let mut numbers = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = rest.get(open + 1..).unwrap_or("");
        let Some(close) = after.find(']') else { break };
        for part in after.get(..close).unwrap_or("").split(',') {
            if let Ok(n) = part.trim().parse::<usize>()
                && (1..=hits.len()).contains(&n)
                && !numbers.contains(&n)
            {
                numbers.push(n);
            }
        }
        rest = after.get(close..).unwrap_or("");
    }
    if numbers.is_empty() {
        return hits.iter().map(|h| h.citation.clone()).collect();
    }
    numbers
        .iter()
        .filter_map(|n| hits.get(n - 1).map(|h| h.citation.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::Locator;

    fn hit(file: &str, text: &str) -> Hit {
        Hit {
            citation: Citation::new(
                file,
                &format!("{file}.md"),
                Some(Locator::Lines { start: 1, end: 2 }),
            ),
            text: text.into(),
            score: 0.1,
        }
    }

    #[test]
    fn cites_what_the_model_cites() {
        let hits = vec![hit("a", "x"), hit("b", "y"), hit("c", "z")];
        let c = cited("It is 9:30 [2]. Also see [3, 1] and [9].", &hits);
        let ids: Vec<&str> = c.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, vec!["b", "c", "a"]);
        assert_eq!(cited("no brackets", &hits).len(), 3);
    }

    #[test]
    fn extractive_quotes_the_matching_sentence_with_its_citation() {
        let hits = vec![hit(
            "notes",
            "Groceries on Friday. The dentist appointment is on 14 March at 9:30. Call mum.",
        )];
        let a = extractive(
            "When is the dentist appointment?",
            &hits,
            AnswerKind::Extractive,
            None,
        );
        assert_eq!(
            a.text,
            "[1] notes.md, lines 1-2: \u{201c}The dentist appointment is on 14 March at 9:30.\u{201d}"
        );
        assert_eq!(a.citations.len(), 1);
        let msgs = messages("When?", &[], &hits);
        assert_eq!(msgs.len(), 2);
        assert!(
            msgs[1]
                .content
                .starts_with("Sources:\n[1] notes.md, lines 1-2\nGroceries")
        );
        assert!(msgs[1].content.ends_with("Question: When?"));
    }

    #[test]
    fn computation_questions_are_recognised() {
        assert!(wants_computation("How many orders were shipped?"));
        assert!(wants_computation("What is the total amount?"));
        assert!(!wants_computation("What is the wifi password?"));
    }
}
