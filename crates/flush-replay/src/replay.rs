//! Rebuilding the disk at chosen points of the log and checking each.
//!
//! A point is a prefix of the log: the base image with entries `0..p`
//! applied, every later write dropped. A prefix ending at a flush (or a
//! FUA write) is what a power cut right after that flush may leave; one
//! ending between flushes is a crash that lost the unflushed writes from
//! some point on (in log order).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::ReplayError;
use crate::log::{EntryKind, LogEntry, WriteLog};
use crate::spool_view::Inspector;
use crate::verdict::{Acknowledgement, violations};

/// Which points to check.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// Flush points beyond this many are thinned out evenly (the last is
    /// always kept).
    pub max_flush_points: usize,
    /// Points between two flushes, chosen at random.
    pub samples: usize,
    pub seed: u64,
    /// Writes at or past this byte of the disk are acknowledgement
    /// markers, not file-system blocks.
    pub marker_offset: u64,
}

/// Why a point is checked (a flush sorts first at the same prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PointKind {
    Flush,
    Sample,
}

/// The outcome of one replay.
#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    pub entries: usize,
    pub flush_points: usize,
    pub flush_points_checked: usize,
    pub samples_checked: usize,
    pub acknowledged: usize,
    /// "prefix N (flush): what broke", one per broken invariant.
    pub failures: Vec<String>,
    pub seconds: f64,
}

/// Replays `log` over a copy of `base` and checks every chosen point.
pub fn replay(
    base: &Path,
    log: &mut WriteLog,
    plan: &ReplayPlan,
    inspector: &Inspector,
    work: &Path,
) -> Result<ReplaySummary, ReplayError> {
    let started = Instant::now();
    let mut image = std::fs::read(base).map_err(|e| ReplayError::io("read", base, e))?;
    let points = choose_points(&log.entries, plan);
    let point_image: PathBuf = work.join("point.img");
    let mut summary = ReplaySummary {
        entries: log.entries.len(),
        flush_points: flush_prefixes(&log.entries).len(),
        ..ReplaySummary::default()
    };
    let mut acknowledged: Vec<Acknowledgement> = Vec::new();
    let mut next = points.iter().peekable();
    for index in 0..=log.entries.len() {
        while let Some((prefix, kind)) = next.next_if(|(prefix, _)| *prefix == index) {
            std::fs::write(&point_image, &image)
                .map_err(|e| ReplayError::io("write", &point_image, e))?;
            let found = match inspector.inspect(&point_image) {
                Ok(snapshot) => violations(&acknowledged, &snapshot.jobs, &snapshot.printed),
                Err(e) => vec![e.to_string()],
            };
            let label = match kind {
                PointKind::Flush => "flush",
                PointKind::Sample => "between flushes",
            };
            summary.failures.extend(found.into_iter().map(|what| {
                format!(
                    "prefix {prefix} ({label}, {} acknowledged): {what}",
                    acknowledged.len()
                )
            }));
            match kind {
                PointKind::Flush => summary.flush_points_checked += 1,
                PointKind::Sample => summary.samples_checked += 1,
            }
        }
        let Some(entry) = log.entries.get(index).cloned() else {
            break;
        };
        apply(&mut image, log, &entry)?;
        if entry.offset >= plan.marker_offset && entry.kind != EntryKind::Flush {
            let data = log
                .read_data(&entry)
                .map_err(|e| ReplayError::Format(format!("marker at entry {index}: {e}")))?;
            // A marker may be written again (the page it is in is written
            // back whole): count each acknowledgement once.
            for ack in markers_in(&data) {
                if !acknowledged.contains(&ack) {
                    acknowledged.push(ack);
                }
            }
        }
    }
    summary.acknowledged = acknowledged.len();
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Applies one entry to the in-memory disk.
fn apply(image: &mut [u8], log: &mut WriteLog, entry: &LogEntry) -> Result<(), ReplayError> {
    let range = || -> Result<std::ops::Range<usize>, ReplayError> {
        let start = usize::try_from(entry.offset).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::try_from(entry.len).unwrap_or(usize::MAX));
        if end > image.len() {
            return Err(ReplayError::Format(format!(
                "a write at byte {} of {} bytes is past the disk's end ({})",
                entry.offset,
                entry.len,
                image.len()
            )));
        }
        Ok(start..end)
    };
    match entry.kind {
        EntryKind::Write | EntryKind::ForcedWrite => {
            let span = range()?;
            let data = log
                .read_data(entry)
                .map_err(|e| ReplayError::Format(format!("write data: {e}")))?;
            image[span].copy_from_slice(&data);
        }
        EntryKind::Discard => {
            let span = range()?;
            image[span].fill(0);
        }
        EntryKind::Flush | EntryKind::Mark => {}
    }
    Ok(())
}

/// The acknowledgements in a marker write: one `ACK <id> <sha256>` per
/// sector, zero-padded.
pub fn markers_in(data: &[u8]) -> Vec<Acknowledgement> {
    data.chunks(512)
        .filter_map(|sector| {
            let text = String::from_utf8_lossy(sector);
            Acknowledgement::find_in(text.trim_end_matches('\0'))
        })
        .collect()
}

/// Prefix lengths that end right after a flush point.
fn flush_prefixes(entries: &[LogEntry]) -> Vec<usize> {
    entries
        .iter()
        .enumerate()
        .filter(|(_, entry)| entry.kind.is_flush_point())
        .map(|(index, _)| index + 1)
        .collect()
}

/// The points to check, in log order: every flush point (thinned evenly
/// past the cap), the whole log, and random prefixes between flushes.
pub fn choose_points(entries: &[LogEntry], plan: &ReplayPlan) -> Vec<(usize, PointKind)> {
    let flushes = flush_prefixes(entries);
    let mut points: Vec<(usize, PointKind)> = thin_out(&flushes, plan.max_flush_points)
        .into_iter()
        .map(|prefix| (prefix, PointKind::Flush))
        .collect();
    if flushes.last() != Some(&entries.len()) {
        points.push((entries.len(), PointKind::Flush));
    }
    // Gaps of at least two entries between consecutive flush points hold
    // a prefix that is not a flush point.
    let mut bounds = vec![0];
    bounds.extend(&flushes);
    let gaps: Vec<(usize, usize)> = bounds
        .windows(2)
        .map(|pair| (pair[0], pair[1]))
        .filter(|(from, to)| to - from >= 2)
        .collect();
    let mut random = SplitMix(plan.seed);
    for _ in 0..plan.samples.min(gaps.len()) {
        let (from, to) = gaps[random.below(gaps.len())];
        // Strictly inside: after `from`'s flush, before `to`'s last entry.
        let prefix = from + 1 + random.below(to - from - 1);
        points.push((prefix, PointKind::Sample));
    }
    points.sort();
    points.dedup_by_key(|(prefix, _)| *prefix);
    points
}

/// At most `cap` of `all`, evenly spread, keeping the last.
fn thin_out(all: &[usize], cap: usize) -> Vec<usize> {
    if all.len() <= cap || cap == 0 {
        return if cap == 0 { Vec::new() } else { all.to_vec() };
    }
    let mut kept: Vec<usize> = (0..cap).map(|i| all[i * all.len() / cap]).collect();
    if let Some(last) = all.last()
        && kept.last() != Some(last)
    {
        kept.push(*last);
    }
    kept
}

/// A small deterministic generator (SplitMix64): the same seed checks the
/// same points, so a failure can be replayed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::tests::build_log;

    fn plan(max_flush_points: usize, samples: usize) -> ReplayPlan {
        ReplayPlan {
            max_flush_points,
            samples,
            seed: 1,
            marker_offset: u64::MAX,
        }
    }

    fn entries() -> Vec<LogEntry> {
        let dir = std::env::temp_dir().join(format!("flush-replay-points-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let block = [1u8; 512];
        // write write flush write write write flush write
        let flush: (u64, u64, &[u8]) = (0, 1, &[]);
        let write: (u64, u64, &[u8]) = (3, 0, &block);
        std::fs::write(
            &path,
            build_log(&[write, write, flush, write, write, write, flush, write]),
        )
        .unwrap();
        let log = WriteLog::open(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        log.entries
    }

    #[test]
    fn every_flush_point_and_the_end_are_checked() {
        let points = choose_points(&entries(), &plan(100, 0));
        assert_eq!(
            points,
            [
                (3, PointKind::Flush),
                (7, PointKind::Flush),
                (8, PointKind::Flush)
            ]
        );
    }

    #[test]
    fn samples_fall_strictly_between_flushes() {
        let points = choose_points(&entries(), &plan(100, 10));
        let samples: Vec<usize> = points
            .iter()
            .filter(|(_, kind)| *kind == PointKind::Sample)
            .map(|(prefix, _)| *prefix)
            .collect();
        assert!(!samples.is_empty());
        for prefix in samples {
            assert!([1, 2, 4, 5, 6].contains(&prefix), "{prefix}");
        }
    }

    #[test]
    fn the_cap_thins_flush_points_evenly() {
        assert_eq!(thin_out(&[1, 2, 3, 4, 5, 6, 7, 8], 4), [1, 3, 5, 7, 8]);
        assert_eq!(thin_out(&[1, 2], 4), [1, 2]);
    }

    #[test]
    fn markers_are_read_sector_by_sector() {
        let mut data = vec![0u8; 1024];
        let line = format!("ACK 9 {}\n", "ab".repeat(32));
        data[..line.len()].copy_from_slice(line.as_bytes());
        data[512..512 + line.len()].copy_from_slice(line.as_bytes());
        assert_eq!(markers_in(&data).len(), 2);
    }
}
