//! The `assert_*` directives.
//!
//! Each handler returns `Ok(())` when the assertion holds and otherwise an
//! error saying what was expected and what happened. They never change the
//! current instance or bind names.
//!
//! How strictly messages are checked:
//! - `assert_trap` and `assert_exhaustion`: the error (its whole context
//!   chain) must contain the script's text. Kiln's `Trap` displays the spec's
//!   wording, so this is a real check of the trap cause.
//! - `assert_invalid`, `assert_malformed`, `assert_unlinkable`: only that
//!   the module is rejected at the right stage. Engines word these errors
//!   differently; the script's text is kept in the failure message.

use super::{Outcome, WastContext};
use crate::values;
use anyhow::{Context as _, Result, bail};
use wast::{QuoteWat, WastExecute, WastInvoke, WastRet, Wat};

impl WastContext {
    /// `(assert_return ACTION RESULT*)`.
    pub(super) fn assert_return(
        &mut self,
        exec: WastExecute<'_>,
        expected: &[WastRet<'_>],
    ) -> Result<()> {
        match self.execute(exec)? {
            Ok(actual) => values::match_results(&mut self.store, &actual, expected),
            Err(err) => bail!(
                "expected {}, but the action failed: {err:#}",
                values::describe_rets(expected)
            ),
        }
    }

    /// `(assert_trap ACTION "message")`, where the action may also be a
    /// module whose instantiation traps (e.g. in its start function or an
    /// out-of-bounds segment).
    pub(super) fn assert_trap(&mut self, exec: WastExecute<'_>, message: &str) -> Result<()> {
        let outcome = self.execute(exec)?;
        self.expect_failure(outcome, "trap", message)
    }

    /// `(assert_exhaustion (invoke ...) "message")`.
    pub(super) fn assert_exhaustion(
        &mut self,
        invoke: &WastInvoke<'_>,
        message: &str,
    ) -> Result<()> {
        let outcome = self.invoke(invoke)?;
        self.expect_failure(outcome, "exhaustion", message)
    }

    fn expect_failure(&mut self, outcome: Outcome, what: &str, message: &str) -> Result<()> {
        match outcome {
            Ok(results) => bail!(
                "expected {what} `{message}`, but it returned {}",
                values::describe_vals(&mut self.store, &results)
            ),
            Err(err) => {
                let actual = format!("{err:#}");
                if actual.contains(message) || names_an_index_of(&err, message) {
                    Ok(())
                } else {
                    bail!("expected {what} `{message}`, got error: {actual}")
                }
            }
        }
    }

    /// `(assert_invalid MODULE "message")`: the module must not compile.
    pub(super) fn assert_invalid(&mut self, mut module: QuoteWat<'_>, message: &str) -> Result<()> {
        reject_components(&module)?;
        match self.compile(&mut module) {
            Err(_) => Ok(()),
            Ok(_) => bail!("expected an invalid module (`{message}`), but it compiled"),
        }
    }

    /// `(assert_malformed MODULE "message")`. For quoted text a parse
    /// failure counts: the text format is part of what can be malformed. A
    /// binary module is never re-parsed, so it must fail in Kiln itself.
    pub(super) fn assert_malformed(
        &mut self,
        mut module: QuoteWat<'_>,
        message: &str,
    ) -> Result<()> {
        reject_components(&module)?;
        match self.compile(&mut module) {
            Err(_) => Ok(()),
            Ok(_) => bail!("expected a malformed module (`{message}`), but it compiled"),
        }
    }

    /// `(assert_unlinkable MODULE "message")`: the module compiles, and
    /// instantiating it against what is registered fails.
    pub(super) fn assert_unlinkable(&mut self, mut module: Wat<'_>, message: &str) -> Result<()> {
        let module = self
            .compile_wat(&mut module)
            .context("expected a module that compiles and then fails to link")?;
        match self.linker.instantiate(&mut self.store, &module) {
            Err(_) => Ok(()),
            Ok(_) => bail!("expected a link error (`{message}`), but the module instantiated"),
        }
    }

    /// `(assert_exception ACTION)`: the action must end with an uncaught
    /// Wasm exception (`ThrownException`), not another error.
    pub(super) fn assert_exception(&mut self, exec: WastExecute<'_>) -> Result<()> {
        match self.execute(exec)? {
            Ok(results) => bail!(
                "expected an uncaught exception, but it returned {}",
                values::describe_vals(&mut self.store, &results)
            ),
            Err(err) if err.is::<kiln::ThrownException>() => Ok(()),
            Err(err) => bail!("expected an uncaught exception, got error: {err:#}"),
        }
    }

    /// `(assert_invalid_custom ...)` / `(assert_malformed_custom ...)`.
    ///
    /// These concern custom sections, whose contents an engine must ignore:
    /// the module itself has to compile. Text that does not even encode
    /// (a malformed custom annotation) is what the script asserts, so that
    /// passes too.
    pub(super) fn assert_bad_custom_section(
        &mut self,
        mut module: QuoteWat<'_>,
        message: &str,
    ) -> Result<()> {
        reject_components(&module)?;
        let Ok(bytes) = module.encode() else {
            return Ok(());
        };
        self.compile_binary(&bytes).with_context(|| {
            format!("a bad custom section (`{message}`) must not stop the module from compiling")
        })?;
        Ok(())
    }
}

/// Components are not supported; without this check a component would be
/// "rejected" and an assertion that expects rejection would pass.
fn reject_components(module: &QuoteWat<'_>) -> Result<()> {
    if super::is_component(module) {
        bail!("not supported: components");
    }
    Ok(())
}

/// The reference interpreter appends the offending element index to some
/// trap messages (`uninitialized element 2`); a trap code cannot carry it.
/// Accept exactly that: the trap's own message, a space, and a number.
fn names_an_index_of(err: &anyhow::Error, expected: &str) -> bool {
    let Some(trap) = err.downcast_ref::<kiln::Trap>() else { return false };
    let trap = trap.to_string();
    expected
        .strip_prefix(trap.as_str())
        .and_then(|rest| rest.strip_prefix(' '))
        .is_some_and(|index| !index.is_empty() && index.bytes().all(|b| b.is_ascii_digit()))
}
