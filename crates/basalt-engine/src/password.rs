//! Password hashing: argon2id at OWASP's recommended minimum (19 MiB memory, 2 iterations,
//! 1 lane) for every new hash; bcrypt hashes imported from a Parse Server database verify and are
//! replaced by argon2id on the next successful log-in. Hashing runs on the blocking pool, never on
//! the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use basalt_core::{ParseError, ParseResult};

/// Memory cost in KiB (OWASP: 19 MiB).
const MEMORY_KIB: u32 = 19 * 1024;
/// Iterations (OWASP: 2 with 19 MiB).
const ITERATIONS: u32 = 2;
/// Lanes.
const PARALLELISM: u32 = 1;

fn hasher() -> ParseResult<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None).map_err(ParseError::internal)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The outcome of checking a password against a stored hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verified {
    No,
    Yes,
    /// Correct, but the hash is an older scheme (bcrypt) or weaker parameters: re-hash it.
    YesRehash,
}

fn hash_blocking(password: &str) -> ParseResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(hasher()?.hash_password(password.as_bytes(), &salt).map_err(ParseError::internal)?.to_string())
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verified::YesRehash,
            _ => Verified::No,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else { return Verified::No };
    let Ok(argon) = hasher() else { return Verified::No };
    if argon.verify_password(password.as_bytes(), &parsed).is_err() {
        return Verified::No;
    }
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m").is_some_and(|m| m >= MEMORY_KIB)
        && parsed.params.get_decimal("t").is_some_and(|t| t >= ITERATIONS);
    if current { Verified::Yes } else { Verified::YesRehash }
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

/// Hashes a password with argon2id (on the blocking pool).
pub(crate) async fn hash_password(password: String) -> ParseResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password)).await.map_err(ParseError::internal)?
}

/// Checks a password against a stored hash (on the blocking pool). With no stored hash, runs a
/// dummy verification so unknown users take as long as known ones.
pub(crate) async fn verify_password(password: String, stored: Option<String>) -> ParseResult<Verified> {
    tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_blocking(&password, &stored),
        None => {
            let dummy =
                "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0000000000000000000000000000000000000000000";
            let _ = verify_blocking(&password, dummy);
            Verified::No
        }
    })
    .await
    .map_err(ParseError::internal)
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
    fn garbage_never_verifies() {
        assert_eq!(verify_blocking("x", "not a hash"), Verified::No);
    }
}
