//! Command-line parsing and dispatch. Exit codes: 0 yes/valid, 1 no/invalid, 2 usage or input
//! error (bad file, bad configuration).

mod authorize;
mod certificate;
mod files;
mod keys;
mod policy;
mod resources;
mod signing;
mod verify;

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "meshguard",
    version,
    about = "Kubernetes RBAC and JWT authentication for Envoy and Istio, offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a token against a plugin configuration and print the user it names.
    Verify(verify::VerifyArgs),
    /// Sign a token (for development, demos and tests).
    Mint(keys::MintArgs),
    /// Generate a signing key: private PEM, public PEM and a JWKS.
    Keygen(keys::KeygenArgs),
    /// Whether a user may do something, per the bundle (prints yes/no; exit 0/1).
    CanI(authorize::CanIArgs),
    /// Every subject allowed to do something, with the binding that allows it.
    WhoCan(authorize::WhoCanArgs),
    /// How the kube-apiserver reads a request: verb, resource, namespace, name (JSON).
    RequestInfo(policy::RequestInfoArgs),
    /// Validate bundle files and check guardrails.
    Lint(policy::LintArgs),
    /// Bundle operations.
    #[command(subcommand)]
    Bundle(policy::BundleCommand),
    /// Plugin configuration operations.
    #[command(subcommand)]
    Config(policy::ConfigCommand),
}

/// A failure that ends the command with exit code 2 and a message naming the problem.
pub(crate) struct Failure(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure(e.to_string())
    }
}

pub(crate) fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Verify(args) => verify::run(args),
        Command::Mint(args) => keys::mint(args),
        Command::Keygen(args) => keys::keygen(args),
        Command::CanI(args) => authorize::can_i(args),
        Command::WhoCan(args) => authorize::who_can(args),
        Command::RequestInfo(args) => policy::request_info(args),
        Command::Lint(args) => policy::lint(args),
        Command::Bundle(command) => policy::bundle(command),
        Command::Config(command) => policy::config(command),
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("meshguard: {message}");
            ExitCode::from(2)
        }
    }
}

/// Prints a line to standard output. A closed pipe (`meshguard verify … | head`) is not an
/// error worth a panic: the reader has what it wanted.
pub(crate) fn print_line(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// The evaluation time: `--now` when given, else the system clock. Only the CLI reads a clock.
pub(crate) fn now_or_clock(now: Option<u64>) -> u64 {
    now.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    })
}
