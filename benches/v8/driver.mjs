// The V8 worker of kiln-benches: runs one workload's .wasm in this Node's
// V8 and answers the harness with the protocol of ../src/worker.rs.
//
//   node --expose-gc driver.mjs MODE FILE.wasm
//
// MODE is run, instantiate or compile. It prints {"ready":true} once FILE is
// compiled; then for every integer N read from stdin it does one sample and
// prints {"checksum":C,"ms":T} (time from performance.now()) or
// {"error":"..."}:
//   run          a new instance, then time run(N);
//   instantiate  time N times: a new instance, call run(i);
//   compile      time new WebAssembly.Module(bytes); the checksum is run(N)
//                of the first module (untimed).
// After each sample a full gc() (untimed) clears its garbage, so that the
// next sample starts with an empty heap, as the other engines start every
// sample with a fresh store, and V8 does that work in its own turn rather
// than while the harness times another engine.
//
// By hand, for a quick look (warm-up and measured runs in one go):
//
//   node --expose-gc driver.mjs run FILE.wasm --arg 14 --warmup 1 --runs 5

import { readFileSync, readSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";

const [mode, file, ...rest] = process.argv.slice(2);

function say(obj) {
  writeSync(1, JSON.stringify(obj) + "\n");
}

function instantiate(module) {
  return new WebAssembly.Instance(module, {}).exports.run;
}

function collect() {
  if (typeof globalThis.gc === "function") globalThis.gc();
}

function makeSampler(bytes) {
  const module = mode === "compile" ? null : new WebAssembly.Module(bytes);
  let checksum = null;
  const samplers = {
    run(n) {
      const run = instantiate(module);
      const start = performance.now();
      const result = run(n);
      return { checksum: result, ms: performance.now() - start };
    },
    instantiate(n) {
      let sum = 0;
      const start = performance.now();
      for (let i = 0; i < n; i++) {
        sum = (sum + instantiate(module)(i)) | 0;
      }
      return { checksum: sum, ms: performance.now() - start };
    },
    compile(n) {
      const start = performance.now();
      const compiled = new WebAssembly.Module(bytes);
      const ms = performance.now() - start;
      if (checksum === null) checksum = instantiate(compiled)(n);
      return { checksum, ms };
    },
  };
  const sampler = samplers[mode];
  if (!sampler) throw new Error(`unknown mode ${mode}`);
  return (n) => {
    const result = sampler(n);
    collect();
    return result;
  };
}

// Lines of stdin, read synchronously so that nothing else runs on the
// event loop between samples.
function* lines() {
  const buf = Buffer.alloc(4096);
  let pending = "";
  for (;;) {
    let got;
    try {
      got = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      if (e.code === "EOF") got = 0;
      else throw e;
    }
    if (got === 0) break;
    pending += buf.toString("utf8", 0, got);
    let nl;
    while ((nl = pending.indexOf("\n")) >= 0) {
      yield pending.slice(0, nl);
      pending = pending.slice(nl + 1);
    }
  }
  if (pending.trim() !== "") yield pending;
}

function option(name, fallback) {
  const i = rest.indexOf(name);
  return i >= 0 ? Number(rest[i + 1]) : fallback;
}

let sample;
try {
  sample = makeSampler(readFileSync(file));
} catch (e) {
  say({ error: `compile failed: ${e}` });
  process.exit(1);
}

if (rest.includes("--runs")) {
  const arg = option("--arg", 0);
  const warmup = option("--warmup", 1);
  const runs = option("--runs", 5);
  const ms = [];
  let checksum = null;
  for (let i = 0; i < warmup + runs; i++) {
    const r = sample(arg);
    if (checksum !== null && r.checksum !== checksum) throw new Error(`checksum changed: ${checksum} then ${r.checksum}`);
    checksum = r.checksum;
    if (i >= warmup) ms.push(r.ms);
  }
  say({ checksum, ms });
} else {
  say({ ready: true });
  for (const line of lines()) {
    const n = Number.parseInt(line.trim(), 10);
    try {
      if (Number.isNaN(n)) throw new Error(`bad request ${JSON.stringify(line)}`);
      say(sample(n));
    } catch (e) {
      say({ error: String(e) });
    }
  }
}
