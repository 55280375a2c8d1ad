//! `claimValidationRules`: conditions on the claims a token must meet before a user is built.

use serde_json::{Map, Value};

use super::{ClaimExpression, IdentityError};

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
    Expression {
        /// The compiled expression.
        expression: ClaimExpression,
        /// Said when the rule fails (default: the expression).
        message: Option<String>,
    },
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
            ClaimRule::Expression {
                expression,
                message,
            } => {
                let failed = |detail: String| IdentityError::new(expression.text(), detail);
                match expression.eval(claims).map_err(failed)? {
                    Value::Bool(true) => Ok(()),
                    Value::Bool(false) => Err(failed(message.clone().unwrap_or_else(|| {
                        format!("claim validation expression {} is false", expression.text())
                    }))),
                    _ => Err(failed("does not evaluate to a boolean".to_owned())),
                }
            }
        }
    }
}
