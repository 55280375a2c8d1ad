//! The meshguard command line: answers offline the questions the filter answers in the proxy.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::run()
}

/// The CLI is native only; the wasm build of this target is empty.
#[cfg(target_arch = "wasm32")]
fn main() {}
