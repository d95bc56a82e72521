//! Host file metadata in WASI's terms: file types and `filestat`.

use crate::abi::{FILESTAT_SIZE, filetype, fstflags};
use crate::errno::{Errno, WasiResult};
use crate::memory::GuestMemory;
use rustix::fs::{FileType, Stat, Timespec, Timestamps, UTIME_NOW, UTIME_OMIT};

/// The WASI file type of a host file type. FIFOs have no WASI type and are
/// `UNKNOWN`, as in other runtimes.
pub(crate) fn filetype_of(ty: FileType) -> u8 {
    match ty {
        FileType::RegularFile => filetype::REGULAR_FILE,
        FileType::Directory => filetype::DIRECTORY,
        FileType::Symlink => filetype::SYMBOLIC_LINK,
        FileType::CharacterDevice => filetype::CHARACTER_DEVICE,
        FileType::BlockDevice => filetype::BLOCK_DEVICE,
        FileType::Socket => filetype::SOCKET_STREAM,
        _ => filetype::UNKNOWN,
    }
}

/// A `filestat` as the guest sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// Nanoseconds since the epoch; times before it (rare, and unrepresentable
/// in WASI's unsigned timestamps) become 0.
fn nanos(sec: i64, nsec: u64) -> u64 {
    u64::try_from(sec).map_or(0, |s| s.saturating_mul(1_000_000_000).saturating_add(nsec))
}

impl Filestat {
    // The `stat` field types differ between targets (and rustix backends);
    // every field here fits in the wider WASI type.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    pub(crate) fn from_host(st: &Stat) -> Filestat {
        Filestat {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
            filetype: filetype_of(FileType::from_raw_mode(st.st_mode as _)),
            nlink: st.st_nlink as u64,
            size: st.st_size as u64,
            atim: nanos(st.st_atime as i64, st.st_atime_nsec as u64),
            mtim: nanos(st.st_mtime as i64, st.st_mtime_nsec as u64),
            ctim: nanos(st.st_ctime as i64, st.st_ctime_nsec as u64),
        }
    }

    /// A stat for something that is not a host file (an in-memory stream).
    pub(crate) fn of_type(filetype: u8) -> Filestat {
        Filestat {
            filetype,
            ..Filestat::default()
        }
    }

    pub(crate) fn write(&self, mem: &mut GuestMemory<'_>, ptr: u32) -> WasiResult<()> {
        let mut b = [0u8; FILESTAT_SIZE as usize];
        b[0..8].copy_from_slice(&self.dev.to_le_bytes());
        b[8..16].copy_from_slice(&self.ino.to_le_bytes());
        b[16] = self.filetype;
        b[24..32].copy_from_slice(&self.nlink.to_le_bytes());
        b[32..40].copy_from_slice(&self.size.to_le_bytes());
        b[40..48].copy_from_slice(&self.atim.to_le_bytes());
        b[48..56].copy_from_slice(&self.mtim.to_le_bytes());
        b[56..64].copy_from_slice(&self.ctim.to_le_bytes());
        mem.write_bytes(ptr, &b)
    }
}

/// The host timestamps for `*_filestat_set_times(atim, mtim, flags)`: each
/// time is set to the given value, to now, or left alone. Asking for both a
/// value and now is `EINVAL`, as are unknown flags.
pub(crate) fn timestamps(atim: u64, mtim: u64, flags: u16) -> WasiResult<Timestamps> {
    use fstflags::{ATIM, ATIM_NOW, MTIM, MTIM_NOW};
    if flags & !(ATIM | ATIM_NOW | MTIM | MTIM_NOW) != 0
        || flags & (ATIM | ATIM_NOW) == ATIM | ATIM_NOW
        || flags & (MTIM | MTIM_NOW) == MTIM | MTIM_NOW
    {
        return Err(Errno::Inval);
    }
    let one = |t: u64, set: u16, now: u16| {
        if flags & now != 0 {
            Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_NOW,
            }
        } else if flags & set != 0 {
            // u64 nanoseconds / 1e9 fits an i64 of seconds.
            Timespec {
                tv_sec: (t / 1_000_000_000) as i64,
                tv_nsec: (t % 1_000_000_000) as _,
            }
        } else {
            Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            }
        }
    };
    Ok(Timestamps {
        last_access: one(atim, ATIM, ATIM_NOW),
        last_modification: one(mtim, MTIM, MTIM_NOW),
    })
}
