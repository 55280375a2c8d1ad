//! A proxy-wasm host on wasmtime: loads the built `.wasm` and drives it through Envoy's
//! lifecycle (ABI 0.2.1), with every input and output as plain state in the `Store`.
//!
//! State-based: a test sets inputs (configuration, properties, headers, time), calls a
//! lifecycle step, and inspects outputs (local reply, headers, logs, metrics, properties,
//! callouts). Nothing is global but the compiled module, which is immutable code. An import the
//! module needs and this host lacks fails instantiation, and so the test.

mod abi;
mod foreign;
mod wasi;

#[allow(unused_imports)] // not every test binary calls the function directly
pub use foreign::{verify_signature, ForeignCrypto};

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::OnceLock;

use wasmtime::{Config, Engine, Instance, Linker, Module, Store, TypedFunc, Val};

/// WasmResult codes of the ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    Ok = 0,
    NotFound = 1,
    BadArgument = 2,
    SerializationFailure = 3,
    Empty = 7,
    CasMismatch = 8,
    InternalFailure = 10,
}

/// Log levels of the ABI, Trace = 0 … Critical = 5.
pub const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "critical"];

/// Header maps the ABI names (`proxy_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    RequestHeaders = 0,
    RequestTrailers = 1,
    ResponseHeaders = 2,
    ResponseTrailers = 3,
    GrpcInitialMetadata = 4,
    GrpcTrailingMetadata = 5,
    HttpCallResponseHeaders = 6,
    HttpCallResponseTrailers = 7,
}

impl MapType {
    fn from_abi(value: i32) -> Option<MapType> {
        Some(match value {
            0 => MapType::RequestHeaders,
            1 => MapType::RequestTrailers,
            2 => MapType::ResponseHeaders,
            3 => MapType::ResponseTrailers,
            4 => MapType::GrpcInitialMetadata,
            5 => MapType::GrpcTrailingMetadata,
            6 => MapType::HttpCallResponseHeaders,
            7 => MapType::HttpCallResponseTrailers,
            _ => return None,
        })
    }
}

/// Buffers the ABI names (`proxy_buffer_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BufferType {
    RequestBody = 0,
    ResponseBody = 1,
    DownstreamData = 2,
    UpstreamData = 3,
    HttpCallResponseBody = 4,
    GrpcReceiveBuffer = 5,
    VmConfiguration = 6,
    PluginConfiguration = 7,
    CallData = 8,
}

impl BufferType {
    fn from_abi(value: i32) -> Option<BufferType> {
        Some(match value {
            0 => BufferType::RequestBody,
            1 => BufferType::ResponseBody,
            2 => BufferType::DownstreamData,
            3 => BufferType::UpstreamData,
            4 => BufferType::HttpCallResponseBody,
            5 => BufferType::GrpcReceiveBuffer,
            6 => BufferType::VmConfiguration,
            7 => BufferType::PluginConfiguration,
            8 => BufferType::CallData,
            _ => return None,
        })
    }
}

/// What a filter callback asked the host to do with the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
}

/// A local reply (`proxy_send_local_response`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalReply {
    pub status: u32,
    pub details: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub grpc_status: i32,
}

impl LocalReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A metric the module defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Metric {
    pub name: String,
    /// 0 counter, 1 gauge, 2 histogram.
    pub kind: i32,
    pub value: i64,
}

/// An outgoing HTTP call (`proxy_http_call`), waiting for [`Host::http_call_response`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpCall {
    pub token: u32,
    /// The context that dispatched it, to which the response goes.
    pub context_id: u32,
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
    pub timeout_ms: u32,
}

/// Shared data: values and their compare-and-swap versions, by key.
pub type SharedData = Rc<RefCell<HashMap<String, (Vec<u8>, u32)>>>;

/// One HTTP stream's state.
#[derive(Default, Debug)]
pub struct Stream {
    pub maps: HashMap<MapType, Vec<(String, String)>>,
    /// Request header values that are not UTF-8.
    pub binary_request_headers: Vec<(String, Vec<u8>)>,
    pub local_reply: Option<LocalReply>,
    /// `proxy_continue_stream` calls (0: request, 1: response).
    pub continued: Vec<i32>,
    pub closed: Vec<i32>,
    /// Where the host's log stood when the stream began.
    pub logs_from: usize,
}

fn is_callout_map(map: MapType) -> bool {
    matches!(
        map,
        MapType::HttpCallResponseHeaders | MapType::HttpCallResponseTrailers
    )
}

/// Everything the host knows: inputs the test sets, outputs the module produced.
#[derive(Default)]
pub struct HostState {
    // Inputs.
    pub plugin_configuration: Vec<u8>,
    pub vm_configuration: Vec<u8>,
    /// Properties by path segments (`["node", "metadata", "NAMESPACE"]`).
    pub properties: BTreeMap<Vec<String>, Vec<u8>>,
    /// Wall-clock time in nanoseconds since the Unix epoch.
    pub now_nanos: u64,
    /// Monotonic clock in nanoseconds.
    pub monotonic_nanos: u64,
    /// When set, `proxy_get_current_time_nanoseconds` fails (a host whose clock cannot be
    /// read).
    pub clock_fails: bool,
    /// The level below which the module should not log (`proxy_get_log_level`).
    pub log_level: i32,
    /// Seed of the deterministic `random_get`.
    pub random_state: u64,
    /// Clusters `proxy_http_call` may target.
    pub clusters: Vec<String>,

    /// Maps of HTTP call responses (the stream maps live in [`Stream`]).
    pub maps: HashMap<MapType, Vec<(String, String)>>,
    /// Request headers whose values are not UTF-8 (Envoy passes obs-text bytes through),
    /// given to the next request, and served after its other headers.
    pub binary_request_headers: Vec<(String, Vec<u8>)>,
    pub buffers: HashMap<BufferType, Vec<u8>>,
    /// Each stream's state, by context id: several streams may be open (paused) at once.
    pub streams: HashMap<u32, Stream>,
    /// The context whose calls are being served (`proxy_set_effective_context` changes it).
    pub effective_context: u32,
    /// The status `proxy_get_status` reports (set by HTTP call responses).
    pub call_status: (u32, String),
    /// How `verify_signature` (Envoy's native signature check) answers.
    pub foreign_crypto: ForeignCrypto,

    // Outputs.
    pub logs: Vec<(i32, String)>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub metrics: Vec<Metric>,
    /// Shared data, shared by every `Host` made with [`Host::worker`]: one proxy's workers.
    pub shared_data: SharedData,
    pub queues: Vec<(String, Vec<Vec<u8>>)>,
    pub ready_queues: Vec<u32>,
    pub tick_period_ms: u32,
    pub http_calls: Vec<HttpCall>,
    pub next_call_token: u32,
    pub done_called: bool,
    pub exit_code: Option<i32>,
    /// `verify_signature` calls made.
    pub foreign_calls: u32,
    /// Every host function the module called, in order (for lifecycle assertions).
    pub calls: Vec<&'static str>,
}

impl HostState {
    pub fn map(&self, map: MapType) -> &[(String, String)] {
        let maps = if is_callout_map(map) {
            Some(&self.maps)
        } else {
            self.streams.get(&self.effective_context).map(|s| &s.maps)
        };
        maps.and_then(|m| m.get(&map)).map_or(&[], |m| m.as_slice())
    }

    /// A map to change: a callout map, or one of the effective stream's.
    pub fn map_mut(&mut self, map: MapType) -> &mut Vec<(String, String)> {
        if is_callout_map(map) {
            self.maps.entry(map).or_default()
        } else {
            self.stream_mut().maps.entry(map).or_default()
        }
    }

    /// The effective context's stream.
    pub fn stream_mut(&mut self) -> &mut Stream {
        self.streams.entry(self.effective_context).or_default()
    }

    /// A map as the module receives it, in bytes.
    pub fn wire_map(&self, map: MapType) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = self
            .map(map)
            .iter()
            .map(|(n, v)| (n.clone().into_bytes(), v.clone().into_bytes()))
            .collect();
        if map == MapType::RequestHeaders {
            if let Some(stream) = self.streams.get(&self.effective_context) {
                pairs.extend(
                    stream
                        .binary_request_headers
                        .iter()
                        .map(|(n, v)| (n.clone().into_bytes(), v.clone())),
                );
            }
        }
        pairs
    }

    pub fn header(&self, map: MapType, name: &str) -> Vec<&str> {
        self.map(map)
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn property(&self, path: &[&str]) -> Option<&[u8]> {
        let key: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
        self.properties.get(&key).map(|v| v.as_slice())
    }

    pub fn counter(&self, name: &str) -> i64 {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map_or(0, |m| m.value)
    }

    pub fn logs_at_least(&self, level: i32) -> Vec<&str> {
        self.logs
            .iter()
            .filter(|(l, _)| *l >= level)
            .map(|(_, m)| m.as_str())
            .collect()
    }
}

fn compile(metered: bool) -> (Engine, Module) {
    let mut config = Config::new();
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    config.consume_fuel(metered);
    if std::env::var_os("MESHGUARD_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).expect("wasmtime engine");
    let path = super::wasm::built_module();
    let module = Module::from_file(&engine, &path).expect("compile the filter module");
    (engine, module)
}

fn compiled() -> &'static (Engine, Module) {
    static MODULE: OnceLock<(Engine, Module)> = OnceLock::new();
    MODULE.get_or_init(|| compile(false))
}

/// The module compiled to count what it executes (wasmtime fuel: one unit per WebAssembly
/// operator, bar a few free ones such as `nop` and `drop`).
fn metered() -> &'static (Engine, Module) {
    static MODULE: OnceLock<(Engine, Module)> = OnceLock::new();
    MODULE.get_or_init(|| compile(true))
}

/// The pseudo-headers of a request to the `orders` service, then `headers` (names lowercased).
fn request_headers(method: &str, path: &str, headers: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut all = vec![
        (":method".to_owned(), method.to_owned()),
        (":path".to_owned(), path.to_owned()),
        (":authority".to_owned(), "orders".to_owned()),
        (":scheme".to_owned(), "http".to_owned()),
    ];
    all.extend(
        headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), (*v).to_owned())),
    );
    all
}

/// What one request did, end to end.
#[derive(Debug)]
pub struct Exchange {
    pub request_headers_action: Action,
    pub local_reply: Option<LocalReply>,
    /// The request headers as the upstream would receive them (when continued).
    pub upstream_headers: Vec<(String, String)>,
    pub logs: Vec<(i32, String)>,
}

impl Exchange {
    pub fn status(&self) -> u32 {
        self.local_reply.as_ref().map_or(200, |r| r.status)
    }

    pub fn upstream_header(&self, name: &str) -> Vec<&str> {
        self.upstream_headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// The module in one VM with its root context.
pub struct Host {
    pub store: Store<HostState>,
    instance: Instance,
    pub root_id: u32,
    next_context: u32,
}

const ROOT_ID: u32 = 1;

impl Host {
    /// Instantiates the module and runs its start functions (`_initialize`, or `_start`).
    /// Panics when the module imports something this host does not provide.
    pub fn new() -> Host {
        let (engine, module) = compiled();
        Host::instantiate(engine, module)
    }

    /// A host whose module counts the WebAssembly operators it executes (see
    /// [`operators`](Self::operators)): a deterministic measure of work, free of the timing
    /// noise a shared machine adds, slower to run than [`new`](Self::new).
    pub fn metered() -> Host {
        let (engine, module) = metered();
        Host::instantiate(engine, module)
    }

    /// WebAssembly operators executed so far (0 unless the host is [`metered`](Self::metered)).
    pub fn operators(&self) -> u64 {
        self.store.get_fuel().map_or(0, |left| u64::MAX - left)
    }

    /// A host for another module, given as WebAssembly text: to exercise host functions the
    /// filter does not call yet (ticks, HTTP callouts, shared data).
    pub fn from_wat(text: &str) -> Host {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        let engine = ENGINE.get_or_init(Engine::default);
        let module = Module::new(engine, wat::parse_str(text).expect("valid WAT"))
            .expect("compile the module");
        Host::instantiate(engine, &module)
    }

    fn instantiate(engine: &Engine, module: &Module) -> Host {
        let mut linker = Linker::new(engine);
        abi::define(&mut linker).expect("define the proxy-wasm ABI");
        wasi::define(&mut linker).expect("define WASI");
        let mut store = Store::new(
            engine,
            HostState {
                log_level: 0,
                random_state: 0x9e37_79b9_7f4a_7c15,
                next_call_token: 1,
                ..HostState::default()
            },
        );
        // Refused by an engine that does not meter (the usual one): nothing to count there.
        let _ = store.set_fuel(u64::MAX);
        let instance = linker
            .instantiate(&mut store, module)
            .unwrap_or_else(|e| panic!("instantiate the filter: {e:#}"));
        let mut host = Host {
            store,
            instance,
            root_id: ROOT_ID,
            next_context: ROOT_ID + 1,
        };
        if host.has_export("_initialize") {
            host.call("_initialize", &[]);
        } else if host.has_export("_start") {
            host.call("_start", &[]);
        }
        assert!(
            host.has_export("proxy_abi_version_0_2_1"),
            "the module must declare ABI 0.2.1"
        );
        host
    }

    /// Another worker VM of the same proxy: a new instance of the module that shares this
    /// one's shared data (Envoy shares it between the workers of one VM id).
    pub fn worker(&self) -> Host {
        let mut host = Host::new();
        host.state_mut().shared_data = Rc::clone(&self.state().shared_data);
        host.state_mut().now_nanos = self.state().now_nanos;
        host.state_mut().clusters = self.state().clusters.clone();
        host.state_mut().properties = self.state().properties.clone();
        host.state_mut().random_state = self.state().random_state ^ 0x5555_aaaa_1234_8765;
        host
    }

    /// The value of a shared data key.
    pub fn shared(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.state().shared_data.borrow().get(key).cloned()
    }

    pub fn state(&self) -> &HostState {
        self.store.data()
    }

    pub fn state_mut(&mut self) -> &mut HostState {
        self.store.data_mut()
    }

    pub fn set_time(&mut self, unix_seconds: u64) {
        self.state_mut().now_nanos = unix_seconds * 1_000_000_000;
    }

    pub fn set_property(&mut self, path: &[&str], value: &[u8]) {
        let key = path.iter().map(|s| (*s).to_owned()).collect();
        self.state_mut().properties.insert(key, value.to_vec());
    }

    /// The node metadata of an Istio sidecar of `service` in `namespace`, where Envoy 1.40
    /// puts it (`xds.node.metadata`): `NAMESPACE` and the pod's canonical-service label.
    pub fn set_node_metadata(&mut self, namespace: &str, service: &str) {
        self.set_property(
            &["xds", "node", "metadata", "NAMESPACE"],
            namespace.as_bytes(),
        );
        self.set_property(
            &[
                "xds",
                "node",
                "metadata",
                "LABELS",
                "service.istio.io/canonical-name",
            ],
            service.as_bytes(),
        );
    }

    fn has_export(&mut self, name: &str) -> bool {
        self.instance.get_func(&mut self.store, name).is_some()
    }

    /// Calls an export with i32 arguments, returning its first result (or 0).
    pub fn call(&mut self, name: &str, args: &[i32]) -> i32 {
        let func = self
            .instance
            .get_func(&mut self.store, name)
            .unwrap_or_else(|| panic!("the module does not export {name}"));
        let params: Vec<Val> = args.iter().map(|a| Val::I32(*a)).collect();
        let mut results = vec![Val::I32(0); func.ty(&self.store).results().len()];
        if let Err(trap) = func.call(&mut self.store, &params, &mut results) {
            let logs = self.state().logs.clone();
            panic!("{name} trapped: {trap:#}\nmodule logs: {logs:#?}");
        }
        match results.first() {
            Some(Val::I32(v)) => *v,
            _ => 0,
        }
    }

    /// Like [`call`](Self::call) but returns the trap instead of panicking.
    pub fn try_call(&mut self, name: &str, args: &[i32]) -> Result<i32, String> {
        let func: TypedFunc<(i32, i32), i32> = self
            .instance
            .get_typed_func(&mut self.store, name)
            .map_err(|e| e.to_string())?;
        func.call(&mut self.store, (args[0], args[1]))
            .map_err(|e| format!("{e:#}"))
    }

    fn new_context(&mut self, parent: u32) -> u32 {
        let id = self.next_context;
        self.next_context += 1;
        self.state_mut().effective_context = id;
        self.call("proxy_on_context_create", &[id as i32, parent as i32]);
        id
    }

    /// Envoy's start-up: root context, `proxy_on_vm_start`, `proxy_on_configure`. Returns
    /// what `on_configure` answered (false: the host refuses the plugin).
    pub fn start(&mut self, plugin_configuration: &str) -> bool {
        self.state_mut().effective_context = self.root_id;
        self.call("proxy_on_context_create", &[self.root_id as i32, 0]);
        let vm_size = self.state().vm_configuration.len() as i32;
        assert_eq!(
            self.call("proxy_on_vm_start", &[self.root_id as i32, vm_size]),
            1,
            "on_vm_start refused"
        );
        self.configure(plugin_configuration)
    }

    /// The size of the module's linear memory, in bytes (it only grows: the high-water mark).
    pub fn memory_bytes(&mut self) -> usize {
        self.instance
            .get_memory(&mut self.store, "memory")
            .map_or(0, |memory| memory.data_size(&self.store))
    }

    /// A configuration update (`proxy_on_configure` again), as a new xDS push would do.
    pub fn configure(&mut self, plugin_configuration: &str) -> bool {
        self.configure_bytes(plugin_configuration.as_bytes())
    }

    /// [`configure`](Self::configure) with arbitrary bytes.
    pub fn configure_bytes(&mut self, plugin_configuration: &[u8]) -> bool {
        self.state_mut().plugin_configuration = plugin_configuration.to_vec();
        self.state_mut().effective_context = self.root_id;
        let size = plugin_configuration.len() as i32;
        self.call("proxy_on_configure", &[self.root_id as i32, size]) == 1
    }

    /// Advances time and fires `proxy_on_tick` when a tick period is set.
    pub fn tick(&mut self, millis: u64) {
        self.state_mut().now_nanos += millis * 1_000_000;
        self.state_mut().monotonic_nanos += millis * 1_000_000;
        if self.state().tick_period_ms > 0 {
            self.state_mut().effective_context = self.root_id;
            self.call("proxy_on_tick", &[self.root_id as i32]);
        }
    }

    /// Delivers the response of an outstanding HTTP call.
    pub fn http_call_response(
        &mut self,
        token: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> bool {
        let Some(index) = self
            .state()
            .http_calls
            .iter()
            .position(|c| c.token == token)
        else {
            return false;
        };
        let call = self.state_mut().http_calls.remove(index);
        let state = self.state_mut();
        state.maps.insert(
            MapType::HttpCallResponseHeaders,
            headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        );
        state
            .maps
            .insert(MapType::HttpCallResponseTrailers, Vec::new());
        state
            .buffers
            .insert(BufferType::HttpCallResponseBody, body.to_vec());
        state.effective_context = call.context_id;
        let args = [
            call.context_id as i32,
            token as i32,
            headers.len() as i32,
            body.len() as i32,
            0,
        ];
        self.call("proxy_on_http_call_response", &args);
        true
    }

    /// One HTTP request through a new stream context: request headers, and — if the filter
    /// continues — request body and trailers, the upstream's response headers and body; then
    /// the access-log callback, done and delete, as Envoy does at stream end.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Exchange {
        self.request_with(request_headers(method, path, headers), b"")
    }

    pub fn request_with(&mut self, headers: Vec<(String, String)>, body: &[u8]) -> Exchange {
        let logs_before = self.state().logs.len();
        let (id, action) = self.begin_with(headers, body);
        if action == Action::Pause && self.stream(id).local_reply.is_none() {
            panic!(
                "the filter paused stream {id} without replying; use begin_request and \
                 end_request for streams that wait\nlogs: {:#?}",
                self.state().logs
            );
        }
        self.finish_request(id, action, body, logs_before)
    }

    /// Opens a stream and delivers its request headers; the stream stays open (see
    /// [`waiting`](Self::waiting), [`end_request`](Self::end_request)). Returns its context id.
    pub fn begin_request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> u32 {
        self.begin_with(request_headers(method, path, headers), b"")
            .0
    }

    fn begin_with(&mut self, headers: Vec<(String, String)>, body: &[u8]) -> (u32, Action) {
        {
            let state = self.state_mut();
            state.buffers.remove(&BufferType::RequestBody);
            state.buffers.remove(&BufferType::ResponseBody);
        }
        let id = self.next_context;
        let count = headers.len() as i32;
        let binary = std::mem::take(&mut self.state_mut().binary_request_headers);
        let mut stream = Stream {
            logs_from: self.state().logs.len(),
            binary_request_headers: binary,
            ..Stream::default()
        };
        stream.maps.insert(MapType::RequestHeaders, headers);
        self.state_mut().streams.insert(id, stream);
        let created = self.new_context(self.root_id);
        assert_eq!(created, id);
        let end_of_stream = i32::from(body.is_empty());
        let action = self.stream_action(
            "proxy_on_request_headers",
            &[id as i32, count, end_of_stream],
        );
        (id, action)
    }

    /// A stream's state.
    pub fn stream(&self, id: u32) -> &Stream {
        static EMPTY: OnceLock<Stream> = OnceLock::new();
        self.state()
            .streams
            .get(&id)
            .unwrap_or_else(|| EMPTY.get_or_init(Stream::default))
    }

    /// Whether an open stream is still waiting: neither answered nor continued.
    pub fn waiting(&self, id: u32) -> bool {
        let stream = self.stream(id);
        stream.local_reply.is_none() && !stream.continued.contains(&0)
    }

    /// Completes a stream opened with [`begin_request`](Self::begin_request) once the filter
    /// has answered or continued it.
    pub fn end_request(&mut self, id: u32) -> Exchange {
        assert!(!self.waiting(id), "stream {id} is still waiting");
        let logs_before = self.stream(id).logs_from;
        self.finish_request(id, Action::Pause, b"", logs_before)
    }

    fn finish_request(
        &mut self,
        id: u32,
        action: Action,
        body: &[u8],
        logs_before: usize,
    ) -> Exchange {
        let replied = self.stream(id).local_reply.is_some();
        if !replied {
            self.state_mut().effective_context = id;
            if !body.is_empty() {
                self.state_mut()
                    .buffers
                    .insert(BufferType::RequestBody, body.to_vec());
                self.stream_action("proxy_on_request_body", &[id as i32, body.len() as i32, 1]);
            }
            // The upstream answers.
            let response = vec![
                (":status".to_owned(), "200".to_owned()),
                ("content-type".to_owned(), "application/json".to_owned()),
            ];
            let n = response.len() as i32;
            *self.state_mut().map_mut(MapType::ResponseHeaders) = response;
            self.stream_action("proxy_on_response_headers", &[id as i32, n, 0]);
            self.state_mut()
                .buffers
                .insert(BufferType::ResponseBody, b"{}".to_vec());
            self.stream_action("proxy_on_response_body", &[id as i32, 2, 1]);
        }
        let stream = self.stream(id);
        let upstream_headers = if replied {
            Vec::new()
        } else {
            let mut upstream = stream
                .maps
                .get(&MapType::RequestHeaders)
                .cloned()
                .unwrap_or_default();
            upstream.extend(
                stream
                    .binary_request_headers
                    .iter()
                    .map(|(n, v)| (n.clone(), String::from_utf8_lossy(v).into_owned())),
            );
            upstream
        };
        let local_reply = stream.local_reply.clone();
        self.state_mut().effective_context = id;
        self.call("proxy_on_log", &[id as i32]);
        self.finish(id);
        self.state_mut().streams.remove(&id);
        Exchange {
            request_headers_action: action,
            local_reply,
            upstream_headers,
            logs: self.state().logs[logs_before..].to_vec(),
        }
    }

    /// The client goes away while the stream waits: Envoy ends the context.
    pub fn reset_request(&mut self, id: u32) {
        self.state_mut().effective_context = id;
        self.finish(id);
        self.state_mut().streams.remove(&id);
    }

    fn stream_action(&mut self, name: &str, args: &[i32]) -> Action {
        self.state_mut().effective_context = args[0] as u32;
        match self.call(name, args) {
            0 => Action::Continue,
            1 => Action::Pause,
            other => panic!("{name} returned {other}, not a filter action"),
        }
    }

    /// `proxy_on_done` then `proxy_on_delete`, as Envoy ends a context.
    fn finish(&mut self, id: u32) {
        self.state_mut().effective_context = id;
        self.call("proxy_on_done", &[id as i32]);
        self.call("proxy_on_delete", &[id as i32]);
    }
}
