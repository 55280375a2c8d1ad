//! What the workers of one proxy share about each source, through the port's shared store,
//! under two keys: `<name>/state`, the [`FetchState`] schedule (written with
//! compare-and-swap), and `<name>/data`, the last good document (a JSON header line, then the
//! body as fetched).

use serde::{Deserialize, Serialize};

use super::SyncPort;
use crate::remote::FetchState;

/// The header line of a stored document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The bundle's `ETag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The bundle's detached signature (absent for keys and unsigned bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Reads a source's schedule and its compare-and-swap version. A record that does not parse
/// (another build's format) counts as none: the next fetch rewrites it.
pub fn read_state(port: &dyn SyncPort, name: &str) -> (FetchState, Option<u32>) {
    match port.shared_get(&format!("{name}/state")) {
        Some((bytes, cas)) => (serde_json::from_slice(&bytes).unwrap_or_default(), cas),
        None => (FetchState::default(), None),
    }
}

/// Writes a schedule if nobody wrote since `cas` was read.
pub fn write_state(
    port: &mut dyn SyncPort,
    name: &str,
    state: &FetchState,
    cas: Option<u32>,
) -> bool {
    let Ok(bytes) = serde_json::to_vec(state) else {
        return false;
    };
    port.shared_set(&format!("{name}/state"), &bytes, cas)
}

/// Reads, changes and writes a source's state with compare-and-swap, retrying a few times
/// when another worker wrote in between. Returns the state as written, if it was.
pub fn update_state(
    port: &mut dyn SyncPort,
    name: &str,
    mut change: impl FnMut(&mut FetchState),
) -> Option<FetchState> {
    for _ in 0..4 {
        let (mut state, cas) = read_state(port, name);
        change(&mut state);
        if write_state(port, name, &state, cas) {
            return Some(state);
        }
    }
    None
}

/// The stored document of a source, if one parses.
pub fn read_data(port: &dyn SyncPort, name: &str) -> Option<(Stored, Vec<u8>)> {
    let (bytes, _) = port.shared_get(&format!("{name}/data"))?;
    let split = bytes.iter().position(|b| *b == b'\n')?;
    let stored = serde_json::from_slice(&bytes[..split]).ok()?;
    Some((stored, bytes[split + 1..].to_vec()))
}

/// Stores a document for every worker.
pub fn write_data(port: &mut dyn SyncPort, name: &str, stored: &Stored, body: &[u8]) -> bool {
    let Ok(mut bytes) = serde_json::to_vec(stored) else {
        return false;
    };
    bytes.push(b'\n');
    bytes.extend_from_slice(body);
    port.shared_set(&format!("{name}/data"), &bytes, None)
}
