//! Instances of a module with a large data segment share its pages
//! through the copy-on-write memory image: twenty instances of an 8 MiB
//! segment add far less than twenty copies to the process's resident
//! memory. Alone in its test binary: other tests would move the RSS.

use kiln::*;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        out.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            return;
        }
    }
}

/// `(module (memory (export "memory") 256) (data (i32.const 0) "\a5..."))`
/// with a `len`-byte segment, encoded by hand (text would be slow to
/// parse).
fn module_with_segment(len: usize) -> Vec<u8> {
    let mut wasm = b"\0asm\x01\0\0\0".to_vec();
    wasm.extend([5, 4, 1, 0, 0x80, 2]);
    wasm.extend([7, 10, 1, 6]);
    wasm.extend(b"memory");
    wasm.extend([2, 0]);
    let mut data = vec![1, 0, 0x41, 0, 0x0b];
    leb(len, &mut data);
    data.resize(data.len() + len, 0xa5);
    wasm.push(11);
    leb(data.len(), &mut wasm);
    wasm.extend(data);
    wasm
}

#[test]
fn instances_share_their_data_segment_pages() {
    const SEGMENT: usize = 8 << 20;
    let wasm = module_with_segment(SEGMENT);

    for engine in [Engine::default(), Engine::new(Config::new().allocation_strategy(InstanceAllocationStrategy::pooling())).unwrap()] {
        let module = Module::new(&engine, &wasm).unwrap();
        let mut store = Store::new(&engine, ());
        let first = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        let before = resident_bytes();
        for _ in 0..20 {
            Linker::new(&engine).instantiate(&mut store, &module).unwrap();
        }
        let grown = resident_bytes().saturating_sub(before);
        assert!(grown < 4 * SEGMENT as u64, "20 instances added {grown} bytes: the segment was copied");
        let memory = first.get_memory(&mut store, "memory").unwrap();
        assert!(memory.data(&store)[..SEGMENT].iter().all(|b| *b == 0xa5));
    }
}
