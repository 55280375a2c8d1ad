//! Tokens that are shared secrets rather than signed claims: the apiserver's static token file
//! (`--token-auth-file`: token, user, uid, groups) and bootstrap tokens
//! (`[a-z0-9]{6}.[a-z0-9]{16}`, the token ID public and the secret private; user
//! `system:bootstrap:<id>` in `system:bootstrappers` and the token's extra groups).
//!
//! meshguard never holds such a token in plain text: the configuration or the bundle carries
//! the SHA-256 of a static token and of a bootstrap token's secret, and a request's token is
//! hashed and compared with every entry in constant time (no early exit, no hash map keyed by
//! the secret). A bundle update replaces the bundle's entries, which is how they are revoked.

use serde::{Deserialize, Serialize};

use super::AuthError;
use crate::identity::{Credential, UserInfo};

/// The group of every bootstrap token.
pub const BOOTSTRAPPERS_GROUP: &str = "system:bootstrappers";
/// The username prefix of bootstrap tokens.
pub const BOOTSTRAP_USER_PREFIX: &str = "system:bootstrap:";

/// A static token as configured (the apiserver's token file, one line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StaticTokenSpec {
    /// The SHA-256 of the token, in hex (`printf %s "$TOKEN" | sha256sum`).
    #[serde(rename = "tokenSHA256")]
    pub token_sha256: String,
    /// The username.
    pub user: String,
    /// The uid.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A bootstrap token as configured: the fields of its `bootstrap.kubernetes.io/token` Secret,
/// with the secret as a digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapTokenSpec {
    /// The public token ID (`[a-z0-9]{6}`).
    #[serde(rename = "tokenID")]
    pub token_id: String,
    /// The SHA-256 of the token secret (the 16 characters after the dot), in hex.
    #[serde(rename = "secretSHA256")]
    pub secret_sha256: String,
    /// When the token stops working (RFC 3339), as the Secret's `expiration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    /// The Secret's `usage-bootstrap-*` keys that are `"true"`: the token authenticates only
    /// with `authentication` among them.
    #[serde(default)]
    pub usages: Vec<String>,
    /// The Secret's `auth-extra-groups`: each must start with `system:bootstrappers:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub auth_extra_groups: Vec<String>,
}

/// A compiled static token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticToken {
    digest: [u8; 32],
    user: UserInfo,
}

/// A compiled bootstrap token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootstrapToken {
    id: String,
    secret_digest: [u8; 32],
    expiration: Option<u64>,
    authentication: bool,
    groups: Vec<String>,
}

/// Static and bootstrap tokens, compiled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretTokens {
    statics: Vec<StaticToken>,
    bootstrap: Vec<BootstrapToken>,
}

fn digest_hex(text: &str) -> Result<[u8; 32], String> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err("must be 64 hex digits (a SHA-256)".into());
    }
    let mut out = [0; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let digit = |b: u8| char::from(b).to_digit(16);
        match (digit(pair[0]), digit(pair[1])) {
            (Some(high), Some(low)) => out[i] = (high * 16 + low) as u8,
            _ => return Err("must be 64 hex digits (a SHA-256)".into()),
        }
    }
    Ok(out)
}

/// Equality of two digests in constant time.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `token` is a bootstrap token's form; its ID and secret if so.
fn bootstrap_parts(token: &str) -> Option<(&str, &str)> {
    let (id, secret) = token.split_once('.')?;
    let ok = |part: &str, len: usize| {
        part.len() == len
            && part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    (ok(id, 6) && ok(secret, 16)).then_some((id, secret))
}

fn bootstrap_group_ok(group: &str) -> bool {
    // `^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$`, as the apiserver validates them.
    let Some(rest) = group.strip_prefix("system:bootstrappers:") else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 256
        && rest
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b':' || b == b'-')
        && rest
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Unix seconds of an RFC 3339 time (`2026-12-31T00:00:00Z`, a fraction and an offset
/// allowed).
pub fn rfc3339_seconds(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let minutes = num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?;
            if *sign == b'+' {
                minutes * 60
            } else {
                -minutes * 60
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

impl SecretTokens {
    /// Compiles static and bootstrap token entries; an error names the field
    /// (`static[2].tokenSHA256`, relative to the list's own path).
    pub fn compile(
        statics: &[StaticTokenSpec],
        bootstrap: &[BootstrapTokenSpec],
    ) -> Result<SecretTokens, (String, String)> {
        let mut out = SecretTokens::default();
        for (i, spec) in statics.iter().enumerate() {
            let at = |field: &str| format!("staticTokens[{i}].{field}");
            let digest = digest_hex(&spec.token_sha256).map_err(|e| (at("tokenSHA256"), e))?;
            if spec.user.is_empty() {
                return Err((at("user"), "must not be empty".into()));
            }
            if out.statics.iter().any(|s| s.digest == digest) {
                return Err((at("tokenSHA256"), "duplicate token".into()));
            }
            out.statics.push(StaticToken {
                digest,
                user: UserInfo {
                    username: spec.user.clone(),
                    uid: spec.uid.clone(),
                    groups: spec.groups.clone(),
                    ..UserInfo::default()
                }
                .with_authenticated_group(),
            });
        }
        for (i, spec) in bootstrap.iter().enumerate() {
            let at = |field: &str| format!("bootstrapTokens[{i}].{field}");
            let id_ok = spec.token_id.len() == 6
                && spec
                    .token_id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            if !id_ok {
                return Err((at("tokenID"), "must be 6 characters of [a-z0-9]".into()));
            }
            if out.bootstrap.iter().any(|b| b.id == spec.token_id) {
                return Err((
                    at("tokenID"),
                    format!("duplicate token ID {:?}", spec.token_id),
                ));
            }
            let secret_digest =
                digest_hex(&spec.secret_sha256).map_err(|e| (at("secretSHA256"), e))?;
            let expiration = match &spec.expiration {
                None => None,
                Some(text) => Some(rfc3339_seconds(text).ok_or_else(|| {
                    (
                        at("expiration"),
                        format!("{text:?} is not an RFC 3339 time"),
                    )
                })?),
            };
            for usage in &spec.usages {
                if !matches!(usage.as_str(), "authentication" | "signing") {
                    return Err((
                        at("usages"),
                        format!("{usage:?} is not authentication or signing"),
                    ));
                }
            }
            let mut groups = vec![BOOTSTRAPPERS_GROUP.to_owned()];
            for group in &spec.auth_extra_groups {
                if !bootstrap_group_ok(group) {
                    return Err((
                        at("authExtraGroups"),
                        format!("{group:?} must match system:bootstrappers:[a-z0-9:-]*[a-z0-9]"),
                    ));
                }
                if !groups.contains(group) {
                    groups.push(group.clone());
                }
            }
            out.bootstrap.push(BootstrapToken {
                id: spec.token_id.clone(),
                secret_digest,
                expiration,
                authentication: spec.usages.iter().any(|u| u == "authentication"),
                groups,
            });
        }
        Ok(out)
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.statics.is_empty() && self.bootstrap.is_empty()
    }

    /// The user `token` is, if it is one of these tokens. `None` when it is not (it may be a
    /// JWT); an error for a bootstrap token whose ID is here but whose secret does not match,
    /// that has expired at `now`, or that is not for authentication.
    pub fn authenticate(
        &self,
        token: &str,
        now: u64,
    ) -> Option<Result<(Credential, UserInfo), AuthError>> {
        if self.is_empty() {
            return None;
        }
        if let Some((id, secret)) = bootstrap_parts(token) {
            if let Some(entry) = self.bootstrap.iter().find(|b| b.id == id) {
                return Some(entry.authenticate(secret, now));
            }
        }
        if self.statics.is_empty() {
            return None;
        }
        let digest = super::sha256(token.as_bytes());
        let mut found = None;
        for entry in &self.statics {
            if same_digest(&entry.digest, &digest) {
                found = Some(&entry.user);
            }
        }
        found.map(|user| Ok((Credential::StaticToken, user.clone())))
    }
}

impl BootstrapToken {
    fn authenticate(&self, secret: &str, now: u64) -> Result<(Credential, UserInfo), AuthError> {
        let unknown = |why: &str| AuthError::TokenUnknown {
            detail: format!("bootstrap token {:?} {why}", self.id),
        };
        if !same_digest(&self.secret_digest, &super::sha256(secret.as_bytes())) {
            return Err(unknown("has another secret"));
        }
        if let Some(exp) = self.expiration.filter(|&exp| now > exp) {
            return Err(AuthError::TokenExpired { now, exp, skew: 0 });
        }
        if !self.authentication {
            return Err(unknown("is not for authentication (usages)"));
        }
        let user = UserInfo {
            username: format!("{BOOTSTRAP_USER_PREFIX}{}", self.id),
            groups: self.groups.clone(),
            ..UserInfo::default()
        };
        Ok((Credential::BootstrapToken, user.with_authenticated_group()))
    }
}

/// Whether a token looks like a compact JWS (three dot-separated parts): an opaque token that
/// does not is [`AuthError::TokenUnknown`] rather than malformed when secret tokens are
/// configured.
pub fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: [u8; 32]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    const NOW: u64 = 1_780_000_000;

    fn tokens() -> SecretTokens {
        let statics = [StaticTokenSpec {
            token_sha256: hex(crate::token::sha256(
                b"31ada4fd-adec-460c-809a-9e56ceb75269",
            )),
            user: "alice".into(),
            uid: "1001".into(),
            groups: vec!["dev".into()],
        }];
        let bootstrap = [
            BootstrapTokenSpec {
                token_id: "07401b".into(),
                secret_sha256: hex(crate::token::sha256(b"f395accd246ae52d")),
                expiration: Some("2026-06-01T00:00:00Z".into()),
                usages: vec!["authentication".into(), "signing".into()],
                auth_extra_groups: vec!["system:bootstrappers:worker".into()],
            },
            BootstrapTokenSpec {
                token_id: "abcdef".into(),
                secret_sha256: hex(crate::token::sha256(b"0123456789abcdef")),
                expiration: None,
                usages: vec!["signing".into()],
                auth_extra_groups: vec![],
            },
        ];
        SecretTokens::compile(&statics, &bootstrap).unwrap_or_default()
    }

    fn code(token: &str, now: u64) -> String {
        match tokens().authenticate(token, now) {
            None => "none".into(),
            Some(Ok((credential, user))) => format!(
                "{}:{}:{}",
                credential.as_str(),
                user.username,
                user.groups.join(",")
            ),
            Some(Err(e)) => e.code().into(),
        }
    }

    #[test]
    fn static_and_bootstrap_tokens_become_the_apiservers_users() {
        assert_eq!(
            code("31ada4fd-adec-460c-809a-9e56ceb75269", NOW),
            "staticToken:alice:dev,system:authenticated"
        );
        assert_eq!(
            code("07401b.f395accd246ae52d", NOW),
            "bootstrapToken:system:bootstrap:07401b:system:bootstrappers,\
             system:bootstrappers:worker,system:authenticated"
        );
        // 2026-06-01T00:00:00Z is 1780272000.
        assert_eq!(rfc3339_seconds("2026-06-01T00:00:00Z"), Some(1_780_272_000));
        assert_eq!(
            code("07401b.f395accd246ae52d", 1_780_272_001),
            "token_expired"
        );
        assert_eq!(code("07401b.f395accd246ae52e", NOW), "token_unknown");
        assert_eq!(code("abcdef.0123456789abcdef", NOW), "token_unknown");
        assert_eq!(code("31ada4fd-adec-460c-809a-9e56ceb75268", NOW), "none");
        assert_eq!(code("zzzzzz.0123456789abcdef", NOW), "none");
        assert_eq!(SecretTokens::default().authenticate("x", NOW), None);
    }

    #[test]
    fn entries_are_checked_and_errors_name_the_field() {
        let field = |statics: &[StaticTokenSpec], bootstrap: &[BootstrapTokenSpec]| {
            SecretTokens::compile(statics, bootstrap).err().map(|e| e.0)
        };
        let good = StaticTokenSpec {
            token_sha256: "0".repeat(64),
            user: "u".into(),
            uid: String::new(),
            groups: vec![],
        };
        let short = StaticTokenSpec {
            token_sha256: "0".repeat(63),
            ..good.clone()
        };
        assert_eq!(
            field(&[good.clone(), short], &[]).as_deref(),
            Some("staticTokens[1].tokenSHA256")
        );
        assert_eq!(
            field(&[good.clone(), good.clone()], &[]).as_deref(),
            Some("staticTokens[1].tokenSHA256")
        );
        let boot = BootstrapTokenSpec {
            token_id: "abcdef".into(),
            secret_sha256: "a".repeat(64),
            expiration: None,
            usages: vec![],
            auth_extra_groups: vec![],
        };
        for (bad, at) in [
            (
                BootstrapTokenSpec {
                    token_id: "ABCDEF".into(),
                    ..boot.clone()
                },
                "tokenID",
            ),
            (
                BootstrapTokenSpec {
                    expiration: Some("tomorrow".into()),
                    ..boot.clone()
                },
                "expiration",
            ),
            (
                BootstrapTokenSpec {
                    auth_extra_groups: vec!["system:masters".into()],
                    ..boot.clone()
                },
                "authExtraGroups",
            ),
            (
                BootstrapTokenSpec {
                    usages: vec!["everything".into()],
                    ..boot.clone()
                },
                "usages",
            ),
        ] {
            assert_eq!(field(&[], &[bad]), Some(format!("bootstrapTokens[0].{at}")));
        }
    }

    #[test]
    fn rfc3339_times_read_as_kubernetes_writes_them() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(
            rfc3339_seconds("2026-06-01T02:00:00+02:00"),
            Some(1_780_272_000)
        );
        assert_eq!(
            rfc3339_seconds("2026-06-01T00:00:00.5Z"),
            Some(1_780_272_000)
        );
        for bad in [
            "",
            "2026-06-01",
            "2026-13-01T00:00:00Z",
            "2026-06-01T00:00:00",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(rfc3339_seconds(bad), None, "{bad}");
        }
    }
}
