//! The kube-apiserver's validation of a `JWTAuthenticator`, field by field: what it refuses is
//! refused here and what it accepts is accepted, and every error is reported in one pass with
//! its field path. meshguard's own additions (keys, remote keys, service-account issuers) are
//! checked by the compiler after this.

use std::collections::HashSet;

use super::schema::{ClaimMappings, JwtAuthenticator, PrefixedClaim};
use super::ConfigError;
use crate::identity::{ClaimExpression, Want};
use crate::token::jwk::pem_blocks;

/// The apiserver's errors for one authenticator at `path` (`authentication.jwt[i]`).
pub(super) fn jwt_errors(
    jwt: &JwtAuthenticator,
    path: &str,
    legacy_issuer: bool,
) -> Vec<ConfigError> {
    let mut errors = Vec::new();
    let mut err = |field: String, message: String| errors.push(ConfigError::new(field, message));
    let issuer = &jwt.issuer;
    let at = |field: &str| format!("{path}.{field}");

    // issuer
    if issuer.url.is_empty() {
        err(at("issuer.url"), "Required value".into());
    } else if !legacy_issuer {
        for problem in url_problems(&issuer.url) {
            err(at("issuer.url"), problem);
        }
    }
    if let Some(discovery) = issuer.discovery_url.as_deref().filter(|d| !d.is_empty()) {
        if issuer.url.trim_end_matches('/') == discovery.trim_end_matches('/') {
            err(
                at("issuer.discoveryURL"),
                "discoveryURL must be different from URL".into(),
            );
        }
        for problem in url_problems(discovery) {
            err(at("issuer.discoveryURL"), problem);
        }
    }
    if issuer.audiences.is_empty() && !legacy_issuer {
        err(
            at("issuer.audiences"),
            "at least one audience is required (only the legacy kubernetes/serviceaccount \
             issuer may have none)"
                .into(),
        );
    }
    let mut seen = HashSet::new();
    for (i, audience) in issuer.audiences.iter().enumerate() {
        if audience.is_empty() {
            err(
                at(&format!("issuer.audiences[{i}]")),
                "must not be empty".into(),
            );
        }
        if !seen.insert(audience) {
            err(
                at(&format!("issuer.audiences[{i}]")),
                format!("duplicate audience {audience:?}"),
            );
        }
    }
    match (
        issuer.audiences.len(),
        issuer.audience_match_policy.as_deref(),
    ) {
        (_, Some("MatchAny")) | (0 | 1, None | Some("")) => {}
        (n, None | Some("")) if n > 1 => err(
            at("issuer.audienceMatchPolicy"),
            "must be MatchAny when several audiences are listed".into(),
        ),
        (_, Some(other)) => err(
            at("issuer.audienceMatchPolicy"),
            format!("{other:?} is not supported (only MatchAny)"),
        ),
        _ => {}
    }
    if let Some(pem) = issuer
        .certificate_authority
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if let Err(problem) = pem_certificates(pem) {
            err(at("issuer.certificateAuthority"), problem);
        }
    }
    match issuer.egress_selector_type.as_deref() {
        None | Some("" | "controlplane" | "cluster") => {}
        Some(other) => err(
            at("issuer.egressSelectorType"),
            format!("{other:?} must be \"controlplane\" or \"cluster\""),
        ),
    }

    // claimValidationRules
    let mut claims_seen = HashSet::new();
    let mut expressions_seen = HashSet::new();
    let mut reads_email_verified = false;
    for (i, rule) in jwt.claim_validation_rules.iter().enumerate() {
        let rule_at = at(&format!("claimValidationRules[{i}]"));
        let claim = rule.claim.as_deref().unwrap_or_default();
        let expression = rule.expression.as_deref().unwrap_or_default();
        match (claim.is_empty(), expression.is_empty()) {
            (false, false) => err(rule_at, "claim and expression can't both be set".into()),
            (true, true) => err(rule_at, "claim or expression is required".into()),
            (false, true) => {
                if rule.message.as_deref().is_some_and(|m| !m.is_empty()) {
                    err(
                        format!("{rule_at}.message"),
                        "may not be specified when claim is set".into(),
                    );
                }
                if rule.required_value.is_none() {
                    err(format!("{rule_at}.requiredValue"), "is required".into());
                }
                if !claims_seen.insert(claim) {
                    err(
                        format!("{rule_at}.claim"),
                        format!("duplicate claim {claim:?}"),
                    );
                }
            }
            (true, false) => {
                if rule
                    .required_value
                    .as_deref()
                    .is_some_and(|v| !v.is_empty())
                {
                    err(
                        format!("{rule_at}.requiredValue"),
                        "may not be specified when expression is set".into(),
                    );
                }
                if !expressions_seen.insert(expression) {
                    err(
                        format!("{rule_at}.expression"),
                        format!("duplicate expression {expression:?}"),
                    );
                    continue;
                }
                match ClaimExpression::compile(expression, Want::Bool) {
                    Ok(compiled) => reads_email_verified |= compiled.reads_claim("email_verified"),
                    Err(problem) => err(format!("{rule_at}.expression"), problem),
                }
            }
        }
    }

    // claimMappings (a service-account issuer has none: its identities are the apiserver's)
    if !jwt.service_account_issuer {
        let mappings = jwt.claim_mappings.clone().unwrap_or_default();
        mapping_errors(
            &mappings,
            &at("claimMappings"),
            reads_email_verified,
            &mut err,
        );
    }

    // userValidationRules
    let mut user_seen = HashSet::new();
    for (i, rule) in jwt.user_validation_rules.iter().enumerate() {
        let rule_at = at(&format!("userValidationRules[{i}].expression"));
        if rule.expression.is_empty() {
            err(rule_at, "Required value".into());
        } else if !user_seen.insert(rule.expression.as_str()) {
            err(
                rule_at,
                format!("duplicate expression {:?}", rule.expression),
            );
        } else if let Err(problem) = ClaimExpression::compile_user(&rule.expression) {
            err(rule_at, problem);
        }
    }
    errors
}

fn mapping_errors(
    mappings: &ClaimMappings,
    path: &str,
    mut reads_email_verified: bool,
    err: &mut impl FnMut(String, String),
) {
    let username = mappings.username.clone().unwrap_or_default();
    let username_expression =
        prefixed_errors(&username, &format!("{path}.username"), Want::Str, err);
    if let Some(groups) = &mappings.groups {
        prefixed_errors(groups, &format!("{path}.groups"), Want::Strings, err);
    }
    if let Some(uid) = &mappings.uid {
        let claim = uid.claim.as_deref().unwrap_or_default();
        let expression = uid.expression.as_deref().unwrap_or_default();
        if !claim.is_empty() && !expression.is_empty() {
            err(
                format!("{path}.uid"),
                "claim and expression can't both be set".into(),
            );
        } else if !expression.is_empty() {
            if let Err(problem) = ClaimExpression::compile(expression, Want::Str) {
                err(format!("{path}.uid.expression"), problem);
            }
        }
    }
    let mut keys = HashSet::new();
    for (i, extra) in mappings.extra.iter().enumerate() {
        let at = format!("{path}.extra[{i}]");
        if let Err(problem) = extra_key_problem(&extra.key) {
            err(format!("{at}.key"), problem);
        }
        if !keys.insert(extra.key.as_str()) {
            err(
                format!("{at}.key"),
                format!("duplicate key {:?}", extra.key),
            );
            continue;
        }
        match (extra.claim.as_deref(), extra.value_expression.as_deref()) {
            (Some(_), Some(_)) => err(
                at,
                "claim (meshguard's shorthand) and valueExpression can't both be set".into(),
            ),
            (None, None) | (None, Some("")) => {
                err(format!("{at}.valueExpression"), "Required value".into())
            }
            (Some(""), None) => err(format!("{at}.claim"), "must not be empty".into()),
            (Some(_), None) => {}
            (None, Some(expression)) => match ClaimExpression::compile(expression, Want::Strings) {
                Ok(compiled) => reads_email_verified |= compiled.reads_claim("email_verified"),
                Err(problem) => err(format!("{at}.valueExpression"), problem),
            },
        }
    }
    if let Some(expression) = username_expression {
        reads_email_verified |= expression.reads_claim("email_verified");
        if expression.reads_claim("email") && !reads_email_verified {
            err(
                format!("{path}.username.expression"),
                "claims.email_verified must be used in claimMappings.username.expression or \
                 claimMappings.extra[*].valueExpression or claimValidationRules[*].expression \
                 when claims.email is used in claimMappings.username.expression"
                    .into(),
            );
        }
    }
}

/// A `username` or `groups` mapping; the compiled expression when there is one.
fn prefixed_errors(
    mapping: &PrefixedClaim,
    path: &str,
    want: Want,
    err: &mut impl FnMut(String, String),
) -> Option<ClaimExpression> {
    // The username is required; groups are not.
    let required = want == Want::Str;
    let claim = mapping.claim.as_deref().unwrap_or_default();
    let expression = mapping.expression.as_deref().unwrap_or_default();
    match (claim.is_empty(), expression.is_empty()) {
        (false, false) => err(
            path.to_owned(),
            "claim and expression can't both be set".into(),
        ),
        (true, true) if required => err(path.to_owned(), "claim or expression is required".into()),
        (true, true) => {}
        (true, false) => {
            if mapping.prefix.is_some() {
                err(
                    format!("{path}.prefix"),
                    "may not be specified when expression is set".into(),
                );
            }
            match ClaimExpression::compile(expression, want) {
                Ok(compiled) => return Some(compiled),
                Err(problem) => err(format!("{path}.expression"), problem),
            }
        }
        (false, true) => {
            if mapping.prefix.is_none() {
                err(
                    format!("{path}.prefix"),
                    "prefix is required when claim is set. It can be set to an empty string to \
                     disable prefixing"
                        .into(),
                );
            }
        }
    }
    None
}

/// What the apiserver refuses in an issuer or discovery URL.
fn url_problems(url: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(rest) = url.strip_prefix("https://") else {
        problems.push("URL scheme must be https".to_owned());
        return problems;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        problems.push("URL must not contain a username or password".to_owned());
    }
    if authority.is_empty() {
        problems.push("URL must name a host".to_owned());
    }
    if let Some((_, query)) = url.split_once('?') {
        if !query.split('#').next().unwrap_or_default().is_empty() {
            problems.push("URL must not contain a query".to_owned());
        }
    }
    if url
        .split_once('#')
        .is_some_and(|(_, fragment)| !fragment.is_empty())
    {
        problems.push("URL must not contain a fragment".to_owned());
    }
    problems
}

/// PEM CA certificates as the apiserver reads them: at least one `CERTIFICATE` block whose
/// body decodes to a DER sequence.
fn pem_certificates(pem: &str) -> Result<(), String> {
    let blocks = pem_blocks(pem).map_err(|e| e.0)?;
    let mut found = 0;
    for block in blocks.iter().filter(|b| b.label == "CERTIFICATE") {
        if block.der()?.first() != Some(&0x30) {
            return Err("a CERTIFICATE block is not a DER certificate".to_owned());
        }
        found += 1;
    }
    if found == 0 {
        return Err("data does not contain any valid RSA or ECDSA certificates".to_owned());
    }
    Ok(())
}

/// As the apiserver: a domain-prefixed path, lowercase, outside the Kubernetes-reserved
/// domains.
fn extra_key_problem(key: &str) -> Result<(), String> {
    let Some((domain, name)) = key.split_once('/') else {
        return Err(format!(
            "{key:?} must be domain-prefixed, e.g. example.com/team"
        ));
    };
    if domain.is_empty() || name.is_empty() || !domain.contains('.') {
        return Err(format!(
            "{key:?} must be domain-prefixed, e.g. example.com/team"
        ));
    }
    if key != key.to_ascii_lowercase() {
        return Err(format!("{key:?} must be lowercase"));
    }
    let reserved = ["kubernetes.io", "k8s.io"];
    if reserved
        .iter()
        .any(|r| domain == *r || domain.ends_with(&format!(".{r}")))
    {
        return Err(format!(
            "{key:?}: k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use"
        ));
    }
    Ok(())
}
