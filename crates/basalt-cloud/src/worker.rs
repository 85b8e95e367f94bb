//! One QuickJS runtime on one thread: the `Parse` shim and the developer's code loaded, native
//! functions for the shim, and the CPU-time and memory limits.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use basalt_core::{ErrorCode, ParseError, ParseResult};
use basalt_engine::{Engine, FunctionCall, JobCall, TriggerCall};
use rquickjs::context::EvalOptions;
use rquickjs::function::Rest;
use rquickjs::{Context, Ctx, Exception, Function, Object, Runtime};
use serde_json::{Value, json};

use crate::{CloudLimits, Source};

/// The `Parse` global, written for Basalt.
const PARSE_SHIM: &str = include_str!("../js/parse.js");
/// No deadline.
const NO_DEADLINE: u64 = u64::MAX;

pub(crate) struct Worker {
    source: Source,
    /// The engine of the call being run: handed over with each call (`serve`), absent while the
    /// code loads.
    engine: Rc<RefCell<Option<Engine>>>,
    handle: tokio::runtime::Handle,
    limits: CloudLimits,
    runtime: Runtime,
    context: Context,
    /// Milliseconds after `epoch` when the current call must stop.
    deadline: Arc<AtomicU64>,
    interrupted: Arc<AtomicBool>,
    epoch: Instant,
    /// A limit was hit; the runtime is rebuilt before the next call.
    broken: bool,
}

/// A readable message for a JavaScript exception: `file:line: Name: message`.
fn describe_exception(ctx: &Ctx<'_>) -> String {
    let caught = ctx.catch();
    let Some(object) = caught.as_object() else {
        return caught.as_string().and_then(|text| text.to_string().ok()).unwrap_or_else(|| "unknown error".to_owned());
    };
    let text = |key: &str| object.get::<_, Option<String>>(key).ok().flatten();
    let name = text("name").unwrap_or_else(|| "Error".to_owned());
    let message = text("message").unwrap_or_default();
    let line = object.get::<_, Option<i64>>("lineNumber").ok().flatten();
    let file = text("fileName");
    let location = match (file, line) {
        (Some(file), Some(line)) => format!("{file}:{line}: "),
        _ => text("stack")
            .and_then(|stack| {
                stack
                    .lines()
                    .find(|line| line.contains(':'))
                    .map(|line| format!("{}: ", line.trim().trim_start_matches("at ")))
            })
            .unwrap_or_default(),
    };
    format!("{location}{name}: {message}")
}

/// Resolves a `require` specifier against a directory, inside the code's root.
fn resolve_module(root: &Path, directory: &str, specifier: &str) -> Result<PathBuf, String> {
    let base = if specifier.starts_with('/') { PathBuf::from(specifier) } else { Path::new(directory).join(specifier) };
    let candidates = [
        base.clone(),
        base.with_extension("js"),
        PathBuf::from(format!("{}.js", base.display())),
        PathBuf::from(format!("{}.json", base.display())),
        base.join("index.js"),
    ];
    for candidate in candidates {
        if let Ok(resolved) = candidate.canonicalize() {
            if !resolved.is_file() {
                continue;
            }
            // Cloud code reads only its own directory tree.
            if !resolved.starts_with(root) {
                return Err(format!("Cannot require {specifier}: outside the cloud code directory"));
            }
            return Ok(resolved);
        }
    }
    Err(format!("Cannot find module '{specifier}' from {directory}"))
}

/// Compiles a CommonJS module into its wrapper function, keeping the file name for line numbers.
fn compile_module<'js>(ctx: Ctx<'js>, source: String, filename: String) -> rquickjs::Result<Function<'js>> {
    let wrapped = format!("(function (exports, require, module, __filename, __dirname) {{{source}\n}})");
    let mut options = EvalOptions::default();
    options.filename = Some(filename);
    options.strict = false;
    ctx.eval_with_options(wrapped, options)
}

impl Worker {
    /// Runs `run` with `engine` as the engine cloud code calls into.
    pub(crate) fn serving<T>(&mut self, engine: &Engine, run: impl FnOnce(&mut Worker) -> T) -> T {
        *self.engine.borrow_mut() = Some(engine.clone());
        let result = run(self);
        *self.engine.borrow_mut() = None;
        result
    }

    pub(crate) fn start(source: Source, handle: tokio::runtime::Handle, limits: CloudLimits) -> Result<Worker, String> {
        let runtime = Runtime::new().map_err(|error| format!("starting QuickJS: {error}"))?;
        runtime.set_memory_limit(limits.memory_bytes_max);
        runtime.set_max_stack_size(1024 * 1024);
        let deadline = Arc::new(AtomicU64::new(NO_DEADLINE));
        let interrupted = Arc::new(AtomicBool::new(false));
        let epoch = Instant::now();
        {
            let deadline = Arc::clone(&deadline);
            let interrupted = Arc::clone(&interrupted);
            runtime.set_interrupt_handler(Some(Box::new(move || {
                let limit = deadline.load(Ordering::Relaxed);
                let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                let stop = limit != NO_DEADLINE && now >= limit;
                if stop {
                    interrupted.store(true, Ordering::Relaxed);
                }
                stop
            })));
        }
        let context = Context::full(&runtime).map_err(|error| format!("starting QuickJS: {error}"))?;
        let engine = Rc::new(RefCell::new(None));
        let worker =
            Worker { source, engine, handle, limits, runtime, context, deadline, interrupted, epoch, broken: false };
        worker.install()?;
        Ok(worker)
    }

    fn install(&self) -> Result<(), String> {
        let engine = Rc::clone(&self.engine);
        let handle = self.handle.clone();
        let root = self.source.root.clone();
        let main = self.source.main.display().to_string();
        // Loading gets a generous share of the call limit (five calls' worth).
        self.start_clock();
        let result = self.context.with(|ctx| -> Result<(), String> {
            let setup = || -> rquickjs::Result<()> {
                let native = Object::new(ctx.clone())?;
                native.set(
                    "request",
                    Function::new(ctx.clone(), move |method: String, path: String, body: String, options: String| {
                        let engine = engine.borrow().clone();
                        crate::bridge::request(engine.as_ref(), &handle, &method, &path, &body, &options)
                    })?,
                )?;
                let http_handle = self.handle.clone();
                let http_deadline = Arc::clone(&self.deadline);
                let epoch = self.epoch;
                native.set(
                    "http",
                    Function::new(ctx.clone(), move |request: String| {
                        // Waiting on the network is not the call's own time: the deadline
                        // moves on by the wait (the request has its own timeout).
                        let paused = http_deadline.swap(NO_DEADLINE, Ordering::Relaxed);
                        let started = epoch.elapsed();
                        let answer = crate::http::request(&http_handle, &request);
                        if paused != NO_DEADLINE {
                            let waited = u64::try_from((epoch.elapsed() - started).as_millis()).unwrap_or(u64::MAX);
                            http_deadline.store(paused.saturating_add(waited), Ordering::Relaxed);
                        }
                        answer
                    })?,
                )?;
                let resolve_root = root.clone();
                native.set(
                    "resolve",
                    Function::new(
                        ctx.clone(),
                        move |ctx: Ctx<'_>, directory: String, specifier: String| -> rquickjs::Result<String> {
                            match resolve_module(&resolve_root, &directory, &specifier) {
                                Ok(path) => Ok(path.display().to_string()),
                                Err(message) => Err(Exception::throw_message(&ctx, &message)),
                            }
                        },
                    )?,
                )?;
                let read_root = root.clone();
                native.set(
                    "read",
                    Function::new(ctx.clone(), move |ctx: Ctx<'_>, path: String| -> rquickjs::Result<String> {
                        if !Path::new(&path).starts_with(&read_root) {
                            return Err(Exception::throw_message(&ctx, "Cannot read outside the cloud code directory"));
                        }
                        std::fs::read_to_string(&path)
                            .map_err(|error| Exception::throw_message(&ctx, &format!("{path}: {error}")))
                    })?,
                )?;
                native.set("compile", Function::new(ctx.clone(), compile_module)?)?;
                native.set(
                    "log",
                    Function::new(ctx.clone(), |level: String, message: String| match level.as_str() {
                        "error" => tracing::error!(target: "cloud", "{message}"),
                        "warn" => tracing::warn!(target: "cloud", "{message}"),
                        "debug" => tracing::debug!(target: "cloud", "{message}"),
                        _ => tracing::info!(target: "cloud", "{message}"),
                    })?,
                )?;
                ctx.globals().set("__basalt", native)?;
                let mut options = EvalOptions::default();
                options.filename = Some("basalt:parse.js".to_owned());
                ctx.eval_with_options::<(), _>(PARSE_SHIM, options)?;
                let load: Function<'_> = ctx.globals().get("__basalt_load")?;
                load.call::<_, ()>((main.clone(),))?;
                Ok(())
            };
            setup().map_err(|error| match error {
                rquickjs::Error::Exception => describe_exception(&ctx),
                other => other.to_string(),
            })
        });
        self.stop_clock();
        result.map_err(|message| format!("cloud code {main}: {message}"))
    }

    fn start_clock(&self) {
        self.interrupted.store(false, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.deadline.store(now.saturating_add(self.limits.cpu_ms_max.max(1) * 5), Ordering::Relaxed);
    }

    fn stop_clock(&self) {
        self.deadline.store(NO_DEADLINE, Ordering::Relaxed);
    }

    /// The triggers the loaded code registered, as `kind:className`.
    pub(crate) fn registered_triggers(&self) -> Vec<String> {
        self.context.with(|ctx| {
            let list: Option<Function<'_>> = ctx.globals().get("__basalt_registered_triggers").ok();
            let text: Option<String> = list.and_then(|list| list.call::<_, String>(()).ok());
            text.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
        })
    }

    /// The validators' rate limits, as parse.js recorded them.
    pub(crate) fn registered_rate_limits(&self) -> Vec<Value> {
        self.context.with(|ctx| {
            let list: Option<Function<'_>> = ctx.globals().get("__basalt_rate_limits").ok();
            let text: Option<String> = list.and_then(|list| list.call::<_, String>(()).ok());
            text.and_then(|text| serde_json::from_str(&text).ok()).unwrap_or_default()
        })
    }

    /// Runs a function; rebuilds the runtime first if the previous call broke a limit.
    pub(crate) fn run_function(&mut self, call: &FunctionCall) -> ParseResult<Option<Value>> {
        // Separate strings, not one JSON request (see `__basalt_invoke` in parse.js); the headers
        // are parsed only if the function reads `request.headers`.
        let json_text =
            |value: &serde_json::Map<String, Value>| serde_json::to_string(value).map_err(ParseError::internal);
        let user = call.user.as_ref().map(json_text).transpose()?.unwrap_or_default();
        let args = vec![
            call.name.clone(),
            json_text(&call.params)?,
            json_text(&call.headers)?,
            if call.master { "1".to_owned() } else { String::new() },
            user,
            call.installation_id.clone().unwrap_or_default(),
            call.ip.clone().unwrap_or_default(),
        ];
        self.invoke("__basalt_invoke", args)
    }

    /// Runs a trigger; for beforeSave the outcome is the body to write.
    pub(crate) fn run_trigger(&mut self, call: &TriggerCall) -> ParseResult<Option<Value>> {
        let request = json!({
            "object": call.object,
            "original": call.original,
            "master": call.master,
            "user": call.user,
            "installationId": call.installation_id,
            "context": call.context,
        })
        .to_string();
        self.invoke("__basalt_trigger", vec![call.kind.name().to_owned(), call.class_name.clone(), request])
    }

    /// Runs a background job, with the jobs' time limit.
    pub(crate) fn run_job(&mut self, call: &JobCall) -> ParseResult<Option<Value>> {
        let request = json!({ "params": call.params, "jobId": call.job_status_id }).to_string();
        let limit_ms = self.limits.job_ms_max;
        self.invoke_with_limit("__basalt_job", vec![call.name.clone(), request], limit_ms)
    }

    /// Calls a shim entry point under the per-call time limit.
    fn invoke(&mut self, entry: &str, args: Vec<String>) -> ParseResult<Option<Value>> {
        let limit_ms = self.limits.cpu_ms_max;
        self.invoke_with_limit(entry, args, limit_ms)
    }

    /// Calls a shim entry point and runs the JavaScript jobs it queues until its outcome is set.
    fn invoke_with_limit(&mut self, entry: &str, args: Vec<String>, limit_ms: u64) -> ParseResult<Option<Value>> {
        if self.broken {
            match Worker::start(self.source.clone(), self.handle.clone(), self.limits) {
                Ok(fresh) => {
                    let serving = self.engine.borrow_mut().take();
                    *self = fresh;
                    *self.engine.borrow_mut() = serving;
                }
                Err(error) => return Err(ParseError::internal(format!("reloading cloud code: {error}"))),
            }
        }
        self.interrupted.store(false, Ordering::Relaxed);
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.deadline.store(now.saturating_add(limit_ms), Ordering::Relaxed);
        let started = self.context.with(|ctx| -> Result<(), String> {
            let invoke: Function<'_> = ctx.globals().get(entry).map_err(|error| error.to_string())?;
            invoke.call::<_, ()>((Rest(args),)).map_err(|error| match error {
                rquickjs::Error::Exception => describe_exception(&ctx),
                other => other.to_string(),
            })
        });
        let mut failure = started.err();
        while failure.is_none() && self.runtime.is_job_pending() {
            if let Err(error) = self.runtime.execute_pending_job() {
                failure = Some(error.0.with(|ctx| describe_exception(&ctx)));
            }
        }
        self.deadline.store(NO_DEADLINE, Ordering::Relaxed);
        let outcome: Option<String> =
            self.context.with(|ctx| ctx.globals().get::<_, Option<String>>("__basalt_outcome").ok().flatten());
        if self.interrupted.load(Ordering::Relaxed) {
            self.broken = true;
            return Err(ParseError::new(
                ErrorCode::ScriptFailed,
                format!("Script exceeded the time limit of {limit_ms} ms."),
            ));
        }
        let out_of_memory = |text: &str| text.contains("out of memory");
        if failure.as_deref().is_some_and(out_of_memory) || outcome.as_deref().is_some_and(out_of_memory) {
            self.broken = true;
            return Err(ParseError::new(
                ErrorCode::ScriptFailed,
                format!("Script exceeded the memory limit of {} bytes.", self.limits.memory_bytes_max),
            ));
        }
        if outcome.as_deref() == Some("#string") {
            let result =
                self.context.with(|ctx| ctx.globals().get::<_, Option<String>>("__basalt_result").ok().flatten());
            return Ok(result.map(Value::String));
        }
        let Some(outcome) = outcome else {
            self.broken = failure.is_some();
            return Err(ParseError::new(
                ErrorCode::ScriptFailed,
                failure.unwrap_or_else(|| "The cloud function did not finish.".to_owned()),
            ));
        };
        let outcome: Value = serde_json::from_str(&outcome).map_err(ParseError::internal)?;
        if let Some(error) = outcome.get("error") {
            let code =
                error.get("code").and_then(Value::as_i64).and_then(|code| i32::try_from(code).ok()).unwrap_or(141);
            let message = error.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
            return Err(ParseError::new(ErrorCode::from_i32(code), message));
        }
        // No `ok`: the function returned undefined (the response then has no `result`).
        Ok(outcome.get("ok").cloned())
    }
}
