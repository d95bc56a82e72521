//! The guest's descriptor table.
//!
//! Invariants: a descriptor number names at most one [`Descriptor`]; new
//! descriptors take the lowest free number (as POSIX `open` does, which is
//! what guests compiled for POSIX expect); every host descriptor in the
//! table is owned by it and closed when its entry is removed. The guest
//! cannot name a host descriptor the table does not hold, so it can only
//! reach host files through a preopened directory or a standard stream.

use crate::abi::{filetype, rights};
use crate::errno::{Errno, WasiResult};
use crate::stdio::{InputStream, OutputStream};
use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// One open descriptor.
pub(crate) enum Descriptor {
    Stdin(InputStream),
    /// Stdout or stderr.
    Output(OutputStream),
    File(OpenFile),
    Dir(OpenDir),
}

/// A regular file (or another non-directory host file) the guest opened.
pub(crate) struct OpenFile {
    pub file: File,
    pub readable: bool,
    pub writable: bool,
}

/// A directory: preopened by the embedder or opened by the guest.
pub(crate) struct OpenDir {
    pub fd: OwnedFd,
    /// The name the guest sees for a preopened directory (`fd_prestat_*`).
    pub preopen: Option<Vec<u8>>,
    /// The entries `fd_readdir` hands out, read when the guest starts at
    /// cookie 0, so that later cookies index a stable list.
    pub listing: Vec<crate::syscalls::dir::Entry>,
}

impl Descriptor {
    /// The WASI file type, for `fd_fdstat_get`.
    pub(crate) fn filetype(&self) -> u8 {
        match self {
            Descriptor::Stdin(s) => crate::stdio::stream_filetype(s.host_fd()),
            Descriptor::Output(s) => crate::stdio::stream_filetype(s.host_fd()),
            Descriptor::File(f) => match f.file.metadata() {
                Ok(m) => crate::filestat::filetype_of(rustix::fs::FileType::from_raw_mode(
                    std::os::unix::fs::MetadataExt::mode(&m),
                )),
                Err(_) => filetype::UNKNOWN,
            },
            Descriptor::Dir(_) => filetype::DIRECTORY,
        }
    }

    /// The rights reported for this descriptor: what its kind and open
    /// mode allow (see `abi::rights`).
    pub(crate) fn rights(&self) -> (u64, u64) {
        match self {
            Descriptor::Stdin(_) => (rights::STREAM & !rights::FD_WRITE, 0),
            Descriptor::Output(_) => (rights::STREAM & !rights::FD_READ, 0),
            Descriptor::File(f) => {
                let mut base = rights::FILE;
                if !f.readable {
                    base &= !rights::READING;
                }
                if !f.writable {
                    base &= !rights::WRITING;
                }
                (base, 0)
            }
            Descriptor::Dir(_) => (rights::DIRECTORY, rights::DIRECTORY | rights::FILE),
        }
    }

    /// The host descriptor behind this one, if any.
    pub(crate) fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        match self {
            Descriptor::Stdin(s) => s.host_fd(),
            Descriptor::Output(s) => s.host_fd(),
            Descriptor::File(f) => Some(f.file.as_fd()),
            Descriptor::Dir(d) => Some(d.fd.as_fd()),
        }
    }
}

/// Descriptor numbers to descriptors.
#[derive(Default)]
pub(crate) struct FdTable {
    map: BTreeMap<u32, Descriptor>,
}

impl FdTable {
    pub(crate) fn get(&self, fd: u32) -> WasiResult<&Descriptor> {
        self.map.get(&fd).ok_or(Errno::Badf)
    }

    pub(crate) fn get_mut(&mut self, fd: u32) -> WasiResult<&mut Descriptor> {
        self.map.get_mut(&fd).ok_or(Errno::Badf)
    }

    /// The open file `fd`. Anything else is `EBADF`: the operation does not
    /// apply to it.
    pub(crate) fn file(&mut self, fd: u32) -> WasiResult<&mut OpenFile> {
        match self.get_mut(fd)? {
            Descriptor::File(f) => Ok(f),
            _ => Err(Errno::Badf),
        }
    }

    /// The directory `fd`, for path operations and `fd_readdir`.
    pub(crate) fn dir(&self, fd: u32) -> WasiResult<&OpenDir> {
        match self.get(fd)? {
            Descriptor::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    pub(crate) fn dir_mut(&mut self, fd: u32) -> WasiResult<&mut OpenDir> {
        match self.get_mut(fd)? {
            Descriptor::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    /// Installs `desc` at the lowest free number.
    pub(crate) fn push(&mut self, desc: Descriptor) -> WasiResult<u32> {
        let fd = self.lowest_free().ok_or(Errno::Mfile)?;
        self.map.insert(fd, desc);
        Ok(fd)
    }

    /// Installs `desc` at `fd` (used to set up 0, 1, 2 and preopens).
    pub(crate) fn insert_at(&mut self, fd: u32, desc: Descriptor) {
        self.map.insert(fd, desc);
    }

    fn lowest_free(&self) -> Option<u32> {
        // Keys iterate in order: the first gap is the lowest free number.
        let mut next = 0u32;
        for &fd in self.map.keys() {
            if fd != next {
                return Some(next);
            }
            next = next.checked_add(1)?;
        }
        Some(next)
    }

    pub(crate) fn remove(&mut self, fd: u32) -> WasiResult<Descriptor> {
        self.map.remove(&fd).ok_or(Errno::Badf)
    }

    /// Moves `from` to `to`, closing whatever `to` held. Both must be open.
    pub(crate) fn renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        if !self.map.contains_key(&to) {
            return Err(Errno::Badf);
        }
        let desc = self.remove(from)?;
        self.map.insert(to, desc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_number_is_reused() {
        let mut t = FdTable::default();
        for _ in 0..4 {
            t.push(Descriptor::Stdin(InputStream::empty())).unwrap();
        }
        t.remove(1).unwrap();
        assert_eq!(t.push(Descriptor::Stdin(InputStream::empty())), Ok(1));
        assert_eq!(t.push(Descriptor::Stdin(InputStream::empty())), Ok(4));
        assert_eq!(t.renumber(4, 9).err(), Some(Errno::Badf));
        t.renumber(4, 0).unwrap();
        assert!(t.get(4).is_err());
        assert!(t.get(0).is_ok());
    }
}
