//! Compiling a whole module: every defined function, in parallel across
//! cores, then laid out in one code image.

use crate::func_env::{FuncEnv, Tunables};
use crate::inline::{self, InlineBodies, Kept};
use crate::isa::{OptLevel, host_isa};
use crate::link::{INLINED_LOCATION, CallReloc, CodeMetadata, CompiledFunction, ExceptionHandler, StackMap, link};
use crate::translate::{FuncTranslator, FunctionFacts, trap_from_code};
use crate::CompileError;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{self, ExternalName, UserFuncName};
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use kiln_environ::ModuleInfo;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Compiles modules and trampolines for the host.
pub struct Compiler {
    pub(crate) isa: OwnedTargetIsa,
    tunables: Tunables,
}

/// Where a defined function sits in the code image.
#[derive(Debug, Clone, Copy)]
pub struct FunctionInfo {
    pub start: u32,
    pub len: u32,
}

/// A compiled module: one code image for all its defined functions.
#[derive(Debug)]
pub struct CompiledModule {
    pub code: Vec<u8>,
    /// Indexed by defined function index.
    pub funcs: Vec<FunctionInfo>,
    pub metadata: CodeMetadata,
}

/// Does `func` contain a call of any kind (to a function, a builtin or a
/// libcall)? Only a call lets the runtime run while `func` runs.
fn makes_calls(func: &ir::Function) -> bool {
    func.layout.blocks().flat_map(|b| func.layout.block_insts(b)).any(|inst| func.dfg.insts[inst].opcode().is_call())
}

impl Compiler {
    pub fn new(opt: OptLevel, tunables: Tunables) -> Result<Self, CompileError> {
        Ok(Compiler { isa: host_isa(opt).map_err(CompileError::Isa)?, tunables })
    }

    pub fn tunables(&self) -> Tunables {
        self.tunables
    }

    /// Everything about the target and Cranelift's settings that compiled
    /// code depends on (the triple, the shared flags such as the opt level,
    /// and the CPU features the code may use), as `key=value` pairs: code
    /// compiled under one fingerprint may only run under the same one.
    pub fn isa_fingerprint(&self) -> String {
        let mut pairs = vec![format!("target={}", self.isa.triple())];
        pairs.extend(self.isa.flags().iter().map(|v| format!("{}={v}", v.name)));
        pairs.extend(self.isa.isa_flags().iter().map(|v| format!("{}={v}", v.name)));
        pairs.join(";")
    }

    /// Compiles every defined function of `module`, whose binary is `wasm`.
    pub fn compile_module(&self, module: &ModuleInfo, wasm: &[u8]) -> Result<CompiledModule, CompileError> {
        let env = FuncEnv::new(module, self.tunables, self.isa.default_call_conv(), self.isa.frontend_config());
        let inline_bodies = self.inline_bodies(&env, wasm);
        let funcs = in_parallel(module.bodies.len(), |ctx, fb, i| self.compile_function(&env, ctx, fb, i as u32, wasm, inline_bodies.as_ref()))
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let linked = link(&funcs)?;
        Ok(CompiledModule {
            code: linked.code,
            funcs: linked.ranges.iter().map(|&(start, len)| FunctionInfo { start, len }).collect(),
            metadata: linked.metadata,
        })
    }

    /// The translated bodies of the functions small enough to inline, or
    /// `None` when this compiler does not inline.
    fn inline_bodies(&self, env: &FuncEnv<'_>, wasm: &[u8]) -> Option<InlineBodies> {
        // Inlined code's source locations are numbered from
        // `INLINED_LOCATION` up, above every module offset.
        let too_large = wasm.len() >= INLINED_LOCATION as usize;
        if !self.tunables.inlining || too_large || self.isa.flags().opt_level() == cranelift_codegen::settings::OptLevel::None {
            return None;
        }
        let module = env.module;
        let small: Vec<u32> = (0..module.bodies.len() as u32).filter(|&d| module.bodies[d as usize].range.len() <= inline::MAX_CALLEE_WASM_BYTES).collect();
        // A function that fails to translate is reported when it is compiled
        // on its own; here it is only not inlined.
        let kept = in_parallel(small.len(), |ctx, fb, i| {
            let facts = Self::translate_function(env, ctx, fb, small[i], wasm).ok()?;
            inline::small_enough(small[i], &ctx.func, inline::MAX_CALLEE_INSTS).then(|| Kept::new(ctx.func.clone(), facts))
        });
        let mut bodies: Vec<Option<Kept>> = (0..module.bodies.len()).map(|_| None).collect();
        for (&defined, body) in small.iter().zip(kept) {
            bodies[defined as usize] = body;
        }
        Some(InlineBodies { num_imported_funcs: module.num_imported_funcs, bodies })
    }

    fn compile_function(&self, env: &FuncEnv<'_>, ctx: &mut Context, fb: &mut FunctionBuilderContext, defined: u32, wasm: &[u8], inline_bodies: Option<&InlineBodies>) -> Result<CompiledFunction, CompileError> {
        // A body kept for inlining is this function's translation already.
        let facts = match inline_bodies.and_then(|b| b.kept(defined)) {
            Some(kept) => {
                ctx.clear();
                ctx.func = kept.translated.clone();
                kept.facts
            }
            None => Self::translate_function(env, ctx, fb, defined, wasm)?,
        };
        let module = env.module;
        let index = module.num_imported_funcs + defined;
        let name = module.func_name(index).map_or_else(|| format!("#{index}"), |n| format!("{n} (#{index})"));
        let start = std::time::Instant::now();
        let mut inlined = Vec::new();
        if let Some(bodies) = inline_bodies {
            let mut inliner = bodies.for_caller(index);
            ctx.inline(&mut inliner).map_err(|e| CompileError::Codegen { func: name.clone(), message: format!("inlining: {e:?}") })?;
            inlined = inliner.restore_source_locations(&mut ctx.func);
        }
        let mut compiled = self.finish(ctx, name, |callee| callee.checked_sub(module.num_imported_funcs).map(|d| d as usize))?;
        compiled.inlined = inlined;
        compiled.reads_gc_heap = facts.reads_gc_heap;
        log::debug!("compiled function {} into {} bytes in {:?}", compiled.name, compiled.code.len(), start.elapsed());
        Ok(compiled)
    }

    /// Translates defined function `defined` into `ctx`'s function.
    fn translate_function(env: &FuncEnv<'_>, ctx: &mut Context, fb: &mut FunctionBuilderContext, defined: u32, wasm: &[u8]) -> Result<FunctionFacts, CompileError> {
        let module = env.module;
        let index = module.num_imported_funcs + defined;
        let range = module.bodies[defined as usize].range.clone();
        let body = wasmparser::FunctionBody::new(wasmparser::BinaryReader::new(&wasm[range.clone()], range.start as u64));
        let translate = |ctx: &mut Context, fb: &mut FunctionBuilderContext, call_free| {
            ctx.clear();
            ctx.func.signature = env.wasm_signature(module.func_sig(index));
            ctx.func.name = UserFuncName::user(0, index);
            let builder = FunctionBuilder::new(&mut ctx.func, fb);
            FuncTranslator::translate(env, builder, index, &body, call_free).inspect_err(|_| {
                // A translation abandoned half way leaves the builder context
                // dirty; the next function on this thread needs a clean one.
                *fb = FunctionBuilderContext::new();
            })
        };
        let facts = translate(ctx, fb, false)?;
        // Whether a function calls is known once it is translated (many
        // operators call builtins), and the read barriers are emitted as
        // it is: a call-free function whose barriers the collector can
        // drop is translated again.
        let gc = crate::gc::for_collector(env.tunables.collector);
        if gc.read_barrier_guards_calls() && facts.reads_gc_heap && !makes_calls(&ctx.func) {
            let facts = translate(ctx, fb, true)?;
            // Dropping read barriers adds no call (no barrier calls out).
            debug_assert!(!makes_calls(&ctx.func), "a call-free translation of function {index} makes a call");
            return Ok(facts);
        }
        Ok(facts)
    }

    /// The CLIF the translator emits for defined function `defined` of
    /// `module`, before Cranelift optimises it: what snapshot tests pin
    /// (each collector's barriers show up here).
    pub fn clif_text(&self, module: &ModuleInfo, wasm: &[u8], defined: u32) -> Result<String, CompileError> {
        let env = FuncEnv::new(module, self.tunables, self.isa.default_call_conv(), self.isa.frontend_config());
        let mut ctx = Context::new();
        Self::translate_function(&env, &mut ctx, &mut FunctionBuilderContext::new(), defined, wasm)?;
        Ok(ctx.func.display().to_string())
    }

    /// Runs Cranelift on the function in `ctx` and extracts what the linker
    /// and runtime need. `resolve` maps a callee's user name index to its
    /// position in the image.
    pub(crate) fn finish(&self, ctx: &mut Context, name: String, resolve: impl Fn(u32) -> Option<usize>) -> Result<CompiledFunction, CompileError> {
        // `RUST_LOG=kiln_cranelift::disas=trace` prints each function's
        // machine code (Cranelift's listing, before relocation).
        let disas = log::log_enabled!(target: "kiln_cranelift::disas", log::Level::Trace);
        ctx.set_disasm(disas);
        ctx.compile(&*self.isa, &mut ControlPlane::default())
            .map_err(|e| CompileError::Codegen { func: name.clone(), message: format!("{:?}", e.inner) })?;
        // `RUST_LOG=kiln_cranelift::clif=trace` prints each function as
        // Cranelift left it: what to read beside a profile of the JIT code.
        log::trace!(target: "kiln_cranelift::clif", "optimised CLIF of {name}:\n{}", ctx.func.display());
        let compiled = ctx.compiled_code().expect("compiled above");
        if let Some(listing) = compiled.vcode.as_deref().filter(|_| disas) {
            log::trace!(target: "kiln_cranelift::disas", "machine code of {name}:\n{listing}");
        }
        let buffer = &compiled.buffer;
        let mut relocs = Vec::new();
        for r in buffer.relocs() {
            let callee = match &r.target {
                FinalizedRelocTarget::ExternalName(ExternalName::User(name_ref)) => {
                    let callee = ctx.func.params.user_named_funcs()[*name_ref].index;
                    resolve(callee)
                }
                _ => None,
            };
            let Some(callee) = callee else {
                return Err(CompileError::Relocation { func: name, reloc: format!("{:?} to {:?}", r.kind, r.target) });
            };
            relocs.push(CallReloc { offset: r.offset, kind: r.kind, addend: r.addend, callee });
        }
        let traps = buffer
            .traps()
            .iter()
            .map(|t| (t.offset, trap_from_code(t.code).expect("compiled code only raises Kiln trap codes")))
            .collect();
        let address_map = buffer
            .get_srclocs_sorted()
            .iter()
            .filter(|s| !s.loc.is_default())
            .map(|s| (s.start, s.end, s.loc.bits()))
            .collect();
        let mut handlers = Vec::new();
        for site in buffer.call_sites() {
            for h in site.exception_handlers {
                if let cranelift_codegen::FinalizedMachExceptionHandler::Default(handler) = h {
                    let frame_offset = site.frame_offset.expect("backends with exception support report frame offsets");
                    handlers.push(ExceptionHandler { return_address: site.ret_addr, handler: *handler, frame_offset });
                }
            }
        }
        let stack_maps = buffer
            .user_stack_maps()
            .iter()
            .map(|(return_address, span, map)| StackMap {
                return_address: *return_address,
                span: *span,
                offsets: map.entries().map(|(_, offset)| offset).collect(),
            })
            .collect();
        Ok(CompiledFunction {
            name,
            handlers,
            stack_maps,
            code: buffer.data().to_vec(),
            alignment: self.isa.function_alignment().minimum,
            relocs,
            traps,
            address_map,
            inlined: Vec::new(),
            reads_gc_heap: false,
        })
    }
}

/// `f(ctx, builder_ctx, i)` for every `i` in `0..n`, spread over the
/// machine's cores (each worker thread reusing its own contexts), in order.
fn in_parallel<T: Send>(n: usize, f: impl Fn(&mut Context, &mut FunctionBuilderContext, usize) -> T + Sync) -> Vec<T> {
    let results: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(1, |p| p.get()).min(n.max(1));
    let work = || {
        let mut ctx = Context::new();
        let mut fb = FunctionBuilderContext::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                break;
            }
            let r = f(&mut ctx, &mut fb, i);
            *results[i].lock().unwrap() = Some(r);
        }
    };
    if workers <= 1 || n < 4 {
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(work);
            }
        });
    }
    results.into_iter().map(|m| m.into_inner().unwrap().expect("every index visited")).collect()
}
