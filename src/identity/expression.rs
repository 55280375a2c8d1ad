//! The expressions of the structured authentication configuration (`claimMappings.*.expression`,
//! `extra[].valueExpression`, `claimValidationRules[].expression`, `userValidationRules`),
//! compiled once at configure time (refused there, naming the field, when they do not parse,
//! use what is not supported, or cannot have the kind of value the field needs) and evaluated
//! with the apiserver's semantics: a missing claim or a wrong type is an evaluation error, which
//! refuses the token.

use serde_json::{Map, Number, Value};

use super::cel::{Kind, Program, Val};
use super::UserInfo;

/// What a field needs its expression to give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A boolean (validation rules).
    Bool,
    /// A string (username, uid).
    Str,
    /// A string or a list of strings (groups, extra values).
    Strings,
}

/// A compiled expression over `claims` (or, for user validation rules, `user`).
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimExpression {
    text: String,
    variable: &'static str,
    program: Program,
}

impl Eq for ClaimExpression {}

impl ClaimExpression {
    /// Compiles an expression over `claims` that must give `want`.
    pub fn compile(text: &str, want: Want) -> Result<Self, String> {
        Self::compile_over(text, "claims", want)
    }

    /// Compiles an expression over `user` (`userValidationRules`).
    pub fn compile_user(text: &str) -> Result<Self, String> {
        Self::compile_over(text, "user", Want::Bool)
    }

    fn compile_over(text: &str, variable: &'static str, want: Want) -> Result<Self, String> {
        let program = Program::compile(text, variable)?;
        let kind = program.kind();
        let fits = match want {
            Want::Bool => matches!(kind, Kind::Bool | Kind::Dyn),
            Want::Str => matches!(kind, Kind::Str | Kind::Dyn),
            Want::Strings => matches!(kind, Kind::Str | Kind::List | Kind::Dyn),
        };
        if !fits {
            let wanted = match want {
                Want::Bool => "bool",
                Want::Str => "string",
                Want::Strings => "string or list of strings",
            };
            return Err(format!("got {:?}, wanted {wanted:?}", kind.name()));
        }
        Ok(ClaimExpression {
            text: text.trim().to_owned(),
            variable,
            program,
        })
    }

    /// The expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the expression reads `claims.<name>` (the apiserver checks `email` and
    /// `email_verified` this way).
    pub fn reads_claim(&self, name: &str) -> bool {
        self.program.reads("claims", name)
    }

    /// Evaluates against `claims`: the value, or why there is none.
    pub fn eval(&self, claims: &Map<String, Value>) -> Result<Value, String> {
        let bound = Val::Map(
            claims
                .iter()
                .map(|(k, v)| (k.clone(), Val::from_json(v)))
                .collect(),
        );
        self.run(bound)
    }

    /// Evaluates against the user the claims made (`userValidationRules`).
    pub fn eval_user(&self, user: &UserInfo) -> Result<Value, String> {
        let strings = |items: &[String]| Val::List(items.iter().cloned().map(Val::Str).collect());
        let bound = Val::Map(
            [
                ("username".to_owned(), Val::Str(user.username.clone())),
                ("uid".to_owned(), Val::Str(user.uid.clone())),
                ("groups".to_owned(), strings(&user.groups)),
                (
                    "extra".to_owned(),
                    Val::Map(
                        user.extra
                            .iter()
                            .map(|(k, v)| (k.clone(), strings(v)))
                            .collect(),
                    ),
                ),
            ]
            .into_iter()
            .collect(),
        );
        self.run(bound)
    }

    fn run(&self, bound: Val) -> Result<Value, String> {
        let value = self
            .program
            .eval(self.variable, bound)
            .map_err(|e| format!("{}: {e}", self.text))?;
        Ok(to_json(value))
    }
}

fn to_json(value: Val) -> Value {
    match value {
        Val::Null | Val::Optional(None) => Value::Null,
        Val::Bool(b) => Value::Bool(b),
        Val::Int(n) => Value::Number(n.into()),
        Val::Double(d) => Number::from_f64(d).map_or(Value::Null, Value::Number),
        Val::Str(s) => Value::String(s),
        Val::List(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Val::Map(map) => Value::Object(map.into_iter().map(|(k, v)| (k, to_json(v))).collect()),
        Val::Optional(Some(inner)) => to_json(*inner),
    }
}
