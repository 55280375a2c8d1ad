//! Registered claims (RFC 7519 §4.1), read with precise errors, and time checks with the
//! evaluation time passed in.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::AuthError;

/// The latest NumericDate accepted (9999-12-31T23:59:59Z). Larger values are malformed rather
/// than "never expires".
pub const MAX_NUMERIC_DATE: u64 = 253_402_300_799;

/// The registered claims meshguard checks, typed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredClaims {
    /// `iss`.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `aud`, normalised to a list (a single string becomes one entry).
    pub aud: Vec<String>,
    /// `exp`, in Unix seconds.
    pub exp: Option<u64>,
    /// `nbf`, in Unix seconds.
    pub nbf: Option<u64>,
    /// `iat`, in Unix seconds.
    pub iat: Option<u64>,
    /// `jti`.
    pub jti: Option<String>,
}

impl RegisteredClaims {
    /// Reads the registered claims from a decoded claims object.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        Ok(RegisteredClaims {
            iss: string_claim(claims, "iss")?,
            sub: string_claim(claims, "sub")?,
            aud: audience_claim(claims)?,
            exp: numeric_date(claims, "exp")?,
            nbf: numeric_date(claims, "nbf")?,
            iat: numeric_date(claims, "iat")?,
            jti: string_claim(claims, "jti")?,
        })
    }
}

/// How time claims are checked for one issuer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimePolicy {
    /// Allowed clock skew in seconds, applied to `exp`, `nbf` and `iat`.
    pub skew: u64,
    /// Whether a token without `exp` is rejected.
    pub require_expiration: bool,
    /// Maximum `exp - iat`, when set.
    pub max_lifetime: Option<u64>,
}

impl TimePolicy {
    /// Checks `exp`, `nbf`, `iat` and the lifetime at `now` (Unix seconds).
    ///
    /// The skew is generous in the caller's favour only by `skew` seconds on each side, as the
    /// kube-apiserver and jwt_verify_lib apply it: expired when `now > exp + skew`, not yet
    /// valid when `now + skew < nbf`, issued in the future when `iat > now + skew`.
    pub fn check(&self, claims: &RegisteredClaims, now: u64) -> Result<(), AuthError> {
        let skew = self.skew;
        match claims.exp {
            Some(exp) if now > exp.saturating_add(skew) => {
                return Err(AuthError::TokenExpired { now, exp, skew })
            }
            None if self.require_expiration => return Err(AuthError::ExpirationMissing),
            _ => {}
        }
        if let Some(nbf) = claims.nbf {
            if now.saturating_add(skew) < nbf {
                return Err(AuthError::TokenNotYetValid { now, nbf, skew });
            }
        }
        if let Some(iat) = claims.iat {
            if iat > now.saturating_add(skew) {
                return Err(AuthError::TokenIssuedInFuture { now, iat, skew });
            }
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime, claims.exp) {
            let lifetime = claims.iat.map(|iat| exp.saturating_sub(iat));
            if lifetime.is_none_or(|lifetime| lifetime > max) {
                return Err(AuthError::LifetimeTooLong { lifetime, max });
            }
        }
        Ok(())
    }
}

fn string_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<String>, AuthError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(AuthError::malformed(format!(
            "{name} claim is not a string"
        ))),
    }
}

fn audience_claim(claims: &Map<String, Value>) -> Result<Vec<String>, AuthError> {
    let not_strings = || AuthError::malformed("aud claim is not a string or an array of strings");
    match claims.get("aud") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_string).ok_or_else(not_strings))
            .collect(),
        Some(_) => Err(not_strings()),
    }
}

/// Reads a NumericDate: a non-negative JSON number of seconds (fractions are truncated, as
/// RFC 7519 allows them), no later than [`MAX_NUMERIC_DATE`].
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, AuthError> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(AuthError::malformed(format!(
            "{name} claim is not a number"
        )));
    };
    let seconds = match (number.as_u64(), number.as_f64()) {
        (Some(n), _) => Some(n),
        (None, Some(f)) if f.is_finite() && f >= 0.0 && f <= MAX_NUMERIC_DATE as f64 => {
            Some(f as u64)
        }
        _ => None,
    };
    match seconds {
        Some(s) if s <= MAX_NUMERIC_DATE => Ok(Some(s)),
        _ => Err(AuthError::malformed(format!(
            "{name} claim is out of range"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn read(value: Value) -> Result<RegisteredClaims, &'static str> {
        RegisteredClaims::from_claims(&claims(value)).map_err(|e| e.code())
    }

    #[test]
    fn registered_claim_types_truth_table() {
        let ok = |v: Value| assert!(read(v.clone()).is_ok(), "{v}");
        let bad = |v: Value| assert_eq!(read(v.clone()), Err("token_malformed"), "{v}");
        ok(json!({}));
        ok(json!({"aud": "a"}));
        ok(json!({"aud": ["a", "b"]}));
        ok(json!({"aud": []}));
        ok(json!({"exp": 1700000000.75}));
        bad(json!({"iss": 1}));
        bad(json!({"sub": ["a"]}));
        bad(json!({"jti": true}));
        bad(json!({"aud": 1}));
        bad(json!({"aud": ["a", 2]}));
        bad(json!({"exp": "1700000000"}));
        bad(json!({"nbf": -1}));
        bad(json!({"iat": 1e300}));
        bad(json!({"exp": 253402300800u64}));
    }

    #[test]
    fn audience_string_becomes_a_one_element_list() {
        assert_eq!(
            read(json!({"aud": "api"})).map(|c| c.aud),
            Ok(vec!["api".into()])
        );
    }

    fn check(policy: TimePolicy, value: Value, now: u64) -> &'static str {
        let registered = RegisteredClaims::from_claims(&claims(value));
        match registered.and_then(|c| policy.check(&c, now)) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        }
    }

    const SKEW_60: TimePolicy = TimePolicy {
        skew: 60,
        require_expiration: true,
        max_lifetime: None,
    };

    #[test]
    fn time_checks_truth_table_at_the_skew_edges() {
        let now = 1_700_000_000;
        let cases = [
            (json!({"exp": now}), "ok"),
            (json!({"exp": now - 60}), "ok"),
            (json!({"exp": now - 61}), "token_expired"),
            (json!({"exp": now + 10, "nbf": now + 60}), "ok"),
            (
                json!({"exp": now + 10, "nbf": now + 61}),
                "token_not_yet_valid",
            ),
            (json!({"exp": now + 10, "iat": now + 60}), "ok"),
            (
                json!({"exp": now + 10, "iat": now + 61}),
                "token_issued_in_future",
            ),
            (json!({"iat": now}), "expiration_missing"),
        ];
        for (value, want) in cases {
            assert_eq!(check(SKEW_60, value.clone(), now), want, "{value}");
        }
    }

    #[test]
    fn expiration_is_optional_when_the_issuer_says_so() {
        let lenient = TimePolicy {
            require_expiration: false,
            ..SKEW_60
        };
        assert_eq!(check(lenient, json!({"sub": "x"}), 5), "ok");
    }

    #[test]
    fn maximum_lifetime_counts_from_iat_to_exp() {
        let policy = TimePolicy {
            max_lifetime: Some(3600),
            ..SKEW_60
        };
        let now = 1_000_000;
        assert_eq!(
            check(policy, json!({"iat": now, "exp": now + 3600}), now),
            "ok"
        );
        assert_eq!(
            check(policy, json!({"iat": now, "exp": now + 3601}), now),
            "lifetime_too_long"
        );
        assert_eq!(
            check(policy, json!({"exp": now + 10}), now),
            "lifetime_too_long"
        );
    }

    #[test]
    fn time_errors_carry_their_evidence() {
        let c = RegisteredClaims {
            exp: Some(100),
            ..Default::default()
        };
        assert_eq!(
            SKEW_60.check(&c, 200),
            Err(AuthError::TokenExpired {
                now: 200,
                exp: 100,
                skew: 60
            })
        );
    }
}
