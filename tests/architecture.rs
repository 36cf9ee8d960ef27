//! The job core's shape, checked from its source (issue 13): no file of
//! `src/core` imports another in a circle, and the number of `pub(super)`
//! items (visibility that lets sibling files reach in) does not grow. And
//! across the workspace, one name per role: no type name is defined twice.
//!
//! An import is a path that names a sibling from a core file: `use
//! super::x`, `super::x::...` in code, or `crate::core::x`. A name that
//! `mod.rs` re-exports (`super::Spooler`) counts as an import of the file
//! that defines it; a glob (`super::*`) as an import of every file `mod.rs`
//! re-exports from. `mod.rs` itself is the facade that names every file, so
//! its re-exports are not edges. Comments and string literals are skipped,
//! so a doc link is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The most `pub(super)` items `src/core` may have: the methods of the
/// exported handle (`Spooler`) that its role files share, and one
/// file-local fault module. Types private to the core declare their API
/// `pub` inside private modules instead, and keep their fields private.
const MAX_PUB_SUPER: usize = 17;

#[test]
fn core_files_import_each_other_without_a_cycle() {
    let files = core_files();
    let graph = import_graph(&files);
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    // A parser that finds nothing would pass vacuously.
    assert!(edges >= 20, "only {edges} imports found: {graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "src/core files import each other in a circle: {}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_cycle_check_finds_a_planted_cycle() {
    let files = vec![
        (
            "mod".to_string(),
            "mod a;\nmod b;\nmod c;\npub use c::Thing;\n".to_string(),
        ),
        ("a".to_string(), "use super::b::X;\n".to_string()),
        (
            "b".to_string(),
            "fn f() { let _ = super::Thing::new(); }\n".to_string(),
        ),
        (
            "c".to_string(),
            "// use super::b; is only a comment\nuse crate::core::{a, b};\n".to_string(),
        ),
    ];
    let graph = import_graph(&files);
    let cycle = find_cycle(&graph).expect("a -> b -> c -> a is a cycle");
    assert_eq!(cycle.first(), cycle.last(), "{cycle:?}");
    assert_eq!(cycle.len(), 4, "{cycle:?}");
}

#[test]
fn inline_test_modules_resolve_super_to_their_own_file() {
    let files = vec![
        ("mod".to_string(), "mod a;\nmod b;\n".to_string()),
        ("a".to_string(), "use super::b;\n".to_string()),
        (
            "b".to_string(),
            "#[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::b;\n}\n"
                .to_string(),
        ),
    ];
    let graph = import_graph(&files);
    assert_eq!(find_cycle(&graph), None, "{graph:?}");
    assert!(graph["a"].contains("b"));
}

#[test]
fn pub_super_items_do_not_grow() {
    let files = core_files();
    let mut per_file: Vec<(String, usize)> = files
        .iter()
        .map(|(name, source)| (name.clone(), strip(source).matches("pub(super)").count()))
        .filter(|(_, n)| *n > 0)
        .collect();
    per_file.sort();
    let total: usize = per_file.iter().map(|(_, n)| n).sum();
    assert!(
        total <= MAX_PUB_SUPER,
        "src/core has {total} pub(super) items, more than {MAX_PUB_SUPER}: {per_file:?}; \
         give the state a method that keeps its invariants instead of opening it to siblings"
    );
}

#[test]
fn no_core_struct_opens_a_field_to_its_siblings() {
    let mut open = Vec::new();
    for (name, source) in core_files() {
        let code = strip(&source);
        for line in code.lines() {
            let line = line.trim();
            // A field: `pub(super) name: Type,` / `pub(crate) name: Type,`.
            let restricted = line.starts_with("pub(super) ") || line.starts_with("pub(crate) ");
            let is_field = line.ends_with(',')
                && line.split_once(' ').is_some_and(|(_, rest)| {
                    rest.split_once(':').is_some_and(|(n, _)| is_field_name(n))
                });
            if restricted && is_field {
                open.push(format!("{name}.rs: {line}"));
            }
        }
    }
    assert!(open.is_empty(), "fields open to sibling files: {open:#?}");
}

#[test]
fn the_core_state_has_private_fields_only() {
    let source =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core/state.rs"))
            .unwrap();
    let code = strip(&source);
    let start = code
        .find("pub struct CoreState {")
        .expect("state.rs defines CoreState");
    let body = &code[start..];
    let body = &body[..body.find('}').unwrap()];
    let public: Vec<&str> = body
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| l.starts_with("pub"))
        .collect();
    assert!(body.lines().count() > 3, "{body}");
    assert!(
        public.is_empty(),
        "CoreState fields visible outside state.rs: {public:?}"
    );
}

fn is_field_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(is_ident)
}

/// Every `src/core/*.rs`, by module name (`mod` for `mod.rs`).
fn core_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    files.sort();
    assert!(files.len() > 5, "no core files under {}", dir.display());
    files
}

/// Which sibling each core file imports.
fn import_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let facade = &files
        .iter()
        .find(|(name, _)| name == "mod")
        .expect("src/core/mod.rs")
        .1;
    let names = Facade::parse(facade);
    let mut graph = BTreeMap::new();
    for (name, source) in files {
        let mut imports = BTreeSet::new();
        if name != "mod" {
            for target in sibling_paths(&strip(source)) {
                imports.extend(names.resolve(&target, name));
            }
        }
        imports.remove(name);
        graph.insert(name.clone(), imports);
    }
    graph
}

/// What `mod.rs` declares: its child modules, the names it re-exports
/// from them, and the items it defines itself.
struct Facade {
    modules: BTreeSet<String>,
    exports: BTreeMap<String, String>,
    own_items: BTreeSet<String>,
}

impl Facade {
    fn parse(source: &str) -> Facade {
        let code = strip(source);
        let mut facade = Facade {
            modules: BTreeSet::new(),
            exports: BTreeMap::new(),
            own_items: BTreeSet::new(),
        };
        for statement in code.split(';') {
            let words: Vec<&str> = statement.split_whitespace().collect();
            let Some(pos) = words.iter().position(|w| *w == "mod") else {
                continue;
            };
            if pos + 2 == words.len()
                && words[..pos]
                    .iter()
                    .all(|w| w.starts_with("pub") || w.starts_with("#["))
            {
                facade.modules.insert(words[pos + 1].to_string());
            }
        }
        for statement in code.split(';') {
            let statement = statement.trim();
            let Some(rest) = statement.strip_prefix("pub use ") else {
                continue;
            };
            let Some((module, tail)) = rest.split_once("::") else {
                continue;
            };
            for item in use_tree_heads(tail) {
                let exported = item.rsplit(" as ").next().unwrap_or(&item);
                facade
                    .exports
                    .insert(exported.trim().to_string(), module.trim().to_string());
            }
        }
        for line in code.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [first, kind, name, ..] = words.as_slice()
                && first.starts_with("pub")
                && ["struct", "enum", "fn", "type", "trait", "const"].contains(kind)
            {
                let name: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                facade.own_items.insert(name);
            }
        }
        facade
    }

    /// The files `path` (the part after `super::` or `crate::core::`)
    /// imports, seen from file `from`.
    fn resolve(&self, path: &str, from: &str) -> BTreeSet<String> {
        let mut targets = BTreeSet::new();
        for head in use_tree_heads(path) {
            let first = head.split("::").next().unwrap_or("");
            let first = first.split(" as ").next().unwrap_or(first).trim();
            if first == "*" {
                targets.extend(self.exports.values().cloned());
                targets.insert("mod".to_string());
            } else if self.modules.contains(first) {
                targets.insert(first.to_string());
            } else if let Some(module) = self.exports.get(first) {
                targets.insert(module.clone());
            } else if self.own_items.contains(first) || first == "self" {
                targets.insert("mod".to_string());
            } else {
                panic!("{from}.rs: cannot tell which core file `{first}` (in `{path}`) is from");
            }
        }
        targets
    }
}

/// The paths naming a core sibling: what follows `super::` at file level
/// (inside an inline `mod tests { }`, `super::super::`) or
/// `crate::core::`, up to the end of the path or use tree.
fn sibling_paths(code: &str) -> Vec<String> {
    let bytes = code.as_bytes();
    let mut paths = Vec::new();
    // Brace depths at which an inline module's body opened.
    let mut inline_mods: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let mut pending_mod = false;
    let mut i = 0;
    while i < bytes.len() {
        let rest = &code[i..];
        match bytes[i] {
            b'{' => {
                depth += 1;
                if pending_mod {
                    inline_mods.push(depth);
                    pending_mod = false;
                }
                i += 1;
                continue;
            }
            b'}' => {
                if inline_mods.last() == Some(&depth) {
                    inline_mods.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            b';' => pending_mod = false,
            _ => {}
        }
        let at_word_start = i == 0 || !is_ident(bytes[i - 1]);
        if at_word_start && rest.starts_with("mod ") {
            pending_mod = true;
        }
        if at_word_start && rest.starts_with("crate::core::") {
            let (path, len) = path_at(&rest["crate::core::".len()..]);
            paths.push(path);
            i += "crate::core::".len() + len;
            continue;
        }
        if at_word_start && rest.starts_with("super::") {
            let mut ups = 0;
            let mut after = rest;
            while let Some(next) = after.strip_prefix("super::") {
                ups += 1;
                after = next;
            }
            let consumed = rest.len() - after.len();
            // One `super` leaves the file's module, plus one per inline
            // module around the path.
            if ups == inline_mods.len() + 1 {
                let (path, len) = path_at(after);
                paths.push(path);
                i += consumed + len;
            } else {
                i += consumed;
            }
            continue;
        }
        i += 1;
    }
    paths
}

/// The path or use tree at the start of `text`, without spaces, and how
/// many bytes of `text` it spans.
fn path_at(text: &str) -> (String, usize) {
    let mut depth = 0usize;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            c if depth > 0 || is_ident(c as u8) || c == ':' || c == '*' => {}
            _ => break,
        }
        end = i + c.len_utf8();
    }
    let path = text[..end].split_whitespace().collect::<Vec<_>>().join(" ");
    (path.trim_end_matches(':').to_string(), end)
}

/// The branches of a use tree, spaces normalized: `a::B` gives `a::B`;
/// `{a::B, C as D, e::{f, g}}` gives `a::B`, `C as D`, `e::{f, g}`.
fn use_tree_heads(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let Some(inner) = tree.strip_prefix('{').and_then(|t| t.strip_suffix('}')) else {
        return vec![tree];
    };
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in inner.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                heads.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    heads.push(current);
    heads
        .into_iter()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .collect()
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// `source` without comments and without the contents of string and
/// character literals (kept as `""`), so neither can look like code.
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            continue;
        }
        if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(chars[i - 1] as u8))
        {
            // A raw string: r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) == Some(&'"') {
                let closing: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let body: String = chars[j + 1..].iter().collect();
                let end = body.find(&closing).map_or(chars.len(), |e| {
                    j + 1 + body[..e].chars().count() + closing.chars().count()
                });
                out.push_str("\"\"");
                i = end;
                continue;
            }
        }
        if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
            continue;
        }
        if c == '\'' {
            // A character literal ('x', '\n', '"'); a lifetime has no
            // closing quote two or more characters later.
            let close = if next == Some('\\') { 3 } else { 2 };
            if chars.get(i + close) == Some(&'\'')
                || (next == Some('\\') && chars[i + 1..].iter().take(12).any(|&c| c == '\''))
            {
                let mut j = i + 1;
                if chars.get(j) == Some(&'\\') {
                    j += 2;
                }
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                out.push_str("' '");
                i = j + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// A cycle in `graph`, as the files along it with the first repeated at
/// the end; `None` when the graph is a DAG.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        OnPath,
        Done,
    }
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::OnPath);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next.as_str()) {
                Some(Mark::OnPath) => {
                    let start = path.iter().position(|p| p == next).unwrap_or(0);
                    let mut cycle: Vec<String> =
                        path[start..].iter().map(|p| format!("{p}.rs")).collect();
                    cycle.push(format!("{next}.rs"));
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, graph, marks, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if !marks.contains_key(node.as_str())
            && let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new())
        {
            return Some(cycle);
        }
    }
    None
}

/// Every type name (`struct`, `enum`, `union`, `type`, `trait`) is defined
/// once in the workspace: the daemon, its protocol crate, the tests, the
/// benchmark and the fuzz targets. Two `Queue`s or two `Limits` make a
/// reader ask which one a line means.
#[test]
fn no_type_name_is_defined_twice_in_the_workspace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut defined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in ["src", "crates", "tests", "benches/src", "fuzz"] {
        for file in rust_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&file).unwrap();
            let shown = file.strip_prefix(root).unwrap().display().to_string();
            for (line, name) in type_definitions(&text) {
                defined
                    .entry(name)
                    .or_default()
                    .push(format!("{shown}:{line}"));
            }
        }
    }
    assert!(
        defined.len() > 100,
        "found only {} type names: is the walk broken?",
        defined.len()
    );
    let twice: Vec<String> = defined
        .iter()
        .filter(|(_, places)| places.len() > 1)
        .map(|(name, places)| format!("{name}: {}", places.join(", ")))
        .collect();
    assert!(
        twice.is_empty(),
        "type names defined more than once:\n{}",
        twice.join("\n")
    );
}

#[test]
fn the_type_name_scan_sees_every_kind_of_definition() {
    let text = "pub struct A;\nenum B { X }\npub(crate) type C = u8;\n    trait D {}\n// struct E;\nlet s = \"struct F\";\npub(super) union G { a: u8 }\nimpl I for A {\n    type Output = B;\n}\n";
    let names: Vec<String> = type_definitions(text).into_iter().map(|(_, n)| n).collect();
    assert_eq!(names, ["A", "B", "C", "D", "G"]);
}

/// `.rs` files below `dir`, skipping build output.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            found.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// (line number, name) of each type defined in `text`: a line whose code
/// starts, after an optional visibility, with one of the defining keywords.
fn type_definitions(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut words = line.split_whitespace();
        let mut word = words.next().unwrap_or("");
        if word.starts_with("pub") {
            word = words.next().unwrap_or("");
        }
        if !matches!(word, "struct" | "enum" | "union" | "type" | "trait") {
            continue;
        }
        let name: String = words
            .next()
            .unwrap_or("")
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // A trait's associated types (`type Output = ...` in an impl) are
        // the trait's names, not new ones.
        let associated = word == "type" && line.starts_with(char::is_whitespace);
        if name.starts_with(|c: char| c.is_ascii_uppercase()) && !associated {
            found.push((index + 1, name));
        }
    }
    found
}
