//! The policy bundle: RBAC objects, a revocation list and guardrails, loaded and validated as
//! the kube-apiserver would validate the objects, with a content revision.
//!
//! A bundle is read from any mix of: `PolicyBundle` documents (the canonical form that
//! `meshguard bundle build` writes), Kubernetes `List`s (`kubectl get … -o yaml`), JSON arrays
//! and single RBAC objects. Every problem is reported with its source, object and field; a
//! bundle with any problem is refused as a whole.

mod guardrails;
mod revocation;
pub mod signature;
pub mod validate;

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use guardrails::{
    ClusterRoleBindingAllowList, CreateDelete, Enforcement, Guardrails, ProtectedNamespaces,
    Switch, Violation,
};
pub use revocation::{IssuedBefore, RevocationList, Revocations};

use crate::json;
use crate::rbac::aggregation::resolve_aggregation;
use crate::rbac::types::{
    name_order, ClusterRole, ObjectMeta, Role, RoleBinding, RBAC_API_VERSION,
};
use crate::rbac::{Authorizer, RbacObjects};
use crate::token::secret::{BootstrapTokenSpec, StaticTokenSpec};
use crate::token::SecretTokens;

/// `apiVersion` of bundle documents.
pub const BUNDLE_API_VERSION: &str = "meshguard.io/v1alpha1";
/// `kind` of bundle documents.
pub const BUNDLE_KIND: &str = "PolicyBundle";

/// One problem in a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleError {
    /// Where the object came from (file and document, or `bundle`).
    pub source: String,
    /// The object (`RoleBinding orders/view`), or empty for the document itself.
    pub object: String,
    /// The field path inside the object, or empty.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<&str> = [&self.source, &self.object, &self.field]
            .into_iter()
            .map(String::as_str)
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", parts.join(": "), self.message)
        }
    }
}

/// Every problem of a refused bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleErrors(pub Vec<BundleError>);

impl fmt::Display for BundleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// A loaded, validated bundle, in canonical order (each list sorted by namespace and name),
/// with ClusterRole aggregation resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    /// The RBAC objects.
    pub rbac: RbacObjects,
    /// The revocation list.
    pub revocations: Revocations,
    /// Static tokens (digests only).
    pub static_tokens: Vec<StaticTokenSpec>,
    /// Bootstrap tokens (secret digests only).
    pub bootstrap_tokens: Vec<BootstrapTokenSpec>,
    /// The guardrails written in the bundle, if any.
    pub guardrails: Option<Guardrails>,
    /// `sha256:` and the hex digest of the canonical JSON form (without the revision).
    pub revision: String,
    /// Guardrail violations in `warn` mode.
    pub warnings: Vec<Violation>,
}

/// A compiled bundle: what the request path uses.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The RBAC authorizer.
    pub authorizer: Authorizer,
    /// The revocation list.
    pub revocations: RevocationList,
    /// Static and bootstrap tokens (shared with the authenticator).
    pub tokens: Arc<SecretTokens>,
    /// The bundle revision decisions report (shared with every decision record).
    pub revision: Arc<str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BundleDocument {
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    revision: Option<String>,
    // The object lists: emptied before this parse (see `add_bundle_document`); declared so
    // that a value that is not a list is refused here.
    #[allow(dead_code)]
    #[serde(default)]
    roles: Vec<Value>,
    #[allow(dead_code)]
    #[serde(default)]
    cluster_roles: Vec<Value>,
    #[allow(dead_code)]
    #[serde(default)]
    role_bindings: Vec<Value>,
    #[allow(dead_code)]
    #[serde(default)]
    cluster_role_bindings: Vec<Value>,
    #[serde(default)]
    revocations: Option<Revocations>,
    #[serde(default)]
    static_tokens: Vec<StaticTokenSpec>,
    #[serde(default)]
    bootstrap_tokens: Vec<BootstrapTokenSpec>,
    #[serde(default)]
    guardrails: Option<Guardrails>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ListDocument {
    #[allow(dead_code)]
    api_version: Option<String>,
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    items: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CanonicalBundle<'a> {
    api_version: &'a str,
    kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<&'a str>,
    roles: &'a [Role],
    cluster_roles: &'a [ClusterRole],
    role_bindings: &'a [RoleBinding],
    cluster_role_bindings: &'a [RoleBinding],
    #[serde(skip_serializing_if = "Revocations::is_empty")]
    revocations: &'a Revocations,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    static_tokens: &'a [StaticTokenSpec],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    bootstrap_tokens: &'a [BootstrapTokenSpec],
    #[serde(skip_serializing_if = "Option::is_none")]
    guardrails: Option<&'a Guardrails>,
}

/// Reads documents into a bundle.
#[derive(Debug, Default)]
pub struct BundleBuilder {
    objects: RbacObjects,
    revocations: Revocations,
    static_tokens: Vec<StaticTokenSpec>,
    bootstrap_tokens: Vec<BootstrapTokenSpec>,
    guardrails: Option<Guardrails>,
    guardrails_override: Option<Guardrails>,
    /// Sources of content added so far: bundle documents, and objects outside one.
    sources: usize,
    /// The revision the first source declared, while it is the only source: the builder's
    /// content is then that source's alone, so no copy of the document is kept to check it.
    first_declared: Option<(String, String)>,
    /// Revisions declared by later bundle documents, each with its document to build alone.
    declared_revisions: Vec<(String, String, Value)>,
    /// Declared revisions that do not match their content.
    revision_errors: Vec<BundleError>,
    errors: Vec<BundleError>,
}

fn error(source: &str, object: &str, field: &str, message: impl Into<String>) -> BundleError {
    BundleError {
        source: source.to_owned(),
        object: object.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// `Kind namespace/name` from a raw object, as well as can be read before it is parsed.
fn describe_raw(kind: &str, value: &Value) -> String {
    let meta = value.get("metadata");
    let text = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (namespace, name) = (text("namespace"), text("name"));
    match (namespace.is_empty(), name.is_empty()) {
        (_, true) => format!("{kind} (unnamed)"),
        (true, false) => format!("{kind} {name}"),
        (false, false) => format!("{kind} {namespace}/{name}"),
    }
}

impl BundleBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        BundleBuilder::default()
    }

    /// Uses these guardrails instead of any written in the documents (`lint --guardrails`).
    pub fn with_guardrails(mut self, guardrails: Guardrails) -> Self {
        self.guardrails_override = Some(guardrails);
        self
    }

    /// Adds one parsed document (a bundle, a List, an array, one object, or null for an
    /// empty YAML document). `source` names it in errors.
    pub fn add_document(&mut self, source: &str, value: Value) {
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    self.add_document(&format!("{source}[{i}]"), item);
                }
            }
            Value::Object(ref map) => {
                let kind = map
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                match kind.as_str() {
                    BUNDLE_KIND => self.add_bundle_document(source, value),
                    "List" => match json::from_value::<ListDocument>(&value) {
                        Ok(list) => {
                            for (i, item) in list.items.into_iter().enumerate() {
                                self.add_document(&format!("{source}: items[{i}]"), item);
                            }
                        }
                        Err(e) => self.errors.push(error(
                            source,
                            "List",
                            e.field(),
                            e.message.clone(),
                        )),
                    },
                    "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => {
                        self.begin_source();
                        self.add_object(source, &kind, value);
                    }
                    "" => self.errors.push(error(
                        source,
                        "",
                        "kind",
                        "Required value: expected an RBAC object, a List or a PolicyBundle",
                    )),
                    other => self.errors.push(error(
                        source,
                        &describe_raw(other, &value),
                        "kind",
                        format!(
                            "Unsupported value {other:?}: supported values: \"Role\", \"ClusterRole\", \"RoleBinding\", \"ClusterRoleBinding\", \"List\", \"{BUNDLE_KIND}\""
                        ),
                    )),
                }
            }
            _ => self.errors.push(error(
                source,
                "",
                "",
                "expected an RBAC object, a List or a PolicyBundle",
            )),
        }
    }

    fn add_bundle_document(&mut self, source: &str, mut value: Value) {
        self.begin_source();
        let declared = value
            .get("revision")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(declared) = declared {
            if self.sources == 1 {
                self.first_declared = Some((source.to_owned(), declared));
            } else {
                let mut unstamped = value.clone();
                if let Some(map) = unstamped.as_object_mut() {
                    map.remove("revision");
                }
                self.declared_revisions
                    .push((source.to_owned(), declared, unstamped));
            }
        }
        // The object lists are taken out (an empty list left in their place) before the typed
        // parse of the rest, which would otherwise copy them only to hand them back. A value
        // that is not a list stays, for that parse to refuse with its field.
        let mut take = |field: &str| match value.get_mut(field) {
            Some(Value::Array(items)) => std::mem::take(items),
            _ => Vec::new(),
        };
        let roles = take("roles");
        let cluster_roles = take("clusterRoles");
        let role_bindings = take("roleBindings");
        let cluster_role_bindings = take("clusterRoleBindings");
        let document = match json::from_value::<BundleDocument>(&value) {
            Ok(document) => document,
            Err(e) => {
                self.errors
                    .push(error(source, BUNDLE_KIND, e.field(), e.message.clone()));
                return;
            }
        };
        if document.api_version != BUNDLE_API_VERSION {
            self.errors.push(error(
                source,
                BUNDLE_KIND,
                "apiVersion",
                format!(
                    "Unsupported value {:?}: supported values: \"{BUNDLE_API_VERSION}\"",
                    document.api_version
                ),
            ));
        }
        let _ = document.revision;
        let lists = [
            ("Role", "roles", roles),
            ("ClusterRole", "clusterRoles", cluster_roles),
            ("RoleBinding", "roleBindings", role_bindings),
            (
                "ClusterRoleBinding",
                "clusterRoleBindings",
                cluster_role_bindings,
            ),
        ];
        for (kind, field, items) in lists {
            for (i, mut item) in items.into_iter().enumerate() {
                let item_source = format!("{source}: {field}[{i}]");
                match item.get("kind").and_then(Value::as_str) {
                    Some(written) if written != kind => {
                        self.errors.push(error(
                            &item_source,
                            &describe_raw(kind, &item),
                            "kind",
                            format!(
                                "Invalid value {written:?}: the {field} list holds {kind} objects"
                            ),
                        ));
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        if let Some(map) = item.as_object_mut() {
                            map.insert("kind".into(), Value::String(kind.to_owned()));
                        }
                    }
                }
                self.add_object(&item_source, kind, item);
            }
        }
        if let Some(revocations) = document.revocations {
            self.revocations.extend(revocations);
        }
        self.static_tokens.extend(document.static_tokens);
        self.bootstrap_tokens.extend(document.bootstrap_tokens);
        if let Some(guardrails) = document.guardrails {
            if self.guardrails.is_some() {
                self.errors.push(error(
                    source,
                    BUNDLE_KIND,
                    "guardrails",
                    "Duplicate value: guardrails are already set by another document",
                ));
            } else {
                self.guardrails = Some(guardrails);
            }
        }
    }

    /// Counts a new source of content. When a second one arrives, the first one's declared
    /// revision is checked against the content so far, which is the first source's alone.
    fn begin_source(&mut self) {
        self.sources += 1;
        if let Some((source, declared)) = self.first_declared.take() {
            let alone = BundleBuilder {
                objects: self.objects.clone(),
                revocations: self.revocations.clone(),
                static_tokens: self.static_tokens.clone(),
                bootstrap_tokens: self.bootstrap_tokens.clone(),
                guardrails: self.guardrails.clone(),
                errors: self.errors.clone(),
                ..BundleBuilder::default()
            };
            self.revision_errors
                .extend(alone_revision_error(&source, &declared, alone));
        }
    }

    fn add_object(&mut self, source: &str, kind: &str, value: Value) {
        let object = describe_raw(kind, &value);
        if let Some(version) = value.get("apiVersion") {
            if version.as_str() != Some(RBAC_API_VERSION) {
                self.errors.push(error(
                    source,
                    &object,
                    "apiVersion",
                    format!(
                        "Unsupported value {version}: supported values: \"{RBAC_API_VERSION}\""
                    ),
                ));
                return;
            }
        }
        let mut failed = |e: json::PathError| {
            self.errors
                .push(error(source, &object, e.field(), e.message.clone()));
        };
        let problems = match kind {
            "Role" => match json::from_value::<Role>(&value) {
                Ok(mut role) => {
                    role.api_version = Some(RBAC_API_VERSION.into());
                    role.kind = Some(kind.into());
                    role.metadata.clear_server_fields();
                    let problems = validate::validate_role(&role);
                    self.objects.roles.push(role);
                    problems
                }
                Err(e) => return failed(e),
            },
            "ClusterRole" => match json::from_value::<ClusterRole>(&value) {
                Ok(mut role) => {
                    role.api_version = Some(RBAC_API_VERSION.into());
                    role.kind = Some(kind.into());
                    role.metadata.clear_server_fields();
                    let problems = validate::validate_cluster_role(&role);
                    self.objects.cluster_roles.push(role);
                    problems
                }
                Err(e) => return failed(e),
            },
            _ => match json::from_value::<RoleBinding>(&value) {
                Ok(mut binding) => {
                    binding.api_version = Some(RBAC_API_VERSION.into());
                    binding.kind = Some(kind.into());
                    binding.metadata.clear_server_fields();
                    let namespaced = kind == "RoleBinding";
                    let problems = validate::validate_binding(&binding, namespaced);
                    if namespaced {
                        self.objects.role_bindings.push(binding);
                    } else {
                        self.objects.cluster_role_bindings.push(binding);
                    }
                    problems
                }
                Err(e) => return failed(e),
            },
        };
        for (field, message) in problems {
            self.errors.push(error(source, &object, &field, message));
        }
    }

    /// Validates the whole, resolves aggregation, checks guardrails and stamps the revision.
    pub fn build(mut self) -> Result<Bundle, BundleErrors> {
        self.check_duplicates();
        if let Err((field, message)) =
            SecretTokens::compile(&self.static_tokens, &self.bootstrap_tokens)
        {
            self.errors
                .push(error("bundle", BUNDLE_KIND, &field, message));
        }
        if !self.errors.is_empty() {
            return Err(BundleErrors(self.errors));
        }
        let mut objects = self.objects;
        sort_by_name(&mut objects.roles, |r| &r.metadata);
        sort_by_name(&mut objects.cluster_roles, |r| &r.metadata);
        sort_by_name(&mut objects.role_bindings, |r| &r.metadata);
        sort_by_name(&mut objects.cluster_role_bindings, |r| &r.metadata);
        resolve_aggregation(&mut objects.cluster_roles);
        let mut revocations = self.revocations;
        revocations.canonicalize();
        let mut bundle = Bundle {
            rbac: objects,
            revocations,
            static_tokens: self.static_tokens,
            bootstrap_tokens: self.bootstrap_tokens,
            guardrails: self.guardrails,
            revision: String::new(),
            warnings: Vec::new(),
        };
        bundle.revision = bundle.compute_revision();

        // The first source's revision, checked when a second source arrived; or, when it is
        // the only source, the bundle's own revision is that source's.
        let mut errors = self.revision_errors;
        if let Some((source, declared)) = &self.first_declared {
            errors.extend(revision_error(source, declared, &bundle.revision));
        }
        for (source, declared, unstamped) in self.declared_revisions {
            let mut alone = BundleBuilder::new();
            alone.add_document(&source, unstamped);
            errors.extend(alone_revision_error(&source, &declared, alone));
        }
        let guardrails = self
            .guardrails_override
            .or_else(|| bundle.guardrails.clone())
            .unwrap_or_default();
        for violation in guardrails.check(&bundle.rbac) {
            if violation.enforcement == Enforcement::Enforce {
                errors.push(error(
                    "guardrail",
                    &violation.object,
                    "",
                    format!("{}: {}", violation.guardrail, violation.message),
                ));
            } else {
                bundle.warnings.push(violation);
            }
        }
        if errors.is_empty() {
            Ok(bundle)
        } else {
            Err(BundleErrors(errors))
        }
    }

    /// Builds without revision or guardrail checks (to compute a document's own revision).
    fn build_unchecked(mut self) -> Result<Bundle, BundleErrors> {
        self.declared_revisions.clear();
        self.first_declared = None;
        self.guardrails_override = Some(Guardrails {
            unauthenticated_writes: Some(Switch::default()),
            escalation_verbs: Some(Switch::default()),
            ..Guardrails::default()
        });
        let own = self.guardrails.clone();
        let mut bundle = self.build()?;
        bundle.guardrails = own;
        Ok(bundle)
    }

    fn check_duplicates(&mut self) {
        let mut seen = BTreeSet::new();
        let names = self
            .objects
            .roles
            .iter()
            .map(|r| ("Role", &r.metadata))
            .chain(
                self.objects
                    .cluster_roles
                    .iter()
                    .map(|r| ("ClusterRole", &r.metadata)),
            )
            .chain(
                self.objects
                    .role_bindings
                    .iter()
                    .map(|r| ("RoleBinding", &r.metadata)),
            )
            .chain(
                self.objects
                    .cluster_role_bindings
                    .iter()
                    .map(|r| ("ClusterRoleBinding", &r.metadata)),
            );
        for (kind, meta) in names {
            if !seen.insert((kind, meta.namespace.clone(), meta.name.clone())) {
                let object = if meta.namespace.is_empty() {
                    format!("{kind} {}", meta.name)
                } else {
                    format!("{kind} {}/{}", meta.namespace, meta.name)
                };
                self.errors.push(error(
                    "bundle",
                    &object,
                    "metadata.name",
                    "Duplicate value: the bundle holds this object twice",
                ));
            }
        }
    }
}

/// Puts objects of one kind in canonical order: by namespace, then name (unique once
/// `check_duplicates` has passed, so an unstable sort is deterministic). The indices are sorted
/// rather than the objects, so that one copy of the sort serves every kind.
fn sort_by_name<T>(items: &mut Vec<T>, meta: impl Fn(&T) -> &ObjectMeta) {
    let keys: Vec<(&str, &str)> = items
        .iter()
        .map(|item| {
            let meta = meta(item);
            (meta.namespace.as_str(), meta.name.as_str())
        })
        .collect();
    let order = name_order(&keys);
    let mut slots: Vec<Option<T>> = items.drain(..).map(Some).collect();
    items.extend(
        order
            .into_iter()
            .filter_map(|i| slots.get_mut(i).and_then(Option::take)),
    );
}

/// The error for a source whose content (`alone`) builds to another revision than the one it
/// declared.
fn alone_revision_error(source: &str, declared: &str, alone: BundleBuilder) -> Option<BundleError> {
    let original = alone.build_unchecked().ok()?;
    revision_error(source, declared, &original.revision)
}

/// The error for a declared revision that is not the content's, if it is not.
fn revision_error(source: &str, declared: &str, actual: &str) -> Option<BundleError> {
    (declared != actual).then(|| {
        error(
            source,
            BUNDLE_KIND,
            "revision",
            format!(
                "Invalid value {declared:?}: the content's revision is {actual:?} (edited after `meshguard bundle build`?)"
            ),
        )
    })
}

impl Bundle {
    /// Loads a bundle from one JSON value (what the plugin configuration carries inline).
    pub fn from_value(value: Value) -> Result<Bundle, BundleErrors> {
        let mut builder = BundleBuilder::new();
        builder.add_document("bundle", value);
        builder.build()
    }

    /// Loads a bundle from JSON text.
    pub fn from_json_str(text: &str) -> Result<Bundle, BundleErrors> {
        Bundle::from_json_bytes(text.as_bytes())
    }

    /// Loads a bundle from JSON bytes, as a bundle server serves them (UTF-8 is checked).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Bundle, BundleErrors> {
        let value = serde_json::from_slice(bytes).map_err(|e| {
            BundleErrors(vec![error("bundle", "", "", format!("invalid JSON: {e}"))])
        })?;
        Bundle::from_value(value)
    }

    fn canonical(&self, revision: Option<&str>) -> String {
        let canonical = CanonicalBundle {
            api_version: BUNDLE_API_VERSION,
            kind: BUNDLE_KIND,
            revision,
            roles: &self.rbac.roles,
            cluster_roles: &self.rbac.cluster_roles,
            role_bindings: &self.rbac.role_bindings,
            cluster_role_bindings: &self.rbac.cluster_role_bindings,
            revocations: &self.revocations,
            static_tokens: &self.static_tokens,
            bootstrap_tokens: &self.bootstrap_tokens,
            guardrails: self.guardrails.as_ref(),
        };
        serde_json::to_string(&canonical).unwrap_or_default()
    }

    fn compute_revision(&self) -> String {
        signature::digest(self.canonical(None).as_bytes())
    }

    /// The canonical JSON form, revision stamped: what `meshguard bundle build` writes.
    pub fn to_canonical_json(&self) -> String {
        self.canonical(Some(&self.revision))
    }

    /// Compiles the bundle for the request path.
    pub fn compile(&self) -> Policy {
        Policy {
            authorizer: Authorizer::new(&self.rbac),
            revocations: self.revocations.compile(),
            // Checked when the bundle was built: an entry that does not compile refused it.
            tokens: Arc::new(
                SecretTokens::compile(&self.static_tokens, &self.bootstrap_tokens)
                    .unwrap_or_default(),
            ),
            revision: Arc::from(self.revision.as_str()),
        }
    }
}

impl Bundle {
    /// The same bundle with guardrails embedded (the revision follows the content).
    pub fn with_guardrails(mut self, guardrails: Guardrails) -> Bundle {
        self.guardrails = Some(guardrails);
        self.revision = self.compute_revision();
        self
    }

    /// Bindings whose role is not in the bundle: legal (the apiserver stores them, and they
    /// grant nothing) but usually a mistake, so `lint` reports them.
    pub fn dangling_references(&self) -> Vec<String> {
        let roles: BTreeSet<(&str, &str)> = self
            .rbac
            .roles
            .iter()
            .map(|r| (r.metadata.namespace.as_str(), r.metadata.name.as_str()))
            .collect();
        let cluster_roles: BTreeSet<&str> = self
            .rbac
            .cluster_roles
            .iter()
            .map(|r| r.metadata.name.as_str())
            .collect();
        let mut dangling = Vec::new();
        let bindings = self
            .rbac
            .cluster_role_bindings
            .iter()
            .map(|b| ("ClusterRoleBinding", b))
            .chain(self.rbac.role_bindings.iter().map(|b| ("RoleBinding", b)));
        for (kind, binding) in bindings {
            let namespace = binding.metadata.namespace.as_str();
            let name = binding.role_ref.name.as_str();
            let exists = match binding.role_ref.kind.as_str() {
                "Role" => roles.contains(&(namespace, name)),
                _ => cluster_roles.contains(name),
            };
            if !exists {
                let place = if namespace.is_empty() {
                    binding.metadata.name.clone()
                } else {
                    format!("{namespace}/{}", binding.metadata.name)
                };
                dangling.push(format!(
                    "{kind} {place} refers to {} {name}, which is not in the bundle (it grants nothing)",
                    binding.role_ref.kind
                ));
            }
        }
        dangling
    }
}
