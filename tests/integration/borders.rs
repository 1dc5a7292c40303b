//! The workspace's borders, checked from Cargo's own dependency resolution (`cargo metadata`),
//! so a later change cannot break them silently:
//!
//! - the Genesys client (`genesys-cloud`) depends on neither kube nor k8s-openapi;
//! - the emulator (`genesys-emulator`) depends on neither kube, k8s-openapi nor the client, so it
//!   stays an independent oracle of the real API;
//! - the fake API server is never a normal dependency of the operator (not in its binary or
//!   image), and without its default `emulator` feature the operator links no emulator.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// The normal (non-dev) dependency closure of each workspace package, by package name.
struct Graph {
    names: HashMap<String, String>,
    edges: HashMap<String, Vec<String>>,
}

impl Graph {
    fn load(extra: &[&str]) -> Self {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let output = Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--locked"])
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
        let names = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["id"].as_str().unwrap().to_owned(),
                    p["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let edges = metadata["resolve"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                let normal = node["deps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|dep| {
                        dep["dep_kinds"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|k| k["kind"].is_null() || k["kind"] == "build")
                    })
                    .map(|dep| dep["pkg"].as_str().unwrap().to_owned())
                    .collect();
                (node["id"].as_str().unwrap().to_owned(), normal)
            })
            .collect();
        Self { names, edges }
    }

    /// Every package `package` links, by name (itself excluded).
    fn closure(&self, package: &str) -> BTreeSet<String> {
        let start = self
            .names
            .iter()
            .find_map(|(id, name)| (name == package).then(|| id.clone()))
            .unwrap_or_else(|| panic!("no package {package} in the workspace"));
        let mut seen = BTreeSet::new();
        let mut todo = vec![start];
        while let Some(id) = todo.pop() {
            for dep in self.edges.get(&id).into_iter().flatten() {
                if seen.insert(dep.clone()) {
                    todo.push(dep.clone());
                }
            }
        }
        seen.iter().map(|id| self.names[id].clone()).collect()
    }
}

fn assert_links_none(graph: &Graph, package: &str, forbidden: &[&str]) {
    let linked = graph.closure(package);
    let found: Vec<&&str> = forbidden.iter().filter(|f| linked.contains(**f)).collect();
    assert!(
        found.is_empty(),
        "{package} must not depend on {found:?} (see `cargo tree -p {package} -e normal`)"
    );
}

#[test]
fn the_genesys_client_never_depends_on_kubernetes_crates() {
    let graph = Graph::load(&[]);

    assert_links_none(
        &graph,
        "genesys-cloud",
        &["kube", "kube-client", "k8s-openapi"],
    );
    assert_links_none(
        &graph,
        "genesys-cloud",
        &["genesys-emulator", "fake-apiserver"],
    );
}

#[test]
fn the_emulator_depends_on_neither_kubernetes_nor_the_client() {
    let graph = Graph::load(&[]);

    assert_links_none(
        &graph,
        "genesys-emulator",
        &["kube", "kube-client", "k8s-openapi", "genesys-cloud"],
    );
}

#[test]
fn the_fake_api_server_is_never_linked_into_the_operator() {
    let graph = Graph::load(&[]);

    assert_links_none(&graph, "genesys-offboarding-operator", &["fake-apiserver"]);
    assert!(
        graph
            .closure("genesys-offboarding-operator")
            .contains("genesys-cloud")
    );
}

#[test]
fn without_the_emulator_feature_the_operator_links_no_emulator() {
    let graph = Graph::load(&["--no-default-features"]);

    assert_links_none(
        &graph,
        "genesys-offboarding-operator",
        &["genesys-emulator", "fake-apiserver"],
    );
}
