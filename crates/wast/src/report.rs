//! What a script run reports: failed directives and a per-script summary.
//!
//! Every failure carries its `file:line:col` (1-based, as editors show it),
//! the directive kind, and a message saying what was expected and what
//! happened, so it can be printed on its own without the script at hand.

use std::fmt;

/// One directive that did not do what the script says it should.
#[derive(Debug, Clone)]
pub struct DirectiveFailure {
    /// The script's file name, as given to the runner.
    pub file: String,
    /// 1-based line of the directive's opening keyword.
    pub line: usize,
    /// 1-based column of the directive's opening keyword.
    pub col: usize,
    /// The directive kind: `assert_return`, `module`, `invoke`, ...
    /// (`script` for a script that does not parse).
    pub directive: &'static str,
    /// Expected versus actual; may span several lines.
    pub message: String,
}

impl fmt::Display for DirectiveFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {} failed: {}",
            self.file, self.line, self.col, self.directive, self.message
        )
    }
}

impl std::error::Error for DirectiveFailure {}

/// The outcome of running one script in continue mode.
#[derive(Debug, Clone, Default)]
pub struct WastSummary {
    /// Directives that did what the script says.
    pub passed: usize,
    /// Every directive that did not, in script order.
    pub failures: Vec<DirectiveFailure>,
}

impl WastSummary {
    /// Number of failed directives.
    pub fn failed(&self) -> usize {
        self.failures.len()
    }

    /// Whether every directive passed.
    pub fn is_success(&self) -> bool {
        self.failures.is_empty()
    }
}

impl fmt::Display for WastSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failed())
    }
}
