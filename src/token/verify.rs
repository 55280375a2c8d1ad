//! The authenticator: a compiled set of issuers that turns a request's tokens into a user.
//!
//! Order of checks for one token, each with its own reason code:
//! size → structure and header (`alg`, `crit`, `typ`) → `iss` selects the issuer → algorithm
//! allowed for that issuer → key selection by `kid` then algorithm → signature → time claims →
//! audience → claim validation rules → identity mapping.
//!
//! The signature is checked before the time and audience claims: until it verifies, nothing in
//! the token is evidence of anything, and an attacker learns nothing from the reason code about
//! the issuer's policy.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cache::{CacheSettings, NoCache, TokenStore, VerifiedToken};
use super::claims::{RegisteredClaims, TimePolicy};
use super::host::HostVerifier;
use super::jws;
use super::review::{FailurePolicy, Review, ReviewSettings};
use super::secret::{looks_like_jwt, SecretTokens};
use super::source::{extract, TokenSource};
use super::{Algorithm, AuthError, KeyFingerprint, KeySet};
use crate::identity::{ClaimRule, Credential, IdentityMapping, UserInfo};

/// One trusted issuer, compiled from its configuration.
#[derive(Clone, Debug)]
pub struct IssuerVerifier {
    /// The issuer URL; a token's `iss` must equal it exactly.
    pub url: String,
    /// Accepted audiences (any of them). Empty only for the legacy service-account issuer,
    /// whose tokens carry no audience.
    pub audiences: Vec<String>,
    /// The issuer's verification keys in force: the configured ones and the last good
    /// fetched set.
    pub keys: KeySet,
    /// The keys configured inline (kept when a fetched set replaces the previous one).
    pub inline_keys: KeySet,
    /// Whether key sets for this issuer arrive from a fetcher (`remoteKeys`): until one
    /// has, a token cannot be checked (`keys_unavailable`) rather than refused.
    pub fetches_keys: bool,
    /// Algorithms accepted from this issuer.
    pub algorithms: Vec<Algorithm>,
    /// Time claim rules.
    pub time: TimePolicy,
    /// `claimValidationRules`, checked before the user is built.
    pub claim_rules: Vec<ClaimRule>,
    /// How claims become a user.
    pub identity: IdentityMapping,
}

/// A verified token: who it names, and the claims that said so.
#[derive(Clone, Debug, PartialEq)]
pub struct Authenticated {
    /// The issuer URL that verified it.
    pub issuer: String,
    /// The Kubernetes user.
    pub user: UserInfo,
    /// The registered claims, typed (`exp` bounds how long a result may be reused).
    pub registered: RegisteredClaims,
    /// Every claim of the token.
    pub claims: Map<String, Value>,
}

/// Who a request's tokens say the caller is.
#[derive(Clone, Debug, PartialEq)]
pub enum TokenUser {
    /// A verified JWT (shared with the cache).
    Jwt(Arc<VerifiedToken>),
    /// A static or bootstrap token's user.
    Secret(Credential, UserInfo),
}

impl TokenUser {
    /// The user.
    pub fn user(&self) -> &UserInfo {
        match self {
            TokenUser::Jwt(verified) => &verified.user,
            TokenUser::Secret(_, user) => user,
        }
    }
}

/// A full verification, and what it needs to be cached.
struct Checked {
    issuer: usize,
    alg: Algorithm,
    key: KeyFingerprint,
    authenticated: Authenticated,
}

/// The compiled authentication configuration.
#[derive(Clone, Debug)]
pub struct Authenticator {
    issuers: Vec<IssuerVerifier>,
    sources: Vec<TokenSource>,
    max_token_bytes: usize,
    cache: CacheSettings,
    /// The proxy's native signature verification, when the host offers it.
    host: Option<HostVerifier>,
    /// Whether the configuration lets the host verify signatures at all.
    host_allowed: bool,
    /// Whether tokens are refused on connections without TLS (`requireTLS`).
    require_tls: bool,
    /// Static and bootstrap tokens of the configuration.
    secrets: Arc<SecretTokens>,
    /// Static and bootstrap tokens of the bundle in force.
    bundle_secrets: Arc<SecretTokens>,
    /// The token-review webhook, if configured.
    review: Option<Arc<ReviewSettings>>,
}

impl Authenticator {
    /// Builds an authenticator. `sources` are searched in order; `max_token_bytes` bounds each
    /// token before it is parsed.
    pub fn new(
        issuers: Vec<IssuerVerifier>,
        sources: Vec<TokenSource>,
        max_token_bytes: usize,
    ) -> Self {
        Authenticator {
            issuers,
            sources,
            max_token_bytes,
            cache: CacheSettings::default(),
            host: None,
            host_allowed: true,
            require_tls: false,
            secrets: Arc::default(),
            bundle_secrets: Arc::default(),
            review: None,
        }
    }

    /// Sends tokens no other authenticator knows to a token-review webhook.
    pub fn set_review(&mut self, review: Option<ReviewSettings>) {
        self.review = review.map(Arc::new);
    }

    /// The token-review webhook, if configured.
    pub fn review_settings(&self) -> Option<&Arc<ReviewSettings>> {
        self.review.as_ref()
    }

    /// Static and bootstrap tokens from the configuration.
    pub fn set_secrets(&mut self, secrets: SecretTokens) {
        self.secrets = Arc::new(secrets);
    }

    /// Static and bootstrap tokens from the bundle in force (replacing the last bundle's).
    pub fn set_bundle_secrets(&mut self, secrets: Arc<SecretTokens>) {
        self.bundle_secrets = secrets;
    }

    /// Static and bootstrap tokens in force: the configuration's, then the bundle's.
    pub fn secrets(&self) -> [&SecretTokens; 2] {
        [&self.secrets, &self.bundle_secrets]
    }

    /// Refuses tokens that come over connections without TLS (`authentication.requireTLS`),
    /// or not (the default).
    pub fn set_require_tls(&mut self, require: bool) {
        self.require_tls = require;
    }

    /// Whether tokens must come over TLS.
    pub fn require_tls(&self) -> bool {
        self.require_tls
    }

    /// With `requireTLS`, for a request whose connection is not known to be TLS (`tls` is
    /// anything but `Some(true)`): [`AuthError::TlsRequired`] when it carries a token (or
    /// something a configured source reads as one), before anything in the token is looked
    /// at. `Ok` when it carries none (anonymous access and `token_missing` are decided as
    /// usual), when the connection is TLS, or when TLS is not required.
    pub fn refuse_plaintext<K, V>(
        &self,
        tls: Option<bool>,
        headers: &[(K, V)],
        path: &str,
    ) -> Result<(), AuthError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        if !self.require_tls || tls == Some(true) {
            return Ok(());
        }
        match extract(&self.sources, headers, path) {
            Err(AuthError::TokenMissing) => Ok(()),
            _ => Err(AuthError::TlsRequired),
        }
    }

    /// Lets the host's native crypto verify signatures (the default), or not
    /// (`authentication.hostCrypto: false`): [`Authenticator::set_host`] is then ignored.
    pub fn allow_host(&mut self, allowed: bool) {
        self.host_allowed = allowed;
        if !allowed {
            self.host = None;
        }
    }

    /// Whether the configuration lets the host verify signatures.
    pub fn host_allowed(&self) -> bool {
        self.host_allowed
    }

    /// Verifies the algorithms `host` covers with the host's native crypto from now on
    /// (`None`: everything in wasm).
    pub fn set_host(&mut self, host: Option<HostVerifier>) {
        self.host = host.filter(|_| self.host_allowed);
    }

    /// The host's verifier in use, if any.
    pub fn host(&self) -> Option<&HostVerifier> {
        self.host.as_ref()
    }

    /// This authenticator with these verified-token cache settings.
    pub fn with_cache(mut self, cache: CacheSettings) -> Self {
        self.cache = cache;
        self
    }

    /// The verified-token cache settings (the cache itself belongs to whoever decides).
    pub fn cache_settings(&self) -> CacheSettings {
        self.cache
    }

    /// The configured issuers.
    pub fn issuers(&self) -> &[IssuerVerifier] {
        &self.issuers
    }

    /// Puts a fetched key set in force for issuer `index`, beside its inline keys.
    pub fn set_fetched_keys(&mut self, index: usize, fetched: KeySet) {
        if let Some(issuer) = self.issuers.get_mut(index) {
            let mut keys = issuer.inline_keys.clone();
            keys.extend(fetched);
            issuer.keys = keys;
        }
    }

    /// The token among those the request carries whose SHA-256 is `digest` (the one a
    /// review is for).
    pub fn token_with_digest<K, V>(
        &self,
        headers: &[(K, V)],
        path: &str,
        digest: &[u8; 32],
    ) -> Option<String>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        extract(&self.sources, headers, path)
            .ok()?
            .into_iter()
            .map(|found| found.token.to_string())
            .find(|token| &super::cache::digest(token) == digest)
    }

    /// The configured token sources.
    pub fn sources(&self) -> &[TokenSource] {
        &self.sources
    }

    /// Authenticates a request: finds every token the configured sources carry, verifies each
    /// at `now` (Unix seconds), and returns the user.
    ///
    /// If a request carries several tokens, all must verify and all must name the same user:
    /// a backend that reads a different token than we did must not meet one we did not check.
    pub fn authenticate_request<K, V>(
        &self,
        headers: &[(K, V)],
        path: &str,
        now: u64,
    ) -> Result<TokenUser, AuthError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        self.authenticate_request_checked(headers, path, now, |_, _| Ok(()), &mut NoCache)
    }

    /// As [`Authenticator::authenticate_request`], with one more check on every verified
    /// token (revocation: a revoked second token must fail the request as the first would),
    /// and verified tokens looked up in and added to `store`.
    ///
    /// A cached entry is used only if its issuer is still configured, the key that verified
    /// it is still in that issuer's key set and still accepts its algorithm; its time claims
    /// are checked at `now` and `check` is run as for a fresh verification. Anything else is
    /// verified in full.
    pub fn authenticate_request_checked<K, V, F, S>(
        &self,
        headers: &[(K, V)],
        path: &str,
        now: u64,
        check: F,
        store: &mut S,
    ) -> Result<TokenUser, AuthError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        F: Fn(&UserInfo, &RegisteredClaims) -> Result<(), AuthError>,
        S: TokenStore + ?Sized,
    {
        let tokens = extract(&self.sources, headers, path)?;
        let mut first: Option<TokenUser> = None;
        for found in &tokens {
            let token = &found.token;
            let verified = match self.known_token(token, now, store) {
                Ok(verified) => verified,
                Err(error) => self.reviewed(token, now, store, error)?,
            };
            match &verified {
                TokenUser::Jwt(jwt) => check(&jwt.user, &jwt.registered)?,
                TokenUser::Secret(_, user) => check(user, &RegisteredClaims::default())?,
            }
            match &first {
                None => first = Some(verified),
                Some(first) if first.user().username != verified.user().username => {
                    return Err(AuthError::IdentityConflict {
                        first: first.user().username.clone(),
                        second: verified.user().username.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        first.ok_or(AuthError::TokenMissing)
    }

    /// What `token` is to the authenticators that answer at once: a static or bootstrap
    /// token, or a JWT (verified, or taken from `store`).
    fn known_token<S>(&self, token: &str, now: u64, store: &mut S) -> Result<TokenUser, AuthError>
    where
        S: TokenStore + ?Sized,
    {
        if let Some((credential, user)) = self.secret_user(token, now)? {
            return Ok(TokenUser::Secret(credential, user));
        }
        self.verify_cached(token, now, store).map(TokenUser::Jwt)
    }

    /// The token-review webhook, last in the apiserver's order, for a token no other
    /// authenticator knows (not a JWT, no configured issuer's, no static or bootstrap token).
    /// Stricter than the apiserver, which asks the webhook after any failure: a token that
    /// names a configured issuer is that issuer's to judge. `error` stands when there is no
    /// webhook or the token is not the webhook's; the webhook's answer kept in `store` is
    /// the user, or [`AuthError::TokenReviewPending`] until there is one.
    fn reviewed<S>(
        &self,
        token: &str,
        now: u64,
        store: &mut S,
        error: AuthError,
    ) -> Result<TokenUser, AuthError>
    where
        S: TokenStore + ?Sized,
    {
        let not_ours = matches!(
            error,
            AuthError::TokenMalformed { .. }
                | AuthError::IssuerUnknown { .. }
                | AuthError::TokenUnknown { .. }
        );
        let Some(review) = self.review.as_ref().filter(|_| not_ours) else {
            return Err(error);
        };
        let unavailable = review.failure_policy == FailurePolicy::Unavailable;
        let retry_after = review.retry_after;
        match store.review(token, now) {
            Some(Review::Authenticated(user)) => Ok(TokenUser::Secret(Credential::Webhook, user)),
            Some(Review::Denied(detail)) => Err(AuthError::TokenReviewDenied { detail }),
            Some(Review::Failed(detail)) => Err(AuthError::TokenReviewFailed {
                detail,
                unavailable,
                retry_after,
            }),
            None => Err(AuthError::TokenReviewPending {
                digest: super::cache::digest(token),
                unavailable,
                retry_after,
            }),
        }
    }

    /// The static or bootstrap token `token` is, in the apiserver's order (its token file,
    /// then bootstrap tokens, then JWTs). `None` when it is none of them and may be a JWT; an
    /// opaque token that is not one is [`AuthError::TokenUnknown`] when secret tokens are
    /// configured (the size bound applies first, as to a JWT).
    pub fn secret_user(
        &self,
        token: &str,
        now: u64,
    ) -> Result<Option<(Credential, UserInfo)>, AuthError> {
        if self.secrets.is_empty() && self.bundle_secrets.is_empty() {
            return Ok(None);
        }
        jws::check_size(token, self.max_token_bytes)?;
        for secrets in self.secrets() {
            if let Some(found) = secrets.authenticate(token, now) {
                return found.map(Some);
            }
        }
        if looks_like_jwt(token) {
            return Ok(None);
        }
        Err(AuthError::TokenUnknown {
            detail: "an opaque token matches no static or bootstrap token".into(),
        })
    }

    /// Verifies one token at `now`, or takes what an earlier verification of the same token
    /// established from `store` if it still holds.
    pub fn verify_cached<S>(
        &self,
        token: &str,
        now: u64,
        store: &mut S,
    ) -> Result<Arc<VerifiedToken>, AuthError>
    where
        S: TokenStore + ?Sized,
    {
        // Before the lookup: an oversized token is not even hashed.
        jws::check_size(token, self.max_token_bytes)?;
        if let Some(cached) = store.get(token, now) {
            if let Some(issuer) = self.still_trusted(&cached) {
                issuer.time.check(&cached.registered, now)?;
                return Ok(cached);
            }
        }
        let checked = self.check(token, now)?;
        let verified = Arc::new(VerifiedToken {
            issuer: checked.issuer,
            issuer_url: checked.authenticated.issuer,
            alg: checked.alg,
            key: checked.key,
            registered: checked.authenticated.registered,
            user: checked.authenticated.user,
            forwarded: super::cache::Memo::default(),
        });
        store.put(token, Arc::clone(&verified), now);
        Ok(verified)
    }

    /// The issuer of a cached verification, if the verification still holds for the keys and
    /// issuers in force.
    fn still_trusted(&self, cached: &VerifiedToken) -> Option<&IssuerVerifier> {
        let issuer = self.issuers.get(cached.issuer)?;
        let trusted = issuer.url == cached.issuer_url
            && issuer.algorithms.contains(&cached.alg)
            && issuer
                .keys
                .keys()
                .iter()
                .any(|key| key.fingerprint() == &cached.key && key.accepts(cached.alg));
        trusted.then_some(issuer)
    }

    /// Verifies one token at `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: u64) -> Result<Authenticated, AuthError> {
        self.check(token, now).map(|checked| checked.authenticated)
    }

    fn check(&self, token: &str, now: u64) -> Result<Checked, AuthError> {
        let parsed = jws::decode(token, self.max_token_bytes)?;
        let registered = RegisteredClaims::from_claims(&parsed.claims)?;
        let (index, issuer) = match registered.iss.as_deref() {
            None => return Err(AuthError::IssuerUnknown { iss: None }),
            Some(iss) => self
                .issuers
                .iter()
                .enumerate()
                .find(|(_, issuer)| issuer.url == iss)
                .ok_or_else(|| AuthError::IssuerUnknown {
                    iss: Some(iss.to_string()),
                })?,
        };
        let alg = parsed.alg;
        if !issuer.algorithms.contains(&alg) {
            return Err(AuthError::AlgorithmNotAllowed {
                alg: alg.to_string(),
            });
        }
        if issuer.keys.is_empty() {
            return Err(AuthError::KeysUnavailable {
                issuer: issuer.url.clone(),
            });
        }
        let kid = parsed.header.kid.as_deref();
        let mut candidates = issuer.keys.candidates(kid, alg).peekable();
        if candidates.peek().is_none() {
            return Err(AuthError::KeyNotFound {
                issuer: issuer.url.clone(),
                kid: parsed.header.kid.clone(),
                alg: alg.to_string(),
            });
        }
        let Some(key) =
            candidates.find(|key| key.verify_signature(alg, &parsed, self.host.as_ref()))
        else {
            return Err(AuthError::SignatureInvalid {
                kid: parsed.header.kid.clone(),
                alg: alg.to_string(),
            });
        };

        issuer.time.check(&registered, now)?;
        if !issuer.audiences.is_empty()
            && !registered
                .aud
                .iter()
                .any(|aud| issuer.audiences.contains(aud))
        {
            return Err(AuthError::AudienceMismatch {
                token_audiences: registered.aud.clone(),
            });
        }
        for rule in &issuer.claim_rules {
            rule.check(&parsed.claims)?;
        }
        let user = issuer.identity.user(&parsed.claims)?;
        Ok(Checked {
            issuer: index,
            alg,
            key: *key.fingerprint(),
            authenticated: Authenticated {
                issuer: issuer.url.clone(),
                user,
                registered,
                claims: parsed.claims,
            },
        })
    }
}
