//! Group commit: one `fsync(jobs/)` makes every rename before it durable,
//! so concurrent jobs share it instead of queueing for one each.
//!
//! A dedicated thread owns the directory handle. A job that has renamed
//! its files into `jobs/` puts a one-shot sender on the waiting list and
//! awaits it. The thread takes the *whole* list, syncs once, and answers
//! everyone on it. Jobs that arrive while a sync runs wait for the next
//! one, which starts as soon as the current one ends — so under load each
//! sync covers everyone who arrived during the previous one, and with a
//! single client nobody waits for a timer.
//!
//! Why a waiter is covered: it renames *before* it joins the list, and the
//! thread takes the list *before* it calls fsync, so the fsync that
//! answers a waiter began after that waiter's renames.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::oneshot;

use super::SpoolError;
use super::error::IoContext;

/// What the sync thread reports; `io::Error` is not `Clone`, so the batch
/// gets the parts needed to rebuild it (the errno for [`SpoolError::is_no_space`]).
#[derive(Debug, Clone, Copy)]
struct SyncFailure {
    errno: Option<i32>,
    kind: io::ErrorKind,
}

impl SyncFailure {
    fn from_error(error: &io::Error) -> SyncFailure {
        SyncFailure {
            errno: error.raw_os_error(),
            kind: error.kind(),
        }
    }

    fn into_error(self) -> io::Error {
        match self.errno {
            Some(errno) => io::Error::from_raw_os_error(errno),
            None => io::Error::from(self.kind),
        }
    }
}

type Waiter = oneshot::Sender<Result<(), SyncFailure>>;

#[derive(Default)]
struct SyncWaitList {
    waiting: Vec<Waiter>,
    stopping: bool,
}

#[derive(Default)]
struct GroupSyncShared {
    queue: Mutex<SyncWaitList>,
    wake: Condvar,
    syncs: AtomicU64,
}

impl GroupSyncShared {
    fn queue(&self) -> MutexGuard<'_, SyncWaitList> {
        // Nothing panics while holding this lock; if something did, the
        // list of senders is still valid.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The group-commit thread for one directory.
pub(crate) struct GroupSync {
    dir: PathBuf,
    shared: Arc<GroupSyncShared>,
    thread: Option<JoinHandle<()>>,
}

impl GroupSync {
    pub fn start(dir: &Path) -> Result<GroupSync, SpoolError> {
        let handle = File::open(dir).context("open directory", dir)?;
        let shared = Arc::new(GroupSyncShared::default());
        let thread_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("spool-sync".into())
            .spawn(move || sync_loop(&handle, &thread_shared))
            .context("start the sync thread for", dir)?;
        Ok(GroupSync {
            dir: dir.to_path_buf(),
            shared,
            thread: Some(thread),
        })
    }

    /// Returns once an fsync of the directory that started after this call
    /// has completed: every rename done before the call is then durable.
    pub async fn sync(&self) -> Result<(), SpoolError> {
        let (done, answer) = oneshot::channel();
        self.shared.queue().waiting.push(done);
        self.shared.wake.notify_one();
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(SpoolError::io("fsync", &self.dir, failure.into_error())),
            Err(_) => Err(SpoolError::SyncStopped),
        }
    }

    /// Whether the sync thread still runs: without it nothing can be made
    /// durable, so the watchdog asks (a panic there ends it).
    pub fn is_running(&self) -> bool {
        self.thread
            .as_ref()
            .is_some_and(|thread| !thread.is_finished())
    }

    /// Directory fsyncs done so far (to show that jobs share them).
    pub fn directory_syncs(&self) -> u64 {
        self.shared.syncs.load(Ordering::Relaxed)
    }
}

impl Drop for GroupSync {
    fn drop(&mut self) {
        self.shared.queue().stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            // Waits for at most the sync in progress; anyone still waiting
            // is answered before the thread ends.
            let _ = thread.join();
        }
    }
}

fn sync_loop(dir: &File, shared: &GroupSyncShared) {
    loop {
        let batch = {
            let mut queue = shared.queue();
            while queue.waiting.is_empty() && !queue.stopping {
                queue = shared
                    .wake
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if queue.waiting.is_empty() {
                return;
            }
            std::mem::take(&mut queue.waiting)
        };
        let outcome = dir.sync_all().map_err(|e| SyncFailure::from_error(&e));
        shared.syncs.fetch_add(1, Ordering::Relaxed);
        for waiter in batch {
            // A waiter whose task was cancelled has gone; nothing to tell.
            let _ = waiter.send(outcome);
        }
    }
}
