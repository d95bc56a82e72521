// Builds the few lines of C that Rust cannot express soundly: setjmp and
// longjmp around each host-to-Wasm entry (see src/vm/helpers.c).
//
// Also fingerprints the sources compiled code depends on (the builtins
// table, the VMContext layouts, the GC header bits, the code generator),
// so that a serialized or cached module from another build of the same
// version is refused rather than run against a different ABI (see
// `engine::fingerprint`).
use std::hash::{Hash, Hasher};
use std::path::Path;

const ABI_SOURCES: &[&str] = &["src", "../environ/src", "../cranelift/src", "../gc/src"];

fn main() {
    println!("cargo:rerun-if-changed=src/vm/helpers.c");
    cc::Build::new().file("src/vm/helpers.c").warnings(true).compile("kiln-helpers");

    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for dir in ABI_SOURCES {
        println!("cargo:rerun-if-changed={dir}");
        hash_dir(Path::new(dir), &mut hasher);
    }
    println!("cargo:rustc-env=KILN_SOURCE_HASH={:016x}", hasher.finish());
}

/// Hashes the names and contents of the files under `dir`, in a fixed order.
fn hash_dir(dir: &Path, hasher: &mut impl Hasher) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            hash_dir(&path, hasher);
        } else if let Ok(bytes) = std::fs::read(&path) {
            path.file_name().hash(hasher);
            bytes.hash(hasher);
        }
    }
}
