//! Reading the files the CLI is given: JSON or YAML, with errors that name the file.

use std::io::Read as _;
use std::path::Path;

use meshguard::config::PluginConfig;
use serde_json::Value;

use super::Failure;

/// Reads a file, or standard input for `-`.
pub(crate) fn read_text(path: &str) -> Result<String, Failure> {
    if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("standard input: {e}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|e| Failure(format!("{path}: {e}")))
}

/// Reads a JSON or YAML document (by extension; YAML also reads JSON) into a JSON value.
pub(crate) fn read_document(path: &str) -> Result<Value, Failure> {
    let text = read_text(path)?;
    let is_json = Path::new(path)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    if is_json {
        serde_json::from_str(&text).map_err(|e| Failure(format!("{path}: invalid JSON: {e}")))
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| Failure(format!("{path}: invalid YAML: {e}")))
    }
}

/// Reads and parses a plugin configuration file.
pub(crate) fn read_config(path: &str) -> Result<PluginConfig, Failure> {
    PluginConfig::from_value(read_document(path)?).map_err(|e| Failure(format!("{path}: {e}")))
}
