//! `meshguard lint`, `meshguard bundle build|sign|verify` and `meshguard request-info`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use meshguard::bundle::{Bundle, BundleErrors};
use meshguard::request_info::{KubernetesMapping, RequestMapper};

use super::{files, print_line, Failure};

#[derive(Args)]
pub(crate) struct LintArgs {
    /// Bundle files.
    #[arg(long, required = true, num_args = 1..)]
    bundle: Vec<String>,
    /// Guardrails to check against, instead of those written in the bundle.
    #[arg(long)]
    guardrails: Option<String>,
    /// A plugin configuration to check as well: printed are its warnings (an unsigned bundle
    /// source, a token not stripped, the apiserver's own audience).
    #[arg(long)]
    config: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum BundleCommand {
    /// Validate inputs and write one canonical JSON bundle, aggregation resolved, revision
    /// stamped.
    Build(BuildArgs),
    /// Write the detached signature a bundle server publishes next to the bundle.
    Sign(super::signing::SignArgs),
    /// Check a bundle's detached signature with the signing keys, as the filter does.
    Verify(super::signing::VerifyArgs),
}

#[derive(Args)]
pub(crate) struct BuildArgs {
    /// Input files (YAML or JSON: bundles, Lists, RBAC objects).
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Output file, or `-` for standard output.
    #[arg(short = 'o', long)]
    output: String,
    /// Guardrails to embed in the bundle (and check now).
    #[arg(long)]
    guardrails: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the plugin configuration as the one-line JSON Envoy and Istio take, with the
    /// bundle files embedded as `authorization.bundle`; refuses what the filter would refuse.
    Render(RenderArgs),
}

#[derive(Args)]
pub(crate) struct RenderArgs {
    /// Plugin configuration (YAML or JSON).
    config: String,
    /// Bundle files to embed (replacing any inline bundle).
    #[arg(long, num_args = 1..)]
    bundle: Vec<String>,
    /// `ISSUER_URL=FILE`: embed the JWKS in FILE (e.g. `kubectl get --raw /openid/v1/jwks`)
    /// as the `jwks` of the issuer with that URL. Repeatable.
    #[arg(long, value_name = "ISSUER_URL=FILE")]
    jwks: Vec<String>,
    /// Print YAML (for an Istio `WasmPlugin.pluginConfig`) instead of one line of JSON.
    #[arg(long)]
    yaml: bool,
    /// Check the bundle against these guardrails and embed them (instead of the bundle's own).
    #[arg(long)]
    guardrails: Option<String>,
}

#[derive(Args)]
pub(crate) struct RequestInfoArgs {
    /// HTTP method.
    method: String,
    /// Request URL or path (`https://host/api/v1/pods?watch=1` or `/api/v1/pods`).
    url: String,
    /// API prefixes (default `api`, `apis`; without `--config`).
    #[arg(long, value_delimiter = ',', conflicts_with = "config")]
    api_prefixes: Option<Vec<String>>,
    /// Map as this plugin configuration does (its `authorization.requestMapping`).
    #[arg(long)]
    config: Option<String>,
    #[command(flatten)]
    request: super::authorize::RequestArgs,
}

/// Exit 1 when only guardrails refused the bundle (the policy is valid but not allowed),
/// 2 when objects are invalid.
fn refused(errors: &BundleErrors) -> ExitCode {
    for error in &errors.0 {
        eprintln!("{error}");
    }
    if errors.0.iter().all(|e| e.source == "guardrail") {
        ExitCode::from(1)
    } else {
        ExitCode::from(2)
    }
}

fn summary(bundle: &Bundle) -> String {
    format!(
        "{} roles, {} clusterroles, {} rolebindings, {} clusterrolebindings; revision {}",
        bundle.rbac.roles.len(),
        bundle.rbac.cluster_roles.len(),
        bundle.rbac.role_bindings.len(),
        bundle.rbac.cluster_role_bindings.len(),
        bundle.revision
    )
}

pub(crate) fn lint(args: LintArgs) -> Result<ExitCode, Failure> {
    let bundle = match files::read_guarded_bundle(&args.bundle, args.guardrails.as_deref())? {
        Ok(bundle) => bundle,
        Err(errors) => return Ok(refused(&errors)),
    };
    for warning in &bundle.warnings {
        print_line(&warning.to_string());
    }
    for dangling in bundle.dangling_references() {
        print_line(&format!("warning: dangling_role_ref: {dangling}"));
    }
    if let Some(path) = &args.config {
        let warnings = files::read_config(path)?
            .lint_warnings()
            .map_err(|e| Failure(format!("{path}: {e}")))?;
        for warning in &warnings {
            print_line(&format!("warning: {path}: {warning}"));
        }
    }
    print_line(&format!("ok: {}", summary(&bundle)));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn bundle(command: BundleCommand) -> Result<ExitCode, Failure> {
    let args = match command {
        BundleCommand::Build(args) => args,
        BundleCommand::Sign(args) => return super::signing::sign(args),
        BundleCommand::Verify(args) => return super::signing::verify(args),
    };
    let bundle = match files::read_guarded_bundle(&args.inputs, args.guardrails.as_deref())? {
        Ok(bundle) => bundle,
        Err(errors) => return Ok(refused(&errors)),
    };
    let value: serde_json::Value = serde_json::from_str(&bundle.to_canonical_json())?;
    let text = serde_json::to_string_pretty(&value)? + "\n";
    if args.output == "-" {
        print_line(text.trim_end());
    } else {
        std::fs::write(&args.output, text).map_err(|e| Failure(format!("{}: {e}", args.output)))?;
    }
    for warning in &bundle.warnings {
        eprintln!("{warning}");
    }
    eprintln!("wrote {}: {}", args.output, summary(&bundle));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn config(command: ConfigCommand) -> Result<ExitCode, Failure> {
    let ConfigCommand::Render(args) = command;
    let mut value = files::read_document(&args.config)?;
    if !args.bundle.is_empty() {
        let bundle = match files::read_guarded_bundle(&args.bundle, args.guardrails.as_deref())? {
            Ok(bundle) => bundle,
            Err(errors) => return Ok(refused(&errors)),
        };
        let canonical: serde_json::Value = serde_json::from_str(&bundle.to_canonical_json())?;
        let Some(root) = value.as_object_mut() else {
            return Err(Failure(format!("{}: not a JSON/YAML object", args.config)));
        };
        let authorization = root
            .entry("authorization")
            .or_insert_with(|| serde_json::json!({}));
        let Some(authorization) = authorization.as_object_mut() else {
            return Err(Failure(format!(
                "{}: authorization: not an object",
                args.config
            )));
        };
        authorization.insert("bundle".to_owned(), canonical);
    }
    for spec in &args.jwks {
        embed_jwks(&mut value, spec)?;
    }
    let config = meshguard::config::PluginConfig::from_value(value.clone())
        .map_err(|e| Failure(format!("{}: {e}", args.config)))?;
    let engine = config
        .engine()
        .map_err(|e| Failure(format!("{}: {e}", args.config)))?;
    for warning in &engine.config_warnings {
        eprintln!("{}: warning: {warning}", args.config);
    }
    if args.yaml {
        let text = serde_yaml_ng::to_string(&value)
            .map_err(|e| Failure(format!("{}: {e}", args.config)))?;
        print_line(text.trim_end());
    } else {
        print_line(&serde_json::to_string(&value)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// `--jwks ISSUER_URL=FILE`: sets `jwks` (and drops `publicKeys`) of the `authentication.jwt`
/// entry whose `issuer.url` is ISSUER_URL.
fn embed_jwks(config: &mut serde_json::Value, spec: &str) -> Result<(), Failure> {
    let Some((issuer, file)) = spec.rsplit_once('=') else {
        return Err(Failure(format!("--jwks {spec}: expected ISSUER_URL=FILE")));
    };
    let jwks = files::read_document(file)?;
    if !jwks.get("keys").is_some_and(serde_json::Value::is_array) {
        return Err(Failure(format!("{file}: not a JWKS (no \"keys\" array)")));
    }
    let entries = config
        .pointer_mut("/authentication/jwt")
        .and_then(serde_json::Value::as_array_mut)
        .ok_or_else(|| Failure("authentication.jwt: missing".to_owned()))?;
    let entry = entries
        .iter_mut()
        .find(|e| e.pointer("/issuer/url").and_then(serde_json::Value::as_str) == Some(issuer))
        .ok_or_else(|| {
            Failure(format!(
                "--jwks {spec}: no authentication.jwt entry has issuer.url {issuer:?}"
            ))
        })?;
    if let Some(entry) = entry.as_object_mut() {
        entry.remove("publicKeys");
        entry.insert("jwks".to_owned(), jwks);
    }
    Ok(())
}

pub(crate) fn request_info(args: RequestInfoArgs) -> Result<ExitCode, Failure> {
    let mapper = match &args.config {
        Some(path) => files::read_config(path)?
            .request_mapper()
            .map_err(|e| Failure(format!("{path}: {e}")))?,
        None => {
            let mut mapping = KubernetesMapping::default();
            if let Some(prefixes) = args.api_prefixes {
                mapping.api_prefixes = prefixes;
            }
            RequestMapper::Kubernetes(mapping)
        }
    };
    let info = args
        .request
        .resolve(&mapper, &args.method, &args.url, None)?;
    print_line(&serde_json::to_string_pretty(&info)?);
    Ok(ExitCode::SUCCESS)
}
