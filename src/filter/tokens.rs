//! The verified-token cache of one worker VM, with a second level in proxy-wasm shared data so
//! that a token is verified once per proxy, not once per worker.
//!
//! Shared data has no delete, so the shared level is a fixed number of slots: a token's digest
//! picks its slot, and a newer token in the same slot replaces the older one. A slot holds the
//! 32-byte digest followed by the [`VerifiedToken`] as JSON; a slot holding another digest is
//! a miss. Slot names carry a digest of the plugin configuration, so two configurations (during
//! a rollout) never read each other's entries. A shared entry is only a shortcut past the
//! signature, checked like a local one (issuer, key fingerprint, time, revocation); whoever can
//! write this VM's shared data is trusted as the filter itself is (Envoy scopes shared data to
//! the `vm_id`).

use std::sync::Arc;

use proxy_wasm::hostcalls;

use crate::token::cache::{
    digest, CacheSettings, TokenCache, TokenDigest, TokenStore, VerifiedToken,
};

/// Lookup counts since they were last taken, for the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lookups {
    /// Found in this worker's cache.
    pub(crate) local: u64,
    /// Found in the shared slots.
    pub(crate) shared: u64,
    /// Verified in full (and kept).
    pub(crate) verified: u64,
    /// Found in neither cache: verified in full, or refused.
    pub(crate) missed: u64,
}

pub(crate) struct SharedTokens {
    local: TokenCache,
    /// `meshguard.tokens|<configuration digest>|`: slot names are this and the slot number.
    prefix: String,
    slots: u32,
    lookups: Lookups,
    /// The last token whose slot was computed, with its slot: a miss looks the slot up and
    /// then fills it, and the token's SHA-256 (~100,000 wasm operators for a service-account
    /// token) is computed once for both.
    last_slot: Option<(Box<str>, String, TokenDigest)>,
}

impl Default for SharedTokens {
    fn default() -> Self {
        SharedTokens::new(CacheSettings::default(), "")
    }
}

impl SharedTokens {
    /// A cache for the configuration whose digest is `configuration`.
    pub(crate) fn new(settings: CacheSettings, configuration: &str) -> Self {
        SharedTokens {
            local: TokenCache::new(settings.limits),
            prefix: format!("meshguard.tokens|{configuration}|"),
            slots: settings.shared_slots,
            lookups: Lookups::default(),
            last_slot: None,
        }
    }

    /// The counts since the last call.
    pub(crate) fn take_lookups(&mut self) -> Lookups {
        std::mem::take(&mut self.lookups)
    }

    /// The shared slot of `token` and the token's digest; `None` when nothing is shared (the
    /// digest is not computed then).
    fn slot(&mut self, token: &str) -> Option<(String, TokenDigest)> {
        if self.slots == 0 {
            return None;
        }
        if let Some((last, slot, digest)) = &self.last_slot {
            if **last == *token {
                return Some((slot.clone(), *digest));
            }
        }
        let digest = digest(token);
        let number = u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]]) % self.slots;
        let slot = format!("{}{number}", self.prefix);
        self.last_slot = Some((token.into(), slot.clone(), digest));
        Some((slot, digest))
    }

    fn shared_get(&mut self, token: &str) -> Option<VerifiedToken> {
        let (slot, digest) = self.slot(token)?;
        let (Some(bytes), _) = hostcalls::get_shared_data(&slot).ok()? else {
            return None;
        };
        let entry = bytes.strip_prefix(digest.as_slice())?;
        serde_json::from_slice(entry).ok()
    }
}

impl TokenStore for SharedTokens {
    fn get(&mut self, token: &str, now: u64) -> Option<Arc<VerifiedToken>> {
        if let Some(found) = self.local.get(token, now) {
            self.lookups.local += 1;
            return Some(found);
        }
        let Some(shared) = self
            .shared_get(token)
            .filter(|shared| shared.keep_until(now, self.local.limits().max_age) > now)
        else {
            self.lookups.missed += 1;
            return None;
        };
        let shared = Arc::new(shared);
        self.local.put(token, Arc::clone(&shared), now);
        self.lookups.shared += 1;
        Some(shared)
    }

    fn put(&mut self, token: &str, verified: Arc<VerifiedToken>, now: u64) {
        self.lookups.verified += 1;
        if let Some((slot, digest)) = self.slot(token) {
            if let Ok(json) = serde_json::to_vec(&*verified) {
                let mut bytes = Vec::with_capacity(digest.len() + json.len());
                bytes.extend_from_slice(&digest);
                bytes.extend_from_slice(&json);
                // Unconditional: the newest token takes the slot. A refusal (shared data full)
                // only costs other workers a verification.
                let _ = hostcalls::set_shared_data(&slot, Some(&bytes), None);
            }
        }
        self.local.put(token, verified, now);
    }
}
