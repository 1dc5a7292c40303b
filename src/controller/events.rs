//! Kubernetes Events (`events.k8s.io`, through kube's [`Recorder`]) for what a pass did: the
//! reconciler's own Events ([`crate::reconcile::Event`]: Offboarded, Stalled reasons, drift,
//! Restored), one Event per step carried out (reason: the step, e.g. `Deactivate`), the start of
//! a wait (`Scheduled`, `WaitingForActiveConversation`), and each failed pass (reason: the error's
//! `PascalCase` reason, the same string as the condition reason and the metric label). Failing to
//! publish an Event is logged, never fatal. I/O: Kubernetes `POST`/`PATCH` of Events.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};

use crate::crd::ActionRecord;

/// Events API limit on a note.
const MAX_NOTE: usize = 1024;

/// Publishes the Events of one resource.
pub struct Publisher<'a> {
    recorder: &'a Recorder,
    reference: ObjectReference,
}

impl<'a> Publisher<'a> {
    /// `resource`: the offboarding, as read or as cached.
    pub fn new(recorder: &'a Recorder, resource: &impl Resource<DynamicType = ()>) -> Self {
        Self {
            recorder,
            reference: resource.object_ref(&()),
        }
    }

    /// Publishes one Event. `action` says what the operator was doing (`Offboard`, `Restore`).
    pub async fn publish(&self, warning: bool, reason: &str, action: &str, note: &str) {
        let event = KubeEvent {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: reason.to_owned(),
            note: Some(truncate(note)),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(error) = self.recorder.publish(&event, &self.reference).await {
            tracing::warn!(%error, reason, "failed to publish an Event");
        }
    }

    /// One Event per step carried out by a pass ([`crate::reconcile::PassResult::steps`]).
    pub async fn steps(&self, steps: &[ActionRecord], action: &str) {
        for record in steps {
            let note = match &record.target {
                Some(target) => format!("{} done ({target})", record.step),
                None => format!("{} done", record.step),
            };
            self.publish(false, record.step.as_str(), action, &note)
                .await;
        }
    }
}

fn truncate(note: &str) -> String {
    if note.len() <= MAX_NOTE {
        return note.to_owned();
    }
    let mut end = MAX_NOTE - 3;
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &note[..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn long_notes_are_cut_to_the_events_api_limit() {
        let note = "é".repeat(2000);
        let cut = truncate(&note);
        assert!(cut.len() <= MAX_NOTE);
        assert!(cut.ends_with("..."));
    }
}
