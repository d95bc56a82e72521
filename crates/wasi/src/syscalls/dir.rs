//! Directory descriptors: `fd_readdir` and the preopen queries
//! `fd_prestat_get` / `fd_prestat_dir_name`.
//!
//! `fd_readdir` hands out entries from a listing read when the guest asks
//! for cookie 0 (the start), sorted by name so a program sees the same
//! order on every run and every file system. A cookie is an index into that
//! listing (entry `i` has `d_next = i + 1`), so cookies stay valid while
//! the guest pages through, whatever happens to the directory meanwhile.

use crate::abi::{DIRENT_SIZE, PREOPENTYPE_DIR, PRESTAT_SIZE};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::filestat::filetype_of;
use crate::memory::GuestMemory;
use crate::table::Descriptor;
use rustix::fs::{AtFlags, FileType};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

/// One directory entry as `fd_readdir` reports it.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    name: Vec<u8>,
    ino: u64,
    filetype: u8,
}

/// Reads every entry of `dir`, `.` and `..` included.
fn read_listing(dir: BorrowedFd<'_>) -> WasiResult<Vec<Entry>> {
    let mut entries = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes().to_vec();
        let ty = match entry.file_type() {
            // Some file systems leave the type out of directory entries.
            FileType::Unknown => {
                rustix::fs::statat(dir, OsStr::from_bytes(&name), AtFlags::SYMLINK_NOFOLLOW)
                    .map_or(FileType::Unknown, |st| FileType::from_raw_mode(st.st_mode))
            }
            ty => ty,
        };
        entries.push(Entry {
            name,
            ino: entry.ino(),
            filetype: filetype_of(ty),
        });
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

impl WasiCtx {
    /// Fills `buf` with entries from `cookie` on; the last one may be cut
    /// short. `bufused < buf_len` tells the guest it has seen the end.
    pub(crate) fn fd_readdir(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        buf: u32,
        buf_len: u32,
        cookie: u64,
        bufused: u32,
    ) -> WasiResult<()> {
        mem.slice_mut(buf, buf_len)?;
        let dir = self.fds.dir_mut(fd)?;
        if cookie == 0 || dir.listing.is_empty() {
            dir.listing = read_listing(dir.fd.as_fd())?;
        }
        let start = usize::try_from(cookie).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for (i, entry) in dir.listing.iter().enumerate().skip(start) {
            if out.len() >= buf_len as usize {
                break;
            }
            let mut header = [0u8; DIRENT_SIZE];
            header[0..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            header[8..16].copy_from_slice(&entry.ino.to_le_bytes());
            // Host names are far shorter than 4 GiB.
            header[16..20].copy_from_slice(&(entry.name.len() as u32).to_le_bytes());
            header[20] = entry.filetype;
            out.extend_from_slice(&header);
            out.extend_from_slice(&entry.name);
        }
        out.truncate(buf_len as usize);
        mem.write_bytes(buf, &out)?;
        mem.write_u32(bufused, out.len() as u32)
    }

    /// The guest name of a preopened directory; other descriptors are
    /// `EBADF` (wasi-libc stops scanning for preopens at the first one).
    fn preopen_name(&self, fd: u32) -> WasiResult<&[u8]> {
        match self.fds.get(fd)? {
            Descriptor::Dir(d) => d.preopen.as_deref().ok_or(Errno::Badf),
            _ => Err(Errno::Badf),
        }
    }

    pub(crate) fn fd_prestat_get(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        out: u32,
    ) -> WasiResult<()> {
        let len = u32::try_from(self.preopen_name(fd)?.len()).map_err(|_| Errno::Nametoolong)?;
        let mut b = [0u8; PRESTAT_SIZE as usize];
        b[0] = PREOPENTYPE_DIR;
        b[4..8].copy_from_slice(&len.to_le_bytes());
        mem.write_bytes(out, &b)
    }

    pub(crate) fn fd_prestat_dir_name(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        path: u32,
        path_len: u32,
    ) -> WasiResult<()> {
        let name = self.preopen_name(fd)?;
        if (path_len as usize) < name.len() {
            return Err(Errno::Nametoolong);
        }
        mem.write_bytes(path, name)
    }
}
