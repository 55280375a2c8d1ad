//! The whole decision for one request, as a pure function of the request, the compiled
//! configuration and the time: normalise and map the path, authenticate, check revocation,
//! authorize, and say what the proxy must do. The filter adapter only carries this out.

pub mod forward;
pub mod response;

use serde::Serialize;

pub use forward::Forwarding;
pub use response::LocalReply;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::bundle::Policy;
use crate::config::schema::Mode;
use crate::identity::UserInfo;
use crate::rbac::{AllowSource, Attributes, Decision};
use crate::remote::BundleSource;
use crate::request_info::{path, RequestMapper};
use crate::token::{
    AuthError, Authenticator, KeySet, NoCache, TokenSource, TokenStore, VerifiedToken,
};

/// The username and group of unauthenticated requests, when anonymous access is on.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of unauthenticated requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// One HTTP request, as the proxy sees it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path` (path and query).
    pub target: &'a str,
    /// Request headers (names in any case), pseudo-headers included or not.
    pub headers: &'a [(&'a str, &'a str)],
    /// The namespace of the proxy's workload (node metadata), for `service` mapping.
    pub proxy_namespace: &'a str,
}

/// What the proxy must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Forward the request after changing these headers.
    Continue {
        /// Header names to remove (lowercase).
        remove_headers: Vec<String>,
        /// Headers to add (a name may repeat); for a cached token, rendered once and shared.
        add_headers: Arc<[(String, String)]>,
    },
    /// Answer locally.
    Respond(LocalReply),
}

/// What was decided, for the log line, the metrics and the access log. Never holds the token.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DecisionRecord {
    /// `allow`, `deny` or `bypass`.
    pub decision: &'static str,
    /// The status meshguard answers (or, in dry-run, would answer); 200 when forwarded.
    pub status: u16,
    /// `allowed`, `bypass`, `forbidden`, `request_rejected`, or an authentication reason code.
    pub reason: &'static str,
    /// False when a deny was let through in dry-run mode.
    pub enforced: bool,
    /// The authenticated user, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// The verb.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub verb: String,
    /// The API group.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub api_group: String,
    /// The resource (with `/subresource`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// The object's name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The namespace.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The normalised path.
    pub path: String,
    /// What allowed it (the RBAC source) or why not.
    #[serde(skip_serializing_if = "Detail::is_empty")]
    pub detail: Detail,
    /// The bundle revision that decided (shared with the policy).
    pub revision: Arc<str>,
}

/// What allowed a request or why it was refused. An allow keeps its RBAC source as found and
/// words it only when the record is printed (most allows never are).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Detail {
    /// Nothing to say (a bypass).
    #[default]
    None,
    /// The binding, role and subject that allowed the request.
    AllowedBy(AllowSource),
    /// Why the request was refused.
    Text(String),
}

impl Detail {
    /// True when there is nothing to say.
    pub fn is_empty(&self) -> bool {
        match self {
            Detail::None => true,
            Detail::AllowedBy(_) => false,
            Detail::Text(text) => text.is_empty(),
        }
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::AllowedBy(source) => source.fmt(f),
            Detail::Text(text) => f.write_str(text),
        }
    }
}

impl Serialize for Detail {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl DecisionRecord {
    /// The counter this decision increments: `meshguard.decision.<decision>.<reason>`.
    pub fn metric_name(&self) -> String {
        format!("meshguard.decision.{}.{}", self.decision, self.reason)
    }

    /// The value of the decision header: `allow`, or `deny:<reason>`.
    pub fn header_value(&self) -> Cow<'static, str> {
        match self.decision {
            "deny" => Cow::Owned(format!("deny:{}", self.reason)),
            other => Cow::Borrowed(other),
        }
    }
}

/// What a verdict could improve on by waiting: the filter may hold the request until the
/// missing piece arrives (within the configured wait) and decide again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Issuer `issuer` (its index) has no keys yet, or none with the token's `kid`
    /// (`unknown_kid`), and fetches its keys remotely.
    Keys {
        /// The issuer's index in the configuration.
        issuer: usize,
        /// A key set is in force, but not the token's `kid`: a refetch is demanded.
        unknown_kid: bool,
    },
    /// No bundle has loaded yet from `bundleSource`.
    Bundle,
}

/// The outcome for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What was decided.
    pub record: DecisionRecord,
    /// What the proxy must do.
    pub action: Action,
    /// Set when the verdict is for want of keys or a bundle that may yet arrive.
    pub wait: Option<Wait>,
}

/// The compiled configuration: everything a request needs. Built once per configuration; a
/// fetched key set or bundle makes a new one ([`Engine::with_keys`], [`Engine::with_policy`]),
/// so a request always sees one consistent snapshot.
#[derive(Clone, Debug)]
pub struct Engine {
    /// Authentication.
    pub authenticator: Authenticator,
    /// Request mapping.
    pub mapper: RequestMapper,
    /// The compiled bundle in force; `None` until a first bundle loads from `bundleSource`.
    pub policy: Option<Arc<Policy>>,
    /// Where the bundle is fetched from, if it is.
    pub bundle_source: Option<Arc<BundleSource>>,
    /// Enforce or dry-run.
    pub mode: Mode,
    /// Anonymous access.
    pub anonymous: bool,
    /// Forwarded identity.
    pub forwarding: Forwarding,
    /// Paths let through unexamined.
    pub bypass_paths: Vec<String>,
    /// `WWW-Authenticate` realm.
    pub realm: String,
    /// Guardrail warnings of the bundle, for the load log.
    pub warnings: Vec<String>,
}

fn path_matches(patterns: &[String], path: &str) -> bool {
    patterns.iter().any(|p| {
        p == path
            || p.strip_suffix('*')
                .is_some_and(|prefix| path.starts_with(prefix))
    })
}

impl Engine {
    /// This engine with a fetched key set in force for issuer `index` (beside its inline
    /// keys).
    pub fn with_keys(&self, index: usize, fetched: KeySet) -> Engine {
        let mut engine = self.clone();
        engine.authenticator.set_fetched_keys(index, fetched);
        engine
    }

    /// This engine with a newly loaded bundle in force.
    pub fn with_policy(&self, policy: Policy, warnings: Vec<String>) -> Engine {
        let mut engine = self.clone();
        engine.policy = Some(Arc::new(policy));
        engine.warnings = warnings;
        engine
    }

    /// The bundle revision in force (empty before the first bundle).
    pub fn revision(&self) -> &str {
        self.policy.as_ref().map_or("", |p| &p.revision)
    }

    fn record(&self) -> DecisionRecord {
        DecisionRecord {
            revision: self
                .policy
                .as_ref()
                .map_or_else(Arc::default, |p| Arc::clone(&p.revision)),
            enforced: true,
            ..DecisionRecord::default()
        }
    }

    /// Decides one request at `now` (Unix seconds), verifying every token in full.
    pub fn decide(&self, request: &HttpRequest<'_>, now: u64) -> Verdict {
        self.decide_with(request, now, &mut NoCache)
    }

    /// Decides one request at `now` (Unix seconds), taking verified tokens from `tokens` and
    /// keeping new ones there.
    pub fn decide_with(
        &self,
        request: &HttpRequest<'_>,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Verdict {
        let mut record = self.record();
        let remove_headers = self.headers_to_remove(request.headers);
        let (raw_path, query) = path::split_target(request.target);
        record.path = match path::normalize_path(raw_path) {
            Ok(normalized) => normalized,
            Err(e) => {
                record.path = raw_path.to_owned();
                return self.rejected(record, e.to_string(), remove_headers);
            }
        };
        if path_matches(&self.bypass_paths, &record.path) {
            record.decision = "bypass";
            record.status = 200;
            record.reason = "bypass";
            return Verdict {
                record,
                action: Action::Continue {
                    remove_headers,
                    add_headers: Arc::from([]),
                },
                wait: None,
            };
        }
        let Some(policy) = &self.policy else {
            // Fail closed until a first bundle loads; 503 because the caller is not at fault
            // and a retry (Envoy's retry policy, another replica) may succeed.
            let message = "no policy bundle has loaded yet";
            let reply = response::unavailable("bundle_unavailable", message);
            let mut verdict = self.deny(
                record,
                "bundle_unavailable",
                reply,
                message.to_owned(),
                remove_headers,
            );
            verdict.wait = Some(Wait::Bundle);
            return verdict;
        };

        let caller = match self.authenticate(request, policy, now, tokens) {
            Ok(caller) => caller,
            Err(error) => {
                let wait = self.key_wait(&error);
                let reply = match error {
                    // No key set yet: the token may be good; the caller is not at fault.
                    AuthError::KeysUnavailable { .. } => {
                        response::unavailable(error.code(), &error.to_string())
                    }
                    _ => response::unauthorized(&self.realm, &error),
                };
                let mut verdict = self.deny(
                    record,
                    error.code(),
                    reply,
                    error.to_string(),
                    remove_headers,
                );
                verdict.wait = wait;
                return verdict;
            }
        };
        let user = caller.user();
        record.user.clone_from(&user.username);

        let attributes = match self.mapper.attributes_normalized(
            request.method,
            &record.path,
            query,
            request.proxy_namespace,
        ) {
            Ok(attributes) => attributes,
            Err(e) => return self.rejected(record, e.to_string(), remove_headers),
        };

        match policy.authorizer.authorize(user, &attributes) {
            Decision::Allow(source) => {
                describe(&mut record, attributes);
                record.decision = "allow";
                record.status = 200;
                record.reason = "allowed";
                record.detail = Detail::AllowedBy(source);
                let add_headers = match &caller {
                    Caller::Token(verified) => Arc::clone(
                        verified
                            .forwarded
                            .get_or_init(|| self.forwarding.allowed_headers(user)),
                    ),
                    Caller::Anonymous(user) => self.forwarding.allowed_headers(user),
                };
                Verdict {
                    record,
                    action: Action::Continue {
                        remove_headers,
                        add_headers,
                    },
                    wait: None,
                }
            }
            Decision::Deny { .. } => {
                let message = attributes.forbidden_message(&user.username);
                let reply = response::forbidden(&attributes, &message);
                describe(&mut record, attributes);
                self.deny(record, "forbidden", reply, message, remove_headers)
            }
        }
    }

    /// A request refused before it could be examined, e.g. because a pseudo-header was not
    /// UTF-8: `request_rejected`, recorded, counted and (in dry-run) let through like any deny.
    pub fn reject(&self, headers: &[(&str, &str)], message: &str) -> Verdict {
        let remove_headers = self.headers_to_remove(headers);
        self.rejected(self.record(), message.to_owned(), remove_headers)
    }

    /// `request_rejected`: a 400 saying `message`, which the record keeps too.
    fn rejected(
        &self,
        record: DecisionRecord,
        message: String,
        remove_headers: Vec<String>,
    ) -> Verdict {
        let reply = response::bad_request(&message);
        self.deny(record, "request_rejected", reply, message, remove_headers)
    }

    /// Whether an authentication failure is for want of keys a fetch may bring.
    fn key_wait(&self, error: &AuthError) -> Option<Wait> {
        let (issuer, unknown_kid) = match error {
            AuthError::KeysUnavailable { issuer } => (issuer, false),
            AuthError::KeyNotFound { issuer, .. } => (issuer, true),
            _ => return None,
        };
        let index = self
            .authenticator
            .issuers()
            .iter()
            .position(|i| &i.url == issuer && i.remote.is_some())?;
        Some(Wait::Keys {
            issuer: index,
            unknown_kid,
        })
    }

    /// Authentication, revocation and anonymous access.
    fn authenticate(
        &self,
        request: &HttpRequest<'_>,
        policy: &Policy,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Result<Caller, AuthError> {
        let revocations = &policy.revocations;
        match self.authenticator.authenticate_request_checked(
            request.headers,
            request.target,
            now,
            |user, registered| revocations.check(user, registered),
            tokens,
        ) {
            Ok(verified) => Ok(Caller::Token(verified)),
            Err(AuthError::TokenMissing) if self.anonymous => Ok(Caller::Anonymous(UserInfo {
                username: ANONYMOUS_USER.to_owned(),
                groups: vec![UNAUTHENTICATED_GROUP.to_owned()],
                ..UserInfo::default()
            })),
            Err(error) => Err(error),
        }
    }

    /// The request headers to remove before forwarding: identity headers the caller sent
    /// and, with `stripToken`, the headers tokens come from. Only headers present are named.
    fn headers_to_remove(&self, headers: &[(&str, &str)]) -> Vec<String> {
        let mut remove = Vec::new();
        for (name, _) in headers {
            let token_header = self.forwarding.strip_token
                && self.authenticator.sources().iter().any(|source| {
                    matches!(source, TokenSource::Header { name: from, .. }
                        if from.eq_ignore_ascii_case(name))
                });
            if token_header || self.forwarding.must_remove(name) {
                forward::push_lowercase(&mut remove, name);
            }
        }
        remove
    }

    /// A deny: answered locally, or in dry-run let through with the decision recorded.
    fn deny(
        &self,
        mut record: DecisionRecord,
        reason: &'static str,
        reply: LocalReply,
        detail: String,
        remove_headers: Vec<String>,
    ) -> Verdict {
        record.decision = "deny";
        record.status = reply.status;
        record.reason = reason;
        record.detail = Detail::Text(detail);
        if self.mode == Mode::DryRun {
            record.enforced = false;
            let add_headers = match &self.forwarding.decision_header {
                Some(header) => Arc::from([(header.clone(), record.header_value().into_owned())]),
                None => Arc::from([]),
            };
            return Verdict {
                record,
                action: Action::Continue {
                    remove_headers,
                    add_headers,
                },
                wait: None,
            };
        }
        Verdict {
            record,
            action: Action::Respond(reply),
            wait: None,
        }
    }
}

/// Who is calling: a verified token's user, or the anonymous user.
enum Caller {
    Token(Arc<VerifiedToken>),
    Anonymous(UserInfo),
}

impl Caller {
    fn user(&self) -> &UserInfo {
        match self {
            Caller::Token(verified) => &verified.user,
            Caller::Anonymous(user) => user,
        }
    }
}

/// The record takes the request's attributes (moved: they are not needed after the decision).
fn describe(record: &mut DecisionRecord, attributes: Attributes) {
    record.verb = attributes.verb;
    record.api_group = attributes.api_group;
    record.resource = if attributes.subresource.is_empty() {
        attributes.resource
    } else {
        format!("{}/{}", attributes.resource, attributes.subresource)
    };
    record.name = attributes.name;
    record.namespace = attributes.namespace;
    record.path = attributes.path;
}
