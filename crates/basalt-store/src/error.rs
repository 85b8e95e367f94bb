//! Store errors: what the adapter saw, classified so the engine can answer with the right
//! Parse code without knowing the driver. Each adapter classifies its driver's errors in its
//! own `error.rs`; the one mapping to `ParseError` is the `From` impl below.

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
    /// Anything else: a bug or a broken database.
    Other,
}

/// A store failure: a Parse-level answer the adapter determined (class exists, object not found,
/// type conflict) or a driver failure.
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
}

impl From<StoreError> for ParseError {
    fn from(error: StoreError) -> ParseError {
        match error {
            StoreError::Parse(error) => error,
            StoreError::Driver { kind: StoreErrorKind::UniqueViolation, .. } => ParseError::new(
                ErrorCode::DuplicateValue,
                "A duplicate value for a field with unique values was provided",
            ),
            StoreError::Driver { kind: StoreErrorKind::Busy, message } => {
                tracing::warn!(cause = %message, "a write waited for a lock past its limit");
                ParseError::busy()
            }
            StoreError::Driver { message, .. } => ParseError::internal(message),
        }
    }
}
