//! Just enough POSIX shell to see which commands a RUN executes: words with
//! quotes removed, split at `;`, `&&`, `||`, `|`, `&` and newlines, each word
//! knowing its Dockerfile line. Redirections are dropped; `$(...)` and
//! `sh -c "..."` bodies are not looked into.

use super::text::Spanned;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Every word, including leading `VAR=value` assignments and wrappers.
    pub words: Vec<Word>,
    /// The output goes into the next command through `|`.
    pub piped: bool,
}

/// Words that run the rest of the line as a command.
const WRAPPERS: &[&str] = &["sudo", "env", "exec", "time", "nohup", "command"];

/// Shell keywords that can precede a command (`if ...; then apk add ...`).
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "while", "until", "do", "!", "{",
];

impl Command {
    /// Index of the program word, after assignments and wrappers like `sudo`.
    fn program_index(&self) -> Option<usize> {
        let mut index = 0;
        while let Some(word) = self.words.get(index) {
            let text = word.text.as_str();
            let is_assignment = text.split_once('=').is_some_and(|(name, _)| {
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            let is_wrapper_flag = index > 0 && text.starts_with('-') && self.is_wrapped_at(index);
            let skippable = WRAPPERS.contains(&basename(text)) || KEYWORDS.contains(&text);
            if is_assignment || skippable || is_wrapper_flag {
                index += 1;
            } else {
                return Some(index);
            }
        }
        None
    }

    fn is_wrapped_at(&self, index: usize) -> bool {
        self.words[..index]
            .iter()
            .any(|word| WRAPPERS.contains(&basename(&word.text)))
    }

    /// The program's base name, e.g. `apt-get` for `/usr/bin/apt-get`.
    pub fn program(&self) -> Option<&str> {
        self.program_index()
            .map(|index| basename(&self.words[index].text))
    }

    /// The words after the program.
    pub fn args(&self) -> &[Word] {
        self.program_index()
            .map_or(&[][..], |index| &self.words[index + 1..])
    }

    pub fn line(&self) -> usize {
        self.program_index()
            .map_or_else(|| self.words[0].line, |index| self.words[index].line)
    }

    /// Whether the program is `sudo` (possibly after assignments).
    pub fn uses_sudo(&self) -> bool {
        self.words
            .iter()
            .take_while(|word| {
                word.text.contains('=')
                    || word.text == "sudo"
                    || KEYWORDS.contains(&word.text.as_str())
            })
            .any(|word| word.text == "sudo")
    }

    pub fn has_arg(&self, candidates: &[&str]) -> bool {
        self.args()
            .iter()
            .any(|word| candidates.contains(&word.text.as_str()))
    }

    /// Arguments that are not options (do not start with `-`).
    pub fn operands(&self) -> impl Iterator<Item = &Word> {
        self.args()
            .iter()
            .filter(|word| !word.text.starts_with('-'))
    }
}

pub fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Splits shell text into commands.
pub fn commands(source: &Spanned) -> Vec<Command> {
    Tokenizer::default().run(source)
}

#[derive(Default)]
struct Tokenizer {
    commands: Vec<Command>,
    current: Vec<Word>,
    word: String,
    word_line: usize,
    in_word: bool,
    /// The next word is a redirection target, not an argument.
    skip_next: bool,
}

impl Tokenizer {
    fn run(mut self, source: &Spanned) -> Vec<Command> {
        let text = &source.text;
        let mut chars = text.char_indices().peekable();
        let mut quote: Option<char> = None;
        while let Some((offset, c)) = chars.next() {
            if let Some(open) = quote {
                if c == open {
                    quote = None;
                } else if c == '\\'
                    && open == '"'
                    && matches!(chars.peek(), Some((_, '"' | '\\' | '$')))
                {
                    let (_, escaped) = chars.next().unwrap_or((offset, c));
                    self.word.push(escaped);
                } else {
                    self.word.push(c);
                }
                continue;
            }
            match c {
                '\'' | '"' => {
                    self.start_word(source.line_at(offset));
                    quote = Some(c);
                }
                '\\' => match chars.next() {
                    Some((_, '\n')) | None => {}
                    Some((_, escaped)) => {
                        self.start_word(source.line_at(offset));
                        self.word.push(escaped);
                    }
                },
                '#' if !self.in_word => {
                    while chars.peek().is_some_and(|&(_, next)| next != '\n') {
                        chars.next();
                    }
                }
                ' ' | '\t' => self.end_word(),
                '\n' | ';' | '(' | ')' => self.end_command(false),
                '&' | '|' => {
                    let doubled = chars.peek().is_some_and(|&(_, next)| next == c);
                    if doubled {
                        chars.next();
                    }
                    self.end_command(c == '|' && !doubled);
                }
                '<' | '>' => {
                    // A pending all-digit word is the fd of `2>`, not an argument.
                    if self.word.chars().all(|d| d.is_ascii_digit()) {
                        self.word.clear();
                        self.in_word = false;
                    }
                    self.end_word();
                    let mut op = c.to_string();
                    while let Some(&(_, next)) = chars.peek() {
                        if matches!(next, '<' | '>' | '&' | '-')
                            || (op.ends_with('&') && next.is_ascii_digit())
                        {
                            op.push(next);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                    let complete = op.ends_with(|d: char| d.is_ascii_digit()) || op.ends_with("&-");
                    self.skip_next = !complete;
                }
                _ => {
                    self.start_word(source.line_at(offset));
                    self.word.push(c);
                }
            }
        }
        self.end_command(false);
        self.commands
    }

    fn start_word(&mut self, line: usize) {
        if !self.in_word {
            self.in_word = true;
            self.word_line = line;
        }
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        self.in_word = false;
        let text = std::mem::take(&mut self.word);
        if std::mem::take(&mut self.skip_next) {
            return;
        }
        self.current.push(Word {
            text,
            line: self.word_line,
        });
    }

    fn end_command(&mut self, piped: bool) {
        self.end_word();
        self.skip_next = false;
        if !self.current.is_empty() {
            self.commands.push(Command {
                words: std::mem::take(&mut self.current),
                piped,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(command: &Command) -> Vec<&str> {
        command
            .words
            .iter()
            .map(|word| word.text.as_str())
            .collect()
    }

    #[test]
    fn splits_commands_at_operators_and_keeps_lines() {
        let mut text = Spanned::default();
        text.push("apt-get update && ", 4);
        text.push(
            "  DEBIAN_FRONTEND=noninteractive apt-get install -y 'a b' \"c\"; ls | sort",
            5,
        );
        let commands = commands(&text);
        assert_eq!(commands.len(), 4);
        assert_eq!(words(&commands[0]), ["apt-get", "update"]);
        assert_eq!(commands[0].line(), 4);
        assert_eq!(commands[1].program(), Some("apt-get"));
        assert_eq!(commands[1].line(), 5);
        assert_eq!(words(&commands[1])[3..], ["-y", "a b", "c"]);
        assert!(commands[2].piped);
        assert!(!commands[3].piped);
    }

    #[test]
    fn skips_shell_keywords_before_the_program() {
        let text = Spanned::new("if [ -n \"$X\" ]; then apk add git; fi", 1);
        let programs: Vec<_> = commands(&text)
            .iter()
            .map(|c| c.program().map(str::to_string))
            .collect();
        assert_eq!(
            programs,
            [
                Some("[".to_string()),
                Some("apk".to_string()),
                Some("fi".to_string())
            ]
        );
    }

    #[test]
    fn drops_redirections_and_comments() {
        let text = Spanned::new("curl -o /tmp/x url 2>&1 >/dev/null # fetch it", 1);
        let commands = commands(&text);
        assert_eq!(commands.len(), 1);
        assert_eq!(words(&commands[0]), ["curl", "-o", "/tmp/x", "url"]);
    }

    #[test]
    fn sees_through_sudo_and_paths() {
        let text = Spanned::new("sudo -E /usr/bin/apt-get install x", 1);
        let command = &commands(&text)[0];
        assert!(command.uses_sudo());
        assert_eq!(command.program(), Some("apt-get"));
        assert_eq!(
            command.operands().next().map(|w| w.text.as_str()),
            Some("install")
        );
    }
}
