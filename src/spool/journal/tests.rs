//! Journal tests on the real file system: entries round trip, a torn tail
//! at every offset replays exactly the whole entries, concurrent appenders
//! share syncs, segments rotate, and a full disk refuses only new jobs.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;

use super::entry::{decode, encode};
use super::replay::scan_segment;
use super::*;
use crate::test_support::TempDir;

fn paths(dir: &Path) -> JournalPaths {
    let paths = JournalPaths {
        journal: dir.join("journal"),
        tmp: dir.join("tmp"),
        docs: dir.join("docs"),
    };
    for sub in [&paths.journal, &paths.tmp, &paths.docs] {
        std::fs::create_dir_all(sub).unwrap();
    }
    paths
}

fn open(dir: &Path, segment_bytes: u64) -> (Journal, Replayed) {
    Journal::open(paths(dir), segment_bytes, Arc::new(AtomicU32::new(1))).unwrap()
}

fn accept(id: u32, version: u64, document: EntryDocument) -> Record {
    Record::Accept {
        id,
        version,
        meta: format!("{{\"id\":{id},\"v\":{version}}}").into_bytes(),
        document,
    }
}

fn meta_of(journal: &Journal, job: &LiveJob) -> String {
    String::from_utf8(journal.read(job.meta).unwrap()).unwrap()
}

#[test]
fn every_kind_of_entry_round_trips() {
    let records = [
        Record::Header { seq: 7, next_id: 9 },
        accept(1, 1, EntryDocument::None),
        accept(2, 1, EntryDocument::Inline(b"hello".to_vec())),
        accept(
            3,
            1,
            EntryDocument::File {
                len: 10,
                sha256: [7; 32],
            },
        ),
        Record::Update {
            id: 2,
            version: 2,
            meta: b"{}".to_vec(),
        },
        Record::Attach {
            id: 1,
            version: 2,
            meta: b"m".to_vec(),
            document: EntryDocument::Inline(vec![1, 2, 3]),
        },
        Record::Forget { id: 3, version: 2 },
    ];
    let mut buf = Vec::new();
    let mut placements = Vec::new();
    for (lsn, record) in records.iter().enumerate() {
        let start = buf.len();
        placements.push((start, encode(record, lsn as u64 + 1, &mut buf)));
    }
    let mut at = 0;
    for (i, record) in records.iter().enumerate() {
        let decoded = decode(&buf, at).unwrap();
        assert_eq!(decoded.kind, record.kind());
        assert_eq!(decoded.lsn, i as u64 + 1);
        let (start, placement) = placements[i];
        let absolute = |p: Option<(u64, u64)>| p.map(|(o, l)| (o + start as u64, l));
        assert_eq!(decoded.meta, absolute(placement.meta));
        if let Some(entry::DocumentRef::Inline { offset, len }) = decoded.document {
            assert_eq!(Some((offset, len)), absolute(placement.inline));
        }
        at += decoded.total_len as usize;
    }
    assert_eq!(at, buf.len());
    assert_eq!(
        decode(&buf, at),
        None,
        "the end of the buffer is not an entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appended_entries_replay_into_the_live_jobs() {
    let dir = TempDir::new("journal-replay");
    {
        let (journal, replayed) = open(dir.path(), SEGMENT_BYTES);
        assert!(replayed.live.is_empty());
        journal
            .append(vec![
                accept(1, 1, EntryDocument::Inline(b"one".to_vec())),
                accept(2, 1, EntryDocument::None),
                accept(3, 1, EntryDocument::None),
            ])
            .await
            .unwrap();
        journal
            .append(vec![Record::Update {
                id: 1,
                version: 2,
                meta: b"one, processing".to_vec(),
            }])
            .await
            .unwrap();
        journal
            .append(vec![Record::Forget { id: 2, version: 2 }])
            .await
            .unwrap();
    }
    let (journal, replayed) = open(dir.path(), SEGMENT_BYTES);
    assert_eq!(replayed.live.keys().copied().collect::<Vec<_>>(), [1, 3]);
    assert_eq!(replayed.highest_id, 3);
    let one = replayed.live[&1];
    assert_eq!(one.version, 2);
    assert_eq!(meta_of(&journal, &one), "one, processing");
    let LiveDocument::Inline(extent) = one.document else {
        panic!("job 1's document is inline: {:?}", one.document);
    };
    assert_eq!(journal.read(extent).unwrap(), b"one");
    assert_eq!(meta_of(&journal, &replayed.live[&3]), "{\"id\":3,\"v\":1}");
}

/// Builds one segment's bytes with `n` entries; returns the bytes and the
/// end offset of each entry.
fn segment_with_entries(n: u32) -> (Vec<u8>, Vec<usize>) {
    let mut buf = Vec::new();
    let mut ends = Vec::new();
    encode(&Record::Header { seq: 1, next_id: 1 }, 1, &mut buf);
    ends.push(buf.len());
    for id in 1..=n {
        let document = EntryDocument::Inline(vec![id as u8; 40]);
        encode(&accept(id, 1, document), u64::from(id) + 1, &mut buf);
        ends.push(buf.len());
    }
    buf.resize(buf.len() + 256, 0);
    (buf, ends)
}

/// Whole entries before `offset` (entry `i` ends at `ends[i]`).
fn whole_before(ends: &[usize], offset: usize) -> usize {
    ends.iter().filter(|&&end| end <= offset).count()
}

#[test]
fn a_torn_tail_replays_exactly_the_whole_entries_at_every_offset() {
    let (clean, ends) = segment_with_entries(5);
    assert_eq!(scan_segment(&clean, 1).entries.len(), ends.len());
    // Damage anywhere in the last three entries.
    let from = ends[ends.len() - 4];
    let to = ends[ends.len() - 1];
    for offset in from..to {
        let mut zeroed = clean.clone();
        zeroed[offset..].fill(0);
        let expected = whole_before(&ends, offset);
        assert_eq!(
            scan_segment(&zeroed, 1).entries.len(),
            expected,
            "zeroed from {offset}"
        );
        let truncated = &clean[..offset];
        assert_eq!(
            scan_segment(truncated, 1).entries.len(),
            expected,
            "truncated at {offset}"
        );
        let mut flipped = clean.clone();
        flipped[offset] ^= 0x5a;
        // The entry holding the byte and every later one are gone.
        assert_eq!(
            scan_segment(&flipped, 1).entries.len(),
            expected,
            "byte {offset} flipped"
        );
    }
}

#[test]
fn stale_or_foreign_entries_end_a_segment() {
    let mut buf = Vec::new();
    encode(&Record::Header { seq: 1, next_id: 1 }, 5, &mut buf);
    encode(&accept(1, 1, EntryDocument::None), 6, &mut buf);
    // An lsn not greater than the previous one: not written after it.
    encode(&accept(2, 1, EntryDocument::None), 6, &mut buf);
    assert_eq!(scan_segment(&buf, 1).entries.len(), 2);
    // A header of another segment: nothing here belongs to segment 2.
    assert!(scan_segment(&buf, 2).entries.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_tail_on_disk_replays_the_acknowledged_entries() {
    let dir = TempDir::new("journal-torn");
    let (journal, _) = open(dir.path(), SEGMENT_BYTES);
    let seq = journal.active_seq();
    for id in 1..=4 {
        journal
            .append(vec![accept(id, 1, EntryDocument::None)])
            .await
            .unwrap();
    }
    drop(journal);
    // Half of job 4's entry never reached the disk.
    let path = segment::segment_path(&dir.path().join("journal"), seq);
    let mut bytes = std::fs::read(&path).unwrap();
    let scan = scan_segment(&bytes, seq);
    let last = scan.entries.last().unwrap();
    let start = (scan.end - last.total_len) as usize;
    bytes[start + 10..scan.end as usize].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    let (journal, replayed) = open(dir.path(), SEGMENT_BYTES);
    assert_eq!(replayed.live.keys().copied().collect::<Vec<_>>(), [1, 2, 3]);
    // Appends after the restart go to a new segment and replay too.
    assert!(journal.active_seq() > seq);
    journal
        .append(vec![accept(5, 1, EntryDocument::None)])
        .await
        .unwrap();
    drop(journal);
    let (_, replayed) = open(dir.path(), SEGMENT_BYTES);
    assert_eq!(
        replayed.live.keys().copied().collect::<Vec<_>>(),
        [1, 2, 3, 5]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_queued_together_share_one_sync() {
    let dir = TempDir::new("journal-group");
    let (journal, _) = open(dir.path(), SEGMENT_BYTES);
    // The header's batch first.
    journal
        .append(vec![accept(1, 1, EntryDocument::None)])
        .await
        .unwrap();
    let before = journal.syncs();
    let futures: Vec<_> = {
        let _held = journal.hold_appender();
        (2..=33)
            .map(|id| journal.append(vec![accept(id, 1, EntryDocument::None)]))
            .collect()
    };
    for future in futures {
        future.await.unwrap();
    }
    // The thread may have taken the first request before the gate.
    let syncs = journal.syncs() - before;
    assert!(syncs <= 2, "32 queued appends took {syncs} syncs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appenders_share_syncs() {
    let dir = TempDir::new("journal-concurrent");
    let (journal, _) = open(dir.path(), SEGMENT_BYTES);
    let journal = Arc::new(journal);
    let before = journal.syncs();
    let tasks: Vec<_> = (0..8u32)
        .map(|task| {
            let journal = Arc::clone(&journal);
            tokio::spawn(async move {
                for n in 0..125u32 {
                    let id = task * 1000 + n + 1;
                    let document = EntryDocument::Inline(vec![0; 1024]);
                    journal.append(vec![accept(id, 1, document)]).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let syncs = journal.syncs() - before;
    println!(
        "journal: 1000 appends from 8 tasks took {syncs} fdatasyncs ({:.2} per append)",
        syncs as f64 / 1000.0
    );
    assert!(syncs < 1000, "8 concurrent appenders never shared a sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_segment_rotates_to_the_prepared_next_one() {
    let dir = TempDir::new("journal-rotate");
    let segment_bytes = 4096;
    {
        let (journal, _) = open(dir.path(), segment_bytes);
        let first = journal.active_seq();
        for id in 1..=100 {
            let document = EntryDocument::Inline(vec![id as u8; 200]);
            journal.append(vec![accept(id, 1, document)]).await.unwrap();
        }
        assert!(journal.active_seq() > first + 3, "no rotation");
        // Every segment has its full size (zero-filled, never grown).
        for seq in journal.segments().unwrap() {
            let path = segment::segment_path(journal.dir(), seq);
            assert_eq!(std::fs::metadata(path).unwrap().len(), segment_bytes);
        }
    }
    let (journal, replayed) = open(dir.path(), segment_bytes);
    assert_eq!(replayed.live.len(), 100);
    for (id, job) in &replayed.live {
        let LiveDocument::Inline(extent) = job.document else {
            panic!("job {id}: {:?}", job.document);
        };
        assert_eq!(journal.read(extent).unwrap(), vec![*id as u8; 200]);
    }
    // The spare prepared but never used held nothing and is gone: what
    // is left is the sealed segments, the new active one and (once its
    // helper thread is done) a new spare.
    let on_disk = journal.segments().unwrap().len();
    let sealed = replayed.sealed.len();
    assert!(
        (sealed + 1..=sealed + 2).contains(&on_disk),
        "{on_disk} segments, {sealed} sealed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_larger_than_a_segment_is_refused_alone() {
    let dir = TempDir::new("journal-too-large");
    let (journal, _) = open(dir.path(), 4096);
    let huge = accept(1, 1, EntryDocument::Inline(vec![0; 8192]));
    let err = journal.append(vec![huge]).await.unwrap_err();
    assert!(err.to_string().contains("too large") || err.to_string().contains("File too large"));
    journal
        .append(vec![accept(2, 1, EntryDocument::None)])
        .await
        .unwrap();
}

/// A full disk: a small tmpfs (needs root to mount; skipped, loudly,
/// otherwise). New jobs are refused with ENOSPC once no next segment can
/// be prepared, while updates and forgets still go into the reserve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_jobs_but_not_updates() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIPPED a_full_disk_refuses_new_jobs_but_not_updates: needs root to mount a tmpfs"
        );
        return;
    }
    let dir = TempDir::new("journal-enospc");
    let mount = dir.path().join("fs");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&mount)
        .status();
    if !mounted.is_ok_and(|status| status.success()) {
        eprintln!(
            "SKIPPED a_full_disk_refuses_new_jobs_but_not_updates: cannot mount a tmpfs here"
        );
        return;
    }
    let outcome = full_disk_case(&mount).await;
    let _ = std::process::Command::new("umount").arg(&mount).status();
    outcome.unwrap();
}

async fn full_disk_case(root: &Path) -> Result<(), String> {
    let segment_bytes = 512 * 1024;
    let (journal, _) = open(root, segment_bytes);
    // Fill the file system so that no further segment fits.
    let filler = root.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![1u8; 64 * 1024];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);
    let mut refused = None;
    let mut accepted = 0u32;
    for id in 1..=200 {
        let record = accept(id, 1, EntryDocument::Inline(vec![0; 8 * 1024]));
        match journal.append(vec![record]).await {
            Ok(_) => accepted += 1,
            Err(e) => {
                refused = Some((id, e));
                break;
            }
        }
    }
    let (id, error) = refused.ok_or("the disk never filled up")?;
    if !error.is_no_space() {
        return Err(format!("job {id} refused with {error}, not ENOSPC"));
    }
    // Updates and forgets of the jobs already there still go in.
    for id in 1..=accepted.min(20) {
        let update = Record::Update {
            id,
            version: 2,
            meta: vec![b'u'; 100],
        };
        journal
            .append(vec![update, Record::Forget { id, version: 3 }])
            .await
            .map_err(|e| format!("update of job {id} on a full disk: {e}"))?;
    }
    Ok(())
}

/// A start on a full disk: the previous run's spare segment (prepared,
/// never written) becomes the active one, so no new segment is needed;
/// one that was written to, even torn, is never reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_reuses_an_untouched_spare_and_never_a_torn_one() {
    let dir = TempDir::new("journal-spare");
    let journal_dir = dir.path().join("journal");
    let first = {
        let (journal, _) = open(dir.path(), 4096);
        journal
            .append(vec![accept(1, 1, EntryDocument::None)])
            .await
            .unwrap();
        journal.active_seq()
    };
    // The journal's drop waits for its spare.
    assert!(
        segment::list_segments(&journal_dir)
            .unwrap()
            .contains(&(first + 1))
    );
    let (journal, replayed) = open(dir.path(), 4096);
    assert_eq!(journal.active_seq(), first + 1, "the spare was reused");
    assert_eq!(replayed.live.len(), 1);
    drop(journal);
    // Tear the start of the spare that run left: a header that never made
    // it whole. It is removed, not reused.
    let spare = *segment::list_segments(&journal_dir)
        .unwrap()
        .last()
        .unwrap();
    assert!(spare > first + 1);
    let path = segment::segment_path(&journal_dir, spare);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] = 0x33;
    std::fs::write(&path, &bytes).unwrap();
    let (journal, replayed) = open(dir.path(), 4096);
    assert!(journal.active_seq() > spare);
    assert!(!journal.segments().unwrap().contains(&spare));
    assert_eq!(replayed.live.len(), 1);
}
