//! What the pooling tests share: `pooling.rs`, and `pooling_rss.rs`, which
//! must be alone in its test binary (tests beside it would move its RSS).
// Each test binary uses part of this.
#![allow(dead_code)]

use kiln::*;

pub fn pooling_engine(collector: Collector, configure: impl FnOnce(&mut PoolingAllocationConfig)) -> Engine {
    let mut pooling = PoolingAllocationConfig::new();
    pooling.total_memories(4).total_gc_heaps(4).total_tables(8).total_core_instances(8).max_memory_size(1 << 20);
    configure(&mut pooling);
    let mut config = Config::new();
    config.collector(collector).allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config).unwrap()
}

/// A tenant: a memory with a data segment, a table of externrefs and a
/// GC object held by a global.
pub const TENANT: &str = r#"(module
    (type $box (struct (field (mut i64))))
    (memory (export "memory") 1 16)
    (table (export "table") 4 externref)
    (global $g (mut (ref null $box)) (ref.null $box))
    (data (i32.const 100) "seed")
    (func (export "write_secret") (param i64) (param externref)
        (i64.store (i32.const 8) (local.get 0))
        (i64.store (i32.const 60000) (local.get 0))
        (table.set (i32.const 1) (local.get 1))
        (global.set $g (struct.new $box (local.get 0))))
    (func (export "peek") (param i32) (result i64) (i64.load (local.get 0)))
    (func (export "boxed") (result i64)
        (if (result i64) (ref.is_null (global.get $g)) (then (i64.const 0)) (else (struct.get $box 0 (global.get $g))))))"#;

