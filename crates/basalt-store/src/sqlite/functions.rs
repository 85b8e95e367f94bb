//! SQL functions Basalt registers on every SQLite connection: regular expressions (`$regex`) and
//! the geometry of the geo operators, both from basalt-core so there is one definition.

use std::sync::Arc;

use basalt_core::geo;
use regex::Regex;
use rusqlite::Connection;
use rusqlite::functions::{Context, FunctionFlags};

/// Registers `basalt_regexp`, `basalt_distance`, `basalt_in_polygon`, `basalt_polygon_contains`.
pub(crate) fn register(connection: &Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("basalt_regexp", 2, flags, regexp)?;
    connection.create_scalar_function("basalt_distance", 4, flags, |context| {
        let args: [Option<f64>; 4] = [context.get(0)?, context.get(1)?, context.get(2)?, context.get(3)?];
        match args {
            [Some(lat1), Some(lng1), Some(lat2), Some(lng2)] => Ok(Some(geo::distance_radians(lat1, lng1, lat2, lng2))),
            _ => Ok(None),
        }
    })?;
    connection.create_scalar_function("basalt_in_polygon", 3, flags, |context| {
        let polygon: Arc<Vec<(f64, f64)>> = context.get_or_create_aux(0, |value| -> Result<_, BoxError> {
            let text = value.as_str()?;
            let points: Vec<(f64, f64)> = serde_json::from_str(text)?;
            Ok(points)
        })?;
        let latitude: Option<f64> = context.get(1)?;
        let longitude: Option<f64> = context.get(2)?;
        Ok(match (latitude, longitude) {
            (Some(latitude), Some(longitude)) => geo::polygon_contains(&polygon, latitude, longitude),
            _ => false,
        })
    })?;
    connection.create_scalar_function("basalt_polygon_contains", 3, flags, |context| {
        let stored: Option<String> = context.get(0)?;
        let latitude: f64 = context.get(1)?;
        let longitude: f64 = context.get(2)?;
        let Some(stored) = stored else { return Ok(false) };
        let value: serde_json::Value = match serde_json::from_str(&stored) {
            Ok(value) => value,
            Err(_) => return Ok(false),
        };
        Ok(match basalt_core::value::polygon_points(&value) {
            Ok(points) => geo::polygon_contains(&points, latitude, longitude),
            Err(_) => false,
        })
    })?;
    Ok(())
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

fn regexp(context: &Context<'_>) -> rusqlite::Result<bool> {
    let pattern: Arc<Regex> = context.get_or_create_aux(0, |value| -> Result<Regex, BoxError> {
        let pattern = value.as_str()?;
        Ok(regex::RegexBuilder::new(pattern).size_limit(basalt_core::Limits::REGEX_COMPILED_BYTES_MAX).build()?)
    })?;
    let text: Option<String> = context.get(1)?;
    Ok(text.is_some_and(|text| pattern.is_match(&text)))
}
