//! Typed JSON parsing whose errors name the field at fault (`authentication.jwt[0].issuer`).
//!
//! serde's errors say what is wrong and, for text, where (line and column), but not which
//! field. Tracking the path while deserialising (a wrapping deserializer) doubles the parser
//! code of every type it wraps, which in the filter was a seventh of the `.wasm`. Instead the
//! text is parsed plainly and, only when that fails, scanned up to the error's position to
//! find the path: objects and arrays opened and not yet closed, with the key or index each is
//! at. The path is the one a path-tracking deserializer reports: for an unknown field or a
//! bad value, the field itself; for a missing field, the object that lacks it; empty for the
//! whole document.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// A typed parse that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathError {
    /// The field at fault, `a.b[2].c`; empty for the document as a whole.
    pub path: String,
    /// What is wrong; serde's line and column only when the text is not JSON at all.
    pub message: String,
}

impl PathError {
    /// The path as a field name for messages: `.` for the document as a whole.
    pub fn field(&self) -> &str {
        if self.path.is_empty() {
            "."
        } else {
            &self.path
        }
    }
}

/// Parses `text` as `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, PathError> {
    serde_json::from_str(text).map_err(|e| path_error(text, &e))
}

/// Parses an already-decoded document as `T` (through its text, so that there is one parser
/// per type and errors carry a path).
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, PathError> {
    from_str(&to_text(value)?)
}

// The two helpers below are kept out of line: the generic functions above have a copy per
// type parsed, and these need only one.

#[inline(never)]
fn to_text(value: &Value) -> Result<String, PathError> {
    serde_json::to_string(value).map_err(|e| PathError {
        path: String::new(),
        message: e.to_string(),
    })
}

#[inline(never)]
fn path_error(text: &str, e: &serde_json::Error) -> PathError {
    // Text that is not JSON keeps serde's line and column: there is no field to name.
    let message = e.to_string();
    let message = if e.is_data() {
        let position = format!(" at line {} column {}", e.line(), e.column());
        message
            .strip_suffix(&position)
            .unwrap_or(&message)
            .to_owned()
    } else {
        message
    };
    let path = offset(text, e.line(), e.column()).map_or_else(String::new, |at| path_at(text, at));
    PathError { path, message }
}

/// The byte offset just past serde's 1-based (line, column); `None` when serde gave none.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let mut start = 0;
    for _ in 1..line {
        start += text.get(start..)?.find('\n')? + 1;
    }
    Some((start + column).min(text.len()))
}

enum Frame {
    Object {
        key: Option<String>,
    },
    /// `started`: the element at `index` has begun (an error at `[` itself is the array's).
    Array {
        index: usize,
        started: bool,
    },
}

/// The path of the value being read at byte `end` of `text` (JSON, possibly cut short there).
fn path_at(text: &str, end: usize) -> String {
    let bytes = &text.as_bytes()[..end.min(text.len())];
    let mut stack: Vec<Frame> = Vec::new();
    // Whether the next string in an object is a key (after `{` or `,`).
    let mut expecting_key = false;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if !byte.is_ascii_whitespace() && !matches!(byte, b',' | b']') {
            if let Some(Frame::Array { started, .. }) = stack.last_mut() {
                *started = true;
            }
        }
        match byte {
            b'{' => {
                stack.push(Frame::Object { key: None });
                expecting_key = true;
            }
            b'[' => {
                stack.push(Frame::Array {
                    index: 0,
                    started: false,
                });
                expecting_key = false;
            }
            b'}' | b']' => {
                stack.pop();
                expecting_key = false;
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array { index, started }) => {
                    *index += 1;
                    *started = false;
                }
                Some(Frame::Object { .. }) => expecting_key = true,
                None => {}
            },
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if expecting_key {
                    if let Some(Frame::Object { key }) = stack.last_mut() {
                        // The key may be cut short mid-character where serde stopped.
                        let raw = &bytes[start..(i + 1).min(bytes.len())];
                        *key = Some(serde_json::from_slice(raw).unwrap_or_else(|_| {
                            String::from_utf8_lossy(raw).trim_matches('"').to_owned()
                        }));
                    }
                    expecting_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key) } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Object { key: None } | Frame::Array { started: false, .. } => {}
            Frame::Array { index, .. } => {
                path.push('[');
                path.push_str(&index.to_string());
                path.push(']');
            }
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        name: String,
        #[serde(default)]
        count: u32,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        items: Vec<Inner>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Mode {
        On,
        Off,
    }

    fn fails(text: &str) -> PathError {
        let outcome = from_str::<Outer>(text);
        assert!(outcome.is_err(), "{text} parsed: {outcome:?}");
        outcome.err().unwrap_or(PathError {
            path: "(parsed)".into(),
            message: String::new(),
        })
    }

    #[test]
    fn names_the_field_at_fault() {
        let cases = [
            (
                r#"{"items":[{"name":"a"},{"name":"b","count":"x"}]}"#,
                "items[1].count",
            ),
            (
                r#"{"items":[{"name":"a"},{"name":"b","extra":1}]}"#,
                "items[1].extra",
            ),
            (r#"{"items":[{"name":"a"},{"count":1}]}"#, "items[1]"),
            (r#"{"items":[], "mode": "Maybe"}"#, "mode"),
            (r#"{"items":{}}"#, "items"),
            (
                r#"{"items":[{"name":"a, \"}{[", "count": -1}]}"#,
                "items[0].count",
            ),
            (r#"{"items":[{"na\u006de":7}]}"#, "items[0].name"),
            (
                "{\n  \"items\": [\n    {\"name\": 1}\n  ]\n}",
                "items[0].name",
            ),
            (r#"{"items":[{"name":"a","c\u12é":1}]}"#, "items[0].c\\u12é"),
            (r#"{}"#, ""),
            (r#""x""#, ""),
            (r#"{"items":[]]"#, ""),
            (r#"{"items":[]} x"#, ""),
        ];
        for (text, path) in cases {
            assert_eq!(fails(text).path, path, "{text}");
        }
    }

    #[test]
    fn a_position_inside_a_character_is_no_panic() {
        // "é" is two bytes: stop after the first.
        assert_eq!(path_at("{\"k\":{\"é\":1}}", 8), "k.\u{fffd}");
        let text = r#"{"ké\"y":[{"né":"vé\u00e9"},["x",{"a\\":1}]],"z":{}}"#;
        for end in 0..=text.len() + 1 {
            let _ = path_at(text, end);
        }
        assert_eq!(offset("é", 1, 1), Some(1));
        assert_eq!(offset("a\nb", 3, 1), None);
    }

    #[test]
    fn messages_lose_the_position_only() {
        let error = fails(r#"{"items":[{"name":"a","count":"x"}]}"#);
        assert_eq!(error.message, "invalid type: string \"x\", expected u32");
        let error = fails(r#"{"items":[{"count":1}]}"#);
        assert_eq!(error.message, "missing field `name`");
    }

    #[test]
    fn values_parse_through_their_text() {
        let value: Value = serde_json::json!({"items": [{"name": "a", "count": 2}]});
        assert_eq!(from_value::<Outer>(&value).map(|o| o.items[0].count), Ok(2));
        let value: Value = serde_json::json!({"items": [{"name": "a", "count": true}]});
        assert_eq!(
            from_value::<Outer>(&value).map(|_| ()).map_err(|e| e.path),
            Err("items[0].count".to_owned())
        );
    }
}
