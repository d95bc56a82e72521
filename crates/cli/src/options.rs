//! Engine options shared by `kiln run` and `kiln wast`, in Wasmtime's
//! option groups and spellings, so a `wasmtime` user's flags carry over.
//!
//! Groups so far: `-C` (code generation: `collector=null|copying|drc`)
//! and `-O` (runtime tuning: `gc-zeal-alloc-counter=N`). A group takes
//! `KEY=VAL` pairs, several per flag separated by commas or in repeated
//! flags; `-C help` / `-O help` list the keys. An unknown key is an error
//! that lists the known ones.

use anyhow::{Context as _, Result, bail};
use clap::Args;
use kiln::{Collector, Config};
use std::num::NonZeroU32;

/// One option group: its flag, its name, and `(key, value syntax, what it
/// does)` per option.
struct Group {
    flag: char,
    name: &'static str,
    options: &'static [(&'static str, &'static str, &'static str)],
}

const CODEGEN: Group = Group {
    flag: 'C',
    name: "Code generation options",
    options: &[("collector", "null|copying|drc", "the garbage collector (default: copying)")],
};

const RUNTIME: Group = Group {
    flag: 'O',
    name: "Runtime options",
    options: &[(
        "gc-zeal-alloc-counter",
        "N",
        "collect garbage before every Nth GC allocation and verify the heap after every collection (for testing; slow)",
    )],
};

#[derive(Args, Default)]
pub struct EngineOptions {
    /// Code generation options: `-C KEY=VAL[,KEY=VAL...]`; `-C help` lists them.
    #[arg(short = 'C', value_name = "KEY=VAL[,...]")]
    codegen: Vec<String>,

    /// Runtime options: `-O KEY=VAL[,KEY=VAL...]`; `-O help` lists them.
    #[arg(short = 'O', value_name = "KEY=VAL[,...]")]
    runtime: Vec<String>,
}

/// The `KEY=VAL` pairs of a group's flags.
fn pairs(flags: &[String]) -> impl Iterator<Item = &str> {
    flags.iter().flat_map(|flag| flag.split(',')).filter(|p| !p.is_empty())
}

impl Group {
    fn help(&self) -> String {
        let mut text = format!("{} (-{}):\n", self.name, self.flag);
        for (key, value, doc) in self.options {
            text.push_str(&format!("  -{} {key}={value}\n      {doc}\n", self.flag));
        }
        text
    }

    fn unknown(&self, pair: &str, key: &str) -> anyhow::Error {
        let known: Vec<&str> = self.options.iter().map(|(k, _, _)| *k).collect();
        anyhow::anyhow!("-{} {pair}: unknown {} `{key}`; known: {} (see `-{} help`)", self.flag, self.name.to_lowercase().trim_end_matches('s'), known.join(", "), self.flag)
    }
}

impl EngineOptions {
    /// The help text `-C help` or `-O help` asked for, if any.
    pub fn help_requested(&self) -> Option<String> {
        let mut text = String::new();
        for (flags, group) in [(&self.codegen, &CODEGEN), (&self.runtime, &RUNTIME)] {
            if pairs(flags).any(|p| p == "help") {
                text.push_str(&group.help());
            }
        }
        (!text.is_empty()).then_some(text)
    }

    /// The engine configuration these options ask for.
    pub fn config(&self) -> Result<Config> {
        let mut config = Config::new();
        for pair in pairs(&self.codegen) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("collector", "null") => config.collector(Collector::Null),
                ("collector", "copying") => config.collector(Collector::Copying),
                ("collector", "drc") => config.collector(Collector::Drc),
                ("collector", other) => bail!("-C {pair}: unknown collector `{other}`; known: null, copying, drc"),
                (key, _) => return Err(CODEGEN.unknown(pair, key)),
            };
        }
        for pair in pairs(&self.runtime) {
            match pair.split_once('=').unwrap_or((pair, "")) {
                ("gc-zeal-alloc-counter", value) => {
                    let n: u32 = value.parse().with_context(|| format!("-O {pair}: expected a positive integer"))?;
                    let n = NonZeroU32::new(n).with_context(|| format!("-O {pair}: the counter must be at least 1"))?;
                    config.gc_zeal_alloc_counter(Some(n))?;
                }
                (key, _) => return Err(RUNTIME.unknown(pair, key)),
            }
        }
        Ok(config)
    }
}
