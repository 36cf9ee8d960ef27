//! The essential tasks and whether they are alive: what a `WATCHDOG=1`
//! vouches for (see [`crate::systemd::watchdog`]).
//!
//! Every task the daemon cannot work without (one print worker per queue,
//! the drop-directory scanner, the USB tracker, the D-Bus signal forwarder)
//! is started with [`Supervisor::spawn`] instead of [`tokio::spawn`]. The
//! wrapper it puts around the task's future does two things, without the
//! task's own code taking part:
//!
//! - **Probes.** [`Supervisor::probe`] starts a round and wakes every task;
//!   a task answers simply by being polled, which the wake makes happen
//!   as soon as the task is idle or yields. A task that does not answer
//!   within the deadline is stuck: its thread blocked (a blocking call in
//!   async code, a deadlock) or its code looping without yielding.
//!   Waiting for I/O or a wake-up is not being stuck: such a task is
//!   polled, answers and goes back to waiting.
//! - **Panics.** A panic inside the task is recorded with its message
//!   before it unwinds further, and [`Supervisor::failure`] resolves: the
//!   daemon then exits with a failure status so that systemd restarts it
//!   (`Restart=on-failure`). Release builds abort on any panic anyway
//!   (`panic = "abort"` in Cargo.toml); this covers the unwinding builds
//!   (debug, tests) and says which task it was.
//!
//! A task that returns, or that its owner aborts (a queue removed by a
//! reload, shutdown), simply leaves the set.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often a probe round looks whether every task has answered.
const PROBE_POLL: Duration = Duration::from_millis(10);

/// A cheap, cloneable handle on the set of essential tasks.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<TaskRegistry>,
}

struct TaskRegistry {
    tasks: Mutex<Vec<Arc<TaskSlot>>>,
    /// The current probe round; a task has answered when its [`TaskSlot::answered`]
    /// reached it.
    round: AtomicU64,
    next_id: AtomicU64,
    /// The first panic of a supervised task, as a sentence.
    failure: watch::Sender<Option<String>>,
}

/// One running task.
struct TaskSlot {
    id: u64,
    name: String,
    answered: AtomicU64,
    /// Wakes the task for a probe; the last waker it was polled with.
    waker: Mutex<Option<Waker>>,
}

/// Why a probe round failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} did not answer within {deadline:?}", .tasks.join(", "))]
pub struct NotAnswering {
    /// The tasks that did not answer, by name.
    pub tasks: Vec<String>,
    pub deadline: Duration,
}

impl Default for Supervisor {
    fn default() -> Supervisor {
        Supervisor::new()
    }
}

impl Supervisor {
    pub fn new() -> Supervisor {
        let (failure, _) = watch::channel(None);
        Supervisor {
            inner: Arc::new(TaskRegistry {
                tasks: Mutex::new(Vec::new()),
                round: AtomicU64::new(0),
                next_id: AtomicU64::new(1),
                failure,
            }),
        }
    }

    /// [`tokio::spawn`] for an essential task called `name` (it names the
    /// task in the log when it hangs or panics).
    pub fn spawn<F>(&self, name: impl Into<String>, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let slot = Arc::new(TaskSlot {
            id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
            name: name.into(),
            // A task started during a round counts as having answered it.
            answered: AtomicU64::new(self.inner.round.load(Ordering::SeqCst)),
            waker: Mutex::new(None),
        });
        self.inner.lock_tasks().push(Arc::clone(&slot));
        tokio::spawn(Supervised {
            future: Box::pin(future),
            slot,
            inner: Arc::clone(&self.inner),
        })
    }

    /// The names of the tasks running now.
    pub fn tasks(&self) -> Vec<String> {
        self.inner
            .lock_tasks()
            .iter()
            .map(|slot| slot.name.clone())
            .collect()
    }

    /// One probe round: wakes every task and waits up to `deadline` for
    /// each to be polled. Tasks that end meanwhile count as answered.
    pub async fn probe(&self, deadline: Duration) -> Result<(), NotAnswering> {
        let round = self.inner.round.fetch_add(1, Ordering::SeqCst) + 1;
        for slot in self.inner.lock_tasks().iter() {
            if let Some(waker) = lock(&slot.waker).as_ref() {
                waker.wake_by_ref();
            }
        }
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            let silent = self.silent_since(round);
            if silent.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= give_up {
                return Err(NotAnswering {
                    tasks: silent,
                    deadline,
                });
            }
            tokio::time::sleep(PROBE_POLL).await;
        }
    }

    fn silent_since(&self, round: u64) -> Vec<String> {
        self.inner
            .lock_tasks()
            .iter()
            .filter(|slot| slot.answered.load(Ordering::SeqCst) < round)
            .map(|slot| slot.name.clone())
            .collect()
    }

    /// Resolves with a sentence once a supervised task has panicked.
    pub async fn failure(&self) -> String {
        let mut failures = self.inner.failure.subscribe();
        match failures.wait_for(Option::is_some).await {
            Ok(failure) => failure.clone().unwrap_or_default(),
            // The sender lives as long as `self`: never reached.
            Err(_) => std::future::pending().await,
        }
    }
}

impl TaskRegistry {
    fn lock_tasks(&self) -> MutexGuard<'_, Vec<Arc<TaskSlot>>> {
        lock(&self.tasks)
    }

    fn record_panic(&self, task: &str, message: &str) {
        // Logged by whoever waits for `failure` (the main loop), once.
        let sentence = format!("essential task {task:?} panicked: {message:?}");
        self.failure.send_if_modified(|failure| {
            if failure.is_some() {
                return false;
            }
            *failure = Some(sentence);
            true
        });
    }
}

/// The future [`Supervisor::spawn`] runs: answers probes whenever it is
/// polled, records a panic, and leaves the set when done or dropped.
struct Supervised<F: Future> {
    future: Pin<Box<F>>,
    slot: Arc<TaskSlot>,
    inner: Arc<TaskRegistry>,
}

impl<F: Future> Future for Supervised<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        {
            let mut waker = lock(&this.slot.waker);
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        // Being polled at all is the answer; a task stuck inside its own
        // poll below never gets back here.
        let round = this.inner.round.load(Ordering::SeqCst);
        this.slot.answered.fetch_max(round, Ordering::SeqCst);
        let future = this.future.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => {
                this.inner
                    .record_panic(&this.slot.name, &panic_message(payload.as_ref()));
                // Unwind on: tokio hands the panic to the JoinHandle.
                std::panic::resume_unwind(payload)
            }
        }
    }
}

impl<F: Future> Drop for Supervised<F> {
    fn drop(&mut self) {
        let id = self.slot.id;
        self.inner.lock_tasks().retain(|slot| slot.id != id);
    }
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Locks a mutex of this module. Nothing panics while holding one (the
/// sections are a few assignments); should one be poisoned all the same,
/// the supervisor cannot vouch for anything and the process ends (a
/// recovered lock would hide the very failure this module reports).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(_) => abort_on_poisoned_lock("the task supervisor"),
    }
}

/// Ends the process after a panic left `what`'s lock poisoned: the state
/// it guards may be half-changed, and carrying on could write that to the
/// spool. The spool is crash-safe, so aborting loses nothing; systemd
/// restarts the daemon (`Restart=on-failure`).
pub fn abort_on_poisoned_lock(what: &str) -> ! {
    tracing::error!(
        "the lock of {what} is poisoned (a task panicked while holding it); aborting so that \
         the service manager restarts printspoold"
    );
    std::process::abort()
}

/// Logs every panic through `tracing` (so the journal gets it at error
/// priority, with the thread and the place), then lets the default hook
/// print it too (the backtrace, when `RUST_BACKTRACE` asks for one).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(
            thread = thread.name().unwrap_or("unnamed"),
            at = %place,
            "panic: {:?}",
            panic_message(info.payload())
        );
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEADLINE: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn idle_and_busy_tasks_answer() {
        let supervisor = Supervisor::new();
        let wake = Arc::new(tokio::sync::Notify::new());
        let waiting = Arc::clone(&wake);
        let idle = supervisor.spawn("idle", async move { waiting.notified().await });
        let busy = supervisor.spawn("busy", async {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(supervisor.tasks().len(), 2);
        for _ in 0..3 {
            supervisor.probe(DEADLINE).await.unwrap();
        }
        wake.notify_one();
        idle.await.unwrap();
        busy.abort();
        let _ = busy.await;
        assert!(supervisor.tasks().is_empty(), "{:?}", supervisor.tasks());
        // With nothing left, a round succeeds at once.
        supervisor.probe(Duration::ZERO).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_task_blocking_its_thread_does_not_answer() {
        let supervisor = Supervisor::new();
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        supervisor.spawn("print worker stuck", async move {
            let _ = started_tx.send(());
            // A blocking call in async code, as a bug would make it.
            let _ = blocked.recv();
        });
        supervisor.spawn("print worker fine", std::future::pending::<()>());
        started.await.unwrap();
        let error = supervisor
            .probe(Duration::from_millis(300))
            .await
            .unwrap_err();
        assert_eq!(error.tasks, ["print worker stuck"]);
        assert!(error.to_string().contains("print worker stuck"), "{error}");
        release.send(()).unwrap();
        // Unblocked, it finishes and leaves the set; the round succeeds.
        assert!(crate::test_support::wait_until(5, || supervisor
            .tasks()
            .len()
            == 1));
        supervisor.probe(DEADLINE).await.unwrap();
    }

    #[tokio::test]
    async fn a_panic_is_reported_with_the_task_and_its_message() {
        let supervisor = Supervisor::new();
        let handle = supervisor.spawn("print worker office", async {
            tokio::task::yield_now().await;
            panic!("printer on fire");
        });
        let failure = supervisor.failure().await;
        assert!(failure.contains("print worker office"), "{failure}");
        assert!(failure.contains("printer on fire"), "{failure}");
        assert!(handle.await.unwrap_err().is_panic());
        assert!(supervisor.tasks().is_empty());
    }
}
