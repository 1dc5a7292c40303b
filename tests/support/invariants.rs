//! The safety invariants, checked at the end of every offboarding test against the emulator's
//! request log, one copy for every test binary:
//!
//! - no user is deleted (`DELETE /api/v2/users/{id}`) and no GDPR call is made;
//! - every state PATCH (`PATCH /api/v2/users/{id}`) carries exactly `{state, version}`;
//! - the snapshot is persisted before the first Genesys write: in the status store of a
//!   reconciler test here ([`snapshot_is_persisted_before_the_first_write`]), in a status write
//!   the fake API server accepted for a controller test ([`super::k8s::check_invariants`]).
//!
//! Each returns the first violation as an error, for the caller to fail with (or to report with
//! the fault that caused it).

use genesys_emulator::RecordedRequest;
use genesys_offboarding_operator::reconcile::MemoryStore;
use serde_json::Value;

use super::genesys::{is_user_path, is_write};

/// No `DELETE /api/v2/users/{id}` and no GDPR request was sent.
pub fn never_deletes_a_user(requests: &[RecordedRequest]) -> Result<(), String> {
    for r in requests {
        if r.method == "DELETE" && is_user_path(&r.path) {
            return Err(format!("a user was deleted: {} {}", r.method, r.path));
        }
        if r.path.contains("gdpr") {
            return Err(format!("a GDPR request was sent: {}", r.path));
        }
    }
    Ok(())
}

/// Every `PATCH /api/v2/users/{id}` carried a body of exactly `state` and `version`, or, for
/// the handoff of a direct report (or its restore), exactly `manager` and `version`.
pub fn state_patches_carry_only_state_and_version(
    requests: &[RecordedRequest],
) -> Result<(), String> {
    for r in requests
        .iter()
        .filter(|r| r.method == "PATCH" && is_user_path(&r.path))
    {
        let keys: Option<Vec<&str>> = r.body.as_ref().and_then(Value::as_object).map(|body| {
            let mut keys: Vec<&str> = body.keys().map(String::as_str).collect();
            keys.sort_unstable();
            keys
        });
        if keys.as_deref() != Some(&["state", "version"][..])
            && keys.as_deref() != Some(&["manager", "version"][..])
        {
            return Err(format!("PATCH {} carried {:?}", r.path, r.body));
        }
    }
    Ok(())
}

/// The status store held a snapshot no later than the first Genesys write.
pub fn snapshot_is_persisted_before_the_first_write(
    store: &MemoryStore,
    requests: &[RecordedRequest],
) -> Result<(), String> {
    let Some(first_write) = requests.iter().find(|r| is_write(r)) else {
        return Ok(());
    };
    let saved = store
        .history()
        .into_iter()
        .find(|s| s.status.snapshot.is_some())
        .ok_or_else(|| {
            format!(
                "{} {} ran with no snapshot saved",
                first_write.method, first_write.path
            )
        })?;
    if saved.at > first_write.time {
        return Err(format!(
            "the snapshot was saved at {} but {} {} ran at {}",
            saved.at, first_write.method, first_write.path, first_write.time
        ));
    }
    Ok(())
}

/// Every safety invariant of a reconciler test at once.
pub fn invariants(store: &MemoryStore, requests: &[RecordedRequest]) -> Result<(), String> {
    never_deletes_a_user(requests)?;
    state_patches_carry_only_state_and_version(requests)?;
    snapshot_is_persisted_before_the_first_write(store, requests)
}
