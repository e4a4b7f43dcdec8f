//! What a command gives back: the error for the user (`Failure`, its exit code), the output format, and writing results to stdout: buffered, JSON or human text, and quiet when the reader goes away (`pleat graph | head`); every human line, on stdout and stderr, goes through [`visible`], so a file name or an import string cannot send control sequences to the terminal.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufWriter, ErrorKind, StdoutLock, Write};

use serde::Serialize;

/// An error for the user: the message, and the exit code.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl Failure {
    /// Bad input: usage, configuration, specs (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self { message: message.into(), code: 2 }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Self { message: format!("cannot write the output: {e}"), code: 3 }
    }
}

/// How results are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    /// Graphviz (for `graph` only).
    Dot,
}

/// Buffered stdout that treats a closed pipe as the end of output, not an error.
pub struct Out {
    inner: BufWriter<StdoutLock<'static>>,
    closed: bool,
}

impl Out {
    pub fn new() -> Self {
        Self { inner: BufWriter::new(std::io::stdout().lock()), closed: false }
    }

    /// Writes one line.
    pub fn line(&mut self, text: impl std::fmt::Display) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let text = text.to_string();
        let result = writeln!(self.inner, "{}", visible(&text));
        self.check(result)
    }

    /// Writes a value as pretty JSON, then a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let result = serde_json::to_writer_pretty(&mut self.inner, value).map_err(std::io::Error::from);
        self.check(result)?;
        self.line("")
    }

    pub fn finish(mut self) -> Result<(), Failure> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.check(result)
    }

    fn check(&mut self, result: std::io::Result<()>) -> Result<(), Failure> {
        match result {
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other.map_err(Failure::from),
        }
    }
}

/// One line on stderr, `pleat: ` first, control characters escaped.
pub fn say(text: std::fmt::Arguments<'_>) {
    let text = text.to_string();
    eprintln!("pleat: {}", visible(&text));
}

/// `text` with its control characters escaped as Rust writes them (`\u{1b}`, `\r`), so
/// that what a repository puts in a file name, an import string or a tool's message is
/// shown, never obeyed (ESC sequences recolour, move the cursor, retitle the window,
/// clear the screen). Line breaks and tabs stay: messages span lines on purpose. JSON
/// output does not pass here; serde escapes it exactly.
pub fn visible(text: &str) -> Cow<'_, str> {
    let shown = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(shown) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if shown(c) {
            out.push(c);
        } else {
            let _ = write!(out, "{}", c.escape_default());
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(visible("a.py:1: `é` → ok\n\tnext"), "a.py:1: `é` → ok\n\tnext");
        assert_eq!(visible("b\x1b[2Jclear.py"), "b\\u{1b}[2Jclear.py");
        assert_eq!(visible("c\x07\r\u{9b}31m\x7f"), "c\\u{7}\\r\\u{9b}31m\\u{7f}");
    }
}
