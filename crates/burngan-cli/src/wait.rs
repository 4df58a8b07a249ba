//! How the CPU backends' compute threads wait between kernels: the `BURNGAN_WAIT_POLICY`
//! environment variable, and the spinners that keep idle compute threads awake.
//!
//! A training step on flex is a chain of kernels, each split across rayon's pool, with serial
//! work on the calling thread between them. An idle rayon worker soon goes to sleep on a futex,
//! and waking it costs about 70 µs on the 2-core VM of docs/benchmarks.md — more than a
//! `ring8-mlp` kernel's share of work. With the `active` policy (the default, as OpenMP's
//! `OMP_WAIT_POLICY` spin-waits by default), every compute thread except the calling one runs a
//! spinner: a job that looks for rayon work in a loop (`rayon::yield_now`, which runs any job it
//! finds) and gives its core to other processes between looks (`sched_yield`). Once it has found
//! no work for [`SPIN_WINDOW`] it only looks every [`IDLE_POLL`], so a process that waits (I/O,
//! a GPU backend) costs next to no CPU. The calling thread never runs a spinner — it would never
//! return to its own work. `passive` leaves rayon's own sleeping as it is.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The environment variable that chooses the [`WaitPolicy`].
pub const WAIT_POLICY_VAR: &str = "BURNGAN_WAIT_POLICY";

/// How long a spinner keeps looking for work without finding any before it slows to one look
/// every [`IDLE_POLL`].
pub const SPIN_WINDOW: Duration = Duration::from_millis(50);

/// The time between two looks for work once a spinner has been idle for [`SPIN_WINDOW`].
pub const IDLE_POLL: Duration = Duration::from_millis(1);

/// How the compute threads other than the calling one wait for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitPolicy {
    /// Spinners on every other compute thread (the default).
    Active,
    /// rayon's own sleeping: an idle thread sleeps and is woken for each new job.
    Passive,
}

impl WaitPolicy {
    /// The policy `BURNGAN_WAIT_POLICY` = `value` asks for: unset or empty means
    /// [`WaitPolicy::Active`]; `active` and `passive` in any case. Any other value is an error
    /// whose message names the value and the accepted ones.
    pub fn from_var(value: Option<&std::ffi::OsStr>) -> Result<Self, String> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(Self::Active);
        };
        match value.to_string_lossy().to_ascii_lowercase().as_str() {
            "active" => Ok(Self::Active),
            "passive" => Ok(Self::Passive),
            _ => Err(format!(
                "{WAIT_POLICY_VAR}={} is not a wait policy; use \"active\" (compute threads \
                 spin between kernels, the default) or \"passive\" (they sleep)",
                value.to_string_lossy()
            )),
        }
    }

    /// The policy's name, as `BURNGAN_WAIT_POLICY` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Passive => "passive",
        }
    }
}

/// The spinners running on a rayon pool's threads; [`Spinners::stop`] ends them and waits,
/// dropping the handle tells them to end without waiting.
#[derive(Debug)]
pub struct Spinners {
    stop: Arc<AtomicBool>,
    running: Arc<AtomicUsize>,
    jobs_run: Arc<AtomicU64>,
}

impl Spinners {
    /// Starts one spinner on every thread of the current rayon pool (the global one when called
    /// outside any pool) except the calling thread when it is one of them, and returns once
    /// they have all started. `window` is how long a spinner keeps looking without finding
    /// work before it slows to one look every [`IDLE_POLL`] ([`SPIN_WINDOW`] in the binary).
    pub fn start_global(window: Duration) -> Self {
        let caller_in_pool = rayon::current_thread_index().is_some();
        Self::start_with(rayon::current_num_threads(), caller_in_pool, window, |op| {
            rayon::spawn_broadcast(op)
        })
    }

    /// [`Spinners::start_global`] on `pool`: a spinner on each of its threads but the calling
    /// one.
    pub fn start_on(pool: &rayon::ThreadPool, window: Duration) -> Self {
        let caller_in_pool = pool.current_thread_index().is_some();
        Self::start_with(pool.current_num_threads(), caller_in_pool, window, |op| {
            pool.spawn_broadcast(op)
        })
    }

    /// Broadcasts the spinner job with `broadcast` to a pool of `threads` threads and waits
    /// until every thread but the caller (when `caller_in_pool`) runs it. The caller's copy
    /// returns at once: it runs only when the caller next looks for rayon work.
    fn start_with<B>(threads: usize, caller_in_pool: bool, window: Duration, broadcast: B) -> Self
    where
        B: FnOnce(Box<dyn Fn(rayon::BroadcastContext<'_>) + Send + Sync>),
    {
        let spinners = Self {
            stop: Arc::new(AtomicBool::new(false)),
            running: Arc::new(AtomicUsize::new(0)),
            jobs_run: Arc::new(AtomicU64::new(0)),
        };
        let caller = caller_in_pool.then(|| std::thread::current().id());
        let (stop, running, jobs_run) = (
            spinners.stop.clone(),
            spinners.running.clone(),
            spinners.jobs_run.clone(),
        );
        broadcast(Box::new(move |_| {
            if Some(std::thread::current().id()) == caller {
                return;
            }
            running.fetch_add(1, Ordering::AcqRel);
            spin(&stop, window, &jobs_run);
            running.fetch_sub(1, Ordering::AcqRel);
        }));
        let expected = threads - usize::from(caller_in_pool);
        // Nothing stops them before `start_with` returns, so `running` only rises until then.
        while spinners.running() < expected {
            std::thread::yield_now();
        }
        spinners
    }

    /// How many spinners are running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// How many rayon jobs the spinners have run so far (halves of `join`s they took over). A
    /// job is counted once it has returned to its spinner's loop, which is after whoever waits
    /// for it has been released: a caller can see a job's result a moment before its count.
    pub fn jobs_run(&self) -> u64 {
        self.jobs_run.load(Ordering::Acquire)
    }

    /// Tells the spinners to end and waits until they have: their threads go back to rayon's
    /// own sleeping.
    pub fn stop(self) {
        self.stop.store(true, Ordering::Release);
        while self.running() > 0 {
            std::thread::yield_now();
        }
    }
}

impl Drop for Spinners {
    /// Tells the spinners to end (they do at their next look for work) without waiting.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

/// A spinner's loop: runs the rayon jobs it finds until `stop` is set; between looks it yields
/// its core, and after `window` without work it sleeps [`IDLE_POLL`] between looks.
fn spin(stop: &AtomicBool, window: Duration, jobs_run: &AtomicU64) {
    let mut last_job = Instant::now();
    while !stop.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => {
                jobs_run.fetch_add(1, Ordering::Relaxed);
                last_job = Instant::now();
            }
            Some(rayon::Yield::Idle) if last_job.elapsed() < window => std::thread::yield_now(),
            Some(rayon::Yield::Idle) => std::thread::sleep(IDLE_POLL),
            None => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn the_policy_comes_from_the_variable_and_a_bad_value_names_the_fix() {
        assert_eq!(WaitPolicy::from_var(None), Ok(WaitPolicy::Active));
        assert_eq!(
            WaitPolicy::from_var(Some(OsStr::new(""))),
            Ok(WaitPolicy::Active)
        );
        assert_eq!(
            WaitPolicy::from_var(Some(OsStr::new("PASSIVE"))),
            Ok(WaitPolicy::Passive)
        );
        assert_eq!(
            WaitPolicy::from_var(Some(OsStr::new("active"))),
            Ok(WaitPolicy::Active)
        );
        let error = WaitPolicy::from_var(Some(OsStr::new("spin"))).unwrap_err();
        assert!(error.contains("BURNGAN_WAIT_POLICY=spin"), "{error}");
        assert!(error.contains("\"passive\""), "{error}");
    }

    /// Sum of 0..n by recursive `rayon::join`s, so that the halves can move between threads.
    fn parallel_sum(range: std::ops::Range<u64>) -> u64 {
        if range.end - range.start <= 1_000 {
            return range.sum();
        }
        let middle = range.start + (range.end - range.start) / 2;
        let (a, b) = rayon::join(
            || parallel_sum(range.start..middle),
            || parallel_sum(middle..range.end),
        );
        a + b
    }

    /// Waits up to 10 s for the spinners to count at least one job: a job is counted when it
    /// returns to its spinner's loop, just after the thread waiting for it has been released.
    fn counted_a_job(spinners: &Spinners) -> bool {
        let start = Instant::now();
        while spinners.jobs_run() == 0 && start.elapsed() < Duration::from_secs(10) {
            std::thread::yield_now();
        }
        spinners.jobs_run() >= 1
    }

    /// Runs `rayon::join` on the calling thread, whose first half waits (up to 10 s) until the
    /// second half has run: true when it did, on a thread other than the caller's.
    fn other_half_runs_elsewhere() -> bool {
        let done = AtomicBool::new(false);
        let caller = std::thread::current().id();
        let (waited, ran_on) = rayon::join(
            || {
                let start = Instant::now();
                while !done.load(Ordering::Acquire) && start.elapsed() < Duration::from_secs(10) {
                    std::hint::spin_loop();
                }
                done.load(Ordering::Acquire)
            },
            || {
                done.store(true, Ordering::Release);
                std::thread::current().id()
            },
        );
        waited && ran_on != caller
    }

    /// A 3-thread pool that the test's thread joins (as the binary's main thread joins the
    /// global pool): two spinners start, none on the joined thread; a `join` whose first half
    /// waits for its second has that half run by a spinner (every other thread runs one, and
    /// counts it); the joined thread's sums are exact (n(n − 1)/2); after `stop` no spinner
    /// runs and the pool still computes.
    #[test]
    fn spinners_run_on_the_other_threads_take_over_work_and_stop() {
        std::thread::spawn(|| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .use_current_thread()
                .build()
                .unwrap();
            let spinners = Spinners::start_on(&pool, SPIN_WINDOW);
            assert_eq!(spinners.running(), 2);
            assert!(pool.install(other_half_runs_elsewhere));
            assert!(counted_a_job(&spinners), "the spinners ran no job");
            for n in [10_000u64, 1_000_000, 3_000_001] {
                let sum = pool.install(|| parallel_sum(0..n));
                assert_eq!(sum, n * (n - 1) / 2);
            }
            spinners.stop();
            assert_eq!(pool.install(|| parallel_sum(0..200_000)), 199_999 * 100_000);
        })
        .join()
        .unwrap();
    }

    /// Called from outside the pool, a spinner starts on every pool thread; a job injected
    /// from outside (`install`) can then only run inside a spinner's loop, and it does even
    /// past the spinners' window, at their slower pace.
    #[test]
    fn spinners_serve_a_caller_outside_the_pool_even_after_their_window() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let spinners = Spinners::start_on(&pool, Duration::ZERO);
        assert_eq!(spinners.running(), 2);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(pool.install(|| parallel_sum(0..100_000)), 99_999 * 50_000);
        assert!(counted_a_job(&spinners), "the spinners ran no job");
        spinners.stop();
        assert_eq!(pool.install(|| parallel_sum(0..100_000)), 99_999 * 50_000);
        // A dropped handle ends its spinners too.
        let spinners = Spinners::start_on(&pool, SPIN_WINDOW);
        let running = spinners.running.clone();
        assert_eq!(running.load(Ordering::Acquire), 2);
        drop(spinners);
        while running.load(Ordering::Acquire) > 0 {
            std::thread::yield_now();
        }
        assert_eq!(pool.install(|| parallel_sum(0..100_000)), 99_999 * 50_000);
    }
}
