//! Seeded byte-string hashing and a persistent hash table keyed by
//! `(tag, bytes)`; used for exact paths, host names and route keys without
//! per-key allocations and without allocating on lookup.
//!
//! The table is split into `2^depth` shards by the top bits of the hash,
//! each an open-addressing table of its own behind `Arc`s. Cloning the
//! table clones the directory only; a write copies just the shard it
//! touches, so a changed copy shares every other shard with the original.
//! A table that outgrows its shards is rebuilt with more (amortized).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

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

/// A seeded [`BuildHasher`] over [`hash_bytes`], for the build's own
/// short-lived maps (cheaper than SipHash, still keyed per build).
#[derive(Clone, Copy)]
pub(crate) struct FastState(pub(crate) u64);

/// The [`Hasher`] of [`FastState`].
pub(crate) struct FastHasher(u64);

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_bytes::<false>(self.0, bytes);
    }

    fn write_u8(&mut self, i: u8) {
        self.0 = fold_mul(self.0 ^ u64::from(i), K1);
    }

    fn write_usize(&mut self, i: usize) {
        self.0 = fold_mul(self.0 ^ i as u64, K1);
    }

    fn finish(&self) -> u64 {
        self.0
    }
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

/// The hash of `(tag, key)` in a table seeded with `seed`.
#[inline]
pub(crate) fn key_hash<const CI: bool>(seed: u64, tag: u32, key: &[u8]) -> u64 {
    hash_bytes::<CI>(seed ^ u64::from(tag).wrapping_mul(K2), key)
}

#[inline(always)]
fn eq_bytes<const CI: bool>(a: &[u8], b: &[u8]) -> bool {
    if CI {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[derive(Clone)]
struct Item<V> {
    hash: u64,
    tag: u32,
    /// The key at `arena[start..start + len]`, then `extra` more bytes.
    start: u32,
    len: u32,
    extra: u32,
    value: V,
}

/// Keys a built table aims to hold per shard.
const SHARD_TARGET: usize = 1024;
/// A table averaging more keys per shard than this is rebuilt with more
/// shards.
const SHARD_MAX: usize = 4096;
/// Directory depth limit (2^20 shards).
const MAX_DEPTH: u32 = 20;

/// The keys and values of one shard; keys live in one byte arena.
#[derive(Clone)]
struct Shard<V> {
    items: Vec<Item<V>>,
    arena: Vec<u8>,
    /// Arena bytes of removed keys.
    garbage: usize,
}

/// A directory entry: one shard and its slots. A slot holds a 32-bit
/// fingerprint plus an item index, so a probe rarely touches an item that
/// does not match; the slot array sits right behind the directory (its
/// length, a power of two, gives the mask).
struct Part<V> {
    slots: Arc<[u64]>,
    shard: Arc<Shard<V>>,
}

impl<V> Clone for Part<V> {
    fn clone(&self) -> Self {
        Self {
            slots: self.slots.clone(),
            shard: self.shard.clone(),
        }
    }
}

fn slot_count(items: usize) -> usize {
    (items.saturating_mul(2)).max(8).next_power_of_two()
}

/// Places item `index` with `hash` in `slots`.
fn place(slots: &mut [u64], hash: u64, index: usize) {
    let mask = slots.len().wrapping_sub(1);
    let mut pos = hash as usize & mask;
    while let Some(slot) = slots.get_mut(pos) {
        if *slot == 0 {
            *slot = ((hash >> 32) << 32) | (index as u64 + 1);
            return;
        }
        pos = (pos + 1) & mask;
    }
}

/// Slots for `items`.
fn slots_for<V>(items: &[Item<V>], cap: usize) -> Vec<u64> {
    let mut slots = vec![0; cap];
    for (i, item) in items.iter().enumerate() {
        place(&mut slots, item.hash, i);
    }
    slots
}

impl<V> Shard<V> {
    fn with_capacity(n: usize, key_bytes: usize) -> Self {
        Self {
            items: Vec::with_capacity(n),
            arena: Vec::with_capacity(key_bytes),
            garbage: 0,
        }
    }

    /// Appends an item (not placed in any slots).
    fn append(
        &mut self,
        hash: u64,
        tag: u32,
        key: &[u8],
        extra: &[u8],
        value: V,
    ) -> Result<(), RouterError> {
        let start = to_u32(self.arena.len())?;
        let len = to_u32(key.len())?;
        let extra_len = to_u32(extra.len())?;
        to_u32(self.arena.len() + key.len() + extra.len())?;
        to_u32(self.items.len() + 1)?;
        self.arena.extend_from_slice(key);
        self.arena.extend_from_slice(extra);
        self.items.push(Item {
            hash,
            tag,
            start,
            len,
            extra: extra_len,
            value,
        });
        Ok(())
    }

    /// Removes item `index` (the last item takes its index), returning its
    /// value and extra bytes.
    fn remove_at(&mut self, index: usize) -> Option<(V, Vec<u8>)> {
        if index >= self.items.len() {
            return None;
        }
        let item = self.items.swap_remove(index);
        let extra = self.extra(&item).to_vec();
        self.garbage += (item.len + item.extra) as usize;
        if self.garbage > 64 && self.garbage * 2 > self.arena.len() {
            let mut arena = Vec::with_capacity(self.arena.len() - self.garbage);
            for it in &mut self.items {
                let start = it.start as usize;
                let end = start + (it.len + it.extra) as usize;
                let bytes = self.arena.get(start..end).unwrap_or(&[]);
                // Fits: the new arena is smaller than the old one.
                it.start = arena.len() as u32;
                arena.extend_from_slice(bytes);
            }
            self.arena = arena;
            self.garbage = 0;
        }
        Some((item.value, extra))
    }

    fn key(&self, item: &Item<V>) -> &[u8] {
        let start = item.start as usize;
        self.arena
            .get(start..start + item.len as usize)
            .unwrap_or(&[])
    }

    fn extra(&self, item: &Item<V>) -> &[u8] {
        let start = (item.start + item.len) as usize;
        self.arena
            .get(start..start + item.extra as usize)
            .unwrap_or(&[])
    }
}

/// The index of the item with this hash, tag and key in `shard`, probing
/// `slots`.
#[inline]
fn find<V, const CI: bool>(
    slots: &[u64],
    shard: &Shard<V>,
    hash: u64,
    tag: u32,
    key: &[u8],
) -> Option<usize> {
    let fp = hash >> 32;
    let mask = slots.len().wrapping_sub(1);
    let mut pos = hash as usize & mask;
    loop {
        let slot = *slots.get(pos)?;
        if slot == 0 {
            return None;
        }
        if slot >> 32 == fp {
            let index = (slot as u32 as usize).wrapping_sub(1);
            let item = shard.items.get(index)?;
            if item.tag == tag && item.len as usize == key.len() {
                let start = item.start as usize;
                let stored = shard.arena.get(start..start + key.len())?;
                if eq_bytes::<CI>(stored, key) {
                    return Some(index);
                }
            }
        }
        pos = (pos + 1) & mask;
    }
}

/// Persistent map from `(tag, key bytes)` to `V`; see the module docs.
/// With `CI` keys compare ASCII-case-insensitively (store them lower-cased).
/// Each key may carry extra bytes.
pub(crate) struct StrTable<V, const CI: bool> {
    seed: u64,
    /// The directory has `1 << depth` entries.
    depth: u32,
    dir: Vec<Part<V>>,
    len: usize,
}

impl<V, const CI: bool> Clone for StrTable<V, CI> {
    fn clone(&self) -> Self {
        Self {
            seed: self.seed,
            depth: self.depth,
            dir: self.dir.clone(),
            len: self.len,
        }
    }
}

impl<V, const CI: bool> StrTable<V, CI> {
    /// An empty table; allocates nothing until the first insert.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            depth: 0,
            dir: Vec::new(),
            len: 0,
        }
    }

    /// Number of keys stored.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The hash a key will be stored and looked up under.
    #[inline]
    pub(crate) fn hash(&self, tag: u32, key: &[u8]) -> u64 {
        key_hash::<CI>(self.seed, tag, key)
    }

    /// Directory entry of `hash`: its top `depth` bits.
    #[inline(always)]
    fn slot(&self, hash: u64) -> usize {
        (hash.rotate_left(self.depth) as usize) & self.dir.len().wrapping_sub(1)
    }

    /// Looks a key up; never allocates.
    #[inline]
    pub(crate) fn get(&self, tag: u32, key: &[u8]) -> Option<&V> {
        if self.len == 0 {
            return None;
        }
        let hash = self.hash(tag, key);
        let part = self.dir.get(self.slot(hash))?;
        let index = find::<V, CI>(&part.slots, &part.shard, hash, tag, key)?;
        part.shard.items.get(index).map(|item| &item.value)
    }
}

impl<V: Clone, const CI: bool> StrTable<V, CI> {
    /// Builds a table from keys the caller knows are distinct, except that
    /// a repeated key is reported through `duplicate`. `bytes` gives an
    /// item's key and extra bytes.
    pub(crate) fn bulk<'b, K>(
        seed: u64,
        items: Vec<(u64, u32, K, V)>,
        bytes: impl Fn(&K) -> (&'b [u8], &'b [u8]),
        duplicate: impl FnOnce(&[u8]) -> RouterError,
    ) -> Result<Self, RouterError> {
        let sizes: Vec<(u64, usize)> = items
            .iter()
            .map(|(hash, _, key, _)| {
                let (key, extra) = bytes(key);
                (*hash, key.len() + extra.len())
            })
            .collect();
        let n = items.len();
        Self::bulk_iter(
            seed,
            n,
            sizes.into_iter(),
            items.into_iter(),
            bytes,
            duplicate,
        )
    }

    /// [`Self::bulk`] over `n` items, read twice: `sizes` gives each item's
    /// hash and byte count, then `items` the items in the same order.
    pub(crate) fn bulk_iter<'b, K>(
        seed: u64,
        n: usize,
        sizes: impl Iterator<Item = (u64, usize)>,
        items: impl Iterator<Item = (u64, u32, K, V)>,
        bytes: impl Fn(&K) -> (&'b [u8], &'b [u8]),
        duplicate: impl FnOnce(&[u8]) -> RouterError,
    ) -> Result<Self, RouterError> {
        let mut depth = 0u32;
        while (SHARD_TARGET << depth) < n && depth < MAX_DEPTH {
            depth += 1;
        }
        let count = 1usize << depth;
        let index = |hash: u64| (hash.rotate_left(depth) as usize) & (count - 1);
        let mut sizes_of = vec![(0usize, 0usize); count];
        for (hash, size) in sizes {
            if let Some(c) = sizes_of.get_mut(index(hash)) {
                c.0 += 1;
                c.1 += size;
            }
        }
        let mut shards: Vec<Shard<V>> = sizes_of
            .iter()
            .map(|&(k, bytes)| Shard::with_capacity(k, bytes))
            .collect();
        // Stream the items into their shards, then place each shard's slots
        // while that shard is hot in cache.
        for (hash, tag, key, value) in items {
            let Some(shard) = shards.get_mut(index(hash)) else {
                continue;
            };
            let (key, extra) = bytes(&key);
            shard.append(hash, tag, key, extra, value)?;
        }
        let mut dir = Vec::with_capacity(count);
        let mut len = 0;
        for shard in shards {
            let mut slots = vec![0u64; slot_count(shard.items.len())];
            for (i, item) in shard.items.iter().enumerate() {
                let key = shard.key(item);
                if find::<V, CI>(&slots, &shard, item.hash, item.tag, key).is_some() {
                    return Err(duplicate(key));
                }
                place(&mut slots, item.hash, i);
            }
            len += shard.items.len();
            dir.push(Part {
                slots: slots.into(),
                shard: Arc::new(shard),
            });
        }
        Ok(Self {
            seed,
            depth,
            dir,
            len,
        })
    }

    /// The value of a key, for changing it; copies the key's shard if it is
    /// shared. `hash` must come from [`Self::hash`] for the same tag and key.
    pub(crate) fn get_mut(&mut self, hash: u64, tag: u32, key: &[u8]) -> Option<&mut V> {
        let slot = self.slot(hash);
        let part = self.dir.get_mut(slot)?;
        let index = find::<V, CI>(&part.slots, &part.shard, hash, tag, key)?;
        Arc::make_mut(&mut part.shard)
            .items
            .get_mut(index)
            .map(|item| &mut item.value)
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
        self.insert_new_with(hash, tag, key, &[], value)
    }

    /// [`Self::insert_new`], keeping `extra` bytes with the key.
    pub(crate) fn insert_new_with(
        &mut self,
        hash: u64,
        tag: u32,
        key: &[u8],
        extra: &[u8],
        value: V,
    ) -> Result<(), RouterError> {
        if self.len + 1 > self.dir.len().max(1) * SHARD_MAX && self.depth < MAX_DEPTH {
            self.regrow()?;
        }
        if self.dir.is_empty() {
            self.depth = 0;
            self.dir.push(Part {
                slots: vec![0; slot_count(0)].into(),
                shard: Arc::new(Shard::with_capacity(0, 0)),
            });
        }
        let slot = self.slot(hash);
        let Some(part) = self.dir.get_mut(slot) else {
            return Err(RouterError::TooLarge);
        };
        let shard = Arc::make_mut(&mut part.shard);
        shard.append(hash, tag, key, extra, value)?;
        let index = shard.items.len() - 1;
        if shard.items.len() * 2 > part.slots.len() {
            part.slots = slots_for(&shard.items, slot_count(shard.items.len())).into();
        } else {
            place(Arc::make_mut(&mut part.slots), hash, index);
        }
        self.len += 1;
        Ok(())
    }

    /// Removes a key, returning its value and extra bytes.
    pub(crate) fn remove(&mut self, hash: u64, tag: u32, key: &[u8]) -> Option<(V, Vec<u8>)> {
        let slot = self.slot(hash);
        let part = self.dir.get_mut(slot)?;
        let index = find::<V, CI>(&part.slots, &part.shard, hash, tag, key)?;
        let shard = Arc::make_mut(&mut part.shard);
        let removed = shard.remove_at(index)?;
        let cap = slot_count(shard.items.len()).min(part.slots.len());
        part.slots = slots_for(&shard.items, cap).into();
        self.len -= 1;
        Some(removed)
    }

    /// Rebuilds the table with four times the shards.
    fn regrow(&mut self) -> Result<(), RouterError> {
        let depth = (self.depth + 2).min(MAX_DEPTH);
        let count = 1usize << depth;
        let index = |hash: u64| (hash.rotate_left(depth) as usize) & (count - 1);
        let mut shards: Vec<Shard<V>> = (0..count).map(|_| Shard::with_capacity(0, 0)).collect();
        for part in &self.dir {
            for item in &part.shard.items {
                if let Some(shard) = shards.get_mut(index(item.hash)) {
                    let (key, extra) = (part.shard.key(item), part.shard.extra(item));
                    shard.append(item.hash, item.tag, key, extra, item.value.clone())?;
                }
            }
        }
        self.dir = shards
            .into_iter()
            .map(|shard| Part {
                slots: slots_for(&shard.items, slot_count(shard.items.len())).into(),
                shard: Arc::new(shard),
            })
            .collect();
        self.depth = depth;
        Ok(())
    }
}
