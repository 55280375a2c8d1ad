//! Request-target normalisation, before anything is matched against it.
//!
//! A rule that denies `/api/v1/namespaces/x/secrets` must not be slipped past with
//! `/api/v1/../v1/namespaces/x/secrets`, `/api//v1/…` or `/api/%761/…`. So the path is
//! normalised the way RFC 3986 and Envoy's `normalize_path` + `merge_slashes` do: percent-encoded
//! unreserved characters are decoded, `.` and `..` segments are resolved by `remove_dot_segments`
//! and then runs of `/` merged. The decision is made on that path, and when it differs from the
//! one the caller sent, the request goes upstream with the normalised path (see
//! [`crate::decision`]), so the upstream resolves the resource that was authorized. What cannot be
//! normalised safely is refused rather than guessed at: an encoded `/` or `\`, control
//! characters, bad escapes, segments that other servers resolve differently (`..;`, `%252e`).

use std::borrow::Cow;
use std::fmt;

use super::params::{escape_at, strict_decode};

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
    /// A segment that some server reads as `.`, `..` or several segments, and meshguard does
    /// not: `..;x`, `%252e%252e`, `%252f`.
    HiddenSegment(String),
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
            PathError::HiddenSegment(segment) => write!(
                f,
                "the path segment {segment:?} is a dot segment or a separator to some servers, \
                 which is refused"
            ),
        }
    }
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
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
            let Some(decoded) = escape_at(bytes, i) else {
                return Err(PathError::BadEscape);
            };
            if is_unreserved(decoded) {
                out.push(char::from(decoded));
            } else if decoded == b'/' || decoded == b'\\' || decoded < 0x20 || decoded == 0x7f {
                return Err(PathError::AmbiguousEscape(decoded));
            } else {
                out.push('%');
                out.push(char::from(b"0123456789ABCDEF"[usize::from(decoded >> 4)]));
                out.push(char::from(b"0123456789ABCDEF"[usize::from(decoded & 0xf)]));
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

/// Decodes every escape, again and again (at most four rounds), as a server that decodes more
/// than once would: what a segment can become further down the line.
fn fully_decoded(segment: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(segment);
    for _ in 0..4 {
        if !text.contains('%') {
            break;
        }
        let next = super::params::lenient_decode(&text, false).into_owned();
        if next == text {
            break;
        }
        text = Cow::Owned(next);
    }
    text
}

/// Refuses a segment that some server would read as a dot segment or as more than one segment
/// although meshguard does not: `..;jsessionid` and `.;` (Tomcat and Spring drop path
/// parameters, then resolve), `%252e%252e` (a second decoding), `%252f`.
fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment == "." || segment == ".." || !segment.contains(['.', '%', ';']) {
        return Ok(());
    }
    let decoded = fully_decoded(segment);
    if decoded.contains(['/', '\\']) {
        return Err(PathError::HiddenSegment(segment.to_owned()));
    }
    let bare = decoded.split(';').next().unwrap_or_default();
    if bare == "." || bare == ".." {
        return Err(PathError::HiddenSegment(segment.to_owned()));
    }
    Ok(())
}

/// Normalises a request path (without its query), the way Envoy does with `normalize_path`
/// and `merge_slashes` on: escapes of unreserved characters decoded (and the hex of the rest
/// upper-cased), RFC 3986 `remove_dot_segments` exactly (section 5.2.4: `/a//../b` is `/a/b`,
/// `..` at the root stays at the root), then runs of `/` merged. Keeps a trailing `/`.
pub fn normalize_path(path: &str) -> Result<String, PathError> {
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    // remove_dot_segments on an absolute path: the output is a stack of segments, each
    // written after a '/'; a `.` or `..` at the end leaves a trailing '/'.
    let mut output: Vec<&str> = Vec::new();
    let mut segments = decoded.split('/').skip(1).peekable();
    while let Some(segment) = segments.next() {
        check_segment(segment)?;
        let last = segments.peek().is_none();
        match segment {
            "." => {
                if last {
                    output.push("");
                }
            }
            ".." => {
                output.pop();
                if last {
                    output.push("");
                }
            }
            other => output.push(other),
        }
    }
    let mut normalized = String::with_capacity(decoded.len());
    for segment in &output {
        // merge_slashes: an empty segment adds no second '/'.
        if !normalized.ends_with('/') {
            normalized.push('/');
        }
        normalized.push_str(segment);
    }
    if normalized.is_empty() {
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

/// The values of one query parameter, in order, as Go's `url.Values` holds them: pairs are
/// split on `&`; pairs with a `;` or a bad escape are skipped, as Go's parser skips them.
pub fn query_values(query: &str, key: &str) -> Vec<String> {
    let mut values = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() || pair.contains(';') {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (strict_decode(k), strict_decode(v)) else {
            continue;
        };
        if k == key {
            values.push(v.into_owned());
        }
    }
    values
}
