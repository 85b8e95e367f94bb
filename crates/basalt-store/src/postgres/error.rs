//! Classifies tokio-postgres and pool errors into `StoreErrorKind`.

use tokio_postgres::error::SqlState;

use crate::error::{StoreError, StoreErrorKind};

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> StoreError {
        let Some(database) = error.as_db_error() else {
            return StoreError::driver(StoreErrorKind::Unavailable, error.to_string());
        };
        let kind = match *database.code() {
            SqlState::UNIQUE_VIOLATION => StoreErrorKind::UniqueViolation,
            SqlState::T_R_SERIALIZATION_FAILURE | SqlState::T_R_DEADLOCK_DETECTED | SqlState::LOCK_NOT_AVAILABLE => {
                StoreErrorKind::Busy
            }
            SqlState::INVALID_REGULAR_EXPRESSION => {
                return StoreError::driver(StoreErrorKind::InvalidRegex, database.message());
            }
            _ => StoreErrorKind::Other,
        };
        StoreError::driver(kind, format!("{}: {}", database.code().code(), database.message()))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> StoreError {
        match error {
            deadpool_postgres::PoolError::Backend(error) => error.into(),
            other => StoreError::driver(StoreErrorKind::Unavailable, format!("database connection pool: {other}")),
        }
    }
}
