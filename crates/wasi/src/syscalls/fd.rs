//! Descriptor operations: `fd_read`, `fd_write`, `fd_pread`, `fd_pwrite`,
//! `fd_seek`, `fd_tell`, `fd_close`, `fd_renumber`, `fd_fdstat_*`,
//! `fd_filestat_*`, `fd_sync`, `fd_datasync`, `fd_advise`, `fd_allocate`.
//!
//! Files use the host descriptor's own offset, so `fd_read`, `fd_write`
//! and `fd_seek` behave exactly as `read`, `write` and `lseek` on the host
//! (including `O_APPEND`). Standard streams are not seekable (`ESPIPE`).
//! An operation that does not apply to a kind of descriptor answers
//! `EBADF`, as POSIX does for a descriptor not open for it.

use crate::abi::{FDSTAT_SIZE, advice, fdflags, filetype, whence};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::filestat::{Filestat, timestamps};
use crate::memory::GuestMemory;
use crate::table::Descriptor;
use rustix::fs::OFlags;
use std::fs::File;
use std::io::{IoSlice, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::FileExt;

/// Byte counts returned to the guest: reads fill one guest buffer and
/// writes are capped by `GuestMemory::iovecs`, so they fit.
fn count(n: usize) -> u32 {
    u32::try_from(n).expect("I/O counts are bounded by a 32-bit guest buffer")
}

/// The WASI fd flags of a host descriptor.
fn fdflags_of(fd: BorrowedFd<'_>) -> u16 {
    let Ok(fl) = rustix::fs::fcntl_getfl(fd) else {
        return 0;
    };
    let mut flags = 0;
    if fl.contains(OFlags::APPEND) {
        flags |= fdflags::APPEND;
    }
    if fl.contains(OFlags::NONBLOCK) {
        flags |= fdflags::NONBLOCK;
    }
    // O_SYNC includes the O_DSYNC bit on Linux: test the wider one first.
    if fl.contains(OFlags::SYNC) {
        flags |= fdflags::SYNC;
    } else if fl.contains(OFlags::DSYNC) {
        flags |= fdflags::DSYNC;
    }
    flags
}

/// POSIX's `IOV_MAX` on Linux: buffers handed to one `writev`.
const IOV_MAX: usize = 1024;

/// Writes `bufs` to `file` with `writev`, up to [`IOV_MAX`] buffers per
/// call, stopping at the first short write. Returns the bytes written.
fn write_file<'b>(file: &File, bufs: impl Iterator<Item = &'b [u8]>) -> WasiResult<usize> {
    let mut bufs = bufs.peekable();
    let mut written = 0;
    while bufs.peek().is_some() {
        let chunk: Vec<IoSlice<'_>> = bufs.by_ref().take(IOV_MAX).map(IoSlice::new).collect();
        let want: usize = chunk.iter().map(|s| s.len()).sum();
        match (&*file).write_vectored(&chunk) {
            Ok(n) => {
                written += n;
                if n < want {
                    break;
                }
            }
            // What was written stays written; report that much.
            Err(_) if written > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(written)
}

impl WasiCtx {
    pub(crate) fn fd_read(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nread: u32,
    ) -> WasiResult<()> {
        let iovs = mem.iovecs(iovs, iovs_len)?;
        let buf = mem.first_buffer(iovs)?;
        let n = match self.fds.get_mut(fd)? {
            Descriptor::Stdin(s) => s.read(buf)?,
            Descriptor::File(f) => (&f.file).read(buf)?,
            Descriptor::Dir(_) => return Err(Errno::Isdir),
            Descriptor::Output(_) => return Err(Errno::Badf),
        };
        mem.write_u32(nread, count(n))
    }

    pub(crate) fn fd_write(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        nwritten: u32,
    ) -> WasiResult<()> {
        let iovs = mem.iovecs(iovs, iovs_len)?;
        let n = match self.fds.get_mut(fd)? {
            Descriptor::Output(s) => {
                s.write(mem.buffers(iovs))?;
                iovs.total() as usize
            }
            Descriptor::File(f) => write_file(&f.file, mem.buffers(iovs))?,
            Descriptor::Stdin(_) | Descriptor::Dir(_) => return Err(Errno::Badf),
        };
        mem.write_u32(nwritten, count(n))
    }

    pub(crate) fn fd_pread(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nread: u32,
    ) -> WasiResult<()> {
        let iovs = mem.iovecs(iovs, iovs_len)?;
        let file = self.positioned_file(fd)?;
        let n = file.file.read_at(mem.first_buffer(iovs)?, offset)?;
        mem.write_u32(nread, count(n))
    }

    /// Writes the buffers one after another from `offset`, stopping at the
    /// first short write.
    pub(crate) fn fd_pwrite(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        iovs: u32,
        iovs_len: u32,
        offset: u64,
        nwritten: u32,
    ) -> WasiResult<()> {
        let iovs = mem.iovecs(iovs, iovs_len)?;
        let file = self.positioned_file(fd)?;
        let mut written = 0usize;
        for buf in mem.buffers(iovs) {
            let at = offset.checked_add(written as u64).ok_or(Errno::Inval)?;
            match file.file.write_at(buf, at) {
                Ok(n) => {
                    written += n;
                    if n < buf.len() {
                        break;
                    }
                }
                // What was written stays written; report that much.
                Err(_) if written > 0 => break,
                Err(e) => return Err(e.into()),
            }
        }
        mem.write_u32(nwritten, count(written))
    }

    /// A file for positioned I/O; streams cannot seek.
    fn positioned_file(&mut self, fd: u32) -> WasiResult<&mut crate::table::OpenFile> {
        match self.fds.get_mut(fd)? {
            Descriptor::File(f) => Ok(f),
            Descriptor::Stdin(_) | Descriptor::Output(_) => Err(Errno::Spipe),
            Descriptor::Dir(_) => Err(Errno::Isdir),
        }
    }

    pub(crate) fn fd_seek(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        offset: i64,
        whence: u32,
        newoffset: u32,
    ) -> WasiResult<()> {
        let pos = match u8::try_from(whence).map_err(|_| Errno::Inval)? {
            whence::SET => SeekFrom::Start(u64::try_from(offset).map_err(|_| Errno::Inval)?),
            whence::CUR => SeekFrom::Current(offset),
            whence::END => SeekFrom::End(offset),
            _ => return Err(Errno::Inval),
        };
        let file = self.positioned_file(fd)?;
        let new = (&file.file).seek(pos)?;
        mem.write_u64(newoffset, new)
    }

    pub(crate) fn fd_tell(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        out: u32,
    ) -> WasiResult<()> {
        let file = self.positioned_file(fd)?;
        let pos = (&file.file).stream_position()?;
        mem.write_u64(out, pos)
    }

    /// Closing drops the host descriptor. Preopens may be closed too; the
    /// guest then loses that directory for good.
    pub(crate) fn fd_close(&mut self, fd: u32) -> WasiResult<()> {
        self.fds.remove(fd).map(drop)
    }

    pub(crate) fn fd_renumber(&mut self, from: u32, to: u32) -> WasiResult<()> {
        self.fds.renumber(from, to)
    }

    pub(crate) fn fd_fdstat_get(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        out: u32,
    ) -> WasiResult<()> {
        let desc = self.fds.get(fd)?;
        let (base, inheriting) = desc.rights();
        let flags = desc.host_fd().map_or(0, fdflags_of);
        let mut b = [0u8; FDSTAT_SIZE as usize];
        b[0] = desc.filetype();
        b[2..4].copy_from_slice(&flags.to_le_bytes());
        b[8..16].copy_from_slice(&base.to_le_bytes());
        b[16..24].copy_from_slice(&inheriting.to_le_bytes());
        mem.write_bytes(out, &b)
    }

    /// Only `APPEND` and `NONBLOCK` can change, and only on files; the sync
    /// flags are fixed at open (the host cannot change them later). A
    /// request that changes nothing succeeds on any descriptor.
    pub(crate) fn fd_fdstat_set_flags(&mut self, fd: u32, flags: u32) -> WasiResult<()> {
        let flags = u16::try_from(flags)
            .ok()
            .filter(|f| f & !fdflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        let desc = self.fds.get(fd)?;
        let current = desc.host_fd().map_or(0, fdflags_of);
        if flags == current {
            return Ok(());
        }
        let Descriptor::File(f) = desc else {
            return Err(Errno::Notsup);
        };
        let sync = fdflags::DSYNC | fdflags::RSYNC | fdflags::SYNC;
        if flags & sync != current & sync {
            return Err(Errno::Notsup);
        }
        let mut host = rustix::fs::fcntl_getfl(&f.file)?;
        host.set(OFlags::APPEND, flags & fdflags::APPEND != 0);
        host.set(OFlags::NONBLOCK, flags & fdflags::NONBLOCK != 0);
        Ok(rustix::fs::fcntl_setfl(&f.file, host)?)
    }

    /// Rights are reported, not stored or enforced (see `abi::rights`), so
    /// there is nothing they could be narrowed to.
    pub(crate) fn fd_fdstat_set_rights(&self, fd: u32) -> WasiResult<()> {
        self.fds.get(fd)?;
        Err(Errno::Notsup)
    }

    pub(crate) fn fd_filestat_get(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        out: u32,
    ) -> WasiResult<()> {
        let desc = self.fds.get(fd)?;
        let stat = match desc.host_fd() {
            Some(host) => Filestat::from_host(&rustix::fs::fstat(host)?),
            None => Filestat::of_type(filetype::UNKNOWN),
        };
        stat.write(mem, out)
    }

    pub(crate) fn fd_filestat_set_size(&mut self, fd: u32, size: u64) -> WasiResult<()> {
        Ok(self.fds.file(fd)?.file.set_len(size)?)
    }

    pub(crate) fn fd_filestat_set_times(
        &self,
        fd: u32,
        atim: u64,
        mtim: u64,
        flags: u32,
    ) -> WasiResult<()> {
        let times = timestamps(atim, mtim, u16::try_from(flags).map_err(|_| Errno::Inval)?)?;
        match self.fds.get(fd)? {
            Descriptor::File(f) => Ok(rustix::fs::futimens(&f.file, &times)?),
            Descriptor::Dir(d) => Ok(rustix::fs::futimens(&d.fd, &times)?),
            Descriptor::Stdin(_) | Descriptor::Output(_) => Err(Errno::Badf),
        }
    }

    fn syncable(&self, fd: u32) -> WasiResult<BorrowedFd<'_>> {
        match self.fds.get(fd)? {
            Descriptor::File(f) => Ok(f.file.as_fd()),
            Descriptor::Dir(d) => Ok(d.fd.as_fd()),
            // As `fsync` on a terminal or pipe.
            Descriptor::Stdin(_) | Descriptor::Output(_) => Err(Errno::Inval),
        }
    }

    pub(crate) fn fd_sync(&self, fd: u32) -> WasiResult<()> {
        Ok(rustix::fs::fsync(self.syncable(fd)?)?)
    }

    pub(crate) fn fd_datasync(&self, fd: u32) -> WasiResult<()> {
        let host = self.syncable(fd)?;
        // Directories have no data apart from their metadata.
        if matches!(self.fds.get(fd)?, Descriptor::Dir(_)) {
            return Ok(rustix::fs::fsync(host)?);
        }
        Ok(rustix::fs::fdatasync(host)?)
    }

    /// Advice is a hint: passed to the host where it has `posix_fadvise`,
    /// otherwise only checked.
    pub(crate) fn fd_advise(&mut self, fd: u32, offset: u64, len: u64, adv: u32) -> WasiResult<()> {
        let adv = u8::try_from(adv)
            .ok()
            .filter(|a| *a <= advice::NOREUSE)
            .ok_or(Errno::Inval)?;
        let file = self.fds.file(fd)?;
        #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
        {
            use rustix::fs::Advice;
            let host = match adv {
                advice::NORMAL => Advice::Normal,
                advice::SEQUENTIAL => Advice::Sequential,
                advice::RANDOM => Advice::Random,
                advice::WILLNEED => Advice::WillNeed,
                advice::DONTNEED => Advice::DontNeed,
                _ => Advice::NoReuse,
            };
            rustix::fs::fadvise(&file.file, offset, std::num::NonZeroU64::new(len), host)?;
        }
        #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
        let _ = (file, offset, len, adv);
        Ok(())
    }

    /// Makes sure `offset + len` bytes exist: the file grows if shorter,
    /// with zeros, as after `posix_fallocate`.
    pub(crate) fn fd_allocate(&mut self, fd: u32, offset: u64, len: u64) -> WasiResult<()> {
        let file = self.fds.file(fd)?;
        let end = offset
            .checked_add(len)
            .filter(|e| i64::try_from(*e).is_ok())
            .ok_or(Errno::Fbig)?;
        if file.file.metadata()?.len() < end {
            file.file.set_len(end)?;
        }
        Ok(())
    }
}
