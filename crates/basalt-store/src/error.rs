//! Store errors: what the adapter saw, classified so the engine can answer with the right
//! Parse code without knowing the driver. Each adapter classifies its driver's errors and its
//! outcomes into a `StoreErrorKind` (its own `error.rs`); the one mapping of kinds to Parse codes
//! is the `From` impl below. The only Parse errors the store makes itself are the data-model
//! rules both adapters share in `plan.rs` (schema changes, indexes, writes into Object fields),
//! which are Parse's rules and carry its codes.

use basalt_core::{ErrorCode, ParseError};

/// What kind of failure, in terms the caller can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A unique constraint (objectId, unique index) was violated.
    UniqueViolation,
    /// The database was busy past its timeout.
    Busy,
    /// The store is shutting down or its worker is gone.
    Unavailable,
    /// The class's schema changed (on another node) after the query was compiled against it:
    /// the rows may hold fields the compiled query did not select. Reload and ask again.
    SchemaChanged,
    /// The object to write is not there, or the write's condition (ACL, pointer permissions)
    /// does not admit it; or the class does not exist.
    NotFound,
    /// A password-reset or verification token matches no user, or has expired.
    InvalidToken,
    /// The database could not compile a `$regex` the query parser let through.
    InvalidRegex,
    /// Anything else: a bug or a broken database.
    Other,
}

/// A store failure: a data-model rule `plan.rs` applies (with Parse's code), or a classified
/// failure or outcome.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{kind:?}: {message}")]
    Driver { kind: StoreErrorKind, message: String },
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn driver(kind: StoreErrorKind, message: impl Into<String>) -> StoreError {
        StoreError::Driver { kind, message: message.into() }
    }

    /// The object is not there or not writable (`StoreErrorKind::NotFound`).
    pub fn not_found() -> StoreError {
        StoreError::driver(StoreErrorKind::NotFound, "object not found")
    }

    /// Was the object not there (or not writable)?
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::Driver { kind: StoreErrorKind::NotFound, .. })
    }

    /// A bug: something the adapter's own invariants rule out.
    pub fn internal(message: impl Into<String>) -> StoreError {
        StoreError::driver(StoreErrorKind::Other, message)
    }
}

impl From<StoreError> for ParseError {
    fn from(error: StoreError) -> ParseError {
        match error {
            StoreError::Parse(error) => error,
            StoreError::Driver { kind: StoreErrorKind::UniqueViolation, .. } => ParseError::new(
                ErrorCode::DuplicateValue,
                "A duplicate value for a field with unique values was provided",
            ),
            StoreError::Driver { kind: StoreErrorKind::NotFound, .. } => ParseError::object_not_found(),
            StoreError::Driver { kind: StoreErrorKind::InvalidToken, .. } => {
                ParseError::object_not_found_with("Invalid or expired token.")
            }
            StoreError::Driver { kind: StoreErrorKind::InvalidRegex, message } => {
                ParseError::invalid_query(format!("Invalid regular expression: {message}"))
            }
            StoreError::Driver { kind: StoreErrorKind::Busy, message } => {
                tracing::warn!(cause = %message, "a write waited for a lock past its limit");
                ParseError::busy()
            }
            StoreError::Driver { message, .. } => ParseError::internal(message),
        }
    }
}
