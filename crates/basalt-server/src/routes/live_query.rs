//! The LiveQuery WebSocket endpoint, on the API's port: at the mount path (where the JS SDK
//! looks by default) and at `/`. Frames go to the realtime hub; its queue for this connection
//! is written out by a separate task, so a slow socket never holds up the hub.

use std::sync::Arc;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use basalt_realtime::{Frame, Hub};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;

use crate::AppState;

/// `GET` with `Upgrade: websocket`; a plain `GET` here is an unknown route (404), as in Parse.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let (Some(hub), Ok(upgrade)) = (state.hub.clone(), upgrade) else {
        return crate::routes::not_found(method, uri).await.into_response();
    };
    upgrade.on_upgrade(move |socket| serve_socket(hub, socket))
}

async fn serve_socket(hub: Arc<Hub>, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (client_id, mut frames) = hub.open();
    let writer = tokio::spawn(async move {
        while let Some(Frame::Text(text)) = frames.recv().await {
            if sink.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
        // The hub dropped this client's queue: it fell behind. Say so, then close.
        let message = json!({"op": "error", "error": "The client fell behind and was disconnected.", "code": 1, "reconnect": true, "requestId": null});
        let _ = sink.send(Message::Text(message.to_string().into())).await;
        let _ = sink.close().await;
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => hub.receive(client_id, text.as_str()).await,
            Message::Close(_) => break,
            _ => {}
        }
        if writer.is_finished() {
            break;
        }
    }
    hub.close(client_id);
    writer.abort();
}
