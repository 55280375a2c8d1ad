//! A CEL evaluator for the expressions of the apiserver's structured authentication
//! configuration: the part of CEL they use, with CEL's semantics where it matters for a
//! decision — an error (a missing claim, a wrong type) fails the expression unless `&&` / `||`
//! is decided by its other side; numbers from claims are doubles (JSON), literals ints;
//! equality across types is false, not an error.
//!
//! Supported: literals, lists, maps; `claims` (or `user`) and macro variables; `.f`, `[k]`,
//! optional `.?f`, `[?k]` with `orValue`, `hasValue`, `value`; `has(x.f)`; `!`, `-`,
//! `* / %`, `+ -` (numbers, strings, lists), comparisons, `in`, `&&`, `||`, `?:`; `size`,
//! `startsWith`, `endsWith`, `contains`, `lowerAscii`, `upperAscii`, `trim`, `split`, `join`,
//! `string`, `int`, `double`; the macros `all`, `exists`, `exists_one`, `map`, `filter`.
//! Anything else is refused when the configuration is compiled.

mod eval;
mod parse;

pub(crate) use eval::Val;

/// A parsed expression.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<Expr>),
    Map(Vec<(Expr, Expr)>),
    Ident(String),
    /// `operand.field`, or `operand.?field` when optional.
    Select(Box<Expr>, String, bool),
    /// `operand[index]`, or `operand[?index]` when optional.
    Index(Box<Expr>, Box<Expr>, bool),
    /// `target.function(args)` or `function(args)`.
    Call(Option<Box<Expr>>, String, Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(&'static str, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
}

/// What an expression's value can be known to be before it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Double,
    Str,
    List,
    Map,
    Null,
    Optional,
    /// Known only when it runs (a claim, a conditional of mixed kinds).
    Dyn,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Bool => "bool",
            Kind::Int => "int",
            Kind::Double => "double",
            Kind::Str => "string",
            Kind::List => "list",
            Kind::Map => "map",
            Kind::Null => "null",
            Kind::Optional => "optional",
            Kind::Dyn => "dyn",
        }
    }
}

const METHODS: [&str; 12] = [
    "size",
    "startsWith",
    "endsWith",
    "contains",
    "lowerAscii",
    "upperAscii",
    "trim",
    "split",
    "join",
    "orValue",
    "hasValue",
    "value",
];
const MACROS: [&str; 5] = ["all", "exists", "exists_one", "map", "filter"];
const FUNCTIONS: [&str; 5] = ["size", "has", "string", "int", "double"];

/// A compiled program: the expression, checked against the variables in scope.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Program {
    expr: Expr,
    kind: Kind,
}

impl Program {
    /// Parses and checks `text` with `variable` (`claims` or `user`) in scope.
    pub(crate) fn compile(text: &str, variable: &str) -> Result<Program, String> {
        let expr = parse::parse(text)?;
        let kind = check(&expr, &mut vec![variable.to_owned()])?;
        Ok(Program { expr, kind })
    }

    /// What the value is known to be before it runs.
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// Whether the expression reads `variable.field` (or `variable["field"]`).
    pub(crate) fn reads(&self, variable: &str, field: &str) -> bool {
        reads(&self.expr, variable, field)
    }

    /// Runs with `variable` bound to `value`.
    pub(crate) fn eval(&self, variable: &str, value: Val) -> Result<Val, String> {
        eval::eval(&self.expr, &mut vec![(variable.to_owned(), value)])
    }
}

fn reads(expr: &Expr, variable: &str, field: &str) -> bool {
    let is_var = |e: &Expr| matches!(e, Expr::Ident(name) if name == variable);
    match expr {
        Expr::Select(operand, f, _) if f == field && is_var(operand) => true,
        Expr::Index(operand, index, _)
            if is_var(operand) && matches!(&**index, Expr::Str(s) if s == field) =>
        {
            true
        }
        Expr::Select(a, _, _) | Expr::Not(a) | Expr::Neg(a) => reads(a, variable, field),
        Expr::Index(a, b, _) | Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            reads(a, variable, field) || reads(b, variable, field)
        }
        Expr::Cond(a, b, c) => [a, b, c].iter().any(|e| reads(e, variable, field)),
        Expr::List(items) => items.iter().any(|e| reads(e, variable, field)),
        Expr::Map(entries) => entries
            .iter()
            .any(|(k, v)| reads(k, variable, field) || reads(v, variable, field)),
        Expr::Call(target, _, args) => {
            target.as_deref().is_some_and(|t| reads(t, variable, field))
                || args.iter().any(|e| reads(e, variable, field))
        }
        _ => false,
    }
}

/// Checks names and functions, and infers what can be known of the value.
fn check(expr: &Expr, scope: &mut Vec<String>) -> Result<Kind, String> {
    Ok(match expr {
        Expr::Null => Kind::Null,
        Expr::Bool(_) => Kind::Bool,
        Expr::Int(_) => Kind::Int,
        Expr::Double(_) => Kind::Double,
        Expr::Str(_) => Kind::Str,
        Expr::List(items) => {
            for item in items {
                check(item, scope)?;
            }
            Kind::List
        }
        Expr::Map(entries) => {
            for (k, v) in entries {
                check(k, scope)?;
                check(v, scope)?;
            }
            Kind::Map
        }
        Expr::Ident(name) => {
            if !scope.contains(name) {
                return Err(format!("undeclared reference to '{name}'"));
            }
            Kind::Dyn
        }
        Expr::Select(operand, _, optional) | Expr::Index(operand, _, optional) => {
            let operand_kind = check(operand, scope)?;
            if let Expr::Index(_, index, _) = expr {
                check(index, scope)?;
            }
            if matches!(
                operand_kind,
                Kind::Bool | Kind::Int | Kind::Double | Kind::Null
            ) {
                return Err(format!("no field or index on a {}", operand_kind.name()));
            }
            if *optional || operand_kind == Kind::Optional {
                Kind::Optional
            } else {
                Kind::Dyn
            }
        }
        Expr::Not(a) => {
            expect(check(a, scope)?, &[Kind::Bool], "!")?;
            Kind::Bool
        }
        Expr::Neg(a) => {
            let kind = check(a, scope)?;
            expect(kind, &[Kind::Int, Kind::Double], "-")?;
            kind
        }
        Expr::And(a, b) | Expr::Or(a, b) => {
            expect(check(a, scope)?, &[Kind::Bool], "&& and ||")?;
            expect(check(b, scope)?, &[Kind::Bool], "&& and ||")?;
            Kind::Bool
        }
        Expr::Cond(c, a, b) => {
            expect(check(c, scope)?, &[Kind::Bool], "?:")?;
            let (a, b) = (check(a, scope)?, check(b, scope)?);
            if a == b {
                a
            } else {
                Kind::Dyn
            }
        }
        Expr::Binary(op, a, b) => {
            let (a, b) = (check(a, scope)?, check(b, scope)?);
            match *op {
                "==" | "!=" | "<" | "<=" | ">" | ">=" | "in" => Kind::Bool,
                "+" => match (a, b) {
                    (Kind::Str, Kind::Str) => Kind::Str,
                    (Kind::List, Kind::List) => Kind::List,
                    (Kind::Int, Kind::Int) => Kind::Int,
                    (Kind::Double, Kind::Double) => Kind::Double,
                    (Kind::Dyn, _) | (_, Kind::Dyn) => Kind::Dyn,
                    _ => {
                        return Err(format!(
                            "no matching overload for '+' on {} and {}",
                            a.name(),
                            b.name()
                        ))
                    }
                },
                _ => {
                    expect(a, &[Kind::Int, Kind::Double], op)?;
                    expect(b, &[Kind::Int, Kind::Double], op)?;
                    if a == b {
                        a
                    } else {
                        Kind::Dyn
                    }
                }
            }
        }
        Expr::Call(target, name, args) => check_call(target.as_deref(), name, args, scope)?,
    })
}

fn check_call(
    target: Option<&Expr>,
    name: &str,
    args: &[Expr],
    scope: &mut Vec<String>,
) -> Result<Kind, String> {
    if let (Some(target), true) = (target, MACROS.contains(&name)) {
        let arity = if name == "map" { [2, 3] } else { [2, 2] };
        let Some(Expr::Ident(var)) = args.first() else {
            return Err(format!("{name}() needs a variable name first"));
        };
        if !arity.contains(&args.len()) {
            return Err(format!("{name}() takes {} arguments", arity[0]));
        }
        expect(check(target, scope)?, &[Kind::List, Kind::Map], name)?;
        scope.push(var.clone());
        let kinds: Result<Vec<Kind>, String> = args[1..].iter().map(|a| check(a, scope)).collect();
        scope.pop();
        let kinds = kinds?;
        return Ok(match name {
            "map" | "filter" => Kind::List,
            _ => {
                expect(kinds[0], &[Kind::Bool], name)?;
                Kind::Bool
            }
        });
    }
    if target.is_none() && name == "has" {
        let [Expr::Select(operand, _, false)] = args else {
            return Err("has() takes one field selection, as in has(claims.email)".into());
        };
        check(operand, scope)?;
        return Ok(Kind::Bool);
    }
    if let Some(Expr::Ident(namespace)) = target {
        if namespace == "optional" && !scope.contains(namespace) {
            for arg in args {
                check(arg, scope)?;
            }
            return match (name, args.len()) {
                ("of", 1) | ("none", 0) => Ok(Kind::Optional),
                _ => Err(format!("unknown function optional.{name}")),
            };
        }
    }
    let target_kind = match target {
        Some(target) => Some(check(target, scope)?),
        None => None,
    };
    for arg in args {
        check(arg, scope)?;
    }
    let known = if target.is_some() {
        METHODS.contains(&name)
    } else {
        FUNCTIONS.contains(&name)
    };
    if !known {
        return Err(format!("unsupported function {name}()"));
    }
    Ok(match (name, target_kind) {
        ("size", _) | ("int", None) => Kind::Int,
        ("double", None) => Kind::Double,
        ("string", None) | ("lowerAscii" | "upperAscii" | "trim" | "join", _) => Kind::Str,
        ("startsWith" | "endsWith" | "contains" | "hasValue", _) => Kind::Bool,
        ("split", _) => Kind::List,
        _ => Kind::Dyn,
    })
}

fn expect(kind: Kind, allowed: &[Kind], what: &str) -> Result<(), String> {
    if kind == Kind::Dyn || allowed.contains(&kind) {
        Ok(())
    } else {
        Err(format!(
            "no matching overload for {what} on {}",
            kind.name()
        ))
    }
}
