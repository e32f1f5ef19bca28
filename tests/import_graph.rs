//! No import circle in `src/`: the files of each crate (the library, and
//! each binary under `src/bin/<name>/`) form a graph with no cycle, so a
//! reader can always start from the bottom and every layer can be
//! understood, tested and replaced without the ones above it.
//!
//! # What counts as an edge
//!
//! File `A` depends on file `B` when code in `A` names module `B` (or
//! an item in it) through a path that starts with `crate::`, `super::` or
//! `self::` (in a `use` declaration, `{}` groups expanded, or anywhere in
//! the code: `super::tls::spawn(..)`, `crate::predicates::predicates!`),
//! or through a `use` of a child module by its bare name. A path is
//! followed module by module, as far as its segments are modules; the
//! file of the last module reached is `B`. So `use super::handle::Shared`
//! is an edge to `server/handle.rs`, and `use super::ServerHandle` one to
//! `server/mod.rs`, which re-exports it: re-exports are not followed (a
//! parent's re-exports are its public face; following them would make
//! every type an error variant mentions a dependency of its error file).
//!
//! Not edges:
//! - paths to other crates (`std::`, `tokio::`, ...);
//! - anything in comments, doc comments and string literals;
//! - `#[cfg(test)]` modules, inline or in their own file (tests may reach
//!   anywhere);
//! - a file naming itself, or a module *below* it: a parent (`mod.rs`,
//!   `lib.rs`, `peer.rs` for `peer/`) declares its children, re-exports
//!   them and is their façade, so `parent → child` is the module tree, not
//!   an import. `child → parent` (a child using an item defined in its
//!   `mod.rs`) is an edge.
//!
//! Inline modules (`mod seeded { .. }`) belong to their file, with their
//! own module path for resolving `super::`. Glob imports (`use x::*`) are
//! edges to the module globbed. `$crate` in macros is not followed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path from the crate root, and the file holding it.
#[derive(Debug, Clone)]
struct Module {
    file: String,
}

/// One crate's modules, by path (`[]` is the root).
#[derive(Default)]
struct Crate {
    modules: BTreeMap<Vec<String>, Module>,
    /// Path references found in each module's code, resolved later:
    /// (module path, absolute path referenced).
    refs: Vec<(Vec<String>, Vec<String>)>,
}

/// Removes comments, string and char literals (kept as `""`, `' '`), so
/// nothing in prose counts.
fn strip(src: &str) -> String {
    let b: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && (i == 0 || !is_ident(b[i - 1]))
        {
            // A raw string: r"..", r#".."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
                out.push_str("' '");
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push_str("' '");
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The index just past the `}` closing the `{` at `open`.
fn block_end(s: &[char], open: usize) -> usize {
    let mut depth = 0;
    for (i, &c) in s.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    s.len()
}

/// Whether the attributes just before `at` include `#[cfg(test)]`.
fn preceded_by_cfg_test(s: &[char], at: usize) -> bool {
    let before: String = s[at.saturating_sub(200)..at].iter().collect();
    let trimmed = before.trim_end();
    // Only attributes (and `pub` words) may stand between the attribute
    // and `mod`: look at what precedes the last statement end.
    let start = trimmed.rfind([';', '}', '{']).map_or(0, |i| i + 1);
    let attrs: String = trimmed[start..]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    attrs.contains("#[cfg(test)]")
}

/// An inline `mod name {`, `cfg(test)` or not, found at `at`.
struct InlineMod {
    name: String,
    start: usize,
    body: (usize, usize),
    test: bool,
}

/// The inline modules directly in `s` (not nested in each other), and
/// the file-module declarations `mod name;` with whether they are tests.
fn find_mods(s: &[char]) -> (Vec<InlineMod>, Vec<(String, bool)>) {
    let mut inline = Vec::new();
    let mut declared = Vec::new();
    let mut i = 0;
    while i + 4 < s.len() {
        let word_start = i == 0 || !is_ident(s[i - 1]);
        if word_start && s[i..i + 3] == ['m', 'o', 'd'] && s[i + 3].is_whitespace() {
            let mut j = i + 3;
            while j < s.len() && s[j].is_whitespace() {
                j += 1;
            }
            let name_start = j;
            while j < s.len() && is_ident(s[j]) {
                j += 1;
            }
            let name: String = s[name_start..j].iter().collect();
            while j < s.len() && s[j].is_whitespace() {
                j += 1;
            }
            if !name.is_empty() && j < s.len() {
                let test = preceded_by_cfg_test(s, i);
                if s[j] == '{' {
                    let end = block_end(s, j);
                    inline.push(InlineMod {
                        name,
                        start: i,
                        body: (j + 1, end - 1),
                        test,
                    });
                    i = end;
                    continue;
                } else if s[j] == ';' {
                    declared.push((name, test));
                }
            }
        }
        i += 1;
    }
    (inline, declared)
}

/// Expands a `use` tree (`a::{b, c::{d as e}}`) into (path, local name).
fn expand_use(tree: &str) -> Vec<(Vec<String>, String)> {
    fn walk(prefix: &[String], tree: &str, out: &mut Vec<(Vec<String>, String)>) {
        let tree = tree.trim();
        if let Some(open) = tree.find('{') {
            let head = tree[..open].trim().trim_end_matches("::");
            let mut base = prefix.to_vec();
            base.extend(segments(head));
            let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
            let mut depth = 0;
            let mut part = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        walk(&base, &part, out);
                        part.clear();
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            walk(&base, &part, out);
            return;
        }
        if tree.is_empty() {
            return;
        }
        if tree == "*" {
            // A glob: an edge to the module globbed.
            if let Some(last) = prefix.last() {
                out.push((prefix.to_vec(), last.clone()));
            }
            return;
        }
        let (path, alias) = match tree.split_once(" as ") {
            Some((p, a)) => (p.trim(), Some(a.trim().to_string())),
            None => (tree, None),
        };
        let mut full = prefix.to_vec();
        full.extend(segments(path));
        if full.last().map(String::as_str) == Some("self") {
            full.pop();
        }
        let Some(last) = full.last().cloned() else {
            return;
        };
        out.push((full, alias.unwrap_or(last)));
    }
    let mut out = Vec::new();
    walk(&[], tree, &mut out);
    out
}

fn segments(path: &str) -> Vec<String> {
    path.split("::")
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Makes `path` (as written in module `at`) absolute, if it starts inside
/// the crate: `crate`, `super`, `self`, or a child module of `at`.
fn absolute(at: &[String], path: &[String], children: &BTreeSet<String>) -> Option<Vec<String>> {
    let mut base = at.to_vec();
    let mut rest = path;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            base.clear();
            rest = &rest[1..];
        }
        Some("self") => rest = &rest[1..],
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        Some(first) if children.contains(first) => {}
        _ => return None,
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Reads one module's code (`code`, at module path `at`, in `file`) into
/// the crate, recursing into its non-test inline modules and its file
/// modules.
fn read_module(
    krate: &mut Crate,
    dir_of_children: &Path,
    at: Vec<String>,
    file: &str,
    code: &[char],
) {
    let (inline, declared) = find_mods(code);
    // The code of this module alone: inline modules cut out.
    let mut own = String::new();
    let mut from = 0;
    for m in &inline {
        own.extend(&code[from..m.start]);
        from = m.body.1 + 1;
    }
    own.extend(&code[from.min(code.len())..]);

    let mut children: BTreeSet<String> = inline
        .iter()
        .filter(|m| !m.test)
        .map(|m| m.name.clone())
        .collect();
    children.extend(declared.iter().filter(|d| !d.1).map(|d| d.0.clone()));

    // `use` declarations, then every other path reference.
    let mut rest = String::new();
    let chars: Vec<char> = own.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let word_start = i == 0 || !is_ident(chars[i - 1]);
        if word_start
            && chars[i..].starts_with(&['u', 's', 'e'])
            && chars.get(i + 3).is_some_and(|c| c.is_whitespace())
        {
            let end = chars[i..]
                .iter()
                .position(|&c| c == ';')
                .map_or(chars.len(), |p| i + p);
            let tree: String = chars[i + 3..end].iter().collect();
            for (path, _name) in expand_use(&tree) {
                if let Some(abs) = absolute(&at, &path, &children) {
                    krate.refs.push((at.clone(), abs));
                }
            }
            rest.push(' ');
            i = end + 1;
            continue;
        }
        rest.push(chars[i]);
        i += 1;
    }
    let r: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < r.len() {
        let boundary = i == 0 || !(is_ident(r[i - 1]) || r[i - 1] == ':' || r[i - 1] == '$');
        let head = ["crate", "super", "self"]
            .into_iter()
            .find(|h| boundary && r[i..].starts_with(&h.chars().collect::<Vec<_>>()));
        if let Some(h) = head {
            let mut j = i + h.len();
            let mut path = vec![h.to_string()];
            loop {
                let mut k = j;
                while k < r.len() && r[k].is_whitespace() {
                    k += 1;
                }
                if !(r.get(k) == Some(&':') && r.get(k + 1) == Some(&':')) {
                    break;
                }
                k += 2;
                while k < r.len() && r[k].is_whitespace() {
                    k += 1;
                }
                let s = k;
                while k < r.len() && is_ident(r[k]) {
                    k += 1;
                }
                if k == s {
                    break;
                }
                path.push(r[s..k].iter().collect());
                j = k;
            }
            if path.len() > 1 {
                if let Some(abs) = absolute(&at, &path, &children) {
                    krate.refs.push((at.clone(), abs));
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    krate.modules.insert(
        at.clone(),
        Module {
            file: file.to_string(),
        },
    );

    for m in inline.iter().filter(|m| !m.test) {
        let mut sub = at.clone();
        sub.push(m.name.clone());
        let body = &code[m.body.0..m.body.1];
        read_module(krate, &dir_of_children.join(&m.name), sub, file, body);
    }
    for (name, test) in declared {
        if test {
            continue;
        }
        let flat = dir_of_children.join(format!("{name}.rs"));
        let nested = dir_of_children.join(&name).join("mod.rs");
        let (path, children_dir) = if flat.exists() {
            (flat, dir_of_children.join(&name))
        } else if nested.exists() {
            (nested, dir_of_children.join(&name))
        } else {
            panic!("module {name} declared in {file} has no file");
        };
        let src = std::fs::read_to_string(&path).unwrap();
        let code: Vec<char> = strip(&src).chars().collect();
        let mut sub = at.clone();
        sub.push(name);
        read_module(krate, &children_dir, sub, &display(&path), &code);
    }
}

fn display(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The deepest module `path` names: followed while its segments are
/// modules (the rest is an item, a method, a macro).
fn resolve(krate: &Crate, path: &[String]) -> Vec<String> {
    let mut at: Vec<String> = Vec::new();
    for seg in path {
        at.push(seg.clone());
        if !krate.modules.contains_key(&at) {
            at.pop();
            break;
        }
    }
    at
}

/// The file-level graph: file → files it depends on.
fn graph(krate: &Crate) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in krate.modules.values() {
        edges.entry(m.file.clone()).or_default();
    }
    for (from, path) in &krate.refs {
        let to = resolve(krate, path);
        // Below (or at) the referring module: the module tree, not an import.
        if to.starts_with(from) {
            continue;
        }
        let from_file = &krate.modules[from].file;
        let to_file = &krate.modules[&to].file;
        // A file's inline modules reaching each other, or their parent.
        if from_file == to_file {
            continue;
        }
        edges
            .entry(from_file.clone())
            .or_default()
            .insert(to_file.clone());
    }
    edges
}

/// A cycle in `edges`, as the files around it (first repeated last).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|f| f == next).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            if let Some(c) = visit(node, edges, &mut marks, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

fn read_crate(root: &Path) -> Crate {
    let mut krate = Crate::default();
    let src = std::fs::read_to_string(root).unwrap();
    let code: Vec<char> = strip(&src).chars().collect();
    let dir = root.parent().unwrap().to_path_buf();
    read_module(&mut krate, &dir, Vec::new(), &display(root), &code);
    krate
}

fn crate_roots() -> Vec<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut roots = vec![src.join("lib.rs")];
    if let Ok(bins) = std::fs::read_dir(src.join("bin")) {
        for bin in bins.flatten() {
            let main = bin.path().join("main.rs");
            if main.exists() {
                roots.push(main);
            } else if bin.path().extension().is_some_and(|e| e == "rs") {
                roots.push(bin.path());
            }
        }
    }
    roots
}

/// Every circle in `edges`, one per group of files that reach each other
/// (found by removing each circle's first edge and looking again).
fn all_cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let mut edges = edges.clone();
    let mut found = Vec::new();
    while let Some(cycle) = find_cycle(&edges) {
        if let Some(out) = edges.get_mut(&cycle[0]) {
            out.remove(&cycle[1]);
        }
        found.push(cycle);
    }
    found
}

#[test]
fn no_file_in_src_is_part_of_an_import_circle() {
    let mut report = String::new();
    for root in crate_roots() {
        let krate = read_crate(&root);
        for cycle in all_cycles(&graph(&krate)) {
            report += &format!(
                "import circle in the crate rooted at {}:\n  {}\n",
                display(&root),
                cycle.join("\n  -> ")
            );
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// The reader sees what it should: the known edges of the tree are
/// there, so an empty graph cannot pass the test above by accident.
#[test]
fn the_graph_has_the_edges_the_code_shows() {
    let krate = read_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"));
    let edges = graph(&krate);
    let has = |from: &str, to: &str| edges.get(from).is_some_and(|e| e.contains(to));
    // `use crate::wire::{Message, ..}`: the module named, wire/mod.rs.
    assert!(
        has("src/codec.rs", "src/wire/mod.rs"),
        "{:?}",
        edges.get("src/codec.rs")
    );
    // A sibling through `super::`, and a child using its parent's item.
    assert!(has("src/server/connection.rs", "src/server/shared.rs"));
    assert!(has("src/client/outlet.rs", "src/client/mod.rs"));
    // Parent to child is the tree, not an edge.
    assert!(!has("src/server/mod.rs", "src/server/shared.rs"));
    assert!(edges["src/lib.rs"].is_empty(), "{:?}", edges["src/lib.rs"]);
    // Test modules are left out.
    assert!(
        !edges.keys().any(|f| f.ends_with("/tests.rs")),
        "{:?}",
        edges.keys()
    );
    assert!(edges.len() > 100, "{} files", edges.len());
}

#[test]
fn comments_strings_and_lifetimes_are_stripped_right() {
    let code = strip("let a = \"crate::x\"; // crate::y\n/* crate::z */ fn f<'a>(c: char) { '\\'' ; 'x' ; r#\"super::q\"# }");
    assert!(!code.contains("crate::"), "{code}");
    assert!(!code.contains("super::"), "{code}");
    assert!(code.contains("<'a>"), "{code}");
}

#[test]
fn use_trees_expand_with_aliases_and_self() {
    let got = expand_use(" super::{connection, backplane::{Relay as R, self}, *}");
    let names: Vec<_> = got
        .iter()
        .map(|(p, n)| (p.join("::"), n.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("super::connection".to_string(), "connection"),
            ("super::backplane::Relay".to_string(), "R"),
            ("super::backplane".to_string(), "backplane"),
            ("super".to_string(), "super"),
        ]
    );
}

/// `src/proto/` is the sans-I/O core: it names no runtime (`tokio`
/// anywhere in its code, tests included, comments aside) and imports
/// nothing from the drivers above it (`server/`, `client/`, `node/`,
/// `io/`, `transport/`, `tls/`), so its state machines can be driven by a
/// plain loop and a plain clock.
#[test]
fn src_proto_names_no_runtime_and_imports_nothing_above_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/proto");
    let mut files = Vec::new();
    let mut stack = vec![dir];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    assert!(files.len() >= 6, "{files:?}");
    let mut report = String::new();
    for f in &files {
        let code = strip(&std::fs::read_to_string(f).unwrap());
        let named = code.match_indices("tokio").any(|(i, _)| {
            let before = code[..i].chars().next_back();
            let after = code[i + 5..].chars().next();
            !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
        });
        if named {
            report += &format!("{} names tokio\n", display(f));
        }
    }
    let krate = read_crate(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"));
    let above = ["server/", "client/", "node/", "io/", "transport/", "tls/"];
    for (from, to) in graph(&krate) {
        if !from.starts_with("src/proto/") {
            continue;
        }
        for t in to {
            if above.iter().any(|a| t.starts_with(&format!("src/{a}"))) {
                report += &format!("{from} imports {t}\n");
            }
        }
    }
    assert!(report.is_empty(), "{report}");
}
