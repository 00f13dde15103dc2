//! Client and server addresses as text, written without the formatting
//! machinery: every proxied request writes the client IP at least twice
//! (`X-Forwarded-For`, `X-Real-IP`) and rate limits key on it, so `Display`
//! showed up in profiles. IPv6 keeps `Display` (RFC 5952 compression).

use std::net::IpAddr;

/// Append `ip` in its usual text form (`10.0.0.2`, `::1`).
pub fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_u8(out, octet);
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

/// `ip` as a new string.
pub fn ip_string(ip: IpAddr) -> String {
    let mut out = String::with_capacity(15);
    push_ip(&mut out, ip);
    out
}

fn push_u8(out: &mut String, n: u8) {
    if n >= 100 {
        out.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        out.push(char::from(b'0' + (n / 10) % 10));
    }
    out.push(char::from(b'0' + n % 10));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_display_for_every_octet_and_for_ipv6() {
        for n in 0..=255u8 {
            let ip = IpAddr::from([n, 0, 10, 255]);
            assert_eq!(ip_string(ip), ip.to_string());
        }
        for text in ["::1", "2001:db8::8a2e:370:7334", "::ffff:10.0.0.1"] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(ip_string(ip), ip.to_string());
        }
    }
}
