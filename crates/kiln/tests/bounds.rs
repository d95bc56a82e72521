//! Linear-memory bounds at every boundary, in both bounds-check modes.
//!
//! Each behaviour is written once as a function taking the mode; the
//! `for_both_modes!` list at the bottom turns each into a test in module
//! `guard_pages` and one in module `explicit`.

use kiln::*;

const PAGE: u32 = 65536;

/// One page of memory and an accessor per access width and static offset.
/// Every `load*` takes the dynamic index; every `store*` takes the index and
/// the value.
const MEMORY: &str = r#"(module
    (memory (export "mem") 1)
    (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
    (func (export "load16") (param i32) (result i32) (i32.load16_u (local.get 0)))
    (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
    (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))
    (func (export "store8") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
    (func (export "store32") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
    (func (export "store64") (param i32 i64) (i64.store (local.get 0) (local.get 1)))
    (func (export "load8_offset_65535") (param i32) (result i32) (i32.load8_u offset=65535 (local.get 0)))
    (func (export "load32_offset_65532") (param i32) (result i32) (i32.load offset=65532 (local.get 0)))
    (func (export "load8_offset_max") (param i32) (result i32) (i32.load8_u offset=0xFFFFFFFF (local.get 0)))
    (func (export "load64_offset_max") (param i32) (result i64) (i64.load offset=0xFFFFFFFF (local.get 0)))
    (func (export "store8_offset_max") (param i32 i32) (i32.store8 offset=0xFFFFFFFF (local.get 0) (local.get 1)))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
    (func (export "size") (result i32) memory.size))"#;

struct Fixture {
    store: Store<()>,
    instance: Instance,
}

impl Fixture {
    fn new(checks: BoundsChecks, wat: &str) -> Fixture {
        let engine = Engine::new(Config::new().bounds_checks(checks)).unwrap();
        let module = Module::new(&engine, wat).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        Fixture { store, instance }
    }

    fn memory(checks: BoundsChecks) -> Fixture {
        Fixture::new(checks, MEMORY)
    }

    /// Calls `name`; an i32 index is passed as its bit pattern.
    fn call(&mut self, name: &str, args: &[Val]) -> Result<Option<Val>> {
        let func = self.instance.get_func(&mut self.store, name).unwrap_or_else(|| panic!("no export {name}"));
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        func.call(&mut self.store, args, &mut results)?;
        Ok(results.first().copied())
    }

    /// Loads through `name` at `index`, returning the value zero-extended.
    fn load(&mut self, name: &str, index: u32) -> Result<u64> {
        Ok(match self.call(name, &[Val::I32(index as i32)])?.unwrap() {
            Val::I32(v) => v as u32 as u64,
            Val::I64(v) => v as u64,
            other => panic!("unexpected {other:?}"),
        })
    }

    fn store(&mut self, name: &str, index: u32, value: Val) -> Result<()> {
        self.call(name, &[Val::I32(index as i32), value]).map(|_| ())
    }

    fn mem(&mut self) -> Memory {
        self.instance.get_memory(&mut self.store, "mem").unwrap()
    }

    fn bytes(&mut self) -> &mut [u8] {
        let mem = self.mem();
        mem.data_mut(&mut self.store)
    }
}

#[track_caller]
fn assert_oob<T: std::fmt::Debug>(what: &str, result: Result<T>) {
    match result {
        Ok(v) => panic!("{what}: expected an out of bounds trap, got {v:?}"),
        Err(err) => {
            assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::MemoryOutOfBounds), "{what}: {err:?}");
            assert_eq!(err.root_cause().to_string(), "out of bounds memory access");
        }
    }
}

fn last_valid_byte_is_readable(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.bytes()[PAGE as usize - 1] = 0xAB;
    assert_eq!(m.load("load8", PAGE - 1).unwrap(), 0xAB);
}

fn last_valid_byte_is_writable(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.store("store8", PAGE - 1, Val::I32(0xCD)).unwrap();
    assert_eq!(m.bytes()[PAGE as usize - 1], 0xCD);
}

fn first_invalid_byte_traps_on_load(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 at 65536", m.load("load8", PAGE));
}

fn first_invalid_byte_traps_on_store(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("store8 at 65536", m.store("store8", PAGE, Val::I32(1)));
}

fn widest_loads_ending_at_the_last_byte_succeed(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.bytes()[PAGE as usize - 8..].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(m.load("load16", PAGE - 2).unwrap(), 0x0807);
    assert_eq!(m.load("load32", PAGE - 4).unwrap(), 0x0807_0605);
    assert_eq!(m.load("load64", PAGE - 8).unwrap(), 0x0807_0605_0403_0201);
}

fn i32_load_straddling_the_end_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    for index in PAGE - 3..=PAGE {
        assert_oob(&format!("load32 at {index}"), m.load("load32", index));
    }
}

fn i64_load_straddling_the_end_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    for index in PAGE - 7..=PAGE {
        assert_oob(&format!("load64 at {index}"), m.load("load64", index));
    }
}

fn i64_store_straddling_the_end_traps_and_writes_nothing(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    for index in PAGE - 7..=PAGE - 1 {
        assert_oob(&format!("store64 at {index}"), m.store("store64", index, Val::I64(-1)));
    }
    assert!(m.bytes()[PAGE as usize - 8..].iter().all(|b| *b == 0), "a trapping store wrote {:?}", &m.bytes()[PAGE as usize - 8..]);
}

fn static_offset_reaching_the_last_byte_succeeds(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.bytes()[PAGE as usize - 1] = 7;
    assert_eq!(m.load("load8_offset_65535", 0).unwrap(), 7);
    assert_eq!(m.load("load32_offset_65532", 0).unwrap(), 7 << 24);
}

fn static_offset_plus_index_past_the_end_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 offset=65535 at 1", m.load("load8_offset_65535", 1));
    assert_oob("load32 offset=65532 at 1", m.load("load32_offset_65532", 1));
}

fn offset_max_with_index_zero_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 offset=0xFFFFFFFF at 0", m.load("load8_offset_max", 0));
    assert_oob("load64 offset=0xFFFFFFFF at 0", m.load("load64_offset_max", 0));
}

/// `1 + 0xFFFF_FFFF` is `2^32`: computed in 32 bits it would wrap to 0,
/// a valid address.
fn offset_max_with_index_one_traps_instead_of_wrapping(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.bytes()[0] = 0x5A;
    assert_oob("load8 offset=0xFFFFFFFF at 1", m.load("load8_offset_max", 1));
    assert_oob("load64 offset=0xFFFFFFFF at 1", m.load("load64_offset_max", 1));
    assert_oob("store8 offset=0xFFFFFFFF at 1", m.store("store8_offset_max", 1, Val::I32(0)));
    assert_eq!(m.bytes()[0], 0x5A);
}

fn index_max_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 at 0xFFFFFFFF", m.load("load8", u32::MAX));
    assert_oob("load64 at 0xFFFFFFFF", m.load("load64", u32::MAX));
    assert_oob("store8 at 0xFFFFFFFF", m.store("store8", u32::MAX, Val::I32(0)));
}

fn index_max_with_offset_max_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 offset=0xFFFFFFFF at 0xFFFFFFFF", m.load("load8_offset_max", u32::MAX));
    assert_oob("load64 offset=0xFFFFFFFF at 0xFFFFFFFF", m.load("load64_offset_max", u32::MAX));
}

/// Indices are unsigned: one with the top bit set must not be
/// sign-extended into an address below the memory.
fn index_with_the_sign_bit_set_traps(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    for index in [0x8000_0000, 0x8000_0001, 0xFFFF_0000, 0xFFFF_FFF8] {
        assert_oob(&format!("load64 at {index:#x}"), m.load("load64", index));
    }
}

fn empty_memory_traps_at_index_zero(checks: BoundsChecks) {
    let mut m = Fixture::new(checks, r#"(module (memory 0) (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#);
    assert_oob("load8 at 0 of an empty memory", m.load("load8", 0));
}

fn memory_grow_makes_the_new_region_accessible(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    assert_oob("load8 at 65536 before growing", m.load("load8", PAGE));
    assert_eq!(m.call("grow", &[Val::I32(1)]).unwrap().unwrap().unwrap_i32(), 1);
    assert_eq!(m.call("size", &[]).unwrap().unwrap().unwrap_i32(), 2);
    assert_eq!(m.load("load8", PAGE).unwrap(), 0, "new pages are zeroed");
    m.store("store64", 2 * PAGE - 8, Val::I64(0x0102_0304_0506_0708)).unwrap();
    assert_eq!(m.load("load64", 2 * PAGE - 8).unwrap(), 0x0102_0304_0506_0708);
    assert_eq!(m.bytes().len(), 2 * PAGE as usize);
    assert_eq!(m.bytes()[2 * PAGE as usize - 1], 0x01);
}

fn memory_grow_moves_the_end_of_bounds_exactly(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.call("grow", &[Val::I32(1)]).unwrap();
    assert_oob("load8 at 131072 after growing to 2 pages", m.load("load8", 2 * PAGE));
    assert_oob("load64 straddling 131072", m.load("load64", 2 * PAGE - 4));
}

fn memory_grown_by_the_host_is_accessible_from_wasm(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    let mem = m.mem();
    assert_eq!(mem.grow(&mut m.store, 2).unwrap(), 1);
    m.bytes()[3 * PAGE as usize - 1] = 0x77;
    assert_eq!(m.load("load8", 3 * PAGE - 1).unwrap(), 0x77);
    assert_oob("load8 at 3 pages", m.load("load8", 3 * PAGE));
}

fn growing_many_times_keeps_the_contents(checks: BoundsChecks) {
    let mut m = Fixture::memory(checks);
    m.store("store32", 0, Val::I32(0x1234_5678)).unwrap();
    for pages in 1..40u32 {
        assert_eq!(m.call("grow", &[Val::I32(1)]).unwrap().unwrap().unwrap_i32() as u32, pages);
        // Mark the last byte of each new page.
        m.store("store8", (pages + 1) * PAGE - 1, Val::I32(pages as i32)).unwrap();
    }
    assert_eq!(m.load("load32", 0).unwrap(), 0x1234_5678);
    for pages in 1..40u32 {
        assert_eq!(m.load("load8", (pages + 1) * PAGE - 1).unwrap(), pages as u64);
    }
    assert_oob("load8 at 40 pages", m.load("load8", 40 * PAGE));
}

fn growing_past_the_maximum_fails_and_bounds_stay(checks: BoundsChecks) {
    let mut m = Fixture::new(
        checks,
        r#"(module (memory 1 2)
            (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
            (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    );
    assert_eq!(m.call("grow", &[Val::I32(2)]).unwrap().unwrap().unwrap_i32(), -1);
    assert_oob("load8 at 65536 after a failed grow", m.load("load8", PAGE));
    assert_eq!(m.call("grow", &[Val::I32(1)]).unwrap().unwrap().unwrap_i32(), 1);
    assert_eq!(m.load("load8", 2 * PAGE - 1).unwrap(), 0);
    assert_eq!(m.call("grow", &[Val::I32(1)]).unwrap().unwrap().unwrap_i32(), -1);
    assert_oob("load8 at 131072 at the maximum", m.load("load8", 2 * PAGE));
}

/// With several memories, each access is checked against its own memory.
fn each_memory_is_checked_against_its_own_size(checks: BoundsChecks) {
    let mut m = Fixture::new(
        checks,
        r#"(module
            (memory $big 2)
            (memory $small 1)
            (func (export "big") (param i32) (result i32) (i32.load8_u $big (local.get 0)))
            (func (export "small") (param i32) (result i32) (i32.load8_u $small (local.get 0))))"#,
    );
    assert_eq!(m.load("big", PAGE).unwrap(), 0);
    assert_oob("small memory at 65536", m.load("small", PAGE));
    assert_eq!(m.load("small", PAGE - 1).unwrap(), 0);
}

fn memory64_boundaries(checks: BoundsChecks) {
    let mut m = Fixture::new(
        checks,
        r#"(module
            (memory i64 1)
            (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
            (func (export "load64") (param i64) (result i64) (i64.load (local.get 0)))
            (func (export "load8_offset_huge") (param i64) (result i32) (i32.load8_u offset=0xFFFFFFFFFFFFFFFF (local.get 0))))"#,
    );
    let mut load = |name: &str, index: u64| m.call(name, &[Val::I64(index as i64)]);
    assert!(load("load8", PAGE as u64 - 1).is_ok());
    assert!(load("load64", PAGE as u64 - 8).is_ok());
    assert_oob("memory64 load8 at 65536", load("load8", PAGE as u64));
    assert_oob("memory64 load64 at 65529", load("load64", PAGE as u64 - 7));
    assert_oob("memory64 load8 at 2^32", load("load8", 1 << 32));
    assert_oob("memory64 load8 at u64::MAX", load("load8", u64::MAX));
    assert_oob("memory64 load64 at u64::MAX - 3", load("load64", u64::MAX - 3));
    assert_oob("memory64 offset=u64::MAX at 0", load("load8_offset_huge", 0));
    assert_oob("memory64 offset=u64::MAX at 1", load("load8_offset_huge", 1));
}

/// A 64-bit memory grown past 4 GiB, as the host's limit allows: accesses
/// of every width across 2^32 and up to the last byte work, the first
/// byte past the end traps, and bulk operations span 2^32.
fn memory64_beyond_4_gib(checks: BoundsChecks) {
    const FIVE_GIB: u64 = 5 << 30;
    let engine = Engine::new(Config::new().bounds_checks(checks).max_memory_size(8 << 30)).unwrap();
    let wat = r#"(module
        (memory (export "mem") i64 1)
        (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
        (func (export "store16") (param i64 i32) (i32.store16 (local.get 0) (local.get 1)))
        (func (export "load16") (param i64) (result i32) (i32.load16_u (local.get 0)))
        (func (export "store64") (param i64 i64) (i64.store (local.get 0) (local.get 1)))
        (func (export "load64") (param i64) (result i64) (i64.load (local.get 0)))
        (func (export "load8") (param i64) (result i32) (i32.load8_u (local.get 0)))
        (func (export "fill") (param i64 i64) (memory.fill (local.get 0) (i32.const 0x5A) (local.get 1))))"#;
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let mut m = Fixture { store, instance };
    let pages = FIVE_GIB / u64::from(PAGE) - 1;
    assert!(matches!(m.call("grow", &[Val::I64(pages as i64)]).unwrap(), Some(Val::I64(1))));
    let across = (1u64 << 32) - 4;
    m.call("store64", &[Val::I64(across as i64), Val::I64(0x1122_3344_5566_7788)]).unwrap();
    assert!(matches!(m.call("load64", &[Val::I64(across as i64)]).unwrap(), Some(Val::I64(0x1122_3344_5566_7788))));
    assert!(matches!(m.call("load16", &[Val::I64((1i64 << 32) - 1)]).unwrap(), Some(Val::I32(0x4455))));
    m.call("store16", &[Val::I64((FIVE_GIB - 2) as i64), Val::I32(0xBEEF)]).unwrap();
    assert!(matches!(m.call("load16", &[Val::I64((FIVE_GIB - 2) as i64)]).unwrap(), Some(Val::I32(0xBEEF))));
    assert_oob("load8 at 5 GiB", m.call("load8", &[Val::I64(FIVE_GIB as i64)]));
    assert_oob("load64 straddling 5 GiB", m.call("load64", &[Val::I64((FIVE_GIB - 4) as i64)]));
    assert_oob("store16 straddling 5 GiB", m.call("store16", &[Val::I64((FIVE_GIB - 1) as i64), Val::I32(1)]));
    m.call("fill", &[Val::I64(((1u64 << 32) - 8) as i64), Val::I64(16)]).unwrap();
    assert!(matches!(m.call("load64", &[Val::I64((1u64 << 32) as i64)]).unwrap(), Some(Val::I64(0x5A5A_5A5A_5A5A_5A5A))));
    assert_oob("fill past 5 GiB", m.call("fill", &[Val::I64((FIVE_GIB - 8) as i64), Val::I64(9)]));
}

fn bulk_memory_operations_check_the_whole_range(checks: BoundsChecks) {
    let mut m = Fixture::new(
        checks,
        r#"(module (memory 1)
            (func (export "fill") (param i32 i32) (memory.fill (local.get 0) (i32.const 0xFF) (local.get 1)))
            (func (export "copy") (param i32 i32 i32) (memory.copy (local.get 0) (local.get 1) (local.get 2))))"#,
    );
    let mut call = |name: &str, args: &[i32]| m.call(name, &args.iter().map(|a| Val::I32(*a)).collect::<Vec<_>>());
    assert!(call("fill", &[PAGE as i32 - 1, 1]).is_ok());
    assert!(call("fill", &[PAGE as i32, 0]).is_ok());
    assert_oob("fill 2 bytes at 65535", call("fill", &[PAGE as i32 - 1, 2]));
    assert_oob("fill 0 bytes at 65537", call("fill", &[PAGE as i32 + 1, 0]));
    assert_oob("fill at 0 with length 0xFFFFFFFF", call("fill", &[0, -1]));
    assert!(call("copy", &[0, PAGE as i32 - 4, 4]).is_ok());
    assert_oob("copy from 65533, 4 bytes", call("copy", &[0, PAGE as i32 - 3, 4]));
    assert_oob("copy to 65533, 4 bytes", call("copy", &[PAGE as i32 - 3, 0, 4]));
}

/// A memory imported from another instance sees that instance's growth
/// (with explicit checks the memory moves when it grows).
fn imported_memory_sees_growth_by_its_owner(checks: BoundsChecks) {
    let engine = Engine::new(Config::new().bounds_checks(checks)).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    let owner = Module::new(&engine, MEMORY).unwrap();
    let owner = linker.instantiate(&mut store, &owner).unwrap();
    linker.instance(&mut store, "owner", owner).unwrap();
    let user = Module::new(
        &engine,
        r#"(module (import "owner" "mem" (memory 1))
            (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    )
    .unwrap();
    let user = linker.instantiate(&mut store, &user).unwrap();
    let load8 = user.get_typed_func::<u32, i32>(&mut store, "load8").unwrap();
    let grow = owner.get_typed_func::<i32, i32>(&mut store, "grow").unwrap();
    let store8 = owner.get_typed_func::<(u32, i32), ()>(&mut store, "store8").unwrap();
    assert_oob("importer load8 at 65536 before growth", load8.call(&mut store, PAGE));
    store8.call(&mut store, (PAGE - 1, 9)).unwrap();
    assert_eq!(grow.call(&mut store, 3).unwrap(), 1);
    store8.call(&mut store, (4 * PAGE - 1, 10)).unwrap();
    assert_eq!(load8.call(&mut store, PAGE - 1).unwrap(), 9);
    assert_eq!(load8.call(&mut store, 4 * PAGE - 1).unwrap(), 10);
    assert_oob("importer load8 at 4 pages", load8.call(&mut store, 4 * PAGE));
}

/// Memory grows in the middle of a function: accesses after the grow must
/// use the new base and length (with explicit checks the memory moves), not
/// values loaded before it.
fn grow_in_the_middle_of_a_function_is_seen_by_later_accesses(checks: BoundsChecks) {
    let mut m = Fixture::new(
        checks,
        r#"(module (memory (export "mem") 1)
            (func (export "run") (result i32)
                (i32.store (i32.const 100) (i32.const 7))
                (drop (memory.grow (i32.const 3)))
                (i32.store (i32.const 0x3FFFC) (i32.const 8))
                (i32.add (i32.load (i32.const 100)) (i32.load (i32.const 0x3FFFC)))))"#,
    );
    assert_eq!(m.call("run", &[]).unwrap().unwrap().unwrap_i32(), 15);
    assert_eq!(m.bytes().len(), 4 * PAGE as usize);
    assert_eq!(&m.bytes()[100..104], 7i32.to_le_bytes());
    assert_eq!(&m.bytes()[0x3FFFC..], 8i32.to_le_bytes());
}

fn grow_inside_a_loop_is_seen_by_every_iteration(checks: BoundsChecks) {
    // Each iteration grows by a page and writes the last byte of the new
    // page: a base or length kept from before the loop would fault, trap
    // or write into a stale mapping.
    let mut m = Fixture::new(
        checks,
        r#"(module (memory (export "mem") 1)
            (func (export "run") (param $n i32) (result i32)
                (local $i i32) (local $sum i32)
                (i32.store8 (i32.const 0) (i32.const 1))
                (loop $l
                    (drop (memory.grow (i32.const 1)))
                    (i32.store8 (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)) (i32.const 1))
                    (local.set $sum (i32.add (local.get $sum) (i32.load8_u (i32.const 0))))
                    (local.set $i (i32.add (local.get $i) (i32.const 1)))
                    (br_if $l (i32.lt_u (local.get $i) (local.get $n))))
                (local.get $sum)))"#,
    );
    assert_eq!(m.call("run", &[Val::I32(20)]).unwrap().unwrap().unwrap_i32(), 20);
    let bytes = m.bytes();
    assert_eq!(bytes.len(), 21 * PAGE as usize);
    for page in 2..=21usize {
        assert_eq!(bytes[page * PAGE as usize - 1], 1, "page {page}");
    }
}

/// A host function called from Wasm grows the memory; the calling Wasm
/// function then uses the new region and the old contents.
fn memory_grown_by_a_host_call_is_seen_by_the_calling_function(checks: BoundsChecks) {
    let engine = Engine::new(Config::new().bounds_checks(checks)).unwrap();
    let module = Module::new(
        &engine,
        r#"(module
            (import "host" "grow" (func $grow (param i32)))
            (memory (export "mem") 1)
            (func (export "run") (result i32)
                (i32.store (i32.const 100) (i32.const 7))
                (call $grow (i32.const 15))
                (i32.store (i32.const 0xFFFFC) (i32.const 8))
                (i32.add (i32.load (i32.const 100)) (i32.load (i32.const 0xFFFFC)))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new(&engine);
    linker
        .func_wrap("host", "grow", |mut caller: Caller<'_, ()>, pages: i32| -> Result<()> {
            let mem = caller.get_export("mem").unwrap().into_memory().unwrap();
            mem.grow(&mut caller, pages as u64)?;
            Ok(())
        })
        .unwrap();
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance.get_typed_func::<(), i32>(&mut store, "run").unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 15);
    let mem = instance.get_memory(&mut store, "mem").unwrap();
    assert_eq!(mem.data(&store).len(), 16 * PAGE as usize);
    assert_eq!(&mem.data(&store)[0xFFFFC..], 8i32.to_le_bytes());
}

/// A memory of 1-byte pages (custom-page-sizes) ends where its byte length
/// says, not at the end of the system page it lies in: compiled code
/// checks such memories' bounds in both modes, and growing moves the end
/// by bytes.
fn one_byte_pages_end_at_their_length(checks: BoundsChecks) {
    let engine = Engine::new(Config::new().bounds_checks(checks).wasm_custom_page_sizes(true)).unwrap();
    let wat = r#"(module
        (memory (export "mem") 3 (pagesize 1))
        (func (export "load8") (param i32) (result i32) (i32.load8_u (local.get 0)))
        (func (export "load32") (param i32) (result i32) (i32.load (local.get 0)))
        (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
        (func (export "size") (result i32) memory.size))"#;
    let module = Module::new(&engine, wat).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
    let mut m = Fixture { store, instance };
    assert_eq!(m.load("load8", 2).unwrap(), 0);
    assert_oob("load8 at the length", m.load("load8", 3));
    assert_oob("load32 past the length", m.load("load32", 0));
    assert!(matches!(m.call("grow", &[Val::I32(1)]).unwrap(), Some(Val::I32(3))));
    assert!(matches!(m.call("size", &[]).unwrap(), Some(Val::I32(4))));
    assert_eq!(m.load("load32", 0).unwrap(), 0);
    assert_oob("load8 at the grown length", m.load("load8", 4));
}

macro_rules! for_both_modes {
    ($($name:ident),* $(,)?) => {
        mod guard_pages {
            $( #[test] fn $name() { super::$name(kiln::BoundsChecks::GuardPages) } )*
        }
        mod explicit {
            $( #[test] fn $name() { super::$name(kiln::BoundsChecks::Explicit) } )*
        }
    };
}

for_both_modes! {
    one_byte_pages_end_at_their_length,
    memory64_beyond_4_gib,
    last_valid_byte_is_readable,
    last_valid_byte_is_writable,
    first_invalid_byte_traps_on_load,
    first_invalid_byte_traps_on_store,
    widest_loads_ending_at_the_last_byte_succeed,
    i32_load_straddling_the_end_traps,
    i64_load_straddling_the_end_traps,
    i64_store_straddling_the_end_traps_and_writes_nothing,
    static_offset_reaching_the_last_byte_succeeds,
    static_offset_plus_index_past_the_end_traps,
    offset_max_with_index_zero_traps,
    offset_max_with_index_one_traps_instead_of_wrapping,
    index_max_traps,
    index_max_with_offset_max_traps,
    index_with_the_sign_bit_set_traps,
    empty_memory_traps_at_index_zero,
    memory_grow_makes_the_new_region_accessible,
    memory_grow_moves_the_end_of_bounds_exactly,
    memory_grown_by_the_host_is_accessible_from_wasm,
    growing_many_times_keeps_the_contents,
    growing_past_the_maximum_fails_and_bounds_stay,
    each_memory_is_checked_against_its_own_size,
    memory64_boundaries,
    bulk_memory_operations_check_the_whole_range,
    imported_memory_sees_growth_by_its_owner,
    grow_in_the_middle_of_a_function_is_seen_by_later_accesses,
    grow_inside_a_loop_is_seen_by_every_iteration,
    memory_grown_by_a_host_call_is_seen_by_the_calling_function,
}
