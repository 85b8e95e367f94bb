//! Classifies rusqlite errors into `StoreErrorKind`. The adapter never picks a Parse code.

use rusqlite::ffi;

use crate::error::{StoreError, StoreErrorKind};

pub(crate) fn classify(error: &rusqlite::Error) -> StoreErrorKind {
    match error.sqlite_error().map(|error| error.extended_code) {
        Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreErrorKind::UniqueViolation,
        Some(ffi::SQLITE_BUSY | ffi::SQLITE_BUSY_SNAPSHOT | ffi::SQLITE_LOCKED) => StoreErrorKind::Busy,
        _ => StoreErrorKind::Other,
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> StoreError {
        StoreError::driver(classify(&error), error.to_string())
    }
}
