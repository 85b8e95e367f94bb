//! objectId generation: 10 characters from `[A-Za-z0-9]`, like Parse Server's `objectIdSize`.

use rand::Rng;
use rand::distr::Alphanumeric;

/// Length of a generated objectId.
pub(crate) const OBJECT_ID_LENGTH: usize = 10;

/// A fresh random objectId (about 59 bits of entropy, from the thread's CSPRNG).
pub(crate) fn new_object_id() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(OBJECT_ID_LENGTH).map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_alphanumerics() {
        let id = new_object_id();
        assert_eq!(id.len(), 10);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(id, new_object_id());
    }
}
