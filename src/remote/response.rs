//! What an HTTP response from a key or bundle server means.

use super::FetchError;

/// One response to an HTTP call, as the proxy delivered it.
#[derive(Clone, Copy, Debug)]
pub struct FetchedResponse<'a> {
    /// Response headers, `:status` included (absent when no response came).
    pub headers: &'a [(String, String)],
    /// The body (already bounded by [`check_size`]).
    pub body: &'a [u8],
}

/// Refuses a body larger than `limit` before it is read.
pub fn check_size(bytes: usize, limit: usize) -> Result<(), FetchError> {
    if bytes > limit {
        Err(FetchError::TooLarge { bytes, limit })
    } else {
        Ok(())
    }
}

impl<'a> FetchedResponse<'a> {
    fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// The status; `None` when the call produced no response (reset, timeout, no cluster).
    pub fn status(&self) -> Option<u16> {
        self.header(":status").and_then(|s| s.parse().ok())
    }

    /// True for `304 Not Modified` (the answer to `If-None-Match`).
    pub fn not_modified(&self) -> bool {
        self.status() == Some(304)
    }

    /// The body of a `200 OK`; any other outcome is an error.
    pub fn ok_body(&self) -> Result<&'a [u8], FetchError> {
        match self.status() {
            None => Err(FetchError::Unreachable),
            Some(200) => Ok(self.body),
            Some(status) => Err(FetchError::Status { status }),
        }
    }

    /// `Cache-Control` max-age in seconds; `no-cache` and `no-store` count as 0 (refresh as
    /// soon as the lower bound allows).
    pub fn max_age(&self) -> Option<u64> {
        let value = self.header("cache-control")?;
        let mut max_age = None;
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = match directive.split_once('=') {
                Some((name, argument)) => (name.trim(), Some(argument.trim().trim_matches('"'))),
                None => (directive, None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age") {
                max_age = argument.and_then(|a| a.parse::<u64>().ok());
            }
        }
        max_age
    }

    /// The entity tag, sent back as `If-None-Match` on the next poll.
    pub fn etag(&self) -> Option<&'a str> {
        self.header("etag").filter(|tag| {
            !tag.is_empty() && tag.bytes().all(|b| (0x21..0x7f).contains(&b) || b == b' ')
        })
    }
}
