//! `authentication.order`, `spiffe`, `x509`, `frontProxy` and `senderConstraint` → the
//! compiled [`PeerAuthentication`].

use super::schema::{AuthenticationConfig, FrontProxyConfig};
use super::ConfigError;
use crate::peer::{FrontProxy, Method, PeerAuthentication, Spiffe, X509};

fn header_names(path: &str, names: &[String]) -> Result<Vec<String>, ConfigError> {
    names
        .iter()
        .enumerate()
        .map(|(i, name)| super::engine::header_name(&format!("{path}[{i}]"), name))
        .collect()
}

fn front_proxy(path: &str, config: &FrontProxyConfig) -> Result<FrontProxy, ConfigError> {
    let defaults = FrontProxy::default();
    if config.allowed_names.is_empty() || config.allowed_names.iter().any(String::is_empty) {
        return Err(ConfigError::new(
            format!("{path}.allowedNames"),
            "must name the front proxy's certificate common names (the listener validates \
             every client against one CA, so any client could otherwise send identity headers)",
        ));
    }
    let list = |field: &str, given: &Option<Vec<String>>, default: &[String]| match given {
        Some(names) => header_names(&format!("{path}.{field}"), names),
        None => Ok(default.to_vec()),
    };
    let proxy = FrontProxy {
        allowed_names: config.allowed_names.clone(),
        username_headers: list(
            "usernameHeaders",
            &config.username_headers,
            &defaults.username_headers,
        )?,
        uid_headers: list("uidHeaders", &config.uid_headers, &defaults.uid_headers)?,
        group_headers: list(
            "groupHeaders",
            &config.group_headers,
            &defaults.group_headers,
        )?,
        extra_header_prefixes: list(
            "extraHeaderPrefixes",
            &config.extra_header_prefixes,
            &defaults.extra_header_prefixes,
        )?,
    };
    if proxy.username_headers.is_empty() {
        return Err(ConfigError::new(
            format!("{path}.usernameHeaders"),
            "must name at least one header",
        ));
    }
    Ok(proxy)
}

impl AuthenticationConfig {
    /// Whether any token authenticator is configured (issuers, static or bootstrap tokens).
    pub fn has_token_authenticators(&self) -> bool {
        !self.jwt.is_empty()
            || !self.static_tokens.is_empty()
            || !self.bootstrap_tokens.is_empty()
            || self.webhook.is_some()
    }

    /// Compiles the connection-based authenticators and the order. `path` prefixes error
    /// paths.
    pub fn peers(&self, path: &str) -> Result<PeerAuthentication, ConfigError> {
        let spiffe = match &self.spiffe {
            None => None,
            Some(config) => {
                let at = format!("{path}.spiffe.trustDomains");
                if config.trust_domains.is_empty() {
                    return Err(ConfigError::new(at, "must name at least one trust domain"));
                }
                for (i, domain) in config.trust_domains.iter().enumerate() {
                    let ok = !domain.is_empty()
                        && domain.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b)
                        });
                    if !ok {
                        return Err(ConfigError::new(
                            format!("{at}[{i}]"),
                            format!(
                                "{domain:?} is not a SPIFFE trust domain (lowercase letters, \
                                 digits, '-', '.', '_')"
                            ),
                        ));
                    }
                }
                Some(Spiffe {
                    trust_domains: config.trust_domains.clone(),
                })
            }
        };
        let front_proxy = match &self.front_proxy {
            Some(config) => Some(front_proxy(&format!("{path}.frontProxy"), config)?),
            None => None,
        };
        let x509 = self.x509.as_ref().map(|_| X509 {
            proxy_names: front_proxy
                .as_ref()
                .map(|p| p.allowed_names.clone())
                .unwrap_or_default(),
        });
        let sender_constraint = self.sender_constraint.unwrap_or(false);
        if sender_constraint && spiffe.is_none() {
            return Err(ConfigError::new(
                format!("{path}.senderConstraint"),
                "needs spiffe (the trust domains a peer's identity is read in)",
            ));
        }
        let configured = |method: Method| match method {
            Method::FrontProxy => front_proxy.is_some(),
            Method::X509 => x509.is_some(),
            Method::Spiffe => spiffe.is_some(),
            Method::Token => self.has_token_authenticators(),
        };
        let order = match &self.order {
            None => Method::APISERVER_ORDER
                .into_iter()
                .filter(|&m| configured(m))
                .collect(),
            Some(order) => {
                for (i, &method) in order.iter().enumerate() {
                    let at = format!("{path}.order[{i}]");
                    if order[..i].contains(&method) {
                        return Err(ConfigError::new(
                            at,
                            format!("{} is listed twice", method.as_str()),
                        ));
                    }
                    if !configured(method) {
                        return Err(ConfigError::new(
                            at,
                            format!("{} is not configured", method.as_str()),
                        ));
                    }
                }
                for method in Method::APISERVER_ORDER {
                    // SPIFFE may serve only to constrain token senders.
                    let spared = method == Method::Spiffe && sender_constraint;
                    if configured(method) && !order.contains(&method) && !spared {
                        return Err(ConfigError::new(
                            format!("{path}.order"),
                            format!("{} is configured but not in the order", method.as_str()),
                        ));
                    }
                }
                order.clone()
            }
        };
        if order.is_empty() {
            return Err(ConfigError::new(
                format!("{path}.jwt"),
                "at least one authenticator is required (jwt, staticTokens, bootstrapTokens, webhook, \
                 spiffe, x509 or frontProxy)",
            ));
        }
        Ok(PeerAuthentication {
            order,
            spiffe,
            x509,
            front_proxy,
            sender_constraint,
        })
    }
}
