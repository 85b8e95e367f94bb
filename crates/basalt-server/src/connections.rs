//! Accepting and serving connections (HTTP/1.1 on hyper): at most `Limits::connections_max` open
//! at once, request headers within `Limits::header_read_ms_max`, and graceful shutdown. axum's
//! own `serve` sets neither a connection limit nor a header timeout, so a client trickling
//! header bytes kept its connection (and a task) forever.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt;

/// The answer to a connection over `Limits::connections_max`, written before reading anything.
/// 503 because the JS SDK retries a 5xx after a back-off; code 100 is Parse's "the connection to
/// the server failed".
const OVER_LIMIT_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: 69\r\nconnection: close\r\nretry-after: 1\r\n\r\n{\"code\":100,\"error\":\"Too many connections to the server; try again.\"}";

/// How long a refused connection is kept for its answer to be read: after the answer the server
/// reads what the client sent until it closes, so closing does not reset the connection and
/// discard the answer before the client read it.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// What `serve_connections` needs besides the listener.
pub(crate) struct ConnectionLimits {
    pub(crate) connections_max: usize,
    pub(crate) header_read: Duration,
}

/// Serves `service` on every connection `listener` accepts until `shutdown` completes, then
/// lets the open connections finish their requests and returns.
pub(crate) async fn serve_connections<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: tower::Service<axum::extract::Request, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read);
    // Dropped when shutdown starts: every connection task watches for it.
    let (stop_sender, stop) = watch::channel(());
    // Every connection task holds a clone; closed when the last one ends.
    let (done_sender, done) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    handle_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let io = TokioIo::new(CountedStream { stream, _permit: permit });
        let service = service.clone();
        let hyper_service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            service.clone().oneshot(request.map(Body::new))
        });
        let connection = builder.serve_connection(io, hyper_service).with_upgrades();
        let mut stop = stop.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                served = connection.as_mut() => {
                    if let Err(error) = served {
                        tracing::debug!(%error, "connection ended");
                    }
                }
                _ = stop.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stop_sender);
    drop(done);
    done_sender.closed().await;
}

/// Answers a connection over the limit and closes it.
async fn refuse(mut stream: TcpStream) {
    tracing::warn!("refused a connection: the connection limit is reached");
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(OVER_LIMIT_RESPONSE).await?;
        stream.shutdown().await?;
        let mut sink = [0_u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    })
    .await;
}

/// As axum's `serve`: a failed accept that is about one connection is skipped; any other (out of
/// file descriptors, most often) is logged and retried after a second, when connections may
/// have closed.
async fn handle_accept_error(error: io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// A connection with its place under the limit: the permit goes back when the socket is dropped,
/// also when a WebSocket upgrade carried the socket away from hyper's connection task.
struct CountedStream {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for CountedStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for CountedStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
