//! Hostile and careless clients: connections that trickle, too many connections, names and
//! values a store cannot hold, numbers past the safe range, writes against a locked database.
//! Each is answered with a clear Parse error, and nothing is stored or lost.

use std::time::Duration;

use basalt_core::Limits;
use basalt_test_support::{APP_ID, MASTER_KEY, Reply, TestOptions, TestServer};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The bound of every wait below: far past the limits under test, so only a missing limit fails.
const WAIT: Duration = Duration::from_secs(10);

#[track_caller]
fn assert_parse_error(reply: &Reply, status: u16, code: i64) {
    assert_eq!(reply.status, status, "status of {reply:?}");
    assert_eq!(reply.body["code"], json!(code), "code of {reply:?}");
    assert!(reply.body["error"].as_str().is_some_and(|message| !message.is_empty()), "message of {reply:?}");
}

async fn server_with(limits: Limits) -> TestServer {
    TestServer::start_with(TestOptions { limits: Some(limits), ..TestOptions::default() }).await
}

/// The objects of `class_name`, read with the master key.
async fn objects(server: &TestServer, class_name: &str) -> Vec<Value> {
    let reply = server.master("GET", &format!("/classes/{class_name}"), None).await;
    match reply.body["results"].as_array() {
        Some(results) => results.clone(),
        None => panic!("no results: {reply:?}"),
    }
}

/// Reads one HTTP/1.1 response (with a `content-length`) from `stream`: status and JSON body.
async fn read_response(stream: &mut (impl AsyncRead + Unpin)) -> (u16, Value) {
    let mut received = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length: ").map(str::to_owned))
                .and_then(|length| length.trim().parse::<usize>().ok())
                .expect("a content-length");
            if body.len() >= length {
                let status = head.split(' ').nth(1).and_then(|status| status.parse().ok()).expect("a status");
                return (status, serde_json::from_str(&body[..length]).unwrap_or(Value::Null));
            }
        }
        let read = stream.read(&mut chunk).await.expect("read a response");
        assert!(read > 0, "the connection closed before a whole response: {text:?}");
        received.extend_from_slice(&chunk[..read]);
    }
}

/// Waits until the server closes `stream` (end of file or reset), reading what it sends.
async fn closed_by_server(stream: &mut (impl AsyncRead + Unpin)) {
    let mut sink = [0_u8; 4096];
    while let Ok(read) = stream.read(&mut sink).await
        && read > 0
    {}
}

/// Sends `bytes` one at a time, one every `pace`, until a write fails (the server closed).
/// The pace is the slow client being simulated, not a wait for the server.
async fn trickle(stream: &mut tokio::net::tcp::OwnedWriteHalf, bytes: impl Iterator<Item = u8>, pace: Duration) {
    let mut ticks = tokio::time::interval(pace);
    for byte in bytes {
        ticks.tick().await;
        if stream.write_all(&[byte]).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn connections_trickling_headers_are_closed_at_the_header_timeout() {
    let server = server_with(Limits { header_read_ms_max: 500, ..Limits::default() }).await;
    let address = server.address;
    let connections = (0..300).map(|_| async move {
        let stream = TcpStream::connect(address).await.expect("connect");
        let (mut reading, mut writing) = stream.into_split();
        // A request line, then header lines without end, a byte every 100 ms.
        let endless = b"GET /parse/health HTTP/1.1\r\n".iter().copied().chain(b"X-Slow: 1\r\n".iter().copied().cycle());
        let writer = tokio::spawn(async move { trickle(&mut writing, endless, Duration::from_millis(100)).await });
        let mut sink = [0_u8; 1024];
        while let Ok(read) = reading.read(&mut sink).await
            && read > 0
        {}
        writer.abort();
    });
    let all_closed = tokio::time::timeout(WAIT, futures_util::future::join_all(connections)).await;
    assert!(all_closed.is_ok(), "connections trickling headers stayed open past the header timeout");
    // The server still serves.
    let reply = server.client_call("GET", "/health", None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_trickled_body_is_answered_408_and_nothing_is_stored() {
    let server = server_with(Limits { body_read_ms_max: 500, ..Limits::default() }).await;
    server.master("POST", "/classes/Slow", Some(json!({"n": 1}))).await;
    let stream = TcpStream::connect(server.address).await.expect("connect");
    let (mut reading, mut writing) = stream.into_split();
    let head = format!(
        "POST /parse/classes/Slow HTTP/1.1\r\nHost: basalt\r\nX-Parse-Application-Id: {APP_ID}\r\n\
         X-Parse-Master-Key: {MASTER_KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"n\": 2"
    );
    writing.write_all(head.as_bytes()).await.expect("send the head");
    let writer = tokio::spawn(async move {
        trickle(&mut writing, std::iter::repeat(b' '), Duration::from_millis(100)).await;
    });
    let answered = tokio::time::timeout(WAIT, async {
        let answer = read_response(&mut reading).await;
        closed_by_server(&mut reading).await;
        answer
    })
    .await;
    writer.abort();
    let Ok((status, body)) = answered else { panic!("a trickled body was still being read after {WAIT:?}") };
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["code"], json!(124), "{body}");
    assert_eq!(objects(&server, "Slow").await.len(), 1);
}

#[tokio::test]
async fn a_connection_over_the_limit_is_answered_503_and_a_freed_place_is_reused() {
    let server = server_with(Limits { connections_max: 3, ..Limits::default() }).await;
    let health = b"GET /parse/health HTTP/1.1\r\nHost: basalt\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.address).await.expect("connect");
        stream.write_all(health).await.expect("send");
        // Answered, so accepted and counted; kept alive.
        assert_eq!(read_response(&mut stream).await.0, 200);
        held.push(stream);
    }
    let mut refused = TcpStream::connect(server.address).await.expect("connect");
    refused.write_all(health).await.expect("send");
    let (status, body) = tokio::time::timeout(WAIT, read_response(&mut refused)).await.expect("an answer");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["code"], json!(100), "{body}");
    tokio::time::timeout(WAIT, closed_by_server(&mut refused)).await.expect("the refused connection closes");
    // A held connection closes; its place goes to the next client once the server sees it go.
    drop(held.pop());
    let reused = tokio::time::timeout(WAIT, async {
        loop {
            let mut stream = TcpStream::connect(server.address).await.expect("connect");
            stream.write_all(health).await.expect("send");
            if read_response(&mut stream).await.0 == 200 {
                return;
            }
        }
    })
    .await;
    assert!(reused.is_ok(), "the place of a closed connection was not freed");
}
