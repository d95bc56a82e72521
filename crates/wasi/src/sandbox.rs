//! Resolving a guest path inside a directory descriptor: the sandbox.
//!
//! Every `path_*` function names a file as (directory descriptor, relative
//! path). [`resolve`] walks that path one component at a time, starting from
//! the directory's host descriptor, and returns the directory that holds the
//! last component plus that component's name. The operation itself is then
//! one `*at()` call on that pair that never follows a symlink in the kernel
//! (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`, or calls that never follow).
//!
//! # Rules
//!
//! - Absolute paths are refused (`ENOTCAPABLE`). wasi-libc turns a guest's
//!   absolute path into (preopen, relative path) before calling us.
//! - `..` pops a directory Kiln itself opened on the way down; at the
//!   starting directory there is nothing to pop and the path is refused
//!   (`ENOTCAPABLE`). The kernel never sees a `..` component.
//! - Each intermediate component is opened with
//!   `openat(dir, name, O_DIRECTORY | O_NOFOLLOW)`. If it is a symlink,
//!   Kiln reads it and splices its target into the remaining path: relative
//!   targets are resolved by these same rules (so `..` in a target cannot
//!   climb above the start either); absolute targets are refused
//!   (`ENOTCAPABLE`). The final component is expanded the same way when the
//!   guest asks to follow symlinks (or the path ends in `/`). At most
//!   [`MAX_SYMLINK_EXPANSIONS`] expansions happen (`ELOOP` after).
//!
//! # Guarantee, including against concurrent changes (TOCTOU)
//!
//! Every host file the guest reaches was found by a chain of `openat`
//! calls, each on a single plain name (never `.`, `..`, or containing `/`)
//! relative to a descriptor obtained by the previous step, with symlink
//! following disabled in the kernel at every step. Symlinks are read and
//! interpreted by this module only, and only ever relative to a descriptor
//! the walk holds. So a host process that swaps files or symlinks inside
//! the tree while the guest runs can make an operation fail or act on a
//! different file *inside* the tree, but cannot make it reach outside: no
//! check is separated from its use by a path lookup the kernel redoes.
//! What this does not cover: a host process moving a directory out of the
//! tree while the guest holds a descriptor to it (or is walking through it)
//! leaves the guest with what that descriptor reaches, as with any
//! descriptor-based sandbox; and hard links inside the tree to files
//! outside it are what they are. Both need someone with host access.

use crate::errno::{Errno, WasiResult};
use rustix::fs::{Mode, OFlags};
use std::collections::VecDeque;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// Linux's own limit on symlinks followed in one lookup.
pub(crate) const MAX_SYMLINK_EXPANSIONS: u32 = 40;

/// How intermediate directories are opened: only as lookup handles
/// (`O_PATH` where it exists, so directories without read permission can
/// still be traversed, as the kernel's own walk would), never following a
/// symlink.
#[cfg(any(target_os = "linux", target_os = "android"))]
const WALK_FLAGS: OFlags = OFlags::PATH
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const WALK_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The result of a walk: the directory holding the final component, and
/// that component.
pub(crate) struct Resolved<'a> {
    root: BorrowedFd<'a>,
    /// The last directory the walk opened, or `None` for the root itself.
    parent: Option<OwnedFd>,
    name: Vec<u8>,
    /// The path ended in `/`: the final component must be a directory.
    pub dir_required: bool,
}

impl Resolved<'_> {
    /// The directory holding [`Resolved::name`].
    pub(crate) fn dir(&self) -> BorrowedFd<'_> {
        self.parent.as_ref().map_or(self.root, |fd| fd.as_fd())
    }

    /// The final component: a plain name, or `.` when the path ended at a
    /// directory (`a/..`, `.`, `a/.`). Never empty, never `..`, never
    /// containing `/`.
    pub(crate) fn name(&self) -> &OsStr {
        OsStr::from_bytes(&self.name)
    }
}

/// Splits `path` into its non-empty components. Refuses absolute paths and
/// empty paths.
fn components(path: &[u8]) -> WasiResult<VecDeque<Vec<u8>>> {
    if path.is_empty() {
        return Err(Errno::Noent);
    }
    if path[0] == b'/' {
        return Err(Errno::Notcapable);
    }
    if path.contains(&0) {
        return Err(Errno::Inval);
    }
    Ok(path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect())
}

/// Resolves `path` relative to the directory `root` (see the module docs).
/// With `follow`, a symlink in the final position is expanded too.
pub(crate) fn resolve<'a>(
    root: BorrowedFd<'a>,
    path: &[u8],
    follow: bool,
) -> WasiResult<Resolved<'a>> {
    let mut queue = components(path)?;
    let mut dir_required = path.ends_with(b"/");
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut expansions = 0;

    while let Some(comp) = queue.pop_front() {
        let last = queue.is_empty();
        match comp.as_slice() {
            b"." => {}
            b".." => {
                // Never ask the kernel for `..`: pop what we opened.
                if stack.pop().is_none() {
                    return Err(Errno::Notcapable);
                }
            }
            name => {
                let cur = top(root, &stack);
                if last {
                    // A trailing `/` follows a final symlink, as in POSIX.
                    if (follow || dir_required)
                        && let Some(target) = read_symlink(cur, name)
                    {
                        expand(&mut queue, &target, &mut expansions, &mut dir_required)?;
                        continue;
                    }
                    let parent = stack.pop();
                    return Ok(Resolved {
                        root,
                        parent,
                        name: comp,
                        dir_required,
                    });
                }
                match rustix::fs::openat(cur, OsStr::from_bytes(name), WALK_FLAGS, Mode::empty()) {
                    Ok(fd) => stack.push(fd),
                    // O_NOFOLLOW on a symlink fails with ELOOP, or with
                    // ENOTDIR when combined with O_DIRECTORY/O_PATH.
                    Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::NOTDIR => {
                        match read_symlink(cur, name) {
                            Some(target) => {
                                expand(&mut queue, &target, &mut expansions, &mut dir_required)?
                            }
                            None => return Err(e.into()),
                        }
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if last {
            // Only `.` and `..` get here as the last component (a name
            // returns or expands above): the path names the directory the
            // walk is in.
            let parent = stack.pop();
            return Ok(Resolved {
                root,
                parent,
                name: b".".to_vec(),
                dir_required: true,
            });
        }
    }
    unreachable!("a non-empty component queue always ends in a return")
}

/// The directory the walk is in: the last one it opened, or the root.
fn top<'b>(root: BorrowedFd<'b>, stack: &'b [OwnedFd]) -> BorrowedFd<'b> {
    stack.last().map_or(root, |fd| fd.as_fd())
}

/// The target of `name` in `dir` if it is a symlink.
fn read_symlink(dir: BorrowedFd<'_>, name: &[u8]) -> Option<Vec<u8>> {
    rustix::fs::readlinkat(dir, OsStr::from_bytes(name), Vec::new())
        .ok()
        .map(|t| t.into_bytes())
}

/// Puts the components of a symlink's `target` in front of the rest of the
/// walk.
fn expand(
    queue: &mut VecDeque<Vec<u8>>,
    target: &[u8],
    expansions: &mut u32,
    dir_required: &mut bool,
) -> WasiResult<()> {
    *expansions += 1;
    if *expansions > MAX_SYMLINK_EXPANSIONS {
        return Err(Errno::Loop);
    }
    if queue.is_empty() && target.ends_with(b"/") {
        *dir_required = true;
    }
    let comps = components(target)?;
    for comp in comps.into_iter().rev() {
        queue.push_front(comp);
    }
    if queue.is_empty() {
        // A target of only slashes was refused as absolute; of only `.`
        // components it names the link's own directory.
        queue.push_back(b".".to_vec());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn open_dir(path: &std::path::Path) -> OwnedFd {
        rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap()
    }

    fn err(root: &OwnedFd, path: &str, follow: bool) -> Option<Errno> {
        resolve(root.as_fd(), path.as_bytes(), follow).err()
    }

    #[test]
    fn walks_and_refuses_escapes() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("root");
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        std::fs::write(base.join("a/b/f"), b"x").unwrap();
        std::fs::write(tmp.path().join("outside"), b"secret").unwrap();
        symlink("../outside", base.join("up")).unwrap();
        symlink("/etc", base.join("abs")).unwrap();
        symlink("a/b", base.join("in")).unwrap();
        symlink("loop", base.join("loop")).unwrap();
        let root = open_dir(&base);

        let r = resolve(root.as_fd(), b"a/b/f", false).unwrap();
        assert_eq!(r.name(), "f");
        let r = resolve(root.as_fd(), b"a/../a/./b/", false).unwrap();
        assert_eq!((r.name().to_str(), r.dir_required), (Some("b"), true));
        let r = resolve(root.as_fd(), b"a/..", false).unwrap();
        assert_eq!(r.name(), ".");
        let r = resolve(root.as_fd(), b"in/f", false).unwrap();
        assert_eq!(r.name(), "f");

        assert_eq!(err(&root, "..", false), Some(Errno::Notcapable));
        assert_eq!(
            err(&root, "a/../../outside", false),
            Some(Errno::Notcapable)
        );
        assert_eq!(err(&root, "/etc/passwd", false), Some(Errno::Notcapable));
        assert_eq!(err(&root, "up", true), Some(Errno::Notcapable));
        assert_eq!(err(&root, "abs/passwd", false), Some(Errno::Notcapable));
        assert_eq!(err(&root, "abs", true), Some(Errno::Notcapable));
        assert_eq!(err(&root, "loop", true), Some(Errno::Loop));
        assert_eq!(err(&root, "", false), Some(Errno::Noent));
        assert_eq!(err(&root, "a/b/f/g", false), Some(Errno::Notdir));
        // Without following, the final symlink itself is the target.
        assert_eq!(resolve(root.as_fd(), b"up", false).unwrap().name(), "up");
    }

    /// Swapping files for symlinks after a path was resolved cannot lead
    /// the operation out: the walk holds descriptors, not paths, and the
    /// final call does not follow symlinks.
    #[test]
    fn changes_after_resolution_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("root");
        std::fs::create_dir_all(base.join("d")).unwrap();
        std::fs::write(base.join("d/f"), b"inside").unwrap();
        std::fs::write(base.join("g"), b"inside too").unwrap();
        std::fs::write(tmp.path().join("f"), b"secret").unwrap();
        std::fs::write(tmp.path().join("outside"), b"secret").unwrap();
        let root = open_dir(&base);

        // An intermediate directory replaced by a symlink to the outside:
        // the resolved parent is still the directory that was walked into.
        let r = resolve(root.as_fd(), b"d/f", true).unwrap();
        std::fs::rename(base.join("d"), base.join("d_old")).unwrap();
        symlink("..", base.join("d")).unwrap();
        let fd = rustix::fs::openat(
            r.dir(),
            r.name(),
            OFlags::RDONLY | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(
            std::io::read_to_string(std::fs::File::from(fd)).unwrap(),
            "inside"
        );

        // A final file replaced by a symlink: the open refuses to follow it.
        let r = resolve(root.as_fd(), b"g", true).unwrap();
        std::fs::remove_file(base.join("g")).unwrap();
        symlink("../outside", base.join("g")).unwrap();
        let err = rustix::fs::openat(
            r.dir(),
            r.name(),
            OFlags::RDONLY | OFlags::NOFOLLOW,
            Mode::empty(),
        )
        .unwrap_err();
        assert_eq!(err, rustix::io::Errno::LOOP);
    }
}
