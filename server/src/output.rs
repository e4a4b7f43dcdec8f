//! Writing results to stdout: buffered, JSON or human text, and quiet when the reader goes away (`pleat graph | head`).

use std::io::{BufWriter, ErrorKind, StdoutLock, Write};

use serde::Serialize;

use crate::Failure;

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
        let result = writeln!(self.inner, "{text}");
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
