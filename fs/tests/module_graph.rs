//! weka-fs's modules form a DAG: no module reaches itself through `use crate::...`,
//! `crate::x::` paths or `super::` references.
//!
//! The test reads every `.rs` file under `fs/src`, names its module from its path
//! (`tree/file.rs` is `tree::file`, `tree/mod.rs` is `tree`), collects the module paths it
//! names, and checks two graphs for a cycle:
//! - the top-level graph (`disk`, `tree`, `object`, `fuse`, `error`, `root`, `events`,
//!   `ino`, ...), where an edge is a reference from anywhere inside one top-level module
//!   to anywhere inside another;
//! - the graph of all modules, without the edges between a module and its own ancestors
//!   (a `mod.rs` declares and re-exports its children, and the children implement its
//!   types through `super::`: that is containment, not layering).
//!
//! Names the crate root re-exports (`crate::Error`, `crate::Root`) are followed to the
//! module that defines them. Comments are skipped; the parse is textual, which is enough
//! for code formatted by rustfmt.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_top_level_modules_of_weka_fs_form_a_dag() {
    let graph = top_level(&module_graph());
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "weka-fs's top-level modules have a cycle: {}\n{}",
            cycle.join(" -> "),
            describe(&graph)
        );
    }
}

#[test]
fn the_modules_of_weka_fs_form_a_dag_at_submodule_granularity() {
    let graph = module_graph();
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "weka-fs's modules have a cycle: {}\n{}",
            cycle.join(" -> "),
            describe(&graph)
        );
    }
}

/// The layering the redesign asked for, spelled out: the engine and the object view sit on
/// the disk layer and never on the FUSE adapter; the leaves depend on nothing.
#[test]
fn the_layers_point_one_way() {
    let graph = top_level(&module_graph());
    let deps = |m: &str| graph.get(m).cloned().unwrap_or_default();
    // `semantics_doc` checks the tables of docs/SEMANTICS.md (error.rs's tests use it).
    let leaves = ["disk", "error", "ino", "sync", "semantics_doc"];
    for leaf in leaves {
        let outside: Vec<String> = deps(leaf)
            .into_iter()
            .filter(|d| !leaves.contains(&d.as_str()))
            .collect();
        assert!(outside.is_empty(), "{leaf} depends on {outside:?}");
    }
    for client in ["tree", "object", "root", "events", "disk"] {
        assert!(!deps(client).contains("fuse"), "{client} depends on fuse");
    }
    assert!(!deps("object").contains("tree"), "object depends on tree");
    assert!(!deps("events").contains("root"), "events depends on root");
    assert!(!deps("error").contains("object"), "error depends on object");
}

#[test]
fn a_cycle_is_found_and_named() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
        graph.entry(from.into()).or_default().insert(to.into());
    }
    assert_eq!(find_cycle(&graph).unwrap(), ["a", "b", "c", "a"]);
    graph.get_mut("c").unwrap().remove("a");
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn references_are_read_from_use_trees_paths_and_super() {
    let modules: BTreeSet<String> = ["tree", "tree::file", "tree::xattr", "root", "error"]
        .map(String::from)
        .into();
    let reexports = BTreeMap::from([("Error".to_owned(), "error".to_owned())]);
    let source = "use super::{xattr, Tree};\n\
                  // use crate::object::X;\n\
                  use crate::{root::{Ino, Root}, Error};\n\
                  fn f() { crate::tree::xattr::g(); }\n";
    let refs = references("tree::file", source, &modules, &reexports);
    let want: BTreeSet<String> = ["tree", "tree::xattr", "root", "error"]
        .map(String::from)
        .into();
    assert_eq!(refs, want);
}

/// Every module of `fs/src` with the modules it references (itself left out).
fn module_graph() -> Graph {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_name(&src, f)).collect();
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let reexports = crate_reexports(&lib, &modules);
    let mut graph = Graph::new();
    for file in &files {
        let Some(module) = module_name(&src, file) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        let refs = references(&module, &text, &modules, &reexports);
        let deps = graph.entry(module.clone()).or_default();
        deps.extend(
            refs.into_iter()
                .filter(|to| !is_ancestor(to, &module) && !is_ancestor(&module, to)),
        );
    }
    graph
}

/// The graph collapsed to top-level modules.
fn top_level(graph: &Graph) -> Graph {
    let top = |m: &str| m.split("::").next().unwrap_or(m).to_owned();
    let mut out = Graph::new();
    for (from, tos) in graph {
        let deps = out.entry(top(from)).or_default();
        deps.extend(tos.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    out
}

/// True if `a` is `b` or contains it (`tree` of `tree::file`).
fn is_ancestor(a: &str, b: &str) -> bool {
    a == b || b.starts_with(&format!("{a}::"))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `tree/file.rs` -> `tree::file`, `tree/mod.rs` -> `tree`; `None` for `lib.rs`.
fn module_name(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    if parts == ["lib"] || parts.is_empty() {
        return None;
    }
    Some(parts.join("::"))
}

/// The names `lib.rs` re-exports (`pub use error::{Error, Result}`), with their modules.
fn crate_reexports(lib: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in code_lines(lib) {
        let Some(tree) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        for path in use_tree_paths(tree) {
            let name = path.rsplit("::").next().unwrap_or(&path).to_owned();
            if let Some(module) = longest_module(&path, modules) {
                out.insert(name, module);
            }
        }
    }
    out
}

/// The modules `source` (the text of `module`) names through `crate::` and `super::`.
fn references(
    module: &str,
    source: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let text: String = code_lines(source).collect::<Vec<_>>().join("\n");
    for (start, _) in text.match_indices("crate::") {
        if preceded_by_ident(&text, start) {
            continue;
        }
        for path in use_tree_paths(&text[start + "crate::".len()..]) {
            out.extend(resolve(&path, modules, reexports));
        }
    }
    for (start, _) in text.match_indices("super::") {
        if preceded_by_ident(&text, start) || text[..start].ends_with("super::") {
            continue;
        }
        let mut base: Vec<&str> = module.split("::").collect();
        let mut rest = &text[start..];
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        for path in use_tree_paths(rest) {
            let full = base
                .iter()
                .copied()
                .chain(path.split("::"))
                .collect::<Vec<_>>()
                .join("::");
            out.extend(resolve(&full, modules, reexports));
        }
    }
    out.remove(module);
    out
}

/// `crate::x` where `crate` is part of a longer identifier (`my_crate::x`) is not ours.
fn preceded_by_ident(text: &str, start: usize) -> bool {
    text[..start]
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The module a crate-relative path lands in: the longest module prefix, or for a name the
/// crate root re-exports, its module.
fn resolve(
    path: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    longest_module(path, modules).or_else(|| {
        let first = path.split("::").next()?;
        reexports.get(first).cloned()
    })
}

fn longest_module(path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let parts: Vec<&str> = path.split("::").collect();
    (1..=parts.len())
        .rev()
        .map(|n| parts[..n].join("::"))
        .find(|candidate| modules.contains(candidate))
}

/// The paths of the use tree (or plain path) at the start of `text`:
/// `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, `a::c::e`.
fn use_tree_paths(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    parse_tree(text.as_bytes(), &mut 0, String::new(), &mut out);
    out
}

fn parse_tree(s: &[u8], pos: &mut usize, prefix: String, out: &mut Vec<String>) {
    let mut path = prefix;
    loop {
        skip_space(s, pos);
        if s.get(*pos) == Some(&b'{') {
            *pos += 1;
            loop {
                parse_tree(s, pos, path.clone(), out);
                skip_space(s, pos);
                match s.get(*pos) {
                    Some(b',') => *pos += 1,
                    Some(b'}') => {
                        *pos += 1;
                        return;
                    }
                    _ => return,
                }
                skip_space(s, pos);
                if s.get(*pos) == Some(&b'}') {
                    *pos += 1;
                    return;
                }
            }
        }
        let start = *pos;
        while s
            .get(*pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            *pos += 1;
        }
        let ident = String::from_utf8_lossy(&s[start..*pos]).into_owned();
        if ident.is_empty() || ident == "self" {
            if !path.is_empty() {
                out.push(path);
            }
            return;
        }
        path = if path.is_empty() {
            ident
        } else {
            format!("{path}::{ident}")
        };
        if s[*pos..].starts_with(b"::") {
            *pos += 2;
            continue;
        }
        out.push(path);
        return;
    }
}

fn skip_space(s: &[u8], pos: &mut usize) {
    while s.get(*pos).is_some_and(|c| c.is_ascii_whitespace()) {
        *pos += 1;
    }
}

/// The lines of `source` that are not comments (doc comments included).
fn code_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
}

/// A cycle of `graph` as the path that closes it (`a -> b -> a`), or `None` for a DAG.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = stack[from..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_owned(), Mark::Open);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, marks, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(cycle);
        }
    }
    None
}

fn describe(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, tos)| {
            let tos: Vec<&str> = tos.iter().map(String::as_str).collect();
            format!("  {from} -> {}", tos.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}
