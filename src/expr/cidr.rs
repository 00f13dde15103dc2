//! IP address and CIDR sets ([`IpSet`]): parsed once, matched with prefix
//! masks per address family, using only `std::net`.
//!
//! Accepted items mirror lua-resty-ipmatcher (`resty/ipmatcher.lua`, `new`):
//! an IPv4 or IPv6 address, optionally `/prefix`, an IPv6 address optionally
//! in brackets (`[::1]`). Unlike ipmatcher, which silently treats a prefix it
//! cannot read as "whole address" and does not range-check it, a bad prefix
//! (`/33` on IPv4, `/129` on IPv6, `/x`) is an error here.
//!
//! Deliberate extension over ipmatcher: an IPv4-mapped IPv6 address
//! (`::ffff:1.2.3.4`, what a dual-stack socket reports for an IPv4 client)
//! also matches the IPv4 entries.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an [`IpSet`] item was rejected; the item is quoted as given.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CidrError {
    /// Not an IPv4 or IPv6 address (ipmatcher's wording).
    #[error("invalid ip address: {item}")]
    InvalidAddress {
        /// The rejected item.
        item: String,
    },
    /// The `/prefix` is not a number within the family's range.
    #[error("invalid ip address: {item} (prefix length must be an integer from 0 to {max})")]
    InvalidPrefix {
        /// The rejected item.
        item: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

/// Networks of one prefix length, sorted for binary search.
#[derive(Clone, Debug)]
struct Bucket<T> {
    prefix: u8,
    nets: Vec<T>,
}

/// A set of IPv4/IPv6 addresses and CIDRs ("127.0.0.1", "10.0.0.0/8",
/// "::1", "fe80::/10"), parsed once.
#[derive(Clone, Debug, Default)]
pub struct IpSet {
    v4: Vec<Bucket<u32>>,
    v6: Vec<Bucket<u128>>,
}

fn mask_v4(prefix: u8) -> u32 {
    match prefix {
        0 => 0,
        p => u32::MAX << (32 - u32::from(p)),
    }
}

fn mask_v6(prefix: u8) -> u128 {
    match prefix {
        0 => 0,
        p => u128::MAX << (128 - u32::from(p)),
    }
}

fn insert<T: Ord + Copy>(buckets: &mut Vec<Bucket<T>>, prefix: u8, net: T) {
    match buckets.iter_mut().find(|b| b.prefix == prefix) {
        Some(b) => b.nets.push(net),
        None => buckets.push(Bucket {
            prefix,
            nets: vec![net],
        }),
    }
}

fn finish<T: Ord>(buckets: &mut [Bucket<T>]) {
    for b in buckets.iter_mut() {
        b.nets.sort_unstable();
        b.nets.dedup();
    }
    // Longest prefixes first: single addresses are the common case.
    buckets.sort_unstable_by_key(|b| std::cmp::Reverse(b.prefix));
}

/// Parse an address, IPv6 optionally in brackets; no allocation.
fn parse_addr(s: &str) -> Option<IpAddr> {
    if let Ok(v4) = s.parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

fn parse_prefix(text: &str, max: u8) -> Option<u8> {
    if text.is_empty() || text.len() > 3 || !text.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse::<u8>().ok().filter(|p| *p <= max)
}

impl IpSet {
    /// Parse addresses and CIDRs; the first bad item is the error.
    ///
    /// # Errors
    /// [`CidrError`] naming the first item that is not an address, or whose
    /// prefix length is not a number within its family's range.
    pub fn parse<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Result<IpSet, CidrError> {
        let mut set = IpSet::default();
        for item in items {
            set.add(item.as_ref())?;
        }
        finish(&mut set.v4);
        finish(&mut set.v6);
        Ok(set)
    }

    fn add(&mut self, item: &str) -> Result<(), CidrError> {
        let (addr_text, prefix_text) = match item.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (item, None),
        };
        let addr =
            parse_addr(addr_text).ok_or_else(|| CidrError::InvalidAddress { item: item.into() })?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => parse_prefix(p, max).ok_or_else(|| CidrError::InvalidPrefix {
                item: item.into(),
                max,
            })?,
        };
        match addr {
            IpAddr::V4(a) => insert(&mut self.v4, prefix, u32::from(a) & mask_v4(prefix)),
            IpAddr::V6(a) => insert(&mut self.v6, prefix, u128::from(a) & mask_v6(prefix)),
        }
        Ok(())
    }

    /// Whether the set has no entries (then it matches nothing).
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    fn contains_v4(&self, ip: u32) -> bool {
        self.v4
            .iter()
            .any(|b| b.nets.binary_search(&(ip & mask_v4(b.prefix))).is_ok())
    }

    fn contains_v6(&self, ip: u128) -> bool {
        self.v6
            .iter()
            .any(|b| b.nets.binary_search(&(ip & mask_v6(b.prefix))).is_ok())
    }

    /// Whether `ip` is in the set; an IPv4-mapped IPv6 address also matches
    /// the IPv4 entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(a) => self.contains_v4(u32::from(a)),
            IpAddr::V6(a) => {
                a.to_ipv4_mapped()
                    .is_some_and(|v4| self.contains_v4(u32::from(v4)))
                    || self.contains_v6(u128::from(a))
            }
        }
    }

    /// [`IpSet::contains`] on an address in text form (IPv6 may be in
    /// brackets); text that is not an address matches nothing.
    pub fn contains_str(&self, ip: &str) -> bool {
        parse_addr(ip).is_some_and(|a| self.contains(a))
    }
}
