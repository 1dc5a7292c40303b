//! Translates the resource's spec into the plan's domain [`Policy`], and converts between
//! Kubernetes times (`metav1.Time`, jiff) and the chrono times the client and the plan use.
//! Pure: no I/O.

use chrono::{DateTime, Utc};
use genesys_cloud::StateChangeReason;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::plan::{ConversationPolicy, Mode, Policy};
use crate::crd::{
    ActiveConversationPolicy, GenesysUserOffboardingSpec, ManagementPolicy, SnapshotScope,
};

/// The plan's view of the spec.
pub fn policy(spec: &GenesysUserOffboardingSpec) -> Policy {
    Policy {
        mode: match spec.management_policy {
            ManagementPolicy::Enforce => Mode::Enforce,
            ManagementPolicy::Observe => Mode::Observe,
        },
        set_off_queue: spec.routing.set_off_queue,
        remove_from_queues: spec.routing.remove_from_queues,
        clear_station: spec.routing.clear_station,
        remove_skills: spec.routing.remove_skills,
        remove_languages: spec.routing.remove_languages,
        active_conversations: match spec.routing.active_conversations {
            ActiveConversationPolicy::Wait => ConversationPolicy::Wait,
            ActiveConversationPolicy::Proceed => ConversationPolicy::Proceed,
        },
        revoke_sessions: spec.revoke_sessions,
        reason: spec.reason.map(StateChangeReason::from),
        effective_at: spec.effective_at.as_ref().map(from_time),
        handoff: spec.handoff.is_some(),
        minimal_snapshot: spec.snapshot_scope() == SnapshotScope::Minimal,
    }
}

/// A Kubernetes time as a chrono time.
pub fn from_time(time: &Time) -> DateTime<Utc> {
    let nanos = time.0.as_nanosecond();
    let seconds = i64::try_from(nanos.div_euclid(1_000_000_000)).unwrap_or(i64::MAX);
    let subsec = u32::try_from(nanos.rem_euclid(1_000_000_000)).unwrap_or(0);
    DateTime::from_timestamp(seconds, subsec).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// A chrono time as a Kubernetes time (whole microseconds are kept; RFC 3339 in YAML). A time
/// beyond the Kubernetes time's range becomes its nearest end, never another date.
pub fn to_time(time: DateTime<Utc>) -> Time {
    let micros = time.timestamp_micros();
    Time(
        Timestamp::from_microsecond(micros).unwrap_or(if micros < 0 {
            Timestamp::MIN
        } else {
            Timestamp::MAX
        }),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(yaml: &str) -> GenesysUserOffboardingSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn a_minimal_spec_maps_to_the_default_policy() {
        let spec =
            spec("user: {email: a@b.io}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n");

        assert_eq!(policy(&spec), Policy::default());
    }

    #[test]
    fn every_spec_field_reaches_the_policy() {
        let spec = spec(
            "user: {email: a@b.io}\ncredentialsSecretRef: {name: c}\nregion: us_east_1\n\
             routing: {setOffQueue: false, removeFromQueues: false, clearStation: false,\n\
               removeSkills: true, removeLanguages: true, activeConversations: Proceed}\n\
             revokeSessions: false\nreason: Seasonal\nmanagementPolicy: Observe\n\
             effectiveAt: 2030-01-02T03:04:05Z\nsnapshot: {scope: Minimal}\n",
        );

        let policy = policy(&spec);

        assert_eq!(
            policy,
            Policy {
                mode: Mode::Observe,
                set_off_queue: false,
                remove_from_queues: false,
                clear_station: false,
                remove_skills: true,
                remove_languages: true,
                active_conversations: ConversationPolicy::Proceed,
                revoke_sessions: false,
                reason: Some(StateChangeReason::Seasonal),
                effective_at: Some("2030-01-02T03:04:05Z".parse().unwrap()),
                handoff: false,
                minimal_snapshot: true,
            }
        );
    }

    #[test]
    fn the_latest_effective_at_the_crd_admits_converts_without_overflow() {
        let latest: Time =
            serde_json::from_value(serde_json::json!(crate::crd::EFFECTIVE_AT_MAX)).unwrap();

        let chrono = from_time(&latest);

        assert_eq!(
            chrono,
            "9999-12-30T22:00:00.999999999Z"
                .parse::<DateTime<Utc>>()
                .unwrap()
        );
        assert_eq!(to_time(chrono), latest);
        assert_eq!(to_time(DateTime::<Utc>::MAX_UTC).0, Timestamp::MAX);
        assert_eq!(to_time(DateTime::<Utc>::MIN_UTC).0, Timestamp::MIN);
    }

    #[test]
    fn times_round_trip_between_chrono_and_kubernetes() {
        let now: DateTime<Utc> = "2026-11-22T09:30:15.123456Z".parse().unwrap();

        assert_eq!(from_time(&to_time(now)), now);
    }
}
