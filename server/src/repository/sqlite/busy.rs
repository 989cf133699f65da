//! How a connection of [`SqliteStorage`](super::SqliteStorage) waits for another one's
//! write: SQLite lets one connection write at a time, and a statement that meets another's
//! write transaction waits for it ([`wait_for_writer`]) up to [`BUSY_WAIT`].

use std::time::{Duration, Instant};

/// How long a statement waits for another connection's write transaction before it fails
/// with "database is locked".
pub const BUSY_WAIT: Duration = Duration::from_secs(5);

/// The wait for another connection's write, tried again every 50 µs for the first 2 ms, every
/// 250 µs up to 50 ms, then every millisecond until `limit`. SQLite's own wait
/// (`busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25 ms... between tries: an exchange that meets
/// a write of 3 ms would lose 8, one that meets a few in a row, tens of milliseconds.
pub(super) fn wait_for_writer(limit: Duration) -> impl FnMut(i32) -> bool + Send + 'static {
    let mut since = Instant::now();
    move |tries| {
        if tries == 0 {
            since = Instant::now();
        }
        let waited = since.elapsed();
        if waited >= limit {
            return false;
        }
        let pause = if waited < Duration::from_millis(2) {
            Duration::from_micros(50)
        } else if waited < Duration::from_millis(50) {
            Duration::from_micros(250)
        } else {
            Duration::from_millis(1)
        };
        std::thread::sleep(pause.min(limit - waited));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStorage;
    use super::*;
    use crate::repository::{RepoError, Repository};

    #[test]
    fn a_write_waits_for_another_connections_transaction_and_gives_up_after_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repository.db");
        let mut first = SqliteStorage::open(&path).unwrap();
        let mut second = SqliteStorage::open(&path).unwrap();
        // Held for a moment by another thread: the write waits for it and goes through.
        first.begin().unwrap();
        first.create_site("a", "A", 1).unwrap();
        let (held, release) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            held.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(30));
            first.commit().unwrap();
            first
        });
        release.recv().unwrap();
        second.create_site("b", "B", 1).unwrap();
        let mut first = holder.join().unwrap();
        assert_eq!(second.sites().unwrap().len(), 2);
        // Held beyond the limit: "database is locked", nothing written.
        second
            .conn
            .busy_handler(Some(wait_for_writer(Duration::from_millis(50))))
            .unwrap();
        first.begin().unwrap();
        let started = Instant::now();
        let refused = second.create_site("c", "C", 1);
        assert!(
            matches!(&refused, Err(RepoError::Storage(e)) if e.contains("locked")),
            "{refused:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
        first.rollback();
        assert_eq!(second.sites().unwrap().len(), 2);
    }
}
