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
use crate::identity::{Credential, UserInfo};
use crate::peer::{Method, PeerAuthentication, PeerCertificate};
use crate::rbac::{AllowSource, Attributes, Decision};
pub use crate::reason::{Outcome, Reason};
use crate::remote::{BundleSource, RemoteKeys};
use crate::request_info::method;
use crate::request_info::{params, path, MethodOverride, Protocol, RequestMapper, Workload};
use crate::token::{
    AuthError, Authenticator, KeySet, NoCache, TokenSource, TokenStore, TokenUser, VerifiedToken,
};

/// The username and group of unauthenticated requests, when anonymous access is on.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of unauthenticated requests.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// Whether denials are carried out (the configuration's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Deny what the policy denies.
    #[default]
    Enforce,
    /// Decide, log and count as usual, but let every request through.
    DryRun,
}

/// One HTTP request, as the proxy sees it.
#[derive(Clone, Copy, Debug)]
pub struct HttpRequest<'a> {
    /// `:method`.
    pub method: &'a str,
    /// `:path` (path and query).
    pub target: &'a str,
    /// Request headers (names in any case), pseudo-headers included or not.
    pub headers: &'a [(&'a str, &'a str)],
    /// The proxy's workload (node metadata), for the service mappings.
    pub workload: &'a Workload,
    /// Whether the request came over TLS (Envoy's `connection.tls_version`); `None` when
    /// nobody asked. With `authentication.requireTLS` anything but `Some(true)` refuses a
    /// token.
    pub tls: Option<bool>,
    /// The connection's client certificate, when the listener validated one (Envoy's
    /// `connection.mtls`) and the configured authenticators read it; `None` otherwise.
    pub peer: Option<PeerCertificate<'a>>,
}

/// What the proxy must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Forward the request after changing these headers.
    Continue {
        /// Header names to remove (lowercase).
        remove_headers: Vec<String>,
        /// Headers to set, replacing every value they had: `:path` when the path the decision
        /// was made on differs from the one sent or a query token was stripped, `cookie` when a
        /// cookie token was stripped (an empty value: remove it).
        set_headers: Vec<(String, String)>,
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
    pub decision: Outcome,
    /// The status meshguard answers (or, in dry-run, would answer); 200 when forwarded.
    pub status: u16,
    /// Why: `allowed`, `bypass`, `forbidden`, `request_rejected`, an authentication reason…
    pub reason: Reason,
    /// False when a deny was let through in dry-run mode.
    pub enforced: bool,
    /// The authenticated user, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// What authenticated the user: `jwt`, `spiffe`, `x509`, `frontProxy`, `staticToken`,
    /// `bootstrapToken` or `anonymous`.
    #[serde(skip_serializing_if = "Credential::is_none")]
    pub authenticator: Credential,
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
    /// Settles the record on `reason`: its outcome and status are the reason's, so the three
    /// never disagree.
    fn conclude(&mut self, reason: Reason) {
        self.decision = reason.outcome();
        self.status = reason.status();
        self.reason = reason;
    }

    /// The counter this decision increments: `meshguard.decision.<decision>.<reason>`.
    pub fn metric_name(&self) -> String {
        self.reason.metric_name()
    }

    /// The value of the decision header: `allow`, `bypass` or `deny:<reason>`.
    pub fn header_value(&self) -> &'static str {
        self.reason.header_value()
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
    /// The token-review webhook has not answered about the token with this SHA-256 (the
    /// verdict's `review` is the token to ask about).
    Review([u8; 32]),
}

/// The outcome for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// What was decided.
    pub record: DecisionRecord,
    /// What the proxy must do.
    pub action: Action,
    /// Set when the verdict is for want of keys, a bundle or a review that may yet arrive.
    pub wait: Option<Wait>,
    /// With [`Wait::Review`]: the token the webhook is to review (never logged).
    pub review: Option<String>,
}

/// The compiled configuration: everything a request needs. Built once per configuration; a
/// fetched key set or bundle makes a new one ([`Engine::with_keys`], [`Engine::with_policy`]),
/// so a request always sees one consistent snapshot.
#[derive(Clone, Debug)]
pub struct Engine {
    /// Token authentication.
    pub authenticator: Authenticator,
    /// Connection-based authenticators, and the order of all of them.
    pub peers: PeerAuthentication,
    /// Request mapping.
    pub mapper: RequestMapper,
    /// The compiled bundle in force; `None` until a first bundle loads from `bundleSource`.
    pub policy: Option<Arc<Policy>>,
    /// Where the bundle is fetched from, if it is.
    pub bundle_source: Option<Arc<BundleSource>>,
    /// Where each issuer's keys are fetched from (issuer index, source), for the sync engine.
    pub remote_keys: Vec<(usize, RemoteKeys)>,
    /// Enforce or dry-run.
    pub mode: Mode,
    /// Anonymous access.
    pub anonymous: bool,
    /// Forwarded identity.
    pub forwarding: Forwarding,
    /// Paths let through unexamined.
    pub bypass_paths: Vec<String>,
    /// What a request with a method override (`X-HTTP-Method-Override`, `_method`) gets.
    pub method_override: MethodOverride,
    /// `WWW-Authenticate` realm.
    pub realm: String,
    /// Guardrail warnings of the bundle, for the load log.
    pub warnings: Vec<String>,
    /// Settings of the configuration that weaken the boundary (`stripToken` off, an audience
    /// shared with the apiserver), for the configure log.
    pub config_warnings: Vec<String>,
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
        engine
            .authenticator
            .set_bundle_secrets(Arc::clone(&policy.tokens));
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
    ///
    /// The rule this keeps: the identity, path, method and token the upstream sees are the
    /// ones decided on. Identity headers the caller sent are removed however they are spelt;
    /// the path goes upstream as it was normalised for the decision; a method override is
    /// refused (or authorized too); tokens are stripped from every source; an identity that
    /// cannot be forwarded as it is is refused before anything is allowed.
    pub fn decide_with(
        &self,
        request: &HttpRequest<'_>,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Verdict {
        let protocol = protocol_of(request.headers);
        let verdict = self.decide_as(request, protocol, now, tokens);
        in_protocol(verdict, protocol)
    }

    fn decide_as(
        &self,
        request: &HttpRequest<'_>,
        protocol: Protocol,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Verdict {
        let mut record = self.record();
        let mut rewrite = self.rewrite_headers(request.headers);
        let (raw_path, query) = path::split_target(request.target);
        record.path = match path::normalize_path(raw_path) {
            Ok(normalized) => normalized,
            Err(e) => {
                record.path = raw_path.to_owned();
                return self.rejected(record, e.to_string(), rewrite);
            }
        };
        self.rewrite_target(&mut rewrite, request.target, &record.path, query);
        if path_matches(&self.bypass_paths, &record.path) {
            record.conclude(Reason::Bypass);
            return Verdict {
                record,
                action: rewrite.forward(Arc::from([])),
                wait: None,
                review: None,
            };
        }
        let method_override = match method::find_override(request.headers, query) {
            Ok(None) => None,
            Ok(Some(found)) if self.method_override == MethodOverride::Reject => {
                let message = format!(
                    "the request overrides its method with {} ({}), which is refused",
                    found.method, found.source
                );
                return self.rejected(record, message, rewrite);
            }
            Ok(Some(found)) => Some(found),
            Err(message) => return self.rejected(record, message, rewrite),
        };
        let Some(policy) = &self.policy else {
            // Fail closed until a first bundle loads; 503 because the caller is not at fault
            // and a retry (Envoy's retry policy, another replica) may succeed.
            let message = "no policy bundle has loaded yet";
            let reply = response::unavailable(Reason::BundleUnavailable, message);
            let mut verdict = self.deny(
                record,
                Reason::BundleUnavailable,
                reply,
                message.to_owned(),
                rewrite,
            );
            verdict.wait = Some(Wait::Bundle);
            return verdict;
        };

        let caller = match self.authenticate(request, policy, now, tokens) {
            Ok(caller) => caller,
            Err(error) => {
                let wait = self.key_wait(&error);
                let mut verdict = self.auth_failed(record, &error, rewrite);
                if let Some(Wait::Review(digest)) = wait {
                    verdict.review = self.authenticator.token_with_digest(
                        request.headers,
                        request.target,
                        &digest,
                    );
                }
                verdict.wait = wait;
                return verdict;
            }
        };
        let user = caller.user();
        // Rendered (once per cached token) before anything is allowed: an identity the
        // upstream would not receive as it is must not be allowed as it is.
        let add_headers = match &caller {
            Caller::Token(verified) => verified
                .forwarded
                .get_or_init(|| self.forwarding.allowed_headers(user))
                .clone(),
            Caller::Other(_, user) => self.forwarding.allowed_headers(user),
        };
        let add_headers = match add_headers {
            Ok(headers) => headers,
            Err(detail) => {
                let error = AuthError::ClaimValidationFailed {
                    claim: "identity".to_owned(),
                    detail,
                };
                return self.auth_failed(record, &error, rewrite);
            }
        };
        record.user.clone_from(&user.username);
        record.authenticator = caller.credential();

        let at = Target {
            path: &record.path,
            query,
            workload: request.workload,
            protocol,
        };
        let method = method_override
            .as_ref()
            .map_or(request.method, |o| o.method.as_str());
        let (mut attributes, mut decision) = match self.authorize(policy, user, method, &at) {
            Ok(found) => found,
            Err(message) => return self.rejected(record, message, rewrite),
        };
        if method_override.is_some() && matches!(decision, Decision::Allow(_)) {
            // The upstream may run the request as either method: both must be allowed.
            match self.authorize(policy, user, request.method, &at) {
                Ok((own, own_decision @ Decision::Deny { .. })) => {
                    attributes = own;
                    decision = own_decision;
                }
                Ok(_) => {}
                Err(message) => return self.rejected(record, message, rewrite),
            }
        }

        match decision {
            Decision::Allow(source) => {
                describe(&mut record, attributes);
                record.conclude(Reason::Allowed);
                record.detail = Detail::AllowedBy(source);
                Verdict {
                    record,
                    action: rewrite.forward(add_headers),
                    wait: None,
                    review: None,
                }
            }
            Decision::Deny { .. } => {
                let message = attributes.forbidden_message(&user.username);
                let reply = match self.dialect() {
                    response::Dialect::Kubernetes => {
                        response::kubernetes_forbidden(&attributes, &message)
                    }
                    response::Dialect::Mesh => response::forbidden(&attributes, &message),
                };
                describe(&mut record, attributes);
                self.deny(record, Reason::Forbidden, reply, message, rewrite)
            }
        }
    }

    /// Maps the request as `method` and asks the policy.
    fn authorize(
        &self,
        policy: &Policy,
        user: &UserInfo,
        method: &str,
        at: &Target<'_>,
    ) -> Result<(Attributes, Decision), String> {
        let attributes = self
            .mapper
            .attributes_normalized(method, at.path, at.query, at.workload, at.protocol)
            .map_err(|e| e.to_string())?;
        let decision = policy.authorizer.authorize(user, &attributes);
        Ok((attributes, decision))
    }

    /// A 401 for an authentication failure, or a 503 when the caller is not at fault (keys not
    /// there yet, a token-review webhook that cannot answer under `failurePolicy:
    /// unavailable`).
    fn auth_failed(&self, record: DecisionRecord, error: &AuthError, rewrite: Rewrite) -> Verdict {
        let reply = match error.reason() {
            // No key set yet: the token may be good; the caller is not at fault.
            Reason::KeysUnavailable => response::unavailable(error.reason(), &error.to_string()),
            Reason::TokenReviewUnavailable => {
                let retry_after = error.parts().find_map(|part| match part {
                    AuthError::TokenReviewFailed { retry_after, .. }
                    | AuthError::TokenReviewPending { retry_after, .. } => Some(*retry_after),
                    _ => None,
                });
                response::unavailable_after(
                    error.reason(),
                    &error.to_string(),
                    retry_after.unwrap_or(1),
                )
            }
            _ => match self.dialect() {
                response::Dialect::Kubernetes => {
                    response::kubernetes_unauthorized(&self.realm, error)
                }
                response::Dialect::Mesh => response::unauthorized(&self.realm, error),
            },
        };
        self.deny(record, error.reason(), reply, error.to_string(), rewrite)
    }

    /// How denials are worded: as the kube-apiserver in `kubernetes` mode.
    fn dialect(&self) -> response::Dialect {
        match self.mapper {
            RequestMapper::Kubernetes(_) => response::Dialect::Kubernetes,
            _ => response::Dialect::Mesh,
        }
    }

    /// A request refused before it could be examined, e.g. because a pseudo-header was not
    /// UTF-8: `request_rejected`, recorded, counted and (in dry-run) let through like any deny.
    pub fn reject(&self, headers: &[(&str, &str)], message: &str) -> Verdict {
        let rewrite = self.rewrite_headers(headers);
        let verdict = self.rejected(self.record(), message.to_owned(), rewrite);
        in_protocol(verdict, protocol_of(headers))
    }

    /// The proxy's clock could not be read: nothing that depends on time can be decided, so
    /// the request is refused (503 `clock_unavailable`), in dry-run too, rather than checked
    /// against a made-up time.
    pub fn clock_unavailable(&self, headers: &[(&str, &str)]) -> Verdict {
        let mut record = self.record();
        let message = "the proxy's clock could not be read";
        record.conclude(Reason::ClockUnavailable);
        record.detail = Detail::Text(message.to_owned());
        let reply = response::unavailable(Reason::ClockUnavailable, message);
        let verdict = Verdict {
            record,
            action: Action::Respond(reply),
            wait: None,
            review: None,
        };
        in_protocol(verdict, protocol_of(headers))
    }

    /// `request_rejected`: a 400 saying `message`, which the record keeps too.
    fn rejected(&self, record: DecisionRecord, message: String, rewrite: Rewrite) -> Verdict {
        let reply = response::bad_request(&message);
        self.deny(record, Reason::RequestRejected, reply, message, rewrite)
    }

    /// Whether an authentication failure is for want of keys a fetch may bring.
    fn key_wait(&self, error: &AuthError) -> Option<Wait> {
        if let Some(digest) = error.parts().find_map(|part| match part {
            AuthError::TokenReviewPending { digest, .. } => Some(*digest),
            _ => None,
        }) {
            return Some(Wait::Review(digest));
        }
        let (issuer, unknown_kid) = error.parts().find_map(|part| match part {
            AuthError::KeysUnavailable { issuer } => Some((issuer, false)),
            AuthError::KeyNotFound { issuer, .. } => Some((issuer, true)),
            _ => None,
        })?;
        let index = self
            .authenticator
            .issuers()
            .iter()
            .position(|i| &i.url == issuer && i.fetches_keys)?;
        Some(Wait::Keys {
            issuer: index,
            unknown_kid,
        })
    }

    /// Authentication, revocation and anonymous access: the configured authenticators in
    /// order, as the apiserver's union runs them. The first that authenticates the request
    /// wins, even after another failed (a caller with a good certificate and a bad token is
    /// the certificate's user, as in the apiserver); when none does, the failures are the
    /// reason, the first first; when none applied, the request is anonymous if that is on.
    fn authenticate(
        &self,
        request: &HttpRequest<'_>,
        policy: &Policy,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Result<Caller, AuthError> {
        let found = self.peers.first_success(|method| match method {
            Method::Token => self.authenticate_token(request, policy, now, tokens),
            _ => match self
                .peers
                .try_peer(method, request.peer.as_ref(), request.headers)?
            {
                // A revoked subject is refused however it authenticates.
                Some((credential, user)) => policy
                    .revocations
                    .check(&user, &Default::default())
                    .map(|()| Some(Caller::Other(credential, user))),
                None => Ok(None),
            },
        })?;
        match found {
            Some(caller) => Ok(caller),
            None if self.anonymous => Ok(Caller::Other(
                Credential::Anonymous,
                UserInfo {
                    username: ANONYMOUS_USER.to_owned(),
                    groups: vec![UNAUTHENTICATED_GROUP.to_owned()],
                    ..UserInfo::default()
                },
            )),
            None => Err(AuthError::TokenMissing),
        }
    }

    /// The token authenticators: `Ok(None)` when the request carries no token.
    fn authenticate_token(
        &self,
        request: &HttpRequest<'_>,
        policy: &Policy,
        now: u64,
        tokens: &mut dyn TokenStore,
    ) -> Result<Option<Caller>, AuthError> {
        let revocations = &policy.revocations;
        self.authenticator
            .refuse_plaintext(request.tls, request.headers, request.target)?;
        match self.authenticator.authenticate_request_checked(
            request.headers,
            request.target,
            now,
            |user, registered| revocations.check(user, registered),
            tokens,
        ) {
            Ok(found) => {
                self.peers
                    .check_sender(found.user(), request.peer.as_ref())?;
                Ok(Some(match found {
                    TokenUser::Jwt(verified) => Caller::Token(verified),
                    TokenUser::Secret(credential, user) => Caller::Other(credential, user),
                }))
            }
            Err(AuthError::TokenMissing) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// What the request loses before it goes upstream, from its headers alone: identity
    /// headers the caller sent and, with `stripToken`, the headers tokens come from and the
    /// cookies that carry one. Only headers present are named.
    fn rewrite_headers(&self, headers: &[(&str, &str)]) -> Rewrite {
        let mut rewrite = Rewrite::default();
        let strip = self.forwarding.strip_token;
        let sources = self.authenticator.sources();
        let proxy = self.peers.front_proxy.as_ref();
        for (name, _) in headers {
            let token_header = strip && sources.iter().any(|source| source.reads_header(name));
            if token_header
                || self.forwarding.must_remove(name)
                || proxy.is_some_and(|proxy| proxy.reads(name))
            {
                forward::push_lowercase(&mut rewrite.remove_headers, name);
            }
        }
        let carries_token = |decoded: &str| sources.iter().any(|s| s.reads_cookie(decoded));
        if strip
            && sources
                .iter()
                .any(|s| matches!(s, TokenSource::Cookie { .. }))
        {
            let cookies = headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("cookie"))
                .map(|(_, v)| *v);
            if let Some(kept) = params::cookies_without(cookies, carries_token) {
                rewrite.set_headers.push(("cookie".to_owned(), kept));
            }
        }
        rewrite
    }

    /// Sets `:path` when what goes upstream must differ from what was sent: the path the
    /// decision was made on (normalised), and the query without its tokens (`stripToken`).
    fn rewrite_target(&self, rewrite: &mut Rewrite, target: &str, normalized: &str, query: &str) {
        let mut query = Cow::Borrowed(query);
        if self.forwarding.strip_token {
            let sources = self.authenticator.sources();
            let carries_token =
                |decoded: &str| sources.iter().any(|s| s.reads_query_parameter(decoded));
            if let Some(kept) = params::query_without(&query, carries_token) {
                query = Cow::Owned(kept);
            }
        }
        let unchanged = target.strip_prefix(normalized).is_some_and(|rest| {
            rest.is_empty() && query.is_empty() || rest.strip_prefix('?') == Some(&*query)
        });
        if !unchanged {
            let mut upstream = normalized.to_owned();
            if !query.is_empty() {
                upstream.push('?');
                upstream.push_str(&query);
            }
            rewrite.set_headers.push((":path".to_owned(), upstream));
        }
    }

    /// A deny: answered locally, or in dry-run let through with the decision recorded.
    fn deny(
        &self,
        mut record: DecisionRecord,
        reason: Reason,
        reply: LocalReply,
        detail: String,
        rewrite: Rewrite,
    ) -> Verdict {
        record.conclude(reason);
        record.detail = Detail::Text(detail);
        if self.mode == Mode::DryRun {
            record.enforced = false;
            let add_headers = match &self.forwarding.decision_header {
                Some(header) => Arc::from([(header.clone(), record.header_value().to_owned())]),
                None => Arc::from([]),
            };
            return Verdict {
                record,
                action: rewrite.forward(add_headers),
                wait: None,
                review: None,
            };
        }
        Verdict {
            record,
            action: Action::Respond(reply),
            wait: None,
            review: None,
        }
    }
}

/// Where a request goes, as the request mapping reads it: the normalised path, the query and
/// the proxy's namespace.
/// What a request speaks, from its `content-type` (the first, as Envoy reads it).
fn protocol_of(headers: &[(&str, &str)]) -> Protocol {
    let content_type = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| *value);
    Protocol::of_content_type(content_type)
}

/// A verdict's local reply in the request's own terms: for a gRPC call, a gRPC status with the
/// reason in `grpc-message` (every reply meshguard makes goes through here).
fn in_protocol(mut verdict: Verdict, protocol: Protocol) -> Verdict {
    if protocol == Protocol::Grpc {
        verdict.action = match verdict.action {
            Action::Respond(reply) => Action::Respond(response::for_grpc(
                reply,
                verdict.record.reason,
                &verdict.record.detail.to_string(),
            )),
            forward => forward,
        };
    }
    verdict
}

struct Target<'a> {
    path: &'a str,
    query: &'a str,
    workload: &'a Workload,
    protocol: Protocol,
}

/// What a forwarded request loses or has replaced before it goes upstream.
#[derive(Debug, Default)]
struct Rewrite {
    remove_headers: Vec<String>,
    set_headers: Vec<(String, String)>,
}

impl Rewrite {
    fn forward(self, add_headers: Arc<[(String, String)]>) -> Action {
        Action::Continue {
            remove_headers: self.remove_headers,
            set_headers: self.set_headers,
            add_headers,
        }
    }
}

/// Who is calling: a verified token's user, or a user another credential (or none, for
/// anonymous access) established.
enum Caller {
    Token(Arc<VerifiedToken>),
    Other(Credential, UserInfo),
}

impl Caller {
    fn user(&self) -> &UserInfo {
        match self {
            Caller::Token(verified) => &verified.user,
            Caller::Other(_, user) => user,
        }
    }

    fn credential(&self) -> Credential {
        match self {
            Caller::Token(_) => Credential::Jwt,
            Caller::Other(credential, _) => *credential,
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
