//! Builtins for GC operators: allocation, subtype checks, funcref ids and
//! the array operations on segments and other arrays.
//!
//! All heap access here goes through kiln-gc's bounds-checked API, so a
//! corrupted heap yields an error (which compiled code turns into a trap)
//! and never an access outside the heap.

use super::instance::Instance;
use crate::store::StoreOpaque;
use kiln_environ::RefRepr;
use super::ValRaw;
use crate::gc::RefBarriers;
use kiln_gc::{GcArrayLayout, GcLayout, VMGcRef};

/// The instance and store behind `vmctx`.
///
/// # Safety
/// `vmctx` is the caller's live VMContext; no other reference to the store
/// is in use while Wasm calls a builtin.
unsafe fn context<'a>(vmctx: *mut u8) -> (&'a mut Instance, &'a mut StoreOpaque) {
    // SAFETY: per the contract.
    let instance = unsafe { Instance::from_vmctx(vmctx) };
    // SAFETY: the store outlives its instances; see above.
    let store = unsafe { &mut *instance.store };
    store.sync_gc_cursor_in();
    (instance, store)
}

/// The result of an allocation builtin: the reference, or 0 when the heap
/// is exhausted (compiled code traps at its own PC). Any other failure (a
/// corrupted heap, a broken frame chain) ends the activation with that
/// error.
///
/// # Safety
/// Called only by builtins reached through an exit trampoline, whose own
/// frames own nothing.
unsafe fn allocation_result(store: &mut StoreOpaque, result: anyhow::Result<VMGcRef>) -> u32 {
    // The new object's count goes to Wasm's stack (DRC's root log).
    let result = result.and_then(|r| RefBarriers::of(&mut store.gc).expose_owned(r.as_raw_u32()).map(|()| r));
    match result {
        Ok(r) => r.as_raw_u32(),
        Err(e) if e.downcast_ref::<crate::Trap>() == Some(&crate::Trap::GcHeapOutOfMemory) => 0,
        // SAFETY: per the contract.
        Err(e) => unsafe { super::traphandlers::raise_error(e) },
    }
}

pub extern "C" fn gc_alloc_struct(vmctx: *mut u8, type_id: u32, _fp: usize) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    let result = store.gc_alloc(|heap| heap.alloc_uninit_struct(type_id));
    // SAFETY: reached through its exit trampoline; nothing here owns data.
    unsafe { allocation_result(store, result) }
}

pub extern "C" fn gc_alloc_array(vmctx: *mut u8, type_id: u32, len: u32, _fp: usize) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    let result = store.gc_alloc(|heap| heap.alloc_uninit_array(type_id, len));
    // SAFETY: as in `gc_alloc_struct`.
    unsafe { allocation_result(store, result) }
}

pub extern "C" fn func_ref_to_id(vmctx: *mut u8, func_ref: usize) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    store.func_ref_id(func_ref)
}

pub extern "C" fn func_ref_from_id(vmctx: *mut u8, id: u32, expected_type: u32) -> usize {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    let expected = (expected_type != kiln_environ::ANY_FUNC_TYPE).then_some(expected_type);
    store.func_ref_by_id(id, expected).unwrap_or(kiln_environ::BAD_FUNC_REF as usize)
}

impl StoreOpaque {
    /// The id under which a GC object stores `func_ref` (0 for null).
    /// Only called to write into an object, so the heap exists.
    pub(crate) fn func_ref_id(&mut self, func_ref: usize) -> u32 {
        self.gc.as_mut().expect("a GC object to store the id in exists").func_refs.id_of(func_ref)
    }

    /// The funcref a GC object's field holds as `id`, checked: the id must
    /// name a function of this store, whose type is a subtype of engine
    /// type `expected` (if given).
    pub(crate) fn func_ref_by_id(&self, id: u32, expected: Option<u32>) -> Result<usize, crate::gc::BadFuncRefId> {
        let func_ref = self.gc.as_ref().ok_or(crate::gc::BadFuncRefId(id))?.func_refs.get(id)?;
        if let Some(expected) = expected
            && func_ref != 0
        {
            // SAFETY: ids are handed out only for funcrefs of this store
            // (compiled code's values, const expressions, segments), and
            // those live as long as the store.
            let actual = unsafe { (*(func_ref as *const super::VMFuncRef)).type_id };
            if actual != expected && !self.engine().inner.types.is_subtype(actual, expected) {
                return Err(crate::gc::BadFuncRefId(id));
            }
        }
        Ok(func_ref)
    }

    /// The layout and length of array `r`, from the type in its header.
    fn array_layout_of(&self, r: &VMGcRef) -> Option<(GcArrayLayout, u32)> {
        let gc = self.gc.as_ref()?;
        let header = gc.heap.header(r).ok()?;
        let len = gc.heap.array_len(r).ok()?;
        match crate::gc::engine_gc_layout(self.engine(), header.type_index())? {
            GcLayout::Array(layout) => Some((layout, len)),
            GcLayout::Struct(_) => None,
        }
    }

    /// Array `array`, its layout, and whether `[dst, dst + len)` is in its
    /// bounds: the common start of the array builtins.
    fn array_destination(&self, array: u32, dst: u32, len: u32) -> Result<(VMGcRef, GcArrayLayout), u8> {
        let r = VMGcRef::from_raw_u32(array).ok_or(ARRAY_OOB)?;
        let (layout, array_len) = self.array_layout_of(&r).ok_or(ARRAY_OOB)?;
        if !in_bounds(dst, len, array_len.into()) {
            return Err(ARRAY_OOB);
        }
        Ok((r, layout))
    }

    /// Writes `bytes` at element `dst` of array `r`. References (borrowed)
    /// go through the write barrier one by one when the collector counts
    /// them, and through `record_ref_write` once otherwise.
    pub(crate) fn write_elements(&mut self, r: &VMGcRef, layout: &GcArrayLayout, dst: u32, bytes: &[u8]) -> u8 {
        let gc = self.gc.as_mut().expect("arrays exist only in an existing heap");
        if layout.elems_are_gc_refs && gc.heap.counts_references() {
            let crate::gc::GcStore { heap, host_data, .. } = gc;
            for (i, raw) in bytes.chunks_exact(4).enumerate() {
                let raw = u32::from_le_bytes(raw.try_into().expect("4 bytes"));
                let Ok(offset) = u32::try_from(layout.elem_offset(dst + i as u32)) else { return ARRAY_OOB };
                if heap.write_gc_ref_field(host_data, r, offset, VMGcRef::from_raw_u32(raw).as_ref()).is_err() {
                    return ARRAY_OOB;
                }
            }
            return OK;
        }
        match u32::try_from(layout.elem_offset(dst)).ok().and_then(|o| gc.heap.write_data(r, o, bytes).ok()) {
            // References written in bulk: the generational write barrier.
            Some(()) if layout.elems_are_gc_refs => match gc.heap.record_ref_write(r) {
                Ok(()) => OK,
                Err(_) => ARRAY_OOB,
            },
            Some(()) => OK,
            None => ARRAY_OOB,
        }
    }

    /// Writes `len` copies of the element bytes `one` from element `dst`
    /// of array `r` (through `write_elements`, so references get their
    /// barriers), a bounded chunk at a time: nothing proportional to the
    /// guest's length is allocated on the host.
    pub(crate) fn fill_elements(&mut self, r: &VMGcRef, layout: &GcArrayLayout, dst: u32, one: &[u8], len: u32) -> u8 {
        const CHUNK_ELEMS: u32 = 4096;
        let chunk = one.repeat(CHUNK_ELEMS.min(len) as usize);
        let mut done = 0;
        while done < len {
            let n = CHUNK_ELEMS.min(len - done);
            let status = self.write_elements(r, layout, dst + done, &chunk[..n as usize * one.len()]);
            if status != OK {
                return status;
            }
            done += n;
        }
        OK
    }
}

/// Status codes of the array builtins (see `checked_array_builtin` in the
/// compiler): 0 ok, 1 array out of bounds, 2 segment out of bounds.
pub(crate) const OK: u8 = 0;
const ARRAY_OOB: u8 = 1;
const SEGMENT_OOB: u8 = 2;

fn in_bounds(start: u32, len: u32, size: u64) -> bool {
    u64::from(start) + u64::from(len) <= size
}

pub extern "C" fn array_init_data(vmctx: *mut u8, array: u32, dst: u32, data: u32, src: u32, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (instance, store) = unsafe { context(vmctx) };
    let (r, layout) = match store.array_destination(array, dst, len) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let segment: &[u8] = if instance.dropped_data[data as usize] {
        &[]
    } else {
        &instance.module.wasm()[instance.module.info().data[data as usize].bytes.clone()]
    };
    let bytes = u64::from(len) * u64::from(layout.elem_size);
    let src_end = u64::from(src) + bytes;
    if src_end > segment.len() as u64 {
        return SEGMENT_OOB;
    }
    store.write_elements(&r, &layout, dst, &segment[src as usize..src_end as usize])
}

pub extern "C" fn array_init_elem(vmctx: *mut u8, array: u32, dst: u32, elem: u32, src: u32, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (instance, store) = unsafe { context(vmctx) };
    let (r, layout) = match store.array_destination(array, dst, len) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let items = &instance.elements[elem as usize];
    if !in_bounds(src, len, items.len() as u64) {
        return SEGMENT_OOB;
    }
    let is_func = !layout.elems_are_gc_refs && layout.elem_size == 4 && instance_elem_is_func(instance, elem);
    let mut bytes = Vec::with_capacity(len as usize * 4);
    for raw in &items[src as usize..(src + len) as usize] {
        let v = if is_func { store.func_ref_id(*raw as usize) } else { *raw as u32 };
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    store.write_elements(&r, &layout, dst, &bytes)
}

/// Does element segment `elem` hold funcrefs (pointers) rather than GC
/// references?
fn instance_elem_is_func(instance: &Instance, elem: u32) -> bool {
    let info = instance.module.info();
    info.ref_repr(info.elems[elem as usize].ty) == RefRepr::FuncRef
}

/// `array.fill` of numbers, at `memset` speed.
pub extern "C" fn array_fill(vmctx: *mut u8, array: u32, dst: u32, bits: u64, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    let (r, layout) = match store.array_destination(array, dst, len) {
        Ok(x) => x,
        Err(status) => return status,
    };
    let size = layout.elem_size as usize;
    if layout.elems_are_gc_refs || size > 8 {
        // Compiled code fills these with its own loop.
        return ARRAY_OOB;
    }
    store.fill_elements(&r, &layout, dst, &bits.to_le_bytes()[..size], len)
}

pub extern "C" fn array_copy(vmctx: *mut u8, dst: u32, dst_index: u32, src: u32, src_index: u32, len: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (_, store) = unsafe { context(vmctx) };
    let ((d, layout), (s, _)) = match (store.array_destination(dst, dst_index, len), store.array_destination(src, src_index, len)) {
        (Ok(d), Ok(s)) => (d, s),
        _ => return ARRAY_OOB,
    };
    let gc = store.gc.as_mut().expect("arrays exist only in an existing heap");
    let (Ok(dst_off), Ok(src_off), Ok(bytes)) = (
        u32::try_from(layout.elem_offset(dst_index)),
        u32::try_from(layout.elem_offset(src_index)),
        u32::try_from(u64::from(len) * u64::from(layout.elem_size)),
    ) else {
        return ARRAY_OOB;
    };
    if !(layout.elems_are_gc_refs && gc.heap.counts_references()) {
        // Plain bytes: one `memmove` inside the heap, then the generational
        // write barrier if they were references.
        let copied = gc.heap.copy_data(&d, dst_off, &s, src_off, bytes);
        let recorded = if layout.elems_are_gc_refs { copied.and_then(|()| gc.heap.record_ref_write(&d)) } else { copied };
        return if recorded.is_ok() { OK } else { ARRAY_OOB };
    }
    // Counted references go through the barrier one by one, a bounded
    // chunk at a time (nothing proportional to the guest's length is
    // allocated on the host), back to front when the ranges overlap that
    // way (`memmove` semantics within one array).
    const CHUNK_ELEMS: u32 = 16 * 1024;
    let backward = d.as_raw_u32() == s.as_raw_u32() && dst_index > src_index;
    let chunks = len.div_ceil(CHUNK_ELEMS);
    for k in 0..chunks {
        let chunk = if backward { chunks - 1 - k } else { k };
        let first = chunk * CHUNK_ELEMS;
        let n = CHUNK_ELEMS.min(len - first);
        let gc = store.gc.as_ref().expect("arrays exist only in an existing heap");
        let (Ok(src_off), Ok(bytes)) = (u32::try_from(layout.elem_offset(src_index + first)), u32::try_from(u64::from(n) * u64::from(layout.elem_size))) else {
            return ARRAY_OOB;
        };
        let Ok(data) = gc.heap.read_data(&s, src_off, bytes).map(<[u8]>::to_vec) else { return ARRAY_OOB };
        let status = store.write_elements(&d, &layout, dst_index + first, &data);
        if status != OK {
            return status;
        }
    }
    OK
}

impl StoreOpaque {
    /// The layout of exceptions with tag instance `tag`, its type id and
    /// its payload types.
    pub(crate) fn exception_layout(&self, tag: usize) -> Option<(kiln_gc::GcStructLayout, u32, Vec<kiln_environ::WasmValType>)> {
        let type_id = *self.tags.get(tag)?;
        let GcLayout::Struct(layout) = crate::gc::engine_gc_layout(self.engine(), type_id)? else { return None };
        let ty = self.engine().inner.types.try_get(type_id)?;
        let kiln_environ::WasmCompositeType::Func(f) = &ty.composite else { return None };
        Some((layout, type_id, f.params.to_vec()))
    }

    /// The engine type a funcref of value type `t` must have, if `t` is a
    /// function reference type: `Some(None)` for abstract `func`.
    fn func_ref_expectation(&self, t: kiln_environ::WasmValType) -> Option<Option<u32>> {
        let kiln_environ::WasmValType::Ref(r) = t else { return None };
        if r.repr(&self.engine().inner.types) != RefRepr::FuncRef {
            return None;
        }
        Some(match r.heap {
            kiln_environ::WasmHeapType::Concrete(id) => Some(id),
            _ => None,
        })
    }
}

/// An exception object: the tag instance in field 0, the payload after
/// (see `gc_layout::exception_layout`). It lives in the GC heap, so the
/// collector reclaims it like any object. Called through an exit
/// trampoline: the allocation may collect.
pub extern "C" fn new_exception(vmctx: *mut u8, tag: u32, payload: *const ValRaw) -> u32 {
    // SAFETY: called by compiled code with its own vmctx.
    let (instance, store) = unsafe { context(vmctx) };
    // SAFETY: compiled code passes one slot per tag parameter.
    let result = unsafe { new_exception_in(store, instance.tags[tag as usize], payload) };
    // SAFETY: reached through its exit trampoline; `result` is all this
    // frame owns, and it is consumed.
    unsafe { allocation_result(store, result) }
}

/// A new exception with tag instance `tag` (an index of the store's
/// tags) and the payload at `payload` (one slot per tag parameter; GC
/// references borrowed, funcrefs as `VMFuncRef` addresses). The result
/// holds the allocation's count.
///
/// # Safety
/// `payload` points to one initialised slot per parameter of the tag's
/// type.
pub(crate) unsafe fn new_exception_in(store: &mut StoreOpaque, tag: usize, payload: *const ValRaw) -> anyhow::Result<VMGcRef> {
    let (layout, type_id, params) = store.exception_layout(tag).ok_or_else(|| anyhow::anyhow!("exception tag {tag} has no layout"))?;
    // SAFETY: per the contract.
    let mut payload = unsafe { std::slice::from_raw_parts(payload, params.len()) }.to_vec();
    // The payload sits in a frame slot no stack map lists: its references
    // are rooted while the allocation may collect (and move them).
    let types = &store.engine().inner.types;
    let gc_values: Vec<usize> = params.iter().enumerate().filter(|(_, t)| t.is_gc_heap_ref(types)).map(|(i, _)| i).collect();
    let mut refs: Vec<u32> = gc_values.iter().map(|i| payload[*i].u32()).collect();
    let header = kiln_gc::VMGcHeader::new(kiln_gc::VMGcKind::ExnRef, type_id);
    let r = store.with_roots(&mut refs, |store| store.gc_alloc(|heap| heap.alloc_raw(header, layout.size)))?;
    for (i, raw) in gc_values.into_iter().zip(&refs) {
        payload[i] = ValRaw::from_u32(*raw);
    }
    // The object's fields are counted slots; the payload's references are
    // borrowed from Wasm's stack.
    let mut b = RefBarriers::of(&mut store.gc);
    for raw in &refs {
        b.clone_ref(*raw)?;
    }
    let mut bytes = vec![0u8; layout.size as usize];
    bytes[layout.fields[0].offset as usize..][..4].copy_from_slice(&(tag as u32).to_le_bytes());
    for ((field, t), v) in layout.fields[1..].iter().zip(&params).zip(&payload) {
        let raw = match store.func_ref_expectation(*t) {
            Some(_) => ValRaw::from_u32(store.func_ref_id(v.u64() as usize)),
            None => *v,
        };
        bytes[field.offset as usize..][..field.size as usize].copy_from_slice(&raw.0[..field.size as usize]);
    }
    let body = kiln_environ::gc_layout::HEADER_SIZE;
    store.gc_store()?.heap.write_data(&r, body, &bytes[body as usize..])?;
    Ok(r)
}

/// The tag instance an exception was thrown with.
pub(crate) fn exception_tag(store: &StoreOpaque, exn: u32) -> Option<(VMGcRef, u32)> {
    let r = VMGcRef::from_raw_u32(exn)?;
    let gc = store.gc.as_ref()?;
    let header = gc.heap.header(&r).ok()?;
    let GcLayout::Struct(layout) = crate::gc::engine_gc_layout(store.engine(), header.type_index())? else { return None };
    let bytes = gc.heap.read_data(&r, layout.fields.first()?.offset, 4).ok()?;
    Some((r, u32::from_le_bytes(bytes.try_into().ok()?)))
}

pub extern "C" fn exception_matches(vmctx: *mut u8, exn: u32, tag: u32) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (instance, store) = unsafe { context(vmctx) };
    exception_tag(store, exn).is_some_and(|(_, t)| t as usize == instance.tags[tag as usize]) as u8
}

pub extern "C" fn exception_payload(vmctx: *mut u8, exn: u32, tag: u32, out: *mut ValRaw) -> u8 {
    // SAFETY: called by compiled code with its own vmctx.
    let (instance, store) = unsafe { context(vmctx) };
    let Some((layout, _, params)) = store.exception_layout(instance.tags[tag as usize]) else { return 1 };
    // SAFETY: compiled code passes an array with one slot per payload
    // value of `tag`. Every slot is initialised first: compiled code loads
    // them all, and a garbage reference must never reach a stack map.
    let out = unsafe {
        std::ptr::write_bytes(out, 0, params.len());
        std::slice::from_raw_parts_mut(out, params.len())
    };
    let Some((r, _)) = exception_tag(store, exn) else { return 1 };
    for ((field, t), slot) in layout.fields[1..].iter().zip(&params).zip(out.iter_mut()) {
        let gc = store.gc.as_ref().expect("exceptions live in the heap");
        let Ok(bytes) = gc.heap.read_data(&r, field.offset, field.size) else { return 1 };
        let mut raw = ValRaw::default();
        raw.0[..bytes.len()].copy_from_slice(bytes);
        if let Some(expected) = store.func_ref_expectation(*t) {
            let Ok(func_ref) = store.func_ref_by_id(raw.u32(), expected) else { return 0 };
            raw = ValRaw::from_u64(func_ref as u64);
        } else if t.is_gc_heap_ref(&store.engine.inner.types) && RefBarriers::of(&mut store.gc).expose(raw.u32()).is_err() {
            // A corrupted heap: the reference stays null.
            continue;
        }
        *slot = raw;
    }
    1
}

#[cfg(test)]
mod tests {
    use crate::{AsContextMut, Engine, Linker, Module, Store};

    /// Function ids read from the heap are untrusted: an id never handed
    /// out, or one naming a function of another type than the field's, is
    /// refused (compiled code then traps with `Trap::BadGcFuncRef`).
    #[test]
    fn function_ids_from_the_heap_are_checked() {
        let engine = Engine::default();
        let module = Module::new(&engine, r#"(module (func (export "a") (result i32) i32.const 1) (func (export "b") (param i32)))"#).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let a = instance.get_func(&mut store, "a").unwrap();
        let b = instance.get_func(&mut store, "b").unwrap();
        let mut cx = store.as_context_mut();
        let (a_ref, a_ty, b_ty) = (a.func_ref_addr(&cx), a.type_id(&cx), b.type_id(&cx));
        cx.gc_store().unwrap();
        let id = cx.func_ref_id(a_ref);
        assert_eq!(cx.func_ref_by_id(id, Some(a_ty)), Ok(a_ref));
        assert_eq!(cx.func_ref_by_id(id, None), Ok(a_ref), "abstract `func` fields take any function");
        assert!(cx.func_ref_by_id(id, Some(b_ty)).is_err(), "a function of another type");
        assert!(cx.func_ref_by_id(id + 1, None).is_err(), "an id never handed out");
        assert!(cx.func_ref_by_id(u32::MAX, Some(a_ty)).is_err(), "an out-of-range id");
        assert_eq!(cx.func_ref_by_id(0, Some(b_ty)), Ok(0), "id 0 is null");
    }

    /// Compiled code checks array indices against the length in the heap
    /// and against the most elements any array can have, not against the
    /// heap's bound (`array_elem_addr`): with a corrupted length, indices
    /// past the heap must trap (a fault in the reservation's inaccessible
    /// part, or the length limit), for reads and writes, on every
    /// collector, and never crash the host.
    #[test]
    fn a_corrupted_array_length_cannot_reach_outside_the_heap() {
        const MAGIC: u32 = 0x5eed_5eed;
        for collector in [crate::Collector::Copying, crate::Collector::Generational, crate::Collector::Drc, crate::Collector::Null] {
            let mut config = crate::Config::new();
            config.collector(collector);
            let engine = Engine::new(&config).unwrap();
            let wat = format!(
                r#"(module
                    (type $a (array (mut i32)))
                    (global $g (mut (ref null $a)) (ref.null $a))
                    (func (export "make") (global.set $g (array.new $a (i32.const {MAGIC}) (i32.const 4))))
                    (func (export "get") (param i32) (result i32) (array.get $a (global.get $g) (local.get 0)))
                    (func (export "set") (param i32) (array.set $a (global.get $g) (local.get 0) (i32.const 7))))"#
            );
            let module = Module::new(&engine, &wat).unwrap();
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            instance.get_typed_func::<(), ()>(&mut store, "make").unwrap().call(&mut store, ()).unwrap();
            let get = instance.get_typed_func::<u32, u32>(&mut store, "get").unwrap();
            let set = instance.get_typed_func::<u32, ()>(&mut store, "set").unwrap();
            assert_eq!(get.call(&mut store, 3).unwrap(), MAGIC);
            assert!(get.call(&mut store, 4).is_err(), "{collector:?}: past the real length");

            // The length is the word before the four elements.
            let mut cx = store.as_context_mut();
            let bytes = cx.gc_store().unwrap().heap.memory_mut().bytes_mut();
            let elems: Vec<u8> = std::iter::repeat_n(MAGIC.to_le_bytes(), 4).flatten().collect();
            let at = bytes.windows(16).position(|w| w == elems).expect("the array's elements");
            bytes[at - 4..at].copy_from_slice(&u32::MAX.to_le_bytes());

            for index in [1 << 28, 1 << 30, u32::MAX - 1] {
                let e = get.call(&mut store, index).expect_err("an index past the heap");
                assert!(e.downcast_ref::<crate::Trap>().is_some(), "{collector:?}, get {index}: {e:?}");
                let e = set.call(&mut store, index).expect_err("an index past the heap");
                assert!(e.downcast_ref::<crate::Trap>().is_some(), "{collector:?}, set {index}: {e:?}");
            }
        }
    }
}
