//! README.md is a teaching tour, and a tour that points at lines that are
//! gone teaches the wrong thing. These checks keep it honest:
//!
//! - every "Files and lines" entry names a file that exists and text that is
//!   in it (whitespace runs compared as one space);
//! - every shell block of the activation tour is marked `<!-- tour: nspawn -->`
//!   or `<!-- tour: vm -->`, so tests/nspawn/cases/10-readme-tour.sh or the
//!   VM test runs it: no "try it" command can escape being run;
//! - every daemon(7) item cited by number ("New-style 9", "SysV step 12",
//!   "recommendation 6", "porting advice 2", "Unit files 3") in the READMEs
//!   and in the code's comments is the item the text around it speaks of,
//!   read from `../shared/reference/daemon.7.txt`;
//! - every repository path in backticks in README.md's daemon(7) section and
//!   in the READMEs next to the installed files exists, and every function
//!   (`name`, `Type::method`) named next to one is defined in it.

use std::fs;
use std::path::{Path, PathBuf};

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

// ---------------------------------------------------------------------------
// daemon(7) citations

/// The READMEs that explain the installed files and the system tests.
const GUIDES: &[&str] = &[
    "systemd/README.md",
    "dbus/README.md",
    "udev/README.md",
    "packaging/README.md",
    "tests/nspawn/README.md",
    "tests/vm/README.md",
];

/// daemon(7) as the project cites it (systemd 239's text), kept next to the
/// repository rather than in it.
const DAEMON7: &str = "../shared/reference/daemon.7.txt";

/// The numbered lists of daemon(7) a citation can point into.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Daemon7List {
    SysV,
    NewStyle,
    UnitFiles,
    Porting,
}

impl Daemon7List {
    /// The heading in daemon(7) that the list follows.
    fn heading(self) -> &'static str {
        match self {
            SysV => "SysV Daemons",
            NewStyle => "New-Style Daemons",
            UnitFiles => "Writing systemd Unit Files",
            Porting => "PORTING EXISTING DAEMONS",
        }
    }
}

use Daemon7List::{NewStyle, Porting, SysV, UnitFiles};

/// How a citation starts, lower-cased, and the list it points into. Longer
/// forms first; a bare "recommendation N" is a new-style one (the SysV
/// ones are steps).
const CITATION_FORMS: &[(&str, Daemon7List)] = &[
    ("new-style recommendation ", NewStyle),
    ("new-style ", NewStyle),
    ("recommendation ", NewStyle),
    ("sysv steps ", SysV),
    ("sysv step ", SysV),
    ("sysv ", SysV),
    ("porting advice ", Porting),
    ("porting steps ", Porting),
    ("porting step ", Porting),
    ("porting ", Porting),
    ("unit files ", UnitFiles),
];

/// One item of a daemon(7) list: words its text contains (lower-case,
/// checked against the man page), and words of which a citation of it must
/// use at least one nearby (the man page's own words or ours for the same
/// thing).
struct Daemon7Item {
    list: Daemon7List,
    number: usize,
    man_says: &'static str,
    we_say: &'static [&'static str],
}

const fn item(
    list: Daemon7List,
    number: usize,
    man_says: &'static str,
    we_say: &'static [&'static str],
) -> Daemon7Item {
    Daemon7Item {
        list,
        number,
        man_says,
        we_say,
    }
}

#[rustfmt::skip]
const ITEMS: &[Daemon7Item] = &[
    item(SysV, 1, "close all open file descriptors", &["fd", "descriptor"]),
    item(SysV, 2, "signal handlers", &["signal handler"]),
    item(SysV, 3, "signal mask", &["signal mask", "sigprocmask"]),
    item(SysV, 4, "environment", &["environment"]),
    item(SysV, 5, "fork()", &["fork"]),
    item(SysV, 6, "setsid()", &["setsid", "session", "terminal"]),
    item(SysV, 7, "fork() again", &["fork"]),
    item(SysV, 8, "exit() in the first child", &["exit", "child"]),
    item(SysV, 9, "/dev/null", &["/dev/null"]),
    item(SysV, 10, "umask", &["umask"]),
    item(SysV, 11, "root directory", &["chdir", "root directory"]),
    item(SysV, 12, "pid file", &["pid file"]),
    item(SysV, 13, "drop privileges", &["privilege"]),
    item(SysV, 14, "notify the original process", &["pipe", "original process", "report"]),
    item(SysV, 15, "exit() in the original process", &["exit", "original process"]),
    item(NewStyle, 1, "sigterm", &["sigterm"]),
    item(NewStyle, 2, "sighup", &["sighup", "reload"]),
    item(NewStyle, 3, "exit code", &["exit"]),
    item(NewStyle, 4, "bus name", &["d-bus", "dbus", "bus name", "the name", "well-known name"]),
    item(NewStyle, 5, ".service unit file", &[".service", "unit"]),
    item(NewStyle, 6, "privilege dropping", &["privilege", "limit", "service manager"]),
    item(NewStyle, 7, "bus-activatable", &["bus activation", "bus-activat"]),
    item(NewStyle, 8, "socket-activatable", &["socket"]),
    item(NewStyle, 9, "sd_notify", &["sd_notify", "ready=1", "watchdog=1", "status="]),
    item(NewStyle, 10, "standard error", &["stderr", "standard error", "syslog"]),
    item(UnitFiles, 1, "type=forking", &["type=forking"]),
    item(UnitFiles, 2, "type=dbus", &["type=dbus"]),
    item(UnitFiles, 3, "description=", &["description="]),
    item(UnitFiles, 4, "defaultdependencies=", &["defaultdependencies="]),
    item(UnitFiles, 5, "dependencies", &["dependencies"]),
    item(UnitFiles, 6, "[install]", &["[install]"]),
    item(Porting, 1, "command line switch", &["switch", "--daemon"]),
    item(Porting, 2, "passed sockets", &["passed", "listen_fds"]),
    item(Porting, 3, "unit file", &["unit"]),
    item(Porting, 4, "d-bus activation file", &["d-bus"]),
];

/// A range wider than this cites the list as a whole ("steps 1-15"), not
/// its items one by one.
const WIDEST_ITEM_BY_ITEM_RANGE: usize = 4;

fn daemon7() -> String {
    let path = Path::new(REPO).join(DAEMON7);
    fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The daemon(7) text the READMEs cite is read from {DAEMON7}, \
             next to the repository (CI has it); it is not copied into the repository",
            path.display()
        )
    })
}

/// "12. In the daemon process, ...": the number and the text.
fn list_item_start(line: &str) -> Option<(usize, &str)> {
    let (number, text) = line.trim_start().split_once(". ")?;
    Some((number.parse().ok()?, text))
}

/// The numbered list that follows `list`'s heading, each item's lines
/// joined and lower-cased: item N is at index N - 1.
fn numbered_list(man: &str, list: Daemon7List) -> Vec<String> {
    let mut items: Vec<String> = Vec::new();
    let after_heading = man
        .lines()
        .skip_while(|line| line.trim() != list.heading())
        .skip(1);
    for line in after_heading {
        let indent = line.len() - line.trim_start().len();
        match list_item_start(line) {
            Some((number, text)) if number == items.len() + 1 => {
                items.push(text.to_lowercase());
            }
            // Item text goes on at a deeper indent than the list's numbers.
            _ if !items.is_empty() && indent >= 10 => {
                let last = items.last_mut().unwrap();
                last.push(' ');
                last.push_str(&line.trim().to_lowercase());
            }
            _ if !items.is_empty() => break,
            _ => {}
        }
    }
    items
}

/// "9", "5-8", "14 and 15" at the start of `text`: the items cited. Not
/// a count ("the SysV 15 steps").
fn cited_numbers(text: &str) -> Option<Vec<usize>> {
    let digits = |s: &str| {
        s.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
    };
    let first = digits(text);
    let from: usize = first.parse().ok()?;
    let rest = &text[first.len()..];
    if rest.starts_with(" step") {
        return None;
    }
    let to = ["-", "–", " and "]
        .iter()
        .find_map(|joint| rest.strip_prefix(joint))
        .and_then(|after| digits(after).parse::<usize>().ok())
        .unwrap_or(from);
    Some((from..=to.max(from)).collect())
}

/// Every daemon(7) citation in `line`: the list and the items cited.
fn citations(line: &str) -> Vec<(Daemon7List, Vec<usize>)> {
    let lower = line.to_lowercase();
    let mut found = Vec::new();
    let mut at = 0;
    while at < lower.len() {
        let starts_word = lower[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric() && c != '-');
        let cited = CITATION_FORMS.iter().find_map(|(form, list)| {
            let rest = lower[at..].strip_prefix(form)?;
            Some((*list, cited_numbers(rest)?, form.len()))
        });
        match cited {
            Some((list, numbers, skip)) if starts_word => {
                found.push((list, numbers));
                at += skip;
            }
            _ => at += lower[at..].chars().next().map_or(1, char::len_utf8),
        }
    }
    found
}

/// Splits a table row into its cells, minding `|` inside code spans.
fn table_cells(line: &str) -> Vec<&str> {
    let mut cells = Vec::new();
    let mut in_code = false;
    let mut start = 0;
    for (i, c) in line.char_indices() {
        match c {
            '`' => in_code = !in_code,
            '|' if !in_code => {
                cells.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    cells.push(&line[start..]);
    cells
}

/// The pieces of `lines[i]` a reference is read in, each with the text
/// around it: a table row's cells one by one, each on its own; a line of
/// prose with the lines before and after it, since prose wraps.
fn segments(lines: &[&str], i: usize) -> Vec<(String, String)> {
    let line = lines[i];
    if line.trim_start().starts_with('|') {
        return table_cells(line)
            .into_iter()
            .map(|cell| (cell.to_string(), cell.to_string()))
            .collect();
    }
    let around = lines[i.saturating_sub(1)..(i + 2).min(lines.len())].join(" ");
    vec![(line.to_string(), around)]
}

/// Text files whose daemon(7) citations are checked: README.md, the
/// guides, the manual page and every Rust source.
fn citing_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["README.md", "man/printspoold.man"]
        .iter()
        .chain(GUIDES)
        .map(|f| Path::new(REPO).join(f))
        .collect();
    for dir in ["src", "crates", "tests"] {
        rust_files(&Path::new(REPO).join(dir), &mut files);
    }
    files
}

fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(REPO)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn every_daemon7_item_is_described_as_the_man_page_says() {
    let man = daemon7();
    for list in [SysV, NewStyle, UnitFiles, Porting] {
        let items = numbered_list(&man, list);
        let ours: Vec<&Daemon7Item> = ITEMS.iter().filter(|i| i.list == list).collect();
        assert_eq!(
            ours.len(),
            items.len(),
            "daemon(7) \"{}\" has {} items; this test describes {}",
            list.heading(),
            items.len(),
            ours.len()
        );
        for (index, item) in ours.iter().enumerate() {
            assert_eq!(item.number, index + 1, "{list:?} items out of order");
            assert!(
                items[index].contains(item.man_says),
                "daemon(7) \"{}\" item {} does not say \"{}\": {}",
                list.heading(),
                item.number,
                item.man_says,
                items[index]
            );
        }
    }
}

/// What is wrong with citing `numbers` of `list` in the passage `around`,
/// if anything. A range is one thing ("steps 5-8: fork, setsid, fork
/// again, exit"): the passage must speak of at least one of its items.
fn citation_error(
    lists: &[(Daemon7List, Vec<String>)],
    list: Daemon7List,
    numbers: &[usize],
    around: &str,
) -> Option<String> {
    let items = &lists.iter().find(|(l, _)| *l == list)?.1;
    let heading = list.heading();
    if let Some(n) = numbers.iter().find(|n| **n == 0 || **n > items.len()) {
        return Some(format!("daemon(7) \"{heading}\" has no item {n}"));
    }
    if numbers.len() > WIDEST_ITEM_BY_ITEM_RANGE {
        return None;
    }
    let around = around.to_lowercase();
    let described = ITEMS
        .iter()
        .filter(|i| i.list == list && numbers.contains(&i.number))
        .any(|i| i.we_say.iter().any(|word| around.contains(word)));
    if described {
        return None;
    }
    let what: Vec<String> = numbers
        .iter()
        .map(|n| format!("item {n}: \"{}...\"", prefix(&items[n - 1], 90)))
        .collect();
    Some(format!(
        "cites daemon(7) \"{heading}\" {numbers:?}, but the text around it speaks of \
         something else; {}",
        what.join("; ")
    ))
}

fn prefix(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

#[test]
fn every_daemon7_citation_names_the_item_it_describes() {
    let man = daemon7();
    let lists: Vec<(Daemon7List, Vec<String>)> = [SysV, NewStyle, UnitFiles, Porting]
        .into_iter()
        .map(|list| (list, numbered_list(&man, list)))
        .collect();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for file in citing_files() {
        // This file's own docs show the forms, not citations.
        if file.ends_with("tests/readme.rs") {
            continue;
        }
        let text = fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..lines.len() {
            for (segment, around) in segments(&lines, i) {
                for (list, numbers) in citations(&segment) {
                    checked += 1;
                    if let Some(error) = citation_error(&lists, list, &numbers, &around) {
                        wrong.push(format!("{}:{}: {error}", relative(&file), i + 1));
                    }
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} daemon(7) citations found");
    assert!(
        wrong.is_empty(),
        "daemon(7) citations that do not match daemon(7) ({DAEMON7}):\n{}",
        wrong.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Files and functions named in the daemon(7) section and the guides

/// Paths the guides name that are not files of this repository: one in
/// systemd's source tree, one the Debian package does without, one the
/// pattern of a new nspawn case.
const NOT_OURS: &[&str] = &[
    "src/rpm/macros.systemd.in",
    "debian/compat",
    "cases/NN-name.sh",
];

/// A text whose code references are checked: its file, the number of its
/// first line in that file, and its lines.
struct Passage {
    file: String,
    first_line: usize,
    text: String,
}

/// README.md's "daemon(7), recommendation by recommendation" section, and
/// each guide whole.
fn passages() -> Vec<Passage> {
    let readme = readme();
    let start = readme
        .find("\n## daemon(7), recommendation by recommendation")
        .expect("README.md has no '## daemon(7), recommendation by recommendation' section")
        + 1;
    let rest = &readme[start..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    let mut passages = vec![Passage {
        file: "README.md".to_string(),
        first_line: readme[..start].lines().count() + 1,
        text: rest[..end].to_string(),
    }];
    for guide in GUIDES {
        passages.push(Passage {
            file: guide.to_string(),
            first_line: 1,
            text: fs::read_to_string(Path::new(REPO).join(guide)).unwrap(),
        });
    }
    passages
}

/// A code span as a reference: a path in the repository, or a function.
#[derive(Debug)]
enum CodeRef {
    /// As written, and where it points.
    Path(String, PathBuf),
    /// `name`, or `Type::name` with the type.
    Function(Option<String>, String),
}

/// `span` as a path of this repository: it has a `/`, no spaces, and its
/// first component exists at the top of the repository or, for a guide's
/// own files (`debian/rules`), next to the guide.
fn as_repo_path(span: &str, guide_dir: &Path) -> Option<PathBuf> {
    let looks_like_path = span.contains('/')
        && !span.contains(char::is_whitespace)
        && !span.contains(['=', '{', '$', '%', '<', ':'])
        && !span.starts_with(['/', '.', '~']);
    if !looks_like_path || NOT_OURS.contains(&span) {
        return None;
    }
    let first = span.split('/').next()?;
    [
        Path::new(REPO).to_path_buf(),
        Path::new(REPO).join(guide_dir),
    ]
    .into_iter()
    .find(|base| base.join(first).exists())
    .map(|base| base.join(span))
}

/// `span` as a function: `snake_case`, `Type::snake_case`, either with `()`.
fn as_function(span: &str) -> Option<CodeRef> {
    let span = span.strip_suffix("()").unwrap_or(span);
    let is_snake = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let is_type = |s: &str| {
        s.starts_with(|c: char| c.is_ascii_uppercase())
            && s.chars().all(|c| c.is_ascii_alphanumeric())
    };
    match span.split_once("::") {
        Some((ty, name)) if is_type(ty) && is_snake(name) => {
            Some(CodeRef::Function(Some(ty.to_string()), name.to_string()))
        }
        None if is_snake(span) => Some(CodeRef::Function(None, span.to_string())),
        _ => None,
    }
}

fn as_code_ref(span: &str, guide_dir: &Path) -> Option<CodeRef> {
    match as_repo_path(span, guide_dir) {
        Some(path) => Some(CodeRef::Path(span.to_string(), path)),
        None => as_function(span),
    }
}

/// The references of `segment` in runs of code spans that follow each
/// other with at most a comma, colon, bracket or "and" between them
/// (`src/daemon.rs` `main_loop` and `serve`): a function is named next to a
/// file only within such a run.
fn reference_runs(segment: &str, guide_dir: &Path) -> Vec<Vec<CodeRef>> {
    let mut runs = vec![Vec::new()];
    // Split on backticks: code spans at the odd places, the text between
    // them at the even ones.
    for (k, piece) in segment.split('`').enumerate() {
        let joins = matches!(
            piece.trim(),
            "" | "," | ":" | ";" | "(" | ")," | "and" | ", and"
        );
        let current = runs.last_mut().unwrap();
        if k % 2 == 0 {
            if !joins && !current.is_empty() {
                runs.push(Vec::new());
            }
        } else {
            match as_code_ref(piece, guide_dir) {
                Some(code_ref) => current.push(code_ref),
                None if !current.is_empty() => runs.push(Vec::new()),
                None => {}
            }
        }
    }
    runs
}

/// Whether `path` exists; a `*` in its last component matches any run of
/// characters (`systemd/printspoold*.socket`).
fn path_exists(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy().to_string());
    let (Some(name), Some(dir)) = (name, path.parent()) else {
        return path.exists();
    };
    let Some((head, tail)) = name.split_once('*') else {
        return path.exists();
    };
    fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let entry = e.file_name().to_string_lossy().to_string();
            entry.len() >= head.len() + tail.len()
                && entry.starts_with(head)
                && entry.ends_with(tail)
        })
    })
}

/// The Rust files a function named next to `path` may be defined in: the
/// file, or every one under the directory. Functions named next to other
/// files (a tool next to `debian/control`) are not checked.
fn rust_files_at(path: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if path.is_dir() {
        rust_files(path, &mut files);
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        files.push(path.to_path_buf());
    }
    files
}

/// Whether `text` defines `name`: a `fn`, a field or a constant. With a
/// type, the `fn` must sit in a file with an `impl` of that type.
fn defines(text: &str, ty: Option<&str>, name: &str) -> bool {
    let defines_name = text.lines().map(str::trim_start).any(|line| {
        let line = line
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ")
            .trim_start_matches("pub ");
        line.contains(&format!("fn {name}("))
            || line.contains(&format!("fn {name}<"))
            || line.starts_with(&format!("{name}:"))
            || line.starts_with(&format!("const {name}:"))
            || line.starts_with(&format!("static {name}:"))
    });
    let has_impl = |ty: &str| {
        text.lines().map(str::trim_start).any(|l| {
            l.starts_with("impl") && l.split(|c: char| !c.is_alphanumeric()).any(|w| w == ty)
        })
    };
    defines_name && ty.is_none_or(has_impl)
}

/// What is wrong with one run of references: each function is looked up
/// in the nearest path before it in the run (`src/daemon.rs` `serve`),
/// else the first one after it (`health_rounds` (`src/systemd/watchdog.rs`));
/// a function with no path beside it is not checked.
fn reference_errors(refs: &[CodeRef]) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, code_ref) in refs.iter().enumerate() {
        match code_ref {
            CodeRef::Path(written, path) => {
                if !path_exists(path) {
                    errors.push(format!("`{written}`: no such file or directory"));
                }
            }
            CodeRef::Function(ty, name) => {
                let is_path = |r: &&CodeRef| matches!(r, CodeRef::Path(..));
                let beside = refs[..i]
                    .iter()
                    .rev()
                    .find(is_path)
                    .or_else(|| refs[i..].iter().find(is_path));
                let Some(CodeRef::Path(written, path)) = beside else {
                    continue;
                };
                let files = rust_files_at(path);
                if files.is_empty() {
                    continue;
                }
                let defined = files.iter().any(|file| {
                    fs::read_to_string(file).is_ok_and(|text| defines(&text, ty.as_deref(), name))
                });
                if !defined {
                    let shown = ty
                        .as_ref()
                        .map_or(name.clone(), |ty| format!("{ty}::{name}"));
                    errors.push(format!("`{shown}` is not defined in `{written}`"));
                }
            }
        }
    }
    errors
}

#[test]
fn every_file_and_function_named_in_the_daemon7_section_and_the_guides_exists() {
    let mut wrong = Vec::new();
    let (mut paths, mut functions) = (0, 0);
    for passage in passages() {
        let guide_dir = Path::new(&passage.file).parent().unwrap_or(Path::new(""));
        let lines: Vec<&str> = passage.text.lines().collect();
        for i in 0..lines.len() {
            for (segment, _) in segments(&lines, i) {
                for refs in reference_runs(&segment, guide_dir) {
                    let is_path = |r: &&CodeRef| matches!(r, CodeRef::Path(..));
                    let run_paths = refs.iter().filter(is_path).count();
                    paths += run_paths;
                    if run_paths > 0 {
                        functions += refs.len() - run_paths;
                    }
                    for error in reference_errors(&refs) {
                        let line = passage.first_line + i;
                        wrong.push(format!("{}:{line}: {error}", passage.file));
                    }
                }
            }
        }
    }
    assert!(paths >= 50, "only {paths} repository paths found");
    assert!(
        functions >= 20,
        "only {functions} functions named next to a file"
    );
    assert!(
        wrong.is_empty(),
        "references to code that is not there:\n{}",
        wrong.join("\n")
    );
}
