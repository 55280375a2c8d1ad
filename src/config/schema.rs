//! The raw configuration schema, field names as users write them. Nothing here is validated
//! beyond types and unknown fields; [`super::compile`] does the rest.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::token::TokenSource;

/// The whole plugin configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginConfig {
    /// Who may call: issuers, token sources, limits.
    pub authentication: AuthenticationConfig,
    /// What they may do: request mapping and the RBAC bundle. Required by the filter;
    /// `meshguard verify` needs only `authentication`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<AuthorizationConfig>,
    /// `enforce` (default) or `dryRun`: decide and record, never block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Requests without a token as `system:anonymous` (off by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anonymous: Option<AnonymousConfig>,
    /// What allowed requests carry to the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarding: Option<ForwardingConfig>,
    /// Paths the filter lets through without looking (exact, or a prefix ending in `*`), e.g.
    /// health checks. Matched on the normalised path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bypass_paths: Vec<String>,
    /// The `realm` of `WWW-Authenticate` challenges. Default `meshguard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// `mode`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// Deny what the policy denies.
    #[default]
    Enforce,
    /// Decide, log and count as usual, but let every request through.
    DryRun,
}

/// `anonymous`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnonymousConfig {
    /// When on, a request with no token is `system:anonymous` in `system:unauthenticated`, and
    /// RBAC decides, as in the apiserver. A request with a bad token is still a 401.
    #[serde(default)]
    pub enabled: bool,
}

/// `forwarding`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ForwardingConfig {
    /// Header for the username. Default `X-Remote-User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_header: Option<String>,
    /// Header for the groups, one header per group. Default `X-Remote-Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_header: Option<String>,
    /// Prefix of the extra headers (`X-Remote-Extra-<key>`). Default `X-Remote-Extra-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_header_prefix: Option<String>,
    /// Remove every token from the request before it goes upstream: the token headers, the
    /// query parameters and the cookies that carried one. Default true: an upstream that
    /// holds the caller's token can replay it wherever its audience is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_token: Option<bool>,
    /// Caller headers the apiserver reads as identity that may still go upstream (by default
    /// they are removed): any of `X-Remote-Uid`, `Impersonate-User`, `Impersonate-Group`,
    /// `Impersonate-Uid`, `Impersonate-Extra-` (the prefix).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trust_caller_headers: Vec<String>,
    /// A header carrying the decision (`allow` / `deny:<reason>`) to the upstream; set in
    /// `dryRun` mode (where denied requests go through) and on allowed requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_header: Option<String>,
    /// Whether an allowed request carries the caller's identity upstream (user, group and
    /// extra headers). Default true. Identity headers a caller sent are removed either way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<bool>,
    /// Whether each decision is left in the stream's filter state for access logs
    /// (`wasm.meshguard_decision`, `wasm.meshguard_user`). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_state: Option<bool>,
}

/// `authorization`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthorizationConfig {
    /// How requests become RBAC attributes. Default: `kubernetes` mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_mapping: Option<RequestMappingConfig>,
    /// The policy bundle, inline: a PolicyBundle, a List, or an array of RBAC objects.
    /// Exactly one of `bundle` and `bundleSource` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Value>,
    /// The policy bundle from a URL, signed, polled and hot-reloaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_source: Option<BundleSourceConfig>,
}

/// `authorization.bundleSource`: a signed bundle polled from a URL through an Envoy cluster.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BundleSourceConfig {
    /// The Envoy cluster the calls go through (it carries the address and TLS).
    pub cluster: String,
    /// The bundle's URL (its host is the `:authority`).
    pub url: String,
    /// The detached signature's URL. Default: the bundle URL with `.sig` appended.
    #[serde(
        default,
        rename = "signatureURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub signature_url: Option<String>,
    /// Keys that may sign bundles: a JWKS, as an object or as JSON text. Required unless
    /// `signature` is `none`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_keys: Option<Value>,
    /// `detached` (the default: a signature by `signingKeys` at `signatureURL`) or `none`
    /// (unsigned: the bundle server's TLS and the cluster's network are all that vouch for
    /// the policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Poll interval, in seconds. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_seconds: Option<u64>,
    /// Timers, bounds and waits of the calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchConfig>,
}

/// Timers and bounds shared by remote keys and bundles.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FetchConfig {
    /// Timeout of one HTTP call, in milliseconds. Default 5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// First retry delay after a failure, in milliseconds; doubles per failure. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_backoff_ms: Option<u64>,
    /// Largest retry delay, in seconds. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_backoff_seconds: Option<u64>,
    /// Largest response body accepted, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<usize>,
    /// How long a request may wait for a first fetch (or a demanded refetch), in
    /// milliseconds, before it is answered. Default 3000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_wait_ms: Option<u64>,
}

/// `authentication.jwt[].remoteKeys`: the issuer's keys fetched through an Envoy cluster.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteKeysConfig {
    /// The Envoy cluster the calls go through (it carries the address and TLS).
    pub cluster: String,
    /// The JWKS URL. Default: the `jwks_uri` of the issuer's OIDC discovery document
    /// (`issuer.discoveryURL`, or `{issuer.url}/.well-known/openid-configuration`).
    #[serde(default, rename = "jwksURI", skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Refresh interval when the response has no `Cache-Control` max-age, in seconds.
    /// Default 300.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval_seconds: Option<u64>,
    /// Lower bound of a `Cache-Control` max-age, in seconds. Default 30.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_refresh_interval_seconds: Option<u64>,
    /// Upper bound of a `Cache-Control` max-age, in seconds. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_refresh_interval_seconds: Option<u64>,
    /// Smallest spacing of refetches caused by tokens with an unknown `kid`, in seconds.
    /// Default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_kid_refetch_interval_seconds: Option<u64>,
    /// Timers, bounds and waits of the calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchConfig>,
}

/// `authorization.requestMapping`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequestMappingConfig {
    /// `serviceProxy`, `service` or `kubernetes`. Default `kubernetes` (as without
    /// `requestMapping`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// kubernetes: API prefixes. Default `[api, apis]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_prefixes: Option<Vec<String>>,
    /// kubernetes: prefixes without a group segment. Default `[api]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groupless_api_prefixes: Option<Vec<String>>,
    /// service, serviceProxy: the namespace of the requests. Default: the proxy's (node
    /// metadata `NAMESPACE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// serviceProxy: the service's name. Default: the workload's canonical service (node
    /// metadata label `service.istio.io/canonical-name`, then `app.kubernetes.io/name`, `app`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// service: the API group of the service's resources. Default `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// service: routes, tried in order: a template string, or an object with fixed attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    /// service, serviceProxy: paths that are non-resource URLs (exact, or a prefix ending in
    /// `*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_resource_paths: Vec<String>,
    /// service, serviceProxy: gRPC calls mapped by service and method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcConfig>,
    /// What a request with a method override (`X-HTTP-Method-Override`, `X-HTTP-Method`,
    /// `X-Method-Override`, `_method`) gets: `reject` (400, the default) or `authorize` (both
    /// its own method and the overriding one must be allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method_override: Option<crate::request_info::MethodOverride>,
}

/// `requestMapping.grpc`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GrpcConfig {
    /// The API group of gRPC services. Default `grpc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
}

/// One `requestMapping.routes[]` entry: a template string, or an object.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum RouteConfig {
    /// `/v1/{resource}/{name}`.
    Template(String),
    /// A template with fixed attributes and verbs.
    Route(RouteObject),
}

impl<'de> Deserialize<'de> for RouteConfig {
    /// A string or an object, with the object's own errors (an unknown field is named) rather
    /// than serde's "did not match any variant".
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RouteConfig;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a route template string or a route object")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<RouteConfig, E> {
                Ok(RouteConfig::Template(value.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<RouteConfig, A::Error> {
                RouteObject::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RouteConfig::Route)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A route object: a path template plus attributes it fixes.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RouteObject {
    /// The path template (`{namespace}`, `{resource}`, `{name}`, `{subresource}`, `{*}`,
    /// `{**}`); it need not name `{resource}` when `resource` is set.
    pub path: String,
    /// The API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// The resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// The subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// The object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// HTTP method → RBAC verb (custom verbs are valid RBAC); methods not listed get the
    /// mode's verb.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub verbs: std::collections::BTreeMap<String, String>,
}

/// `authentication`: shaped like the kube-apiserver's `AuthenticationConfiguration`, so that
/// document pastes in whole (its `apiVersion` and `kind` are accepted and checked).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuthenticationConfig {
    /// `apiserver.config.k8s.io/v1…`, when pasted from an apiserver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `AuthenticationConfiguration`, when pasted from an apiserver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Trusted JWT issuers.
    #[serde(default)]
    pub jwt: Vec<JwtAuthenticator>,
    /// The authenticators tried, in order (`frontProxy`, `x509`, `spiffe`, `token`); the
    /// first that authenticates a request wins. Default: the apiserver's order, of those
    /// configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Vec<crate::peer::Method>>,
    /// SPIFFE peers: a validated client certificate's URI SAN `spiffe://TD/ns/NS/sa/SA` is
    /// the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spiffe: Option<SpiffeConfig>,
    /// x509 client certificates: a validated certificate's subject CN is the user, each O a
    /// group (`{}` turns it on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509: Option<X509Config>,
    /// An authenticating front proxy's identity headers, believed from allowed peers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub front_proxy: Option<FrontProxyConfig>,
    /// A service-account token must come from the workload it names: the peer's SPIFFE ID
    /// (needs `spiffe`). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_constraint: Option<bool>,
    /// Static tokens, as SHA-256 digests (the apiserver's token file).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub static_tokens: Vec<crate::token::secret::StaticTokenSpec>,
    /// Bootstrap tokens, their secrets as SHA-256 digests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bootstrap_tokens: Vec<crate::token::secret::BootstrapTokenSpec>,
    /// Webhook token authentication: tokens no other authenticator knows, reviewed by a
    /// remote service (`TokenReview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
    /// Where tokens are looked for, in order. Default: `Authorization: Bearer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_sources: Option<Vec<TokenSource>>,
    /// Allowed clock skew for `exp`, `nbf` and `iat`, in seconds. Default 60.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew_seconds: Option<u64>,
    /// Largest token accepted, in bytes; larger ones are rejected unparsed. Default 8192.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_bytes: Option<usize>,
    /// The verified-token cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_cache: Option<TokenCacheConfig>,
    /// Whether RS* and ES* signatures may be verified by the proxy's native crypto (Envoy's
    /// `verify_signature`) once it passes the known-answer check. Default true; false verifies
    /// every signature in wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_crypto: Option<bool>,
    /// Refuse a token that arrives on a connection without TLS (401 `tls_required`, not
    /// verified). Default false.
    #[serde(
        default,
        rename = "requireTLS",
        skip_serializing_if = "Option::is_none"
    )]
    pub require_tls: Option<bool>,
}

/// `authentication.spiffe`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpiffeConfig {
    /// Trust domains whose identities are believed (Istio's `trustDomain` and its
    /// `trustDomainAliases`).
    pub trust_domains: Vec<String>,
}

/// `authentication.webhook`: the apiserver's token-review webhook.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WebhookConfig {
    /// The Envoy cluster the reviews go through (it carries the address and TLS).
    pub cluster: String,
    /// The review URL (its host is the `:authority`).
    pub url: String,
    /// `spec.audiences` of every review.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// How long an answer is kept, in seconds. Default 120 (the apiserver's).
    #[serde(
        default,
        rename = "cacheTTLSeconds",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_ttl_seconds: Option<u64>,
    /// `deny` (401 `token_review_failed`, default) or `unavailable` (503 with `Retry-After`)
    /// when the webhook cannot answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_policy: Option<crate::token::review::FailurePolicy>,
    /// How long a failure is remembered (the `Retry-After` of a 503), in seconds. Default 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
    /// The call's timeout, in milliseconds. Default 5000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// How long a request waits for an answer, in milliseconds. Default: the timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_wait_ms: Option<u64>,
    /// Largest answer read, in bytes. Default 65536.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<usize>,
}

/// `authentication.x509`: no settings; the listener's `validation_context` is the trust.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct X509Config {}

/// `authentication.frontProxy`: the apiserver's `--requestheader-*` flags.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FrontProxyConfig {
    /// Common names a front proxy's client certificate may have. Required.
    pub allowed_names: Vec<String>,
    /// Username headers, first with a value wins. Default `X-Remote-User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username_headers: Option<Vec<String>>,
    /// Uid headers. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid_headers: Option<Vec<String>>,
    /// Group headers. Default `X-Remote-Group`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_headers: Option<Vec<String>>,
    /// Extra header prefixes. Default `X-Remote-Extra-`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_header_prefixes: Option<Vec<String>>,
}

/// `authentication.tokenCache`: how verified tokens are reused.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenCacheConfig {
    /// Entries kept per worker; 0 turns the cache off. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<usize>,
    /// Longest an entry is kept, in seconds (never past the token's `exp`). Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u64>,
    /// Slots of the cache the proxy's worker VMs share; 0 keeps each worker's cache to
    /// itself. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_slots: Option<u32>,
}

/// One trusted issuer: the apiserver's `JWTAuthenticator` plus meshguard's additions.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JwtAuthenticator {
    /// The issuer and its audiences.
    pub issuer: Issuer,
    /// Claims that must hold a given value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claim_validation_rules: Vec<ClaimValidationRule>,
    /// How claims become the username, groups, uid and extras (OIDC issuers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mappings: Option<ClaimMappings>,
    /// CEL rules on the user: not supported; present only to refuse them with a clear message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_validation_rules: Vec<UserValidationRule>,
    /// meshguard: inline JWKS, as an object or as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// meshguard: PEM public keys, as the apiserver's `--service-account-key-file` takes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_keys: Option<String>,
    /// meshguard: fetch the issuer's keys (JWKS, directly or through OIDC discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_keys: Option<RemoteKeysConfig>,
    /// meshguard: allowed algorithms. Default: every algorithm the configured keys can verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// meshguard: this is a Kubernetes service-account issuer; identities come from the
    /// `kubernetes.io` claims as the apiserver builds them, and `claimMappings` does not apply.
    #[serde(default)]
    pub service_account_issuer: bool,
    /// meshguard: reject tokens without `exp`. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_expiration: Option<bool>,
    /// meshguard: largest accepted `exp - iat`, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_lifetime_seconds: Option<u64>,
    /// meshguard: accept usernames and groups starting with `system:` from this issuer's
    /// claim mappings, as the apiserver does. Default false: meshguard refuses them, so an
    /// identity provider cannot mint `system:masters`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_system_names: Option<bool>,
}

/// `issuer`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issuer {
    /// The issuer URL; tokens' `iss` must equal it exactly.
    pub url: String,
    /// Where the OIDC discovery document is fetched, when it is not at
    /// `{url}/.well-known/openid-configuration` (needs `remoteKeys`).
    #[serde(
        default,
        rename = "discoveryURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub discovery_url: Option<String>,
    /// PEM CA certificates, checked as the apiserver checks them; the TLS to the issuer is
    /// the Envoy cluster's (its validation context), so they are not used (a warning says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// `controlplane` or `cluster`: which network the apiserver reaches the issuer through;
    /// the Envoy cluster of `remoteKeys` decides that here, so it is accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_selector_type: Option<String>,
    /// Accepted audiences.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// `MatchAny` (the only policy the apiserver defines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience_match_policy: Option<String>,
}

/// One `claimValidationRules` entry.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimValidationRule {
    /// The claim to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// The string value it must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_value: Option<String>,
    /// CEL expression: not supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// Message for a CEL rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `claimMappings`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimMappings {
    /// The username mapping. Default: claim `sub` with the issuer-URL prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<PrefixedClaim>,
    /// The groups mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<PrefixedClaim>,
    /// The uid mapping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<ClaimOrExpression>,
    /// Extra attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<ExtraMapping>,
}

/// A claim with a prefix (`username`, `groups`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrefixedClaim {
    /// The claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Put before each value; required with `claim` (`""` for none), refused with
    /// `expression`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// An expression whose value is used as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// A claim without a prefix (`uid`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClaimOrExpression {
    /// The claim name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A plain claim reference; other CEL is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// One `extra` mapping.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExtraMapping {
    /// The extra key, domain-prefixed (`example.com/team`).
    pub key: String,
    /// meshguard: the claim whose value(s) fill it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A plain claim reference; other CEL is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_expression: Option<String>,
}

/// One `userValidationRules` entry (CEL; refused).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserValidationRule {
    /// The CEL expression.
    pub expression: String,
    /// Its message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
