//! The command-line companion: what a person reads before and after applying an offboarding.
//!
//! - [`plan`]: `genesys-offboarding plan -f FILE` (and `kubectl offboard plan -f FILE`): the
//!   Observe-mode pass of the reconciler on each resource of a file (resolve the user, snapshot,
//!   plan; never a Genesys write), printed for a human or as YAML/JSON.
//! - [`status`]: `kubectl offboard status NAME`: a resource's conditions and its action timeline,
//!   read from the cluster through the kubeconfig.
//! - [`plugin`]: the same binary as the kubectl plugin `kubectl-offboard` (chosen by the name it
//!   is invoked under).
//!
//! Both commands print from the same view, [`View`], built from a resource's status: one text
//! section per part of the status that is present ([`SECTIONS`]), so a new status part is one
//! field here and one section function. Nothing here prints a credential: the view holds no
//! spec field beyond the schedule, and the status holds none.

pub mod plan;
pub mod plugin;
pub mod status;

use std::fmt::Write as _;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::Serialize;

use crate::crd::{
    GenesysUserOffboarding, GroupMembership, HandoffStatus, HistoryResult, HistoryStatus,
    ImpactAction, ImpactStatus, NamedRef, PlannedStep, ResolvedEndpoint, ResolvedUser, condition,
};

/// How a resource stands, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    /// The reconciler finished its pass: `Ready=True` (in Observe mode: the plan is complete).
    Ready,
    /// A human must act (`Stalled=True`): the operator changes nothing until the resource is
    /// fixed. `reason` says why.
    Stalled,
    /// Neither yet: a pass failed and would be retried, is waiting, or was cut short.
    InProgress,
}

/// What the commands print about one resource: the same data in every output format, under
/// field names that stay (the status's own where it has one).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    pub name: String,
    pub namespace: Option<String>,
    pub verdict: Verdict,
    /// The reason of the `Stalled` condition when stalled, else of `Ready`.
    pub reason: String,
    /// The message that goes with `reason`.
    pub message: String,
    /// `spec.effectiveAt`: nothing is written before it.
    pub effective_at: Option<Time>,
    /// `spec.suspend`: nothing is done while it is true.
    pub suspended: bool,
    /// `status.user`.
    pub user: Option<ResolvedUser>,
    /// `status.endpoint`: the organization the user was resolved in.
    pub endpoint: Option<ResolvedEndpoint>,
    /// `status.plan`: the steps left, in order.
    pub steps: Vec<PlannedStep>,
    /// `status.groupMemberships`: queues the user is in through a group, a team or a skill
    /// group, which the operator only reports.
    pub group_memberships: Vec<GroupMembership>,
    /// `status.history`.
    pub history: Option<HistoryStatus>,
    /// `status.impact`: what depends on the user, and what the operator does about each.
    pub impact: Option<ImpactStatus>,
    /// `status.handoff`: the successor, and per kind of work what was found and moved.
    pub handoff: Option<HandoffStatus>,
}

impl View {
    /// The view of `resource` as its status stands.
    pub fn of(resource: &GenesysUserOffboarding) -> Self {
        let status = resource.status.clone().unwrap_or_default();
        let stalled = status
            .condition(condition::STALLED)
            .filter(|c| c.status == "True");
        let ready = status.condition(condition::READY);
        let (verdict, shown) = match (stalled, ready) {
            (Some(stalled), _) => (Verdict::Stalled, Some(stalled)),
            (None, Some(ready)) if ready.status == "True" => (Verdict::Ready, Some(ready)),
            (None, ready) => (Verdict::InProgress, ready),
        };
        Self {
            name: resource.metadata.name.clone().unwrap_or_default(),
            namespace: resource.metadata.namespace.clone(),
            verdict,
            reason: shown.map_or_else(|| "NotReconciled".to_owned(), |c| c.reason.clone()),
            message: shown.map(|c| c.message.clone()).unwrap_or_default(),
            effective_at: resource.spec.effective_at.clone(),
            suspended: resource.spec.suspend,
            user: status.user,
            endpoint: status.endpoint,
            steps: status.plan,
            group_memberships: status.group_memberships,
            history: status.history,
            impact: status.impact,
            handoff: status.handoff,
        }
    }

    /// `namespace/name`, or the name alone.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// One text section: writes its heading and lines when its part of the view is present, and
/// nothing otherwise.
pub type Section = fn(&View, &mut String);

/// The sections, in the order they are printed.
pub const SECTIONS: &[Section] = &[
    user_section,
    schedule_section,
    steps_section,
    reported_section,
    impact_section,
    handoff_section,
    history_section,
];

/// Every section of `view` that has something to say, each after a blank line.
pub fn sections(view: &View, out: &mut String) {
    for section in SECTIONS {
        let mut text = String::new();
        section(view, &mut text);
        if !text.is_empty() {
            out.push('\n');
            out.push_str(&text);
        }
    }
}

fn user_section(view: &View, out: &mut String) {
    let Some(user) = &view.user else { return };
    out.push_str("User\n");
    let mut rows = vec![
        ("Name", user.name.clone().unwrap_or_else(|| "-".to_owned())),
        (
            "Email",
            user.email.clone().unwrap_or_else(|| "-".to_owned()),
        ),
        ("Id", user.id.clone()),
    ];
    if let Some(division) = &user.division {
        rows.push(("Division", named(division)));
    }
    let state = match (&user.state_before, &user.state_now) {
        (Some(before), Some(now)) if before == now => now.to_string(),
        (Some(before), Some(now)) => format!("{now} (was {before})"),
        (None, Some(now)) => now.to_string(),
        (Some(before), None) => format!("{before} before any change"),
        (None, None) => "-".to_owned(),
    };
    rows.push(("State", state));
    if let Some(version) = user.version {
        rows.push(("Version", version.to_string()));
    }
    if let Some(endpoint) = &view.endpoint {
        rows.push(("Organization", endpoint.to_string()));
    }
    fields(&rows, out);
}

fn schedule_section(view: &View, out: &mut String) {
    if view.effective_at.is_none() && !view.suspended {
        return;
    }
    out.push_str("Schedule\n");
    if let Some(at) = &view.effective_at {
        let _ = writeln!(
            out,
            "  effectiveAt {}: nothing is written to Genesys Cloud before then",
            at.0
        );
    }
    if view.suspended {
        out.push_str("  suspended: nothing is done while spec.suspend is true\n");
    }
}

fn steps_section(view: &View, out: &mut String) {
    if view.steps.is_empty() {
        return;
    }
    let _ = writeln!(out, "Steps ({}, in order)", view.steps.len());
    let rows: Vec<Vec<String>> = view
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            vec![
                format!("{}.", i + 1),
                step.step.to_string(),
                step.detail
                    .clone()
                    .or_else(|| step.target.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    indented(&table(None, &rows), out);
}

fn reported_section(view: &View, out: &mut String) {
    if view.group_memberships.is_empty() {
        return;
    }
    out.push_str(
        "Reported only (queues joined through a group, team or skill group: remove the user from \
         it, or it from the queue)\n",
    );
    let rows: Vec<Vec<String>> = view
        .group_memberships
        .iter()
        .map(|m| {
            vec![
                format!("queue {}", named(&m.queue)),
                match (&m.group_type, &m.group) {
                    (Some(kind), Some(group)) => format!("through {kind} {}", named(group)),
                    (None, Some(group)) => format!("through {}", named(group)),
                    (Some(kind), None) => format!("through a {kind}"),
                    (None, None) => "through a group".to_owned(),
                },
            ]
        })
        .collect();
    indented(&table(None, &rows), out);
}

fn impact_section(view: &View, out: &mut String) {
    let Some(impact) = &view.impact else { return };
    let _ = writeln!(
        out,
        "Impact ({} item(s), digest {})",
        impact.items.len(),
        impact.digest
    );
    let rows: Vec<Vec<String>> = impact
        .items
        .iter()
        .map(|i| {
            let object = match (i.id.is_empty(), i.name.is_empty()) {
                (true, _) => String::new(),
                (false, true) => i.id.clone(),
                (false, false) if i.name == i.id => i.name.clone(),
                (false, false) => format!("{} ({})", i.name, i.id),
            };
            vec![
                format!("{:?}", i.kind),
                match i.action {
                    ImpactAction::HandedOff => "handed off",
                    ImpactAction::ReportedOnly => "reported only",
                }
                .to_owned(),
                object,
                i.detail.clone().unwrap_or_default(),
            ]
        })
        .collect();
    indented(&table(None, &rows), out);
}

fn handoff_section(view: &View, out: &mut String) {
    let Some(handoff) = &view.handoff else { return };
    out.push_str(
        "Handoff
",
    );
    let successor = handoff.successor.as_ref().map_or_else(
        || "-".to_owned(),
        |s| match &s.name {
            Some(name) => format!("{name} ({})", s.id),
            None => s.id.clone(),
        },
    );
    fields(&[("Successor", successor)], out);
    if handoff.kinds.is_empty() {
        out.push_str("  nothing to hand off was found\n");
        return;
    }
    let rows: Vec<Vec<String>> = handoff
        .kinds
        .iter()
        .map(|k| {
            vec![
                k.kind.as_str().to_owned(),
                k.found.to_string(),
                k.moved.to_string(),
                k.not_movable
                    .iter()
                    .map(|n| format!("{}: {}", n.id, n.reason))
                    .collect::<Vec<_>>()
                    .join("; "),
            ]
        })
        .collect();
    indented(
        &table(Some(&["KIND", "FOUND", "MOVED", "NOT MOVABLE"]), &rows),
        out,
    );
}

fn history_section(view: &View, out: &mut String) {
    let Some(history) = &view.history else { return };
    out.push_str("History\n");
    let mut rows = vec![("Window", history.interval.clone())];
    if let Some(before) = history.conversations_before {
        rows.push(("Before", format!("{before} conversation(s)")));
    }
    if let Some(after) = history.conversations_after {
        rows.push(("After", format!("{after} conversation(s)")));
    }
    let result = match history.result {
        Some(HistoryResult::Preserved) => "Preserved",
        Some(HistoryResult::Lost) => "Lost",
        Some(HistoryResult::NoHistory) => "NoHistory",
        Some(HistoryResult::Unconfirmed) => "Unconfirmed (checked again before it is Lost)",
        None => "counted again after deactivation, to prove it is kept",
    };
    rows.push(("Result", result.to_owned()));
    fields(&rows, out);
}

/// `name (id)`, or the id alone.
pub fn named(reference: &NamedRef) -> String {
    match &reference.name {
        Some(name) => format!("{name} ({})", reference.id),
        None => reference.id.clone(),
    }
}

/// `  Label:  value` lines, the values aligned.
fn fields(rows: &[(&str, String)], out: &mut String) {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    for (label, value) in rows {
        let _ = writeln!(out, "  {:<width$}  {value}", format!("{label}:"));
    }
}

fn indented(text: &str, out: &mut String) {
    for line in text.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// A table: columns padded to their widest cell, two spaces apart, the last one left as long
/// as it is (a message is never cut). An empty cell is shown as `-`.
pub fn table(headers: Option<&[&str]>, rows: &[Vec<String>]) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if let Some(headers) = headers {
        all.push(headers.iter().map(|h| (*h).to_owned()).collect());
    }
    all.extend(rows.iter().map(|row| {
        row.iter()
            .map(|cell| {
                if cell.is_empty() {
                    "-".to_owned()
                } else {
                    cell.clone()
                }
            })
            .collect()
    }));
    let columns = all.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            all.iter()
                .filter_map(|row| row.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &all {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[c]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_every_column_but_the_last_and_shows_empty_cells_as_dashes() {
        let rows = vec![
            vec![
                "Ready".to_owned(),
                "True".to_owned(),
                "a long message".to_owned(),
            ],
            vec!["Stalled".to_owned(), String::new(), String::new()],
        ];

        let text = table(Some(&["TYPE", "STATUS", "MESSAGE"]), &rows);

        assert_eq!(
            text,
            "TYPE     STATUS  MESSAGE\nReady    True    a long message\nStalled  -       -\n"
        );
    }
}
