//! Request-target normalisation, before anything is matched against it.
//!
//! A rule that denies `/api/v1/namespaces/x/secrets` must not be slipped past with
//! `/api/v1/../v1/namespaces/x/secrets`, `/api//v1/…` or `/api/%761/…`. So the path is
//! normalised the way RFC 3986 section 6 and Envoy's `normalize_path` do: percent-encoded
//! unreserved characters are decoded, `.` and `..` segments are resolved and empty segments
//! merged. What cannot be normalised safely is refused rather than guessed at: an encoded `/`
//! or `\`, control characters, bad escapes, `..` above the root.

use std::fmt;

/// Why a request path was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// An escape for `/`, `\` or a control character, which upstreams decode differently.
    AmbiguousEscape(u8),
    /// A raw control character or backslash.
    ForbiddenCharacter(char),
    /// `..` would climb above the root.
    AboveRoot,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathError::NotAbsolute => write!(f, "the path does not start with '/'"),
            PathError::BadEscape => write!(f, "the path has a malformed percent-escape"),
            PathError::AmbiguousEscape(byte) => {
                write!(f, "the path encodes the byte %{byte:02X}, which is refused")
            }
            PathError::ForbiddenCharacter(c) => {
                write!(f, "the path contains the character {c:?}, which is refused")
            }
            PathError::AboveRoot => write!(f, "the path climbs above the root with '..'"),
        }
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Decodes escapes of unreserved characters, upper-cases the hex of the others, and refuses
/// escapes of `/`, `\`, `%`-less garbage and control characters.
fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            let (Some(high), Some(low)) = (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) else {
                return Err(PathError::BadEscape);
            };
            let decoded = high * 16 + low;
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else if decoded == b'/' || decoded == b'\\' || decoded < 0x20 || decoded == 0x7f {
                return Err(PathError::AmbiguousEscape(decoded));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(high)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(low)]));
            }
            i += 3;
            continue;
        }
        // Copy one UTF-8 character (the input is a &str, so boundaries are valid).
        let Some(c) = path[i..].chars().next() else {
            break;
        };
        if c.is_control() || c == '\\' {
            return Err(PathError::ForbiddenCharacter(c));
        }
        out.push(c);
        i += c.len_utf8();
    }
    Ok(out)
}

/// Normalises a request path (without its query). Keeps a trailing `/`.
pub fn normalize_path(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(PathError::AboveRoot);
                }
                trailing_slash = true;
            }
            other => segments.push(other),
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for segment in &segments {
        normalized.push('/');
        normalized.push_str(segment);
    }
    if normalized.is_empty() || trailing_slash {
        normalized.push('/');
    }
    Ok(normalized)
}

/// Splits a request target (`:path`) into path and query, dropping any fragment.
pub fn split_target(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or_default();
    match target.split_once('?') {
        Some((path, query)) => (path, query),
        None => (target, ""),
    }
}

/// Decodes a query component (`+` is a space), as Go's `url.QueryUnescape`; `None` for a bad
/// escape.
fn query_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_value)?;
                let low = bytes.get(i + 2).copied().and_then(hex_value)?;
                out.push(high * 16 + low);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The values of one query parameter, in order, as Go's `url.Values` holds them: pairs are
/// split on `&`; pairs with a `;` or a bad escape are skipped, as Go's parser skips them.
pub fn query_values(query: &str, key: &str) -> Vec<String> {
    let mut values = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (query_unescape(k), query_unescape(v)) else {
            continue;
        };
        if k == key {
            values.push(v);
        }
    }
    values
}
