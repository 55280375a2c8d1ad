//! Reading the files the CLI is given: JSON or YAML, with errors that name the file.

use std::io::Read as _;
use std::path::Path;

use meshguard::bundle::{Bundle, BundleBuilder, BundleErrors, Guardrails};
use meshguard::config::PluginConfig;
use serde::Deserialize as _;
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

/// Reads every document of a file: a JSON value, or each document of a multi-document YAML
/// file. Each comes with the name errors should use for it.
pub(crate) fn read_documents(path: &str) -> Result<Vec<(String, Value)>, Failure> {
    let text = read_text(path)?;
    let is_json = Path::new(path)
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    if is_json {
        let value = serde_json::from_str(&text)
            .map_err(|e| Failure(format!("{path}: invalid JSON: {e}")))?;
        return Ok(vec![(path.to_owned(), value)]);
    }
    let mut documents = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| Failure(format!("{path}: document {}: invalid YAML: {e}", i + 1)))?;
        documents.push((format!("{path}#{}", i + 1), value));
    }
    if documents.len() == 1 {
        documents[0].0 = path.to_owned();
    }
    Ok(documents)
}

/// Loads bundle files (any mix of bundles, Lists, arrays, objects, multi-document YAML),
/// optionally with guardrails that replace the bundle's own.
pub(crate) fn read_bundle(
    paths: &[String],
    guardrails: Option<Guardrails>,
) -> Result<Result<Bundle, BundleErrors>, Failure> {
    let mut builder = BundleBuilder::new();
    if let Some(guardrails) = guardrails {
        builder = builder.with_guardrails(guardrails);
    }
    for path in paths {
        for (source, value) in read_documents(path)? {
            builder.add_document(&source, value);
        }
    }
    Ok(builder.build())
}

/// Bundle files checked against the guardrails of `guardrails` (a file), which the bundle
/// then carries; without it, against the bundle's own (or the defaults).
pub(crate) fn read_guarded_bundle(
    paths: &[String],
    guardrails: Option<&str>,
) -> Result<Result<Bundle, BundleErrors>, Failure> {
    let guardrails = guardrails.map(read_guardrails).transpose()?;
    Ok(
        read_bundle(paths, guardrails.clone())?.map(|bundle| match guardrails {
            Some(guardrails) => bundle.with_guardrails(guardrails),
            None => bundle,
        }),
    )
}

/// Reads a guardrails file (the `guardrails` block of a bundle, on its own).
pub(crate) fn read_guardrails(path: &str) -> Result<Guardrails, Failure> {
    meshguard::json::from_value(&read_document(path)?)
        .map_err(|e| Failure(format!("{path}: {}: {}", e.field(), e.message)))
}

/// Reads and parses a plugin configuration file.
pub(crate) fn read_config(path: &str) -> Result<PluginConfig, Failure> {
    PluginConfig::from_value(read_document(path)?).map_err(|e| Failure(format!("{path}: {e}")))
}
