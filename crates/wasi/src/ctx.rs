//! `WasiCtx`: one guest's view of the outside world, and its builder.
//!
//! A context holds the program's arguments and environment, its standard
//! streams, and the directories it may use. It owns every host descriptor
//! it hands out. The guest can reach nothing else: no ambient file system,
//! no inherited environment unless the embedder copies it in.

use crate::stdio::{InputStream, OutputStream};
use crate::table::{Descriptor, FdTable, OpenDir};
use anyhow::{Context as _, Result, bail};
use rustix::fs::{Mode, OFlags};
use std::path::Path;

/// The state behind a store's WASI functions. `Default` is a context with
/// no arguments, no environment and no descriptors at all.
#[derive(Default)]
pub struct WasiCtx {
    /// Each argument, without its terminating NUL.
    pub(crate) args: Vec<Vec<u8>>,
    /// Each `KEY=VALUE` pair, without its terminating NUL.
    pub(crate) env: Vec<Vec<u8>>,
    pub(crate) fds: FdTable,
}

impl WasiCtx {
    pub fn builder() -> WasiCtxBuilder {
        WasiCtxBuilder::new()
    }
}

/// Builds a [`WasiCtx`]. By default: no arguments, no environment, stdin at
/// end of file, stdout and stderr discarded, no preopened directories.
pub struct WasiCtxBuilder {
    args: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    stdin: InputStream,
    stdout: OutputStream,
    stderr: OutputStream,
    preopens: Vec<OpenDir>,
}

impl Default for WasiCtxBuilder {
    fn default() -> Self {
        WasiCtxBuilder::new()
    }
}

impl WasiCtxBuilder {
    pub fn new() -> WasiCtxBuilder {
        WasiCtxBuilder {
            args: Vec::new(),
            env: Vec::new(),
            stdin: InputStream::empty(),
            stdout: OutputStream::discard(),
            stderr: OutputStream::discard(),
            preopens: Vec::new(),
        }
    }

    /// Appends one argument. The first is the program name (`argv[0]`).
    pub fn arg(&mut self, arg: impl AsRef<str>) -> Result<&mut Self> {
        let arg = arg.as_ref();
        if arg.contains('\0') {
            bail!("argument {arg:?} contains a NUL byte");
        }
        self.args.push(arg.as_bytes().to_vec());
        Ok(self)
    }

    pub fn args<S: AsRef<str>>(&mut self, args: impl IntoIterator<Item = S>) -> Result<&mut Self> {
        for arg in args {
            self.arg(arg)?;
        }
        Ok(self)
    }

    /// Sets one environment variable (the first setting of a key wins the
    /// position, a later one replaces the value).
    pub fn env(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Result<&mut Self> {
        let (key, value) = (key.as_ref(), value.as_ref());
        if key.is_empty() || key.contains('=') || key.contains('\0') {
            bail!("invalid environment variable name {key:?}");
        }
        if value.contains('\0') {
            bail!("environment variable {key} has a NUL byte in its value");
        }
        let pair = format!("{key}={value}").into_bytes();
        let prefix = &pair[..key.len() + 1];
        match self.env.iter_mut().find(|p| p.starts_with(prefix)) {
            Some(existing) => *existing = pair,
            None => self.env.push(pair),
        }
        Ok(self)
    }

    pub fn stdin(&mut self, stream: InputStream) -> &mut Self {
        self.stdin = stream;
        self
    }

    pub fn stdout(&mut self, stream: OutputStream) -> &mut Self {
        self.stdout = stream;
        self
    }

    pub fn stderr(&mut self, stream: OutputStream) -> &mut Self {
        self.stderr = stream;
        self
    }

    /// Gives the guest the host process's stdin, stdout and stderr.
    pub fn inherit_stdio(&mut self) -> &mut Self {
        self.stdin(InputStream::inherit())
            .stdout(OutputStream::inherit_stdout())
            .stderr(OutputStream::inherit_stderr())
    }

    /// Lets the guest use the host directory `host` under the name `guest`.
    /// The directory is opened now (following symlinks in `host`: the
    /// embedder chose it); from then on the guest reaches only what is
    /// inside it (see the `sandbox` module for the exact guarantee).
    /// Preopens get descriptors 3, 4, ... in the order they are added.
    pub fn preopened_dir(
        &mut self,
        host: impl AsRef<Path>,
        guest: impl AsRef<str>,
    ) -> Result<&mut Self> {
        let host = host.as_ref();
        let fd = rustix::fs::open(
            host,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(std::io::Error::from)
        .with_context(|| format!("opening directory `{}`", host.display()))?;
        let name = guest.as_ref().as_bytes().to_vec();
        self.preopens.push(OpenDir {
            fd,
            preopen: Some(name),
            listing: Vec::new(),
        });
        Ok(self)
    }

    /// The context. Everything configured moves into it; the builder is
    /// left as `WasiCtxBuilder::new()` made it.
    pub fn build(&mut self) -> WasiCtx {
        let built = std::mem::take(self);
        let mut fds = FdTable::default();
        fds.insert_at(0, Descriptor::Stdin(built.stdin));
        fds.insert_at(1, Descriptor::Output(built.stdout));
        fds.insert_at(2, Descriptor::Output(built.stderr));
        // Preopens follow the standard streams, in order: 3, 4, ...
        for (fd, dir) in (3..).zip(built.preopens) {
            fds.insert_at(fd, Descriptor::Dir(dir));
        }
        WasiCtx {
            args: built.args,
            env: built.env,
            fds,
        }
    }
}
