//! Cloud code: the developer's `main.js` (and the CommonJS modules it requires) run in embedded
//! QuickJS runtimes (rquickjs), with a `Parse` global written for Basalt (`js/parse.js`) that
//! calls the engine in-process, never over HTTP.
//!
//! Several worker threads each own a runtime with the code loaded; calls are spread over them, so
//! there is no global lock across requests. Each call has a CPU-time limit (an interrupt handler
//! checks a deadline) and each runtime a memory limit; a call that exceeds either ends with 141
//! and its runtime is rebuilt, while the other workers keep serving.

mod bridge;
mod http;
mod worker;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};

use basalt_core::{ErrorCode, Limits, ParseError, ParseResult};
use basalt_engine::{Engine, FunctionCall, HookFuture, Hooks, JobCall, RateLimitRule, TriggerCall, TriggerKind};
use serde_json::{Map, Value};
use tokio::sync::oneshot;

use crate::worker::Worker;

/// Limits of cloud code (their values and reasons are in `basalt_core::Limits`).
#[derive(Clone, Copy, Debug)]
pub struct CloudLimits {
    /// CPU time one call may take, in milliseconds.
    pub cpu_ms_max: u64,
    /// Memory one runtime may use, in bytes.
    pub memory_bytes_max: usize,
    /// Runtimes, each on its own thread; calls beyond this wait for a free one.
    pub workers: usize,
    /// Time one background job may run, in milliseconds.
    pub job_ms_max: u64,
}

impl CloudLimits {
    /// The server's limits, with `workers` runtimes.
    pub fn new(limits: &Limits, workers: usize) -> CloudLimits {
        CloudLimits {
            cpu_ms_max: limits.cloud_call_ms_max,
            memory_bytes_max: limits.cloud_memory_bytes_max,
            workers,
            job_ms_max: limits.cloud_job_ms_max,
        }
    }
}

enum Call {
    Function(FunctionCall),
    Trigger(TriggerCall),
    Job(JobCall),
}

struct Job {
    call: Call,
    engine: Engine,
    reply: oneshot::Sender<ParseResult<Option<Value>>>,
}

thread_local! {
    /// How many cloud code calls this thread is inside (0 outside any worker).
    static NESTING: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Loaded cloud code: the engine's `Hooks`.
pub struct CloudCode {
    jobs: Mutex<mpsc::Sender<Job>>,
    /// What nested calls need to start a worker of their own.
    source: Source,
    handle: tokio::runtime::Handle,
    limits: CloudLimits,
    /// Registered triggers, class names by kind, and jobs under the kind `job` (read once at
    /// load: the code is the same in every worker). Looked up on every write and find, so without
    /// building a key.
    /// worker).
    triggers: HashMap<String, HashSet<String>>,
    /// The validators' `rateLimit`s (read at load).
    rate_limits: Vec<RateLimitRule>,
}

/// Where the code lives: the entry file and the directory `require` may read from.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub(crate) main: PathBuf,
    pub(crate) root: PathBuf,
}

impl CloudCode {
    /// Loads `main` into every worker. Must be called inside a Tokio runtime (the workers call
    /// the engine through it). Each call brings the engine it runs for; top-level code, which
    /// runs here before there is an engine, cannot call the server.
    ///
    /// # Errors
    /// The file, line and message of a syntax error or a throw while loading.
    pub fn load(main: &Path, limits: CloudLimits) -> Result<Arc<CloudCode>, String> {
        let main = main.canonicalize().map_err(|error| format!("{}: {error}", main.display()))?;
        let root = main.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
        let source = Source { main, root };
        let pool_source = source.clone();
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| "cloud code needs a Tokio runtime".to_owned())?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let (loaded_sender, loaded) = mpsc::channel::<Result<(Vec<String>, Vec<Value>), String>>();
        for index in 0..limits.workers.max(1) {
            let receiver = Arc::clone(&receiver);
            let handle = handle.clone();
            let source = pool_source.clone();
            let loaded_sender = loaded_sender.clone();
            std::thread::Builder::new()
                .name(format!("basalt-cloud-{index}"))
                .spawn(move || {
                    let worker = Worker::start(source, handle, limits);
                    let mut worker = match worker {
                        Ok(worker) => {
                            let _ =
                                loaded_sender.send(Ok((worker.registered_triggers(), worker.registered_rate_limits())));
                            worker
                        }
                        Err(error) => {
                            let _ = loaded_sender.send(Err(error));
                            return;
                        }
                    };
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        NESTING.with(|nesting| nesting.set(1));
                        let result = worker.serving(&job.engine, |worker| run_call(worker, &job.call));
                        NESTING.with(|nesting| nesting.set(0));
                        let _ = job.reply.send(result);
                    }
                })
                .map_err(|error| format!("starting a cloud code worker: {error}"))?;
        }
        drop(loaded_sender);
        let mut triggers: HashMap<String, HashSet<String>> = HashMap::new();
        let mut declared = Vec::new();
        for _ in 0..limits.workers.max(1) {
            match loaded.recv() {
                Ok(Ok((registered, limits))) => {
                    for entry in registered {
                        if let Some((kind, name)) = entry.split_once(':') {
                            triggers.entry(kind.to_owned()).or_default().insert(name.to_owned());
                        }
                    }
                    // The same code runs in every worker: one worker's list is the list.
                    declared = limits;
                }
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err("a cloud code worker stopped while loading".to_owned()),
            }
        }
        let rate_limits = declared.iter().filter_map(rate_limit_rule).collect();
        Ok(Arc::new(CloudCode { jobs: Mutex::new(sender), triggers, rate_limits, source, handle, limits }))
    }
}

/// `{"path", "subPaths", "methods", "options"}` as parse.js records a validator's `rateLimit`.
fn rate_limit_rule(declared: &Value) -> Option<RateLimitRule> {
    let path = declared.get("path")?.as_str()?;
    let sub_paths = declared.get("subPaths").and_then(Value::as_bool).unwrap_or(false);
    let methods: Vec<&str> = declared
        .get("methods")
        .and_then(Value::as_array)
        .map(|methods| methods.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    RateLimitRule::from_json(path, sub_paths, &methods, declared.get("options")?)
}

impl CloudCode {
    fn registered(&self, kind: &str, name: &str) -> bool {
        self.triggers.get(kind).is_some_and(|names| names.contains(name))
    }
}

fn run_call(worker: &mut Worker, call: &Call) -> ParseResult<Option<Value>> {
    match call {
        Call::Function(call) => worker.run_function(call),
        Call::Trigger(call) => worker.run_trigger(call),
        Call::Job(call) => worker.run_job(call),
    }
}

impl CloudCode {
    /// A call made from inside cloud code (a save in a trigger running another trigger): it runs
    /// on a worker of its own, so nested calls never wait for a pool whose workers are all waiting
    /// on them.
    fn run_nested(&self, engine: &Engine, call: Call, depth: usize) -> ParseResult<Option<Value>> {
        if depth >= Limits::CLOUD_NESTING_DEPTH_MAX {
            return Err(ParseError::new(
                ErrorCode::ScriptFailed,
                format!("Cloud code called cloud code more than {} levels deep.", Limits::CLOUD_NESTING_DEPTH_MAX),
            ));
        }
        let (source, engine, handle, limits) = (self.source.clone(), engine.clone(), self.handle.clone(), self.limits);
        let nested = std::thread::Builder::new().name("basalt-cloud-nested".into()).spawn(move || {
            NESTING.with(|nesting| nesting.set(depth + 1));
            let mut worker = Worker::start(source, handle, limits).map_err(ParseError::internal)?;
            worker.serving(&engine, |worker| run_call(worker, &call))
        });
        match nested {
            Ok(thread) => {
                thread.join().unwrap_or_else(|_| Err(ParseError::internal("a nested cloud code call panicked")))
            }
            Err(error) => Err(ParseError::internal(format!("starting a nested cloud code worker: {error}"))),
        }
    }

    async fn submit(&self, engine: Engine, call: Call) -> ParseResult<Option<Value>> {
        let depth = NESTING.with(std::cell::Cell::get);
        if depth > 0 {
            return self.run_nested(&engine, call, depth);
        }
        let (reply, answer) = oneshot::channel();
        let sent = match self.jobs.lock() {
            Ok(jobs) => jobs.send(Job { call, engine, reply }).is_ok(),
            Err(_) => false,
        };
        if !sent {
            return Err(ParseError::internal("cloud code workers have stopped"));
        }
        answer.await.unwrap_or_else(|_| {
            Err(ParseError::new(ErrorCode::ScriptFailed, "The cloud code worker stopped during the call."))
        })
    }
}

impl Hooks for CloudCode {
    fn run_function(&self, engine: &Engine, call: FunctionCall) -> HookFuture<'_, Option<Value>> {
        Box::pin(self.submit(engine.clone(), Call::Function(call)))
    }

    fn has_job(&self, name: &str) -> bool {
        self.registered("job", name)
    }

    fn run_job(&self, engine: &Engine, call: JobCall) -> HookFuture<'_, Option<Value>> {
        Box::pin(self.submit(engine.clone(), Call::Job(call)))
    }

    fn rate_limits(&self) -> &[RateLimitRule] {
        &self.rate_limits
    }

    fn has_trigger(&self, kind: TriggerKind, class_name: &str) -> bool {
        self.registered(kind.name(), class_name)
    }

    fn run_trigger(&self, engine: &Engine, call: TriggerCall) -> HookFuture<'_, Option<Map<String, Value>>> {
        let engine = engine.clone();
        Box::pin(async move {
            match self.submit(engine, Call::Trigger(call)).await? {
                Some(Value::Object(body)) => Ok(Some(body)),
                _ => Ok(None),
            }
        })
    }
}
