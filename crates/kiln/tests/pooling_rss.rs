//! 10^5 instantiate/drop cycles under the pooling allocator keep the
//! process's resident memory flat. Alone in its test binary: tests running
//! beside it would move the process's RSS.

use kiln::*;

const TENANT: &str = r#"(module
    (type $box (struct (field (mut i64))))
    (memory (export "memory") 1 16)
    (table (export "table") 4 externref)
    (global $g (mut (ref null $box)) (ref.null $box))
    (data (i32.const 100) "seed")
    (func (export "write_secret") (param i64) (param externref)
        (i64.store (i32.const 8) (local.get 0))
        (i64.store (i32.const 60000) (local.get 0))
        (table.set (i32.const 1) (local.get 1))
        (global.set $g (struct.new $box (local.get 0)))))"#;

fn pooling_engine() -> Engine {
    let mut pooling = PoolingAllocationConfig::new();
    pooling.total_memories(4).total_gc_heaps(4).total_tables(8).total_core_instances(8).max_memory_size(1 << 20);
    let mut config = Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).unwrap()
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn instantiating_a_hundred_thousand_times_keeps_memory_flat() {
    let engine = pooling_engine();
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

