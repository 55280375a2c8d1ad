//! Kubernetes service-account tokens, both generations, read as the kube-apiserver reads them.
//!
//! Bound tokens (TokenRequest, projected volumes) carry a `kubernetes.io` object:
//!
//! ```json
//! {"sub": "system:serviceaccount:orders:api",
//!  "kubernetes.io": {"namespace": "orders",
//!                    "serviceaccount": {"name": "api", "uid": "…"},
//!                    "pod": {"name": "api-7d9", "uid": "…"},
//!                    "node": {"name": "node-1", "uid": "…"}}, "jti": "…"}
//! ```
//!
//! Legacy secret-based tokens carry flat `kubernetes.io/serviceaccount/*` claims.

use serde_json::{Map, Value};

use super::IdentityError;
use super::{UserInfo, CREDENTIAL_ID_KEY};

/// Username prefix of service accounts.
pub const SERVICE_ACCOUNT_USERNAME_PREFIX: &str = "system:serviceaccount:";
/// The group of all service accounts.
pub const ALL_SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
/// The extra key for the name of the pod a token is bound to.
pub const POD_NAME_KEY: &str = "authentication.kubernetes.io/pod-name";
/// The extra key for the uid of the pod a token is bound to.
pub const POD_UID_KEY: &str = "authentication.kubernetes.io/pod-uid";
/// The extra key for the name of the node a token is bound to.
pub const NODE_NAME_KEY: &str = "authentication.kubernetes.io/node-name";
/// The extra key for the uid of the node a token is bound to.
pub const NODE_UID_KEY: &str = "authentication.kubernetes.io/node-uid";

const LEGACY_NAMESPACE: &str = "kubernetes.io/serviceaccount/namespace";
const LEGACY_NAME: &str = "kubernetes.io/serviceaccount/service-account.name";
const LEGACY_UID: &str = "kubernetes.io/serviceaccount/service-account.uid";

fn text<'v>(value: Option<&'v Value>, claim: &str) -> Result<Option<&'v str>, IdentityError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(IdentityError::new(claim, "is not a string")),
    }
}

fn required<'v>(value: Option<&'v Value>, claim: &str) -> Result<&'v str, IdentityError> {
    match text(value, claim)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(IdentityError::new(
            claim,
            "is required in a service-account token",
        )),
    }
}

/// Builds the service-account user from a token's claims (without `system:authenticated`,
/// which [`super::IdentityMapping::user`] adds).
pub fn service_account_user(claims: &Map<String, Value>) -> Result<UserInfo, IdentityError> {
    let mut user = if let Some(k8s) = claims.get("kubernetes.io") {
        bound_token_user(k8s, claims)?
    } else if claims.contains_key(LEGACY_NAMESPACE) {
        let namespace = required(claims.get(LEGACY_NAMESPACE), LEGACY_NAMESPACE)?;
        let name = required(claims.get(LEGACY_NAME), LEGACY_NAME)?;
        let uid = text(claims.get(LEGACY_UID), LEGACY_UID)?.unwrap_or_default();
        base_user(namespace, name, uid)?
    } else {
        return Err(IdentityError::new(
            "kubernetes.io",
            "not present: this issuer is configured for service-account tokens",
        ));
    };
    // The username comes from the kubernetes.io claims; a `sub` that names someone else means
    // the token was not minted by a Kubernetes issuer, so it is refused rather than guessed at.
    if let Some(sub) = text(claims.get("sub"), "sub")? {
        if sub != user.username {
            return Err(IdentityError::new(
                "sub",
                format!(
                    "{sub:?} does not match the service account {:?}",
                    user.username
                ),
            ));
        }
    }
    user.groups.shrink_to_fit();
    Ok(user)
}

fn bound_token_user(k8s: &Value, claims: &Map<String, Value>) -> Result<UserInfo, IdentityError> {
    if !k8s.is_object() {
        return Err(IdentityError::new("kubernetes.io", "is not an object"));
    }
    let namespace = required(k8s.get("namespace"), "kubernetes.io.namespace")?;
    let sa = k8s.get("serviceaccount");
    let name = required(
        sa.and_then(|sa| sa.get("name")),
        "kubernetes.io.serviceaccount.name",
    )?;
    let uid = text(
        sa.and_then(|sa| sa.get("uid")),
        "kubernetes.io.serviceaccount.uid",
    )?
    .unwrap_or_default();
    let mut user = base_user(namespace, name, uid)?;

    let object = |kind: &str| -> Result<(Option<&str>, Option<&str>), IdentityError> {
        let object = k8s.get(kind);
        Ok((
            text(object.and_then(|o| o.get("name")), kind)?,
            text(object.and_then(|o| o.get("uid")), kind)?,
        ))
    };
    if let (Some(pod_name), pod_uid) = object("pod")? {
        user.extra
            .insert(POD_NAME_KEY.into(), vec![pod_name.into()]);
        user.extra
            .insert(POD_UID_KEY.into(), vec![pod_uid.unwrap_or_default().into()]);
    }
    if let (Some(node_name), node_uid) = object("node")? {
        user.extra
            .insert(NODE_NAME_KEY.into(), vec![node_name.into()]);
        // As the apiserver: the node uid is set only together with the node name.
        if let Some(node_uid) = node_uid.filter(|u| !u.is_empty()) {
            user.extra
                .insert(NODE_UID_KEY.into(), vec![node_uid.into()]);
        }
    }
    if let Some(jti) = text(claims.get("jti"), "jti")?.filter(|j| !j.is_empty()) {
        user.extra
            .insert(CREDENTIAL_ID_KEY.into(), vec![format!("JTI={jti}")]);
    }
    Ok(user)
}

/// The service account `namespace`/`name` as the apiserver names it, with its two groups
/// (without `system:authenticated`): for identities that come from elsewhere than a token
/// (a SPIFFE peer). The caller has checked both are Kubernetes names.
pub fn service_account(namespace: &str, name: &str) -> UserInfo {
    UserInfo {
        username: format!("{SERVICE_ACCOUNT_USERNAME_PREFIX}{namespace}:{name}"),
        groups: vec![
            ALL_SERVICE_ACCOUNTS.to_string(),
            format!("{ALL_SERVICE_ACCOUNTS}:{namespace}"),
        ],
        ..UserInfo::default()
    }
}

fn base_user(namespace: &str, name: &str, uid: &str) -> Result<UserInfo, IdentityError> {
    // A ':' would let `ns:a` + `b` and `ns` + `a:b` produce the same username.
    if namespace.contains(':') || name.contains(':') {
        return Err(IdentityError::new(
            "kubernetes.io",
            "namespace and service-account name must not contain ':'",
        ));
    }
    Ok(UserInfo {
        uid: uid.to_string(),
        ..service_account(namespace, name)
    })
}
