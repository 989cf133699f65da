//! CPU-bound work spread over the cores: the repository merges a push's cases and the device
//! applies an answer's cases with it ([`parallel_map`]).

/// `f` over `items` on up to 4 threads (the available cores), results in order.
///
/// Each thread takes the next item not yet taken, so a thread that the system preempts (for
/// a projection worker, the device's UI) holds back only the item in its hands, not a fixed
/// share of the batch.
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
}
