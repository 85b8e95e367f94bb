//! Dates: Parse's ISO-8601 form (`2025-01-02T03:04:05.678Z`, always UTC with milliseconds) to
//! and from Unix milliseconds, and `$relativeTime` expressions ("3 days ago", "in 1 hr", "now").
//!
//! The canonical string sorts in time order for years 0–9999, which lets the store compare and
//! index dates as text.

use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::error::{ParseError, ParseResult};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// Formats `millis` as Parse does: `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn format_iso(millis: Millis) -> String {
    let nanos = i128::from(millis) * 1_000_000;
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(nanos) else {
        return String::from("1970-01-01T00:00:00.000Z");
    };
    let Ok(year) = u16::try_from(at.year()) else {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second(),
            at.millisecond()
        );
    };
    // Every write stamps one or two of these: digits by hand, not through `format!`.
    let mut text = String::with_capacity(24);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, u8::from(at.month()).into(), 2);
    text.push('-');
    push_digits(&mut text, at.day().into(), 2);
    text.push('T');
    push_digits(&mut text, at.hour().into(), 2);
    text.push(':');
    push_digits(&mut text, at.minute().into(), 2);
    text.push(':');
    push_digits(&mut text, at.second().into(), 2);
    text.push('.');
    push_digits(&mut text, at.millisecond(), 3);
    text.push('Z');
    text
}

/// The last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u16, width: u32) {
    for place in (0..width).rev() {
        let digit = (value / 10u16.pow(place)) % 10;
        text.push(char::from(b'0' + u8::try_from(digit).unwrap_or(0)));
    }
}

/// Parses an ISO-8601 date-time (with `Z` or an offset, with or without fraction; a bare date
/// is midnight UTC) into milliseconds.
///
/// # Errors
/// 111 "invalid date" when the text is not such a date.
pub fn parse_iso(text: &str) -> ParseResult<Millis> {
    let invalid = || ParseError::incorrect_type(format!("This is not a valid Date: {text}"));
    let at = match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(at) => at,
        Err(_) => {
            let date_time = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
            );
            let date_only = time::macros::format_description!("[year]-[month]-[day]");
            match PrimitiveDateTime::parse(text, date_time) {
                Ok(at) => at.assume_offset(UtcOffset::UTC),
                Err(_) => match time::Date::parse(text, date_only) {
                    Ok(date) => date.midnight().assume_offset(UtcOffset::UTC),
                    Err(_) => return Err(invalid()),
                },
            }
        }
    };
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(millis).map_err(|_| invalid())
}

/// Normalises an ISO date string to the canonical form.
///
/// # Errors
/// 111 when `text` is not a date.
pub fn canonical_iso(text: &str) -> ParseResult<String> {
    parse_iso(text).map(format_iso)
}

/// Resolves a `$relativeTime` expression against `now`.
///
/// Accepted: `"now"`, `"<n> <unit> [<n> <unit> …] ago"`, `"in <n> <unit> …"`, with integer
/// amounts and units yr(s)/year(s), wk(s)/week(s), d/day(s), hr(s)/hour(s), min(s)/minute(s),
/// sec(s)/second(s), as Parse Server does.
///
/// # Errors
/// 107 with Parse's reason when the text does not parse.
pub fn relative_time(text: &str, now: Millis) -> ParseResult<Millis> {
    let bad = |why: &str| ParseError::invalid_json(format!("bad $relativeTime ({text}) value. {why}"));
    let lowered = text.trim().to_lowercase();
    if lowered == "now" {
        return Ok(now);
    }
    let mut words: Vec<&str> = lowered.split_whitespace().collect();
    let future = words.first() == Some(&"in");
    let past = words.last() == Some(&"ago");
    if future && past {
        return Err(bad("Time should either be in the future or in the past"));
    }
    if !future && !past {
        return Err(bad("Time should either start with 'in' or end with 'ago'"));
    }
    if future {
        words.remove(0);
    } else {
        words.pop();
    }
    if words.is_empty() || !words.len().is_multiple_of(2) {
        return Err(bad("Invalid time string. Dangling unit or number."));
    }
    let mut seconds: i64 = 0;
    for pair in words.chunks(2) {
        let amount: i64 = pair[0].parse().map_err(|_| bad(&format!("'{}' is not an integer.", pair[0])))?;
        let unit_seconds: i64 = match pair[1] {
            "yr" | "yrs" | "year" | "years" => 365 * 24 * 3600,
            "wk" | "wks" | "week" | "weeks" => 7 * 24 * 3600,
            "d" | "day" | "days" => 24 * 3600,
            "hr" | "hrs" | "hour" | "hours" => 3600,
            "min" | "mins" | "minute" | "minutes" => 60,
            "sec" | "secs" | "second" | "seconds" => 1,
            other => return Err(bad(&format!("Invalid interval: '{other}'"))),
        };
        seconds = amount
            .checked_mul(unit_seconds)
            .and_then(|part| seconds.checked_add(part))
            .ok_or_else(|| bad("Time is out of range."))?;
    }
    let delta = seconds.checked_mul(1000).ok_or_else(|| bad("Time is out of range."))?;
    let result = if future { now.checked_add(delta) } else { now.checked_sub(delta) };
    result.ok_or_else(|| bad("Time is out of range."))
}

/// The current time in milliseconds, from the system clock.
pub fn now_millis() -> Millis {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    i64::try_from(nanos).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
