//! Kiln's benchmark driver: every workload on every engine in one process
//! run, checksums checked for agreement, medians and ratios printed as a
//! Markdown table. See ../README.md for how to run it and read it.

mod engines;
mod generate;

use anyhow::{Context, Result, bail};
use engines::{EngineId, Loaded, Outcome, Runtime};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Allocation-heavy Wasm GC program: `run(arg)` is timed.
    Gc,
    /// Compute without GC: `run(arg)` is timed.
    Compute,
    /// Compiling the module is timed.
    Compile,
    /// `count` instantiations (each in a new store, with a call) are timed.
    Instantiate,
}

struct Workload {
    name: &'static str,
    kind: Kind,
    wat: String,
    /// The argument of `run`.
    arg: i32,
    /// Instantiations per sample (Instantiate only).
    count: u32,
    /// What the input means, for the table.
    input: String,
}

/// (name, kind, source, default argument, quick argument, meaning of the argument)
const FILES: &[(&str, Kind, &str, i32, i32, &str)] = &[
    ("binary_trees", Kind::Gc, include_str!("../workloads/binary_trees.wat"), 14, 8, "depth"),
    ("list_churn", Kind::Gc, include_str!("../workloads/list_churn.wat"), 1_000_000, 20_000, "steps"),
    ("array_structs", Kind::Gc, include_str!("../workloads/array_structs.wat"), 10_000, 100, "rounds"),
    ("i31_boxing", Kind::Gc, include_str!("../workloads/i31_boxing.wat"), 20_000_000, 50_000, "steps"),
    ("cycles", Kind::Gc, include_str!("../workloads/cycles.wat"), 100_000, 500, "rings"),
    ("casts", Kind::Gc, include_str!("../workloads/casts.wat"), 20_000_000, 50_000, "steps"),
    ("sieve", Kind::Compute, include_str!("../workloads/sieve.wat"), 16_000_000, 100_000, "n"),
    ("matmul", Kind::Compute, include_str!("../workloads/matmul.wat"), 400, 20, "n x n"),
    ("fib", Kind::Compute, include_str!("../workloads/fib.wat"), 35, 15, "n"),
    ("memory_loop", Kind::Compute, include_str!("../workloads/memory_loop.wat"), 20, 1, "passes"),
];

const COMPILE_FUNCS: (u32, u32) = (3_000, 200);
const INSTANTIATIONS: (u32, u32) = (5_000, 20);

struct Options {
    runs: usize,
    warmup: usize,
    quick: bool,
    only: Vec<String>,
    emit: Option<String>,
}

fn parse_args() -> Result<Options> {
    let mut o = Options { runs: 5, warmup: 1, quick: false, only: Vec::new(), emit: None };
    let mut args = std::env::args().skip(1);
    let mut runs_given = false;
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match a.as_str() {
            "--runs" => {
                o.runs = value("--runs")?.parse().context("--runs")?;
                runs_given = true;
            }
            "--warmup" => o.warmup = value("--warmup")?.parse().context("--warmup")?,
            "--quick" => o.quick = true,
            "--only" => o.only.extend(value("--only")?.split(',').map(str::to_owned)),
            "--emit" => o.emit = Some(value("--emit")?),
            "-h" | "--help" => {
                println!(
                    "kiln-benches [--runs N] [--warmup N] [--quick] [--only NAME[,NAME...]] [--emit DIR]\n\
                     \n  --runs N     measured samples per engine and workload (default 5; the median is reported)\
                     \n  --warmup N   unmeasured samples first (default 1)\
                     \n  --quick      tiny inputs and one run: a smoke test of the harness, not a measurement\
                     \n  --only LIST  workloads whose name contains one of the comma-separated words\
                     \n  --emit DIR   write every workload's .wasm (the exact bytes each engine gets) to DIR and exit"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if o.quick && !runs_given {
        o.runs = 1;
    }
    if o.runs == 0 {
        bail!("--runs must be at least 1");
    }
    Ok(o)
}

fn workloads(o: &Options) -> Vec<Workload> {
    let pick = |(full, quick): (i32, i32)| if o.quick { quick } else { full };
    let mut v: Vec<Workload> = FILES
        .iter()
        .map(|&(name, kind, wat, full, quick, unit)| {
            let arg = pick((full, quick));
            Workload { name, kind, wat: wat.to_owned(), arg, count: 1, input: format!("{unit} {arg}") }
        })
        .collect();
    let funcs = if o.quick { COMPILE_FUNCS.1 } else { COMPILE_FUNCS.0 };
    v.push(Workload {
        name: "compile",
        kind: Kind::Compile,
        wat: generate::compile_module_wat(funcs),
        arg: 12345,
        count: 1,
        input: format!("{funcs} functions"),
    });
    let count = if o.quick { INSTANTIATIONS.1 } else { INSTANTIATIONS.0 };
    v.push(Workload {
        name: "instantiate",
        kind: Kind::Instantiate,
        wat: include_str!("../workloads/instantiate.wat").to_owned(),
        arg: 0,
        count,
        input: format!("{count} instances"),
    });
    if !o.only.is_empty() {
        v.retain(|w| o.only.iter().any(|s| w.name.contains(s.as_str())));
    }
    v
}

fn engines_for(kind: Kind) -> Vec<EngineId> {
    EngineId::ALL
        .into_iter()
        .filter(|e| match kind {
            Kind::Gc => e.supports_gc(),
            // Collectors do not matter without GC: one engine per runtime.
            _ => matches!(e, EngineId::Kiln | EngineId::Wasmtime | EngineId::Wasmi),
        })
        .collect()
}

/// The per-engine record of one workload.
struct Cell {
    engine: EngineId,
    samples: Vec<Duration>,
    checksum: Option<i32>,
    error: Option<String>,
    note: Option<String>,
}

impl Cell {
    fn median(&self) -> Option<Duration> {
        if self.error.is_some() || self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort();
        let n = s.len();
        Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2 })
    }

    fn spread(&self) -> Option<f64> {
        let m = self.median()?.as_secs_f64();
        let min = self.samples.iter().min()?.as_secs_f64();
        let max = self.samples.iter().max()?.as_secs_f64();
        Some((max - min) / m)
    }
}

/// Runs `f`, turning a panic into an error so that one engine's crash is
/// reported precisely instead of ending the whole run.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            bail!("panicked: {}", msg.unwrap_or_else(|| "(no message)".into()))
        }
    }
}

fn measure(w: &Workload, wasm: &[u8], runtimes: &[(EngineId, Box<dyn Runtime>)], o: &Options) -> Vec<Cell> {
    let mut cells: Vec<Cell> = runtimes
        .iter()
        .map(|(id, _)| Cell { engine: *id, samples: Vec::new(), checksum: None, error: None, note: None })
        .collect();
    // Compile once up front, except when compiling is what is measured.
    let mut loaded: Vec<Option<Box<dyn Loaded>>> = Vec::new();
    for (i, (_, rt)) in runtimes.iter().enumerate() {
        if w.kind == Kind::Compile {
            loaded.push(None);
            continue;
        }
        match guarded(|| rt.compile(wasm)) {
            Ok(l) => loaded.push(Some(l)),
            Err(e) => {
                cells[i].error = Some(format!("compile failed: {e:#}"));
                loaded.push(None);
            }
        }
    }
    let rounds = o.warmup + o.runs;
    for round in 0..rounds {
        // Interleave engines, and rotate who goes first, so that a change
        // in machine load during the run is spread over all of them.
        for k in 0..runtimes.len() {
            let i = (k + round) % runtimes.len();
            if cells[i].error.is_some() {
                continue;
            }
            let (_, rt) = &runtimes[i];
            let result: Result<Outcome> = guarded(|| match w.kind {
                Kind::Gc | Kind::Compute => loaded[i].as_ref().expect("compiled").run(w.arg),
                Kind::Instantiate => loaded[i].as_ref().expect("compiled").instantiate_many(w.count),
                Kind::Compile => {
                    let start = Instant::now();
                    let module = rt.compile(wasm)?;
                    let time = start.elapsed();
                    // The checksum proves the compiled code runs; computed
                    // once per engine, outside the timing.
                    let checksum = if round == 0 { module.run(w.arg)?.checksum } else { cells[i].checksum.unwrap_or(0) };
                    drop(module);
                    Ok(Outcome { checksum, time, note: None })
                }
            });
            let cell = &mut cells[i];
            match result {
                Err(e) => cell.error = Some(format!("{e:#}")),
                Ok(out) => {
                    if let Some(prev) = cell.checksum
                        && prev != out.checksum
                    {
                        cell.error = Some(format!(
                            "checksum changed between runs of the same engine: {prev} then {}",
                            out.checksum
                        ));
                        continue;
                    }
                    cell.checksum = Some(out.checksum);
                    if out.note.is_some() {
                        cell.note = out.note;
                    }
                    if round >= o.warmup {
                        cell.samples.push(out.time);
                    }
                }
            }
        }
    }
    cells
}

fn fmt_time(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else if ms >= 1.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{:.0} µs", ms * 1e3)
    }
}

/// Columns of the table: each engine, then (for non-Kiln engines) its ratio.
const COLUMNS: [EngineId; 7] = EngineId::ALL;

fn utc_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", rem / 3600, rem % 3600 / 60)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn kiln_revision() -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(rev) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no", "--", "crates"]).is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev} + uncommitted changes under crates/") } else { rev }
        }
        None => "unknown".into(),
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args = if args.is_empty() { String::new() } else { format!(" -- {}", args.join(" ")) };
    if std::env::var_os("CARGO").is_some() {
        format!("cargo run --release{args}   (in benches/)")
    } else {
        let bin = std::env::args().next().unwrap_or_else(|| "kiln-benches".into());
        format!("{bin}{}", args.trim_start_matches(" --"))
    }
}

fn main() {
    match real_main() {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Returns whether every engine ran every workload and all agreed.
fn real_main() -> Result<bool> {
    let o = parse_args()?;
    let ws = workloads(&o);
    let mut wasm_of = Vec::new();
    for w in &ws {
        wasm_of.push(wat::parse_str(&w.wat).with_context(|| format!("assembling workload {}", w.name))?);
    }
    if let Some(dir) = &o.emit {
        std::fs::create_dir_all(dir)?;
        for (w, wasm) in ws.iter().zip(&wasm_of) {
            let path = format!("{dir}/{}.wasm", w.name);
            std::fs::write(&path, wasm)?;
            println!("{path}: run({}) ({})", w.arg, w.input);
        }
        return Ok(true);
    }

    let started = utc_now();
    let load_before = loadavg();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut runtimes: Vec<(EngineId, Box<dyn Runtime>)> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for id in EngineId::ALL {
        match engines::new_runtime(id) {
            Ok(rt) => runtimes.push((id, rt)),
            Err(e) => errors.push(format!("{}: engine creation failed: {e:#}", id.label())),
        }
    }

    let mut rows: Vec<(&Workload, Vec<Cell>)> = Vec::new();
    for (w, wasm) in ws.iter().zip(&wasm_of) {
        let wanted = engines_for(w.kind);
        let rts: Vec<(EngineId, Box<dyn Runtime>)> = runtimes
            .iter()
            .filter(|(id, _)| wanted.contains(id))
            .map(|(id, _)| (*id, engines::new_runtime(*id).expect("created once already")))
            .collect();
        eprint!("{:<14} {:<22}", w.name, w.input);
        let t = Instant::now();
        let cells = measure(w, wasm, &rts, &o);
        eprintln!(" {:.1} s", t.elapsed().as_secs_f64());
        for c in &cells {
            if let Some(e) = &c.error {
                errors.push(format!("{} ({}) on {}: {e}", w.name, w.input, c.engine.label()));
            }
        }
        // Agreement: every engine that finished must have the same checksum.
        let done: Vec<&Cell> = cells.iter().filter(|c| c.error.is_none() && c.checksum.is_some()).collect();
        if let Some(first) = done.first()
            && done.iter().any(|c| c.checksum != first.checksum)
        {
            let all = done.iter().map(|c| format!("{} = {}", c.engine.label(), c.checksum.unwrap())).collect::<Vec<_>>().join(", ");
            errors.push(format!("{} run({}) ({}): checksums disagree: {all}", w.name, w.arg, w.input));
        }
        rows.push((w, cells));
    }

    // ------------------------------------------------------------ report
    let mut out = String::new();
    writeln!(out, "\n## Kiln benchmarks: {started}\n").unwrap();
    writeln!(out, "- command: `{}`", command_line()).unwrap();
    writeln!(
        out,
        "- machine: {cpus} CPUs, load average {load_before} before and {} after the run",
        loadavg()
    )
    .unwrap();
    writeln!(out, "- Kiln {}, Wasmtime 48.0.8, wasmi 2.0.0", kiln_revision()).unwrap();
    writeln!(
        out,
        "- median of {} runs per cell after {} warm-up run(s); engines interleaved run by run",
        o.runs, o.warmup
    )
    .unwrap();
    if cfg!(debug_assertions) {
        writeln!(out, "- WARNING: built without --release; these times mean nothing").unwrap();
    }
    if o.quick {
        writeln!(out, "- WARNING: --quick: tiny inputs, one run; a smoke test, not a measurement").unwrap();
    }
    writeln!(out).unwrap();

    let mut header = String::from("| workload | input |");
    let mut rule = String::from("|---|---|");
    for e in COLUMNS {
        write!(header, " {} |", e.label()).unwrap();
        rule.push_str("---:|");
        if let Some(base) = e.baseline() {
            let short = match base {
                EngineId::KilnNull => "÷ Kiln null",
                EngineId::KilnDrc => "÷ Kiln DRC",
                _ => "÷ Kiln",
            };
            write!(header, " {short} |").unwrap();
            rule.push_str("---:|");
        }
    }
    header.push_str(" checksum |");
    rule.push_str("---:|");
    writeln!(out, "{header}\n{rule}").unwrap();
    for (w, cells) in &rows {
        let find = |id: EngineId| cells.iter().find(|c| c.engine == id);
        let mut line = format!("| {} | {} |", w.name, w.input);
        for e in COLUMNS {
            let cell = find(e);
            let time = match cell {
                None => "—".to_owned(),
                Some(c) if c.error.is_some() => "**error**".to_owned(),
                Some(c) => c.median().map(fmt_time).unwrap_or_else(|| "—".into()),
            };
            write!(line, " {time} |").unwrap();
            if let Some(base) = e.baseline() {
                let ratio = match (cell.and_then(Cell::median), find(base).and_then(Cell::median)) {
                    (Some(t), Some(b)) if !b.is_zero() => format!("{:.2}", t.as_secs_f64() / b.as_secs_f64()),
                    _ => "—".to_owned(),
                };
                write!(line, " {ratio} |").unwrap();
            }
        }
        let sums: Vec<i32> = cells.iter().filter(|c| c.error.is_none()).filter_map(|c| c.checksum).collect();
        let checksum = match sums.first() {
            None => "—".to_owned(),
            Some(f) if sums.iter().all(|s| s == f) => f.to_string(),
            Some(_) => "**DISAGREE**".to_owned(),
        };
        writeln!(line, " {checksum} |").unwrap();
        out.push_str(&line);
    }
    writeln!(
        out,
        "\nTimes are medians. `÷ Kiln` is the time in the column to its left divided by Kiln's time \
         with the same collector kind, measured in this same run: above 1.00 Kiln is faster, below 1.00 \
         the peer is. — means the engine does not run that workload."
    )
    .unwrap();

    writeln!(out, "\nSpread of the samples, (max − min) / median:\n").unwrap();
    let mut sh = String::from("| workload |");
    let mut sr = String::from("|---|");
    for e in COLUMNS {
        write!(sh, " {} |", e.label()).unwrap();
        sr.push_str("---:|");
    }
    writeln!(out, "{sh}\n{sr}").unwrap();
    for (w, cells) in &rows {
        let mut line = format!("| {} |", w.name);
        for e in COLUMNS {
            let s = cells.iter().find(|c| c.engine == e).and_then(Cell::spread);
            write!(line, " {} |", s.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "—".into())).unwrap();
        }
        writeln!(out, "{line}").unwrap();
    }

    let notes: Vec<String> = rows
        .iter()
        .flat_map(|(w, cells)| {
            cells.iter().filter_map(move |c| c.note.as_ref().map(|n| format!("- {} on {}: {n}", w.name, c.engine.label())))
        })
        .collect();
    if !notes.is_empty() {
        writeln!(out, "\nKiln's GC heap statistics (the last run):\n").unwrap();
        for n in notes {
            writeln!(out, "{n}").unwrap();
        }
    }

    if errors.is_empty() {
        writeln!(out, "\nAll engines agreed on every checksum.").unwrap();
    } else {
        writeln!(out, "\nERRORS ({}):\n", errors.len()).unwrap();
        for e in &errors {
            writeln!(out, "- {e}").unwrap();
        }
    }
    print!("{out}");
    Ok(errors.is_empty())
}
