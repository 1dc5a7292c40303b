//! The emulator's modules depend on each other one way only: no module uses a module that
//! (directly or through others) uses it back, and no module reaches into the crate root, which
//! only declares modules and re-exports. Read from the sources, so a new import that closes a
//! circle fails here with the circle named.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;

/// Each module (file stem of `src/*.rs`, `lib` excluded) and the sibling modules it names, read
/// from `super::x` and `crate::x` paths outside comments and `#[cfg(test)]` code. A name that is
/// not a module is recorded as `lib` (an item of the crate root).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            files.insert(stem, std::fs::read_to_string(&path).unwrap());
        }
    }
    let modules: BTreeSet<String> = files.keys().filter(|m| *m != "lib").cloned().collect();
    let single = Regex::new(r"\b(?:super|crate)::([A-Za-z_][A-Za-z0-9_]*)").unwrap();
    let group = Regex::new(r"\b(?:super|crate)::\{([^}]*)\}").unwrap();
    let mut graph = BTreeMap::new();
    for (module, text) in files.iter().filter(|(m, _)| *m != "lib") {
        // Unit tests may use anything; they are not part of the layering.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut names: Vec<String> = single
            .captures_iter(&code)
            .map(|c| c[1].to_owned())
            .collect();
        for c in group.captures_iter(&code) {
            names.extend(
                c[1].split(',')
                    .filter_map(|part| part.trim().split("::").next())
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            );
        }
        let used: BTreeSet<String> = names
            .into_iter()
            .filter(|n| n != "self" && n != module)
            .map(|n| {
                if modules.contains(&n) {
                    n
                } else {
                    "lib".to_owned()
                }
            })
            .collect();
        graph.insert(module.clone(), used);
    }
    graph
}

/// A circle through `start`, if any (depth-first).
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = imports();
    assert!(graph.len() > 10, "read too few modules: {graph:?}");
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|m| circle(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn no_module_reaches_into_the_crate_root() {
    let offenders: Vec<String> = imports()
        .into_iter()
        .filter(|(_, used)| used.contains("lib"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        offenders.is_empty(),
        "these modules use items of lib.rs instead of the module that defines them: {offenders:?}"
    );
}

#[test]
fn the_route_table_names_the_handlers_and_no_handler_names_the_table() {
    let graph = imports();
    for handler in [
        "users",
        "search",
        "routing",
        "org",
        "analytics",
        "aggregates",
    ] {
        assert!(graph["ops"].contains(handler), "ops does not use {handler}");
    }
    let back: Vec<&String> = graph
        .iter()
        .filter(|(m, used)| *m != "server" && used.contains("ops"))
        .map(|(m, _)| m)
        .collect();
    assert!(
        back.is_empty(),
        "only the pipeline may use the route table: {back:?}"
    );
    assert!(graph["control"].contains("server"));
    assert!(!graph["server"].contains("control"));
}
