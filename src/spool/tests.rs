//! Spool tests on the real file system (a directory under the system temp
//! dir), including a crash test that `kill -9`s a child process mid-commit.
//! Layout 2: jobs live in the journal, large documents in `docs/`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::layout::sha256_hex;
use super::*;
use crate::test_support::TempDir;

const LIMIT: u64 = 1 << 20;

async fn staged(spool: &Spool, content: &[u8]) -> StagedDocument {
    let mut staging = spool.stage().await.unwrap();
    // Several writes, so the incremental hash is exercised.
    for chunk in content.chunks(1000) {
        staging.write(chunk).await.unwrap();
    }
    staging.finish().await.unwrap()
}

fn meta_for(id: u32, version: u32) -> Vec<u8> {
    format!("{{\"id\":{id},\"version\":{version}}}").into_bytes()
}

fn files_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Files in `tmp/` other than the journal's next segment being prepared
/// there (a helper thread's, at any moment).
fn staging_files(spool_dir: &Path) -> BTreeSet<String> {
    files_in(&spool_dir.join("tmp"))
        .into_iter()
        .filter(|name| !name.starts_with("segment-"))
        .collect()
}

/// What [`Spool::open`] recovered, with the live jobs read out.
struct Opened {
    jobs: Vec<RecoveredJob>,
    discarded: usize,
    next_id: u32,
}

fn collect(recovery: Recovery) -> Opened {
    Opened {
        discarded: recovery.discarded,
        next_id: recovery.next_id,
        jobs: recovery.jobs.map(Result::unwrap).collect(),
    }
}

fn document_bytes(spool: &Spool, id: u32) -> Vec<u8> {
    spool.document(id).unwrap().read_all().unwrap()
}

/// A document that is spilled to `docs/` (larger than [`INLINE_MAX`]).
fn large(byte: u8) -> Vec<u8> {
    vec![byte; INLINE_MAX as usize + 1000]
}

/// Opens the spool again. The lock of a dropped [`Spool`] can outlive it for
/// a moment: its sync thread lets go of it on its own schedule, and a test
/// elsewhere in this process may have forked (holding a copy of the
/// descriptor until its exec). So `Locked` is retried briefly.
fn reopen(dir: &Path) -> (Spool, Opened) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match Spool::open(dir, LIMIT, |_| false) {
            Err(SpoolError::Locked { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => {
                let (spool, recovery) = other.unwrap();
                return (spool, collect(recovery));
            }
        }
    }
}

#[test]
fn spool_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Spool>();
    assert_send_sync::<Staging>();
    assert_send_sync::<StagedDocument>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_then_reopen_returns_record_and_document() {
    let dir = TempDir::new("commit");
    let (spool, recovery) = reopen(&dir.path().join("spool"));
    assert!(recovery.jobs.is_empty());
    assert_eq!(recovery.next_id, 1);

    let content = b"%PDF-1.7 hello".repeat(500);
    let doc = staged(&spool, &content).await;
    assert_eq!(doc.len(), content.len() as u64);
    assert_eq!(doc.head(), &content[..512]);
    assert_eq!(doc.sha256(), sha256_hex(&content));
    let with_doc = spool.reserve_id();
    let info = spool
        .commit(with_doc, &meta_for(with_doc, 1), Some(doc))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(info.sha256, sha256_hex(&content));
    let without_doc = spool.reserve_id();
    let none = spool
        .commit(without_doc, &meta_for(without_doc, 1), None)
        .await
        .unwrap();
    assert!(none.is_none());
    assert!(staging_files(&dir.path().join("spool")).is_empty());
    drop(spool);

    let (spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.discarded, 0);
    let ids: Vec<u32> = recovery.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![with_doc, without_doc]);
    assert_eq!(recovery.jobs[0].meta, meta_for(with_doc, 1));
    assert_eq!(recovery.jobs[0].document_len, Some(info.len));
    assert!(recovery.jobs[1].document_len.is_none());
    assert_eq!(document_bytes(&spool, with_doc), content);
    assert!(recovery.next_id > without_doc);
    assert_eq!(spool.reserve_id(), recovery.next_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_keep_increasing_after_removing_the_highest() {
    let dir = TempDir::new("ids");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let ids: Vec<u32> = (0..3).map(|_| spool.reserve_id()).collect();
    assert_eq!(ids, vec![1, 2, 3]);
    for &id in &ids {
        spool.commit(id, &meta_for(id, 1), None).await.unwrap();
    }
    spool.remove(3).await.unwrap();
    assert!(matches!(
        spool.remove(3).await,
        Err(SpoolError::NoSuchJob { id: 3 })
    ));
    drop(spool);

    let (spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.jobs.len(), 2);
    assert_eq!(recovery.next_id, 4);
    assert_eq!(spool.reserve_id(), 4);
    // Purge everything: the next start still must not reuse 1..=4.
    spool.commit(4, &meta_for(4, 1), None).await.unwrap();
    for id in [1, 2, 4] {
        spool.remove(id).await.unwrap();
    }
    drop(spool);
    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert!(recovery.jobs.is_empty());
    assert_eq!(recovery.next_id, 5);
}

#[test]
fn a_second_open_of_the_same_spool_is_locked() {
    let dir = TempDir::new("lock");
    let (first, _) = reopen(&dir.path().join("spool"));
    match Spool::open(&dir.path().join("spool"), LIMIT, |_| false) {
        Err(SpoolError::Locked { path }) => assert_eq!(path, dir.path().join("spool").join("lock")),
        other => panic!("expected Locked, got {other:?}"),
    }
    drop(first);
    // The lock goes with its holder.
    reopen(&dir.path().join("spool"));
}

/// Found by the VM's flush-point replay: a crash after `format`'s temp
/// file was written but before its rename left `tmp/format-0`, and the
/// next open failed ("File exists") writing `format` before it emptied
/// `tmp/`. A spool whose creation was cut anywhere must open.
#[test]
fn a_creation_cut_before_format_was_renamed_opens() {
    let dir = TempDir::new("format-cut");
    let spool_dir = dir.path().join("spool");
    drop(reopen(&spool_dir));
    std::fs::remove_file(spool_dir.join("format")).unwrap();
    std::fs::write(spool_dir.join("tmp").join("format-0"), b"printspoold sp").unwrap();
    drop(reopen(&spool_dir));
    assert_eq!(
        std::fs::read_to_string(spool_dir.join("format")).unwrap(),
        open::FORMAT_2
    );
    assert!(files_in(&spool_dir.join("tmp")).is_empty());
}

#[test]
fn directories_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("mode");
    let _spool = reopen(&dir.path().join("spool"));
    for sub in ["", "journal", "docs", "tmp", "corrupt"] {
        let mode = std::fs::metadata(dir.path().join("spool").join(sub))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{sub}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_empties_tmp_and_quarantines_jobs_whose_document_is_damaged() {
    let dir = TempDir::new("recover");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let mut lens = BTreeMap::new();
    for id in 1..=5 {
        let doc = staged(&spool, &large(id as u8)).await;
        let info = spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
        lens.insert(id, info.unwrap().len);
    }
    spool.commit(6, &meta_for(6, 1), None).await.unwrap();
    drop(spool);

    let docs = dir.path().join("spool").join("docs");
    // 1: document cut short (a torn write, or a truncation).
    std::fs::write(docs.join("1.doc"), b"docu").unwrap();
    // 3: same length, different bytes (damage): kept aside, not deleted.
    let mut damaged = large(3);
    damaged[10] = b'!';
    std::fs::write(docs.join("3.doc"), damaged).unwrap();
    // 4: document missing.
    std::fs::remove_file(docs.join("4.doc")).unwrap();
    // Leftovers in tmp/.
    std::fs::write(dir.path().join("spool").join("tmp/doc-17"), b"partial").unwrap();
    std::fs::write(dir.path().join("spool").join("tmp/segment-18"), b"partial").unwrap();

    let (spool, recovery) = reopen(&dir.path().join("spool"));
    let ids: Vec<u32> = recovery.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, vec![2, 5, 6]);
    assert_eq!(recovery.jobs[0].document_len, lens.get(&2).copied());
    assert!(recovery.jobs[2].document_len.is_none());
    assert_eq!(recovery.discarded, 3);
    assert!(staging_files(&dir.path().join("spool")).is_empty());
    let corrupt = dir.path().join("spool").join("corrupt");
    assert_eq!(
        files_in(&corrupt),
        [
            "1.job",
            "1.job.reason",
            "3.job",
            "3.job.reason",
            "4.job",
            "4.job.reason"
        ]
        .map(String::from)
        .into()
    );
    // What is set aside is the job's meta, for a human.
    assert_eq!(
        std::fs::read(corrupt.join("3.job")).unwrap(),
        meta_for(3, 1)
    );
    let reason = |name: &str| std::fs::read_to_string(corrupt.join(name)).unwrap();
    assert!(
        reason("1.job.reason").contains("is 4 bytes"),
        "{}",
        reason("1.job.reason")
    );
    assert!(reason("3.job.reason").contains("sha256"));
    assert!(reason("4.job.reason").contains("cannot be opened"));
    // Set aside once: the next start does not find them again.
    drop(spool);
    let (spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.discarded, 0);
    assert_eq!(recovery.jobs.len(), 3);
    // Ids of discarded jobs are not handed out again.
    assert_eq!(recovery.next_id, 7);
    assert_eq!(spool.reserve_id(), 7);
}

/// Opens the spool on another thread: a FIFO opened blocking would hang
/// it, and a hung test should fail, not wait forever.
fn reopen_within(dir: &Path, limit: Duration) -> (Spool, Opened) {
    let (send, receive) = std::sync::mpsc::channel();
    let dir = dir.to_path_buf();
    std::thread::spawn(move || {
        let _ = send.send(reopen(&dir));
    });
    receive
        .recv_timeout(limit)
        .expect("opening the spool hung (a FIFO opened blocking?)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_document_vanished_is_quarantined_not_deleted() {
    let dir = TempDir::new("recover-vanished");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let doc = staged(&spool, &large(1)).await;
    spool.commit(1, &meta_for(1, 1), Some(doc)).await.unwrap();
    drop(spool);
    let docs = dir.path().join("spool").join("docs");
    std::fs::remove_file(docs.join("1.doc")).unwrap();

    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert!(recovery.jobs.is_empty());
    let corrupt = dir.path().join("spool").join("corrupt");
    assert_eq!(
        std::fs::read(corrupt.join("1.job")).unwrap(),
        meta_for(1, 1)
    );
    let reason = std::fs::read_to_string(corrupt.join("1.job.reason")).unwrap();
    assert!(reason.contains("1.doc cannot be opened"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_or_symlink_where_a_document_should_be_is_never_opened() {
    use std::os::unix::fs::FileTypeExt;
    let dir = TempDir::new("recover-fifo");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = reopen(&spool_dir);
    for id in [7, 8, 9] {
        let doc = staged(&spool, &large(id as u8)).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
    }
    drop(spool);
    let docs = spool_dir.join("docs");
    std::fs::remove_file(docs.join("7.doc")).unwrap();
    crate::test_support::mkfifo(&docs.join("7.doc"));
    let outside = dir.path().join("outside.txt");
    std::fs::write(&outside, large(8)).unwrap();
    std::fs::remove_file(docs.join("8.doc")).unwrap();
    std::os::unix::fs::symlink(&outside, docs.join("8.doc")).unwrap();
    std::fs::remove_file(docs.join("9.doc")).unwrap();
    std::fs::create_dir(docs.join("9.doc")).unwrap();

    let (_spool, recovery) = reopen_within(&spool_dir, Duration::from_secs(10));
    assert!(recovery.jobs.is_empty());
    assert_eq!(recovery.discarded, 3);
    let corrupt = spool_dir.join("corrupt");
    let reason = |name: &str| std::fs::read_to_string(corrupt.join(name)).unwrap();
    assert!(reason("7.job.reason").contains("not a regular file (a FIFO)"));
    assert!(reason("8.job.reason").contains("not a regular file (a symbolic link)"));
    assert!(reason("9.job.reason").contains("not a regular file (a directory)"));
    // Left where they are, untouched.
    assert!(
        std::fs::symlink_metadata(docs.join("7.doc"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(std::fs::read(&outside).unwrap(), large(8));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_past_the_limit_fails_and_removes_the_temp_file() {
    let dir = TempDir::new("limit");
    let (spool, _) = Spool::open(&dir.path().join("spool"), 10, |_| false).unwrap();
    let mut staging = spool.stage().await.unwrap();
    staging.write(b"12345678").await.unwrap();
    assert_eq!(staging.len(), 8);
    assert!(matches!(
        staging.write(b"abc").await,
        Err(SpoolError::TooLarge { limit: 10 })
    ));
    assert!(staging_files(&dir.path().join("spool")).is_empty());
    assert!(matches!(
        staging.write(b"a").await,
        Err(SpoolError::TooLarge { limit: 10 })
    ));
    assert!(matches!(
        staging.finish().await,
        Err(SpoolError::TooLarge { .. })
    ));

    // Exactly at the limit is fine.
    let mut staging = spool.stage().await.unwrap();
    staging.write(b"1234567890").await.unwrap();
    assert_eq!(staging.finish().await.unwrap().len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_an_uncommitted_document_removes_its_temp_file() {
    let dir = TempDir::new("drop");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let mut staging = spool.stage().await.unwrap();
    staging.write(b"abandoned").await.unwrap();
    drop(staging);
    drop(staged(&spool, b"finished but not committed").await);
    // A large one is spilled to tmp/ and removed as well.
    let mut staging = spool.stage().await.unwrap();
    staging.write(&large(1)).await.unwrap();
    assert_eq!(staging_files(&dir.path().join("spool")).len(), 1);
    drop(staging);
    drop(staged(&spool, &large(2)).await);
    let spool_dir = dir.path().join("spool");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !staging_files(&spool_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?}",
            staging_files(&spool_dir)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_and_attach_replace_the_record() {
    let dir = TempDir::new("update");
    let (spool, _) = reopen(&dir.path().join("spool"));
    spool.commit(1, &meta_for(1, 1), None).await.unwrap();
    spool.update(1, &meta_for(1, 2), true).await.unwrap();
    let doc = staged(&spool, b"attached later").await;
    let info = spool.attach(1, &meta_for(1, 3), doc).await.unwrap();
    spool.update(1, &meta_for(1, 4), false).await.unwrap();

    let again = staged(&spool, b"second").await;
    assert!(matches!(
        spool.attach(1, &meta_for(1, 5), again).await,
        Err(SpoolError::DocumentExists { id: 1 })
    ));
    assert!(matches!(
        spool.update(7, b"{}", true).await,
        Err(SpoolError::NoSuchJob { id: 7 })
    ));
    assert!(matches!(
        spool.commit(1, b"{}", None).await,
        Err(SpoolError::IdInUse { id: 1 })
    ));
    drop(spool);

    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.discarded, 0);
    assert_eq!(recovery.jobs.len(), 1);
    assert_eq!(recovery.jobs[0].meta, meta_for(1, 4));
    assert_eq!(recovery.jobs[0].document_len, Some(info.len));
    assert_eq!(info.sha256, sha256_hex(b"attached later"));
    assert_eq!(document_bytes(&_spool, 1), b"attached later");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_update_called_last_wins_whatever_the_await_order() {
    let dir = TempDir::new("order");
    let (spool, _) = reopen(&dir.path().join("spool"));
    spool.commit(1, &meta_for(1, 1), None).await.unwrap();
    for round in 0..20 {
        let older = spool.update(1, &meta_for(1, 2 * round + 2), round % 2 == 0);
        let newer = spool.update(1, &meta_for(1, 2 * round + 3), true);
        let (newer, older) = tokio::join!(tokio::spawn(newer), async {
            tokio::task::yield_now().await;
            older.await
        });
        newer.unwrap().unwrap();
        older.unwrap();
    }
    drop(spool);
    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.jobs[0].meta, meta_for(1, 41));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_counts_metas_and_documents() {
    let dir = TempDir::new("usage");
    let (spool, _) = reopen(&dir.path().join("spool"));
    assert_eq!(spool.usage_bytes(), 0);
    let doc = staged(&spool, &[7u8; 5000]).await;
    spool.commit(1, &meta_for(1, 1), Some(doc)).await.unwrap();
    spool.commit(2, &meta_for(2, 1), None).await.unwrap();
    spool.update(2, &meta_for(2, 1000), true).await.unwrap();
    let doc = staged(&spool, &large(8)).await;
    spool.attach(2, &meta_for(2, 1001), doc).await.unwrap();
    let two = meta_for(2, 1001).len() as u64 + large(8).len() as u64;
    assert_eq!(
        spool.usage_bytes(),
        meta_for(1, 1).len() as u64 + 5000 + two
    );
    spool.remove(1).await.unwrap();
    assert_eq!(spool.usage_bytes(), two);
    drop(spool);
    let (spool, _) = reopen(&dir.path().join("spool"));
    assert_eq!(spool.usage_bytes(), two);
    // A removed job's document file goes with it.
    spool.remove(2).await.unwrap();
    assert!(files_in(&dir.path().join("spool").join("docs")).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_all_succeed_and_share_syncs() {
    let dir = TempDir::new("concurrent");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let spool = Arc::new(spool);
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let spool = Arc::clone(&spool);
            tokio::spawn(async move {
                let id = spool.reserve_id();
                let content = document_for(id);
                let doc = staged(&spool, &content).await;
                let info = spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
                (id, info.unwrap())
            })
        })
        .collect();
    let mut committed = BTreeMap::new();
    for task in tasks {
        let (id, info) = task.await.unwrap();
        committed.insert(id, info);
    }
    let syncs = spool.sync_count();
    assert!(syncs < 64, "{syncs} syncs for 64 concurrent commits");
    drop(spool);

    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(recovery.discarded, 0);
    let recovered: BTreeMap<u32, u64> = recovery
        .jobs
        .into_iter()
        .map(|j| (j.id, j.document_len.unwrap()))
        .collect();
    let committed: BTreeMap<u32, u64> = committed.into_iter().map(|(id, i)| (id, i.len)).collect();
    assert_eq!(recovered, committed);
}

/// Deterministic content per id, so a checker can tell what it must be.
fn document_for(id: u32) -> Vec<u8> {
    let mut state = u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = match id % 10 {
        0 => 70_000 + (id as usize % 5000), // crosses the staging flush size
        _ => 1 + (id as usize * 7919) % 4096,
    };
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// ENOSPC on a small tmpfs: a failed commit leaves nothing visible, old
/// jobs stay and can still be updated (the journal's reserve), and commits
/// work again once space is freed. Needs root (to mount); skipped, loudly,
/// otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_commits_cleanly() {
    let dir = TempDir::new("enospc");
    let mount_point = dir.path().join("small");
    std::fs::create_dir_all(&mount_point).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "printspoold-test"])
        .arg(&mount_point)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIPPED a_full_disk_fails_commits_cleanly: cannot mount a tmpfs (not root?)");
        return;
    }
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(mount_point.clone());
    let spool_dir = mount_point.join("spool");

    let (spool, _) = Spool::open_with_segment_bytes(&spool_dir, LIMIT, 128 * 1024).unwrap();
    let mut committed = Vec::new();
    let error = loop {
        let id = spool.reserve_id();
        let result = async {
            let mut staging = spool.stage().await?;
            staging.write(&large(b'x')).await?;
            let doc = staging.finish().await?;
            spool.commit(id, &meta_for(id, 1), Some(doc)).await
        }
        .await;
        match result {
            Ok(_) => committed.push(id),
            Err(e) => break e,
        }
        assert!(committed.len() < 100, "the tmpfs never filled up");
    };
    assert!(error.is_no_space(), "{error}");
    assert!(!committed.is_empty());
    // The refused document's temp file is removed (by its drop, on the
    // blocking pool).
    let deadline = Instant::now() + Duration::from_secs(5);
    while !staging_files(&spool_dir).is_empty() {
        assert!(
            Instant::now() < deadline,
            "left: {:?}",
            staging_files(&spool_dir)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // State changes of the jobs already there still work.
    spool
        .update(committed[0], &meta_for(committed[0], 2), true)
        .await
        .unwrap();

    // Enough room for a new segment and its spare at the next start.
    while committed.len() > 1 {
        spool.remove(committed.remove(0)).await.unwrap();
    }
    // Space is back: a commit works again (the journal retries preparing
    // its next segment within a second).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let id = spool.reserve_id();
        let doc = staged(&spool, b"small").await;
        match spool.commit(id, &meta_for(id, 1), Some(doc)).await {
            Ok(_) => {
                committed.push(id);
                break;
            }
            Err(e) if e.is_no_space() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    drop(spool);

    let (_spool, recovery) = Spool::open_with_segment_bytes(&spool_dir, LIMIT, 128 * 1024).unwrap();
    let recovery = collect(recovery);
    assert_eq!(recovery.discarded, 0);
    let ids: Vec<u32> = recovery.jobs.iter().map(|j| j.id).collect();
    assert_eq!(ids, committed);
}

const CRASH_CHILD_ENV: &str = "PRINTSPOOLD_SPOOL_CRASH_CHILD";
const CRASH_TEST_NAME: &str = "spool::tests::kill_9_never_loses_an_acknowledged_job";

/// The child's side: commit jobs as fast as possible from 8 tasks and
/// report each one on stdout the moment the spool acknowledges it:
/// `ACK id`, `ATTACHED id` (Create-Job then attach) and `UPDATED id`
/// (a durable update to version 2).
fn crash_child(dir: &Path) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (spool, _) = Spool::open(dir, LIMIT, |_| false).unwrap();
        let spool = Arc::new(spool);
        // Libtest has printed "test <name> ... " without a newline.
        say("\nREADY");
        let workers: Vec<_> = (0..8)
            .map(|_| {
                let spool = Arc::clone(&spool);
                tokio::spawn(async move {
                    loop {
                        child_one_job(&spool).await;
                    }
                })
            })
            .collect();
        for worker in workers {
            // The workers loop until the parent kills this process.
            let _ = worker.await;
        }
    });
    std::process::exit(1)
}

async fn child_one_job(spool: &Spool) {
    let id = spool.reserve_id();
    let content = document_for(id);
    if id.is_multiple_of(3) {
        spool.commit(id, &meta_for(id, 1), None).await.unwrap();
        say(&format!("ACK {id}"));
        let doc = staged(spool, &content).await;
        spool.attach(id, &meta_for(id, 1), doc).await.unwrap();
        say(&format!("ATTACHED {id}"));
    } else {
        let doc = staged(spool, &content).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
        say(&format!("ACK {id}"));
    }
    if id.is_multiple_of(4) {
        spool.update(id, &meta_for(id, 2), true).await.unwrap();
        say(&format!("UPDATED {id}"));
    }
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// What the parent learned from the children's stdout.
#[derive(Default)]
struct Acknowledged {
    jobs: BTreeSet<u32>,
    attached: BTreeSet<u32>,
    updated: BTreeSet<u32>,
}

impl Acknowledged {
    fn learn(&mut self, line: &str) {
        let mut words = line.split_whitespace();
        let (Some(kind), Some(id)) = (words.next(), words.next().and_then(|w| w.parse().ok()))
        else {
            return;
        };
        let fresh = match kind {
            "ACK" => self.jobs.insert(id),
            "ATTACHED" => self.attached.insert(id),
            "UPDATED" => self.updated.insert(id),
            _ => true,
        };
        assert!(
            fresh,
            "id {id} acknowledged twice ({kind}): an id was reused"
        );
    }
}

/// The test: 20 rounds of start child, let it commit, SIGKILL it at a
/// random moment, reopen and check every acknowledged job, plus a purge of
/// the newest job between rounds to exercise `next-id`.
#[test]
fn kill_9_never_loses_an_acknowledged_job() {
    if let Some(dir) = std::env::var_os(CRASH_CHILD_ENV) {
        crash_child(Path::new(&dir));
    }
    let dir = TempDir::new("crash");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut rng = Instant::now().elapsed().as_nanos() as u64 | 1;
    let mut acked = Acknowledged::default();
    let mut purged = BTreeSet::new();
    let started = Instant::now();
    for round in 0..20 {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        // Every fifth round dies during start-up (recovery), the others
        // 5-100 ms into committing.
        let delay = if round % 5 == 4 {
            rng % 5
        } else {
            5 + rng % 96
        };
        let lines = run_child_and_kill(&dir.path().join("spool"), round % 5 != 4, delay);
        lines.iter().for_each(|line| acked.learn(line));

        let (spool, recovery) = reopen(&dir.path().join("spool"));
        check_recovery(&spool, &recovery, &acked, &purged);
        if let Some(newest) = recovery.jobs.last() {
            runtime.block_on(spool.remove(newest.id)).unwrap();
            purged.insert(newest.id);
        }
    }
    eprintln!(
        "crash test: {} jobs, {} attaches, {} updates acknowledged; {} purged; {:?}",
        acked.jobs.len(),
        acked.attached.len(),
        acked.updated.len(),
        purged.len(),
        started.elapsed()
    );
    assert!(
        acked.jobs.len() > 20,
        "the children acknowledged only {} jobs",
        acked.jobs.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

/// Starts a child, waits (if asked) for it to be ready, sleeps `delay_ms`,
/// SIGKILLs it and returns every line it printed.
fn run_child_and_kill(dir: &Path, wait_ready: bool, delay_ms: u64) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            CRASH_TEST_NAME,
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if line == "READY" {
                let _ = ready_tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if wait_ready {
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("child never became ready");
    }
    std::thread::sleep(Duration::from_millis(delay_ms));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap()
}

fn check_recovery(spool: &Spool, recovery: &Opened, acked: &Acknowledged, purged: &BTreeSet<u32>) {
    let by_id: BTreeMap<u32, &RecoveredJob> = recovery.jobs.iter().map(|j| (j.id, j)).collect();
    for id in acked.jobs.difference(purged) {
        let job = by_id
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged job {id} lost"));
        let must_have_document = !id.is_multiple_of(3) || acked.attached.contains(id);
        assert!(
            job.document_len.is_some() || !must_have_document,
            "job {id} lost its acknowledged document"
        );
        if acked.updated.contains(id) {
            assert_eq!(job.meta, meta_for(*id, 2), "job {id} lost its update");
        }
    }
    for job in &recovery.jobs {
        assert!(
            job.meta == meta_for(job.id, 1) || job.meta == meta_for(job.id, 2),
            "job {} has a foreign record",
            job.id
        );
        assert!(!purged.contains(&job.id), "purged job {} came back", job.id);
        if let Some(len) = job.document_len {
            let expected = document_for(job.id);
            assert_eq!(len, expected.len() as u64, "job {}", job.id);
            let on_disk = document_bytes(spool, job.id);
            assert!(
                on_disk == expected,
                "job {}: document differs on disk",
                job.id
            );
        }
    }
    let highest = acked.jobs.iter().chain(purged).max().copied().unwrap_or(0);
    assert!(
        recovery.next_id > highest,
        "next id {} reuses",
        recovery.next_id
    );
}

/// `cargo test --release spool::tests::bench -- --ignored --nocapture`
/// Jobs/s for 1 KiB commits (stage, write, finish, commit) at several
/// concurrencies, and directory fsyncs per job; then cold-open time.
#[test]
#[ignore = "benchmark; run by hand"]
fn bench_group_commit() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for (concurrency, jobs) in [(1usize, 300u32), (8, 1500), (64, 4000)] {
        let dir = TempDir::new("bench");
        let (spool, _) = reopen(&dir.path().join("spool"));
        let spool = Arc::new(spool);
        let started = Instant::now();
        runtime.block_on(async {
            let workers: Vec<_> = (0..concurrency)
                .map(|_| {
                    let spool = Arc::clone(&spool);
                    tokio::spawn(async move {
                        loop {
                            let id = spool.reserve_id();
                            if id > jobs {
                                break;
                            }
                            let doc = staged(&spool, &[b'j'; 1024]).await;
                            spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
                        }
                    })
                })
                .collect();
            for worker in workers {
                worker.await.unwrap();
            }
        });
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "concurrency {concurrency:>2}: {:>6.0} jobs/s, {:.3} syncs per job",
            f64::from(jobs) / elapsed,
            spool.sync_count() as f64 / f64::from(jobs)
        );
        drop(spool);
        let started = Instant::now();
        let (_spool, recovery) = reopen(&dir.path().join("spool"));
        println!(
            "  cold open of {} jobs: {:.1} ms",
            recovery.jobs.len(),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

/// A released job leaves the live set for history: it can be read back
/// (meta and document) before and after the batch is sealed, it no longer
/// counts in [`Spool::usage_bytes`], the next start does not read it, and
/// once sealed the index gives its capacity back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn released_jobs_leave_the_journal_and_stay_readable() {
    let dir = TempDir::new("release");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let spool = Arc::new(spool);
    let tasks: Vec<_> = (0..400)
        .map(|n| {
            let spool = Arc::clone(&spool);
            tokio::spawn(async move {
                let id = spool.reserve_id();
                let doc = staged(&spool, &vec![n as u8; 100 + n * 300]).await;
                spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
                id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.push(task.await.unwrap());
    }
    ids.sort_unstable();
    let peak = spool.shared.index.lock().jobs.capacity();
    let kept = ids[0];
    let documents: BTreeMap<u32, Vec<u8>> = ids
        .iter()
        .map(|&id| (id, document_bytes(&spool, id)))
        .collect();
    for &id in &ids[1..] {
        spool.release(id);
    }
    assert_eq!(
        spool.usage_bytes(),
        (meta_for(kept, 1).len() + documents[&kept].len()) as u64
    );
    // Released, not sealed yet: read from the journal.
    let id = ids[7];
    assert_eq!(spool.read_meta(id).unwrap(), Some(meta_for(id, 1)));
    let mut seen = Vec::new();
    spool.scan_released(|id, _| seen.push(id)).unwrap();
    assert_eq!(seen, ids[1..]);
    assert_eq!(spool.seal_history().await.unwrap(), ids.len() - 1);
    assert_eq!(spool.shared.index.lock().jobs.len(), 1);
    let capacity = spool.shared.index.lock().jobs.capacity();
    assert!(
        capacity <= peak / 2,
        "capacity {capacity} after a peak of {peak}"
    );
    // Sealed: read from history, documents inline (small) and in docs/.
    for &id in &ids[1..] {
        assert_eq!(spool.read_meta(id).unwrap(), Some(meta_for(id, 1)), "{id}");
        assert_eq!(document_bytes(&spool, id), documents[&id], "{id}");
    }
    assert!(documents.values().any(|d| d.len() as u64 > INLINE_MAX));
    assert_eq!(spool.read_meta(999_999).unwrap(), None);
    let mut seen = Vec::new();
    spool.scan_released(|id, _| seen.push(id)).unwrap();
    assert_eq!(seen, ids[1..]);
    // A released job is never written again; an update says so.
    assert!(matches!(
        spool.update(kept, &meta_for(kept, 2), true).await,
        Ok(())
    ));
    assert!(matches!(
        spool.update(id, &meta_for(id, 2), true).await,
        Err(SpoolError::NoSuchJob { .. })
    ));
    // Cleanup purges history only: a live job is never "purged".
    assert!(!spool.forget_if_purged(kept));
    assert!(!spool.forget_if_purged(id));
    assert!(spool.forget_if_purged(999_999));
    drop(spool);
    let (_spool, recovery) = reopen(&dir.path().join("spool"));
    assert_eq!(
        recovery.jobs.iter().map(|j| j.id).collect::<Vec<_>>(),
        [kept]
    );
    assert!(recovery.next_id > *ids.last().unwrap());
}

/// At [`HISTORY_BATCH`] released jobs the batch is sealed on its own
/// (compaction may seal a smaller one before), and the journal forgets
/// them: released jobs never pile up past a batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_is_sealed_without_waiting_for_shutdown() {
    let dir = TempDir::new("release-batch");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = reopen(&spool_dir);
    let jobs = 2 * HISTORY_BATCH as u32 + 10;
    for id in 1..=jobs {
        spool.commit(id, &meta_for(id, 1), None).await.unwrap();
        spool.release(id);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while spool.shared.index.lock().jobs.len() >= HISTORY_BATCH {
        assert!(Instant::now() < deadline, "a full batch was not sealed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let history = history::HistoryStore::open(&spool_dir, history::OnDamage::Report).unwrap();
    assert!(history.contains(1).unwrap());
    assert!(history.contains(2 * HISTORY_BATCH as u32 - 1000).unwrap());
    drop(spool);
    for id in [1, jobs] {
        assert!(history.contains(id).unwrap(), "{id} sealed at shutdown");
    }
}

/// A crash between sealing a batch and its `Forget`s being durable leaves
/// jobs live in the journal and in history: open forgets the live copy
/// and hands only the other jobs to the core; both read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_both_live_and_in_history_is_forgotten_at_open() {
    let dir = TempDir::new("release-both");
    let spool_dir = dir.path().join("spool");
    let crashed = dir.path().join("crashed");
    let (spool, _) = reopen(&spool_dir);
    for id in 1..=3 {
        let doc = staged(&spool, format!("doc {id}").as_bytes()).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
    }
    // The journal as it is with jobs 1-3 live.
    snapshot(&spool_dir, &crashed);
    spool.release(1);
    spool.release(2);
    spool.seal_history().await.unwrap();
    drop(spool);
    // History with 1 and 2, beside the journal from before their Forgets.
    let status = Command::new("cp")
        .arg("-a")
        .arg(spool_dir.join("history"))
        .arg(&crashed)
        .status()
        .unwrap();
    assert!(status.success());
    let (spool, recovery) = reopen(&crashed);
    assert_eq!(recovery.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [3]);
    for id in 1..=3 {
        assert_eq!(spool.read_meta(id).unwrap(), Some(meta_for(id, 1)));
        assert_eq!(document_bytes(&spool, id), format!("doc {id}").as_bytes());
    }
    drop(spool);
    let (_spool, recovery) = reopen(&crashed);
    assert_eq!(recovery.jobs.iter().map(|j| j.id).collect::<Vec<_>>(), [3]);
}

/// A job forgotten after open (a purge while the core is still taking the
/// recovered jobs) is skipped: the jobs after it still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_skips_a_job_forgotten_meanwhile() {
    let dir = TempDir::new("recover-skip");
    let spool_dir = dir.path().join("spool");
    {
        let (spool, _) = reopen(&spool_dir);
        for id in 1..=3 {
            spool.commit(id, &meta_for(id, 1), None).await.unwrap();
        }
    }
    let (spool, recovery) = Spool::open(&spool_dir, LIMIT, |_| false).unwrap();
    spool.remove(2).await.unwrap();
    let ids: Vec<u32> = recovery.jobs.map(|job| job.unwrap().id).collect();
    assert_eq!(ids, [1, 3]);
}

/// Copies what a spool directory holds on disk now (the journal, `docs/`,
/// `format`) into `to`: the state a crash at this instant would leave.
fn snapshot(spool_dir: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let status = Command::new("cp")
        .arg("-a")
        .arg(spool_dir.join("journal"))
        .arg(spool_dir.join("docs"))
        .arg(spool_dir.join("format"))
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Every live job's id, meta and document bytes.
fn live_jobs(spool: &Spool, recovery: Opened) -> BTreeMap<u32, (Vec<u8>, Option<Vec<u8>>)> {
    recovery
        .jobs
        .into_iter()
        .map(|job| {
            let document = job.document_len.map(|_| document_bytes(spool, job.id));
            (job.id, (job.meta, document))
        })
        .collect()
}

const SMALL_SEGMENTS: u64 = 16 * 1024;

fn open_small(dir: &Path) -> (Spool, Opened) {
    let (spool, recovery) = Spool::open_with_segment_bytes(dir, LIMIT, SMALL_SEGMENTS).unwrap();
    (spool, collect(recovery))
}

/// Many jobs come and go: compaction keeps the journal to a few segments,
/// and the live jobs replay the same after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heavy_churn_keeps_the_journal_bounded() {
    let dir = TempDir::new("churn");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = open_small(&spool_dir);
    let spool = Arc::new(spool);
    let mut live = Vec::new();
    for id in 1..=400u32 {
        let doc = staged(&spool, &vec![id as u8; 300]).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
        spool
            .update(id, &meta_for(id, 2), id % 2 == 0)
            .await
            .unwrap();
        if id % 10 == 0 {
            live.push(id);
        } else {
            spool.remove(id).await.unwrap();
        }
    }
    // A large document and a job without one survive compaction too.
    let doc = staged(&spool, &large(9)).await;
    spool
        .commit(401, &meta_for(401, 1), Some(doc))
        .await
        .unwrap();
    spool.commit(402, &meta_for(402, 1), None).await.unwrap();
    live.extend([401, 402]);
    let compacting = Arc::clone(&spool);
    tokio::task::spawn_blocking(move || compacting.compact_now().unwrap())
        .await
        .unwrap();
    let segments = spool.journal_segments().len();
    // Sealed ones kept, the active one, and its prepared spare.
    assert!(
        segments <= compact::KEEP_SEALED + 2,
        "{segments} segments after compaction"
    );
    let spool = Arc::into_inner(spool).unwrap();
    drop(spool);
    let (spool, recovery) = open_small(&spool_dir);
    let replayed = live_jobs(&spool, recovery);
    assert_eq!(replayed.keys().copied().collect::<Vec<_>>(), live);
    for (id, (meta, document)) in &replayed {
        match id {
            401 => assert_eq!(document.as_deref(), Some(&large(9)[..])),
            402 => assert!(document.is_none()),
            _ => {
                assert_eq!(meta, &meta_for(*id, 2));
                assert_eq!(document.as_deref(), Some(&vec![*id as u8; 300][..]));
            }
        }
    }
}

/// More live jobs than the kept sealed segments hold: compaction copies
/// only mostly dead segments, so it ends (it used to copy live segments
/// into new ones for ever), and the jobs replay the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_ends_when_live_jobs_fill_many_segments() {
    let dir = TempDir::new("compact-live");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = open_small(&spool_dir);
    let spool = Arc::new(spool);
    // About six segments' worth, all live.
    let live: Vec<u32> = (1..=96).collect();
    for &id in &live {
        let doc = staged(&spool, &vec![id as u8; 1000]).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
    }
    let compacting = Arc::clone(&spool);
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let outcome = compacting.compact_now();
        drop(compacting);
        let _ = done.send(outcome);
    });
    let outcome =
        tokio::task::spawn_blocking(move || finished.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap();
    assert!(
        matches!(outcome, Ok(Ok(_))),
        "compaction did not end: {outcome:?}"
    );
    let spool = Arc::into_inner(spool).unwrap();
    drop(spool);
    let (spool, recovery) = open_small(&spool_dir);
    let replayed = live_jobs(&spool, recovery);
    assert_eq!(replayed.keys().copied().collect::<Vec<_>>(), live);
}

/// A crash in the middle of compaction, after the copies are durable and
/// before the old segment is unlinked: both are on disk, and the live
/// jobs replay the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_compaction_unlinks_replays_the_same_jobs() {
    let dir = TempDir::new("compact-crash");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = open_small(&spool_dir);
    let spool = Arc::new(spool);
    for id in 1..=60u32 {
        let doc = staged(&spool, &vec![id as u8; 500]).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
        if id % 3 == 0 {
            spool.update(id, &meta_for(id, 2), true).await.unwrap();
        }
    }
    let (expected_spool, expected) = {
        let expected_dir = dir.path().join("expected");
        snapshot(&spool_dir, &expected_dir);
        let (s, r) = open_small(&expected_dir);
        let jobs = live_jobs(&s, r);
        (s, jobs)
    };
    drop(expected_spool);
    let shared = Arc::clone(&spool.shared);
    let crashed = dir.path().join("crashed");
    let crashed_for_copy = crashed.clone();
    let spool_dir_for_copy = spool_dir.clone();
    tokio::task::spawn_blocking(move || {
        // The background compactor waits for this lock: nothing unlinks.
        let _held = shared.compacting.lock().unwrap();
        let oldest = shared.journal.segments().unwrap()[0];
        compact::copy_live_out_of(&shared, oldest).unwrap();
        snapshot(&spool_dir_for_copy, &crashed_for_copy);
    })
    .await
    .unwrap();
    let (crashed_spool, recovery) = open_small(&crashed);
    assert_eq!(live_jobs(&crashed_spool, recovery), expected);
    assert_eq!(expected.len(), 60);
}

/// "processing" is appended but never waited on; completion is waited
/// on. A crash before "processing" reached the disk brings the job back
/// as it was (pending: it prints again); once completion returned, it is
/// on disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Held on purpose: the update awaited under it must not need the appender.
#[allow(clippy::await_holding_lock)]
async fn processing_is_not_waited_on_and_completion_is() {
    let dir = TempDir::new("processing");
    let spool_dir = dir.path().join("spool");
    let (spool, _) = reopen(&spool_dir);
    spool.commit(1, b"pending", None).await.unwrap();
    let (processing_returned, completion) = {
        let _appender = spool.shared.journal.hold_appender();
        // Nothing can be written while the appender is held, yet the
        // non-durable update returns.
        spool.update(1, b"processing", false).await.unwrap();
        let completion = tokio::spawn(spool.update(1, b"completed", true));
        // A crash now: neither is on disk.
        snapshot(&spool_dir, &dir.path().join("crash-while-printing"));
        assert!(
            !completion.is_finished(),
            "completion returned before it was written"
        );
        (true, completion)
    };
    assert!(processing_returned);
    completion.await.unwrap().unwrap();
    snapshot(&spool_dir, &dir.path().join("crash-after-completion"));
    let (before, recovery) = reopen(&dir.path().join("crash-while-printing"));
    assert_eq!(recovery.jobs[0].meta, b"pending");
    drop(before);
    let (_after, recovery) = reopen(&dir.path().join("crash-after-completion"));
    assert_eq!(recovery.jobs[0].meta, b"completed");
}

/// Syncs per job with 8 concurrent writers (`--nocapture` prints it):
/// layout 1 took 2 fdatasyncs per job on the request path plus a shared
/// directory fsync, and 2 more per printed job in the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syncs_per_job_with_eight_writers() {
    let dir = TempDir::new("syncs");
    let (spool, _) = reopen(&dir.path().join("spool"));
    let spool = Arc::new(spool);
    let before = spool.sync_count();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let spool = Arc::clone(&spool);
            tokio::spawn(async move {
                for _ in 0..125 {
                    let id = spool.reserve_id();
                    let doc = staged(&spool, &[b'j'; 1024]).await;
                    spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
                    // What the worker writes: processing (not waited on),
                    // then completed (waited on).
                    spool.update(id, &meta_for(id, 2), false).await.unwrap();
                    spool.update(id, &meta_for(id, 3), true).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let syncs = spool.sync_count() - before;
    println!(
        "spool: 1000 printed jobs (commit, processing, completed) from 8 tasks: {syncs} syncs, {:.2} per job",
        syncs as f64 / 1000.0
    );
    assert!(syncs < 2000, "{syncs} syncs for 1000 jobs");
    // One writer alone: nothing to share with but its own entries.
    let before = spool.sync_count();
    for _ in 0..100 {
        let id = spool.reserve_id();
        let doc = staged(&spool, &[b'j'; 1024]).await;
        spool.commit(id, &meta_for(id, 1), Some(doc)).await.unwrap();
        spool.update(id, &meta_for(id, 2), false).await.unwrap();
        spool.update(id, &meta_for(id, 3), true).await.unwrap();
    }
    let syncs = spool.sync_count() - before;
    println!(
        "spool: 100 printed jobs from 1 task: {syncs} syncs, {:.2} per job",
        f64::from(u32::try_from(syncs).unwrap_or(u32::MAX)) / 100.0
    );
    assert!(syncs <= 300, "{syncs} syncs for 100 jobs");
}
