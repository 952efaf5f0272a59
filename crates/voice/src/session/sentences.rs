//! Cuts an agent's streamed reply into sentences, so each sentence can go to
//! text-to-speech as soon as it is complete instead of waiting for the whole reply. A
//! sentence ends at `.`/`!`/`?`/`…`/`;`/`:` followed by white space, or at a newline; a
//! run-on sentence is cut at a comma or space once it is too long to wait for.

/// Fewest letters spoken as their own sentence (avoids "א." or a stray "1.").
const MIN_CHARS: usize = 2;
/// Past this length a sentence is cut at the last comma or space.
const MAX_CHARS: usize = 160;

/// Incremental sentence splitter.
#[derive(Debug, Default)]
pub struct SentenceSplitter {
    buf: String,
}

fn is_end(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | ';' | ':')
}

impl SentenceSplitter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a text delta; returns the sentences it completes, trimmed.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buf.push_str(delta);
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(at) = self.find_cut(from) {
            let letters = self.buf[..at]
                .chars()
                .filter(|c| c.is_alphanumeric())
                .count();
            if letters < MIN_CHARS {
                // Too short alone ("א."): it joins the sentence that follows.
                from = at;
                continue;
            }
            let rest = self.buf.split_off(at);
            let sentence = std::mem::replace(&mut self.buf, rest);
            out.push(sentence.trim().to_string());
            from = 0;
        }
        out
    }

    /// The reply is complete: returns what is left, if anything.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_string())
    }

    /// Byte index just after the first sentence end in the buffer.
    fn find_cut(&self, from: usize) -> Option<usize> {
        let mut chars = self.buf[from..]
            .char_indices()
            .map(|(i, c)| (i + from, c))
            .peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\n' {
                return Some(i + 1);
            }
            if is_end(c) {
                // Swallow a run like "?!" or "...".
                let mut end = i + c.len_utf8();
                while let Some(&(j, n)) = chars.peek() {
                    if is_end(n) || n == '"' || n == '\'' || n == ')' {
                        end = j + n.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                match chars.peek() {
                    Some((_, n)) if n.is_whitespace() => return Some(end),
                    _ => continue,
                }
            }
        }
        if self.buf.chars().count() > MAX_CHARS {
            let head: String = self.buf.chars().take(MAX_CHARS).collect();
            let at = head.rfind(',').map(|i| i + 1).or_else(|| head.rfind(' '))?;
            return (at > from).then_some(at);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(deltas: &[&str]) -> Vec<String> {
        let mut s = SentenceSplitter::new();
        let mut out: Vec<String> = deltas.iter().flat_map(|d| s.push(d)).collect();
        out.extend(s.finish());
        out
    }

    #[test]
    fn sentences_come_out_as_soon_as_they_end() {
        let mut s = SentenceSplitter::new();
        assert!(s.push("שלום, מה").is_empty());
        assert!(
            s.push(" שלומך?").is_empty(),
            "waits for the following space"
        );
        assert_eq!(s.push(" אני כאן.\nמה"), vec!["שלום, מה שלומך?", "אני כאן."]);
        assert_eq!(s.finish(), Some("מה".to_string()));
    }

    #[test]
    fn numbers_runs_and_tiny_fragments_are_not_cut() {
        assert_eq!(
            split_all(&["המחיר 3.5 שקלים!? ", "א. ב", "סדר. סוף"]),
            vec!["המחיר 3.5 שקלים!?", "א. בסדר.", "סוף"]
        );
    }

    #[test]
    fn a_run_on_sentence_is_cut_at_a_comma() {
        let long = format!("{}, {}", "מילה ".repeat(25).trim(), "עוד ".repeat(20));
        let mut s = SentenceSplitter::new();
        let out = s.push(&long);
        assert_eq!(out.len(), 1);
        assert!(out[0].ends_with(','));
        assert!(s.finish().unwrap().starts_with("עוד"));
    }
}
