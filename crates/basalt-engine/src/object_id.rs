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

    #[test]
    fn ids_use_upper_case_letters_lower_case_letters_and_digits() {
        let ids: Vec<String> = (0..500).map(|_| new_object_id()).collect();
        let all: String = ids.concat();
        assert!(all.chars().any(|c| c.is_ascii_uppercase()));
        assert!(all.chars().any(|c| c.is_ascii_lowercase()));
        assert!(all.chars().any(|c| c.is_ascii_digit()));
        assert!(all.chars().all(|c| c.is_ascii_alphanumeric()), "nothing but [A-Za-z0-9]");
    }

    #[test]
    fn ids_do_not_repeat_over_many_draws() {
        let ids: std::collections::HashSet<String> = (0..20_000).map(|_| new_object_id()).collect();
        assert_eq!(ids.len(), 20_000);
        assert!(ids.iter().all(|id| id.len() == OBJECT_ID_LENGTH));
    }
}
