//! The Markdown report: header, times and ratios, spreads, peak RSS, Kiln's
//! GC statistics, errors.

use crate::engines::EngineId;
use crate::measure::Cell;
use crate::workloads::Workload;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct Report<'a> {
    pub started: String,
    pub load_before: String,
    pub cpus: usize,
    pub runs: usize,
    pub warmup: usize,
    pub quick: bool,
    /// The engines that have a column, in column order.
    pub columns: Vec<EngineId>,
    /// "V8 14.6 (Node v26.12.1)", or why V8 has no column.
    pub v8: Result<String, String>,
    pub rows: Vec<(&'a Workload, Vec<Cell>)>,
    /// Peak RSS of each engine's worker for an empty module.
    pub baseline_rss: Vec<(EngineId, Option<u64>)>,
    pub errors: Vec<String>,
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

fn fmt_mb(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 10.0 { format!("{mb:.0}") } else { format!("{mb:.1}") }
}

pub fn utc_now() -> String {
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

pub fn loadavg() -> String {
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
    if std::env::var_os("CARGO").is_some() {
        let args = if args.is_empty() { String::new() } else { format!(" -- {}", args.join(" ")) };
        format!("cargo run --release{args}   (in benches/)")
    } else {
        std::env::args().collect::<Vec<_>>().join(" ")
    }
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.header(&mut out);
        self.times(&mut out);
        self.spreads(&mut out);
        self.rss(&mut out);
        self.notes(&mut out);
        if self.errors.is_empty() {
            writeln!(out, "\nAll engines agreed on every checksum.").unwrap();
        } else {
            writeln!(out, "\nERRORS ({}):\n", self.errors.len()).unwrap();
            for e in &self.errors {
                writeln!(out, "- {e}").unwrap();
            }
        }
        out
    }

    fn cell<'c>(cells: &'c [Cell], id: EngineId) -> Option<&'c Cell> {
        cells.iter().find(|c| c.engine == id)
    }

    fn header(&self, out: &mut String) {
        writeln!(out, "\n## Kiln benchmarks: {}\n", self.started).unwrap();
        writeln!(out, "- command: `{}`", command_line()).unwrap();
        writeln!(
            out,
            "- machine: {} CPUs, load average {} before and {} after the run",
            self.cpus,
            self.load_before,
            loadavg()
        )
        .unwrap();
        let v8 = match &self.v8 {
            Ok(v) => format!(", {v}"),
            Err(_) => String::new(),
        };
        writeln!(out, "- Kiln {}, Wasmtime 48.0.8, wasmi 2.0.0{v8}", kiln_revision()).unwrap();
        if let Err(why) = &self.v8 {
            writeln!(out, "- no V8 column: {why}").unwrap();
        }
        writeln!(
            out,
            "- median of {} runs per cell after {} warm-up run(s); engines interleaved run by run, \
             each engine in a worker process of its own per workload",
            self.runs, self.warmup
        )
        .unwrap();
        if cfg!(debug_assertions) {
            writeln!(out, "- WARNING: built without --release; these times mean nothing").unwrap();
        }
        if self.quick {
            writeln!(out, "- WARNING: --quick: tiny inputs, one run; a smoke test, not a measurement").unwrap();
        }
        writeln!(out).unwrap();
    }

    fn times(&self, out: &mut String) {
        let mut header = String::from("| workload | input |");
        let mut rule = String::from("|---|---|");
        for &e in &self.columns {
            write!(header, " {} |", e.label()).unwrap();
            rule.push_str("---:|");
            if let Some(base) = e.baseline() {
                let short = match base {
                    _ if e == EngineId::KilnGenerational => "÷ Kiln copying",
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
        for (w, cells) in &self.rows {
            let mut line = format!("| {} | {} |", w.name, w.input);
            for &e in &self.columns {
                let cell = Self::cell(cells, e);
                let time = match cell {
                    None => "—".to_owned(),
                    Some(c) if c.error.is_some() => "**error**".to_owned(),
                    Some(c) => c.median().map(fmt_time).unwrap_or_else(|| "—".into()),
                };
                write!(line, " {time} |").unwrap();
                if let Some(base) = e.baseline() {
                    let ratio = match (cell.and_then(Cell::median), Self::cell(cells, base).and_then(Cell::median)) {
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
             with the same collector kind (Kiln copying for V8 and wasmi), measured in this same run: \
             above 1.00 Kiln is faster, below 1.00 the peer is. — means the engine does not run that workload."
        )
        .unwrap();
    }

    fn engine_table_header(&self, out: &mut String) {
        let mut h = String::from("| workload |");
        let mut r = String::from("|---|");
        for &e in &self.columns {
            write!(h, " {} |", e.label()).unwrap();
            r.push_str("---:|");
        }
        writeln!(out, "{h}\n{r}").unwrap();
    }

    fn spreads(&self, out: &mut String) {
        writeln!(out, "\nSpread of the samples, (max − min) / median:\n").unwrap();
        self.engine_table_header(out);
        for (w, cells) in &self.rows {
            let mut line = format!("| {} |", w.name);
            for &e in &self.columns {
                let s = Self::cell(cells, e).and_then(Cell::spread);
                write!(line, " {} |", s.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "—".into())).unwrap();
            }
            writeln!(out, "{line}").unwrap();
        }
    }

    fn rss(&self, out: &mut String) {
        writeln!(
            out,
            "\nPeak resident set size, MB (10^6 bytes), of each engine's worker process over the whole \
             workload (loading, compiling, warm-up and measured runs). The first row is a module that \
             does nothing: the engine's own footprint, included in every row below it.\n"
        )
        .unwrap();
        self.engine_table_header(out);
        let mut line = String::from("| (empty module) |");
        for &e in &self.columns {
            let rss = self.baseline_rss.iter().find(|(id, _)| *id == e).and_then(|(_, r)| *r);
            write!(line, " {} |", rss.map(fmt_mb).unwrap_or_else(|| "—".into())).unwrap();
        }
        writeln!(out, "{line}").unwrap();
        for (w, cells) in &self.rows {
            let mut line = format!("| {} |", w.name);
            for &e in &self.columns {
                let text = match Self::cell(cells, e) {
                    None => "—".to_owned(),
                    Some(c) if c.error.is_some() => "**error**".to_owned(),
                    Some(c) => c.rss.map(fmt_mb).unwrap_or_else(|| "—".into()),
                };
                write!(line, " {text} |").unwrap();
            }
            writeln!(out, "{line}").unwrap();
        }
    }

    fn notes(&self, out: &mut String) {
        let notes: Vec<String> = self
            .rows
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
    }
}
