//! `meshguard verify`: one token, one configuration, one JSON verdict.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{files, now_or_clock, print_line, Failure};

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// Plugin configuration (JSON or YAML).
    #[arg(long)]
    config: String,
    /// Evaluation time in Unix seconds (default: now).
    #[arg(long)]
    now: Option<u64>,
    /// The token, or `-` to read it from standard input.
    token: String,
}

pub(crate) fn run(args: VerifyArgs) -> Result<ExitCode, Failure> {
    let config = files::read_config(&args.config)?;
    let authenticator = config
        .authenticator()
        .map_err(|e| Failure(format!("{}: {e}", args.config)))?;
    let token = if args.token == "-" {
        files::read_text("-")?
    } else {
        args.token
    };
    let now = now_or_clock(args.now);
    let (verdict, code) = match authenticator.verify(token.trim(), now) {
        Ok(verified) => (
            json!({
                "valid": true,
                "issuer": verified.issuer,
                "user": verified.user,
                "claims": verified.claims,
            }),
            ExitCode::SUCCESS,
        ),
        Err(error) => (
            json!({"valid": false, "reason": error.code(), "message": error.to_string()}),
            ExitCode::from(1),
        ),
    };
    print_line(&serde_json::to_string_pretty(&verdict)?);
    Ok(code)
}
