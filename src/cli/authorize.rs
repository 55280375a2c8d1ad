//! `meshguard can-i` and `meshguard who-can`: RBAC questions against bundle files, answered
//! the way `kubectl auth can-i` answers them against a cluster.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use meshguard::identity::UserInfo;
use meshguard::rbac::authorizer::SERVICE_ACCOUNT_USER_PREFIX;
use meshguard::rbac::{Attributes, Authorizer, Decision};
use meshguard::request_info::{Protocol, RequestInfo, RequestMapper, Workload};

use super::{files, print_line, resources, Failure};

/// The workload and protocol a request is mapped for (`request-info`, `can-i --config`).
#[derive(Args)]
pub(crate) struct RequestArgs {
    /// The workload's namespace (Istio node metadata `NAMESPACE`), for the service modes
    /// (default: `-n`, else `default`).
    #[arg(long = "workload-namespace")]
    workload_namespace: Option<String>,
    /// The workload's service (Istio canonical service), for `serviceProxy` mode.
    #[arg(long = "workload-service", default_value = "")]
    workload_service: String,
    /// Map the request as a gRPC call (`content-type: application/grpc`).
    #[arg(long)]
    grpc: bool,
}

impl RequestArgs {
    /// Maps `METHOD URL` (a full URL or a path with its query) as `mapper` does.
    pub(crate) fn resolve(
        &self,
        mapper: &RequestMapper,
        method: &str,
        url: &str,
        namespace: Option<&str>,
    ) -> Result<RequestInfo, Failure> {
        // Accept a full URL: drop the scheme and authority, keep path and query.
        let target = match url.split_once("://") {
            Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
            None => url,
        };
        let workload = Workload {
            namespace: self
                .workload_namespace
                .as_deref()
                .or(namespace)
                .unwrap_or("default")
                .to_owned(),
            service: self.workload_service.clone(),
        };
        let protocol = if self.grpc {
            Protocol::Grpc
        } else {
            Protocol::Http
        };
        mapper
            .resolve(&method.to_ascii_uppercase(), target, &workload, protocol)
            .map_err(|e| Failure(format!("{url}: {e}")))
    }
}

/// What the question is about, shared by `can-i` and `who-can`.
#[derive(Args)]
pub(crate) struct Target {
    /// Bundle files: PolicyBundle, List, multi-document YAML or JSON, RBAC objects (default
    /// with `--config`: its inline bundle).
    #[arg(long, num_args = 1..)]
    bundle: Vec<String>,
    /// A plugin configuration: the words are then `METHOD PATH`, a request mapped as the
    /// configuration maps it.
    #[arg(long)]
    config: Option<String>,
    /// Check the bundle against these guardrails instead of its own (the defaults refuse,
    /// e.g., write verbs granted to `system:authenticated`).
    #[arg(long)]
    guardrails: Option<String>,
    #[command(flatten)]
    request: RequestArgs,
    /// The namespace (default: `default`, as kubectl without a context).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Ask at the cluster scope (no namespace).
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// A subresource (`log`, `status`, `scale`).
    #[arg(long)]
    subresource: Option<String>,
}

#[derive(Args)]
pub(crate) struct CanIArgs {
    /// VERB TYPE[.GROUP][/NAME] [NAME], or VERB /NON-RESOURCE-URL.
    words: Vec<String>,
    #[command(flatten)]
    target: Target,
    /// The user to ask for (`system:serviceaccount:NS:NAME` gets the service-account groups).
    #[arg(long = "as")]
    as_user: String,
    /// A group of the user (repeatable).
    #[arg(long = "as-group")]
    as_group: Vec<String>,
    /// Print why: the binding, role, subject and rule that allow, or that nothing does.
    #[arg(long)]
    explain: bool,
    /// List every rule that applies to the user in the namespace.
    #[arg(long)]
    list: bool,
}

#[derive(Args)]
pub(crate) struct WhoCanArgs {
    /// VERB TYPE[.GROUP][/NAME] [NAME], or VERB /NON-RESOURCE-URL.
    words: Vec<String>,
    #[command(flatten)]
    target: Target,
}

/// The user as the apiserver builds it when impersonating: service accounts get their groups
/// when no group is given, every user but `system:anonymous` gets `system:authenticated`, and
/// `system:anonymous` gets `system:unauthenticated`.
pub(crate) fn impersonated_user(username: &str, groups: &[String]) -> UserInfo {
    let mut all: Vec<String> = groups.to_vec();
    if groups.is_empty() {
        if let Some((namespace, _)) = username
            .strip_prefix(SERVICE_ACCOUNT_USER_PREFIX)
            .and_then(|rest| rest.split_once(':'))
        {
            all.push("system:serviceaccounts".to_owned());
            all.push(format!("system:serviceaccounts:{namespace}"));
        }
    }
    let implied = if username == "system:anonymous" {
        "system:unauthenticated"
    } else {
        "system:authenticated"
    };
    if !all.iter().any(|g| g == implied) {
        all.push(implied.to_owned());
    }
    UserInfo {
        username: username.to_owned(),
        groups: all,
        ..UserInfo::default()
    }
}

impl Target {
    fn namespace(&self) -> String {
        if self.all_namespaces {
            String::new()
        } else {
            self.namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned())
        }
    }

    fn authorizer(&self) -> Result<Authorizer, Failure> {
        if self.bundle.is_empty() {
            let Some(path) = &self.config else {
                return Err(Failure(
                    "--bundle FILE… is required (or --config with an inline bundle)".to_owned(),
                ));
            };
            let engine = files::read_config(path)?
                .engine()
                .map_err(|e| Failure(format!("{path}: {e}")))?;
            return match engine.policy.map(Arc::try_unwrap) {
                Some(Ok(policy)) => Ok(policy.authorizer),
                Some(Err(_)) | None => Err(Failure(format!(
                    "{path}: the bundle comes from authorization.bundleSource: give it with --bundle"
                ))),
            };
        }
        let bundle = files::read_guarded_bundle(&self.bundle, self.guardrails.as_deref())?
            .map_err(|e| Failure(e.to_string()))?;
        Ok(bundle.compile().authorizer)
    }

    /// The words as attributes: with `--config`, `METHOD PATH` mapped as the configuration
    /// maps it; otherwise `VERB TYPE[.GROUP][/NAME] [NAME]` or `VERB /URL`.
    fn attributes(&self, words: &[String]) -> Result<Attributes, Failure> {
        if let Some(path) = &self.config {
            let [method, url] = words else {
                return Err(Failure(
                    "with --config, expected METHOD PATH (GET /orders/42)".to_owned(),
                ));
            };
            let mapper = files::read_config(path)?
                .request_mapper()
                .map_err(|e| Failure(format!("{path}: {e}")))?;
            return Ok(self
                .request
                .resolve(&mapper, method, url, self.namespace.as_deref())?
                .into_attributes());
        }
        let (verb, what, extra_name) = match words {
            [verb, what] => (verb, what, None),
            [verb, what, name] => (verb, what, Some(name)),
            _ => {
                return Err(Failure(
                    "expected VERB TYPE[.GROUP][/NAME] [NAME] or VERB /NON-RESOURCE-URL".to_owned(),
                ))
            }
        };
        if what.starts_with('/') {
            if extra_name.is_some() || self.subresource.is_some() {
                return Err(Failure(
                    "a non-resource URL takes no name and no subresource".to_owned(),
                ));
            }
            return Ok(Attributes::non_resource(verb, what));
        }
        let (kind, slash_name) = match what.split_once('/') {
            Some((kind, name)) => (kind, Some(name)),
            None => (what.as_str(), None),
        };
        let name = match (slash_name, extra_name) {
            (Some(_), Some(_)) => {
                return Err(Failure(
                    "give the name either as TYPE/NAME or as a separate word, not both".to_owned(),
                ))
            }
            (Some(name), None) => name.to_owned(),
            (None, Some(name)) => name.clone(),
            (None, None) => String::new(),
        };
        let resource = resources::resolve(kind);
        let namespace = if resource.group.is_empty() && resource.resource == "namespaces" {
            // As the apiserver's RequestInfo reads /api/v1/namespaces/NAME: the request is in
            // namespace NAME, where a RoleBinding can grant it (a list is cluster-wide).
            name.clone()
        } else if resource.cluster_scoped {
            String::new()
        } else {
            self.namespace()
        };
        Ok(
            Attributes::resource(verb, &namespace, &resource.group, &resource.resource)
                .named(&name)
                .on_subresource(self.subresource.as_deref().unwrap_or_default()),
        )
    }
}

fn resource_text(resource: &str, group: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

fn bracketed(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

pub(crate) fn can_i(args: CanIArgs) -> Result<ExitCode, Failure> {
    let authorizer = args.target.authorizer()?;
    let user = impersonated_user(&args.as_user, &args.as_group);
    if args.list {
        if !args.words.is_empty() {
            return Err(Failure("--list takes no VERB or TYPE".to_owned()));
        }
        let rules = authorizer.rules_for(&user, &args.target.namespace());
        let mut rows = vec![[
            "Resources".to_owned(),
            "Non-Resource URLs".to_owned(),
            "Resource Names".to_owned(),
            "Verbs".to_owned(),
            "Source".to_owned(),
        ]];
        for applied in &rules {
            let rule = applied.rule;
            let resources: Vec<String> = rule
                .resources
                .iter()
                .flat_map(|r| rule.api_groups.iter().map(move |g| resource_text(r, g)))
                .collect();
            rows.push([
                resources.join(","),
                bracketed(&rule.non_resource_urls),
                bracketed(&rule.resource_names),
                bracketed(&rule.verbs),
                format!("{} rule {}", applied.source, applied.source.rule_index),
            ]);
        }
        print_table(&rows);
        return Ok(ExitCode::SUCCESS);
    }
    let attributes = args.target.attributes(&args.words)?;
    let decision = authorizer.authorize(&user, &attributes);
    print_line(if decision.allowed() { "yes" } else { "no" });
    if args.explain {
        print_line(&format!(
            "user: {} groups: {}",
            user.username,
            user.groups.join(",")
        ));
        match &decision {
            Decision::Allow(source) => {
                print_line(&format!(
                    "{} (rule {})",
                    decision.reason(),
                    source.rule_index
                ));
            }
            Decision::Deny { missing_roles } => {
                print_line(&format!(
                    "{}: {}",
                    decision.reason(),
                    attributes.forbidden_message(&user.username)
                ));
                for missing in missing_roles {
                    print_line(&format!("note: {missing}"));
                }
            }
        }
    }
    Ok(if decision.allowed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

pub(crate) fn who_can(args: WhoCanArgs) -> Result<ExitCode, Failure> {
    let authorizer = args.target.authorizer()?;
    let attributes = args.target.attributes(&args.words)?;
    let mut rows = vec![[
        "KIND".to_owned(),
        "NAME".to_owned(),
        "NAMESPACE".to_owned(),
        "BINDING".to_owned(),
        "ROLE".to_owned(),
    ]];
    for source in authorizer.subjects_allowed(&attributes) {
        let binding = if source.binding_namespace.is_empty() {
            format!("{} {}", source.binding_kind.as_str(), source.binding_name)
        } else {
            format!(
                "{} {}/{}",
                source.binding_kind.as_str(),
                source.binding_namespace,
                source.binding_name
            )
        };
        rows.push([
            source.subject.kind.clone(),
            source.subject.name.clone(),
            source.subject.namespace.clone(),
            binding,
            format!(
                "{} {} (rule {})",
                source.role_kind, source.role_name, source.rule_index
            ),
        ]);
    }
    if rows.len() == 1 {
        print_line("no subject is allowed");
    } else {
        print_table(&rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints rows as left-aligned columns.
pub(crate) fn print_table<const N: usize>(rows: &[[String; N]]) {
    let mut widths = [0; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        print_line(line.trim_end());
    }
}
