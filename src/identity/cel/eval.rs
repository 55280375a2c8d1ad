//! Running an [`Expr`] against bound variables.

use std::collections::BTreeMap;

use serde_json::Value;

use super::Expr;

/// A CEL value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<Val>),
    Map(BTreeMap<String, Val>),
    Optional(Option<Box<Val>>),
}

impl Val {
    /// A JSON value as the apiserver's CEL sees claims: numbers are doubles.
    pub(crate) fn from_json(value: &Value) -> Val {
        match value {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Double(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Val::Str(s.clone()),
            Value::Array(items) => Val::List(items.iter().map(Val::from_json).collect()),
            Value::Object(map) => Val::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), Val::from_json(v)))
                    .collect(),
            ),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Val::Null => "null",
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Double(_) => "double",
            Val::Str(_) => "string",
            Val::List(_) => "list",
            Val::Map(_) => "map",
            Val::Optional(_) => "optional",
        }
    }
}

type Scope = Vec<(String, Val)>;

fn number(v: &Val) -> Option<f64> {
    match v {
        Val::Int(n) => Some(*n as f64),
        Val::Double(d) => Some(*d),
        _ => None,
    }
}

/// CEL equality: numbers across int and double, lists and maps element by element, other
/// kinds that differ are unequal (not an error).
fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::List(x), Val::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| equal(a, b))
        }
        (Val::Map(x), Val::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

fn no_overload(op: &str, a: &Val, b: &Val) -> String {
    format!("no such overload: {} {op} {}", a.kind(), b.kind())
}

fn bool_of(v: Result<Val, String>) -> Result<bool, String> {
    match v? {
        Val::Bool(b) => Ok(b),
        other => Err(format!("expected a bool, got {}", other.kind())),
    }
}

pub(super) fn eval(expr: &Expr, scope: &mut Scope) -> Result<Val, String> {
    Ok(match expr {
        Expr::Null => Val::Null,
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Int(n) => Val::Int(*n),
        Expr::Double(d) => Val::Double(*d),
        Expr::Str(s) => Val::Str(s.clone()),
        Expr::List(items) => Val::List(
            items
                .iter()
                .map(|e| eval(e, scope))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Map(entries) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                let Val::Str(key) = eval(k, scope)? else {
                    return Err("map keys must be strings".into());
                };
                map.insert(key, eval(v, scope)?);
            }
            Val::Map(map)
        }
        Expr::Ident(name) => scope
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| format!("undeclared reference to '{name}'"))?,
        Expr::Select(operand, field, optional) => {
            let key = Val::Str(field.clone());
            access(eval(operand, scope)?, &key, *optional, field)?
        }
        Expr::Index(operand, index, optional) => {
            let operand = eval(operand, scope)?;
            let index = eval(index, scope)?;
            access(operand, &index, *optional, "index")?
        }
        Expr::Not(a) => Val::Bool(!bool_of(eval(a, scope))?),
        Expr::Neg(a) => match eval(a, scope)? {
            Val::Int(n) => Val::Int(n.checked_neg().ok_or("integer overflow")?),
            Val::Double(d) => Val::Double(-d),
            other => return Err(format!("no such overload: -{}", other.kind())),
        },
        // CEL's commutative logic: an error on one side is absorbed when the other decides.
        Expr::And(a, b) => Val::Bool(logic(a, b, false, scope)?),
        Expr::Or(a, b) => Val::Bool(logic(a, b, true, scope)?),
        Expr::Cond(c, a, b) => {
            if bool_of(eval(c, scope))? {
                eval(a, scope)?
            } else {
                eval(b, scope)?
            }
        }
        Expr::Binary(op, a, b) => binary(op, eval(a, scope)?, eval(b, scope)?)?,
        Expr::Call(target, name, args) => call(target.as_deref(), name, args, scope)?,
    })
}

/// `&&` (`decisive` false) or `||` (`decisive` true), with CEL's commutative error handling:
/// a side that evaluates to the decisive value decides, whatever error the other side has.
fn logic(a: &Expr, b: &Expr, decisive: bool, scope: &mut Scope) -> Result<bool, String> {
    let left = bool_of(eval(a, scope));
    if left == Ok(decisive) {
        return Ok(decisive);
    }
    let right = bool_of(eval(b, scope));
    match (left, right) {
        (_, Ok(value)) if value == decisive => Ok(decisive),
        (Err(e), _) | (_, Err(e)) => Err(e),
        _ => Ok(!decisive),
    }
}

/// `operand.field` / `operand[index]`, plain (a missing key is an error) or optional.
fn access(operand: Val, key: &Val, optional: bool, what: &str) -> Result<Val, String> {
    let (operand, optional) = match operand {
        Val::Optional(None) => return Ok(Val::Optional(None)),
        Val::Optional(Some(inner)) => (*inner, true),
        other => (other, optional),
    };
    let found = match (&operand, key) {
        (Val::Map(map), Val::Str(k)) => map.get(k).cloned(),
        (Val::List(items), index) => {
            let i = number(index).ok_or("list index must be a number")?;
            (i >= 0.0 && i.fract() == 0.0)
                .then(|| items.get(i as usize).cloned())
                .flatten()
        }
        _ => return Err(format!("no such key {what} on {}", operand.kind())),
    };
    match (found, optional) {
        (Some(v), true) => Ok(Val::Optional(Some(Box::new(v)))),
        (Some(v), false) => Ok(v),
        (None, true) => Ok(Val::Optional(None)),
        (None, false) => Err(match key {
            Val::Str(k) => format!("no such key: {k}"),
            _ => "index out of range".to_owned(),
        }),
    }
}

fn binary(op: &str, a: Val, b: Val) -> Result<Val, String> {
    let compare = |ord: Option<std::cmp::Ordering>| -> Result<Val, String> {
        let ord = ord.ok_or_else(|| no_overload(op, &a, &b))?;
        Ok(Val::Bool(match op {
            "<" => ord.is_lt(),
            "<=" => ord.is_le(),
            ">" => ord.is_gt(),
            _ => ord.is_ge(),
        }))
    };
    Ok(match op {
        "==" => Val::Bool(equal(&a, &b)),
        "!=" => Val::Bool(!equal(&a, &b)),
        "<" | "<=" | ">" | ">=" => match (&a, &b) {
            (Val::Str(x), Val::Str(y)) => compare(Some(x.cmp(y)))?,
            _ => compare(
                number(&a)
                    .zip(number(&b))
                    .and_then(|(x, y)| x.partial_cmp(&y)),
            )?,
        },
        "in" => match &b {
            Val::List(items) => Val::Bool(items.iter().any(|i| equal(&a, i))),
            Val::Map(map) => match &a {
                Val::Str(k) => Val::Bool(map.contains_key(k)),
                _ => Val::Bool(false),
            },
            _ => return Err(no_overload(op, &a, &b)),
        },
        "+" => match (a, b) {
            (Val::Str(x), Val::Str(y)) => Val::Str(x + &y),
            (Val::List(mut x), Val::List(y)) => {
                x.extend(y);
                Val::List(x)
            }
            (Val::Int(x), Val::Int(y)) => Val::Int(x.checked_add(y).ok_or("integer overflow")?),
            (Val::Double(x), Val::Double(y)) => Val::Double(x + y),
            (a, b) => return Err(no_overload(op, &a, &b)),
        },
        _ => match (&a, &b) {
            (Val::Int(x), Val::Int(y)) => Val::Int(
                match op {
                    "-" => x.checked_sub(*y),
                    "*" => x.checked_mul(*y),
                    "/" => x.checked_div(*y),
                    _ => x.checked_rem(*y),
                }
                .ok_or("integer overflow or division by zero")?,
            ),
            (Val::Double(x), Val::Double(y)) => Val::Double(match op {
                "-" => x - y,
                "*" => x * y,
                "/" => x / y,
                _ => return Err(no_overload(op, &a, &b)),
            }),
            _ => return Err(no_overload(op, &a, &b)),
        },
    })
}

fn string_arg(args: &[Expr], scope: &mut Scope, name: &str) -> Result<String, String> {
    match args {
        [arg] => match eval(arg, scope)? {
            Val::Str(s) => Ok(s),
            other => Err(format!("{name}() takes a string, not {}", other.kind())),
        },
        _ => Err(format!("{name}() takes one argument")),
    }
}

fn call(
    target: Option<&Expr>,
    name: &str,
    args: &[Expr],
    scope: &mut Scope,
) -> Result<Val, String> {
    if target.is_none() && name == "has" {
        let [Expr::Select(operand, field, _)] = args else {
            return Err("has() takes one field selection".into());
        };
        return Ok(Val::Bool(match eval(operand, scope)? {
            Val::Map(map) => map.contains_key(field),
            other => return Err(format!("has() on a {}", other.kind())),
        }));
    }
    if let Some(Expr::Ident(namespace)) = target {
        if namespace == "optional" && !scope.iter().any(|(n, _)| n == namespace) {
            return Ok(match (name, args) {
                ("of", [arg]) => Val::Optional(Some(Box::new(eval(arg, scope)?))),
                _ => Val::Optional(None),
            });
        }
    }
    let Some(target) = target else {
        let [arg] = args else {
            return Err(format!("{name}() takes one argument"));
        };
        let value = eval(arg, scope)?;
        return Ok(match (name, value) {
            ("size", v) => size(&v)?,
            ("string", Val::Str(s)) => Val::Str(s),
            ("string", Val::Int(n)) => Val::Str(n.to_string()),
            // serde_json's float writer (ryu), which the module already has.
            ("string", Val::Double(d)) => Val::Str(
                serde_json::Number::from_f64(d).map_or_else(|| "NaN".to_owned(), |n| n.to_string()),
            ),
            ("string", Val::Bool(b)) => Val::Str(b.to_string()),
            ("int", Val::Int(n)) => Val::Int(n),
            ("int", Val::Double(d)) if d.is_finite() && d.abs() < 9.2e18 => Val::Int(d as i64),
            ("int", Val::Str(s)) => Val::Int(s.parse().map_err(|_| format!("int({s:?})"))?),
            ("double", v) => Val::Double(number(&v).ok_or("double() of a non-number")?),
            (name, v) => return Err(format!("no such overload: {name}({})", v.kind())),
        });
    };
    if ["all", "exists", "exists_one", "map", "filter"].contains(&name) {
        return comprehension(target, name, args, scope);
    }
    let receiver = eval(target, scope)?;
    Ok(match (name, receiver) {
        ("size", v) => size(&v)?,
        ("orValue", Val::Optional(v)) => match v {
            Some(v) => *v,
            None => {
                let [arg] = args else {
                    return Err("orValue() takes one argument".into());
                };
                eval(arg, scope)?
            }
        },
        ("hasValue", Val::Optional(v)) => Val::Bool(v.is_some()),
        ("value", Val::Optional(v)) => *v.ok_or("optional.none() has no value")?,
        ("startsWith", Val::Str(s)) => Val::Bool(s.starts_with(&string_arg(args, scope, name)?)),
        ("endsWith", Val::Str(s)) => Val::Bool(s.ends_with(&string_arg(args, scope, name)?)),
        ("contains", Val::Str(s)) => Val::Bool(s.contains(&string_arg(args, scope, name)?)),
        ("lowerAscii", Val::Str(s)) => Val::Str(s.to_ascii_lowercase()),
        ("upperAscii", Val::Str(s)) => Val::Str(s.to_ascii_uppercase()),
        ("trim", Val::Str(s)) => Val::Str(s.trim().to_owned()),
        ("split", Val::Str(s)) => {
            let separator = string_arg(args, scope, name)?;
            Val::List(
                s.split(&separator)
                    .map(|p| Val::Str(p.to_owned()))
                    .collect(),
            )
        }
        ("join", Val::List(items)) => {
            let separator = if args.is_empty() {
                String::new()
            } else {
                string_arg(args, scope, name)?
            };
            let parts: Result<Vec<String>, String> = items
                .into_iter()
                .map(|i| match i {
                    Val::Str(s) => Ok(s),
                    other => Err(format!("join() of a {}", other.kind())),
                })
                .collect();
            Val::Str(parts?.join(&separator))
        }
        (name, v) => return Err(format!("no such overload: {}.{name}()", v.kind())),
    })
}

fn size(v: &Val) -> Result<Val, String> {
    let n = match v {
        Val::Str(s) => s.chars().count(),
        Val::List(items) => items.len(),
        Val::Map(map) => map.len(),
        other => return Err(format!("size() of a {}", other.kind())),
    };
    Ok(Val::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn comprehension(
    target: &Expr,
    name: &str,
    args: &[Expr],
    scope: &mut Scope,
) -> Result<Val, String> {
    let Some(Expr::Ident(var)) = args.first() else {
        return Err(format!("{name}() needs a variable"));
    };
    let items = match eval(target, scope)? {
        Val::List(items) => items,
        Val::Map(map) => map.into_keys().map(Val::Str).collect(),
        other => return Err(format!("{name}() over a {}", other.kind())),
    };
    let run = |item: Val, body: &Expr, scope: &mut Scope| {
        scope.push((var.clone(), item));
        let out = eval(body, scope);
        scope.pop();
        out
    };
    Ok(match (name, &args[1..]) {
        // all: false decides; exists: true decides. An error is absorbed by a decision, as
        // in CEL's comprehensions.
        ("all" | "exists", [predicate]) => {
            let decisive = name == "exists";
            let mut error = None;
            for item in items {
                match bool_of(run(item, predicate, scope)) {
                    Ok(value) if value == decisive => return Ok(Val::Bool(decisive)),
                    Ok(_) => {}
                    Err(e) => error = Some(e),
                }
            }
            match error {
                Some(e) => return Err(e),
                None => Val::Bool(!decisive),
            }
        }
        ("exists_one", [predicate]) => {
            let mut count = 0;
            for item in items {
                if bool_of(run(item, predicate, scope))? {
                    count += 1;
                }
            }
            Val::Bool(count == 1)
        }
        ("map", [transform]) => Val::List(
            items
                .into_iter()
                .map(|item| run(item, transform, scope))
                .collect::<Result<_, _>>()?,
        ),
        ("map", [predicate, transform]) => {
            let mut out = Vec::new();
            for item in items {
                if bool_of(run(item.clone(), predicate, scope))? {
                    out.push(run(item, transform, scope)?);
                }
            }
            Val::List(out)
        }
        ("filter", [predicate]) => {
            let mut out = Vec::new();
            for item in items {
                if bool_of(run(item.clone(), predicate, scope))? {
                    out.push(item);
                }
            }
            Val::List(out)
        }
        _ => return Err(format!("{name}() has the wrong number of arguments")),
    })
}
