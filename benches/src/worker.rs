//! The worker side of the harness: `kiln-benches --worker ENGINE MODE FILE`
//! runs one workload on one in-process engine, so that the process's peak
//! memory belongs to that engine alone. `v8/driver.mjs` is the same thing
//! for V8, speaking the same protocol:
//!
//! - at start: load FILE (compiling it unless MODE is `compile`) and print
//!   `{"ready":true}`, or `{"error":"..."}` and exit;
//! - then for every line read from stdin, an integer N, do one sample and
//!   print `{"checksum":C,"ms":T}` (plus `"note"` for Kiln's GC statistics),
//!   or `{"error":"..."}`:
//!   - `run`: fresh store, instantiate, time `run(N)`;
//!   - `instantiate`: time N rounds of (fresh store, instantiate, `run(i)`);
//!   - `compile`: time compiling FILE; the checksum is `run(N)` of the first
//!     compiled module (untimed);
//! - exit at the end of stdin.

use crate::engines::{self, EngineId, Loaded, Outcome, Runtime};
use crate::json;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, Write};
use std::time::Instant;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    Run,
    Instantiate,
    Compile,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Run => "run",
            Mode::Instantiate => "instantiate",
            Mode::Compile => "compile",
        }
    }

    fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "run" => Mode::Run,
            "instantiate" => Mode::Instantiate,
            "compile" => Mode::Compile,
            _ => bail!("unknown worker mode `{s}`"),
        })
    }
}

/// `args`: ENGINE MODE FILE. Returns the process exit status.
pub fn main(args: &[String]) -> i32 {
    let mut out = std::io::stdout().lock();
    let mut say = |line: String| {
        // If the harness went away there is nobody to tell.
        let ok = writeln!(out, "{line}").and_then(|_| out.flush()).is_ok();
        if !ok {
            std::process::exit(1);
        }
    };
    let error = |e: anyhow::Error| format!("{{\"error\":{}}}", json::string(&format!("{e:#}")));
    let mut worker = match Worker::new(args) {
        Ok(w) => w,
        Err(e) => {
            say(error(e));
            return 1;
        }
    };
    say("{\"ready\":true}".to_owned());
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let reply = match line.trim().parse::<i32>() {
            Err(e) => error(anyhow::anyhow!("bad request {line:?}: {e}")),
            Ok(n) => match crate::guarded(|| worker.sample(n)) {
                Ok(o) => {
                    let note = o.note.map(|n| format!(",\"note\":{}", json::string(&n))).unwrap_or_default();
                    format!("{{\"checksum\":{},\"ms\":{}{note}}}", o.checksum, o.time.as_secs_f64() * 1e3)
                }
                Err(e) => error(e),
            },
        };
        say(reply);
    }
    0
}

struct Worker {
    runtime: Box<dyn Runtime>,
    mode: Mode,
    wasm: Vec<u8>,
    /// The compiled module (all modes but `compile`).
    loaded: Option<Box<dyn Loaded>>,
    /// `compile`: the checksum of the first compiled module.
    checksum: Option<i32>,
}

impl Worker {
    fn new(args: &[String]) -> Result<Worker> {
        let [engine, mode, file] = args else { bail!("usage: --worker ENGINE MODE FILE") };
        let id = EngineId::from_key(engine).with_context(|| format!("unknown engine `{engine}`"))?;
        let mode = Mode::parse(mode)?;
        let wasm = std::fs::read(file).with_context(|| format!("reading {file}"))?;
        let runtime = engines::new_runtime(id)?;
        let loaded = match mode {
            Mode::Compile => None,
            _ => Some(crate::guarded(|| runtime.compile(&wasm)).context("compile failed")?),
        };
        Ok(Worker { runtime, mode, wasm, loaded, checksum: None })
    }

    fn sample(&mut self, n: i32) -> Result<Outcome> {
        match (self.mode, &self.loaded) {
            (Mode::Run, Some(l)) => l.run(n),
            (Mode::Instantiate, Some(l)) => l.instantiate_many(n.max(0) as u32),
            _ => {
                let start = Instant::now();
                let module = self.runtime.compile(&self.wasm)?;
                let time = start.elapsed();
                let checksum = match self.checksum {
                    Some(c) => c,
                    None => *self.checksum.insert(module.run(n)?.checksum),
                };
                Ok(Outcome { checksum, time, note: None })
            }
        }
    }
}
