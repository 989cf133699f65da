//! Several writers of one case on one database, as several server processes are: two
//! connections interleave the read-merge-write of one case (a device's push on one, the
//! console's resolution on the other) and neither merge is lost. Shared by both backends: run
//! on `crate::backend()` of the including test target.
#![allow(clippy::unwrap_used)]

use crate::common::*;
use automerge::{AutoCommit, ROOT, ReadDoc, transaction::Transactable};
use wardcrf_core::repository::{HubStorage, Put};
use wardcrf_server::Repository;

/// Two connections to one fresh database of the target's backend, and what keeps it alive.
fn two_connections<R>(
    name: &str,
    body: impl FnOnce(&mut dyn FnMut() -> Box<dyn Writer>) -> R,
) -> R {
    match crate::backend() {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(unique(name));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("repository.db");
            let out = body(&mut || {
                Box::new(wardcrf_server::SqliteStorage::open(&path).unwrap()) as Box<dyn Writer>
            });
            let _ = std::fs::remove_dir_all(&dir);
            out
        }
        Backend::Postgres(url) => {
            let schema = PgSchema::new(&url, name);
            body(&mut || Box::new(schema.storage()) as Box<dyn Writer>)
        }
    }
}

/// What the test does on a connection, whatever its backend.
trait Writer: Send {
    fn read(&mut self, case_id: &str) -> (Vec<u8>, u64);
    fn resolve(&mut self, case_id: &str, doc: &[u8], read: u64) -> Put;
    fn push(&mut self, case_id: &str, doc: &[u8], read: Option<u64>) -> Put;
    fn begin(&mut self);
    fn commit(&mut self);
}

impl<S: HubStorage + Repository + Send> Writer for S
where
    S::Error: std::fmt::Debug,
{
    fn read(&mut self, case_id: &str) -> (Vec<u8>, u64) {
        let c = self.case(case_id).unwrap().expect("the case is stored");
        (c.doc, c.seq)
    }
    fn resolve(&mut self, case_id: &str, doc: &[u8], read: u64) -> Put {
        self.put_case(case_id, "A", "f", doc, Some(read)).unwrap()
    }
    fn push(&mut self, case_id: &str, doc: &[u8], read: Option<u64>) -> Put {
        self.put_pushed(case_id, "A", "f", doc, "dev-1", read)
            .unwrap()
    }
    fn begin(&mut self) {
        Repository::begin(self).unwrap();
    }
    fn commit(&mut self) {
        Repository::commit(self).unwrap();
    }
}

/// `stored` with one more change setting `key`, by a writer of its own.
fn merged(stored: &[u8], key: &str) -> Vec<u8> {
    let mut doc = AutoCommit::load(stored).unwrap();
    doc.set_actor(automerge::ActorId::random());
    doc.put(ROOT, key, true).unwrap();
    doc.save()
}

fn has(doc: &[u8], key: &str) -> bool {
    AutoCommit::load(doc)
        .unwrap()
        .get(ROOT, key)
        .unwrap()
        .is_some()
}

/// Reads, merges `key` in and writes with `write`, again from the read while another writer
/// changed the case meanwhile; returns the attempts it took.
fn read_merge_write(
    w: &mut dyn Writer,
    key: &str,
    write: fn(&mut dyn Writer, &[u8], u64) -> Put,
) -> u32 {
    for attempt in 1..=5 {
        let (doc, seq) = w.read("c1");
        match write(w, &merged(&doc, key), seq) {
            Put::Stored(_) => return attempt,
            Put::Changed => continue,
            Put::OtherSite => panic!("the case is of this site"),
        }
    }
    panic!("never stored")
}

fn resolve(w: &mut dyn Writer, doc: &[u8], seq: u64) -> Put {
    w.resolve("c1", doc, seq)
}

#[test]
fn a_resolution_interleaved_with_a_push_on_another_connection_loses_neither() {
    two_connections("interleave", |connect| {
        let (mut console, mut device) = (connect(), connect());
        let mut first = AutoCommit::new();
        first.put(ROOT, "created", true).unwrap();
        assert_eq!(device.push("c1", &first.save(), None), Put::Stored(1));
        // Both read version 1; the device's merge is stored first, then the console's
        // resolution, merged on what it read, comes to be written.
        let (read, seq) = console.read("c1");
        let resolution = merged(&read, "resolved");
        let (pushed, pushed_seq) = device.read("c1");
        assert_eq!(pushed_seq, seq);
        let Put::Stored(after_push) = device.push("c1", &merged(&pushed, "pushed"), Some(seq))
        else {
            panic!("the push is stored over the version it read")
        };
        // Written blindly, the resolution would drop the pushed change: it is refused.
        assert_eq!(console.resolve("c1", &resolution, seq), Put::Changed);
        let (now, now_seq) = console.read("c1");
        assert_eq!(now_seq, after_push, "nothing of the refused write was kept");
        assert!(has(&now, "pushed"));
        // Made again on the new version, it is stored, and keeps both.
        assert_eq!(read_merge_write(console.as_mut(), "resolved", resolve), 1);
        let (last, _) = device.read("c1");
        for key in ["created", "pushed", "resolved"] {
            assert!(has(&last, key), "{key} is kept");
        }
    });
}

#[test]
fn a_resolution_waiting_for_an_open_push_sees_it_committed_and_loses_nothing() {
    two_connections("waiting", |connect| {
        let (mut console, mut device) = (connect(), connect());
        let mut first = AutoCommit::new();
        first.put(ROOT, "created", true).unwrap();
        assert_eq!(device.push("c1", &first.save(), None), Put::Stored(1));
        let (read, seq) = console.read("c1");
        let resolution = merged(&read, "resolved");
        // The device's write transaction is open (uncommitted) when the console writes.
        device.begin();
        let Put::Stored(_) = device.push("c1", &merged(&read, "pushed"), Some(seq)) else {
            panic!("stored")
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = std::thread::spawn(move || {
            tx.send(()).unwrap();
            let put = console.resolve("c1", &resolution, seq);
            (put, console)
        });
        rx.recv().unwrap();
        // Whether or not the console's write already waits for the device's transaction, the
        // outcome must be the same: the commit makes its compare-and-set fail.
        device.commit();
        let (put, mut console) = waiting.join().unwrap();
        assert_eq!(put, Put::Changed);
        assert_eq!(read_merge_write(console.as_mut(), "resolved", resolve), 1);
        let (last, _) = device.read("c1");
        for key in ["created", "pushed", "resolved"] {
            assert!(has(&last, key), "{key} is kept");
        }
    });
}
