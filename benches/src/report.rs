//! The Markdown report: the targets with met/missed, then every figure
//! with its ratios to each peer.

use std::fmt::Write;

use crate::floor::FloorDesign;
use crate::peers::PeerKind;
use crate::procs::Rss;
use crate::results::{DrainKind, LATE_READING, QueuedRequest, Results, Scenario};
use crate::spools::SpoolContents;
use crate::stats;

pub const CONNECTIONS: [usize; 3] = [1, 8, 64];

/// One target from the issue, evaluated on this run.
pub struct ReportCheck {
    pub what: String,
    pub measured: String,
    pub goal: &'static str,
    /// `None` when the figures needed were not measured.
    pub met: Option<bool>,
}

impl ReportCheck {
    fn status(&self) -> &'static str {
        match self.met {
            Some(true) => "**met**",
            Some(false) => "**missed**",
            None => "not measured",
        }
    }
}

fn ratio(results: &Results, scenario: Scenario, connections: usize, peer: PeerKind) -> Option<f64> {
    let ours = results
        .point(scenario, connections, PeerKind::Printspoold)?
        .median();
    let theirs = results.point(scenario, connections, peer)?.median();
    (theirs > 0.0).then(|| ours / theirs)
}

/// The targets: ratios from this same run.
pub fn checks(results: &Results) -> Vec<ReportCheck> {
    let mut checks = Vec::new();
    let ratio_check = |what: &str, scenario, peer, goal, min: f64| {
        let r = ratio(results, scenario, 8, peer);
        ReportCheck {
            what: what.to_string(),
            measured: r.map_or("-".into(), |r| format!("{r:.2}x")),
            goal,
            met: r.map(|r| r >= min),
        }
    };
    checks.push(ratio_check(
        "Full Get-Printer-Attributes, 8 connections, printspoold / cupsd",
        Scenario::GpaFull,
        PeerKind::Cupsd,
        ">= 3x",
        3.0,
    ));
    checks.push(ratio_check(
        "Full Get-Printer-Attributes, 8 connections, printspoold / loopback ceiling",
        Scenario::GpaFull,
        PeerKind::Ceiling,
        ">= 0.5x",
        0.5,
    ));
    checks.push(ratio_check(
        "Durable 1 KiB Print-Job, 8 connections, printspoold / cupsd",
        Scenario::PrintSmall,
        PeerKind::Cupsd,
        ">= 2x",
        2.0,
    ));
    let cold_median = |kind| results.cold(kind).map(|c| stats::median(&c.samples_ms));
    let ours = cold_median(PeerKind::Printspoold);
    let cupsd = cold_median(PeerKind::Cupsd);
    checks.push(ReportCheck {
        what: "Cold start to first answer, printspoold median".into(),
        measured: ours.map_or("-".into(), |ms| format!("{ms:.1} ms")),
        goal: "< 20 ms",
        met: ours.map(|ms| ms < 20.0),
    });
    checks.push(ReportCheck {
        what: "Cold start to first answer, printspoold vs cupsd (medians)".into(),
        measured: match (ours, cupsd) {
            (Some(a), Some(b)) => format!("{a:.1} ms vs {b:.1} ms"),
            _ => "-".into(),
        },
        goal: "below cupsd",
        met: ours.zip(cupsd).map(|(a, b)| a < b),
    });
    let memory = results.memory(PeerKind::Printspoold);
    checks.push(ReportCheck {
        what: "Idle resident memory of printspoold after start".into(),
        measured: memory.map_or("-".into(), |m| mib(m.idle.total)),
        goal: "< 4 MiB",
        met: memory.map(|m| m.idle.total < 4 * 1024),
    });
    let growth = memory.and_then(|m| {
        let after = m.after_late.or(m.after)?;
        Some((after.total as i64 - m.idle.total as i64, m.jobs))
    });
    checks.push(ReportCheck {
        what: format!(
            "Growth of printspoold's resident memory after {} jobs, {} s after the drain",
            growth.map_or("the".into(), |(_, jobs)| thousands(jobs as f64)),
            LATE_READING.as_secs()
        ),
        measured: growth.map_or("-".into(), |(kib, _)| signed_mib(kib)),
        goal: "<= 1 MiB over idle",
        met: growth.map(|(kib, _)| kib <= 1024),
    });
    checks.extend(scale_checks(results));
    checks
}

/// The targets of issue 14 ("a spool that scales"), same-run ratios.
fn scale_checks(results: &Results) -> Vec<ReportCheck> {
    let mut checks = Vec::new();
    let times = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.2}x"));
    for (connections, min) in [(1, 2.0), (8, 5.0), (64, 5.0)] {
        let r = ratio(results, Scenario::PrintSmall, connections, PeerKind::Cupsd);
        checks.push(ReportCheck {
            what: format!(
                "Durable 1 KiB Print-Job, {connections} connection{}, printspoold / cupsd",
                if connections == 1 { "" } else { "s" }
            ),
            measured: times(r),
            goal: if connections == 1 { ">= 2x" } else { ">= 5x" },
            met: r.map(|r| r >= min),
        });
    }
    let r = floor_ratio(
        results,
        Scenario::PrintSmall,
        8,
        FloorDesign::SyncPerBatch(8),
    );
    checks.push(ReportCheck {
        what: "Durable 1 KiB Print-Job, 8 connections, printspoold / floor (1 fdatasync per batch of 8)"
            .into(),
        measured: times(r),
        goal: ">= 0.5x",
        met: r.map(|r| r >= 0.5),
    });
    let e2e = results.end_to_end.as_ref().and_then(|e| {
        let accepted = stats::median(&e.accepted_rounds);
        (accepted > 0.0).then(|| stats::median(&e.printed_rounds) / accepted)
    });
    checks.push(ReportCheck {
        what: "Printing keeps up: accepted and printed / accepted alone, 8 connections".into(),
        measured: times(e2e),
        goal: ">= 0.9x",
        met: e2e.map(|r| r >= 0.9),
    });
    let biggest = results
        .startup
        .iter()
        .filter(|s| s.contents.finished > 0 && s.contents.held > 0)
        .max_by_key(|s| (s.contents.finished, s.contents.held));
    checks.push(ReportCheck {
        what: format!(
            "Start-up to first answer with {}, cached median (uncached)",
            biggest.map_or("the largest spool".into(), |s| s.contents.label())
        ),
        measured: biggest.map_or("-".into(), |s| {
            format!(
                "{:.1} ms ({})",
                stats::median(&s.cached_ms),
                if s.uncached_ms.is_empty() {
                    "-".into()
                } else {
                    format!("{:.1} ms", stats::median(&s.uncached_ms))
                }
            )
        }),
        goal: "< 20 ms",
        met: biggest.map(|s| stats::median(&s.cached_ms) < 20.0),
    });
    let held = results.queued.iter().map(|p| p.held).max().unwrap_or(0);
    for request in QueuedRequest::ALL {
        let r = queued_ratio(results, request, held, 0);
        checks.push(ReportCheck {
            what: format!(
                "{}, 8 connections, {} held jobs / empty spool",
                request.label(),
                thousands(held as f64)
            ),
            measured: times(r),
            goal: ">= 0.9x",
            met: r.map(|r| r >= 0.9),
        });
    }
    let per_job = results
        .drains
        .iter()
        .map(|d| d.per_job_bytes())
        .max_by(f64::total_cmp);
    checks.push(ReportCheck {
        what: "Resident memory per queued (held) job, the larger of two fresh daemons".into(),
        measured: per_job.map_or("-".into(), |b| format!("{b:.0} B")),
        goal: "<= 300 B",
        met: per_job.map(|b| b <= 300.0),
    });
    let start_rss = |finished: u64| {
        results
            .startup(SpoolContents { finished, held: 0 })
            .map(|s| stats::median(&s.rss_kib))
    };
    let history = results
        .startup
        .iter()
        .filter(|s| s.contents.held == 0)
        .map(|s| s.contents.finished)
        .max()
        .unwrap_or(0);
    let history_growth = start_rss(history)
        .zip(start_rss(0))
        .filter(|_| history > 0)
        .map(|(big, empty)| big - empty);
    checks.push(ReportCheck {
        what: format!(
            "No growth per finished job: VmRSS after start with {} finished jobs over the empty spool's",
            thousands(history as f64)
        ),
        measured: history_growth.map_or("-".into(), |kib| signed_mib(kib as i64)),
        goal: "<= 1 MiB",
        met: history_growth.map(|kib| kib <= 1024.0),
    });
    for drain in [DrainKind::Printing, DrainKind::Cancelling] {
        let d = results.drain(drain);
        let growth = d.map(|d| d.after_late.total as i64 - d.idle.total as i64);
        checks.push(ReportCheck {
            what: format!(
                "VmRSS {} s after draining {} held jobs {}, over idle",
                LATE_READING.as_secs(),
                d.map_or("the".into(), |d| thousands(d.jobs as f64)),
                drain.label()
            ),
            measured: growth.map_or("-".into(), signed_mib),
            goal: "<= 1 MiB",
            met: growth.map(|kib| kib <= 1024),
        });
    }
    checks
}

/// printspoold's Print-Job rate over a floor design's, same points.
fn floor_ratio(
    results: &Results,
    scenario: Scenario,
    connections: usize,
    design: FloorDesign,
) -> Option<f64> {
    let ours = results
        .point(scenario, connections, PeerKind::Printspoold)?
        .median();
    let floor = results.floor(scenario, connections, design)?.median();
    (floor > 0.0).then(|| ours / floor)
}

/// A request's rate with `held` jobs queued over its rate with `base`.
fn queued_ratio(results: &Results, request: QueuedRequest, held: u64, base: u64) -> Option<f64> {
    let ours = results.queued(request, held)?.median();
    let theirs = results.queued(request, base)?.median();
    (theirs > 0.0 && held != base).then(|| ours / theirs)
}

pub fn markdown(results: &Results) -> String {
    let mut out = String::new();
    let meta = &results.meta;
    let _ = writeln!(out, "# printspoold benchmark: latest run\n");
    let _ = writeln!(
        out,
        "{} · {} cores · Linux {} · spools on {} · printspoold {} · CUPS {} (Debian cups-daemon, cups-ipp-utils){}.  ",
        meta.date,
        meta.cores,
        meta.kernel,
        meta.spool_fs,
        meta.printspoold,
        meta.cupsd,
        match (meta.quick, meta.scale_only) {
            (true, true) => " · **quick scale-only run**",
            (true, false) => " · **quick run**",
            (false, true) => " · **scale-only run** (no peers)",
            (false, false) => "",
        }
    );
    let _ = writeln!(
        out,
        "Each throughput figure is the median of {} rounds ({:.1} s each for Get-Printer-Attributes, {:.1} s for \
         Print-Job), the targets alternating round by round; cold start is the median of {} alternating trials; \
         the whole run took {:.0} s. Generated by `benches/` (see benches/README.md); ratios are printspoold \
         divided by the peer.\n",
        meta.rounds, meta.round_secs, meta.print_round_secs, meta.cold_trials, meta.total_secs
    );

    let _ = writeln!(out, "## Targets\n");
    let _ = writeln!(out, "| target | measured | goal | status |");
    let _ = writeln!(out, "| --- | ---: | --- | --- |");
    for check in checks(results) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            check.what,
            check.measured,
            check.goal,
            check.status()
        );
    }

    let _ = writeln!(out, "\n## Throughput (median per second)\n");
    let _ = writeln!(
        out,
        "| request | conns | printspoold | cupsd | ippeveprinter | loopback ceiling | / cupsd | / ippeveprinter | / ceiling |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for scenario in Scenario::ALL {
        for connections in CONNECTIONS {
            if PeerKind::ALL
                .iter()
                .all(|&kind| results.point(scenario, connections, kind).is_none())
            {
                continue;
            }
            let cell = |kind| {
                results
                    .point(scenario, connections, kind)
                    .map_or("-".into(), |p| {
                        let mut text = thousands(p.median());
                        if p.rejected + p.errors > 0 || p.crashes > 0 {
                            text.push_str(" ¹");
                        }
                        text
                    })
            };
            let r = |kind| {
                ratio(results, scenario, connections, kind)
                    .map_or("-".into(), |r| format!("{r:.2}x"))
            };
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
                scenario.label(),
                scenario.unit(),
                connections,
                cell(PeerKind::Printspoold),
                cell(PeerKind::Cupsd),
                cell(PeerKind::Ippeveprinter),
                cell(PeerKind::Ceiling),
                r(PeerKind::Cupsd),
                r(PeerKind::Ippeveprinter),
                r(PeerKind::Ceiling)
            );
        }
    }
    let problems: Vec<String> = results
        .throughput
        .iter()
        .filter(|p| p.rejected + p.errors > 0 || p.crashes > 0)
        .map(|p| {
            let crashes = match p.crashes {
                0 => String::new(),
                n => format!("; the server died {n} time(s) and was restarted"),
            };
            format!(
                "{} {} at {} connection{}: {} answered with an IPP error, {} failed ({}){crashes}",
                p.kind,
                p.scenario.label(),
                p.connections,
                if p.connections == 1 { "" } else { "s" },
                p.rejected,
                p.errors,
                p.first_problem.as_deref().unwrap_or("-")
            )
        })
        .collect();
    if !problems.is_empty() {
        let _ = writeln!(
            out,
            "\n¹ Only successful answers are counted. Refused or failed requests over all rounds:\n"
        );
        for problem in problems {
            let _ = writeln!(out, "- {problem}");
        }
    }

    if !results.cold.is_empty() {
        let _ = writeln!(
            out,
            "\n## Cold start to first answer (socket held, service stopped)\n"
        );
        let _ = writeln!(out, "| daemon | median | p10 | p90 | min | max | trials |");
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    }
    for cold in &results.cold {
        let s = &cold.samples_ms;
        let max = s.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} |",
            cold.kind,
            stats::median(s),
            stats::percentile(s, 10.0),
            stats::percentile(s, 90.0),
            stats::percentile(s, 0.0),
            max,
            s.len()
        );
    }

    if !results.memory.is_empty() {
        let _ = writeln!(out, "\n## Resident memory (VmRSS)\n");
        let _ = writeln!(
            out,
            "| daemon | idle after start | of which anon / file | idle PSS | 1 s after the job load | of which anon / file | growth | {} s after | growth | jobs accepted | jobs/s (8 conns) |",
            LATE_READING.as_secs()
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        );
    }
    for memory in &results.memory {
        let split = |rss: Rss| format!("{} / {}", mib(rss.anon), mib(rss.file));
        let after = memory.after.map_or("-".into(), |rss| {
            let mut text = mib(rss.total);
            if !memory.drained {
                text.push_str(" (queue not yet empty)");
            }
            text
        });
        let growth = |after: Option<Rss>| {
            after.map_or("-".into(), |rss| {
                signed_mib(rss.total as i64 - memory.idle.total as i64)
            })
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            memory.kind,
            mib(memory.idle.total),
            split(memory.idle),
            mib(memory.idle.pss),
            after,
            memory.after.map_or("-".into(), split),
            growth(memory.after),
            memory.after_late.map_or("-".into(), |rss| mib(rss.total)),
            growth(memory.after_late),
            if memory.jobs > 0 {
                thousands(memory.jobs as f64)
            } else {
                "-".into()
            },
            if memory.jobs > 0 {
                thousands(memory.jobs_per_sec)
            } else {
                "-".into()
            },
        );
    }

    scale_sections(results, &mut out);

    if !results.answers.is_empty() {
        let _ = writeln!(
            out,
            "\n## Get-Printer-Attributes answer sizes (IPP bytes)\n"
        );
        let _ = writeln!(out, "| server | full | printer-state |");
        let _ = writeln!(out, "| --- | ---: | ---: |");
        for answer in &results.answers {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                answer.kind,
                thousands(answer.full as f64),
                thousands(answer.state as f64)
            );
        }
    }

    if !results.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for note in &results.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// The floor, start-up, queued requests, drains and printing against
/// acceptance (issue 14), each where measured.
fn scale_sections(results: &Results, out: &mut String) {
    if !results.floor.is_empty() {
        floor_section(results, out);
    }
    if !results.startup.is_empty() {
        startup_section(results, out);
    }
    if !results.queued.is_empty() {
        queued_section(results, out);
    }
    if !results.drains.is_empty() {
        drains_section(results, out);
    }
    if let Some(e2e) = &results.end_to_end {
        let printed = stats::median(&e2e.printed_rounds);
        let accepted = stats::median(&e2e.accepted_rounds);
        let _ = writeln!(
            out,
            "\n## Printing keeps up ({} connections)\n",
            e2e.connections
        );
        let _ = writeln!(
            out,
            "{} jobs of 1 KiB per round on a fresh printspoold, {} rounds each, alternating: jobs/s from the \
             first request until the queue was found empty, against the same jobs submitted held \
             (`job-hold-until=indefinite`) until the last answer.\n",
            thousands(e2e.jobs as f64),
            e2e.printed_rounds.len()
        );
        let _ = writeln!(
            out,
            "| accepted and printed | accepted alone (held) | ratio |"
        );
        let _ = writeln!(out, "| ---: | ---: | ---: |");
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            thousands(printed),
            thousands(accepted),
            if accepted > 0.0 {
                format!("{:.2}x", printed / accepted)
            } else {
                "-".into()
            }
        );
    }
}

fn floor_section(results: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "\n## Durable Print-Job against the physical floor (jobs/s, same file system, same rounds)\n"
    );
    let _ = writeln!(
        out,
        "| request | conns | printspoold | 1 fdatasync per job | 1 fdatasync per batch | today's design | / per job | / per batch | / today's design |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for scenario in Scenario::ALL.into_iter().filter(|s| s.is_print()) {
        for connections in CONNECTIONS {
            let ours = results.point(scenario, connections, PeerKind::Printspoold);
            let designs = [
                FloorDesign::SyncPerJob,
                if connections == 1 {
                    FloorDesign::SyncPerJob
                } else {
                    FloorDesign::SyncPerBatch(connections)
                },
                FloorDesign::Today(connections),
            ];
            if ours.is_none()
                && designs
                    .iter()
                    .all(|d| results.floor(scenario, connections, *d).is_none())
            {
                continue;
            }
            let cell = |d| {
                results
                    .floor(scenario, connections, d)
                    .map_or("-".into(), |f| thousands(f.median()))
            };
            let r = |d| {
                floor_ratio(results, scenario, connections, d)
                    .map_or("-".into(), |r| format!("{r:.2}x"))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                scenario.label(),
                connections,
                ours.map_or("-".into(), |p| thousands(p.median())),
                cell(designs[0]),
                cell(designs[1]),
                cell(designs[2]),
                r(designs[0]),
                r(designs[1]),
                r(designs[2])
            );
        }
    }
    let _ = writeln!(
        out,
        "\nThe floor is `printspool-bench floor` (benches/src/floor.rs), a child process run in the daemon's file \
         system as one more entry of every Print-Job round: records of the document's size appended to a \
         preallocated, zero-filled file, one fdatasync per job or per batch of as many jobs as connections; and \
         today's design (document file + fdatasync, record file + fdatasync, two renames, a directory fsync per \
         job) with as many writers as connections. At 1 connection the batch is one job."
    );
}

fn startup_section(results: &Results, out: &mut String) {
    let _ = writeln!(
        out,
        "\n## Start-up against spool contents (process start to the first full Get-Printer-Attributes answer)\n"
    );
    let _ = writeln!(
        out,
        "| spool | cached median | p10 | p90 | uncached median | VmRSS after start | queued-job-count | starts (cached / uncached) |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for point in &results.startup {
        let s = &point.cached_ms;
        let _ = writeln!(
            out,
            "| {} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} | {} | {} / {} |",
            point.contents.label(),
            stats::median(s),
            stats::percentile(s, 10.0),
            stats::percentile(s, 90.0),
            if point.uncached_ms.is_empty() {
                "-".into()
            } else {
                format!("{:.1} ms", stats::median(&point.uncached_ms))
            },
            mib(stats::median(&point.rss_kib) as u64),
            point.queued.map_or("-".into(), |q| q.to_string()),
            s.len(),
            point.uncached_ms.len()
        );
    }
    let _ = writeln!(
        out,
        "\nEach start is socket-activated (`systemd-socket-activate`, as in the cold start above) on a fresh \
         `cp -a` of a spool built once through IPP; the copy is synced before the clock starts. Uncached: after \
         `sync` and `echo 3 > /proc/sys/vm/drop_caches` (the daemon's binary and libraries are dropped too)."
    );
    if let Some(note) = &results.uncached_note {
        let _ = writeln!(out, "\n{note}.");
    }
    if !results.spool_builds.is_empty() {
        let _ = writeln!(out, "\nHow the spools were built (32 connections):\n");
        for build in &results.spool_builds {
            let _ = writeln!(
                out,
                "- {}: {}{}",
                build.contents.label(),
                build.describe(),
                if build.cached {
                    " (taken from the spool cache; figures from when it was built)"
                } else {
                    ""
                }
            );
        }
    }
}

fn queued_section(results: &Results, out: &mut String) {
    let mut counts: Vec<u64> = results.queued.iter().map(|p| p.held).collect();
    counts.sort_unstable();
    counts.dedup();
    let held = counts.last().copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "\n## Requests with held jobs queued (per second, {} connections, alternating rounds)\n",
        results.queued.first().map_or(8, |p| p.connections)
    );
    let header: Vec<String> = counts
        .iter()
        .map(|c| match c {
            0 => "empty spool".to_string(),
            c => format!("{} held", count(*c)),
        })
        .collect();
    let _ = writeln!(
        out,
        "| request | {} | {} / empty | {} / 10 held |",
        header.join(" | "),
        count(held),
        count(held)
    );
    let _ = writeln!(
        out,
        "| --- |{} ---: | ---: |",
        " ---: |".repeat(counts.len())
    );
    for request in QueuedRequest::ALL {
        let cells: Vec<String> = counts
            .iter()
            .map(|&c| {
                results.queued(request, c).map_or("-".into(), |p| {
                    let mut text = thousands(p.median());
                    if p.failed > 0 {
                        text.push_str(&format!(" ({} failed)", p.failed));
                    }
                    text
                })
            })
            .collect();
        let r = |base| {
            queued_ratio(results, request, held, base).map_or("-".into(), |r| format!("{r:.2}x"))
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            request.label(),
            cells.join(" | "),
            r(0),
            r(10)
        );
    }
    let _ = writeln!(
        out,
        "\nGet-Jobs lists the printer's not-completed jobs: none on the empty spool, ten otherwise, so the \
         10-held column gives the same answer as the largest and isolates the cost of the queue's length."
    );
}

fn drains_section(results: &Results, out: &mut String) {
    let late = LATE_READING.as_secs();
    let _ = writeln!(
        out,
        "\n## Memory per queued job, and after a drain (VmRSS, fresh printspoold each)\n"
    );
    let _ = writeln!(
        out,
        "| drained | idle | held jobs | with them queued | per queued job | drain took | 1 s after | {late} s after | {late} s after, over idle |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for d in &results.drains {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} B | {:.1} s{} | {} | {} | {} |",
            d.drain.label(),
            mib(d.idle.total),
            thousands(d.jobs as f64),
            mib(d.queued.total),
            d.per_job_bytes(),
            d.drain_secs,
            if d.drained { "" } else { " (not empty)" },
            mib(d.after_early.total),
            mib(d.after_late.total),
            signed_mib(d.after_late.total as i64 - d.idle.total as i64)
        );
    }
}

/// A count of things: `10`, `10,000`.
pub fn count(n: u64) -> String {
    if n < 100 {
        n.to_string()
    } else {
        thousands(n as f64)
    }
}

/// `12,345` above 100, one decimal below.
pub fn thousands(value: f64) -> String {
    if value < 100.0 {
        return format!("{value:.1}");
    }
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn mib(kib: u64) -> String {
    format!("{:.2} MiB", kib as f64 / 1024.0)
}

fn signed_mib(kib: i64) -> String {
    format!("{:+.2} MiB", kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::procs::Rss;
    use crate::results::{ColdStart, Memory, Throughput};

    /// Every row of every table has as many cells as its header.
    #[test]
    fn tables_are_well_formed() {
        let mut results = Results::default();
        for scenario in Scenario::ALL {
            for connections in CONNECTIONS {
                for kind in PeerKind::ALL {
                    results.throughput.push(Throughput {
                        scenario,
                        connections,
                        kind,
                        rounds: vec![100.0, 200.0, 300.0],
                        rejected: u64::from(kind == PeerKind::Ippeveprinter),
                        errors: 0,
                        crashes: 0,
                        first_problem: None,
                    });
                }
            }
        }
        results.cold.push(ColdStart {
            kind: PeerKind::Printspoold,
            samples_ms: vec![5.0, 6.0, 7.0],
        });
        let rss = Rss {
            total: 5000,
            anon: 600,
            file: 4400,
            pss: 3500,
        };
        results.memory.push(Memory {
            kind: PeerKind::Printspoold,
            idle: rss,
            after: Some(rss),
            jobs: 10_000,
            jobs_per_sec: 500.0,
            drained: true,
            after_late: Some(rss),
        });
        add_scale_results(&mut results, rss);
        let text = markdown(&results);
        let mut expected = None;
        for line in text.lines() {
            if !line.starts_with('|') {
                expected = None;
                continue;
            }
            let cells = line.matches('|').count();
            match expected {
                None => expected = Some(cells),
                Some(n) => assert_eq!(cells, n, "row {line:?}"),
            }
        }
        assert!(text.contains("| 10,000 |"));
        assert!(text.contains("| 10 held |"));
        assert!(text.contains("| 50,000 finished + 10,000 held jobs |"));
        let met = |what: &str| {
            checks(&results)
                .into_iter()
                .find(|c| c.what.contains(what))
                .and_then(|c| c.met)
        };
        // The same RSS idle and queued: 0 bytes per queued job.
        assert_eq!(met("per queued"), Some(true));
        assert_eq!(met("floor (1 fdatasync per batch of 8)"), Some(true));
        assert_eq!(met("Printing keeps up"), Some(false));
    }

    /// Every scale figure, so that their tables are checked too.
    fn add_scale_results(results: &mut Results, rss: Rss) {
        use crate::results::{
            DrainMemory, EndToEnd, FloorPoint, QueuedPoint, SpoolBuild, StartupPoint,
        };
        use crate::spools::SpoolContents;
        for scenario in [Scenario::PrintSmall, Scenario::PrintLarge] {
            for connections in CONNECTIONS {
                for design in FloorDesign::for_connections(connections) {
                    results.floor.push(FloorPoint {
                        scenario,
                        connections,
                        design,
                        rounds: vec![150.0, 250.0],
                    });
                }
            }
        }
        for (finished, held) in [(0, 0), (50_000, 0), (0, 10_000), (50_000, 10_000)] {
            let contents = SpoolContents { finished, held };
            results.startup.push(StartupPoint {
                contents,
                cached_ms: vec![4.0, 5.0],
                uncached_ms: Vec::new(),
                rss_kib: vec![5000.0],
                queued: Some(held as i32),
            });
            results.spool_builds.push(SpoolBuild {
                contents,
                added: finished,
                accept_secs: 10.0,
                drain_secs: 20.0,
                cached: true,
            });
        }
        for request in QueuedRequest::ALL {
            for held in [0, 10, 10_000] {
                results.queued.push(QueuedPoint {
                    request,
                    held,
                    connections: 8,
                    rounds: vec![1000.0],
                    failed: 0,
                });
            }
        }
        for drain in [DrainKind::Printing, DrainKind::Cancelling] {
            results.drains.push(DrainMemory {
                drain,
                jobs: 10_000,
                idle: rss,
                queued: rss,
                after_early: rss,
                after_late: rss,
                drain_secs: 3.0,
                drained: true,
            });
        }
        results.end_to_end = Some(EndToEnd {
            jobs: 3000,
            connections: 8,
            printed_rounds: vec![100.0],
            accepted_rounds: vec![1000.0],
        });
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(12345.4), "12,345");
        assert_eq!(thousands(999.6), "1,000");
        assert_eq!(thousands(42.0), "42.0");
        assert_eq!(mib(4096), "4.00 MiB");
        assert_eq!(signed_mib(-512), "-0.50 MiB");
    }
}
