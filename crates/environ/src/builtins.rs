//! Built-in functions (libcalls) that compiled code calls through the
//! VMContext's builtins table. Their order here is their index in that
//! table; the runtime fills the table in the same order.
//!
//! Every builtin takes the caller's vmctx first. Those that can fail return
//! a flag and the *compiled code* raises the trap, so traps always happen at
//! a Wasm PC with a Wasm backtrace, never inside Rust.

/// A parameter or result type of a builtin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinType {
    I8,
    I32,
    I64,
    Ptr,
}

macro_rules! builtins {
    ($( $(#[$doc:meta])* $name:ident ( $($param:ident),* ) $(-> $result:ident)? ; )*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(non_camel_case_types)]
        pub enum Builtin { $( $(#[$doc])* $name, )* }

        impl Builtin {
            pub const ALL: &'static [Builtin] = &[ $( Builtin::$name, )* ];

            /// Parameter types, after the leading vmctx.
            pub fn params(self) -> &'static [BuiltinType] {
                match self { $( Builtin::$name => &[ $(BuiltinType::$param),* ], )* }
            }

            pub fn result(self) -> Option<BuiltinType> {
                match self { $( Builtin::$name => { None $(.or(Some(BuiltinType::$result)))? } )* }
            }

            pub fn index(self) -> u32 {
                self as u32
            }

            pub fn name(self) -> &'static str {
                match self { $( Builtin::$name => stringify!($name), )* }
            }

            /// The builtins that may allocate, and so collect: compiled code
            /// calls them through an exit trampoline, which records the exit
            /// frame (a collection walks the Wasm frames from there) and
            /// preserves every register (`CallConv::PreserveAll`), so an
            /// allocation's cold slow path does not make the hot code around
            /// it keep its values in callee-saved registers or stack slots.
            /// Their I32 result comes back through the store context
            /// (`store_context::BUILTIN_RESULT`): that convention has no
            /// return registers.
            pub fn has_exit_trampoline(self) -> bool {
                matches!(self, Builtin::gc_alloc_struct | Builtin::gc_alloc_array | Builtin::new_exception)
            }
        }
    };
}

/// `func_ref_from_id`'s expected type for fields of abstract type `func`.
pub const ANY_FUNC_TYPE: u32 = u32::MAX;
/// `func_ref_from_id`'s answer for an id it refuses: odd, so never the
/// address of a `VMFuncRef`.
pub const BAD_FUNC_REF: u64 = 1;

builtins! {
    /// (memory, delta pages) -> old size in pages, or -1.
    memory_grow(I32, I64) -> I64;
    /// (memory, dst, byte, len) -> ok.
    memory_fill(I32, I64, I32, I64) -> I8;
    /// (dst memory, dst, src memory, src, len) -> ok.
    memory_copy(I32, I64, I32, I64, I64) -> I8;
    /// (memory, data segment, dst, src, len) -> ok.
    memory_init(I32, I32, I64, I32, I32) -> I8;
    /// (data segment).
    data_drop(I32);
    /// (table, delta, init element) -> old size, or -1.
    table_grow(I32, I64, I64) -> I64;
    /// (table, dst, element, len) -> ok.
    table_fill(I32, I64, I64, I64) -> I8;
    /// (dst table, src table, dst, src, len) -> ok.
    table_copy(I32, I32, I64, I64, I64) -> I8;
    /// (table, elem segment, dst, src, len) -> ok.
    table_init(I32, I32, I64, I32, I32) -> I8;
    /// (elem segment).
    elem_drop(I32);
    /// Unwinds to the innermost host entry with the error a host function
    /// left in the thread's call state. Never returns.
    raise();
    /// (tag, payload array) -> exnref of a new exception.
    new_exception(I32, Ptr) -> I32;
    /// (exnref, tag) -> whether the exception's tag is this instance's tag.
    exception_matches(I32, I32) -> I8;
    /// (exnref, tag, payload array) -> ok: copies the payload of the
    /// exception, whose tag is this instance's `tag`, out. Every slot is
    /// written, with null or zero where the payload cannot be read; not ok
    /// when a function reference in it is invalid (compiled code traps).
    exception_payload(I32, I32, Ptr) -> I8;
    /// (exnref, frame pointer of the throwing function): delivers the
    /// exception to the nearest enclosing handler among the callers, or
    /// ends the activation with an uncaught exception. Never returns.
    unwind_exception(I32, Ptr);
    /// (engine struct type id, frame pointer) -> a new struct with every
    /// field zero, or 0 if the heap is exhausted (compiled code traps).
    gc_alloc_struct(I32, Ptr) -> I32;
    /// (engine array type id, length, frame pointer) -> a new array of
    /// zero elements, or 0 if the heap is exhausted. Compiled code has
    /// already checked that the size fits.
    gc_alloc_array(I32, I32, Ptr) -> I32;
    /// (funcref) -> its id in the store's function table, for storing in
    /// a GC object (objects never hold pointers).
    func_ref_to_id(Ptr) -> I32;
    /// (func id, expected engine type id or `ANY_FUNC_TYPE`) -> the
    /// funcref (null for id 0), or `BAD_FUNC_REF` when the id names no
    /// function of the store or one whose type is not a subtype of the
    /// expected one (compiled code traps).
    func_ref_from_id(I32, I32) -> Ptr;
    /// (array, dst, data segment, src, len) -> ok (traps: memory bounds).
    array_init_data(I32, I32, I32, I32, I32) -> I8;
    /// (array, dst, elem segment, src, len) -> ok (traps: table bounds).
    array_init_elem(I32, I32, I32, I32, I32) -> I8;
    /// (dst array, dst, src array, src, len) -> ok (traps: array bounds).
    array_copy(I32, I32, I32, I32, I32) -> I8;
    /// (data segment) -> its length in bytes (0 once dropped).
    data_segment_len(I32) -> I32;
    /// (elem segment) -> its length in elements (0 once dropped).
    elem_segment_len(I32) -> I32;
    /// (array, dst, element bits, len) -> ok (traps: array bounds): fills a
    /// range of an array of numbers of at most 8 bytes at `memset` speed.
    array_fill(I32, I32, I64, I32) -> I8;
    /// (native address in a shared memory, expected, timeout in ns or
    /// negative for none) -> `WAIT_*`: blocks until notified, unless the
    /// 32-bit value there is not `expected`.
    memory_atomic_wait32(Ptr, I32, I64) -> I32;
    /// The same for a 64-bit value.
    memory_atomic_wait64(Ptr, I64, I64) -> I32;
    /// (native address in a shared memory, count) -> how many waiters on
    /// that address were woken (at most `count`).
    memory_atomic_notify(Ptr, I32) -> I32;
}

/// `memory.atomic.wait`'s results, as Wasm sees them.
pub const WAIT_OK: i32 = 0;
pub const WAIT_NOT_EQUAL: i32 = 1;
pub const WAIT_TIMED_OUT: i32 = 2;
/// Not a Wasm result: the store's epoch deadline passed during the wait,
/// and compiled code traps with `Trap::Interrupt`.
pub const WAIT_INTERRUPTED: i32 = 3;
