use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::format::{crc32, decode_entry};
use super::*;
use crate::spool::DocumentInfo;
use crate::spool::layout::sha256_hex;
use crate::test_support::TempDir;

fn file_doc(bytes: &[u8]) -> DocumentInfo {
    DocumentInfo {
        len: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

/// Three jobs, one of each document kind, sealed out of order.
fn seal_three(store: &HistoryStore, ids: [u32; 3]) -> HistorySegmentName {
    let doc = file_doc(b"a big document");
    let batch = [
        JobToSeal {
            id: ids[2],
            meta: b"{\"third\":true}",
            document: DocumentToSeal::File(&doc),
        },
        JobToSeal {
            id: ids[0],
            meta: b"{\"first\":true}",
            document: DocumentToSeal::None,
        },
        JobToSeal {
            id: ids[1],
            meta: b"{\"second\":true}",
            document: DocumentToSeal::Inline(b"inline document bytes"),
        },
    ];
    store.seal(&batch).unwrap().unwrap()
}

fn open(dir: &Path) -> HistoryStore {
    HistoryStore::open(dir, OnDamage::Quarantine).unwrap()
}

#[test]
fn crc32_matches_the_ieee_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    assert_eq!(crc32(b""), 0);
}

#[test]
fn segment_names_are_canonical() {
    let name = HistorySegmentName {
        first: 7,
        last: 1024,
        variant: 0,
    };
    assert_eq!(name.file_name(), "0000000007-0000001024.hist");
    assert_eq!(HistorySegmentName::parse(&name.file_name()), Some(name));
    let second = HistorySegmentName { variant: 2, ..name };
    assert_eq!(second.file_name(), "0000000007-0000001024.2.hist");
    assert_eq!(HistorySegmentName::parse(&second.file_name()), Some(second));
    for bad in [
        "7-1024.hist",
        "0000001024-0000000007.hist",
        "0000000007-0000001024.0.hist",
        "0000000007-0000001024.02.hist",
        "0000000007-0000001024.hist.tmp",
        "0000000007-9999999999.hist",
        "+000000007-0000001024.hist",
    ] {
        assert_eq!(HistorySegmentName::parse(bad), None, "{bad}");
    }
}

#[test]
fn sealed_jobs_read_back_by_id_with_their_documents() {
    let dir = TempDir::new("history-read");
    let store = open(dir.path());
    assert_eq!(store.seal(&[]).unwrap(), None);
    let name = seal_three(&store, [3, 5, 9]);
    assert_eq!(name.file_name(), "0000000003-0000000009.hist");
    assert!(dir.path().join("history").join(name.file_name()).is_file());
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);

    let first = store.read(3).unwrap().unwrap();
    assert_eq!(first.entry.meta, b"{\"first\":true}");
    assert_eq!(first.entry.document, HistoryDocument::None);
    let second = store.read(5).unwrap().unwrap();
    assert_eq!(second.entry.meta, b"{\"second\":true}");
    assert_eq!(
        second.inline_document().unwrap().unwrap(),
        b"inline document bytes"
    );
    let third = store.read(9).unwrap().unwrap();
    assert_eq!(
        third.entry.document,
        HistoryDocument::File(file_doc(b"a big document"))
    );
    for missing in [1, 4, 8, 10, u32::MAX] {
        assert!(store.read(missing).unwrap().is_none(), "{missing}");
    }
    assert_eq!(store.highest_id().unwrap(), 9);
    // A second store (another process) sees the same.
    let other = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
    assert_eq!(other.read(5).unwrap().unwrap().entry.id, 5);
}

#[test]
fn a_segment_sealed_by_another_store_is_found_after_a_miss() {
    let dir = TempDir::new("history-relist");
    let reader = open(dir.path());
    assert!(reader.read(42).unwrap().is_none());
    let writer = open(dir.path());
    writer
        .seal(&[JobToSeal {
            id: 42,
            meta: b"m",
            document: DocumentToSeal::None,
        }])
        .unwrap();
    assert_eq!(reader.read(42).unwrap().unwrap().entry.meta, b"m");
}

#[test]
fn the_same_range_sealed_twice_gets_a_second_name_and_the_newest_wins() {
    let dir = TempDir::new("history-twice");
    let store = open(dir.path());
    let one = |meta: &'static [u8]| {
        store
            .seal(&[JobToSeal {
                id: 12,
                meta,
                document: DocumentToSeal::None,
            }])
            .unwrap()
            .unwrap()
    };
    assert_eq!(one(b"old").variant, 0);
    assert_eq!(one(b"new").variant, 1);
    assert_eq!(store.read(12).unwrap().unwrap().entry.meta, b"new");
}

#[test]
fn duplicate_ids_in_one_batch_are_refused() {
    let dir = TempDir::new("history-dup");
    let store = open(dir.path());
    let job = JobToSeal {
        id: 1,
        meta: b"x",
        document: DocumentToSeal::None,
    };
    assert!(store.seal(&[job, job]).is_err());
    assert!(store.segment_names().unwrap().is_empty());
}

#[test]
fn scan_visits_every_entry_of_every_segment_in_order() {
    let dir = TempDir::new("history-scan");
    let store = open(dir.path());
    seal_three(&store, [20, 21, 22]);
    seal_three(&store, [1, 2, 30]);
    let mut seen = Vec::new();
    let scan = store
        .scan(|segment, entry| seen.push((segment.name.first, entry.id)))
        .unwrap();
    assert_eq!(
        seen,
        [(1, 1), (1, 2), (1, 30), (20, 20), (20, 21), (20, 22)]
    );
    assert_eq!((scan.segments, scan.entries), (2, 6));
    assert!(scan.damaged.is_empty());
}

#[test]
fn rewriting_drops_jobs_atomically_and_keeps_the_rest_readable() {
    let dir = TempDir::new("history-rewrite");
    let store = open(dir.path());
    let name = seal_three(&store, [3, 5, 9]);
    let dropped = store.rewrite_without(&name, |id| id == 5, true).unwrap();
    assert_eq!(dropped.iter().map(|e| e.id).collect::<Vec<_>>(), [5]);
    assert!(store.read(5).unwrap().is_none());
    assert_eq!(
        store.read(9).unwrap().unwrap().entry.meta,
        b"{\"third\":true}"
    );
    // Dropping everything from the highest segment keeps it, empty...
    store.rewrite_without(&name, |_| true, true).unwrap();
    assert_eq!(store.segment_names().unwrap(), [name]);
    assert!(store.read(3).unwrap().is_none());
    assert_eq!(store.highest_id().unwrap(), 9);
    // ...and otherwise unlinks it.
    store.rewrite_without(&name, |_| true, false).unwrap();
    assert!(store.segment_names().unwrap().is_empty());
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}

#[test]
fn a_damaged_segment_is_reported_skipped_and_quarantined() {
    let dir = TempDir::new("history-damaged");
    let store = open(dir.path());
    let good = seal_three(&store, [1, 2, 3]);
    let bad = seal_three(&store, [4, 5, 6]);
    let bad_path = dir.path().join("history").join(bad.file_name());
    let mut bytes = fs::read(&bad_path).unwrap();
    bytes[20] ^= 0xff; // inside job 4's entry
    fs::write(&bad_path, &bytes).unwrap();

    let reader = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
    assert!(reader.read(4).unwrap().is_none());
    let scan = reader.scan(|_, _| {}).unwrap();
    assert_eq!(scan.damaged.len(), 1);
    assert_eq!(scan.damaged[0].0, bad_path);
    assert!(bad_path.exists(), "Report must not move it");
    assert!(reader.rewrite_without(&bad, |_| true, false).is_err());
    assert!(bad_path.exists(), "a damaged segment is never rewritten");

    assert!(store.read(4).unwrap().is_none());
    assert!(!bad_path.exists());
    let corrupt = dir.path().join("corrupt").join(bad.file_name());
    assert!(corrupt.exists());
    let reason = fs::read_to_string(format!("{}.reason", corrupt.display())).unwrap();
    assert!(reason.contains("checksum"), "{reason}");
    assert_eq!(store.read(2).unwrap().unwrap().entry.id, 2);
    assert_eq!(store.segment_names().unwrap(), [good]);
    // Its ids still count for the next id.
    assert_eq!(store.highest_id().unwrap(), 6);
}

/// Every single-byte change and every truncation of a small segment is
/// either caught or harmless: never a panic, never an entry that was not
/// sealed.
#[test]
fn every_flipped_or_truncated_byte_is_caught_without_panic() {
    let dir = TempDir::new("history-fuzz");
    let store = open(dir.path());
    let name = seal_three(&store, [3, 5, 9]);
    let path = dir.path().join("history").join(name.file_name());
    let original = fs::read(&path).unwrap();
    let genuine: Vec<HistoryEntry> = [3, 5, 9]
        .iter()
        .map(|&id| store.read(id).unwrap().unwrap().entry)
        .collect();
    let check = |bytes: &[u8], what: &str| {
        fs::write(&path, bytes).unwrap();
        let reader = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
        for id in [3, 5, 9, 4] {
            if let Some(hit) = reader.read(id).unwrap() {
                assert!(
                    genuine.contains(&hit.entry),
                    "{what}: read({id}) invented {:?}",
                    hit.entry
                );
            }
        }
        reader
            .scan(|_, entry| assert!(genuine.contains(entry), "{what}: scan invented {entry:?}"))
            .unwrap();
    };
    for i in 0..original.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut bytes = original.clone();
            bytes[i] ^= flip;
            check(&bytes, &format!("byte {i} ^ {flip:#x}"));
        }
    }
    for len in 0..original.len() {
        check(&original[..len], &format!("truncated to {len}"));
    }
    let mut longer = original.clone();
    longer.extend_from_slice(&[0; 40]);
    check(&longer, "zeros appended");
}

/// Hostile footers and entries decode to errors: huge lengths, offsets
/// past the end, overlapping entries.
#[test]
fn hostile_lengths_are_bounded() {
    // An entry claiming 4 GiB of body in a few bytes.
    let mut entry = Vec::new();
    entry.extend_from_slice(&u32::MAX.to_le_bytes());
    entry.extend_from_slice(&0u32.to_le_bytes());
    entry.extend_from_slice(&7u32.to_le_bytes());
    assert!(decode_entry(&entry, 8, 7).is_err());
    // A body whose meta length runs past it, with a valid crc.
    let mut body = Vec::new();
    body.extend_from_slice(&7u32.to_le_bytes());
    body.extend_from_slice(&u32::MAX.to_le_bytes());
    let mut entry = Vec::new();
    entry.extend_from_slice(&(body.len() as u32).to_le_bytes());
    entry.extend_from_slice(&crc32(&body).to_le_bytes());
    entry.extend_from_slice(&body);
    assert!(
        decode_entry(&entry, 8, 7)
            .unwrap_err()
            .contains("past the end")
    );

    // A trailer claiming 2^20 entries in a tiny file.
    let dir = TempDir::new("history-hostile");
    let store = open(dir.path());
    let name = seal_three(&store, [1, 2, 3]);
    let path = dir.path().join("history").join(name.file_name());
    let len = fs::metadata(&path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    let trailer = format::encode_trailer(8, 1 << 20, 0);
    file.write_all_at(&trailer, len - trailer.len() as u64)
        .unwrap();
    let reader = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
    assert!(reader.read(1).unwrap().is_none());
}

#[test]
fn special_files_in_history_neither_hang_nor_get_read() {
    let dir = TempDir::new("history-special");
    let store = open(dir.path());
    let history = dir.path().join("history");
    crate::test_support::mkfifo(&history.join("0000000001-0000000009.hist"));
    let outside = dir.path().join("outside");
    fs::write(&outside, b"not a segment").unwrap();
    std::os::unix::fs::symlink(&outside, history.join("0000000010-0000000019.hist")).unwrap();
    fs::write(history.join("notes.txt"), b"ignored").unwrap();
    let reader = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
    assert!(reader.read(5).unwrap().is_none());
    assert!(reader.read(15).unwrap().is_none());
    let scan = reader.scan(|_, _| panic!("nothing to visit")).unwrap();
    assert_eq!(scan.damaged.len(), 2);
    drop(store);
}

/// A reader (the daemon) never misses a kept job nor sees an error while
/// cleanup rewrites the segment under it, one purge at a time.
#[test]
fn reads_beside_rewrites_always_find_kept_jobs() {
    let dir = TempDir::new("history-concurrent");
    let store = open(dir.path());
    let metas: Vec<Vec<u8>> = (1..=40u32)
        .map(|id| format!("{{\"id\":{id}}}").into_bytes())
        .collect();
    let batch: Vec<JobToSeal<'_>> = (1..=40u32)
        .zip(&metas)
        .map(|(id, meta)| JobToSeal {
            id,
            meta,
            document: DocumentToSeal::Inline(meta),
        })
        .collect();
    let name = store.seal(&batch).unwrap().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let daemon = HistoryStore::open(dir.path(), OnDamage::Report).unwrap();
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || reads < 100 {
                for id in (2..=40u32).step_by(2) {
                    let hit = daemon.read(id).unwrap().expect("a kept job went missing");
                    assert_eq!(hit.entry.meta, format!("{{\"id\":{id}}}").into_bytes());
                    assert_eq!(hit.inline_document().unwrap().unwrap(), hit.entry.meta);
                    reads += 1;
                }
            }
            reads
        });
        for purged in (1..=39u32).step_by(2) {
            let dropped = store
                .rewrite_without(&name, |id| id == purged, true)
                .unwrap();
            assert_eq!(dropped.len(), 1);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() >= 100);
    });
    assert!(store.read(1).unwrap().is_none());
}
