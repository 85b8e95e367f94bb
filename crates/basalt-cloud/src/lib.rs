//! Cloud code: the developer's `main.js` (and the CommonJS modules it requires) run in embedded
//! QuickJS runtimes (rquickjs), with a `Parse` global written for Basalt (`js/parse.js`) that
//! calls the engine in-process, never over HTTP.
//!
//! Several worker threads each own a runtime with the code loaded; calls are spread over them, so
//! there is no global lock across requests. Each call has a CPU-time limit (an interrupt handler
//! checks a deadline) and each runtime a memory limit; a call that exceeds either ends with 141
//! and its runtime is rebuilt, while the other workers keep serving.

mod bridge;
mod worker;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, mpsc};

use basalt_core::{ErrorCode, ParseError, ParseResult};
use basalt_engine::{Engine, FunctionCall, Hooks};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::worker::Worker;

/// Limits of cloud code.
#[derive(Clone, Copy, Debug)]
pub struct CloudLimits {
    /// CPU time one call may take, in milliseconds.
    pub cpu_ms_max: u64,
    /// Memory one runtime may use, in bytes.
    pub memory_bytes_max: usize,
    /// Runtimes, each on its own thread; calls beyond this wait for a free one.
    pub workers: usize,
}

impl Default for CloudLimits {
    fn default() -> Self {
        // A second of CPU is generous for request handlers and ends runaway loops quickly;
        // 64 MiB per runtime bounds a memory bomb well below the machine's memory.
        CloudLimits { cpu_ms_max: 1000, memory_bytes_max: 64 * 1024 * 1024, workers: 2 }
    }
}

struct Job {
    call: FunctionCall,
    reply: oneshot::Sender<ParseResult<Option<Value>>>,
}

/// Loaded cloud code: the engine's `Hooks`.
pub struct CloudCode {
    jobs: Mutex<mpsc::Sender<Job>>,
}

/// Where the code lives: the entry file and the directory `require` may read from.
#[derive(Clone, Debug)]
pub(crate) struct Source {
    pub(crate) main: PathBuf,
    pub(crate) root: PathBuf,
}

impl CloudCode {
    /// Loads `main` into every worker. Must be called inside a Tokio runtime (the workers call
    /// the engine through it).
    ///
    /// # Errors
    /// The file, line and message of a syntax error or a throw while loading.
    pub fn load(main: &Path, engine: Engine, limits: CloudLimits) -> Result<Arc<CloudCode>, String> {
        let main = main.canonicalize().map_err(|error| format!("{}: {error}", main.display()))?;
        let root = main.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/"));
        let source = Source { main, root };
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| "cloud code needs a Tokio runtime".to_owned())?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let (loaded_sender, loaded) = mpsc::channel::<Result<(), String>>();
        for index in 0..limits.workers.max(1) {
            let receiver = Arc::clone(&receiver);
            let engine = engine.clone();
            let handle = handle.clone();
            let source = source.clone();
            let loaded_sender = loaded_sender.clone();
            std::thread::Builder::new()
                .name(format!("basalt-cloud-{index}"))
                .spawn(move || {
                    let worker = Worker::start(source, engine, handle, limits);
                    let mut worker = match worker {
                        Ok(worker) => {
                            let _ = loaded_sender.send(Ok(()));
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
                        let result = worker.run_function(&job.call);
                        let _ = job.reply.send(result);
                    }
                })
                .map_err(|error| format!("starting a cloud code worker: {error}"))?;
        }
        drop(loaded_sender);
        for _ in 0..limits.workers.max(1) {
            match loaded.recv() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => return Err(error),
                Err(_) => return Err("a cloud code worker stopped while loading".to_owned()),
            }
        }
        Ok(Arc::new(CloudCode { jobs: Mutex::new(sender) }))
    }
}

impl Hooks for CloudCode {
    fn run_function(
        &self,
        call: FunctionCall,
    ) -> Pin<Box<dyn Future<Output = ParseResult<Option<Value>>> + Send + '_>> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let sent = match self.jobs.lock() {
                Ok(jobs) => jobs.send(Job { call, reply }).is_ok(),
                Err(_) => false,
            };
            if !sent {
                return Err(ParseError::internal("cloud code workers have stopped"));
            }
            answer.await.unwrap_or_else(|_| {
                Err(ParseError::new(ErrorCode::ScriptFailed, "The cloud code worker stopped during the call."))
            })
        })
    }
}
