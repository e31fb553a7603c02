//! No import cycles between the files of `codec/src` and `server/src`: each file's
//! `use crate::…` (grouped forms too), `use super::…`, the crate root's `use module::…`,
//! and the `crate::module::item` paths written inline are edges from the file to the file
//! of the module they name; an item re-exported at the crate root (`crate::Connection`)
//! is an edge to `lib.rs`. A cycle fails the test, named file by file.
//!
//! Comments, strings and character literals are skipped, so a doc link such as
//! ``[`Connection`](crate::Connection)`` is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One crate's files: module path (`[]` for the root, `["decoder"]`...) to source.
struct Crate {
    files: BTreeMap<Vec<String>, (String, String)>,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut files = BTreeMap::new();
        let mut dirs = vec![src.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path.strip_prefix(src).unwrap();
                    let module = module_path(rel);
                    let name = rel.display().to_string();
                    files.insert(module, (name, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        Crate { files }
    }

    fn from_sources(sources: &[(&str, &str)]) -> Crate {
        let files = sources
            .iter()
            .map(|(name, text)| {
                let module = module_path(Path::new(name));
                (module, (name.to_string(), text.to_string()))
            })
            .collect();
        Crate { files }
    }

    /// The file a path names: the longest module prefix that is a file; the crate root
    /// for an item defined or re-exported there.
    fn resolve(&self, path: &[String]) -> String {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get(&path[..n]))
            .map(|(name, _)| name.clone())
            .unwrap_or_default()
    }

    /// Every edge `from file -> to file`.
    fn edges(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, (name, text)) in &self.files {
            let code = strip(text);
            let mut targets = BTreeSet::new();
            for (inner, path) in use_paths(&code).into_iter().chain(inline_paths(&code)) {
                // `super` in an inline `mod tests { … }` is the file's own module.
                let here = [module, &inner[..]].concat();
                let Some(absolute) = self.absolute(&here, &path) else {
                    continue;
                };
                targets.insert(self.resolve(&absolute));
            }
            targets.remove(name);
            targets.remove("");
            edges.insert(name.clone(), targets);
        }
        edges
    }

    /// A path as seen from `module`, made absolute; `None` for paths outside the crate.
    fn absolute(&self, module: &[String], path: &[String]) -> Option<Vec<String>> {
        let first = path.first()?;
        match first.as_str() {
            "crate" => Some(path[1..].to_vec()),
            "self" => Some([module, &path[1..]].concat()),
            "super" => {
                let mut base = module.to_vec();
                let mut rest = path;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop()?;
                    rest = &rest[1..];
                }
                Some([&base[..], rest].concat())
            }
            _ => {
                // A child module of this one, named relative (the root's `use decoder::…`).
                let child = [module, &path[..1]].concat();
                self.files
                    .contains_key(&child)
                    .then(|| [module, path].concat())
            }
        }
    }
}

fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts
        .last()
        .is_some_and(|p| p == "lib" || p == "main" || p == "mod")
    {
        parts.pop();
    }
    parts
}

/// The source with comments, string literals and character literals blanked out.
fn strip(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(b.len());
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
        } else if c == 'r'
            && (next == Some('#') || next == Some('"'))
            && !ident_char(b.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…", r#"…"#, ...
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
            i = j;
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                i += if b[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('a', '\n', '\u{7f}'), else a lifetime.
            if next == Some('\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                out.push(c);
                i += 1;
            }
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Splits code into identifier, `::`, and single-character tokens.
fn tokens(code: &str) -> Vec<String> {
    let b: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_') {
                i += 1;
            }
            out.push(b[start..i].iter().collect());
        } else if c == ':' && b.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else {
            out.push(c.to_string());
            i += 1;
        }
    }
    out
}

/// The inline modules (`mod tests { … }`) each token is in.
fn inline_modules(t: &[String]) -> Vec<Vec<String>> {
    let mut open: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut out = Vec::with_capacity(t.len());
    for i in 0..t.len() {
        match t[i].as_str() {
            "{" => {
                depth += 1;
                if i >= 2 && t[i - 2] == "mod" {
                    open.push((t[i - 1].clone(), depth));
                }
            }
            "}" => {
                if open.last().is_some_and(|(_, d)| *d == depth) {
                    open.pop();
                }
                depth -= 1;
            }
            _ => {}
        }
        out.push(open.iter().map(|(name, _)| name.clone()).collect());
    }
    out
}

/// Every path a `use` item imports, its groups expanded, with the inline modules it is
/// written in.
fn use_paths(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let t = tokens(code);
    let inner = inline_modules(&t);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let at_item_start =
            i == 0 || matches!(t[i - 1].as_str(), ";" | "}" | "{" | "]" | ")" | "pub");
        if t[i] == "use" && at_item_start {
            let end = t[i..]
                .iter()
                .position(|s| s == ";")
                .map_or(t.len(), |p| i + p);
            let mut paths = Vec::new();
            expand(&t[i + 1..end], &[], &mut paths);
            out.extend(paths.into_iter().map(|p| (inner[i].clone(), p)));
            i = end;
        }
        i += 1;
    }
    out
}

/// Expands a use tree (`a::{b::C, d}`) into paths, each prefixed with `prefix`.
fn expand(tree: &[String], prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    let mut i = 0;
    while i < tree.len() {
        match tree[i].as_str() {
            "::" => {}
            "{" => {
                // Split the group's top level on commas.
                let mut depth = 0;
                let mut start = i + 1;
                for j in i..tree.len() {
                    match tree[j].as_str() {
                        "{" => depth += 1,
                        "}" => {
                            depth -= 1;
                            if depth == 0 {
                                expand(&tree[start..j], &path, out);
                                return;
                            }
                        }
                        "," if depth == 1 => {
                            expand(&tree[start..j], &path, out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" | "*" => break,
            seg => path.push(seg.to_string()),
        }
        i += 1;
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// `crate::a::b` and `super::a` paths written in code outside `use` items, with the
/// inline modules they are written in.
fn inline_paths(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let t = tokens(code);
    let inner = inline_modules(&t);
    let mut out = Vec::new();
    for i in 0..t.len() {
        let starts = (t[i] == "crate" || t[i] == "super")
            && t.get(i + 1).is_some_and(|s| s == "::")
            && (i == 0 || t[i - 1] != "::");
        if starts {
            let mut path = vec![t[i].clone()];
            let mut j = i + 1;
            while t.get(j).is_some_and(|s| s == "::")
                && t.get(j + 1)
                    .is_some_and(|s| s.chars().all(|c| c.is_alphanumeric() || c == '_'))
            {
                path.push(t[j + 1].clone());
                j += 2;
            }
            // A bare `crate::{…}` is a `use` group, read by `use_paths`.
            if path.len() > 1 {
                out.push((inner[i].clone(), path));
            }
        }
    }
    out
}

/// The cycles of the graph: one per strongly connected component of two files or more,
/// as `a.rs -> b.rs -> a.rs`.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reach = |from: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![from.to_string()];
        while let Some(n) = stack.pop() {
            for m in edges.get(&n).into_iter().flatten() {
                if seen.insert(m.clone()) {
                    stack.push(m.clone());
                }
            }
        }
        seen
    };
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    for start in edges.keys() {
        if reported.contains(start) || !reach(start).contains(start) {
            continue;
        }
        // The shortest way back to `start`, breadth first.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.clone()]);
        'search: while let Some(n) = queue.pop_front() {
            for m in edges.get(&n).into_iter().flatten() {
                if m == start {
                    let mut cycle = vec![start.clone(), n.clone()];
                    let mut at = n.clone();
                    while let Some(p) = parent.get(&at) {
                        cycle.push(p.clone());
                        at = p.clone();
                    }
                    cycle.reverse();
                    cycle.rotate_right(1);
                    cycle.push(start.clone());
                    cycle.dedup();
                    // Every file of the strongly connected component is reported here.
                    let component: BTreeSet<String> = reach(start)
                        .into_iter()
                        .filter(|m| reach(m).contains(start))
                        .collect();
                    let mut line = cycle.join(" -> ");
                    if component.len() + 1 > cycle.len() {
                        let all: Vec<&str> = component.iter().map(String::as_str).collect();
                        line += &format!(" (all tangled: {})", all.join(", "));
                    }
                    reported.extend(component);
                    out.push(line);
                    break 'search;
                }
                if !parent.contains_key(m) && m != start {
                    parent.insert(m.clone(), n.clone());
                    queue.push_back(m.clone());
                }
            }
        }
    }
    out
}

/// The repository; `WISP_SOURCE_ROOT` points the check at another checkout.
fn root() -> PathBuf {
    std::env::var_os("WISP_SOURCE_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
}

#[test]
fn codec_and_server_have_no_import_cycles() {
    let mut found = Vec::new();
    for krate in ["codec", "server"] {
        let c = Crate::read(&root().join(krate).join("src"));
        assert!(c.files.len() > 3, "{krate}: no sources found");
        for cycle in cycles(&c.edges()) {
            found.push(format!("{krate}/src: {cycle}"));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_check_finds_a_planted_cycle_through_a_grouped_use() {
    let c = Crate::from_sources(&[
        ("lib.rs", "mod a;\nmod b;\nmod c;\nmod d;\npub use a::A;\n"),
        (
            "a.rs",
            "use crate::{b::B, c};\n/// not an import: crate::c::Z\npub struct A;",
        ),
        (
            "b.rs",
            "pub struct B;\nfn f() { let _ = \"crate::a\"; crate::c::g(); }",
        ),
        ("c.rs", "pub(crate) use super::a::A;\npub fn g() {}"),
        (
            "d.rs",
            "pub fn h() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    let edges = c.edges();
    // `super` inside an inline module is the file itself: no edge.
    assert!(edges["d.rs"].is_empty(), "{:?}", edges["d.rs"]);
    assert_eq!(
        edges["a.rs"],
        BTreeSet::from(["b.rs".into(), "c.rs".into()])
    );
    assert_eq!(edges["b.rs"], BTreeSet::from(["c.rs".into()]));
    assert_eq!(edges["lib.rs"], BTreeSet::from(["a.rs".into()]));
    assert_eq!(
        cycles(&edges),
        ["a.rs -> c.rs -> a.rs (all tangled: a.rs, b.rs, c.rs)"]
    );
    // An item re-exported at the root is an edge to lib.rs: a cycle through it too.
    let c = Crate::from_sources(&[
        ("lib.rs", "mod a;\npub use a::A;\n"),
        (
            "a.rs",
            "use crate::Root as _;\npub struct A; pub struct Root;",
        ),
    ]);
    assert_eq!(cycles(&c.edges()), ["a.rs -> lib.rs -> a.rs"]);
}

#[test]
fn comments_strings_and_char_literals_are_not_imports() {
    let code =
        strip("let s = r#\"crate::x\"#; let c = '\"'; // crate::y\n/* crate::z */ crate::w::v");
    let paths: Vec<Vec<String>> = inline_paths(&code).into_iter().map(|(_, p)| p).collect();
    assert_eq!(paths, [vec!["crate", "w", "v"]]);
}
