//! Host-side input validation: a tool's input schema (from `describe()`)
//! compiled once per tool and checked before any instance exists, for
//! every door.
//!
//! Errors name each violation by its JSON pointer and the schema keyword
//! it violates, never the value: the message is recorded in the audit log,
//! which holds inputs only as hashes. Built without remote resolution: a
//! `$ref` to a URL fails to compile instead of being fetched.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use airlock_host::{LoadedTool, ToolDigest};
use serde_json::Value;

/// Most violations named in one error; the rest are counted.
const MAX_REPORTED_VIOLATIONS: usize = 8;

/// A tool's compiled input schema.
pub struct InputSchema {
    validator: jsonschema::Validator,
}

impl InputSchema {
    /// Compiles `tool`'s input schema.
    pub fn compile(tool: &LoadedTool) -> Result<Self, String> {
        jsonschema::validator_for(&tool.info().input_schema)
            .map(|validator| Self { validator })
            .map_err(|e| format!("the input schema does not compile: {e}"))
    }

    /// Checks `input` (JSON text): the first violations, or that it is not
    /// JSON at all.
    pub fn check(&self, input: &str) -> Result<(), String> {
        let value: Value = serde_json::from_str(input).map_err(|e| format!("the input is not JSON: {e}"))?;
        self.check_value(&value)
    }

    /// Checks an already parsed input.
    pub fn check_value(&self, input: &Value) -> Result<(), String> {
        let mut problems = Vec::new();
        let mut more = 0usize;
        for error in self.validator.iter_errors(input) {
            if problems.len() == MAX_REPORTED_VIOLATIONS {
                more += 1;
                continue;
            }
            problems.push(violation(&error));
        }
        if problems.is_empty() {
            return Ok(());
        }
        if more > 0 {
            problems.push(format!("and {more} more"));
        }
        Err(problems.join("; "))
    }
}

fn violation(error: &jsonschema::ValidationError<'_>) -> String {
    let at = error.instance_path().to_string();
    let at = if at.is_empty() { "the arguments".to_owned() } else { format!("`{at}`") };
    let missing = match error.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => format!(" (missing {property})"),
        _ => String::new(),
    };
    format!("{at} violates `{}` at schema `{}`{missing}", error.kind().keyword(), error.schema_path())
}

/// Compiled schemas by component digest: each tool's is compiled on its
/// first call and kept.
#[derive(Default)]
pub(crate) struct Schemas {
    compiled: Mutex<HashMap<ToolDigest, Arc<Result<InputSchema, String>>>>,
}

impl Schemas {
    /// `tool`'s compiled schema (or why it does not compile).
    pub(crate) fn of(&self, tool: &LoadedTool) -> Arc<Result<InputSchema, String>> {
        if let Some(known) = self.compiled.lock().unwrap_or_else(PoisonError::into_inner).get(tool.digest()) {
            return known.clone();
        }
        let compiled = Arc::new(InputSchema::compile(tool));
        let mut known = self.compiled.lock().unwrap_or_else(PoisonError::into_inner);
        known.insert(tool.digest().clone(), compiled.clone());
        compiled
    }
}
