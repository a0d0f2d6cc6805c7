//! Stop strings: text is held back while it could still be the beginning of a stop string,
//! so a stop string never reaches the output, even when it spans several tokens.

pub(crate) struct StopMatcher {
    stops: Vec<String>,
    pending: String,
}

pub(crate) enum StopOutcome {
    /// Text that can be emitted now (possibly empty).
    Continue(String),
    /// A stop string was found: the text before it, and generation ends.
    Stopped(String),
}

impl StopMatcher {
    pub fn new(stops: Vec<String>) -> Self {
        StopMatcher {
            stops,
            pending: String::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> StopOutcome {
        self.pending.push_str(text);
        let first_match = self
            .stops
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min();
        if let Some(at) = first_match {
            // What follows the stop string stays pending: `flush` gives it.
            let out = self.pending[..at].to_string();
            let stop_len = self
                .stops
                .iter()
                .filter(|s| self.pending[at..].starts_with(s.as_str()))
                .map(String::len)
                .max()
                .unwrap_or(0);
            self.pending.drain(..at + stop_len);
            return StopOutcome::Stopped(out);
        }
        // Hold back the longest suffix of `pending` that is a proper prefix of a stop string.
        let hold = self
            .stops
            .iter()
            .map(|s| longest_suffix_prefix(&self.pending, s))
            .max()
            .unwrap_or(0);
        let emit_to = self.pending.len() - hold;
        let out = self.pending[..emit_to].to_string();
        self.pending.drain(..emit_to);
        StopOutcome::Continue(out)
    }

    /// The held-back text, at the end of a generation that no stop string ended; after a
    /// stop string, the text that followed it.
    pub fn flush(&mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`, on char
/// boundaries.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = text.len().min(stop.len().saturating_sub(1));
    (1..=max)
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && stop.is_char_boundary(n) && text[start..] == stop[..n]
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool) {
        let mut m = StopMatcher::new(stops.iter().map(|s| s.to_string()).collect());
        let mut out = String::new();
        for p in pieces {
            match m.push(p) {
                StopOutcome::Continue(t) => out.push_str(&t),
                StopOutcome::Stopped(t) => {
                    out.push_str(&t);
                    return (out, true);
                }
            }
        }
        out.push_str(&m.flush());
        (out, false)
    }

    #[test]
    fn stop_string_across_pieces_is_cut() {
        assert_eq!(
            run(&["\nUser:"], &["Hi", " there\nUs", "er: x"]),
            ("Hi there".into(), true)
        );
    }

    #[test]
    fn near_miss_is_released() {
        assert!(run(&["END"], &["the EN", "D", ""]).1);
        assert_eq!(run(&["END"], &["the EN", "d."]), ("the ENd.".into(), false));
    }

    #[test]
    fn text_after_a_stop_string_is_kept_apart() {
        let mut m = StopMatcher::new(vec!["<a>".into()]);
        assert!(matches!(m.push("x<a>y"), StopOutcome::Stopped(t) if t == "x"));
        assert_eq!(m.flush(), "y");
    }

    #[test]
    fn multibyte_text_is_safe() {
        assert_eq!(run(&["é!"], &["caf", "é", "é!"]), ("café".into(), true));
        assert_eq!(run(&["éx"], &["caf", "é", "é"]), ("caféé".into(), false));
    }
}
