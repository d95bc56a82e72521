//! The compiled-module cache: a second compilation of a module loads it,
//! a damaged entry is replaced rather than used, the directory stays under
//! its size limit, and concurrent writers never leave a partial entry.

use kiln::*;

fn module_text(n: i32) -> String {
    format!("(module (func (export \"f\") (result i32) (i32.const {n})))")
}

fn engine_with(cache: &Cache) -> Engine {
    let mut config = Config::new();
    config.cache(Some(cache.clone()));
    Engine::new(&config).unwrap()
}

fn call_f(engine: &Engine, module: &Module) -> i32 {
    let mut store = Store::new(engine, ());
    let instance = Instance::new(&mut store, module, &[]).unwrap();
    instance.get_typed_func::<(), i32>(&mut store, "f").unwrap().call(&mut store, ()).unwrap()
}

fn entries(cache: &Cache) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(cache.directory()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "cwasm")).collect();
    v.sort();
    v
}

fn cache_in(dir: &std::path::Path) -> Cache {
    let mut config = CacheConfig::new();
    config.with_directory(dir);
    Cache::new(config).unwrap()
}

#[test]
fn the_second_compilation_is_a_cache_hit_in_any_engine_with_the_same_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path());
    let engine = engine_with(&cache);
    let first = Module::new(&engine, module_text(7)).unwrap();
    assert_eq!((cache.hits(), cache.misses()), (0, 1));
    assert_eq!(entries(&cache).len(), 1);
    let other = engine_with(&cache);
    let again = Module::new(&other, module_text(7)).unwrap();
    assert_eq!((cache.hits(), cache.misses()), (1, 1));
    assert_eq!((call_f(&engine, &first), call_f(&other, &again)), (7, 7));

    // Other settings, other entry.
    let mut config = Config::new();
    config.cache(Some(cache.clone())).collector(Collector::Drc);
    Module::new(&Engine::new(&config).unwrap(), module_text(7)).unwrap();
    assert_eq!((cache.hits(), cache.misses()), (1, 2));
    assert_eq!(entries(&cache).len(), 2);
}

#[test]
fn a_corrupt_entry_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path());
    let engine = engine_with(&cache);
    Module::new(&engine, module_text(3)).unwrap();
    let entry = entries(&cache).remove(0);
    let mut bytes = std::fs::read(&entry).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&entry, &bytes).unwrap();

    let module = Module::new(&engine, module_text(3)).unwrap();
    assert_eq!(call_f(&engine, &module), 3);
    assert_eq!((cache.hits(), cache.misses()), (0, 2), "the damaged entry was not used");
    // Rewritten whole: the next compilation hits.
    Module::new(&engine, module_text(3)).unwrap();
    assert_eq!(cache.hits(), 1);
}

#[test]
fn entries_beyond_the_size_limit_are_evicted_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let probe = cache_in(dir.path());
    Module::new(&engine_with(&probe), module_text(0)).unwrap();
    let entry_size = std::fs::metadata(&entries(&probe)[0]).unwrap().len();
    std::fs::remove_file(&entries(&probe)[0]).unwrap();

    let mut config = CacheConfig::new();
    config.with_directory(dir.path()).with_files_total_size_soft_limit(entry_size * 2 + entry_size / 2);
    let cache = Cache::new(config).unwrap();
    let engine = engine_with(&cache);
    for n in 1..=5 {
        Module::new(&engine, module_text(n)).unwrap();
        // Distinct modification times, whatever the file system's
        // resolution.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(entries(&cache).len(), 2, "two entries fit");
    // The two most recent survive: compiling them again hits.
    let hits = cache.hits();
    Module::new(&engine, module_text(5)).unwrap();
    Module::new(&engine, module_text(4)).unwrap();
    assert_eq!(cache.hits(), hits + 2);
}

#[test]
fn concurrent_compilations_of_one_module_share_the_cache_safely() {
    let dir = tempfile::tempdir().unwrap();
    let cache = cache_in(dir.path());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let engine = engine_with(&cache);
                for _ in 0..5 {
                    let module = Module::new(&engine, module_text(11)).unwrap();
                    assert_eq!(call_f(&engine, &module), 11);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(cache.hits() + cache.misses(), 20);
    assert!(cache.hits() > 0);
    assert_eq!(entries(&cache).len(), 1, "one whole entry, no temporary left");
    assert_eq!(std::fs::read_dir(cache.directory()).unwrap().count(), 1);
}
