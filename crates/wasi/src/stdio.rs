//! The guest's standard streams (descriptors 0, 1 and 2).
//!
//! Each is either the host process's own stream (what `kiln run` uses) or
//! something in memory (what tests and embedders use to feed input and
//! capture output). Writes to host streams are complete and flushed before
//! `fd_write` returns, so output ordering between stdout, stderr and the
//! host's own messages is the order the guest wrote in. Stdin is read
//! straight from the host descriptor, unbuffered, so `poll_oneoff` on it
//! tells the truth about whether a read would block.

use crate::abi::filetype;
use crate::errno::WasiResult;
use std::io::{self, Write};
use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex};

/// What the guest reads from descriptor 0.
pub struct InputStream(Input);

enum Input {
    /// End of file at once.
    Empty,
    /// These bytes, then end of file.
    Bytes { data: Vec<u8>, pos: usize },
    /// The host process's stdin.
    Host,
}

impl InputStream {
    /// A stream at end of file.
    pub fn empty() -> InputStream {
        InputStream(Input::Empty)
    }

    /// A stream that yields `data`, then end of file.
    pub fn bytes(data: impl Into<Vec<u8>>) -> InputStream {
        InputStream(Input::Bytes {
            data: data.into(),
            pos: 0,
        })
    }

    /// The host process's stdin.
    pub fn inherit() -> InputStream {
        InputStream(Input::Host)
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> WasiResult<usize> {
        match &mut self.0 {
            Input::Empty => Ok(0),
            Input::Bytes { data, pos } => {
                let rest = data.get(*pos..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                *pos += n;
                Ok(n)
            }
            Input::Host => Ok(rustix::io::read(rustix::stdio::stdin(), buf)?),
        }
    }

    /// Bytes a read would return at once, or `None` when only the host
    /// knows (then poll the host descriptor).
    pub(crate) fn ready_bytes(&self) -> Option<u64> {
        match &self.0 {
            Input::Empty => Some(0),
            Input::Bytes { data, pos } => Some(data.len().saturating_sub(*pos) as u64),
            Input::Host => None,
        }
    }

    pub(crate) fn host_fd(&self) -> Option<BorrowedFd<'static>> {
        match self.0 {
            Input::Host => Some(rustix::stdio::stdin()),
            _ => None,
        }
    }
}

/// A growable in-memory sink for the guest's stdout or stderr. Clones share
/// the same buffer, so the embedder keeps one and reads it after the run.
#[derive(Clone, Default)]
pub struct OutputBuffer(Arc<Mutex<Vec<u8>>>);

impl OutputBuffer {
    pub fn new() -> OutputBuffer {
        OutputBuffer::default()
    }

    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        // A panic while holding the lock cannot leave a Vec<u8> half
        // updated in a way that matters for a byte log.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where the guest's writes to descriptor 1 or 2 go.
pub struct OutputStream(Output);

enum Output {
    Discard,
    Buffer(OutputBuffer),
    HostStdout,
    HostStderr,
}

impl OutputStream {
    /// Accepts and drops everything.
    pub fn discard() -> OutputStream {
        OutputStream(Output::Discard)
    }

    /// Appends to `buffer`.
    pub fn buffer(buffer: &OutputBuffer) -> OutputStream {
        OutputStream(Output::Buffer(buffer.clone()))
    }

    /// The host process's stdout.
    pub fn inherit_stdout() -> OutputStream {
        OutputStream(Output::HostStdout)
    }

    /// The host process's stderr.
    pub fn inherit_stderr() -> OutputStream {
        OutputStream(Output::HostStderr)
    }

    /// Writes every buffer completely, in order. Streams do not report
    /// short writes: a guest's `printf` should not need to retry.
    pub(crate) fn write<'b>(&mut self, bufs: impl Iterator<Item = &'b [u8]>) -> WasiResult<()> {
        fn all<'b>(out: &mut impl Write, bufs: impl Iterator<Item = &'b [u8]>) -> io::Result<()> {
            for buf in bufs {
                out.write_all(buf)?;
            }
            out.flush()
        }
        match &mut self.0 {
            Output::Discard => {}
            Output::Buffer(b) => {
                let mut out = b.lock();
                bufs.for_each(|buf| out.extend_from_slice(buf));
            }
            Output::HostStdout => all(&mut io::stdout().lock(), bufs)?,
            Output::HostStderr => all(&mut io::stderr().lock(), bufs)?,
        }
        Ok(())
    }

    pub(crate) fn host_fd(&self) -> Option<BorrowedFd<'static>> {
        match self.0 {
            Output::HostStdout => Some(rustix::stdio::stdout()),
            Output::HostStderr => Some(rustix::stdio::stderr()),
            _ => None,
        }
    }
}

/// The WASI file type of a standard stream: what the host descriptor is,
/// when there is one (a terminal is a character device, a redirected file a
/// regular file), else unknown.
pub(crate) fn stream_filetype(host: Option<BorrowedFd<'_>>) -> u8 {
    let Some(fd) = host else {
        return filetype::UNKNOWN;
    };
    match rustix::fs::fstat(fd) {
        Ok(st) => crate::filestat::filetype_of(rustix::fs::FileType::from_raw_mode(st.st_mode)),
        Err(_) => filetype::UNKNOWN,
    }
}
