//! The `wasi_snapshot_preview1` ABI: numeric constants and the byte layout
//! of the structures the guest and the host exchange through linear memory.
//!
//! Everything here is fixed by the WASI preview1 witx definitions
//! (`typenames.witx`); nothing is Kiln's choice. Structures are written
//! little-endian at the offsets given next to each one, whatever the host's
//! endianness, so no Rust struct is ever laid over guest memory.

/// The import module name every preview1 function lives under.
pub const MODULE: &str = "wasi_snapshot_preview1";

/// `clockid`.
pub mod clock {
    pub const REALTIME: u32 = 0;
    pub const MONOTONIC: u32 = 1;
    pub const PROCESS_CPUTIME: u32 = 2;
    pub const THREAD_CPUTIME: u32 = 3;
}

/// `filetype` (u8).
pub mod filetype {
    pub const UNKNOWN: u8 = 0;
    pub const BLOCK_DEVICE: u8 = 1;
    pub const CHARACTER_DEVICE: u8 = 2;
    pub const DIRECTORY: u8 = 3;
    pub const REGULAR_FILE: u8 = 4;
    pub const SOCKET_STREAM: u8 = 6;
    pub const SYMBOLIC_LINK: u8 = 7;
}

/// `fdflags` (u16).
pub mod fdflags {
    pub const APPEND: u16 = 1 << 0;
    pub const DSYNC: u16 = 1 << 1;
    pub const NONBLOCK: u16 = 1 << 2;
    pub const RSYNC: u16 = 1 << 3;
    pub const SYNC: u16 = 1 << 4;
    pub const ALL: u16 = APPEND | DSYNC | NONBLOCK | RSYNC | SYNC;
}

/// `oflags` (u16), the open flags of `path_open`.
pub mod oflags {
    pub const CREAT: u16 = 1 << 0;
    pub const DIRECTORY: u16 = 1 << 1;
    pub const EXCL: u16 = 1 << 2;
    pub const TRUNC: u16 = 1 << 3;
    pub const ALL: u16 = CREAT | DIRECTORY | EXCL | TRUNC;
}

/// `lookupflags` (u32).
pub mod lookupflags {
    pub const SYMLINK_FOLLOW: u32 = 1 << 0;
}

/// `fstflags` (u16), which timestamps `*_filestat_set_times` changes.
pub mod fstflags {
    pub const ATIM: u16 = 1 << 0;
    pub const ATIM_NOW: u16 = 1 << 1;
    pub const MTIM: u16 = 1 << 2;
    pub const MTIM_NOW: u16 = 1 << 3;
}

/// `whence` (u8) of `fd_seek`.
pub mod whence {
    pub const SET: u8 = 0;
    pub const CUR: u8 = 1;
    pub const END: u8 = 2;
}

/// `advice` (u8) of `fd_advise`.
pub mod advice {
    pub const NORMAL: u8 = 0;
    pub const SEQUENTIAL: u8 = 1;
    pub const RANDOM: u8 = 2;
    pub const WILLNEED: u8 = 3;
    pub const DONTNEED: u8 = 4;
    pub const NOREUSE: u8 = 5;
}

/// `eventtype` (u8): the tag of a subscription and of an event.
pub mod eventtype {
    pub const CLOCK: u8 = 0;
    pub const FD_READ: u8 = 1;
    pub const FD_WRITE: u8 = 2;
}

/// `subclockflags` (u16).
pub mod subclockflags {
    pub const ABSTIME: u16 = 1 << 0;
}

/// `eventrwflags` (u16).
pub mod eventrwflags {
    pub const HANGUP: u16 = 1 << 0;
}

/// `rights` (u64). Kiln reports them in `fd_fdstat_get` (wasi-libc reads
/// them, e.g. `isatty` wants a character device without seek rights) but
/// does not enforce them: what a descriptor can do is decided by the host
/// descriptor's open mode and, for paths, by the sandbox.
pub mod rights {
    pub const FD_DATASYNC: u64 = 1 << 0;
    pub const FD_READ: u64 = 1 << 1;
    pub const FD_SEEK: u64 = 1 << 2;
    pub const FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
    pub const FD_SYNC: u64 = 1 << 4;
    pub const FD_TELL: u64 = 1 << 5;
    pub const FD_WRITE: u64 = 1 << 6;
    pub const FD_ADVISE: u64 = 1 << 7;
    pub const FD_ALLOCATE: u64 = 1 << 8;
    pub const PATH_CREATE_DIRECTORY: u64 = 1 << 9;
    pub const PATH_CREATE_FILE: u64 = 1 << 10;
    pub const PATH_LINK_SOURCE: u64 = 1 << 11;
    pub const PATH_LINK_TARGET: u64 = 1 << 12;
    pub const PATH_OPEN: u64 = 1 << 13;
    pub const FD_READDIR: u64 = 1 << 14;
    pub const PATH_READLINK: u64 = 1 << 15;
    pub const PATH_RENAME_SOURCE: u64 = 1 << 16;
    pub const PATH_RENAME_TARGET: u64 = 1 << 17;
    pub const PATH_FILESTAT_GET: u64 = 1 << 18;
    pub const PATH_FILESTAT_SET_SIZE: u64 = 1 << 19;
    pub const PATH_FILESTAT_SET_TIMES: u64 = 1 << 20;
    pub const FD_FILESTAT_GET: u64 = 1 << 21;
    pub const FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
    pub const FD_FILESTAT_SET_TIMES: u64 = 1 << 23;
    pub const PATH_SYMLINK: u64 = 1 << 24;
    pub const PATH_REMOVE_DIRECTORY: u64 = 1 << 25;
    pub const PATH_UNLINK_FILE: u64 = 1 << 26;
    pub const POLL_FD_READWRITE: u64 = 1 << 27;

    /// Rights that ask for a readable host descriptor.
    pub const READING: u64 = FD_READ | FD_READDIR;
    /// Rights that ask for a writable host descriptor.
    pub const WRITING: u64 = FD_WRITE | FD_DATASYNC | FD_ALLOCATE | FD_FILESTAT_SET_SIZE;

    /// Everything a regular file can be asked to do.
    pub const FILE: u64 = FD_DATASYNC
        | FD_READ
        | FD_SEEK
        | FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_TELL
        | FD_WRITE
        | FD_ADVISE
        | FD_ALLOCATE
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_SIZE
        | FD_FILESTAT_SET_TIMES
        | POLL_FD_READWRITE;

    /// Everything a directory can be asked to do.
    pub const DIRECTORY: u64 = FD_FDSTAT_SET_FLAGS
        | FD_SYNC
        | FD_ADVISE
        | PATH_CREATE_DIRECTORY
        | PATH_CREATE_FILE
        | PATH_LINK_SOURCE
        | PATH_LINK_TARGET
        | PATH_OPEN
        | FD_READDIR
        | PATH_READLINK
        | PATH_RENAME_SOURCE
        | PATH_RENAME_TARGET
        | PATH_FILESTAT_GET
        | PATH_FILESTAT_SET_SIZE
        | PATH_FILESTAT_SET_TIMES
        | FD_FILESTAT_GET
        | FD_FILESTAT_SET_TIMES
        | PATH_SYMLINK
        | PATH_REMOVE_DIRECTORY
        | PATH_UNLINK_FILE
        | POLL_FD_READWRITE;

    /// What a standard stream offers: no seek or tell (wasi-libc's `isatty`
    /// relies on their absence).
    pub const STREAM: u64 =
        FD_READ | FD_WRITE | FD_FDSTAT_SET_FLAGS | FD_FILESTAT_GET | POLL_FD_READWRITE;
}

/// `iovec` / `ciovec`: `{ buf: u32 @0, buf_len: u32 @4 }`, 8 bytes.
pub const IOVEC_SIZE: u32 = 8;

/// `fdstat`: `{ fs_filetype: u8 @0, fs_flags: u16 @2, fs_rights_base: u64
/// @8, fs_rights_inheriting: u64 @16 }`, 24 bytes.
pub const FDSTAT_SIZE: u32 = 24;

/// `filestat`: `{ dev: u64 @0, ino: u64 @8, filetype: u8 @16, nlink: u64
/// @24, size: u64 @32, atim: u64 @40, mtim: u64 @48, ctim: u64 @56 }`,
/// 64 bytes.
pub const FILESTAT_SIZE: u32 = 64;

/// `prestat`: `{ tag: u8 @0 (0 = dir), pr_name_len: u32 @4 }`, 8 bytes.
pub const PRESTAT_SIZE: u32 = 8;
pub const PREOPENTYPE_DIR: u8 = 0;

/// `dirent` header: `{ d_next: u64 @0, d_ino: u64 @8, d_namlen: u32 @16,
/// d_type: u8 @20 }`, 24 bytes, followed by the name (not NUL-terminated).
pub const DIRENT_SIZE: usize = 24;

/// `subscription`: `{ userdata: u64 @0, tag: u8 @8, union @16 }`, 48
/// bytes. Clock: `{ id: u32 @16, timeout: u64 @24, precision: u64 @32,
/// flags: u16 @40 }`. Fd read/write: `{ fd: u32 @16 }`.
pub const SUBSCRIPTION_SIZE: u32 = 48;

/// `event`: `{ userdata: u64 @0, error: u16 @8, type: u8 @10, nbytes: u64
/// @16, flags: u16 @24 }`, 32 bytes.
pub const EVENT_SIZE: u32 = 32;
