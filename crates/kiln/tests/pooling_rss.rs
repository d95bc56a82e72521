//! 10^5 instantiate/drop cycles under the pooling allocator keep the
//! process's resident memory flat. Alone in its test binary: tests running
//! beside it would move the process's RSS.

use kiln::*;

mod common;

use common::{TENANT, pooling_engine};

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn instantiating_a_hundred_thousand_times_keeps_memory_flat() {
    let engine = pooling_engine(Collector::Copying, |_| {});
    let module = Module::new(&engine, TENANT).unwrap();
    let run = |n: u32| {
        for i in 0..n {
            let mut store = Store::new(&engine, ());
            let instance = Linker::new(&engine).instantiate(&mut store, &module).unwrap();
            let write = instance.get_typed_func::<(i64, Option<Rooted<ExternRef>>), ()>(&mut store, "write_secret").unwrap();
            write.call(&mut store, (i64::from(i), None)).unwrap();
        }
    };
    run(1_000);
    let warm = resident_bytes();
    run(100_000);
    let grown = resident_bytes().saturating_sub(warm);
    assert!(grown < 16 << 20, "resident memory grew by {grown} bytes over 10^5 instantiations");
}

