//! The expressions of the structured authentication configuration (`claimMappings.*.expression`,
//! `extra[].valueExpression`, `claimValidationRules[].expression`), compiled once at configure
//! time and evaluated against a token's claims.
//!
//! Understood today: a reference to one claim — `claims.name` or `claims["name"]` (also with
//! single quotes) — which is what most configurations write. Its value is the claim's, as the
//! apiserver's CEL gives it; a missing claim is an evaluation error (CEL's "no such key"), which
//! refuses the token, as in the apiserver. Any other CEL is refused at configure time with the
//! field named.

use serde_json::{Map, Value};

/// Why an expression was refused at configure time.
pub const CEL_UNSUPPORTED: &str = "only a reference to one claim (claims.name or \
     claims[\"name\"]) is understood here; other CEL is not (yet) supported";

/// A compiled claims expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimExpression {
    text: String,
    claim: String,
}

impl ClaimExpression {
    /// Compiles `text`; the error says why it is refused.
    pub fn compile(text: &str) -> Result<Self, String> {
        let claim = plain_claim_reference(text).ok_or_else(|| CEL_UNSUPPORTED.to_owned())?;
        Ok(ClaimExpression {
            text: text.trim().to_owned(),
            claim,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the expression reads `claims.<name>` (the apiserver checks `email` and
    /// `email_verified` this way).
    pub fn reads_claim(&self, name: &str) -> bool {
        self.claim == name
    }

    /// Evaluates against `claims`: the claim's value, or why there is none.
    pub fn eval<'c>(&self, claims: &'c Map<String, Value>) -> Result<&'c Value, String> {
        claims
            .get(&self.claim)
            .ok_or_else(|| format!("{}: no such key: {}", self.text, self.claim))
    }
}

/// `claims.name` / `claims["name"]` / `claims['name']` → `name`.
pub fn plain_claim_reference(expression: &str) -> Option<String> {
    let rest = expression.trim().strip_prefix("claims")?;
    if let Some(name) = rest.strip_prefix('.') {
        let valid = !name.is_empty()
            && name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return valid.then(|| name.to_string());
    }
    let inner = rest.strip_prefix('[')?.strip_suffix(']')?.trim();
    let name = inner
        .strip_prefix('"')
        .and_then(|n| n.strip_suffix('"'))
        .or_else(|| inner.strip_prefix('\'').and_then(|n| n.strip_suffix('\'')))?;
    (!name.is_empty() && !name.contains(['"', '\'', '\\'])).then(|| name.to_string())
}
