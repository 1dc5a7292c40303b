//! The README and `docs/` as a reader follows them.
//!
//! - Every relative link in `README.md` and `docs/*.md` leads to a file or folder of the
//!   repository, and every `#anchor` to a heading of the target page (by GitHub's slug rules) or
//!   to an explicit `<a id>` / `<a name>` in it. Links inside code are not links and are skipped;
//!   links to other sites are not followed (no network in tests).
//! - `docs/troubleshooting.md` carries an anchor `reason-<reason in lower case>` for every reason
//!   the operator can set, read from the source, so alerts and runbooks can link to a reason
//!   and a new reason cannot ship without its row.
//! - The README keeps the two commands a newcomer runs first, verbatim.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `README.md` and every `docs/*.md`, relative to `root`, sorted.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![PathBuf::from("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| path.strip_prefix(root).unwrap().to_path_buf())
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

// --- Markdown, as far as links and anchors need it ----------------------------------------------

/// The lines of `text` that are rendered as Markdown, with their line numbers (from 1): fenced
/// code blocks (```` ``` ```` or `~~~`) are dropped.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<String> = None;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        let is_fence =
            marker.len() >= 3 && marker.chars().all(|c| c == marker.as_bytes()[0] as char);
        match &fence {
            Some(open) if is_fence && trimmed.starts_with(open.as_str()) => fence = None,
            Some(_) => {}
            None if is_fence => fence = Some(marker),
            None => lines.push((index + 1, line)),
        }
    }
    lines
}

/// `line` without its code spans (`` `…` ``, with any number of backticks), which are never
/// links or anchors. A backtick run with no closing run is kept as text, as Markdown does.
fn without_code_spans(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] != '`' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|c| **c == '`').count();
        let mut j = i + run;
        let mut close = None;
        while j < chars.len() {
            if chars[j] == '`' {
                let other = chars[j..].iter().take_while(|c| **c == '`').count();
                if other == run {
                    close = Some(j + other);
                    break;
                }
                j += other;
            } else {
                j += 1;
            }
        }
        if let Some(end) = close {
            i = end;
        } else {
            out.extend(&chars[i..i + run]);
            i += run;
        }
    }
    out
}

/// The targets of the inline links (`[text](target)`, images too), of a reference definition
/// (`[label]: target`) and of the `href`s of `line`, which holds no code span.
fn link_targets(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    if let Some(definition) = line.trim_start().strip_prefix('[')
        && let Some((_, target)) = definition.split_once("]: ")
        && let Some(target) = target.split_whitespace().next()
    {
        targets.push(
            target
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned(),
        );
    }
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find([')', ' ']).unwrap_or(after.len());
        let target = after[..end].trim_start_matches('<').trim_end_matches('>');
        if !target.is_empty() {
            targets.push(target.to_owned());
        }
        rest = &after[end..];
    }
    targets.extend(attribute_values(line, "href"));
    targets
}

/// The values of `name="…"` attributes in `line`.
fn attribute_values(line: &str, name: &str) -> Vec<String> {
    let needle = format!("{name}=\"");
    let mut values = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(&needle) {
        let preceded_by_space = rest[..at].ends_with([' ', '<']);
        let after = &rest[at + needle.len()..];
        let Some(end) = after.find('"') else { break };
        if preceded_by_space {
            values.push(after[..end].to_owned());
        }
        rest = &after[end..];
    }
    values
}

/// GitHub's anchor for a heading: the rendered text in lower case, without punctuation or
/// symbols (letters, digits, `-` and `_` stay), each space a `-`.
fn slug(heading: &str) -> String {
    rendered(heading)
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The text a heading renders: code spans keep their text without the backticks, links their
/// text, HTML tags go.
fn rendered(heading: &str) -> String {
    let mut out = String::new();
    let mut chars = heading.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' | '[' => {}
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            ']' if chars.peek() == Some(&'(') => {
                for c in chars.by_ref() {
                    if c == ')' {
                        break;
                    }
                }
            }
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

/// Every anchor of a page: its headings' slugs (a repeated slug gets `-1`, `-2`, ... as on
/// GitHub) and its explicit `<a id>` / `<a name>`.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut anchors = BTreeSet::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let text = line[hashes..].trim().trim_end_matches('#').trim();
            let base = slug(text);
            let count = seen.entry(base.clone()).or_insert(0);
            let anchor = if *count == 0 {
                base.clone()
            } else {
                format!("{base}-{count}")
            };
            *count += 1;
            anchors.insert(anchor);
        }
        let line = without_code_spans(line);
        if line.contains("<a ") {
            anchors.extend(attribute_values(&line, "id"));
            anchors.extend(attribute_values(&line, "name"));
        }
    }
    anchors
}

/// `base` joined with the relative `target`, with `.` and `..` resolved; `None` when it climbs
/// out of the repository.
fn resolve(base: &Path, target: &str) -> Option<PathBuf> {
    let joined = base.join(target);
    let mut parts: Vec<Component> = Vec::new();
    for component in joined.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.iter().collect())
}

/// Every broken link of `pages` (relative to `root`), as `page:line: target: why`.
fn broken_links(root: &Path, pages: &[PathBuf]) -> Vec<String> {
    let mut texts: HashMap<PathBuf, String> = HashMap::new();
    let mut text_of = |path: &Path| -> Option<String> {
        if !texts.contains_key(path) {
            texts.insert(
                path.to_path_buf(),
                std::fs::read_to_string(root.join(path)).ok()?,
            );
        }
        texts.get(path).cloned()
    };
    let mut broken = Vec::new();
    for page in pages {
        let text = text_of(page).unwrap();
        for (number, line) in prose_lines(&text) {
            for target in link_targets(&without_code_spans(line)) {
                let mut problem = |why: &str| {
                    broken.push(format!("{}:{number}: {target}: {why}", page.display()));
                };
                if target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, fragment) = match target.split_once('#') {
                    Some((path, fragment)) => (path, Some(fragment)),
                    None => (target.as_str(), None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else if path.starts_with('/') {
                    problem(
                        "an absolute path; GitHub resolves it against the site, not the repository",
                    );
                    continue;
                } else {
                    let Some(file) = resolve(page.parent().unwrap(), path) else {
                        problem("leaves the repository");
                        continue;
                    };
                    if !root.join(&file).exists() {
                        problem("no such file");
                        continue;
                    }
                    file
                };
                let Some(fragment) = fragment else { continue };
                if file.extension().is_some_and(|ext| ext == "md") {
                    let target_text = text_of(&file).unwrap();
                    if !anchors(&target_text).contains(fragment) {
                        problem("no such anchor");
                    }
                } else if !is_line_anchor(fragment) {
                    problem("an anchor into a file that is not Markdown");
                }
            }
        }
    }
    broken
}

/// GitHub's anchors into a source file: `L12` or `L12-L20`.
fn is_line_anchor(fragment: &str) -> bool {
    let line = |s: &str| {
        s.strip_prefix('L')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    match fragment.split_once('-') {
        Some((from, to)) => line(from) && line(to),
        None => line(fragment),
    }
}

// --- The repository's pages -------------------------------------------------------------------

#[test]
fn every_relative_link_and_anchor_in_the_readme_and_docs_resolves() {
    let pages = pages(root());
    assert!(
        pages.len() > 5,
        "README.md and docs/*.md: found only {pages:?}"
    );

    let broken = broken_links(root(), &pages);

    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_links_every_page_of_docs() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let linked: BTreeSet<String> = prose_lines(&readme)
        .into_iter()
        .flat_map(|(_, line)| link_targets(&without_code_spans(line)))
        .map(|target| target.split('#').next().unwrap_or_default().to_owned())
        .collect();

    let unlinked: Vec<String> = pages(root())
        .into_iter()
        .skip(1)
        .map(|page| page.display().to_string())
        .filter(|page| !linked.contains(page))
        .collect();

    assert!(
        unlinked.is_empty(),
        "docs pages the README does not link (add a row to its Documentation table): {unlinked:?}"
    );
}

#[test]
fn the_readme_keeps_the_quick_start_and_the_test_command_verbatim() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands: Vec<&str> = readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .flat_map(str::lines)
        .collect();

    for command in [
        "cargo run -- reconcile --sim -f examples/offboarding.yaml",
        "scripts/test",
    ] {
        assert!(
            commands.contains(&command),
            "README.md has no sh block with `{command}`"
        );
    }
}

/// The string literals of every `fn reason(&self) -> &'static str` in `file` (relative to the
/// repository root): the reasons its errors put in conditions, Events and metrics.
fn reasons_of_errors(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    let mut reasons = BTreeSet::new();
    for (at, _) in text.match_indices("fn reason(&self) -> &'static str {") {
        let body = &text[at..];
        let mut depth = 0;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        reasons.extend(
            body[..end]
                .split('"')
                .skip(1)
                .step_by(2)
                .filter(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
                .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
                .map(str::to_owned),
        );
    }
    reasons
}

/// The values of the top-level `pub const NAME: &str = "Value";` lines of `file` whose value
/// reads as a reason (an upper-case ASCII word).
fn reasons_of_constants(file: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join(file)).unwrap();
    text.lines()
        .filter_map(|line| line.strip_prefix("pub const "))
        .filter(|line| line.contains(": &str = \""))
        .filter_map(|line| line.split('"').nth(1))
        .filter(|s| s.starts_with(|c: char| c.is_ascii_uppercase()))
        .filter(|s| s.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(str::to_owned)
        .collect()
}

/// The values of the `reason` module of `src/crd.rs`.
fn reasons_of_the_crd() -> BTreeSet<String> {
    let text = std::fs::read_to_string(root().join("src/crd.rs")).unwrap();
    let module = text.split("pub mod reason {").nth(1).unwrap();
    let module = &module[..module.find("\n}").unwrap()];
    module
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|line| line.split('"').nth(1))
        .map(str::to_owned)
        .collect()
}

#[test]
fn troubleshooting_has_an_anchor_for_every_reason_the_operator_sets() {
    let mut reasons = reasons_of_the_crd();
    for file in [
        "src/reconcile/error.rs",
        "src/controller/reconciler.rs",
        "crates/genesys-cloud/src/error.rs",
    ] {
        reasons.extend(reasons_of_errors(file));
    }
    // The handoff's own Stalled reasons are constants of its module, not literals in a
    // `fn reason`.
    reasons.extend(reasons_of_constants("src/reconcile/handoff.rs"));
    // The scan must find what it is meant to find, or an empty list would pass.
    for known in [
        "HistoryLost",
        "AwaitingConfirmation",
        "SecretUnreadable",
        "PassTimedOut",
        "RateLimited",
        "SuccessorUnresolved",
        "AwaitingImpactAcknowledgement",
    ] {
        assert!(reasons.contains(known), "{known} not found in {reasons:?}");
    }
    let text = std::fs::read_to_string(root().join("docs/troubleshooting.md")).unwrap();
    let anchors = anchors(&text);

    let missing: Vec<String> = reasons
        .iter()
        .map(|reason| format!("reason-{}", reason.to_lowercase()))
        .filter(|anchor| !anchors.contains(anchor))
        .collect();

    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md lacks <a id=\"...\"></a> for {missing:?}"
    );
}

// --- The checker itself, on a small sample ------------------------------------------------------

#[test]
fn the_checker_reports_a_missing_file_and_a_missing_anchor_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(
        dir.path().join("README.md"),
        "# Sample\n\n\
         ## Quick start\n\n\
         See [the guide](docs/guide.md), [its second part](docs/guide.md#part-two-the-end),\n\
         [a reason](docs/guide.md#reason-historylost), [here](#quick-start) and\n\
         [a file](docs/data.yaml#L3-L5) or [the site](https://example.com/missing.md).\n\
         Broken: [gone](docs/gone.md) and [no anchor](docs/guide.md#part-three).\n\
         [by reference][ref]\n\n\
         [ref]: docs/also-gone.md\n\
         Not links: `[code](docs/nowhere.md)` and\n\n\
         ```md\n[fenced](docs/nowhere.md)\n```\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("docs/guide.md"),
        "# Guide\n\n## Part two: the end\n\n\
         | reason | what to do |\n|---|---|\n\
         | <a id=\"reason-historylost\"></a>`HistoryLost` | investigate |\n\n\
         Back to [the README](../README.md#sample).\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("docs/data.yaml"), "a: 1\n").unwrap();

    let broken = broken_links(
        dir.path(),
        &[PathBuf::from("README.md"), PathBuf::from("docs/guide.md")],
    );

    assert_eq!(
        broken,
        [
            "README.md:8: docs/gone.md: no such file",
            "README.md:8: docs/guide.md#part-three: no such anchor",
            "README.md:11: docs/also-gone.md: no such file",
        ]
    );
}

#[test]
fn the_checker_reports_links_that_leave_the_repository_or_point_into_non_markdown() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("README.md"),
        "[up](../outside.md) [abs](/README.md) [yaml](data.yaml#top)\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("data.yaml"), "a: 1\n").unwrap();

    let broken = broken_links(dir.path(), &[PathBuf::from("README.md")]);

    assert_eq!(
        broken,
        [
            "README.md:1: ../outside.md: leaves the repository",
            "README.md:1: /README.md: an absolute path; GitHub resolves it against the site, not the repository",
            "README.md:1: data.yaml#top: an anchor into a file that is not Markdown",
        ]
    );
}

#[test]
fn slugs_follow_github() {
    for (heading, anchor) in [
        (
            "Custom endpoints (`apiBaseUrl`, `loginBaseUrl`) are the operator's decision",
            "custom-endpoints-apibaseurl-loginbaseurl-are-the-operators-decision",
        ),
        (
            "`genesys-offboarding reconcile -f FILE`",
            "genesys-offboarding-reconcile--f-file",
        ),
        (
            "Install in a cluster (Kubernetes 1.33+)",
            "install-in-a-cluster-kubernetes-133",
        ),
        (
            "Tests against a real cluster (`#[ignore]`d)",
            "tests-against-a-real-cluster-ignored",
        ),
        (
            "Metrics (prefix `genesys_offboarding_`)",
            "metrics-prefix-genesys_offboarding_",
        ),
        ("See [the page](other.md) <br>", "see-the-page"),
    ] {
        assert_eq!(slug(heading), anchor, "{heading}");
    }
}

#[test]
fn a_repeated_heading_gets_a_numbered_anchor_and_code_blocks_hold_no_headings() {
    let anchors = anchors("# Notes\n\n## Notes\n\n```sh\n# not a heading\n```\n\n### Notes #\n");

    assert_eq!(
        anchors,
        BTreeSet::from([
            "notes".to_owned(),
            "notes-1".to_owned(),
            "notes-2".to_owned()
        ])
    );
}
