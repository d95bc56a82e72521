//! Compiled modules as bytes (`.cwasm`): what [`crate::Module::serialize`]
//! writes and [`crate::Module::deserialize`] reads.
//!
//! Layout, little-endian, every variable-length part prefixed by its u32
//! length or count:
//! ```text
//!   magic "\0kiln-cwasm\n"         12 bytes
//!   format version                 u32
//!   engine fingerprint             string: Kiln's version, the target and
//!                                  every setting compiled code depends on
//!   wasm                           bytes: the module's binary
//!   code                           bytes: the linked code image
//!   functions                      (start, len) per defined function
//!   traps                          (code offset, trap code u8)
//!   address map                    (start, end, module offset or inlined location)
//!   inlined locations              (module offset, call's module offset,
//!                                   outer call's or `NOT_NESTED`)
//!   exception handlers             (return address, handler, frame offset)
//!   stack maps                     (return address, span, offsets...)
//!   reads GC heap                  u8: 0 or 1 (`CodeMetadata::reads_gc_heap`)
//!   checksum                       u64: of everything before it (see
//!                                  `checksum`)
//! ```
//! The wasm is kept so that loading re-validates and re-translates it (the
//! module's types, imports and exports come from there, as when compiling),
//! which is fast next to compiling.
//!
//! Trust. Nothing read is believed before it is checked: every length is
//! checked against the bytes left, the checksum must match (so a truncated
//! or bit-flipped file is refused, not run), the fingerprint must equal the
//! engine's (the error names the first setting that differs), and every
//! code offset in the metadata must lie in the code, in order. What cannot
//! be checked is that the code is what Kiln compiled from the wasm: a
//! forged artifact runs any machine code it carries, which is why loading
//! one is `unsafe` (as in Wasmtime).

use anyhow::{Context as _, Result, bail, ensure};
use kiln_cranelift::{CodeMetadata, CompiledModule, ExceptionHandler, FunctionInfo, INLINED_LOCATION, InlinedLocation, StackMap};
use kiln_environ::{ModuleInfo, Trap};

pub(crate) const MAGIC: &[u8; 12] = b"\0kiln-cwasm\n";
const FORMAT_VERSION: u32 = 4;

/// An inlined location's outer call offset when it has none (no module
/// offset is this large: modules that large are compiled without
/// inlining).
const NOT_NESTED: u32 = u32::MAX;

/// Does `bytes` start like a Kiln artifact?
pub(crate) fn is_artifact(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Writes an artifact of `wasm` compiled as `compiled` (borrowed parts)
/// by an engine with `fingerprint`.
pub(crate) fn write(fingerprint: &str, wasm: &[u8], code: &[u8], funcs: &[FunctionInfo], metadata: &CodeMetadata) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(code.len() + wasm.len() + 1024));
    w.0.extend_from_slice(MAGIC);
    w.u32(FORMAT_VERSION);
    w.bytes(fingerprint.as_bytes());
    w.bytes(wasm);
    w.bytes(code);
    w.count(funcs.len());
    for f in funcs {
        w.u32(f.start);
        w.u32(f.len);
    }
    w.count(metadata.traps.len());
    for (offset, trap) in &metadata.traps {
        w.u32(*offset);
        w.0.push(*trap as u8);
    }
    w.count(metadata.address_map.len());
    for (start, end, module_offset) in &metadata.address_map {
        w.u32(*start);
        w.u32(*end);
        w.u32(*module_offset);
    }
    w.count(metadata.inlined.len());
    for l in &metadata.inlined {
        w.u32(l.offset);
        w.u32(l.call_offset);
        w.u32(l.outer_call_offset.unwrap_or(NOT_NESTED));
    }
    w.count(metadata.handlers.len());
    for h in &metadata.handlers {
        w.u32(h.return_address);
        w.u32(h.handler);
        w.u32(h.frame_offset);
    }
    w.count(metadata.stack_maps.len());
    for m in &metadata.stack_maps {
        w.u32(m.return_address);
        w.u32(m.span);
        w.count(m.offsets.len());
        for o in &m.offsets {
            w.u32(*o);
        }
    }
    w.0.push(metadata.reads_gc_heap as u8);
    let checksum = checksum(&w.0);
    w.0.extend_from_slice(&checksum.to_le_bytes());
    w.0
}

/// An artifact's parts, checked against itself but not yet against the
/// module its wasm translates to (see [`check_against_module`]).
pub(crate) struct Artifact<'a> {
    pub wasm: &'a [u8],
    pub compiled: CompiledModule,
}

/// Reads an artifact made by an engine with `fingerprint`.
pub(crate) fn read<'a>(bytes: &'a [u8], fingerprint: &str) -> Result<Artifact<'a>> {
    ensure!(is_artifact(bytes), "not a Kiln precompiled module (no `.cwasm` header)");
    ensure!(bytes.len() >= MAGIC.len() + 8, "truncated Kiln precompiled module");
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let mut r = Reader { bytes: &body[MAGIC.len()..] };
    let version = r.u32()?;
    ensure!(version == FORMAT_VERSION, "precompiled module has format version {version}; this Kiln reads version {FORMAT_VERSION}");
    let theirs = std::str::from_utf8(r.bytes()?).context("precompiled module's engine settings are not text")?;
    if u64::from_le_bytes(sum.try_into().expect("8 bytes")) != checksum(body) {
        bail!("precompiled module is corrupt (checksum mismatch): truncated or modified");
    }
    if theirs != fingerprint {
        bail!("precompiled module is incompatible with this engine: {}", first_difference(theirs, fingerprint));
    }
    let wasm = r.bytes()?;
    let code = r.bytes()?.to_vec();
    let funcs = r.list(|r| Ok(FunctionInfo { start: r.u32()?, len: r.u32()? }))?;
    let traps = r.list(|r| {
        let offset = r.u32()?;
        let code = r.u8()?;
        Ok((offset, Trap::from_u8(code).with_context(|| format!("unknown trap code {code}"))?))
    })?;
    let address_map = r.list(|r| Ok((r.u32()?, r.u32()?, r.u32()?)))?;
    let inlined = r.list(|r| {
        let (offset, call_offset, outer) = (r.u32()?, r.u32()?, r.u32()?);
        Ok(InlinedLocation { offset, call_offset, outer_call_offset: (outer != NOT_NESTED).then_some(outer) })
    })?;
    let handlers = r.list(|r| Ok(ExceptionHandler { return_address: r.u32()?, handler: r.u32()?, frame_offset: r.u32()? }))?;
    let stack_maps = r.list(|r| {
        let (return_address, span) = (r.u32()?, r.u32()?);
        Ok(StackMap { return_address, span, offsets: r.list(Reader::u32)?.into_boxed_slice() })
    })?;
    let reads_gc_heap = match r.u8()? {
        0 => false,
        1 => true,
        other => bail!("precompiled module has an invalid GC heap flag {other}"),
    };
    ensure!(r.bytes.is_empty(), "precompiled module has {} unexpected trailing bytes", r.bytes.len());
    let compiled = CompiledModule { code, funcs, metadata: CodeMetadata { traps, address_map, inlined, handlers, stack_maps, reads_gc_heap } };
    check_offsets(&compiled)?;
    Ok(Artifact { wasm, compiled })
}

/// Every code offset lies in the code, and each table is sorted as the
/// lookups (binary searches) require.
fn check_offsets(c: &CompiledModule) -> Result<()> {
    let len = c.code.len() as u64;
    let in_code = |o: u32| u64::from(o) <= len;
    let mut last_end = 0u64;
    for f in &c.funcs {
        let end = u64::from(f.start) + u64::from(f.len);
        ensure!(u64::from(f.start) >= last_end && end <= len, "precompiled module's function at {:#x} lies outside the code", f.start);
        last_end = end;
    }
    let m = &c.metadata;
    ensure!(m.traps.windows(2).all(|w| w[0].0 < w[1].0) && m.traps.iter().all(|t| in_code(t.0)), "precompiled module's trap table is malformed");
    ensure!(
        m.address_map.windows(2).all(|w| w[0].0 <= w[1].0)
            && m.address_map.iter().all(|a| a.0 <= a.1 && in_code(a.1) && a.2.checked_sub(INLINED_LOCATION).is_none_or(|k| (k as usize) < m.inlined.len())),
        "precompiled module's address map is malformed"
    );
    ensure!(
        m.handlers.windows(2).all(|w| w[0].return_address < w[1].return_address)
            && m.handlers.iter().all(|h| in_code(h.return_address) && in_code(h.handler)),
        "precompiled module's exception handler table is malformed"
    );
    ensure!(
        m.stack_maps.windows(2).all(|w| w[0].return_address < w[1].return_address)
            && m.stack_maps.iter().all(|s| in_code(s.return_address) && s.offsets.iter().all(|o| u64::from(*o) + 4 <= u64::from(s.span))),
        "precompiled module's stack maps are malformed"
    );
    Ok(())
}

/// The artifact's functions are the module's defined functions.
pub(crate) fn check_against_module(compiled: &CompiledModule, info: &ModuleInfo) -> Result<()> {
    let defined = info.funcs.len() - info.num_imported_funcs as usize;
    ensure!(compiled.funcs.len() == defined, "precompiled module has {} functions; its wasm defines {defined}", compiled.funcs.len());
    Ok(())
}

/// Names the first `key=value` setting that differs between two
/// fingerprints.
fn first_difference(theirs: &str, ours: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (theirs.split(';').collect(), ours.split(';').collect());
    for ours_pair in &b {
        let key = ours_pair.split('=').next().unwrap_or_default();
        let theirs_pair = a.iter().find(|p| p.split('=').next() == Some(key));
        match theirs_pair {
            Some(t) if t == ours_pair => continue,
            Some(t) => return format!("it was compiled with `{t}`, this engine has `{ours_pair}`"),
            None => return format!("it was compiled without a `{key}` setting, this engine has `{ours_pair}`"),
        }
    }
    "its engine settings differ from this engine's".to_string()
}

/// FNV-1a over 8-byte words, then the length: detects truncation and
/// flipped bits (not forgery) at memory speed, which matters when a cached
/// module is loaded at every start. A changed word changes the state, and
/// every later step (xor with the same words, multiplication by an odd
/// constant) is a bijection, so any one changed word changes the result.
pub(crate) fn checksum(bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x100_0000_01b3;
    let mut words = bytes.chunks_exact(8);
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for w in &mut words {
        h = (h ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(PRIME);
    }
    for b in words.remainder() {
        h = (h ^ u64::from(*b)).wrapping_mul(PRIME);
    }
    (h ^ bytes.len() as u64).wrapping_mul(PRIME)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn count(&mut self, n: usize) {
        // Counts and lengths of a compiled module fit in u32: its code
        // offsets are u32s.
        self.u32(u32::try_from(n).expect("compiled module parts are under 4 GiB"));
    }

    fn bytes(&mut self, b: &[u8]) {
        self.count(b.len());
        self.0.extend_from_slice(b);
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        ensure!(n <= self.bytes.len(), "truncated Kiln precompiled module");
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A count, then that many items. The count is checked against the
    /// bytes left (every item takes at least one), so a huge count cannot
    /// make the reader reserve memory the input does not back.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T>) -> Result<Vec<T>> {
        let n = self.u32()? as usize;
        ensure!(n <= self.bytes.len(), "truncated Kiln precompiled module");
        (0..n).map(|_| item(self)).collect()
    }
}
