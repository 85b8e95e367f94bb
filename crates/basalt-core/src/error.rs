//! Parse error codes and the one error type every layer returns to its caller.
//!
//! This is the only list of Parse codes in the codebase. HTTP statuses are chosen in
//! basalt-server's `error.rs`.

use std::fmt;

/// Declares the Parse codes once: the enum, and both directions of the number mapping.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $name:ident = $code:literal,)*) => {
        /// A Parse error code, as the SDKs know it (`Parse.Error`'s codes). `Other` carries a code
        /// cloud code chose (`throw new Parse.Error(4242, …)`), which Parse passes through.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
            Other(i32),
        }

        impl ErrorCode {
            /// The number the wire carries.
            pub fn as_i32(self) -> i32 {
                match self {
                    $(ErrorCode::$name => $code,)*
                    ErrorCode::Other(code) => code,
                }
            }

            /// The code for a number (`Other` for numbers without a name here).
            pub fn from_i32(code: i32) -> ErrorCode {
                match code {
                    $($code => ErrorCode::$name,)*
                    other => ErrorCode::Other(other),
                }
            }
        }
    };
}

error_codes! {
    OtherCause = -1,
    InternalServerError = 1,
    ObjectNotFound = 101,
    InvalidQuery = 102,
    InvalidClassName = 103,
    MissingObjectId = 104,
    InvalidKeyName = 105,
    InvalidPointer = 106,
    InvalidJson = 107,
    CommandUnavailable = 108,
    IncorrectType = 111,
    ObjectTooLarge = 116,
    OperationForbidden = 119,
    /// Parse Server answers a request over a rate limit with this code (and HTTP 429).
    ConnectionFailed = 100,
    InvalidNestedKey = 121,
    InvalidFileName = 122,
    InvalidAcl = 123,
    InvalidEmailAddress = 125,
    Timeout = 124,
    /// A field the operation needs is missing (a class name in `POST /schemas`, an
    /// installation's `deviceType`).
    MissingRequiredField = 135,
    /// A device token several installations hold, written without an installation id.
    InvalidInstallationId = 132,
    /// A push the server cannot send as asked (no provider, a malformed push).
    PushMisconfigured = 115,
    FileSaveError = 130,
    ChangedImmutableField = 136,
    DuplicateValue = 137,
    InvalidRoleName = 139,
    ScriptFailed = 141,
    ValidationError = 142,
    /// A webhook declaration that is invalid, missing or already there (`/hooks`).
    WebhookError = 143,
    FileDeleteError = 153,
    /// Too many of something for one client (LiveQuery subscriptions).
    RequestLimitExceeded = 155,
    FileReadError = 601,
    InvalidValue = 162,
    UsernameMissing = 200,
    PasswordMissing = 201,
    UsernameTaken = 202,
    EmailTaken = 203,
    EmailMissing = 204,
    EmailNotFound = 205,
    SessionMissing = 206,
    AccountAlreadyLinked = 208,
    InvalidSessionToken = 209,
    UnsupportedService = 252,
    InvalidSchemaOperation = 255,
}

const MASTER_KEY_REQUIRED: &str = "unauthorized: master key is required";
/// The message of `ParseError::busy`.
const BUSY_MESSAGE: &str = "The database is busy; try again.";

/// An error a client may see: a Parse code and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub code: ErrorCode,
    pub message: String,
}

/// The result type of everything that can fail with a Parse error.
pub type ParseResult<T> = Result<T, ParseError>;

impl ParseError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ParseError { code, message: message.into() }
    }

    /// An internal failure. The message is logged by the server, never sent to the client.
    pub fn internal(message: impl fmt::Display) -> Self {
        ParseError::new(ErrorCode::InternalServerError, message.to_string())
    }

    /// The database is held by another writer past `Limits::LOCK_WAIT_MS_MAX`: code 1, but with
    /// a message the client sees (HTTP 503), since trying again is the remedy.
    pub fn busy() -> Self {
        ParseError::new(ErrorCode::InternalServerError, BUSY_MESSAGE)
    }

    /// Is this `ParseError::busy`?
    pub fn is_busy(&self) -> bool {
        self.code == ErrorCode::InternalServerError && self.message == BUSY_MESSAGE
    }

    pub fn object_not_found() -> Self {
        ParseError::new(ErrorCode::ObjectNotFound, "Object not found.")
    }

    /// 101 with a message of its own (bad credentials, locked accounts).
    pub fn object_not_found_with(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::ObjectNotFound, message)
    }

    pub fn invalid_query(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::InvalidQuery, message)
    }

    pub fn invalid_json(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::InvalidJson, message)
    }

    pub fn incorrect_type(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::IncorrectType, message)
    }

    pub fn invalid_key_name(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::InvalidKeyName, message)
    }

    /// A master-only operation asked without the master key. The server answers it as Parse
    /// Server does: 403 `{"error": "unauthorized: master key is required"}`.
    pub fn master_key_required() -> Self {
        ParseError::new(ErrorCode::OperationForbidden, MASTER_KEY_REQUIRED)
    }

    pub fn is_master_key_required(&self) -> bool {
        self.code == ErrorCode::OperationForbidden && self.message == MASTER_KEY_REQUIRED
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ParseError::new(ErrorCode::OperationForbidden, message)
    }
}
