//! Locks used across the crate, imported from here so the poisoning policy is decided once.
//!
//! Policy: a poisoned lock is recovered, not propagated. Every critical section in this
//! crate leaves the protected data consistent before any call that can panic, so the data
//! behind a poisoned lock is still valid.

use std::sync::{LockResult, MutexGuard, RwLockReadGuard, RwLockWriteGuard};

pub use std::sync::{Arc, Mutex, RwLock, Weak};

/// Locks `m`, recovering the guard if a panicking thread poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    recover(m.lock())
}

/// Read-locks `l`, recovering the guard if poisoned.
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    recover(l.read())
}

/// Write-locks `l`, recovering the guard if poisoned.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    recover(l.write())
}

fn recover<G>(r: LockResult<G>) -> G {
    r.unwrap_or_else(std::sync::PoisonError::into_inner)
}
