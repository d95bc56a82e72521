//! Measuring one workload: a worker process per engine, samples requested
//! round by round (engines interleaved, the first one rotating), then each
//! worker's peak RSS.

use crate::child::{Node, Worker};
use crate::engines::EngineId;
use crate::worker::Mode;
use crate::workloads::Workload;
use std::path::Path;
use std::time::Duration;

/// The per-engine record of one workload.
pub struct Cell {
    pub engine: EngineId,
    pub samples: Vec<Duration>,
    pub checksum: Option<i32>,
    pub error: Option<String>,
    pub note: Option<String>,
    /// Peak resident set size of the engine's worker process, in bytes.
    pub rss: Option<u64>,
}

impl Cell {
    fn new(engine: EngineId) -> Cell {
        Cell { engine, samples: Vec::new(), checksum: None, error: None, note: None, rss: None }
    }

    pub fn median(&self) -> Option<Duration> {
        if self.error.is_some() || self.samples.is_empty() {
            return None;
        }
        let mut s = self.samples.clone();
        s.sort();
        let n = s.len();
        Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2 })
    }

    pub fn spread(&self) -> Option<f64> {
        let m = self.median()?.as_secs_f64();
        let min = self.samples.iter().min()?.as_secs_f64();
        let max = self.samples.iter().max()?.as_secs_f64();
        Some((max - min) / m)
    }
}

/// Where a workload's workers find their input and leave their stderr.
pub struct Files<'a> {
    pub wasm: &'a Path,
    pub dir: &'a Path,
}

/// `warmup + runs` rounds of one sample per engine.
pub fn measure(w: &Workload, files: &Files, engines: &[EngineId], node: Option<&Node>, warmup: usize, runs: usize) -> Vec<Cell> {
    let mut cells: Vec<Cell> = engines.iter().map(|&e| Cell::new(e)).collect();
    let mut workers: Vec<Option<Worker>> = Vec::new();
    for (i, &e) in engines.iter().enumerate() {
        let stderr = files.dir.join(format!("{}.{}.stderr", w.name, e.key()));
        match Worker::start(e, w.kind.mode(), files.wasm, node, &stderr) {
            Ok(worker) => workers.push(Some(worker)),
            Err(err) => {
                cells[i].error = Some(format!("{err:#}"));
                workers.push(None);
            }
        }
    }
    for round in 0..warmup + runs {
        // Interleave engines, and rotate who goes first, so that a change
        // in machine load during the run is spread over all of them.
        for k in 0..engines.len() {
            let i = (k + round) % engines.len();
            let cell = &mut cells[i];
            let Some(worker) = workers[i].as_mut() else { continue };
            if cell.error.is_some() {
                continue;
            }
            match worker.sample(w.request()) {
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
                    if round >= warmup {
                        cell.samples.push(out.time);
                    }
                }
            }
        }
    }
    for (cell, worker) in cells.iter_mut().zip(workers) {
        cell.rss = worker.and_then(Worker::finish);
    }
    cells
}

/// The peak RSS of each engine's worker for a module that does nothing
/// (one `run`), in bytes: what every other figure of that engine includes.
pub fn baseline_rss(wasm: &Path, dir: &Path, engines: &[EngineId], node: Option<&Node>) -> Vec<(EngineId, Option<u64>)> {
    engines
        .iter()
        .map(|&e| {
            let stderr = dir.join(format!("empty.{}.stderr", e.key()));
            let rss = Worker::start(e, Mode::Run, wasm, node, &stderr)
                .and_then(|mut worker| worker.sample(0).map(|_| worker))
                .ok()
                .and_then(Worker::finish);
            (e, rss)
        })
        .collect()
}
