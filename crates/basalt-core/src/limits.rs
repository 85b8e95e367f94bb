//! Every limit Basalt enforces, in one place. Parse Server leaves most complexity limits off;
//! Basalt turns them on with values generous enough for real apps and small enough that one
//! request cannot take the server down. Each is enforced at the edge with a Parse error.
//!
//! Fields are the limits a server may set (flags, tests); associated constants are fixed, because
//! data or other nodes depend on them.

/// The limits in force for one server. Flags may override the defaults.
#[derive(Clone, Debug)]
pub struct Limits {
    // --- Connections and requests ---
    /// Connections open at once, LiveQuery WebSockets included; one more is answered 503 (code
    /// 100) and closed at once. Each costs a file descriptor and a few KiB; ten thousand fits the
    /// usual limit of open files (raise `ulimit -n` with this) and far more clients than two
    /// cores serve.
    pub connections_max: usize,
    /// Time a client has to send a request's headers, in milliseconds; also how long an idle
    /// keep-alive connection stays open. Real clients send their headers in one packet; without
    /// a bound, a client trickling a byte at a time holds its connection forever. Node (and so
    /// Parse Server) closes idle keep-alive connections after 5 s; ten seconds leaves slow
    /// mobile links room.
    pub header_read_ms_max: u64,
    /// Time a client has to send a request's body once its headers are in, in milliseconds. A
    /// 20 MiB upload (the default upload limit) needs 1.4 Mbit/s to fit in two minutes; a client
    /// trickling its body is answered 408 (code 124) and disconnected then.
    pub body_read_ms_max: u64,
    /// Largest JSON request body accepted (413, code 130 beyond). Parse Server's `maxUploadSize`
    /// default is 20 MiB.
    pub body_bytes_max: usize,
    /// Largest uploaded file (`--max-upload-size`; 413, code 130 beyond). Parse Server's default.
    pub file_upload_bytes_max: u64,
    /// Sub-requests in one `/batch`. Parse Server's default is unlimited; the JS SDK sends 20.
    pub batch_requests_max: usize,

    // --- Queries ---
    /// Results a query returns when it gives no `limit`. Parse Server's `defaultLimit`.
    pub find_limit_default: usize,
    /// Largest `limit` a query may ask for; more is answered with 102 rather than an unbounded
    /// page held in memory. Ten thousand covers dashboards and exports in pages.
    pub find_limit_max: usize,
    /// Nesting of `$or`/`$and`/`$nor` and sub-queries. Real apps nest two or three deep; the bound
    /// keeps the compiled SQL and the recursion of the parser small.
    pub query_depth_max: usize,
    /// Branches in one `$or`/`$and`/`$nor`, and elements of one `$in`/`$nin`/`$all` list.
    /// SQLite binds at most 32766 parameters per statement; this keeps every query far below.
    pub query_list_max: usize,
    /// Include paths in one query; each costs a query per page.
    pub include_count_max: usize,
    /// Dots in one include path.
    pub include_depth_max: usize,
    /// Length of a `$regex` pattern. The regex engine runs in linear time; this bounds its
    /// compile cost and memory.
    pub regex_bytes_max: usize,
    /// Objects an aggregation reads (its `$match` applied in SQL first); more is 102. The
    /// pipeline runs in memory over all of them, so this bounds the memory of one request;
    /// a larger input must be narrowed with `$match`.
    pub aggregate_input_objects_max: usize,

    // --- Schemas ---
    /// Fields of one class, its default fields included; a write or schema change adding more is
    /// answered 255 before anything is stored. PostgreSQL allows 1,600 columns in a table
    /// (dropped ones still count), SQLite 2,000; a thousand leaves room for fields deleted and
    /// added again, and is far more than an app's class holds.
    pub class_fields_max: usize,

    // --- LiveQuery ---
    /// LiveQuery subscriptions one connection may hold (155 beyond). Every subscription is
    /// matched against every write to its class; an app watches a handful of queries per screen,
    /// and this keeps one socket from making every write expensive.
    pub live_query_subscriptions_per_connection_max: usize,
    /// LiveQuery subscriptions all connections from one address may hold together (155 beyond),
    /// so opening more sockets does not get around the per-connection cap. Generous, because
    /// many users behind one NAT or proxy share an address.
    pub live_query_subscriptions_per_address_max: usize,
    /// Frames queued for one LiveQuery client before it counts as fallen behind and is
    /// disconnected: about a second of events at a busy class, a few hundred KiB at most.
    pub live_query_frames_queued_per_connection_max: usize,
    /// Committed changes waiting for LiveQuery's matcher. Writers never wait on it; when it is
    /// full, changes are dropped and every LiveQuery client is disconnected (clients reconnect and
    /// subscribe again), so memory stays bounded when matching falls behind the writes.
    pub live_query_events_queued_max: usize,
    /// Largest message a LiveQuery client may send; a subscription is a query, far smaller. A
    /// larger one closes the socket (WebSocket close code 1009).
    pub live_query_message_bytes_max: usize,
    /// Time one frame may take to reach a client's socket, in milliseconds; a client whose
    /// network stalls this long is disconnected rather than holding its queue.
    pub live_query_frame_write_ms_max: u64,

    // --- Cloud code ---
    /// CPU time one cloud code call may take, in milliseconds (141 beyond). A second is generous
    /// for request handlers and ends runaway loops quickly.
    pub cloud_call_ms_max: u64,
    /// Memory one cloud code runtime may use, in bytes (141 beyond); bounds a memory bomb well
    /// below the machine's memory.
    pub cloud_memory_bytes_max: usize,
    /// Time one background job may run, in milliseconds.
    pub cloud_job_ms_max: u64,

    // --- Rate limits ---
    /// Request counters (one per rule and address or user) kept in memory before those whose
    /// window has ended are swept out, so a flood of addresses does not grow memory with
    /// counters that no longer count.
    pub rate_limit_counters_max: usize,
}

impl Limits {
    /// Length of a class or field name, and of any name of a table or index built from them
    /// (`_Join:<field>:<class>:related`, `<class>:<index>`), in bytes. PostgreSQL cuts
    /// identifiers at 63 bytes without an error, so two longer names would share a column or a
    /// table; both stores refuse them, so an app moves between stores unchanged. Fixed, not a
    /// flag: a database's names must stay valid under every server that opens it.
    pub const NAME_BYTES_MAX: usize = 63;

    /// Length of an uploaded file's name, in bytes (122 beyond): Parse Server's rule, and a
    /// stored file's name must stay valid under every node that serves it.
    pub const FILE_NAME_BYTES_MAX: usize = 128;

    /// Largest magnitude an `Increment` may leave a number at: 2^53 - 1, JavaScript's
    /// `Number.MAX_SAFE_INTEGER`. Past it a double no longer holds every integer, so a counter
    /// would silently stop counting (or, past the largest double, be stored as null); the SDKs
    /// read every number as a double.
    pub const INCREMENT_RESULT_MAX: f64 = 9_007_199_254_740_991.0;

    /// Compiled size of a `$regex`, in bytes (the regex crate's `size_limit`; 102 beyond). Fixed:
    /// the SQLite store compiles the same patterns again inside SQL, under the same bound.
    pub const REGEX_COMPILED_BYTES_MAX: usize = 1024 * 1024;

    /// How long a write waits for a lock another connection holds (SQLite's busy timeout; on
    /// PostgreSQL, `lock_timeout` on every connection), in milliseconds, before it fails with
    /// `ParseError::busy` (code 1, HTTP 503): another process writing the SQLite file, a session
    /// holding a row with `SELECT … FOR UPDATE` or a table lock. Writes take milliseconds; a
    /// lock held for seconds is a stuck or foreign client, and a request should not wait on it
    /// for as long as the client's own timeout (often 20 s or more) or forever.
    pub const LOCK_WAIT_MS_MAX: u64 = 5_000;

    /// How deep cloud code may call cloud code (a trigger whose save runs another trigger…);
    /// 141 beyond. Each level holds a runtime and a thread; real chains are two or three deep.
    pub const CLOUD_NESTING_DEPTH_MAX: usize = 8;

    /// The longest an outbound HTTP request may take (`Parse.Cloud.httpRequest`, a webhook),
    /// connection to last byte, in milliseconds; a slow remote cannot hold a worker or a request
    /// forever.
    pub const OUTBOUND_REQUEST_MS_MAX: u64 = 30_000;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections_max: 10_000,
            header_read_ms_max: 10_000,
            body_read_ms_max: 120_000,
            body_bytes_max: 20 * 1024 * 1024,
            file_upload_bytes_max: 20 * 1024 * 1024,
            batch_requests_max: 1_000,
            find_limit_default: 100,
            find_limit_max: 10_000,
            query_depth_max: 8,
            query_list_max: 1_000,
            include_count_max: 20,
            include_depth_max: 5,
            regex_bytes_max: 1_024,
            aggregate_input_objects_max: 100_000,
            class_fields_max: 1_000,
            live_query_subscriptions_per_connection_max: 100,
            live_query_subscriptions_per_address_max: 10_000,
            live_query_frames_queued_per_connection_max: 1_000,
            live_query_events_queued_max: 10_000,
            live_query_message_bytes_max: 1024 * 1024,
            live_query_frame_write_ms_max: 5_000,
            cloud_call_ms_max: 1_000,
            cloud_memory_bytes_max: 64 * 1024 * 1024,
            cloud_job_ms_max: 15 * 60 * 1000,
            rate_limit_counters_max: 10_000,
        }
    }
}
