//! `$regex` patterns: Parse clients send PCRE/Mongo syntax with `$options`. This translates the
//! parts the SDKs emit (`\Q…\E` quoting from `startsWith`/`contains`/`endsWith`, inline flags)
//! into the Rust `regex` crate's syntax, whose matching is linear-time, so no pattern can stall
//! the server. Patterns that need backtracking features (look-around, back-references) are
//! refused with 102.

use super::RegexPattern;
use crate::error::{ParseError, ParseResult};

/// Translates `pattern` with Mongo `options` (`i m x s u`) and checks that it compiles within
/// `compiled_bytes_max`.
///
/// # Errors
/// 102 for unknown options or a pattern the engine cannot run.
pub fn translate_regex(pattern: &str, options: &str, compiled_bytes_max: usize) -> ParseResult<RegexPattern> {
    let mut flags = String::new();
    for option in options.chars() {
        match option {
            'i' | 'm' | 's' | 'x' => {
                if !flags.contains(option) {
                    flags.push(option);
                }
            }
            'u' => {}
            _ => return Err(ParseError::invalid_query(format!("Bad $options value for query: {options}"))),
        }
    }
    let mut translated = String::with_capacity(pattern.len() + 8);
    if !flags.is_empty() {
        translated.push_str("(?");
        translated.push_str(&flags);
        translated.push(')');
    }
    translated.push_str(&expand_quotes(pattern));
    regex::RegexBuilder::new(&translated).size_limit(compiled_bytes_max).build().map_err(|error| {
        ParseError::invalid_query(format!("Invalid regular expression: {}", first_line(&error.to_string())))
    })?;
    Ok(RegexPattern { pattern: translated })
}

fn first_line(text: &str) -> &str {
    text.lines().find(|line| line.contains("error:")).unwrap_or_else(|| text.lines().next().unwrap_or(text)).trim()
}

/// Replaces each `\Q…\E` (or `\Q…` to the end) with the escaped literal text.
fn expand_quotes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(start) = rest.find("\\Q") {
        // A `\Q` preceded by an odd number of backslashes is an escaped backslash plus `Q`.
        let preceding = rest[..start].chars().rev().take_while(|c| *c == '\\').count();
        if preceding % 2 == 1 {
            out.push_str(&rest[..start + 2]);
            rest = &rest[start + 2..];
            continue;
        }
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 2..];
        match quoted.find("\\E") {
            Some(end) => {
                out.push_str(&regex::escape(&quoted[..end]));
                rest = &quoted[end + 2..];
            }
            None => {
                out.push_str(&regex::escape(quoted));
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    #[track_caller]
    fn check(pattern: &str, options: &str, expected: Expect) {
        expected.assert_debug_eq(&translate_regex(pattern, options, 1 << 20).map(|p| p.pattern));
    }

    #[test]
    fn quotes_are_escaped() {
        check(
            r"^\Qa.b*c\E",
            "",
            expect![[r#"
            Ok(
                "^a\\.b\\*c",
            )
        "#]],
        );
        check(
            r"\Q(x)",
            "",
            expect![[r#"
            Ok(
                "\\(x\\)",
            )
        "#]],
        );
        check(
            r"\Qend\E$",
            "i",
            expect![[r#"
            Ok(
                "(?i)end$",
            )
        "#]],
        );
    }

    #[test]
    fn options_become_flags() {
        check(
            "^a",
            "imxsu",
            expect![[r#"
            Ok(
                "(?imxs)^a",
            )
        "#]],
        );
        check(
            "^a",
            "g",
            expect![[r#"
            Err(
                ParseError {
                    code: InvalidQuery,
                    message: "Bad $options value for query: g",
                },
            )
        "#]],
        );
    }

    #[test]
    fn backtracking_features_are_refused() {
        let result = translate_regex("(a)\\1", "", 1 << 20);
        assert_eq!(result.unwrap_err().code, crate::ErrorCode::InvalidQuery);
        let result = translate_regex("a(?=b)", "", 1 << 20);
        assert_eq!(result.unwrap_err().code, crate::ErrorCode::InvalidQuery);
    }
}
