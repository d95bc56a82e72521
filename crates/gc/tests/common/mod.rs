//! Shared helpers of the kiln-gc tests: a small set of types, heaps on a
//! plain byte buffer, a fixed-seed PRNG and a drop counter.

#![allow(dead_code)]

use kiln_environ::{
    GcTypeLayouts, RefRepr, StandardLayouts, WasmCompositeType, WasmFieldType, WasmHeapType, WasmRefType, WasmStorageType, WasmValType,
};
use kiln_gc::{Collector, GcHeap, GcLayout, GcTypes, HostDataTable, VMGcRef, VecMemory};
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// `(struct (field (mut anyref)))`: 16 bytes, the reference at 8.
pub const NODE: u32 = 0;
pub const NODE_NEXT: u32 = 8;
pub const NODE_SIZE: u64 = 16;
/// `(struct i64 anyref anyref i8)`: i64 at 8, references at 16 and 20.
pub const PAIR: u32 = 1;
pub const PAIR_DATA: u32 = 8;
pub const PAIR_LEFT: u32 = 16;
pub const PAIR_RIGHT: u32 = 20;
/// `(array (mut anyref))`: elements from 12.
pub const REF_ARRAY: u32 = 2;
/// `(array (mut i8))`: elements from 12.
pub const BYTE_ARRAY: u32 = 3;
/// Where an array's elements start (its length is at 8).
pub const ARRAY_ELEMS: u32 = 12;
/// `(struct)`: a header only.
pub const EMPTY: u32 = 4;
/// `(struct (field funcref))`: a 4-byte func-ref id, not traced.
pub const FUNC_FIELD: u32 = 5;

pub const ALL_COLLECTORS: [Collector; 4] = [Collector::Null, Collector::Drc, Collector::Copying, Collector::Generational];

pub fn anyref() -> WasmValType {
    WasmValType::Ref(WasmRefType { nullable: true, heap: WasmHeapType::Any })
}

pub fn field(storage: WasmStorageType) -> WasmFieldType {
    WasmFieldType { storage, mutable: true }
}

pub fn ref_repr(r: WasmRefType) -> RefRepr {
    match r.heap {
        WasmHeapType::Func | WasmHeapType::NoFunc => RefRepr::FuncRef,
        _ => RefRepr::GcRef,
    }
}

pub fn layouts() -> Vec<GcLayout> {
    let l = StandardLayouts;
    let val = WasmStorageType::Val;
    let tys = [
        WasmCompositeType::Struct(Box::new([field(val(anyref()))])),
        WasmCompositeType::Struct(Box::new([
            field(val(WasmValType::I64)),
            field(val(anyref())),
            field(val(anyref())),
            field(WasmStorageType::I8),
        ])),
        WasmCompositeType::Array(field(val(anyref()))),
        WasmCompositeType::Array(field(WasmStorageType::I8)),
        WasmCompositeType::Struct(Box::new([])),
        WasmCompositeType::Struct(Box::new([field(val(WasmValType::Ref(WasmRefType::FUNCREF)))])),
    ];
    tys.iter().map(|t| l.gc_layout(t, &ref_repr).unwrap()).collect()
}

pub fn types() -> Arc<dyn GcTypes> {
    Arc::new(layouts())
}

pub fn new_heap(collector: Collector, bytes: usize) -> Box<dyn GcHeap> {
    new_growable_heap(collector, bytes, bytes)
}

pub fn new_growable_heap(collector: Collector, bytes: usize, capacity: usize) -> Box<dyn GcHeap> {
    collector.gc_runtime().unwrap().new_gc_heap(Box::new(VecMemory::new(bytes, capacity)), types()).unwrap()
}

/// A new node whose `next` is `next` (cloned).
pub fn node(heap: &mut dyn GcHeap, host: &mut HostDataTable, next: Option<&VMGcRef>) -> VMGcRef {
    let n = heap.alloc_uninit_struct(NODE).unwrap();
    heap.write_gc_ref_field(host, &n, NODE_NEXT, next).unwrap();
    n
}

/// The reference count DRC keeps for `r` (in its side table).
pub fn count(heap: &dyn GcHeap, r: &VMGcRef) -> u32 {
    heap.ref_count(r).unwrap().unwrap()
}

/// xorshift64*: fixed-seed randomness without dependencies.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// Counts its drops.
pub struct DropCounter(pub Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn drops(c: &Arc<AtomicUsize>) -> usize {
    c.load(Ordering::SeqCst)
}

/// Each range a collector asked to prefault, with how far into it bytes
/// were already written (the last nonzero byte).
pub type PrefaultRequests = Arc<Mutex<Vec<(Range<usize>, usize)>>>;

/// A memory that records what the collector asks it to prefault.
pub struct PrefaultLog {
    pub memory: VecMemory,
    pub asked: PrefaultRequests,
}

impl kiln_gc::HeapMemory for PrefaultLog {
    fn bytes(&self) -> &[u8] {
        self.memory.bytes()
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.memory.bytes_mut()
    }
    fn grow(&mut self, new_len: usize) -> kiln_gc::Result<()> {
        self.memory.grow(new_len)
    }
    fn capacity(&self) -> usize {
        self.memory.capacity()
    }
    fn prefault(&self, range: Range<usize>) -> usize {
        let written = self.memory.bytes()[range.clone()].iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        let end = range.end;
        self.asked.lock().unwrap().push((range, written));
        end
    }
}
