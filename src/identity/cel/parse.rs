//! CEL text → [`Expr`]: a lexer and a recursive-descent parser for the part of CEL the
//! apiserver's authentication expressions use (literals, lists and maps, selects and indexes,
//! optional `.?`/`[?`, calls and the list macros, the operators with CEL's precedence, `?:`).

use super::Expr;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Int(i64),
    Double(f64),
    Str(String),
    Punct(&'static str),
}

const PUNCTS: [&str; 26] = [
    "==", "!=", "<=", ">=", "&&", "||", ".?", "[?", "<", ">", "!", "+", "-", "*", "/", "%", ".",
    "[", "]", "(", ")", "{", "}", ",", ":", "?",
];

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let fraction = i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit();
            if fraction {
                i += 1;
                while i < chars.len() && chars[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let number: String = chars[start..i].iter().collect();
            tokens.push(if fraction {
                // serde_json's float reader: the one the module already has.
                Token::Double(
                    serde_json::from_str(&number).map_err(|_| format!("bad number {number}"))?,
                )
            } else {
                Token::Int(
                    number
                        .parse()
                        .map_err(|_| format!("integer {number} too large"))?,
                )
            });
        } else if c == '"' || c == '\'' {
            i += 1;
            let mut value = String::new();
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err("unterminated string".into());
                };
                i += 1;
                if d == c {
                    break;
                }
                if d == '\\' {
                    let escaped = chars.get(i).copied().ok_or("unterminated string")?;
                    i += 1;
                    value.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' | '"' | '\'' => escaped,
                        other => return Err(format!("unsupported escape \\{other}")),
                    });
                } else {
                    value.push(d);
                }
            }
            tokens.push(Token::Str(value));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let Some(punct) = PUNCTS.iter().find(|p| rest.starts_with(**p)) else {
                return Err(format!("unexpected character {c:?}"));
            };
            tokens.push(Token::Punct(punct));
            i += punct.chars().count();
        }
    }
    Ok(tokens)
}

/// Most tokens an expression may have: bounds the depth of the tree (a chain of `+` or `!`
/// nests one level per operator), so checking and evaluating it can never exhaust the stack.
const MAX_TOKENS: usize = 256;

/// Parses `text` into an expression.
pub(super) fn parse(text: &str) -> Result<Expr, String> {
    let tokens = lex(text)?;
    if tokens.len() > MAX_TOKENS {
        return Err(format!("expression longer than {MAX_TOKENS} tokens"));
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expr = parser.expr()?;
    if parser.at != parser.tokens.len() {
        return Err(format!("unexpected {:?}", parser.tokens[parser.at]));
    }
    Ok(expr)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

const MAX_DEPTH: usize = 64;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, punct: &str) -> bool {
        if matches!(self.peek(), Some(Token::Punct(p)) if *p == punct) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, punct: &str) -> Result<(), String> {
        if self.eat(punct) {
            Ok(())
        } else {
            Err(format!("expected {punct:?}, found {:?}", self.peek()))
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression nested too deeply".into());
        }
        let condition = self.or()?;
        let result = if self.eat("?") {
            let then = self.expr()?;
            self.expect(":")?;
            let otherwise = self.expr()?;
            Expr::Cond(Box::new(condition), Box::new(then), Box::new(otherwise))
        } else {
            condition
        };
        self.depth -= 1;
        Ok(result)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.relation()?;
        while self.eat("&&") {
            left = Expr::And(Box::new(left), Box::new(self.relation()?));
        }
        Ok(left)
    }

    fn relation(&mut self) -> Result<Expr, String> {
        let mut left = self.addition()?;
        loop {
            let op = match self.peek() {
                Some(Token::Punct(p @ ("==" | "!=" | "<" | "<=" | ">" | ">="))) => *p,
                Some(Token::Ident(word)) if word == "in" => "in",
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.addition()?));
        }
    }

    fn addition(&mut self) -> Result<Expr, String> {
        self.left_associative(&["+", "-"], Self::multiplication)
    }

    fn multiplication(&mut self) -> Result<Expr, String> {
        self.left_associative(&["*", "/", "%"], Self::unary)
    }

    /// `operand (op operand)*` for the operators `ops`, left to right.
    fn left_associative(
        &mut self,
        ops: &[&'static str],
        operand: fn(&mut Self) -> Result<Expr, String>,
    ) -> Result<Expr, String> {
        let mut left = operand(self)?;
        loop {
            let op = match self.peek() {
                Some(Token::Punct(p)) if ops.contains(p) => *p,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(operand(self)?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.eat("-") {
            return Ok(match self.unary()? {
                Expr::Int(n) => Expr::Int(-n),
                Expr::Double(d) => Expr::Double(-d),
                other => Expr::Neg(Box::new(other)),
            });
        }
        self.member()
    }

    fn member(&mut self) -> Result<Expr, String> {
        let mut expr = self.primary()?;
        loop {
            let optional = self.eat(".?");
            if optional || self.eat(".") {
                let Some(Token::Ident(field)) = self.peek().cloned() else {
                    return Err("expected a field name after '.'".into());
                };
                self.at += 1;
                if !optional && self.eat("(") {
                    let args = self.args(")")?;
                    expr = Expr::Call(Some(Box::new(expr)), field, args);
                } else {
                    expr = Expr::Select(Box::new(expr), field, optional);
                }
                continue;
            }
            let optional = self.eat("[?");
            if optional || self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                expr = Expr::Index(Box::new(expr), Box::new(index), optional);
                continue;
            }
            return Ok(expr);
        }
    }

    fn args(&mut self, close: &str) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        if self.eat(close) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(close) {
                return Ok(args);
            }
            self.expect(",")?;
            if self.eat(close) {
                return Ok(args);
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(token) = self.peek().cloned() else {
            return Err("unexpected end of expression".into());
        };
        self.at += 1;
        Ok(match token {
            Token::Int(n) => Expr::Int(n),
            Token::Double(d) => Expr::Double(d),
            Token::Str(s) => Expr::Str(s),
            Token::Ident(word) => match word.as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "null" => Expr::Null,
                _ if self.eat("(") => Expr::Call(None, word, self.args(")")?),
                _ => Expr::Ident(word),
            },
            Token::Punct("(") => {
                let inner = self.expr()?;
                self.expect(")")?;
                inner
            }
            Token::Punct("[") => Expr::List(self.args("]")?),
            Token::Punct("{") => {
                let mut entries = Vec::new();
                if !self.eat("}") {
                    loop {
                        let key = self.expr()?;
                        self.expect(":")?;
                        entries.push((key, self.expr()?));
                        if self.eat("}") {
                            break;
                        }
                        self.expect(",")?;
                        if self.eat("}") {
                            break;
                        }
                    }
                }
                Expr::Map(entries)
            }
            other => return Err(format!("unexpected {other:?}")),
        })
    }
}
