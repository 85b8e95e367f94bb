//! The LiveQuery WebSocket endpoint, on the API's port: at the mount path (where the JS SDK
//! looks by default) and at `/`. Frames go to the realtime hub; its queue for this connection
//! is written out by a separate task, so a slow socket never holds up the hub.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use basalt_realtime::{Frame, Hub};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use crate::AppState;

/// `GET` with `Upgrade: websocket`; a plain `GET` here is an unknown route (404), as in Parse.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    method: axum::http::Method,
    uri: axum::http::Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|info| info.0.ip());
    let (Some(hub), Ok(upgrade)) = (state.hub.clone(), upgrade) else {
        return crate::routes::not_found(method, uri).await.into_response();
    };
    // Clients send small frames: a small read buffer keeps 1,000 idle connections cheap.
    upgrade
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(state.engine.limits().live_query_message_bytes_max)
        .on_upgrade(move |socket| serve_socket(hub, socket, peer, state.closing))
}

/// Read buffer per connection.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// How long a dropped client gets to take its "fell behind" error before the socket closes.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a shutting-down server waits for its sockets' close frames to go out.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

async fn serve_socket(
    hub: Arc<Hub>,
    socket: WebSocket,
    peer: Option<std::net::IpAddr>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = socket.split();
    let basalt_realtime::Opened { client_id, mut frames, kick } = hub.open_with_kick(peer);
    // How long one burst of frames may take to reach the client before it counts as gone.
    let frame_write = Duration::from_millis(hub.limits().live_query_frame_write_ms_max);
    let mut writer = tokio::spawn(async move {
        let shutdown = async move {
            // The sender gone without saying `true` means the server never closes sockets.
            if closing.wait_for(|closing| *closing).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => {
                    // 1001 "going away": the client reconnects (the JS SDK does, with back-off).
                    let frame = CloseFrame { code: close_code::AWAY, reason: "The server is shutting down.".into() };
                    let _ = tokio::time::timeout(CLOSE_TIMEOUT, sink.send(Message::Close(Some(frame)))).await;
                    return;
                }
                frame = frames.recv() => {
                    let Some(Frame::Text(text)) = frame else { break };
                    // Write every frame already queued, then flush once: one system call for a burst.
                    let mut burst = vec![text];
                    while let Ok(Frame::Text(text)) = frames.try_recv() {
                        burst.push(text);
                    }
                    let write = async {
                        for text in burst {
                            sink.feed(Message::Text(text.into())).await?;
                        }
                        sink.flush().await
                    };
                    match tokio::time::timeout(frame_write, write).await {
                        Ok(Ok(())) => {}
                        _ => return,
                    }
                }
                () = kick.notified() => break,
            }
        }
        // The hub dropped this client: it fell behind. Say so, then close.
        let message = json!({"op": "error", "error": "The client fell behind and was disconnected.", "code": 1, "reconnect": true, "requestId": null});
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, sink.send(Message::Text(message.to_string().into()))).await;
        let _ = tokio::time::timeout(FAREWELL_TIMEOUT, sink.close()).await;
    });
    loop {
        tokio::select! {
            message = stream.next() => match message {
                Some(Ok(Message::Text(text))) => hub.receive(client_id, text.as_str()).await,
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            _ = &mut writer => break,
        }
    }
    hub.close(client_id);
    writer.abort();
}
