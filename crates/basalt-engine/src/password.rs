//! Password hashing: argon2id at OWASP's recommended minimum (19 MiB memory, 2 iterations,
//! 1 lane) for every new hash; bcrypt hashes imported from a Parse Server database verify and are
//! replaced by argon2id on the next successful log-in.
//!
//! Hashing runs on its own threads, one per core, never on the async threads: at most that many
//! hashes run at once, each on working memory its thread allocated once, so a burst of log-ins
//! queues instead of oversubscribing the cores, and memory stays at cores × 19 MiB whatever the
//! burst (a fresh 19 MiB per hash on the blocking pool cost both speed and hundreds of MiB).

use std::cell::RefCell;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use basalt_core::{ParseError, ParseResult};

/// Memory cost in KiB (OWASP: 19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations (OWASP: 2 with 19 MiB).
const ITERATIONS: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;
/// Hash length in bytes.
const OUTPUT_LEN: usize = 32;

fn params() -> ParseResult<Params> {
    Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(OUTPUT_LEN)).map_err(ParseError::internal)
}

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verified {
    No,
    Yes,
    /// Correct, but the hash is an older scheme (bcrypt) or weaker parameters: re-hash it.
    YesRehash,
}

thread_local! {
    /// This thread's argon2 working memory, kept between hashes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Runs argon2 into `out`, on this thread's kept working memory when the parameters fit our
/// own (a stronger stored hash gets memory of its own for that one run).
fn argon2_into(argon: &Argon2<'_>, params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let blocks = params.block_count();
    let kept = usize::try_from(MEMORY_KIB).unwrap_or(usize::MAX);
    if blocks > kept {
        return argon.hash_password_into_with_memory(password, salt, out, vec![Block::default(); blocks]).is_ok();
    }
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, out, &mut memory[..blocks]).is_ok()
    })
}

fn hash_blocking(password: &str) -> ParseResult<String> {
    let params = params()?;
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.as_salt().decode_b64(&mut salt_bytes).map_err(ParseError::internal)?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; OUTPUT_LEN];
    if !argon2_into(&argon, &params, password.as_bytes(), salt_raw, &mut out) {
        return Err(ParseError::internal("argon2 could not hash the password"));
    }
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(ParseError::internal)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(ParseError::internal)?),
    };
    Ok(hash.to_string())
}

/// Checks a password against a PHC argon2 string.
fn argon2_matches(password: &str, parsed: &PasswordHash<'_>) -> bool {
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let (Ok(params), Ok(algorithm)) = (Params::try_from(parsed), Algorithm::try_from(parsed.algorithm)) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(version)) => version,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_raw) = salt.decode_b64(&mut salt_bytes) else { return false };
    let argon = Argon2::new(algorithm, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    // `Output` compares in constant time.
    argon2_into(&argon, &params, password.as_bytes(), salt_raw, &mut out) && Output::new(&out) == Ok(expected)
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash,
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else { return Verified::No };
    if !argon2_matches(password, &parsed) {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m").is_some_and(|m| m >= MEMORY_KIB)
        && parsed.params.get_decimal("t").is_some_and(|t| t >= ITERATIONS);
    if current { Verified::Yes } else { Verified::YesRehash }
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue, started on first use.
fn pool() -> &'static Sender<Job> {
    static POOL: OnceLock<Sender<Job>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (sender, receiver) = channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        for index in 0..threads {
            let receiver = Arc::clone(&receiver);
            let spawned = std::thread::Builder::new().name(format!("basalt-hash-{index}")).spawn(move || {
                loop {
                    let job = match receiver.lock() {
                        Ok(receiver) => receiver.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A panicking job drops its answer channel: its caller gets an error.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            if let Err(error) = spawned {
                tracing::error!(%error, "could not start a password-hashing thread");
            }
        }
        sender
    })
}

/// Runs `work` on a hashing thread.
async fn on_hash_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> ParseResult<T> {
    let (answer, answered) = tokio::sync::oneshot::channel();
    pool()
        .send(Box::new(move || {
            let _ = answer.send(work());
        }))
        .map_err(|_| ParseError::internal("the password-hashing threads have stopped"))?;
    answered.await.map_err(|_| ParseError::internal("a password-hashing thread failed"))
}

/// The hash parameters, as `argon2id m=… t=… p=…`.
pub fn hash_parameters() -> String {
    format!("argon2id m={MEMORY_KIB} t={ITERATIONS} p={PARALLELISM}")
}

/// How many log-ins per second the CPU allows: correct-password verifications at Basalt's
/// parameters, run back to back on `threads` threads for `duration` (the ceiling of `/login`).
///
/// # Errors
/// When the reference hash cannot be made.
pub fn verification_rate(threads: usize, duration: std::time::Duration) -> ParseResult<f64> {
    let stored = hash_blocking("correct horse battery staple")?;
    let started = std::time::Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut count = 0;
                    while started.elapsed() < duration {
                        if verify_blocking("correct horse battery staple", &stored) == Verified::Yes {
                            count += 1;
                        }
                    }
                    count
                })
            })
            .collect();
        workers.into_iter().map(|worker| worker.join().unwrap_or(0)).collect()
    });
    Ok(counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64())
}

/// Hashes a password with argon2id (on a hashing thread).
pub(crate) async fn hash_password(password: String) -> ParseResult<String> {
    on_hash_thread(move || hash_blocking(&password)).await?
}

/// Checks a password against a stored hash (on a hashing thread). With no stored hash, runs a
/// dummy verification so unknown users take as long as known ones.
pub(crate) async fn verify_password(password: String, stored: Option<String>) -> ParseResult<Verified> {
    on_hash_thread(move || match stored {
        Some(stored) => verify_blocking(&password, &stored),
        None => {
            let dummy =
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000";
            let _ = verify_blocking(&password, dummy);
            Verified::No
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let hash = hash_blocking("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(verify_blocking("correct horse", &hash), Verified::Yes);
        assert_eq!(verify_blocking("wrong", &hash), Verified::No);
    }

    #[test]
    fn bcrypt_hashes_from_parse_server_verify_and_ask_for_rehash() {
        let imported = bcrypt::hash("secret", 4).unwrap();
        assert_eq!(verify_blocking("secret", &imported), Verified::YesRehash);
        assert_eq!(verify_blocking("other", &imported), Verified::No);
    }

    #[test]
    fn hashes_made_by_the_argon2_crate_verify_here_and_ours_verify_there() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params().unwrap());
        let theirs = argon.hash_password(b"pw", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert_eq!(verify_blocking("pw", &theirs), Verified::Yes);
        let ours = hash_blocking("pw").unwrap();
        assert!(argon.verify_password(b"pw", &PasswordHash::new(&ours).unwrap()).is_ok());
        // Weaker parameters verify and ask for a re-hash; the kept memory is reused after.
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(1024, 1, 1, None).unwrap());
        let weak = weak.hash_password(b"pw", &SaltString::generate(&mut OsRng)).unwrap().to_string();
        assert_eq!(verify_blocking("pw", &weak), Verified::YesRehash);
        assert_eq!(verify_blocking("pw", &ours), Verified::Yes);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_hashing_threads_answer_many_callers_at_once() {
        let stored = hash_password("pw".into()).await.unwrap();
        let checks: Vec<_> = (0..8)
            .map(|i| {
                let password = if i % 2 == 0 { "pw" } else { "no" };
                (i, tokio::spawn(verify_password(password.into(), Some(stored.clone()))))
            })
            .collect();
        for (i, check) in checks {
            let expected = if i % 2 == 0 { Verified::Yes } else { Verified::No };
            assert_eq!(check.await.unwrap().unwrap(), expected);
        }
    }

    #[test]
    fn garbage_never_verifies() {
        assert_eq!(verify_blocking("x", "not a hash"), Verified::No);
    }
}
