//! `meshguard bundle sign` and `meshguard bundle verify`: the detached signatures a bundle
//! server publishes next to the bundle (`authorization.bundleSource`).

use std::process::ExitCode;

use clap::Args;
use meshguard::bundle::{signature, Bundle};
use meshguard::token::KeySet;

use super::{now_or_clock, print_line, Failure};

#[derive(Args)]
pub(crate) struct SignArgs {
    /// The bundle file, exactly as it will be served (sign after the last change).
    bundle: String,
    /// Private key: PEM (RSA, P-256, P-384, Ed25519), or for HS* the raw shared secret.
    #[arg(long)]
    key: String,
    /// Key id, matched against the `kid` of `bundleSource.signingKeys`.
    #[arg(long)]
    kid: Option<String>,
    /// Algorithm (default: the key's natural one; required for HS*).
    #[arg(long)]
    alg: Option<String>,
    /// Signature file. Default: the bundle path with `.sig` appended.
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// Unix seconds recorded as `iat` (default: the clock).
    #[arg(long)]
    now: Option<u64>,
}

#[derive(Args)]
pub(crate) struct VerifyArgs {
    /// The bundle file, as served.
    bundle: String,
    /// The signature file. Default: the bundle path with `.sig` appended.
    #[arg(long)]
    signature: Option<String>,
    /// JWKS of the signing keys (what `bundleSource.signingKeys` holds).
    #[arg(long)]
    signing_keys: String,
}

fn read(path: &str) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure(format!("{path}: {e}")))
}

/// Loads the bundle as the filter would, so that nothing unloadable gets signed.
fn load(path: &str, bytes: &[u8]) -> Result<Bundle, Failure> {
    Bundle::from_json_bytes(bytes)
        .map_err(|e| Failure(format!("{path}: the filter would refuse it: {e}")))
}

pub(crate) fn sign(args: SignArgs) -> Result<ExitCode, Failure> {
    let bytes = read(&args.bundle)?;
    let bundle = load(&args.bundle, &bytes)?;
    let key = read(&args.key)?;
    let alg = args
        .alg
        .as_deref()
        .map(|a| {
            a.parse()
                .map_err(|()| Failure(format!("{a:?} is not a supported algorithm")))
        })
        .transpose()?;
    let jws = signature::sign(
        &bytes,
        &key,
        alg,
        args.kid.as_deref(),
        now_or_clock(args.now),
    )
    .map_err(|e| Failure(format!("{}: {e}", args.key)))?;
    let output = args
        .output
        .unwrap_or_else(|| format!("{}.sig", args.bundle));
    std::fs::write(&output, format!("{jws}\n")).map_err(|e| Failure(format!("{output}: {e}")))?;
    eprintln!(
        "wrote {output}: signs {} (bundle revision {})",
        signature::digest(&bytes),
        bundle.revision
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify(args: VerifyArgs) -> Result<ExitCode, Failure> {
    let bytes = read(&args.bundle)?;
    let path = args
        .signature
        .unwrap_or_else(|| format!("{}.sig", args.bundle));
    let jws = read(&path)?;
    let keys_text = String::from_utf8_lossy(&read(&args.signing_keys)?).into_owned();
    let keys = KeySet::from_jwks_str(&keys_text, true)
        .map_err(|e| Failure(format!("{}: {e}", args.signing_keys)))?;
    if let Err(reason) = signature::verify(&bytes, &jws, &keys) {
        print_line(&format!("refused: {reason}"));
        return Ok(ExitCode::from(1));
    }
    let bundle = load(&args.bundle, &bytes)?;
    print_line(&format!(
        "ok: {} is signed ({}), bundle revision {}",
        args.bundle,
        signature::digest(&bytes),
        bundle.revision
    ));
    Ok(ExitCode::SUCCESS)
}
