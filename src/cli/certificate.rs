//! A PEM client certificate read as Envoy describes it to the filter: the first URI SAN
//! (`connection.uri_san_peer_certificate`) and the subject in OpenSSL's RFC 2253 rendering
//! (`connection.subject_peer_certificate`: the last RDN first, `,` between RDNs, `+` inside
//! one, special characters backslash-escaped, other bytes as `\XX`), so that `verify
//! --peer-cert` shows the identity the filter would give the peer.

use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::Failure;

/// What Envoy would tell the filter of a certificate, and when it stops being valid.
pub(crate) struct PeerDescription {
    pub(crate) uri_san: String,
    pub(crate) subject: String,
    pub(crate) not_after: i64,
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let bytes = value.as_bytes();
    for (i, &byte) in bytes.iter().enumerate() {
        let edge =
            (i == 0 && (byte == b'#' || byte == b' ')) || (i + 1 == bytes.len() && byte == b' ');
        if edge || b",+\"\\<>;".contains(&byte) {
            out.push('\\');
            out.push(char::from(byte));
        } else if !(0x20..0x7f).contains(&byte) {
            out.push_str(&format!("\\{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
    out
}

fn short_name(oid: &str) -> String {
    match oid {
        "2.5.4.3" => "CN",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        other => other,
    }
    .to_owned()
}

/// Reads the first certificate of a PEM file.
pub(crate) fn describe(path: &str, pem: &[u8]) -> Result<PeerDescription, Failure> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem)
        .map_err(|e| Failure(format!("{path}: not a PEM certificate: {e}")))?;
    let (_, cert) = X509Certificate::from_der(&pem.contents)
        .map_err(|e| Failure(format!("{path}: not an X.509 certificate: {e}")))?;
    let mut rdns = Vec::new();
    for rdn in cert.subject().iter() {
        let mut parts = Vec::new();
        for attribute in rdn.iter() {
            let value = attribute.as_str().map_err(|_| {
                Failure(format!(
                    "{path}: a subject attribute ({}) is not a string",
                    attribute.attr_type()
                ))
            })?;
            parts.push(format!(
                "{}={}",
                short_name(&attribute.attr_type().to_id_string()),
                escape(value)
            ));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    let uri_san = cert
        .subject_alternative_name()
        .map_err(|e| Failure(format!("{path}: subjectAltName: {e}")))?
        .and_then(|san| {
            san.value.general_names.iter().find_map(|name| match name {
                GeneralName::URI(uri) => Some((*uri).to_owned()),
                _ => None,
            })
        })
        .unwrap_or_default();
    Ok(PeerDescription {
        uri_san,
        subject: rdns.join(","),
        not_after: cert.validity().not_after.timestamp(),
    })
}
