//! Engine options shared by `kiln run` and `kiln wast`, in Wasmtime's
//! option groups and spellings, so a `wasmtime` user's flags carry over.
//!
//! Only the `-O` (runtime tuning) group exists so far, with one key:
//! `-O gc-zeal-alloc-counter=N`. A group takes `KEY=VAL` pairs, several
//! per flag separated by commas or in repeated flags; `-O help` lists the
//! keys. An unknown key is an error that lists the known ones.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use kiln::Config;
use std::num::NonZeroU32;

/// `(key, value syntax, what it does)` of every `-O` option.
const RUNTIME_OPTIONS: &[(&str, &str, &str)] = &[(
    "gc-zeal-alloc-counter",
    "N",
    "collect garbage before every Nth GC allocation and verify the heap after every collection (for testing; slow)",
)];

#[derive(Args, Default)]
pub struct EngineOptions {
    /// Runtime options: `-O KEY=VAL[,KEY=VAL...]`; `-O help` lists them.
    #[arg(short = 'O', value_name = "KEY=VAL[,...]")]
    runtime: Vec<String>,
}

impl EngineOptions {
    /// Was `-O help` given? The caller prints [`EngineOptions::help`].
    pub fn help_requested(&self) -> bool {
        self.pairs().any(|p| p == "help")
    }

    pub fn help() -> String {
        let mut text = String::from("Runtime options (-O):\n");
        for (key, value, doc) in RUNTIME_OPTIONS {
            text.push_str(&format!("  -O {key}={value}\n      {doc}\n"));
        }
        text
    }

    fn pairs(&self) -> impl Iterator<Item = &str> {
        self.runtime.iter().flat_map(|flag| flag.split(',')).filter(|p| !p.is_empty())
    }

    /// The engine configuration these options ask for.
    pub fn config(&self) -> Result<Config> {
        let mut config = Config::new();
        for pair in self.pairs() {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "gc-zeal-alloc-counter" => {
                    let n: u32 = value.parse().with_context(|| format!("-O {pair}: expected a positive integer"))?;
                    let n = NonZeroU32::new(n).with_context(|| format!("-O {pair}: the counter must be at least 1"))?;
                    config.gc_zeal_alloc_counter(Some(n))?;
                }
                _ => {
                    let known: Vec<&str> = RUNTIME_OPTIONS.iter().map(|(k, _, _)| *k).collect();
                    bail!("-O {pair}: unknown runtime option `{key}`; known: {} (see `-O help`)", known.join(", "));
                }
            }
        }
        Ok(config)
    }
}
