//! Configuration errors that name the field at fault.

use std::fmt;

/// A configuration the filter refuses, with the path of the field at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Field path, e.g. `authentication.jwt[0].issuer.audiences` (empty for the whole document).
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// Further errors found in the same pass (the apiserver reports every error of an
    /// authenticator at once); shown one per line after the first.
    pub more: Vec<ConfigError>,
}

impl ConfigError {
    /// A new error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
            more: Vec::new(),
        }
    }

    /// All of `errors` as one (the first leads); `None` when there are none.
    pub fn all(errors: Vec<ConfigError>) -> Option<Self> {
        let mut errors = errors.into_iter().flat_map(ConfigError::flatten);
        let mut first = errors.next()?;
        first.more = errors.collect();
        Some(first)
    }

    /// This error and those it carries, each on its own.
    pub fn flatten(mut self) -> Vec<ConfigError> {
        let more = std::mem::take(&mut self.more);
        let mut all = vec![self];
        all.extend(more);
        all
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        for error in &self.more {
            write!(f, "\n{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}
