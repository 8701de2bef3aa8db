//! Log lines to stdout from every worker thread without a lock between them.
//!
//! `std::io::Stdout` serialises writers with a mutex held across the `write(2)`: with one
//! actix worker per core each writing an access line per request, the workers queue on it and
//! sleep and wake through futexes (in the benchmark, one futex call for every two requests).
//! This writer holds its own handle on the stdout file and writes each line with one
//! `write(2)`, which POSIX makes atomic on a pipe up to `PIPE_BUF` bytes (and which appends whole
//! on the files and devices a container's stdout is). Lines longer than that take an exclusive
//! lock, so they are never interleaved either; short lines share the lock, which costs an atomic
//! increment and no system call.

use std::fs::File;
use std::io::{self, Write};
use std::sync::{Arc, RwLock};
use tracing_subscriber::fmt::MakeWriter;

/// Lines up to this many bytes are written by one atomic `write(2)` on a pipe (POSIX's
/// minimum `PIPE_BUF`, Linux's value).
const ATOMIC_LINE_BYTES: usize = 4096;

/// Makes one [`LineWriter`] per log line, all on the same stdout file.
#[derive(Debug, Clone)]
pub struct StdoutLines {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    file: File,
    /// Shared by short lines, exclusive for long ones.
    long_lines: RwLock<()>,
}

impl StdoutLines {
    /// A writer on a duplicate of the process's stdout.
    pub fn new() -> io::Result<Self> {
        use std::os::fd::AsFd;
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(Self::on(File::from(fd)))
    }

    /// A writer on `file` (tests use a pipe or a temporary file).
    pub fn on(file: File) -> Self {
        Self {
            shared: Arc::new(Shared {
                file,
                long_lines: RwLock::new(()),
            }),
        }
    }
}

impl<'a> MakeWriter<'a> for StdoutLines {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

/// Writes what it is given (one formatted line, from `tracing-subscriber`) in one piece.
#[derive(Debug)]
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf).map(|()| buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        // The data inside is (), so a writer that panicked cannot have left it inconsistent.
        if buf.len() <= ATOMIC_LINE_BYTES {
            let _shared = self
                .shared
                .long_lines
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (&self.shared.file).write_all(buf)
        } else {
            let _exclusive = self
                .shared
                .long_lines
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (&self.shared.file).write_all(buf)
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing is buffered here.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn lines_from_many_threads_arrive_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.log");
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .unwrap();
        let lines = StdoutLines::on(file);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let lines = lines.clone();
                std::thread::spawn(move || {
                    for i in 0..500_usize {
                        // Every tenth line is longer than a pipe's atomic write.
                        let len = if i.is_multiple_of(10) { 6000 } else { 100 };
                        let line = format!("{t}:{i}:{}\n", "x".repeat(len));
                        lines.make_writer().write_all(line.as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let mut text = String::new();
        File::open(&path)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(got.len(), 2000);
        for line in got {
            let mut parts = line.splitn(3, ':');
            let (_, i, body) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
            let i: usize = i.parse().unwrap();
            let len = if i.is_multiple_of(10) { 6000 } else { 100 };
            assert_eq!(body.len(), len, "a line arrived cut or mixed");
            assert!(body.bytes().all(|b| b == b'x'));
        }
    }
}
