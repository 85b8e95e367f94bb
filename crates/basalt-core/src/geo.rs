//! Geometry for the geo query operators: great-circle distance and point-in-polygon. The store
//! registers these as SQL functions so SQL and any in-memory matcher agree on one definition.

/// Great-circle distance between two points, in radians of arc (haversine).
pub fn distance_radians(latitude1: f64, longitude1: f64, latitude2: f64, longitude2: f64) -> f64 {
    let (phi1, phi2) = (latitude1.to_radians(), latitude2.to_radians());
    let delta_phi = (latitude2 - latitude1).to_radians();
    let delta_lambda = (longitude2 - longitude1).to_radians();
    let a = (delta_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (delta_lambda / 2.0).sin().powi(2);
    2.0 * a.sqrt().min(1.0).asin()
}

/// Is the point inside (or on the edge of) the polygon of `[latitude, longitude]` vertices?
/// Coordinates are treated as planar, like Parse Server's Postgres adapter does.
pub fn polygon_contains(polygon: &[(f64, f64)], latitude: f64, longitude: f64) -> bool {
    if polygon.len() < 3 {
        return false;
    }
    let mut inside = false;
    let mut previous = polygon[polygon.len() - 1];
    for &vertex in polygon {
        let (y1, x1) = previous;
        let (y2, x2) = vertex;
        if on_segment(x1, y1, x2, y2, longitude, latitude) {
            return true;
        }
        if (y1 > latitude) != (y2 > latitude) {
            let crossing_x = x1 + (latitude - y1) * (x2 - x1) / (y2 - y1);
            if longitude < crossing_x {
                inside = !inside;
            }
        }
        previous = vertex;
    }
    inside
}

fn on_segment(x1: f64, y1: f64, x2: f64, y2: f64, x: f64, y: f64) -> bool {
    let cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1);
    cross.abs() < 1e-12 && x >= x1.min(x2) && x <= x1.max(x2) && y >= y1.min(y2) && y <= y1.max(y2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert!(distance_radians(0.0, 0.0, 0.0, 0.0).abs() < 1e-12);
        let quarter = distance_radians(0.0, 0.0, 0.0, 90.0);
        assert!((quarter - std::f64::consts::FRAC_PI_2).abs() < 1e-9);
        let pole = distance_radians(90.0, 0.0, -90.0, 0.0);
        assert!((pole - std::f64::consts::PI).abs() < 1e-9);
    }

    #[test]
    fn polygons() {
        let square = [(0.0, 0.0), (0.0, 10.0), (10.0, 10.0), (10.0, 0.0)];
        assert!(polygon_contains(&square, 5.0, 5.0));
        assert!(polygon_contains(&square, 0.0, 5.0));
        assert!(!polygon_contains(&square, 11.0, 5.0));
        assert!(!polygon_contains(&square, 5.0, -1.0));
    }
}
