//! `ProfilingStrategy::PerfMap`: compiled functions are named in
//! `/tmp/perf-<pid>.map`, where Linux `perf` looks for JIT symbols.

use kiln::{Config, Engine, Instance, Module, ProfilingStrategy, Store};

#[test]
fn perf_map_names_every_compiled_function_at_its_address() {
    let mut config = Config::new();
    config.profiler(ProfilingStrategy::PerfMap);
    let engine = Engine::new(&config).unwrap();
    let wat = r#"(module $profiled
        (func $first_of_two (export "a") (result i32) (i32.const 1))
        (func (export "b") (result i32) (i32.const 2)))"#;
    let module = Module::new(&engine, wat).unwrap();
    let map = std::fs::read_to_string(format!("/tmp/perf-{}.map", std::process::id())).unwrap();
    let lines: Vec<(usize, usize, &str)> = map
        .lines()
        .filter(|l| l.contains("profiled["))
        .map(|l| {
            let mut parts = l.splitn(3, ' ');
            let start = usize::from_str_radix(parts.next().unwrap(), 16).unwrap();
            let size = usize::from_str_radix(parts.next().unwrap(), 16).unwrap();
            (start, size, parts.next().unwrap())
        })
        .collect();
    assert_eq!(lines.iter().map(|l| l.2).collect::<Vec<_>>(), ["profiled[0]::first_of_two", "profiled[1]"]);
    assert!(lines[0].1 > 0 && lines[0].0 + lines[0].1 <= lines[1].0, "{lines:?}");

    // The code named there is what runs.
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let a = instance.get_typed_func::<(), i32>(&mut store, "a").unwrap();
    assert_eq!(a.call(&mut store, ()).unwrap(), 1);
}

#[test]
fn no_perf_map_by_default() {
    let engine = Engine::new(&Config::new()).unwrap();
    Module::new(&engine, r#"(module $unprofiled (func (export "f")))"#).unwrap();
    let map = std::fs::read_to_string(format!("/tmp/perf-{}.map", std::process::id())).unwrap_or_default();
    assert!(!map.contains("unprofiled"), "{map}");
}
