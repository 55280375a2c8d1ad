//! `claimValidationRules`: conditions on the claims a token must meet before a user is built.

use serde_json::{Map, Value};

use super::{ClaimExpression, IdentityError, UserInfo};

/// One compiled claim validation rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimRule {
    /// `claim` + `requiredValue`: the claim must be present and a string equal to the value.
    Equals {
        /// The claim.
        claim: String,
        /// The value it must have.
        value: String,
    },
    /// `expression` (+ `message`): the expression must evaluate to `true`.
    Expression(Condition),
}

/// An expression that must be true (`claimValidationRules[].expression`,
/// `userValidationRules[]`), and what to say when it is not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The compiled expression.
    pub expression: ClaimExpression,
    /// Said when it is false (default: the expression).
    pub message: Option<String>,
}

impl Condition {
    /// Whether the expression holds for `claims`.
    pub fn check_claims(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        self.verdict(self.expression.eval(claims), "claim")
    }

    /// Whether the expression holds for the user the mappings built.
    pub fn check_user(&self, user: &UserInfo) -> Result<(), IdentityError> {
        self.verdict(self.expression.eval_user(user), "user")
    }

    fn verdict(&self, result: Result<Value, String>, kind: &str) -> Result<(), IdentityError> {
        let text = self.expression.text();
        let failed = |detail: String| IdentityError::new(text, detail);
        match result.map_err(failed)? {
            Value::Bool(true) => Ok(()),
            Value::Bool(false) => {
                Err(failed(self.message.clone().unwrap_or_else(|| {
                    format!("{kind} validation expression {text} is false")
                })))
            }
            _ => Err(failed("does not evaluate to a boolean".to_owned())),
        }
    }
}

impl ClaimRule {
    /// Whether `claims` meet the rule.
    pub fn check(&self, claims: &Map<String, Value>) -> Result<(), IdentityError> {
        match self {
            ClaimRule::Equals { claim, value } => match claims.get(claim) {
                Some(Value::String(found)) if found == value => Ok(()),
                Some(Value::String(found)) => Err(IdentityError::new(
                    claim,
                    format!("is {found:?}, required {value:?}"),
                )),
                Some(_) => Err(IdentityError::new(claim, "is not a string")),
                None => Err(IdentityError::new(
                    claim,
                    format!("is not present, required {value:?}"),
                )),
            },
            ClaimRule::Expression(condition) => condition.check_claims(claims),
        }
    }
}
