//! README.md is a teaching tour, and a tour that points at lines that are
//! gone teaches the wrong thing. These checks keep it honest:
//!
//! - every "Files and lines" entry names a file that exists and text that is
//!   in it (whitespace runs compared as one space);
//! - every shell block of the activation tour is marked `<!-- tour: nspawn -->`
//!   or `<!-- tour: vm -->`, so tests/nspawn/cases/10-readme-tour.sh or the
//!   VM test runs it: no "try it" command can escape being run.

use std::fs;
use std::path::Path;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn readme() -> String {
    fs::read_to_string(Path::new(REPO).join("README.md")).unwrap()
}

/// The tour: from "## The activation paths" to the next "## " heading.
fn tour(readme: &str) -> &str {
    let start = readme
        .find("\n## The activation paths")
        .expect("README.md has no '## The activation paths' section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// "- `FILE`: `TEXT` and `TEXT` (free words)": the file and its quoted texts.
fn parse_entry(line: &str) -> Option<(String, Vec<String>)> {
    let rest = line.strip_prefix("- `")?;
    let (file, rest) = rest.split_once("`: ")?;
    let mut quotes = Vec::new();
    let mut rest = rest;
    while let Some(after) = rest.strip_prefix('`') {
        let (quote, tail) = after.split_once('`')?;
        quotes.push(quote.to_string());
        match tail.strip_prefix(" and ") {
            Some(next) => rest = next,
            None => break,
        }
    }
    (!quotes.is_empty()).then(|| (file.to_string(), quotes))
}

fn entries(tour: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut in_list = false;
    for line in tour.lines() {
        if line == "Files and lines:" {
            in_list = true;
        } else if in_list && line.starts_with("- ") {
            out.push(
                parse_entry(line).unwrap_or_else(|| panic!("not '- `FILE`: `TEXT`...': {line}")),
            );
        } else if in_list && !line.is_empty() {
            in_list = false;
        }
    }
    out
}

#[test]
fn every_named_file_and_line_exists() {
    let readme = readme();
    let entries = entries(tour(&readme));
    assert!(
        entries.len() >= 20,
        "only {} 'Files and lines' entries found",
        entries.len()
    );
    let mut missing = Vec::new();
    for (file, quotes) in &entries {
        let Ok(text) = fs::read_to_string(Path::new(REPO).join(file)) else {
            missing.push(format!("{file}: no such file"));
            continue;
        };
        let text = squeeze(&text);
        for quote in quotes {
            if !text.contains(&squeeze(quote)) {
                missing.push(format!("{file}: no `{quote}`"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "README.md points at:\n{}",
        missing.join("\n")
    );
}

#[test]
fn every_try_it_block_is_run_by_a_test() {
    let readme = readme();
    let tour = tour(&readme);
    let lines: Vec<&str> = tour.lines().collect();
    let mut marked = 0;
    for (i, line) in lines.iter().enumerate() {
        if *line != "```sh" {
            continue;
        }
        let marker = lines[..i].iter().rev().find(|l| !l.trim().is_empty());
        match marker {
            Some(&"<!-- tour: nspawn -->") | Some(&"<!-- tour: vm -->") => marked += 1,
            other => panic!(
                "a shell block of the tour (line {} of the section) is not run by any test: \
                 mark it <!-- tour: nspawn --> or <!-- tour: vm --> (found {other:?})",
                i + 1
            ),
        }
    }
    // Socket, D-Bus, path, device, timer, new-style/SysV.
    assert_eq!(marked, 6, "one try-it block per activation path");
    for case in ["tests/nspawn/cases/10-readme-tour.sh", "tests/vm/in-vm.sh"] {
        let text = fs::read_to_string(Path::new(REPO).join(case)).unwrap();
        assert!(
            text.contains("tour: "),
            "{case} does not run the README's tour blocks"
        );
    }
}
