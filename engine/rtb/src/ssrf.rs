//! The SSRF guard: bid requests must not reach the machine itself, the
//! private network, or a cloud metadata service.
//!
//! The check applies to resolved addresses (the HTTP client's resolver calls
//! [`check_resolved`]), so a public name that resolves to `127.0.0.1` is
//! refused too. `--rtb-allow-private-targets` skips it, for tests and demos.
//!
//! A URL whose host is itself a forbidden address is refused earlier, when
//! the target is saved: [`forbidden_literal_host`] reads the host as the
//! HTTP client will (the WHATWG URL parser: `2130706433`, `0177.0.0.1`,
//! `0x7f.1` and `127.1` are all 127.0.0.1), so no notation slips past it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::RtbError;

/// Whether `ip` is an address bid requests must not reach: unspecified,
/// loopback, private (RFC 1918), link-local (incl. the 169.254.169.254
/// metadata service), CGNAT (100.64/10), "this network" (0/8), reserved
/// (240/4, incl. broadcast), multicast, IETF protocol assignments
/// (192.0.0/24), benchmarking (198.18/15); for IPv6 also unique local
/// (fc00::/7) and link-local (fe80::/10), and any IPv6 form that embeds an
/// IPv4 address whose IPv4 is forbidden: mapped `::ffff:a.b.c.d`, translated
/// `::ffff:0:a.b.c.d`, compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16` and Teredo `2001::/32` (its server or client address); and
/// all of the local-use NAT64 block `64:ff9b:1::/48`.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // unspecified and "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 224 // multicast 224/4, reserved 240/4, broadcast
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    if ip.is_unspecified() || ip.is_loopback() || ip.is_multicast() {
        return true;
    }
    let seg = ip.segments();
    if (seg[0] & 0xfe00) == 0xfc00 || (seg[0] & 0xffc0) == 0xfe80 {
        return true;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let embedded = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // IPv4-compatible ::a.b.c.d (deprecated; :: and ::1 handled above).
    if seg[..6].iter().all(|&s| s == 0) {
        return forbidden_v4(embedded(seg[6], seg[7]));
    }
    // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765).
    if seg[..4].iter().all(|&s| s == 0) && seg[4] == 0xffff && seg[5] == 0 {
        return forbidden_v4(embedded(seg[6], seg[7]));
    }
    // NAT64 well-known prefix 64:ff9b::/96.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6].iter().all(|&s| s == 0) {
        return forbidden_v4(embedded(seg[6], seg[7]));
    }
    // NAT64 local-use 64:ff9b:1::/48 (RFC 8215): its translator is inside the
    // operator's own network, and the prefix length (so where the IPv4 sits,
    // RFC 6052) is the operator's choice; with zeros where the suffix is, some
    // reading is always 0.0.0.0. So the whole block is refused.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        return true;
    }
    // 6to4 2002:a.b.c.d::/48.
    if seg[0] == 0x2002 {
        return forbidden_v4(embedded(seg[1], seg[2]));
    }
    // Teredo 2001:0::/32: the server's IPv4, then the client's, stored inverted.
    if seg[0] == 0x2001 && seg[1] == 0 {
        let client = !u32::from(embedded(seg[6], seg[7]));
        return forbidden_v4(embedded(seg[2], seg[3])) || forbidden_v4(Ipv4Addr::from(client));
    }
    false
}

/// The forbidden address a URL's host names literally, in any notation the
/// HTTP client accepts (IPv4 in decimal, octal, hex or short form, IPv6 in
/// brackets, IPv4-mapped and other embedding forms), or `None` when the host
/// is a name (checked after resolution, on every request) or an allowed
/// address. A URL that does not parse has no host and is `None` too: its
/// syntax is the caller's to refuse.
pub fn forbidden_literal_host(url: &str) -> Option<IpAddr> {
    let ip = match url::Url::parse(url).ok()?.host()? {
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
    };
    is_forbidden(ip).then_some(ip)
}

/// Refuses a resolution that yields any forbidden address, naming the first.
///
/// One bad address refuses the whole name: the client could otherwise be
/// steered to it on a retry or by happy-eyeballs ordering.
pub fn check_resolved<I>(addrs: I) -> Result<(), RtbError>
where
    I: IntoIterator,
    I::Item: Into<IpAddr>,
{
    match addrs
        .into_iter()
        .map(Into::into)
        .find(|ip| is_forbidden(*ip))
    {
        Some(ip) => Err(RtbError::ForbiddenAddress(ip)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_forbidden() {
        for s in [
            "127.0.0.1",
            "127.255.0.9",
            "0.0.0.0",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.0.1",
            "100.64.0.1",
            "100.127.255.254",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
        ] {
            assert!(is_forbidden(ip(s)), "{s} should be forbidden");
        }
    }

    #[test]
    fn teredo_with_a_private_server_or_client_is_forbidden() {
        // Client 10.0.0.1 inverted is f5ff:fffe; server 65.54.227.120 is 4136:e378.
        assert!(
            is_forbidden(ip("2001:0:4136:e378:8000:63bf:f5ff:fffe")),
            "private client"
        );
        assert!(
            is_forbidden(ip("2001:0:4136:e378:8000:63bf:80ff:fffe")),
            "loopback client 127.0.0.1"
        );
        assert!(
            is_forbidden(ip("2001:0:a9fe:a9fe:8000:63bf:3fff:fdd2")),
            "metadata server"
        );
        // Public server and client 192.0.2.45 inverted (3fff:fdd2)… 192.0.2/24 is TEST-NET, allowed here.
        assert!(!is_forbidden(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")));
        // 2001:db8::/32 is not Teredo.
        assert!(!is_forbidden(ip("2001:db8::0a00:0001")));
    }

    #[test]
    fn nat64_with_a_private_ipv4_is_forbidden() {
        assert!(is_forbidden(ip("64:ff9b::10.0.0.1")));
        assert!(is_forbidden(ip("64:ff9b::127.0.0.1")));
        assert!(!is_forbidden(ip("64:ff9b::8.8.8.8")));
        // The local-use block, private IPv4s at its /96 and /48 positions, and the rest of it too.
        assert!(is_forbidden(ip("64:ff9b:1::192.168.1.1")));
        assert!(
            is_forbidden(ip("64:ff9b:1:a9fe:a9:fe00::")),
            "169.254.169.254 at the /48 position"
        );
        assert!(
            is_forbidden(ip("64:ff9b:1::8.8.8.8")),
            "the whole local-use block"
        );
        assert!(
            !is_forbidden(ip("64:ff9b:2::10.0.0.1")),
            "outside both NAT64 prefixes"
        );
    }

    #[test]
    fn ipv4_translated_with_a_private_ipv4_is_forbidden() {
        assert!(is_forbidden(ip("::ffff:0:127.0.0.1")));
        assert!(is_forbidden(ip("::ffff:0:169.254.169.254")));
        assert!(is_forbidden(ip("::ffff:0:10.1.2.3")));
        assert!(!is_forbidden(ip("::ffff:0:8.8.8.8")));
    }

    #[test]
    fn literal_hosts_are_read_in_every_notation() {
        for (url, refused) in [
            ("http://127.0.0.1/bid", "127.0.0.1"),
            ("http://2130706433/bid", "127.0.0.1"),
            ("http://0177.0.0.1/bid", "127.0.0.1"),
            ("http://0x7f.1/bid", "127.0.0.1"),
            ("http://127.1:8080/bid", "127.0.0.1"),
            ("http://0x7F000001/", "127.0.0.1"),
            (
                "https://169.254.169.254/latest/meta-data",
                "169.254.169.254",
            ),
            ("http://0xa9fea9fe/", "169.254.169.254"),
            ("http://10.1/?caller={callerId}", "10.0.0.1"),
            ("http://[::1]:9000/bid", "::1"),
            ("http://[::ffff:127.0.0.1]/bid", "::ffff:127.0.0.1"),
            ("http://[::ffff:7f00:1]/bid", "::ffff:127.0.0.1"),
            ("http://[fe80::1]/", "fe80::1"),
            ("http://[64:ff9b::a9fe:a9fe]/", "64:ff9b::a9fe:a9fe"),
            ("HTTP://0/", "0.0.0.0"),
        ] {
            assert_eq!(forbidden_literal_host(url), Some(ip(refused)), "{url}");
        }
        for allowed in [
            "https://bidder.example/bid",
            "http://localhost:8080/bid",
            "https://8.8.8.8/bid",
            "http://134744072/",
            "http://[2606:4700:4700::1111]/",
            "not a url",
            "http://{bad}/",
        ] {
            assert_eq!(forbidden_literal_host(allowed), None, "{allowed}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "172.15.255.255",
            "172.32.0.1",
            "100.63.255.255",
            "100.128.0.1",
            "169.253.1.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:0808:0808::1",
        ] {
            assert!(!is_forbidden(ip(s)), "{s} should be allowed");
        }
    }

    #[test]
    fn one_forbidden_resolution_refuses_the_name() {
        assert_eq!(check_resolved([ip("8.8.8.8"), ip("1.1.1.1")]), Ok(()));
        let err = check_resolved([ip("8.8.8.8"), ip("169.254.169.254")]).unwrap_err();
        assert_eq!(err, RtbError::ForbiddenAddress(ip("169.254.169.254")));
        assert!(
            err.to_string()
                .starts_with("refused to connect to 169.254.169.254")
        );
        let sockets: Vec<SocketAddr> = vec!["127.0.0.1:443".parse().unwrap()];
        assert!(check_resolved(sockets.iter().map(SocketAddr::ip)).is_err());
        assert_eq!(check_resolved(Vec::<IpAddr>::new()), Ok(()));
    }
}
