//! Storage connections shared by concurrent requests: [`HubPool`].
//!
//! Each connection is a [`Hub`] over its own storage (one SQLite connection to the WAL
//! database, or one PostgreSQL session). A request leases one for as long as it needs it and
//! gives it back when the lease drops. A connection the database has closed (a PostgreSQL
//! restart, a failover) is discarded on return and replaced on demand, so the repository
//! recovers by itself once the database is back.
//!
//! # Several server processes on one database
//!
//! Any number of server processes may share one PostgreSQL database. What keeps the site's
//! data right is the database, never this process's memory:
//!
//! - **Sequence numbers are committed in order.** A write of a case takes its site's next
//!   number with an upsert of the site's `site_seq` row inside the write transaction. The
//!   upsert locks that row until the transaction ends, so another writer of the site (in any
//!   process) waits at its own upsert until the first commits or rolls back, and only then
//!   takes a higher number. PostgreSQL makes a transaction visible before it releases its
//!   locks, so when number `n` is visible every lower number is committed or was rolled
//!   back (a rolled-back number is simply taken again; numbers only need to grow). A reader
//!   of `cases_after` therefore never sees a number above one still in flight, and no
//!   device's cursor can pass a case not yet committed. In SQLite a write transaction
//!   (`BEGIN IMMEDIATE`) holds the database's single write lock from its first statement to
//!   its commit: the same order, for every process on the file.
//! - **No acknowledged merge is lost.** Every write of a case is a compare-and-set on the
//!   sequence number it read (`HubStorage::put_pushed` for a device's push,
//!   `HubStorage::put_case` for the console's resolution): `UPDATE ... WHERE seq = read`.
//!   Under READ COMMITTED an update that meets a row being written by another transaction
//!   waits for it and then tests the condition on the committed row, so a merge committed
//!   in between makes the write change nothing (`Put::Changed`); nothing is written and the
//!   caller reads, merges and writes again (a sync exchange is made again from the start,
//!   the console resolves on the new document). A new case is an `INSERT ... ON CONFLICT DO
//!   NOTHING`, which waits for a concurrent insert of the same id and then does nothing.
//! - **No advisory lock is needed for an exchange.** The read-and-merge phase of an exchange
//!   (the CPU-heavy part) takes no lock in the database, so exchanges of one site run side by
//!   side in different processes; their write phases are serialised by the `site_seq` row
//!   lock, taken at the first case written and held to the commit, which is exactly what the
//!   order of numbers needs. A whole-exchange `pg_advisory_xact_lock` would serialise the
//!   merges of a site's 25 devices at shift change across every process for no gain in
//!   correctness. The price is that two processes merging the same case at once make one of
//!   the exchanges again (it is retried, then refused as "changed during this sync" for the
//!   device to retry), which only happens when two devices push the same case in the same
//!   instant.
//!
//! Within one process, sync exchanges of one site still take turns ([`HubPool::site_lock`]):
//! an optimisation only, which keeps the devices of a site syncing through the same process
//! from merging the same cases twice and retrying. It is never what makes the data right.
//! Exchanges of different sites, admin requests and enrolment run side by side.

use super::{RepoError, Repository};
use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use wardcrf_core::repository::{Hub, HubStorage};

/// Opens one more storage connection.
pub type Connect<S> = Box<dyn Fn() -> Result<S, RepoError> + Send + Sync>;

struct Idle<S: HubStorage> {
    /// Each with the number of closed connections found when it was last known good.
    hubs: Vec<(Hub<S>, u64)>,
    /// Connections open now, leased or idle.
    open: usize,
    /// Connections found closed by the database so far. When one is, the database has
    /// probably closed the others too (a restart, a failover): an idle connection returned
    /// before that is asked whether it is alive before it is leased, so that one request
    /// fails after a restart, not one per connection the pool held.
    closed: u64,
}

/// The connections of a [`HubPool`] at one moment ([`HubPool::usage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolUsage {
    /// Leased by a request now.
    pub in_use: usize,
    /// Open now, leased or idle.
    pub open: usize,
    /// The most it opens.
    pub max: usize,
}

/// A bounded set of storage connections; see the module documentation.
pub struct HubPool<S: HubStorage> {
    connect: Option<Connect<S>>,
    max: usize,
    idle: Mutex<Idle<S>>,
    returned: Condvar,
    sites: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl<S: HubStorage> std::fmt::Debug for HubPool<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubPool")
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every storage step is its own transaction: a panic elsewhere leaves the data consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: HubStorage + Repository> HubPool<S> {
    /// One connection, never replaced (tests, and storages that cannot reconnect).
    pub fn single(storage: S) -> Self {
        HubPool {
            connect: None,
            max: 1,
            idle: Mutex::new(Idle {
                hubs: vec![(Hub::new(storage), 0)],
                open: 1,
                closed: 0,
            }),
            returned: Condvar::new(),
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Up to `max` connections opened by `connect`; the first is opened now, so a database
    /// that cannot be reached stops the server at start rather than at the first request.
    pub fn new(connect: Connect<S>, max: usize) -> Result<Self, RepoError> {
        let first = connect()?;
        Ok(HubPool {
            connect: Some(connect),
            max: max.max(1),
            idle: Mutex::new(Idle {
                hubs: vec![(Hub::new(first), 0)],
                open: 1,
                closed: 0,
            }),
            returned: Condvar::new(),
            sites: Mutex::new(HashMap::new()),
        })
    }

    /// A connection for this request: an idle one, a new one while fewer than the maximum are
    /// open, else the next one returned.
    pub fn lease(&self) -> Result<Lease<'_, S>, RepoError> {
        let mut idle = lock(&self.idle);
        loop {
            if let Some((mut hub, known_good)) = idle.hubs.pop() {
                if self.connect.is_none() {
                    return Ok(self.leased(hub));
                }
                if hub.storage.is_broken() {
                    // Closed by the database while idle: replace it.
                    idle.open -= 1;
                    idle.closed += 1;
                    self.returned.notify_one();
                    continue;
                }
                if known_good == idle.closed {
                    return Ok(self.leased(hub));
                }
                // Idle since before another connection was found closed: asked (a round trip,
                // outside the pool's lock) before it is leased.
                drop(idle);
                let alive = hub.storage.is_alive();
                idle = lock(&self.idle);
                if alive {
                    return Ok(self.leased(hub));
                }
                // Its place is free: a request waiting for one may open a connection.
                idle.open -= 1;
                self.returned.notify_one();
                continue;
            }
            if let Some(connect) = self.connect.as_ref().filter(|_| idle.open < self.max) {
                idle.open += 1;
                drop(idle);
                return match connect() {
                    Ok(storage) => Ok(Lease {
                        pool: self,
                        hub: Some(Hub::new(storage)),
                    }),
                    Err(e) => {
                        lock(&self.idle).open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// How many connections are leased, open (leased or idle) and allowed now.
    pub fn usage(&self) -> PoolUsage {
        let idle = lock(&self.idle);
        PoolUsage {
            in_use: idle.open.saturating_sub(idle.hubs.len()),
            open: idle.open,
            max: self.max,
        }
    }

    /// The lock that serialises sync exchanges of `site` in this process (an optimisation:
    /// see the module documentation; the database keeps them right across processes).
    pub fn site_lock(&self, site: &str) -> Arc<Mutex<()>> {
        lock(&self.sites)
            .entry(site.to_string())
            .or_default()
            .clone()
    }

    fn leased(&self, hub: Hub<S>) -> Lease<'_, S> {
        Lease {
            pool: self,
            hub: Some(hub),
        }
    }

    fn give_back(&self, mut hub: Hub<S>) {
        // A request that stopped half-way (a panic) leaves no transaction open behind it.
        hub.storage.rollback();
        let mut idle = lock(&self.idle);
        if self.connect.is_some() && hub.storage.is_broken() {
            // Closed by the database: drop it; the next lease opens a fresh one, and asks the
            // idle ones whether they are alive.
            idle.open -= 1;
            idle.closed += 1;
        } else {
            let known_good = idle.closed;
            idle.hubs.push((hub, known_good));
        }
        drop(idle);
        self.returned.notify_one();
    }
}

/// A leased connection; returned to its pool when dropped.
pub struct Lease<'a, S: HubStorage + Repository> {
    pool: &'a HubPool<S>,
    hub: Option<Hub<S>>,
}

impl<S: HubStorage + Repository> std::fmt::Debug for Lease<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").finish_non_exhaustive()
    }
}

impl<S: HubStorage + Repository> std::ops::Deref for Lease<'_, S> {
    type Target = Hub<S>;
    fn deref(&self) -> &Hub<S> {
        self.hub
            .as_ref()
            .expect("a lease holds its hub until dropped")
    }
}

impl<S: HubStorage + Repository> std::ops::DerefMut for Lease<'_, S> {
    fn deref_mut(&mut self) -> &mut Hub<S> {
        self.hub
            .as_mut()
            .expect("a lease holds its hub until dropped")
    }
}

impl<S: HubStorage + Repository> Drop for Lease<'_, S> {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.take() {
            self.pool.give_back(hub);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SqliteStorage;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn temp_db(name: &str) -> std::path::PathBuf {
        let tag = crate::secret::new_token().unwrap();
        let dir = std::env::temp_dir().join(format!("wardcrf-pool-{name}-{}", &tag[..8]));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("repository.db")
    }

    #[test]
    fn leases_reuse_idle_connections_and_open_at_most_max() {
        let path = temp_db("max");
        let opened = Arc::new(AtomicUsize::new(0));
        let (p, o) = (path.clone(), opened.clone());
        let pool = HubPool::new(
            Box::new(move || {
                o.fetch_add(1, Ordering::SeqCst);
                SqliteStorage::open(&p)
            }),
            2,
        )
        .unwrap();
        {
            let _a = pool.lease().unwrap();
            let _b = pool.lease().unwrap();
            assert_eq!(opened.load(Ordering::SeqCst), 2);
        }
        // Both idle again: reused, nothing new opened.
        let _a = pool.lease().unwrap();
        let _b = pool.lease().unwrap();
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        // A third waits until one is returned.
        drop((_a, _b));
        let pool = Arc::new(pool);
        let held = pool.lease().unwrap();
        let held2 = pool.lease().unwrap();
        let waiter = {
            let pool = pool.clone();
            std::thread::spawn(move || pool.lease().map(|_| ()).is_ok())
        };
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!waiter.is_finished(), "the third lease waits");
        drop(held);
        assert!(waiter.join().unwrap());
        drop(held2);
        assert_eq!(opened.load(Ordering::SeqCst), 2);
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    }

    #[test]
    fn a_failed_connect_is_an_error_and_frees_its_place() {
        let path = temp_db("fail");
        let attempts = Arc::new(AtomicUsize::new(0));
        let (p, a) = (path.clone(), attempts.clone());
        let pool = HubPool::new(
            Box::new(move || {
                if a.fetch_add(1, Ordering::SeqCst) == 1 {
                    Err(RepoError::Storage("database unreachable".into()))
                } else {
                    SqliteStorage::open(&p)
                }
            }),
            2,
        )
        .unwrap();
        let first = pool.lease().unwrap();
        assert!(matches!(pool.lease(), Err(RepoError::Storage(_))));
        // The failed attempt did not use up the second place.
        let second = pool.lease().unwrap();
        drop((first, second));
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        let _ = std::fs::remove_dir_all(path.parent().unwrap_or(&path));
    }

    #[test]
    fn usage_counts_leased_and_open_connections() {
        let pool = HubPool::single(SqliteStorage::open_in_memory().unwrap());
        let idle = PoolUsage {
            in_use: 0,
            open: 1,
            max: 1,
        };
        assert_eq!(pool.usage(), idle);
        let lease = pool.lease().unwrap();
        assert_eq!(pool.usage().in_use, 1);
        drop(lease);
        assert_eq!(pool.usage(), idle);
    }

    #[test]
    fn each_site_has_one_lock() {
        let pool = HubPool::single(SqliteStorage::open_in_memory().unwrap());
        let a = pool.site_lock("a");
        assert!(Arc::ptr_eq(&a, &pool.site_lock("a")));
        assert!(!Arc::ptr_eq(&a, &pool.site_lock("b")));
    }
}
