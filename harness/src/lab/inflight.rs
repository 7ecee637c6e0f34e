//! Work on blocking threads that outlives the future that started it: a lab's teardown, a namespace being
//! made. Dropping an interrupted run drops those futures, but not the threads; what is said afterwards ("the
//! lab was torn down", what is left) and what teardown removes must wait for them, or it would speak too soon
//! and miss a namespace made after the ledger was walked.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How many pieces of such work are under way.
pub struct InFlight {
    count: Mutex<usize>,
    idle: Condvar,
}

/// Teardowns under way (`LiveLab::teardown_blocking`); the command line waits for them after an interrupt.
pub static TEARDOWNS: InFlight = InFlight::new();
/// Namespaces being made (`KernelSide::create_namespaces`); a lab's teardown waits for them before walking its
/// ledger.
pub static CREATIONS: InFlight = InFlight::new();

impl InFlight {
    const fn new() -> InFlight {
        InFlight { count: Mutex::new(0), idle: Condvar::new() }
    }

    /// One more under way, until the guard drops (move it into the blocking closure).
    pub fn enter(&'static self) -> Guard {
        *self.count.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Guard(self)
    }

    /// Waits until none is under way, for at most `limit`; whether none is.
    pub fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut n = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *n > 0 {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else { return false };
            n = self.idle.wait_timeout(n, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }
}

/// Marks one piece of work under way.
pub struct Guard(&'static InFlight);

impl Drop for Guard {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap_or_else(|e| e.into_inner());
        *n -= 1;
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_work_on_other_threads() {
        static WORK: InFlight = InFlight::new();
        let g = WORK.enter();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(g);
        });
        assert!(!WORK.wait_idle(Duration::from_millis(1)), "still under way");
        assert!(WORK.wait_idle(Duration::from_secs(5)));
        t.join().unwrap();
    }
}
