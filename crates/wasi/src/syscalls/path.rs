//! Path operations: `path_open`, `path_filestat_get`,
//! `path_filestat_set_times`, `path_create_directory`,
//! `path_remove_directory`, `path_unlink_file`, `path_rename`, `path_link`,
//! `path_readlink`, `path_symlink`.
//!
//! Every path is resolved by [`crate::sandbox::resolve`] first; the host
//! call then acts on (directory descriptor, plain name) and never follows
//! a symlink itself. That split is what keeps the guest inside its
//! preopened directories; see the `sandbox` module for the guarantee.

use crate::abi::{fdflags, rights};
use crate::abi::{lookupflags, oflags as wasi_oflags};
use crate::ctx::WasiCtx;
use crate::errno::{Errno, WasiResult};
use crate::filestat::{Filestat, timestamps};
use crate::memory::GuestMemory;
use crate::sandbox::{self, Resolved};
use crate::table::{Descriptor, OpenDir, OpenFile};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;

/// Whether `lookupflags` asks to follow a final symlink.
fn follows(flags: u32) -> WasiResult<bool> {
    if flags & !lookupflags::SYMLINK_FOLLOW != 0 {
        return Err(Errno::Inval);
    }
    Ok(flags & lookupflags::SYMLINK_FOLLOW != 0)
}

/// `ENOTDIR` unless `r` names a directory. For paths that ended in `/`.
fn require_dir(r: &Resolved<'_>) -> WasiResult<()> {
    let st = rustix::fs::statat(r.dir(), r.name(), AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(Errno::Notdir);
    }
    Ok(())
}

/// The host open flags for `path_open`'s arguments.
fn open_flags(oflags: u16, fdflags: u16, read: bool, write: bool, dir_required: bool) -> OFlags {
    // NOFOLLOW: the sandbox already expanded a final symlink the guest
    // wanted followed; one that appears since is refused (ELOOP).
    let mut flags = OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
    flags |= match (read, write) {
        (_, false) => OFlags::RDONLY,
        (false, true) => OFlags::WRONLY,
        (true, true) => OFlags::RDWR,
    };
    for (wasi, host) in [
        (wasi_oflags::CREAT, OFlags::CREATE),
        (wasi_oflags::EXCL, OFlags::EXCL),
        (wasi_oflags::TRUNC, OFlags::TRUNC),
        (wasi_oflags::DIRECTORY, OFlags::DIRECTORY),
    ] {
        if oflags & wasi != 0 {
            flags |= host;
        }
    }
    if dir_required {
        flags |= OFlags::DIRECTORY;
    }
    for (wasi, host) in [
        (fdflags::APPEND, OFlags::APPEND),
        (fdflags::DSYNC, OFlags::DSYNC),
        (fdflags::NONBLOCK, OFlags::NONBLOCK),
        (fdflags::RSYNC, OFlags::RSYNC),
        (fdflags::SYNC, OFlags::SYNC),
    ] {
        if fdflags & wasi != 0 {
            flags |= host;
        }
    }
    flags
}

impl WasiCtx {
    /// Resolves the guest path at `path`/`len` relative to directory `fd`.
    fn resolve_at(
        &self,
        mem: &GuestMemory<'_>,
        fd: u32,
        path: u32,
        len: u32,
        follow: bool,
    ) -> WasiResult<Resolved<'_>> {
        let path = mem.slice(path, len)?;
        let root = self.fds.dir(fd)?.fd.as_fd();
        sandbox::resolve(root, path, follow)
    }

    /// Opens a file or directory. The host descriptor is opened for reading
    /// and/or writing as the requested rights ask (`rights::READING`,
    /// `rights::WRITING`; neither means read-only); that open mode, not the
    /// rights, is what later operations are held to.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_open(
        &mut self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        dirflags: u32,
        path: u32,
        path_len: u32,
        oflags: u32,
        rights_base: u64,
        fdflags: u32,
        opened: u32,
    ) -> WasiResult<()> {
        let oflags = u16::try_from(oflags)
            .ok()
            .filter(|o| o & !wasi_oflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        let fdflags = u16::try_from(fdflags)
            .ok()
            .filter(|f| f & !fdflags::ALL == 0)
            .ok_or(Errno::Inval)?;
        // Check the output first: failing after the open would leak it.
        mem.slice(opened, 4)?;
        let read = rights_base & rights::READING != 0;
        let write = rights_base & rights::WRITING != 0;
        let host = {
            let r = self.resolve_at(mem, fd, path, path_len, follows(dirflags)?)?;
            let flags = open_flags(oflags, fdflags, read, write, r.dir_required);
            rustix::fs::openat(r.dir(), r.name(), flags, Mode::from_raw_mode(0o666))?
        };
        let st = rustix::fs::fstat(&host)?;
        let desc = if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            Descriptor::Dir(OpenDir {
                fd: host,
                preopen: None,
                listing: Vec::new(),
            })
        } else {
            Descriptor::File(OpenFile {
                file: File::from(host),
                readable: read || !write,
                writable: write,
            })
        };
        let new = self.fds.push(desc)?;
        mem.write_u32(opened, new)
    }

    pub(crate) fn path_filestat_get(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
        out: u32,
    ) -> WasiResult<()> {
        let r = self.resolve_at(mem, fd, path, len, follows(flags)?)?;
        let st = rustix::fs::statat(r.dir(), r.name(), AtFlags::SYMLINK_NOFOLLOW)?;
        if r.dir_required && FileType::from_raw_mode(st.st_mode) != FileType::Directory {
            return Err(Errno::Notdir);
        }
        Filestat::from_host(&st).write(mem, out)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_filestat_set_times(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        flags: u32,
        path: u32,
        len: u32,
        atim: u64,
        mtim: u64,
        fst_flags: u32,
    ) -> WasiResult<()> {
        let times = timestamps(
            atim,
            mtim,
            u16::try_from(fst_flags).map_err(|_| Errno::Inval)?,
        )?;
        let r = self.resolve_at(mem, fd, path, len, follows(flags)?)?;
        if r.dir_required {
            require_dir(&r)?;
        }
        Ok(rustix::fs::utimensat(
            r.dir(),
            r.name(),
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    pub(crate) fn path_create_directory(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let r = self.resolve_at(mem, fd, path, len, false)?;
        Ok(rustix::fs::mkdirat(
            r.dir(),
            r.name(),
            Mode::from_raw_mode(0o777),
        )?)
    }

    pub(crate) fn path_remove_directory(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let r = self.resolve_at(mem, fd, path, len, false)?;
        Ok(rustix::fs::unlinkat(r.dir(), r.name(), AtFlags::REMOVEDIR)?)
    }

    pub(crate) fn path_unlink_file(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let r = self.resolve_at(mem, fd, path, len, false)?;
        if r.dir_required {
            // `unlink("x/")`: a directory cannot be unlinked, anything else
            // is not a directory.
            require_dir(&r)?;
            return Err(Errno::Isdir);
        }
        Ok(rustix::fs::unlinkat(r.dir(), r.name(), AtFlags::empty())?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_rename(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        old: u32,
        old_len: u32,
        new_fd: u32,
        new: u32,
        new_len: u32,
    ) -> WasiResult<()> {
        let from = self.resolve_at(mem, fd, old, old_len, false)?;
        let to = self.resolve_at(mem, new_fd, new, new_len, false)?;
        if from.dir_required || to.dir_required {
            // A trailing `/` on either side: the source must be a directory.
            require_dir(&from)?;
        }
        Ok(rustix::fs::renameat(
            from.dir(),
            from.name(),
            to.dir(),
            to.name(),
        )?)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_link(
        &self,
        mem: &mut GuestMemory<'_>,
        old_fd: u32,
        old_flags: u32,
        old: u32,
        old_len: u32,
        new_fd: u32,
        new: u32,
        new_len: u32,
    ) -> WasiResult<()> {
        let from = self.resolve_at(mem, old_fd, old, old_len, follows(old_flags)?)?;
        let to = self.resolve_at(mem, new_fd, new, new_len, false)?;
        Ok(rustix::fs::linkat(
            from.dir(),
            from.name(),
            to.dir(),
            to.name(),
            AtFlags::empty(),
        )?)
    }

    /// Reads a symlink's target; a buffer too small gets the target cut
    /// short, as with POSIX `readlink`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn path_readlink(
        &self,
        mem: &mut GuestMemory<'_>,
        fd: u32,
        path: u32,
        len: u32,
        buf: u32,
        buf_len: u32,
        bufused: u32,
    ) -> WasiResult<()> {
        let target = {
            let r = self.resolve_at(mem, fd, path, len, false)?;
            rustix::fs::readlinkat(r.dir(), r.name(), Vec::new())?.into_bytes()
        };
        let n = target.len().min(buf_len as usize);
        mem.slice_mut(buf, buf_len)?[..n].copy_from_slice(&target[..n]);
        mem.write_u32(bufused, n as u32)
    }

    /// Creates a symlink. Absolute targets are refused (`ENOTCAPABLE`):
    /// the sandbox would never follow one, and a host process reading the
    /// tree should not be pointed outside it either.
    pub(crate) fn path_symlink(
        &self,
        mem: &mut GuestMemory<'_>,
        target: u32,
        target_len: u32,
        fd: u32,
        path: u32,
        len: u32,
    ) -> WasiResult<()> {
        let target = mem.slice(target, target_len)?;
        if target.starts_with(b"/") {
            return Err(Errno::Notcapable);
        }
        let target = OsStr::from_bytes(target).to_owned();
        let r = self.resolve_at(mem, fd, path, len, false)?;
        Ok(rustix::fs::symlinkat(&target, r.dir(), r.name())?)
    }
}
