//! A cache of compiled modules on disk, so that a program run again starts
//! without compiling (`Config::cache`).
//!
//! An entry is a `.cwasm` artifact (see `artifact.rs`) named by a hash of
//! the engine's fingerprint and the module's wasm. Invariants:
//! - An entry is written to a temporary file in the cache directory and
//!   renamed into place, so a reader (another process, concurrently) sees
//!   a whole entry or none.
//! - An entry is used only if it loads (checksum, fingerprint) and holds
//!   exactly the wasm asked for, so a hash collision or a damaged file costs
//!   a compilation, never a wrong module. A damaged entry is removed, with
//!   a warning in the log.
//! - The directory's `.cwasm` files are kept under a soft size limit: after
//!   a write, the least recently used entries (by modification time, which
//!   a hit refreshes) are removed until the rest fits.
//! - Failing to read or write the cache is never an error of the
//!   compilation: it is logged and the module is compiled as without one.
//!
//! The directory must be as trusted as the program: its artifacts' machine
//! code runs as is.

use crate::{Engine, Module};
use anyhow::{Context as _, Result};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::SystemTime;

/// Where and how large a [`Cache`] is.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    directory: Option<PathBuf>,
    files_total_size_soft_limit: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig { directory: None, files_total_size_soft_limit: 512 << 20 }
    }
}

impl CacheConfig {
    /// The default: the user's cache directory (`$XDG_CACHE_HOME/kiln`,
    /// else `~/.cache/kiln`), at most about 512 MiB of entries.
    pub fn new() -> CacheConfig {
        CacheConfig::default()
    }

    pub fn with_directory(&mut self, directory: impl Into<PathBuf>) -> &mut Self {
        self.directory = Some(directory.into());
        self
    }

    /// The size the entries are trimmed to after each write, in bytes.
    pub fn with_files_total_size_soft_limit(&mut self, bytes: u64) -> &mut Self {
        self.files_total_size_soft_limit = bytes;
        self
    }
}

impl CacheConfig {
    /// Reads a cache configuration file in Wasmtime's format: a `[cache]`
    /// table with `enabled` (boolean), `directory` (string) and
    /// `files-total-size-soft-limit` (bytes: an integer, or a string with a
    /// `K`/`Ki`/`M`/`Mi`/`G`/`Gi` suffix). Wasmtime's other keys (cleanup
    /// intervals, compression) are accepted and ignored with a warning:
    /// Kiln trims on every write and does not compress. `None` when the
    /// file disables the cache.
    pub fn from_file(path: &Path) -> Result<Option<CacheConfig>> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the cache configuration {}", path.display()))?;
        Self::from_toml(&text).with_context(|| format!("in the cache configuration {}", path.display()))
    }

    fn from_toml(text: &str) -> Result<Option<CacheConfig>> {
        const IGNORED: [&str; 8] = [
            "cleanup-interval",
            "optimized-compression-level",
            "optimized-compression-usage-counter-threshold",
            "baseline-compression-level",
            "allowed-clock-drift-for-files-from-future",
            "file-count-soft-limit",
            "files-total-size-limit-percent-if-deleting",
            "file-count-limit-percent-if-deleting",
        ];
        let table: toml::Table = text.parse()?;
        let Some(cache) = table.get("cache") else { anyhow::bail!("no [cache] table") };
        let cache = cache.as_table().context("`cache` is not a table")?;
        let mut config = CacheConfig::new();
        for (key, value) in cache {
            match key.as_str() {
                "enabled" => {
                    if !value.as_bool().context("`enabled` is not a boolean")? {
                        return Ok(None);
                    }
                }
                "directory" => {
                    config.with_directory(value.as_str().context("`directory` is not a string")?);
                }
                "files-total-size-soft-limit" => {
                    config.with_files_total_size_soft_limit(size(value).context("`files-total-size-soft-limit`")?);
                }
                k if IGNORED.contains(&k) => log::warn!("cache configuration: `{k}` is ignored by Kiln"),
                k => anyhow::bail!("unknown key `{k}`; known: enabled, directory, files-total-size-soft-limit"),
            }
        }
        Ok(Some(config))
    }
}

/// A size in bytes: an integer, or a string such as `"512Mi"`.
fn size(value: &toml::Value) -> Result<u64> {
    if let Some(n) = value.as_integer() {
        return u64::try_from(n).context("negative size");
    }
    let s = value.as_str().context("not a size")?.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().with_context(|| format!("`{s}` is not a size"))?;
    let scale: u64 = match unit.trim() {
        "" => 1,
        "K" => 1000,
        "Ki" => 1 << 10,
        "M" => 1_000_000,
        "Mi" => 1 << 20,
        "G" => 1_000_000_000,
        "Gi" => 1 << 30,
        "T" => 1_000_000_000_000,
        "Ti" => 1 << 40,
        other => anyhow::bail!("unknown size unit `{other}` in `{s}`"),
    };
    n.checked_mul(scale).with_context(|| format!("`{s}` is too large"))
}

/// A compiled-module cache directory, shared by the engines given it.
#[derive(Debug, Clone)]
pub struct Cache {
    inner: Arc<CacheInner>,
}

#[derive(Debug)]
struct CacheInner {
    directory: PathBuf,
    size_limit: u64,
    hits: AtomicU64,
    misses: AtomicU64,
    /// Bytes of entries, as of the last listing plus this process's writes
    /// since.
    estimated_total: AtomicU64,
    /// Has this process listed the directory yet?
    listed: AtomicBool,
}

impl Cache {
    /// Opens (creating it if needed) the cache directory `config` names.
    pub fn new(config: CacheConfig) -> Result<Cache> {
        let directory = match config.directory {
            Some(d) => d,
            None => default_directory().context("no cache directory: neither XDG_CACHE_HOME nor HOME is set")?,
        };
        std::fs::create_dir_all(&directory).with_context(|| format!("creating the cache directory {}", directory.display()))?;
        let inner = CacheInner {
            directory,
            size_limit: config.files_total_size_soft_limit,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            estimated_total: AtomicU64::new(0),
            listed: AtomicBool::new(false),
        };
        Ok(Cache { inner: Arc::new(inner) })
    }

    pub fn directory(&self) -> &Path {
        &self.inner.directory
    }

    /// Modules loaded from the cache so far (through this handle's clones).
    pub fn hits(&self) -> u64 {
        self.inner.hits.load(Ordering::Relaxed)
    }

    /// Modules compiled because the cache had no usable entry.
    pub fn misses(&self) -> u64 {
        self.inner.misses.load(Ordering::Relaxed)
    }

    fn entry(&self, engine: &Engine, wasm: &[u8]) -> PathBuf {
        // A hash at memory speed (this runs at every start). A collision is
        // caught on loading (the entry holds its wasm): it costs a compile.
        let (settings, module) = (crate::artifact::checksum(engine.fingerprint().as_bytes()), crate::artifact::checksum(wasm));
        self.inner.directory.join(format!("{settings:016x}{module:016x}.cwasm"))
    }

    /// The cached module of `wasm`, or the one `compile` makes, which the
    /// cache then keeps.
    pub(crate) fn get_or_compile(&self, engine: &Engine, wasm: &[u8], compile: impl FnOnce() -> Result<Module>) -> Result<Module> {
        let path = self.entry(engine, wasm);
        if let Some(module) = self.load(engine, wasm, &path) {
            self.inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(module);
        }
        self.inner.misses.fetch_add(1, Ordering::Relaxed);
        let module = compile()?;
        self.store(&path, &module);
        Ok(module)
    }

    /// The module in the entry at `path`, if it is usable for `wasm`.
    fn load(&self, engine: &Engine, wasm: &[u8], path: &Path) -> Option<Module> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                log::debug!("module cache miss: {}", path.display());
                return None;
            }
            Err(e) => {
                log::warn!("ignoring unreadable module cache entry {}: {e}", path.display());
                return None;
            }
        };
        // SAFETY: the cache directory is trusted like the program (see the
        // module doc); integrity and settings are checked by `deserialize`.
        match unsafe { Module::deserialize(engine, &bytes) } {
            Ok(module) if module.wasm() == wasm => {
                log::debug!("module cache hit: {}", path.display());
                // Refresh the entry's age for the size limit's LRU order.
                let _ = std::fs::File::options().append(true).open(path).and_then(|f| f.set_modified(SystemTime::now()));
                Some(module)
            }
            Ok(_) => {
                log::debug!("module cache entry {} holds another module (hash collision)", path.display());
                None
            }
            Err(e) => {
                log::warn!("ignoring corrupt module cache entry {}: {e:#}", path.display());
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// Saves `module`'s artifact at `path`, then trims the cache to its
    /// size limit.
    fn store(&self, path: &Path, module: &Module) {
        let written = module.serialize().and_then(|bytes| {
            let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
            let temp = self.inner.directory.join(format!(".{}.{}.{nanos}.tmp", std::process::id(), path.file_name().unwrap_or_default().to_string_lossy()));
            let len = bytes.len() as u64;
            std::fs::write(&temp, bytes).and_then(|()| std::fs::rename(&temp, path)).map(|()| len).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                anyhow::Error::from(e)
            })
        });
        match written {
            Ok(len) => {
                log::debug!("module cache: wrote {}", path.display());
                // The directory is listed only when the entries may have
                // outgrown the limit: at the first write, then when the
                // bytes written since the last listing could have crossed
                // it (other processes' writes are caught at the next one).
                let total = self.inner.estimated_total.fetch_add(len, Ordering::Relaxed) + len;
                if total > self.inner.size_limit || !self.inner.listed.swap(true, Ordering::Relaxed) {
                    let remaining = self.trim();
                    self.inner.estimated_total.store(remaining, Ordering::Relaxed);
                }
            }
            Err(e) => log::warn!("cannot write module cache entry {}: {e:#}", path.display()),
        }
    }

    /// Removes the least recently used entries until the rest fit; returns
    /// the bytes left.
    fn trim(&self) -> u64 {
        let Ok(dir) = std::fs::read_dir(&self.inner.directory) else { return 0 };
        let mut entries: Vec<(SystemTime, u64, PathBuf)> = dir
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((meta.modified().ok()?, meta.len(), e.path()))
            })
            .collect();
        let mut total: u64 = entries.iter().map(|e| e.1).sum();
        if total <= self.inner.size_limit {
            return total;
        }
        entries.sort();
        for (_, len, path) in entries {
            if total <= self.inner.size_limit {
                break;
            }
            if std::fs::remove_file(&path).is_ok() {
                log::debug!("module cache: evicted {}", path.display());
                total -= len;
            }
        }
        total
    }
}

fn default_directory() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").filter(|v| !v.is_empty())?).join(".cache"),
    };
    Some(base.join("kiln"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wasmtime_cache_file_is_read() {
        let text = "[cache]\nenabled = true\ndirectory = \"/tmp/x\"\nfiles-total-size-soft-limit = \"2Mi\"\ncleanup-interval = \"30m\"\n";
        let config = CacheConfig::from_toml(text).unwrap().unwrap();
        assert_eq!(config.directory.as_deref(), Some(Path::new("/tmp/x")));
        assert_eq!(config.files_total_size_soft_limit, 2 << 20);
        assert!(CacheConfig::from_toml("[cache]\nenabled = false\n").unwrap().is_none());
        assert_eq!(CacheConfig::from_toml("[cache]\nfiles-total-size-soft-limit = 1000\n").unwrap().unwrap().files_total_size_soft_limit, 1000);
    }

    #[test]
    fn bad_cache_files_are_errors_that_say_why() {
        let err = |t: &str| format!("{:#}", CacheConfig::from_toml(t).unwrap_err());
        assert!(err("[cache]\nsize = 3\n").contains("unknown key `size`"));
        assert!(err("[cache]\nenabled = \"yes\"\n").contains("not a boolean"));
        assert!(err("[cache]\nfiles-total-size-soft-limit = \"3 parsecs\"\n").contains("unknown size unit"));
        assert!(err("[other]\n").contains("no [cache] table"));
        assert!(CacheConfig::from_toml("[cache\n").is_err(), "malformed TOML");
    }
}
