//! No server-side request forgery through a webhook URL (#22).
//!
//! In production an endpoint must be `https://` and must reach only public addresses: a
//! host that is, or resolves to, a loopback, private (RFC 1918, `fc00::/7`), link-local
//! (`169.254/16`, `fe80::/10`), unspecified, carrier-grade NAT (`100.64/10`), multicast or
//! reserved address is refused when the endpoint is registered, and again at every delivery
//! after the client's own DNS resolution (so a name that later resolves inward is caught),
//! and redirects are never followed. Development and tests may use `http://` and local
//! receivers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Longest endpoint URL accepted.
pub const MAX_URL_LEN: usize = 2000;
/// How long one delivery may take, connection included.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether an address is one webhooks must never reach in production.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64/10
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        let [a, b] = s[6].to_be_bytes();
        let [c, d] = s[7].to_be_bytes();
        return forbidden_v4(Ipv4Addr::new(a, b, c, d));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (s[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || (s[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible ::a.b.c.d
}

/// Why a URL was refused, as the API says it.
pub const PRIVATE: &str = "url: the address is loopback, private, link-local or otherwise \
     not public; webhooks may only go to public addresses";

/// Checks an endpoint URL's form: absolute, `https` (or `http` outside production), a
/// host, no credentials; in production an IP-literal host must be public. The URL as
/// normalised.
pub fn check_url(raw: &str, production: bool) -> Result<url::Url, String> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL_LEN {
        return Err(format!("url: 1 to {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(raw).map_err(|e| format!("url: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !production => {}
        "http" => return Err("url: must be https".into()),
        _ => return Err("url: must be an https:// URL".into()),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url: credentials in the URL are not accepted".into());
    }
    let host_ip = match url.host() {
        None => return Err("url: a host is required".into()),
        Some(url::Host::Domain("")) => {
            return Err("url: a host is required".into());
        }
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if production && host_ip.is_some_and(forbidden) {
        return Err(PRIVATE.into());
    }
    Ok(url)
}

/// At registration, in production: the URL's host must resolve, and only to public
/// addresses.
pub async fn check_resolves(url: &url::Url, production: bool) -> Result<(), String> {
    if !production {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(()); // an IP literal, checked by `check_url`
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let found = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| "url: the host did not resolve in time".to_string())?
        .map_err(|_| "url: the host does not resolve".to_string())?;
    let addrs: Vec<SocketAddr> = found.collect();
    if addrs.is_empty() {
        return Err("url: the host does not resolve".into());
    }
    if addrs.iter().any(|a| forbidden(a.ip())) {
        return Err(PRIVATE.into());
    }
    Ok(())
}

/// The resolver deliveries use: the system's, and in production a name with any
/// non-public address is refused outright (the connection is then made only to the
/// addresses checked here).
struct Guarded {
    production: bool,
}

impl Resolve for Guarded {
    fn resolve(&self, name: Name) -> Resolving {
        let production = self.production;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found =
                tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host.as_str(), 0)))
                    .await
                    .map_err(|_| -> Box<dyn std::error::Error + Send + Sync> {
                        "DNS resolution timed out".into()
                    })??;
            let addrs: Vec<SocketAddr> = found.collect();
            if production && addrs.iter().any(|a| forbidden(a.ip())) {
                return Err(Refused.into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A delivery refused because its host resolves to a non-public address.
#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused: the host resolves to a non-public address")
    }
}

impl std::error::Error for Refused {}

/// Whether a send failed because the guard refused the address.
pub fn is_refused(e: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<Refused>() || err.to_string().contains("non-public address") {
            return true;
        }
        source = err.source();
    }
    false
}

/// The client deliveries go out on: the guarded resolver, no redirects, no proxy from the
/// environment (a proxy would resolve the name itself), bounded time.
pub fn client(production: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(Guarded { production }))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(SEND_TIMEOUT)
        .user_agent(concat!("mokdan-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook client builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_forbidden() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "64:ff9b::a00:1",
        ] {
            assert!(forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "100.128.0.1", "2606:4700::1111", "151.101.1.1"] {
            assert!(!forbidden(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn urls_are_checked_by_environment() {
        assert!(check_url("https://example.com/hook", true).is_ok());
        assert!(check_url("http://example.com/hook", true).is_err());
        assert!(check_url("http://127.0.0.1:8080/hook", false).is_ok());
        assert_eq!(
            check_url("https://10.0.0.1/hook", true).unwrap_err(),
            PRIVATE
        );
        assert_eq!(check_url("https://[::1]/hook", true).unwrap_err(), PRIVATE);
        assert!(check_url("ftp://example.com/", false).is_err());
        assert!(check_url("https://user:pw@example.com/", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }
}
