//! Validated response headers, remembered by the identity of their tuple.
//!
//! Owns: a small per-thread table from a header `(name, value)` tuple that
//! the application passes again and again (a constant in its code, such as
//! `("Content-Type", "text/plain")`) to the header line already checked and
//! encoded. Tuples and `str` are immutable, so the same object always
//! validates to the same bytes; the table holds a reference to each tuple
//! it keeps, so an address can never come back as another object.
//!
//! Only tuples that something else also holds (a code object's constants,
//! a module-level list) are remembered: a tuple built for one response
//! would only churn the table. Some frameworks keep their per-response
//! tuples in a second list (werkzeug's `Headers`), which that test cannot
//! tell from constants; so a thread whose first [`PROBATION`] remembered
//! tuples brought fewer hits than a quarter of that stops remembering.
//!
//! Must never: be used without the GIL (it increments and decrements
//! reference counts), or keep more than [`SLOTS`] tuples alive.

use std::cell::RefCell;

use pyo3::ffi;
use pyo3::prelude::*;

/// Table size (direct-mapped by address).
const SLOTS: usize = 64;

/// Longest header line worth keeping.
const MAX_LINE: usize = 512;

/// What the response head code must know about a remembered header.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Plain,
    Server,
    Date,
    /// A Content-Length header and its value.
    ContentLength(u64),
}

/// One remembered header.
pub struct Entry {
    /// The tuple, with a reference owned by the table.
    key: *mut ffi::PyObject,
    /// `Name: value\r\n`, as it goes on the wire.
    pub line: Box<[u8]>,
    pub name_len: usize,
    pub kind: Kind,
}

impl Entry {
    pub fn name(&self) -> &[u8] {
        &self.line[..self.name_len]
    }

    pub fn value(&self) -> &[u8] {
        &self.line[self.name_len + 2..self.line.len() - 2]
    }
}

/// Insertions after which the hit rate decides whether to go on.
const PROBATION: u32 = 256;

struct Table {
    slots: Vec<Option<Entry>>,
    inserts: u32,
    hits: u32,
    /// The hit rate was too low: remember nothing more.
    off: bool,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        slots: (0..SLOTS).map(|_| None).collect(),
        inserts: 0,
        hits: 0,
        off: false,
    });
}

fn slot(p: *mut ffi::PyObject) -> usize {
    (p as usize >> 4) % SLOTS
}

/// Runs `f` on the entry for `item`, if it is remembered.
#[inline]
pub fn with<R>(item: &Bound<'_, PyAny>, f: impl FnOnce(&Entry) -> R) -> Option<R> {
    let p = item.as_ptr();
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        let t = &mut *t;
        match t.slots.get(slot(p)) {
            Some(Some(e)) if e.key == p => {
                t.hits = t.hits.saturating_add(1);
                Some(f(e))
            }
            _ => None,
        }
    })
}

/// Remembers a header tuple that was just validated, if it is worth it.
/// `held_by_caller`: references the caller itself holds on `item` (the
/// iteration's own reference), not counted as "something else".
pub fn remember(
    item: &Bound<'_, PyAny>,
    name: &[u8],
    value: &[u8],
    kind: Kind,
    held_by_caller: isize,
) {
    let p = item.as_ptr();
    if !item.is_exact_instance_of::<pyo3::types::PyTuple>() {
        return;
    }
    let open = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        if !t.off && t.inserts >= PROBATION && t.hits < PROBATION / 4 {
            t.off = true;
        }
        !t.off
    });
    if !open {
        return;
    }
    // SAFETY: reading the reference count of a live object (GIL held).
    let refs = unsafe { ffi::Py_REFCNT(p) };
    if refs <= held_by_caller + 1 {
        return; // built for this response only
    }
    let len = name.len() + value.len() + 4;
    if len > MAX_LINE {
        return;
    }
    let mut line = Vec::with_capacity(len);
    line.extend_from_slice(name);
    line.extend_from_slice(b": ");
    line.extend_from_slice(value);
    line.extend_from_slice(b"\r\n");
    // SAFETY: the table's own reference, released on eviction.
    unsafe { ffi::Py_IncRef(p) };
    let old = TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.inserts = t.inserts.saturating_add(1);
        t.slots.get_mut(slot(p)).and_then(|s| {
            s.replace(Entry {
                key: p,
                line: line.into_boxed_slice(),
                name_len: name.len(),
                kind,
            })
        })
    });
    if let Some(old) = old {
        // SAFETY: the reference taken when `old` was remembered (GIL held).
        unsafe { ffi::Py_DecRef(old.key) };
    }
}
