//! `meshguard mint` and `meshguard keygen`: real keys and real tokens for development.

use std::process::ExitCode;

use clap::Args;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};

use meshguard::token::mint::sign;
use meshguard::token::Algorithm;

use super::{files, now_or_clock, print_line, Failure};

#[derive(Args)]
pub(crate) struct MintArgs {
    /// Private key: PEM (RSA, P-256, P-384, Ed25519), or for HS* the raw shared secret.
    #[arg(long)]
    key: String,
    /// Algorithm (default: from the key type: RS256, ES256, ES384 or EdDSA).
    #[arg(long)]
    alg: Option<String>,
    /// Key id to put in the header.
    #[arg(long)]
    kid: Option<String>,
    /// JSON file with claims (an object).
    #[arg(long)]
    claims: Option<String>,
    /// A claim: `name=text` for a string, `name:=json` for any JSON value. Repeatable.
    #[arg(long = "claim", value_name = "NAME=VALUE")]
    claim: Vec<String>,
    /// Lifetime in seconds when the claims set no exp; 0 leaves exp out.
    #[arg(long, default_value_t = 3600)]
    expires_in: u64,
    /// Issue time in Unix seconds, used for iat and exp when the claims set none (default: now).
    #[arg(long)]
    now: Option<u64>,
}

#[derive(Args)]
pub(crate) struct KeygenArgs {
    /// Algorithm: RS256 (2048-bit RSA), ES256, ES384, EdDSA or HS256.
    #[arg(long)]
    alg: String,
    /// Key id for the JWKS.
    #[arg(long)]
    kid: Option<String>,
    /// Output prefix: writes PREFIX.key.pem (or PREFIX.secret), PREFIX.pub.pem and PREFIX.jwks.json.
    #[arg(long)]
    out: String,
}

fn claims_from(args: &MintArgs, now: u64) -> Result<Map<String, Value>, Failure> {
    let mut claims = match &args.claims {
        None => Map::new(),
        Some(path) => match files::read_document(path)? {
            Value::Object(map) => map,
            _ => return Err(Failure(format!("{path}: claims must be a JSON object"))),
        },
    };
    for item in &args.claim {
        if let Some((name, json)) = item.split_once(":=") {
            let value = serde_json::from_str(json)
                .map_err(|e| Failure(format!("--claim {item}: invalid JSON: {e}")))?;
            claims.insert(name.to_string(), value);
        } else if let Some((name, text)) = item.split_once('=') {
            claims.insert(name.to_string(), Value::String(text.to_string()));
        } else {
            return Err(Failure(format!(
                "--claim {item}: expected NAME=VALUE or NAME:=JSON"
            )));
        }
    }
    claims.entry("iat").or_insert(now.into());
    if args.expires_in > 0 && !claims.contains_key("exp") {
        claims.insert("exp".into(), (now + args.expires_in).into());
    }
    Ok(claims)
}

pub(crate) fn mint(args: MintArgs) -> Result<ExitCode, Failure> {
    let now = now_or_clock(args.now);
    let claims = claims_from(&args, now)?;
    let key = std::fs::read(&args.key).map_err(|e| Failure(format!("{}: {e}", args.key)))?;
    let alg = match args.alg.as_deref() {
        None => None,
        Some(name) => Some(name.parse::<Algorithm>().map_err(|()| {
            Failure(format!(
                "--alg {name}: supported are RS/PS 256/384/512, ES256, ES384, EdDSA, HS256/384/512"
            ))
        })?),
    };
    let token = sign(&key, alg, args.kid.as_deref(), claims)
        .map_err(|e| Failure(format!("{}: {e}", args.key)))?;
    print_line(&token);
    Ok(ExitCode::SUCCESS)
}

fn with_kid<K>(key: K, kid: Option<&str>, set: fn(K, &str) -> K) -> K {
    match kid {
        Some(kid) => set(key, kid),
        None => key,
    }
}

pub(crate) fn keygen(args: KeygenArgs) -> Result<ExitCode, Failure> {
    let kid = args.kid.as_deref();
    let (private, public, jwk) = match args.alg.as_str() {
        "RS256" => {
            let pair = RS256KeyPair::generate(2048)?;
            let public = with_kid(pair.public_key(), kid, RS256PublicKey::with_key_id);
            (
                pair.to_pem()?.into_bytes(),
                public.to_pem()?,
                public.to_jwk(),
            )
        }
        "ES256" => {
            let pair = ES256KeyPair::generate();
            let public = with_kid(pair.public_key(), kid, ES256PublicKey::with_key_id);
            (
                pair.to_pem()?.into_bytes(),
                public.to_pem()?,
                public.to_jwk(),
            )
        }
        "ES384" => {
            let pair = ES384KeyPair::generate();
            let public = with_kid(pair.public_key(), kid, ES384PublicKey::with_key_id);
            (
                pair.to_pem()?.into_bytes(),
                public.to_pem()?,
                public.to_jwk(),
            )
        }
        "EdDSA" => {
            let pair = Ed25519KeyPair::generate();
            let public = with_kid(pair.public_key(), kid, Ed25519PublicKey::with_key_id);
            (pair.to_pem().into_bytes(), public.to_pem(), public.to_jwk())
        }
        "HS256" => {
            let key = HS256Key::generate();
            let secret = key.to_bytes();
            let mut jwk = serde_json::json!({
                "kty": "oct", "alg": "HS256", "use": "sig",
                "k": Base64UrlSafeNoPadding::encode_to_string(&secret)?,
            });
            if let Some(kid) = kid {
                jwk["kid"] = kid.into();
            }
            (secret, String::new(), jwk.to_string())
        }
        other => {
            return Err(Failure(format!(
                "--alg {other}: keygen supports RS256, ES256, ES384, EdDSA and HS256"
            )))
        }
    };
    let jwk: Value = serde_json::from_str(&jwk)?;
    let jwks = serde_json::json!({ "keys": [jwk] });
    let out = &args.out;
    let write = |path: String, bytes: &[u8]| {
        std::fs::write(&path, bytes).map_err(|e| Failure(format!("{path}: {e}")))
    };
    if args.alg.starts_with("HS") {
        write(format!("{out}.secret"), &private)?;
    } else {
        write(format!("{out}.key.pem"), &private)?;
        write(format!("{out}.pub.pem"), public.as_bytes())?;
    }
    write(
        format!("{out}.jwks.json"),
        format!("{}\n", serde_json::to_string_pretty(&jwks)?).as_bytes(),
    )?;
    Ok(ExitCode::SUCCESS)
}
