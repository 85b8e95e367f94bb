//! How every provider delivers so that it holds up: the numbers (`Tuning`), the retry loop with
//! exponential backoff honouring `Retry-After`, a concurrency cap per provider, and the helpers
//! turning an HTTP answer or a transport error into the result of one attempt.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::{ConfigError, Delivery, Device, Outcome};

/// How many times a request is tried before it is given up.
pub(crate) const DEFAULT_ATTEMPTS: u32 = 5;
/// The wait before the first retry; each further wait doubles it.
pub(crate) const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);
/// The longest single wait between two attempts (a longer `Retry-After` is cut to it).
pub(crate) const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long one request may take, from connecting to the last byte of its answer.
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How many requests one provider has in flight at once.
pub(crate) const DEFAULT_CONCURRENCY: usize = 64;
/// How many messages one Expo request carries (Expo's own limit).
pub(crate) const DEFAULT_EXPO_BATCH: usize = 100;

/// The numbers that shape delivery. `Tuning::default()` holds the production values; tests
/// shorten the backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tuning {
    /// How many times a request is tried (at least once).
    pub attempts: u32,
    /// The wait before the first retry; each further wait doubles it.
    pub backoff_base: Duration,
    /// The longest single wait, `Retry-After` included.
    pub backoff_max: Duration,
    /// How long one request may take.
    pub request_timeout: Duration,
    /// How many requests one provider has in flight at once.
    pub concurrency: usize,
    /// How many messages one Expo request carries.
    pub expo_batch: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            attempts: DEFAULT_ATTEMPTS,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            concurrency: DEFAULT_CONCURRENCY,
            expo_batch: DEFAULT_EXPO_BATCH,
        }
    }
}

impl Tuning {
    /// The wait after the failed attempt numbered `attempt` (1 for the first): what the provider
    /// asked for, else the exponential backoff, never more than `backoff_max`.
    pub(crate) fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        retry_after.unwrap_or_else(|| self.backoff_base.saturating_mul(factor)).min(self.backoff_max)
    }

    /// A client with this tuning's timeout, for a provider to finish configuring. Redirects are
    /// not followed: no push service answers with one, and a redirected POST would lose its body.
    pub(crate) fn client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .timeout(self.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("basalt-push/", env!("CARGO_PKG_VERSION")))
    }

    /// The concurrency cap of one provider.
    pub(crate) fn semaphore(&self) -> tokio::sync::Semaphore {
        tokio::sync::Semaphore::new(self.concurrency.max(1))
    }
}

/// Builds a provider's client, a failure being a configuration error of `section`.
pub(crate) fn build_client(builder: reqwest::ClientBuilder, section: &str) -> Result<reqwest::Client, ConfigError> {
    builder
        .build()
        .map_err(|error| ConfigError(format!("{section}: cannot set up the HTTP client: {}", describe(&error))))
}

/// The result of one attempt.
#[derive(Debug, PartialEq)]
pub(crate) enum Attempt<T> {
    /// Final: the value to answer.
    Done(T),
    /// Worth trying again (`reason` names the provider), after `after` when the provider said.
    Retry { reason: String, after: Option<Duration> },
}

/// Runs `attempt` until it is done or `tuning.attempts` were made, waiting between attempts.
/// Answers the last retry reason when every attempt asked for a retry.
pub(crate) async fn with_retries<T, F, Fut>(tuning: &Tuning, mut attempt: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let mut made = 0;
    loop {
        made += 1;
        match attempt().await {
            Attempt::Done(value) => return Ok(value),
            Attempt::Retry { reason, after } => {
                if made >= tuning.attempts {
                    return Err(reason);
                }
                let wait = tuning.wait(made, after);
                tracing::debug!(%reason, attempt = made, wait_ms = wait.as_millis() as u64, "push request will be retried");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Sends to each device through `send`, at most `concurrency` at a time, one `Delivery` each.
pub(crate) async fn each_device<'a, F, Fut>(devices: Vec<&'a Device>, concurrency: usize, send: F) -> Vec<Delivery>
where
    F: Fn(&'a Device) -> Fut,
    Fut: Future<Output = Outcome>,
{
    // The futures are made first, so the stream's type names no closure (a closure there made
    // the whole send future fail the `Send` check behind `PushSender`).
    let sends: Vec<_> = devices
        .into_iter()
        .map(|device| {
            let outcome = send(device);
            async move {
                Delivery {
                    installation: device.installation.clone(),
                    device_type: device.device_type.clone(),
                    outcome: outcome.await,
                }
            }
        })
        .collect();
    futures_util::stream::iter(sends).buffer_unordered(concurrency.max(1)).collect().await
}

/// A provider's answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    /// What `Retry-After` asked for, if anything.
    pub(crate) retry_after: Option<Duration>,
}

impl Answer {
    /// Reads the answer to a request that was sent, or passes on why it could not be.
    pub(crate) async fn of(sent: Result<reqwest::Response, reqwest::Error>) -> Result<Answer, reqwest::Error> {
        Answer::read(sent?).await
    }

    /// Reads `response`'s status, `Retry-After` and body.
    pub(crate) async fn read(response: reqwest::Response) -> Result<Answer, reqwest::Error> {
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let body = response.bytes().await?.to_vec();
        Ok(Answer { status, body, retry_after })
    }

    /// The body as JSON (`null` when it is not).
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text, cut to a length fit for a reason.
    pub(crate) fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(200) {
            Some((end, _)) => format!("{}…", &text[..end]),
            None => text.to_owned(),
        }
    }
}

/// Whether an HTTP status asks for the request to be tried again later.
pub(crate) fn is_retryable(status: u16) -> bool {
    status == 429 || status >= 500
}

/// The status with its canonical name (`503 Service Unavailable`).
pub(crate) fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status).ok().and_then(|code| code.canonical_reason()) {
        Some(name) => format!("{status} {name}"),
        None => status.to_string(),
    }
}

/// The retry a transport error (refused connection, timeout, broken stream) calls for.
pub(crate) fn unreachable<T>(provider: &str, error: &reqwest::Error) -> Attempt<T> {
    Attempt::Retry { reason: format!("{provider} could not be reached: {}", describe(error)), after: None }
}

/// A reqwest error with its causes, without the URL (which may hold a device's token).
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(error) = source {
        let part = match error.downcast_ref::<reqwest::Error>() {
            Some(error) => reqwest_text(error),
            None => error.to_string(),
        };
        if !part.is_empty() && !text.ends_with(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
        source = error.source();
    }
    text
}

/// A reqwest error's own text, without its URL.
fn reqwest_text(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    if let Some(url) = error.url() {
        text = text.replace(&format!(" for url ({url})"), "").replace(&format!(" ({url})"), "");
    }
    text
}

/// What a `Retry-After` header asks for: seconds, or an HTTP-date (a past date asks for none).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers.get(RETRY_AFTER)?.to_str().ok().and_then(|value| parse_retry_after(value, now))
}

/// Parses a `Retry-After` value, seconds or an HTTP-date, as of `now`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn waits_double_from_the_base_up_to_the_cap() {
        let tuning = Tuning::default();
        let waits: Vec<u128> = (1..=9).map(|attempt| tuning.wait(attempt, None).as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        assert_eq!(tuning.wait(1, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(tuning.wait(1, Some(Duration::from_secs(3600))), Duration::from_secs(30));
        assert_eq!(tuning.wait(u32::MAX, None), Duration::from_secs(30));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);

        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
    }

    #[test]
    fn only_throttling_and_server_errors_are_retried() {
        assert!(is_retryable(429));
        assert!(is_retryable(500));
        assert!(is_retryable(503));
        assert!(!is_retryable(400));
        assert!(!is_retryable(404));
        assert!(!is_retryable(200));
        assert_eq!(status_text(503), "503 Service Unavailable");
    }

    fn quick() -> Tuning {
        Tuning { backoff_base: Duration::from_millis(1), ..Tuning::default() }
    }

    #[tokio::test]
    async fn retries_until_done() {
        let calls = AtomicU32::new(0);
        let result = with_retries(&quick(), || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Attempt::Retry { reason: "busy".into(), after: None }
            } else {
                Attempt::Done("ok")
            }
        })
        .await;
        assert_eq!(result, Ok("ok"));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn gives_up_after_the_attempts() {
        let calls = AtomicU32::new(0);
        let result: Result<(), String> = with_retries(&quick(), || async {
            let made = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Attempt::Retry { reason: format!("busy {made}"), after: Some(Duration::ZERO) }
        })
        .await;
        assert_eq!(result, Err("busy 5".to_owned()));
        assert_eq!(calls.load(Ordering::SeqCst), DEFAULT_ATTEMPTS);
    }

    #[test]
    fn long_answers_are_cut_for_reasons() {
        let answer = Answer { status: 400, body: "x".repeat(500).into_bytes(), retry_after: None };
        assert_eq!(answer.text().chars().count(), 201);
        assert_eq!(answer.json(), serde_json::Value::Null);
    }
}
