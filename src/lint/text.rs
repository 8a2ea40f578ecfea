//! Text assembled from several physical lines that still knows, for every
//! byte, which line of the Dockerfile it came from.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spanned {
    pub text: String,
    /// (byte offset in `text` where a physical line's content starts, 1-based line number)
    marks: Vec<(usize, usize)>,
}

impl Spanned {
    /// A single-line text.
    pub fn new(text: &str, line: usize) -> Self {
        let mut spanned = Spanned::default();
        spanned.push(text, line);
        spanned
    }

    /// Appends the content of physical line `line`.
    pub fn push(&mut self, content: &str, line: usize) {
        self.marks.push((self.text.len(), line));
        self.text.push_str(content);
    }

    /// The physical line that byte `offset` came from.
    pub fn line_at(&self, offset: usize) -> usize {
        let index = self.marks.partition_point(|&(start, _)| start <= offset);
        self.marks
            .get(index.saturating_sub(1))
            .map_or(0, |&(_, line)| line)
    }

    pub fn first_line(&self) -> usize {
        self.marks.first().map_or(0, |&(_, line)| line)
    }

    /// The text from byte `from` on, keeping line numbers.
    pub fn tail(&self, from: usize) -> Spanned {
        let first_line = self.line_at(from);
        let mut marks = vec![(0, first_line)];
        marks.extend(
            self.marks
                .iter()
                .filter(|&&(start, _)| start > from)
                .map(|&(start, line)| (start - from, line)),
        );
        Spanned {
            text: self.text[from..].to_string(),
            marks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_back_to_their_physical_lines() {
        let mut text = Spanned::default();
        text.push("RUN a ", 3);
        text.push("  b", 5);
        assert_eq!(text.text, "RUN a   b");
        assert_eq!(text.line_at(0), 3);
        assert_eq!(text.line_at(5), 3);
        assert_eq!(text.line_at(6), 5);
        let tail = text.tail(4);
        assert_eq!(tail.text, "a   b");
        assert_eq!(tail.line_at(0), 3);
        assert_eq!(tail.line_at(2), 5);
    }
}
