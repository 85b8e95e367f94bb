//! The application's keys: one policy for every way in (REST, file downloads, LiveQuery).

use std::net::IpAddr;

/// The keys a client may present, and where the master key may be used from.
#[derive(Clone, Debug, Default)]
pub struct AppKeys {
    pub app_id: String,
    pub master_key: String,
    /// Client keys; when none is set, clients need no key (Parse Server's rule).
    pub rest_api_key: Option<String>,
    pub javascript_key: Option<String>,
    pub client_key: Option<String>,
    pub windows_key: Option<String>,
    /// Addresses the master key is accepted from (Parse Server 9: loopback only).
    pub master_key_ips: Vec<IpAddr>,
}

/// Who presented keys may act as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Master,
    Client,
}

impl AppKeys {
    /// May a request from `peer` use the master key?
    pub fn accepts_master_key_from(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|peer| self.master_key_ips.contains(&peer.to_canonical()))
    }

    /// The configured client keys.
    pub fn client_keys(&self) -> impl Iterator<Item = &str> {
        [&self.rest_api_key, &self.javascript_key, &self.client_key, &self.windows_key]
            .into_iter()
            .filter_map(|key| key.as_deref())
    }

    /// What presented keys admit, or `None` when they are refused: the app id must match; the
    /// master key counts only from `master_key_ips` (from elsewhere it is refused, not
    /// downgraded); anyone else must present one of the client keys, when any is configured.
    pub fn admit<'a>(
        &self,
        app_id: Option<&str>,
        master_key: Option<&str>,
        client_keys: impl IntoIterator<Item = &'a str>,
        peer: Option<IpAddr>,
    ) -> Option<Admission> {
        if app_id != Some(self.app_id.as_str()) {
            return None;
        }
        if master_key == Some(self.master_key.as_str()) {
            return self.accepts_master_key_from(peer).then_some(Admission::Master);
        }
        if self.client_keys().next().is_none() {
            return Some(Admission::Client);
        }
        let mut presented = client_keys.into_iter();
        presented.any(|key| self.client_keys().any(|configured| configured == key)).then_some(Admission::Client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> AppKeys {
        AppKeys {
            app_id: "app".into(),
            master_key: "master".into(),
            master_key_ips: vec!["127.0.0.1".parse().expect("ip")],
            ..AppKeys::default()
        }
    }

    const LOOPBACK: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    const ELSEWHERE: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));

    #[test]
    fn the_master_key_counts_only_from_its_addresses_and_is_refused_elsewhere() {
        let keys = keys();
        assert_eq!(keys.admit(Some("app"), Some("master"), [], LOOPBACK), Some(Admission::Master));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        assert_eq!(keys.admit(Some("app"), Some("master"), [], Some(mapped)), Some(Admission::Master));
        assert_eq!(keys.admit(Some("app"), Some("master"), [], ELSEWHERE), None);
        assert_eq!(keys.admit(Some("app"), Some("master"), [], None), None);
        assert_eq!(keys.admit(Some("app"), Some("wrong"), [], ELSEWHERE), Some(Admission::Client));
    }

    #[test]
    fn a_wrong_app_id_is_refused_whatever_else_is_presented() {
        let keys = keys();
        assert_eq!(keys.admit(Some("other"), Some("master"), [], LOOPBACK), None);
        assert_eq!(keys.admit(None, None, [], LOOPBACK), None);
    }

    #[test]
    fn configured_client_keys_are_required_of_everyone_but_the_master_key() {
        let keys = AppKeys { javascript_key: Some("js".into()), rest_api_key: Some("rest".into()), ..keys() };
        assert_eq!(keys.admit(Some("app"), None, [], ELSEWHERE), None);
        assert_eq!(keys.admit(Some("app"), None, ["wrong"], ELSEWHERE), None);
        assert_eq!(keys.admit(Some("app"), None, ["wrong", "rest"], ELSEWHERE), Some(Admission::Client));
        assert_eq!(keys.admit(Some("app"), Some("master"), [], LOOPBACK), Some(Admission::Master));
    }
}
