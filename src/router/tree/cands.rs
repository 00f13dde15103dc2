//! Candidates stored at tree nodes and exact paths: the [`Cand`] order
//! and the [`Cands`] list of one key.

use std::sync::Arc;

/// A candidate stored at a tree node (or an exact path).
pub(crate) trait Cand: Clone {
    /// Whether `self` is offered before `other`.
    fn before(&self, other: &Self) -> bool;
}

impl Cand for u32 {
    fn before(&self, other: &Self) -> bool {
        self < other
    }
}

/// The candidates of one key, in the order they are offered. One candidate
/// (the common case) is held inline.
#[derive(Clone, Default)]
pub(crate) enum Cands<E> {
    #[default]
    Empty,
    One(E),
    Many(Arc<[E]>),
}

impl<E: Cand> Cands<E> {
    /// Candidates from a list already in candidate order.
    pub(crate) fn from_vec(mut v: Vec<E>) -> Self {
        if v.len() > 1 {
            Self::Many(v.into())
        } else {
            v.pop().map_or(Self::Empty, Self::One)
        }
    }

    #[inline(always)]
    pub(crate) fn as_slice(&self) -> &[E] {
        match self {
            Self::Empty => &[],
            Self::One(e) => std::slice::from_ref(e),
            Self::Many(v) => v,
        }
    }

    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, Self::Empty)
    }

    /// Adds `e` at its place in candidate order.
    pub(crate) fn insert(&mut self, e: E) {
        *self = match std::mem::take(self) {
            Self::Empty => Self::One(e),
            Self::One(x) => {
                if e.before(&x) {
                    Self::Many(Arc::new([e, x]))
                } else {
                    Self::Many(Arc::new([x, e]))
                }
            }
            Self::Many(v) => {
                let at = v.iter().position(|x| e.before(x)).unwrap_or(v.len());
                let mut out = Vec::with_capacity(v.len() + 1);
                out.extend(v.iter().take(at).cloned());
                out.push(e);
                out.extend(v.iter().skip(at).cloned());
                Self::Many(out.into())
            }
        };
    }

    /// Removes the candidates satisfying `pred`; returns how many.
    pub(crate) fn remove(&mut self, pred: impl Fn(&E) -> bool) -> usize {
        let n = self.as_slice().iter().filter(|e| pred(e)).count();
        if n != 0 {
            let kept: Vec<E> = self
                .as_slice()
                .iter()
                .filter(|e| !pred(e))
                .cloned()
                .collect();
            *self = Self::from_vec(kept);
        }
        n
    }
}
