//! Compiles typed queries (`basalt_core::query`) against class schemas into SQL text plus bound
//! parameters, one module per dialect. Every identifier in the SQL comes from a checked
//! `ClassName`/`FieldName` (or a constant); every value is a bound parameter.

pub mod sqlite;

/// Quotes an identifier that is already known to be a valid Parse name or one of ours.
pub(crate) fn quote(identifier: &str) -> String {
    let mut quoted = String::with_capacity(identifier.len() + 2);
    push_quoted(&mut quoted, identifier);
    quoted
}

/// `quote`, appended to `out` (the compiler's hot path: no allocation of its own).
pub(crate) fn push_quoted(out: &mut String, identifier: &str) {
    out.push('"');
    if identifier.contains('"') {
        out.push_str(&identifier.replace('"', "\"\""));
    } else {
        out.push_str(identifier);
    }
    out.push('"');
}

/// The name of the table that holds the members of `owner_class`'s Relation `field`.
pub fn join_table(field: &str, owner_class: &str) -> String {
    format!("_Join:{field}:{owner_class}")
}
