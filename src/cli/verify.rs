//! `meshguard verify`: one token, one configuration, one JSON verdict.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{certificate, files, now_or_clock, print_line, Failure};
use meshguard::config::ConfigError;
use meshguard::identity::Credential;
use meshguard::peer::{Method, PeerCertificate};
use meshguard::token::AuthError;

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// Plugin configuration (JSON or YAML).
    #[arg(long)]
    config: String,
    /// Evaluation time in Unix seconds (default: now).
    #[arg(long)]
    now: Option<u64>,
    /// A PEM client certificate: the identity a peer presenting it would get (its chain is
    /// the listener's to validate).
    #[arg(long)]
    peer_cert: Option<String>,
    /// The token, or `-` to read it from standard input.
    token: Option<String>,
}

pub(crate) fn run(args: VerifyArgs) -> Result<ExitCode, Failure> {
    let config = files::read_config(&args.config)?;
    let at_config = |e: ConfigError| Failure(format!("{}: {e}", args.config));
    let authenticator = config.authenticator().map_err(at_config)?;
    let peers = config
        .authentication
        .peers("authentication")
        .map_err(at_config)?;
    let token = match args.token.as_deref() {
        Some("-") => Some(files::read_text("-")?),
        Some(token) => Some(token.to_owned()),
        None => None,
    };
    let peer = match &args.peer_cert {
        Some(path) => Some(certificate::describe(
            path,
            files::read_text(path)?.as_bytes(),
        )?),
        None => None,
    };
    if token.is_none() && peer.is_none() {
        return Err(Failure("give a token, --peer-cert, or both".into()));
    }
    let now = now_or_clock(args.now);
    let certificate = peer.as_ref().map(|p| PeerCertificate {
        uri_san: &p.uri_san,
        subject: &p.subject,
    });
    // The filter's union, over what a command line can carry: the certificate and the token.
    let found = peers.first_success(|method| match (method, token.as_deref()) {
        (Method::Token, None) => Ok(None),
        (Method::Token, Some(token)) => {
            let token = token.trim();
            let (mut found, user) = match authenticator.secret_user(token, now)? {
                Some((credential, user)) => (json!({"authenticator": credential}), user),
                None => {
                    let verified = authenticator.verify(token, now)?;
                    let found = json!({"authenticator": Credential::Jwt,
                                       "issuer": verified.issuer, "claims": verified.claims});
                    (found, verified.user)
                }
            };
            peers.check_sender(&user, certificate.as_ref())?;
            found["user"] = json!(user);
            Ok(Some(found))
        }
        (method, _) => Ok(peers
            .try_peer(method, certificate.as_ref(), &[])?
            .map(|(credential, user)| json!({"authenticator": credential, "user": user}))),
    });
    let peer_json = peer.as_ref().map(|p| {
        json!({"uriSAN": p.uri_san, "subject": p.subject, "notAfter": p.not_after,
               "expired": i64::try_from(now).is_ok_and(|now| now > p.not_after)})
    });
    let (mut verdict, code) = match found {
        Ok(Some(mut found)) => {
            found["valid"] = true.into();
            (found, ExitCode::SUCCESS)
        }
        Ok(None) => {
            let error = AuthError::TokenMissing;
            (
                json!({"valid": false, "reason": error.code(),
                       "message": "no configured authenticator reads this certificate"}),
                ExitCode::from(1),
            )
        }
        Err(error) => (
            json!({"valid": false, "reason": error.code(), "message": error.to_string()}),
            ExitCode::from(1),
        ),
    };
    if let Some(peer) = peer_json {
        verdict["peer"] = peer;
    }
    print_line(&serde_json::to_string_pretty(&verdict)?);
    Ok(code)
}
