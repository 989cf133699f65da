//! CPU-bound work spread over the cores: the repository merges a push's cases with it
//! ([`parallel_map`]), and the device applies an answer's cases, writing each while the next
//! are merged ([`parallel_in_order`]).

/// `f` over `items` on up to 4 threads (the available cores), results in order.
///
/// Each thread takes the next item not yet taken, so a thread that the system preempts (for
/// a projection worker, the device's UI) holds back only the item in its hands, not a fixed
/// share of the batch.
// The repository's (feature `repository`); the device writes while it merges, with
// `parallel_in_order`.
#[cfg_attr(not(feature = "repository"), allow(dead_code))]
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Read once: the standard library reads the cgroup files on every call.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = cores.min(4).min(items.len().div_ceil(8).max(1));
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                return done;
            };
            done.push((i, f(item)));
        }
    };
    let work = &work;
    let mut results: Vec<Option<R>> = std::iter::repeat_with(|| None).take(items.len()).collect();
    std::thread::scope(|scope| {
        // The calling thread works too.
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        for (i, r) in helpers
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .chain(mine)
        {
            results[i] = Some(r);
        }
    });
    // Every index below the length was taken by exactly one thread.
    results.into_iter().flatten().collect()
}

/// `f` over `items` on the available cores (up to 4 threads), each result handed to `sink` on
/// the calling thread in the order of the items, as soon as it and every one before it are
/// done: the calling thread writes while the others compute. The first error of `sink` stops
/// it (items not yet started are left); a panic in `f` reaches the caller.
pub fn parallel_in_order<T: Sync, R: Send, E>(
    items: &[T],
    f: impl Fn(&T) -> R + Sync,
    mut sink: impl FnMut(usize, R) -> Result<(), E>,
) -> Result<(), E> {
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, PoisonError};
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let threads = cores.min(4).min(items.len().div_ceil(8));
    if threads <= 1 {
        for (i, item) in items.iter().enumerate() {
            sink(i, f(item))?;
        }
        return Ok(());
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<std::thread::Result<R>>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(items.len()).collect());
    let ready = Condvar::new();
    let (f, next, stop, slots, ready) = (&f, &next, &stop, &slots, &ready);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else {
                        return;
                    };
                    // A panic is handed over like a result: the caller waits for this slot.
                    let r = catch_unwind(AssertUnwindSafe(|| f(item)));
                    slots.lock().unwrap_or_else(PoisonError::into_inner)[i] = Some(r);
                    ready.notify_all();
                }
            });
        }
        let mut outcome = Ok(());
        for i in 0..items.len() {
            let r = {
                let mut slots = slots.lock().unwrap_or_else(PoisonError::into_inner);
                loop {
                    if let Some(r) = slots[i].take() {
                        break r;
                    }
                    slots = ready.wait(slots).unwrap_or_else(PoisonError::into_inner);
                }
            };
            let r = r.unwrap_or_else(|panic| {
                stop.store(true, Ordering::Relaxed);
                resume_unwind(panic)
            });
            if let Err(e) = sink(i, r) {
                stop.store(true, Ordering::Relaxed);
                outcome = Err(e);
                break;
            }
        }
        outcome
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_order_of_the_items_whatever_thread_made_them() {
        for n in [0, 1, 7, 8, 9, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let out = parallel_map(&items, |&i| {
                // Uneven work, so threads finish items out of order.
                if i % 3 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
                i * 2
            });
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_panic_in_one_item_reaches_the_caller() {
        let items: Vec<usize> = (0..64).collect();
        let caught = std::panic::catch_unwind(|| {
            parallel_map(&items, |&i| {
                assert!(i != 40, "item 40");
                i
            })
        });
        assert!(caught.is_err());
    }

    #[test]
    fn in_order_hands_every_result_over_in_order_and_stops_at_the_first_error() {
        for n in [0, 1, 8, 9, 100, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let mut got = Vec::new();
            parallel_in_order(
                &items,
                |&i| {
                    if i % 3 == 0 {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                    i * 2
                },
                |i, r| {
                    assert_eq!(r, i * 2);
                    got.push(i);
                    Ok::<(), ()>(())
                },
            )
            .unwrap();
            assert_eq!(got, items);
        }
        let items: Vec<usize> = (0..500).collect();
        let mut seen = 0;
        let out = parallel_in_order(
            &items,
            |&i| i,
            |i, _| {
                seen += 1;
                if i == 40 { Err(i) } else { Ok(()) }
            },
        );
        assert_eq!(out, Err(40));
        assert_eq!(seen, 41, "the sink was called after its error");
    }

    #[test]
    fn in_order_a_panic_in_one_item_reaches_the_caller() {
        let items: Vec<usize> = (0..64).collect();
        let caught = std::panic::catch_unwind(|| {
            parallel_in_order(
                &items,
                |&i| {
                    assert!(i != 40, "item 40");
                    i
                },
                |_, _| Ok::<(), ()>(()),
            )
        });
        assert!(caught.is_err());
    }
}
