//! The Parse data model, pure: error codes, class and field names, field types and class schemas,
//! the JSON encoding of values, the `where` query language as a typed AST, update operators, ACLs
//! and the limits Basalt enforces. Nothing here does I/O; the store compiles what this crate parses.

pub mod acl;
pub mod clp;
pub mod error;
pub mod geo;
pub mod limits;
pub mod names;
pub mod query;
pub mod schema;
pub mod time;
pub mod update;
pub mod value;

pub use error::{ErrorCode, ParseError, ParseResult};
pub use limits::Limits;
pub use names::{ClassName, FieldName};
pub use schema::{ClassSchema, FieldSpec, FieldType};
