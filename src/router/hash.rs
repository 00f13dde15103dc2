//! Seeded byte-string hashing and a flat open-addressing table keyed by
//! `(tag, bytes)`; used for exact paths and host names without per-key
//! allocations and without allocating on lookup.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use super::error::{to_u32, RouterError};

const K1: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xD6E8_FEB8_6659_FD93;
const K3: u64 = 0xA076_1D64_78BD_642F;

/// A per-process random seed, so bucket placement is not predictable.
pub(crate) fn random_seed() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(K3);
    h.finish()
}

#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

#[inline(always)]
fn read_u64(b: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 8];
    if let Some(src) = b.get(at..at + 8) {
        buf.copy_from_slice(src);
    }
    u64::from_le_bytes(buf)
}

#[inline(always)]
fn read_u32(b: &[u8], at: usize) -> u64 {
    let mut buf = [0u8; 4];
    if let Some(src) = b.get(at..at + 4) {
        buf.copy_from_slice(src);
    }
    u64::from(u32::from_le_bytes(buf))
}

/// ASCII-lowercases the eight bytes of `x` at once; non-ASCII bytes are kept.
#[inline(always)]
fn lower_word(x: u64) -> u64 {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    let low = x & LO7;
    let ge_a = low.wrapping_add(0x3F3F_3F3F_3F3F_3F3F); // high bit set where byte >= 'A'
    let gt_z = low.wrapping_add(0x2525_2525_2525_2525); // high bit set where byte > 'Z'
    let upper = ge_a & !gt_z & !x & HI;
    x | (upper >> 2)
}

#[inline(always)]
fn lower_byte<const CI: bool>(b: u8) -> u64 {
    u64::from(if CI { b.to_ascii_lowercase() } else { b })
}

/// Hashes `bytes` under `seed`; with `CI` the hash ignores ASCII case.
///
/// One 128-bit multiply per 16 bytes; the last (up to) 16 bytes are read
/// as two possibly overlapping words, with the length mixed in.
#[inline]
pub(crate) fn hash_bytes<const CI: bool>(seed: u64, bytes: &[u8]) -> u64 {
    let len = bytes.len();
    let lw = |w: u64| if CI { lower_word(w) } else { w };
    let mut h = seed ^ K3;
    let mut at = 0usize;
    while len - at > 16 {
        let a = lw(read_u64(bytes, at));
        let b = lw(read_u64(bytes, at + 8));
        h = fold_mul(a ^ K1, b ^ h);
        at += 16;
    }
    let rem = len - at;
    let (a, b) = if rem >= 8 {
        (lw(read_u64(bytes, at)), lw(read_u64(bytes, len - 8)))
    } else if rem >= 4 {
        (lw(read_u32(bytes, at)), lw(read_u32(bytes, len - 4)))
    } else if rem > 0 {
        let byte = |i: usize| lower_byte::<CI>(bytes.get(i).copied().unwrap_or(0));
        (
            (byte(at) << 16) | (byte(at + rem / 2) << 8) | byte(len - 1),
            0,
        )
    } else {
        (0, 0)
    };
    let h = fold_mul(a ^ K2, b ^ h);
    fold_mul(h ^ K1, (len as u64) ^ K3)
}

#[inline(always)]
fn eq_bytes<const CI: bool>(a: &[u8], b: &[u8]) -> bool {
    if CI {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

struct Item<V> {
    hash: u64,
    tag: u32,
    start: u32,
    len: u32,
    value: V,
}

/// Open-addressing map from `(tag, key bytes)` to a small `Copy` value.
///
/// Keys live in one byte arena; slots hold a 32-bit fingerprint plus an item
/// index so that a probe rarely touches an item that does not match. With
/// `CI` keys compare ASCII-case-insensitively (store them lower-cased).
pub(crate) struct StrTable<V, const CI: bool> {
    seed: u64,
    mask: usize,
    slots: Vec<u64>,
    items: Vec<Item<V>>,
    arena: Vec<u8>,
}

impl<V: Copy, const CI: bool> StrTable<V, CI> {
    /// An empty table; allocates nothing until the first insert.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            mask: 0,
            slots: Vec::new(),
            items: Vec::new(),
            arena: Vec::new(),
        }
    }

    /// Makes room for `n` more keys totalling `key_bytes` bytes.
    pub(crate) fn reserve(&mut self, n: usize, key_bytes: usize) {
        self.items.reserve_exact(n);
        self.arena.reserve_exact(key_bytes);
        self.resize(self.items.len() + n);
    }

    /// Number of keys stored.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// The hash a key will be stored and looked up under.
    #[inline]
    pub(crate) fn hash(&self, tag: u32, key: &[u8]) -> u64 {
        hash_bytes::<CI>(self.seed ^ u64::from(tag).wrapping_mul(K2), key)
    }

    fn resize(&mut self, n: usize) {
        let cap = (n.saturating_mul(2)).max(8).next_power_of_two();
        if cap <= self.slots.len() {
            return;
        }
        self.slots = vec![0; cap];
        self.mask = cap - 1;
        for (i, item) in self.items.iter().enumerate() {
            Self::place(&mut self.slots, self.mask, item.hash, i);
        }
    }

    #[inline]
    fn place(slots: &mut [u64], mask: usize, hash: u64, index: usize) {
        let mut pos = hash as usize & mask;
        loop {
            if slots[pos] == 0 {
                slots[pos] = ((hash >> 32) << 32) | (index as u64 + 1);
                return;
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Inserts a key the caller knows is not present yet; `hash` must come
    /// from [`Self::hash`] for the same tag and key.
    pub(crate) fn insert_new(
        &mut self,
        hash: u64,
        tag: u32,
        key: &[u8],
        value: V,
    ) -> Result<(), RouterError> {
        if (self.items.len() + 1) * 2 > self.slots.len() {
            self.resize(self.items.len() + 1);
        }
        let start = to_u32(self.arena.len())?;
        let len = to_u32(key.len())?;
        to_u32(self.items.len() + 1)?;
        self.arena.extend_from_slice(key);
        let index = self.items.len();
        self.items.push(Item {
            hash,
            tag,
            start,
            len,
            value,
        });
        Self::place(&mut self.slots, self.mask, hash, index);
        Ok(())
    }

    /// Looks a key up; never allocates.
    #[inline]
    pub(crate) fn get(&self, tag: u32, key: &[u8]) -> Option<V> {
        if self.items.is_empty() {
            return None;
        }
        let hash = self.hash(tag, key);
        let fp = hash >> 32;
        let mut pos = hash as usize & self.mask;
        loop {
            let slot = *self.slots.get(pos)?;
            if slot == 0 {
                return None;
            }
            if slot >> 32 == fp {
                let item = self.items.get((slot as u32 as usize).wrapping_sub(1))?;
                if item.tag == tag && item.len as usize == key.len() {
                    let start = item.start as usize;
                    let stored = self.arena.get(start..start + key.len())?;
                    if eq_bytes::<CI>(stored, key) {
                        return Some(item.value);
                    }
                }
            }
            pos = (pos + 1) & self.mask;
        }
    }
}
