//! The HTTP face of Basalt: Parse Server's REST API under a mount path, on axum.
//!
//! A request passes `request::prepare` first (before routing, because the JS SDK tunnels the real
//! method inside a POST body): CORS preflight, body parsing, key checks, the caller's identity.
//! Routes then call the engine and turn its answers into Parse's JSON.

mod connections;
mod cors;
mod error;
mod request;
mod routes;

use std::future::Future;

use axum::Router;
use basalt_engine::Engine;
use tokio::net::TcpListener;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;

pub use error::ApiError;

/// The keys and addresses a server accepts.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub keys: basalt_engine::AppKeys,
    /// Where the API is mounted, e.g. `/parse` (no trailing slash).
    pub mount_path: String,
    /// The URL clients reach the API at, e.g. `http://localhost:1337/parse`.
    pub public_server_url: String,
}

/// The state every handler sees.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) engine: Engine,
    pub(crate) config: std::sync::Arc<ServerConfig>,
    /// LiveQuery; `None` when it is off.
    pub(crate) hub: Option<std::sync::Arc<basalt_realtime::Hub>>,
    /// Becomes `true` when the server shuts down: each LiveQuery socket sends a close frame and
    /// ends. (Its sender dropped without sending, as `app` leaves it, means never.)
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

/// The whole application: the API under the mount path, with request preparation in front.
pub fn app(
    engine: Engine,
    config: ServerConfig,
    hub: Option<std::sync::Arc<basalt_realtime::Hub>>,
) -> axum::routing::RouterIntoService<axum::body::Body> {
    let (_, closing) = tokio::sync::watch::channel(false);
    routes(AppState { engine, config: std::sync::Arc::new(config), hub, closing })
}

fn routes(state: AppState) -> axum::routing::RouterIntoService<axum::body::Body> {
    let mount = match state.config.mount_path.trim_end_matches('/') {
        "" => String::new(),
        mount => mount.to_owned(),
    };
    let mut router = Router::new()
        .merge(routes::health::router(&mount)) // /health
        .merge(routes::classes::router(&mount)) // /classes/:className[/:objectId]
        .merge(routes::users::router(&mount)) // /users, /users/me, /login, /logout
        .merge(routes::push::router(&mount)) // /push, /push_audiences
        .merge(routes::mirrors::router(&mount)) // /sessions, /sessions/me, /roles, /installations
        .merge(routes::schemas::router(&mount)) // /schemas[/:className], /purge/:className
        .merge(routes::batch::router(&mount)) // /batch
        .merge(routes::config::router(&mount)) // /config
        .merge(routes::files::router(&mount)) // /files/:name, /files/:appId/:name
        .merge(routes::functions::router(&mount)) // /functions/:name
        .merge(routes::jobs::router(&mount)) // /jobs/:name
        .merge(routes::hooks::router(&mount)) // /hooks/functions, /hooks/triggers
        .merge(routes::pages::router(&mount)) // /apps/… pages behind email links
        .merge(routes::aggregate::router(&mount)) // /aggregate/:className
        .merge(routes::server_info::router(&mount)) // /serverInfo
        // LiveQuery WebSocket, at the root and at the mount path.
        .route("/", axum::routing::get(routes::live_query::upgrade));
    if !mount.is_empty() {
        router = router
            .merge(routes::health::router("")) // /health at the root too
            .route(&mount, axum::routing::get(routes::live_query::upgrade));
    }
    let router = router
        .fallback(routes::not_found)
        // Parse compat: a known path with another method is an unknown route (404), not 405.
        .method_not_allowed_fallback(routes::not_found);
    router.with_state(state).into_service()
}

/// Serves `app` on `listener` until `shutdown` completes, within the connection limits of the
/// engine's `Limits` (connections at once, time to send headers).
///
/// # Errors
/// None today; the signature leaves room for failures to start serving.
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    config: ServerConfig,
    hub: Option<std::sync::Arc<basalt_realtime::Hub>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = connections::ConnectionLimits {
        connections_max: engine.limits().connections_max,
        header_read: std::time::Duration::from_millis(engine.limits().header_read_ms_max),
    };
    let (closing_sender, closing) = tokio::sync::watch::channel(false);
    let closing_sender = std::sync::Arc::new(closing_sender);
    let state = AppState { engine, config: std::sync::Arc::new(config), hub, closing };
    let routed = routes(state.clone());
    let prepared = axum::middleware::from_fn_with_state(state, request::prepare).layer(routed);
    let service = tower::ServiceBuilder::new()
        .map_response(|response: axum::http::Response<_>| response.map(axum::body::Body::new))
        .layer(CatchPanicLayer::custom(error::panic_response))
        .service(prepared);
    // LiveQuery sockets are told at once, and close while HTTP requests finish.
    let signal = {
        let closing_sender = std::sync::Arc::clone(&closing_sender);
        async move {
            shutdown.await;
            let _ = closing_sender.send(true);
        }
    };
    connections::serve_connections(listener, service, limits, signal).await;
    // Every receiver left is a LiveQuery socket's; each drops it once its close frame is out.
    let _ = tokio::time::timeout(routes::live_query::CLOSE_TIMEOUT, closing_sender.closed()).await;
    Ok(())
}
