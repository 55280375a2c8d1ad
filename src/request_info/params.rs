//! Query parameters and cookies as the servers behind the proxy read them.
//!
//! meshguard reads a token from a query parameter or a cookie only if every common server
//! would read the same one, and the `_method` override likewise. Servers disagree at the
//! edges, so each edge is taken the way the most generous reader takes it, and where readers
//! would see different things the request is refused as ambiguous:
//!
//! - Names are percent-decoded, and `+` is a space (Python's `parse_qs`, `URLSearchParams`,
//!   PHP, Rails): `%61ccess_token` and `access%5Ftoken` are `access_token`. An escape that is not
//!   one (`%zz`) stays as it is, as Python and `URLSearchParams` leave it.
//! - PHP turns spaces, dots and `[` in names into `_` (and drops leading spaces): `access.token`
//!   is `access_token` to PHP, so it is to meshguard.
//! - Query pairs are separated by `&`; older Python (before 3.9.2) and some gateways also split
//!   on `;`. A name found after a `;` inside a pair ([`Found::after_separator`]) is read by
//!   some servers and not by others.
//! - Cookies are separated by `;`; Python's `http.cookies` also splits on `,`. Names and values
//!   are trimmed of spaces and tabs (`session =x` is `session`), and a quoted value unquoted.

use std::borrow::Cow;

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The byte a `%XX` escape starting at `bytes[i]` stands for; `None` when there is no
/// well-formed escape there.
pub(crate) fn escape_at(bytes: &[u8], i: usize) -> Option<u8> {
    if bytes.get(i) != Some(&b'%') {
        return None;
    }
    let high = bytes.get(i + 1).copied().and_then(hex_value)?;
    let low = bytes.get(i + 2).copied().and_then(hex_value)?;
    Some(high * 16 + low)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` says so). A `%` that starts no escape
/// is kept as written, or, when `strict`, makes the whole text `None`.
fn unescape(text: &str, plus: bool, strict: bool) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte == b'%' {
            match escape_at(bytes, i) {
                Some(decoded) => {
                    out.push(decoded);
                    i += 3;
                    continue;
                }
                None if strict => return None,
                None => {}
            }
        }
        out.push(if plus && byte == b'+' { b' ' } else { byte });
        i += 1;
    }
    Some(out)
}

/// Decodes `%XX` escapes (and `+` as a space when `plus` says so). Escapes that are not one stay
/// as written; bytes that do not form UTF-8 become U+FFFD. Never fails: this is how a name is
/// read, not whether it is acceptable.
pub fn lenient_decode(text: &str, plus: bool) -> Cow<'_, str> {
    if !(text.contains('%') || plus && text.contains('+')) {
        return Cow::Borrowed(text);
    }
    let bytes = unescape(text, plus, false).unwrap_or_default();
    Cow::Owned(String::from_utf8_lossy(&bytes).into_owned())
}

/// Decodes `%XX` escapes and `+` as a space, as Go's `url.QueryUnescape`; `None` for a broken
/// escape or bytes that are not UTF-8. Values are read this way: a token is never passed on
/// half-decoded.
pub fn strict_decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['%', '+']) {
        return Some(Cow::Borrowed(text));
    }
    String::from_utf8(unescape(text, true, true)?)
        .ok()
        .map(Cow::Owned)
}

/// Decodes `%XX` escapes as Go's `url.PathUnescape` (a `+` stays a `+`); `None` for a broken
/// escape or bytes that are not UTF-8.
pub fn path_unescape(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    String::from_utf8(unescape(text, false, true)?)
        .ok()
        .map(Cow::Owned)
}

/// Whether `text` is an RFC 9110 token (a header name, a method): non-empty, and only letters,
/// digits and ``!#$%&'*+-.^_`|~``.
pub fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Whether a decoded parameter or cookie name is `configured` to some common server: equal, or
/// equal once PHP has mangled it (leading spaces dropped; space, `.` and `[` made `_`).
pub fn name_matches(configured: &str, decoded: &str) -> bool {
    if decoded == configured {
        return true;
    }
    let php = |c: char| if matches!(c, ' ' | '.' | '[') { '_' } else { c };
    let mangled = decoded.trim_start_matches(' ').chars().map(php);
    mangled.eq(configured.chars().map(php))
}

/// Whether two header names are one to the servers behind the proxy: ASCII case does not
/// count, and neither does `_` against `-` — CGI, WSGI and PHP fold both into `HTTP_X_REMOTE_USER`,
/// so `x_remote_user` is `X-Remote-User` to them.
pub fn same_header_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes().zip(b.bytes()).all(|(x, y)| {
            x.eq_ignore_ascii_case(&y) || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_'))
        })
}

/// Whether a header name starts with `prefix` in the sense of [`same_header_name`].
pub fn header_name_starts_with(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|start| same_header_name(start, prefix))
}

/// One place a configured name was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<'a> {
    /// The value as written (not decoded, quotes kept).
    pub raw_value: &'a str,
    /// True when the name stood after a separator only some servers split on (`;` inside a
    /// query pair, `,` inside a cookie): servers disagree on whether it is there at all.
    pub after_separator: bool,
}

/// Every place the query names `name` (after decoding and PHP's mangling), in order.
pub fn query_find<'a>(query: &'a str, name: &str) -> Vec<Found<'a>> {
    let mut found = Vec::new();
    for pair in query.split('&') {
        for (i, piece) in pair.split(';').enumerate() {
            let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
            if name_matches(name, &lenient_decode(key, true)) {
                found.push(Found {
                    // The value every modern reader sees: the whole pair's, up to the next `&`.
                    raw_value: if i == 0 {
                        pair.split_once('=').map_or("", |(_, v)| v)
                    } else {
                        value
                    },
                    after_separator: i > 0,
                });
            }
        }
    }
    found
}

/// The query without the pairs whose decoded name `drop` accepts, at the start of the pair or
/// after a `;` in it; `None` when nothing was removed.
pub fn query_without(query: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
    // A pair goes if any of its `;` pieces names a token: some server would read it.
    let gone = |pair: &&str| -> bool {
        pair.split(';').any(|piece| {
            let key = piece.split('=').next().unwrap_or_default();
            drop(&lenient_decode(key, true))
        })
    };
    if !query.split('&').any(|pair| gone(&pair)) {
        return None;
    }
    let kept: Vec<&str> = query.split('&').filter(|pair| !gone(pair)).collect();
    Some(kept.join("&"))
}

/// One cookie of a `Cookie` header: its name as servers read it and its trimmed piece.
fn cookie_pieces(header: &str) -> impl Iterator<Item = (usize, &str)> {
    header
        .split(';')
        .flat_map(|cookie| cookie.split(',').enumerate())
}

fn trim_ows(text: &str) -> &str {
    text.trim_matches([' ', '\t'])
}

/// Every cookie named `name` in the `Cookie` header values, in order.
pub fn cookie_find<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Vec<Found<'a>> {
    let mut found = Vec::new();
    for header in headers {
        for (i, piece) in cookie_pieces(header) {
            let Some((key, value)) = piece.split_once('=') else {
                continue;
            };
            if name_matches(name, &lenient_decode(trim_ows(key), true)) {
                let value = trim_ows(value);
                let unquoted = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                found.push(Found {
                    raw_value: unquoted,
                    after_separator: i > 0,
                });
            }
        }
    }
    found
}

/// The cookies of `headers` joined into one header value without those whose decoded name
/// `drop` accepts; `None` when nothing was removed (the value may be empty: then the header
/// goes).
pub fn cookies_without<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    drop: impl Fn(&str) -> bool,
) -> Option<String> {
    let mut removed = false;
    let mut kept: Vec<&str> = Vec::new();
    for header in headers {
        for cookie in header.split(';') {
            // A cookie goes if any of its `,` pieces names a token: some server would read it.
            let named = cookie.split(',').any(|piece| {
                let key = piece.split('=').next().unwrap_or_default();
                drop(&lenient_decode(trim_ows(key), true))
            });
            if named {
                removed = true;
            } else if !trim_ows(cookie).is_empty() {
                kept.push(trim_ows(cookie));
            }
        }
    }
    removed.then(|| kept.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_python_urlsearchparams_and_php_read_them() {
        for name in [
            "access_token",
            "access%5Ftoken",
            "%61ccess_token",
            "access.token",
            "access+token",
            "access token",
            " access_token",
            "access[token",
        ] {
            assert!(
                name_matches("access_token", &lenient_decode(name, true)),
                "{name}"
            );
        }
        for name in [
            "access_tokens",
            "Access_token",
            "access%zztoken",
            "accesstoken",
        ] {
            assert!(
                !name_matches("access_token", &lenient_decode(name, true)),
                "{name}"
            );
        }
    }

    #[test]
    fn a_name_after_a_semicolon_is_found_and_marked() {
        let found = query_find("x=1;access_token=forged&a=2", "access_token");
        assert_eq!(
            found,
            [Found {
                raw_value: "forged",
                after_separator: true
            }]
        );
        let found = query_find("access_token=t;x=1", "access_token");
        assert_eq!(found[0].raw_value, "t;x=1");
        assert!(!found[0].after_separator);
    }

    #[test]
    fn cookies_are_trimmed_and_split_on_commas_too() {
        let found = cookie_find(["a=b, session =\"forged\""], "session");
        assert_eq!(
            found,
            [Found {
                raw_value: "forged",
                after_separator: true
            }]
        );
        assert_eq!(
            cookie_find(["session\t= v ;x=1"], "session")[0].raw_value,
            "v"
        );
        assert!(cookie_find(["sessionx=1; session"], "session").is_empty());
    }

    #[test]
    fn stripping_removes_every_spelling_and_keeps_the_rest() {
        let session = |name: &str| name_matches("session", name);
        let token = |name: &str| name_matches("access_token", name);
        assert_eq!(
            query_without("a=1&access%5Ftoken=x&b=2&access.token=y", token),
            Some("a=1&b=2".to_owned())
        );
        assert_eq!(query_without("a=1", token), None);
        assert_eq!(
            cookies_without(["a=1; session=x", "b=2;session =y"], session),
            Some("a=1; b=2".to_owned())
        );
        assert_eq!(cookies_without(["session=x"], session), Some(String::new()));
        assert_eq!(cookies_without(["a=1"], session), None);
    }

    #[test]
    fn strict_decoding_refuses_broken_escapes() {
        assert_eq!(strict_decode("a%2Eb+c").as_deref(), Some("a.b c"));
        assert_eq!(strict_decode("a%2"), None);
        assert_eq!(strict_decode("%ff"), None);
    }
}
