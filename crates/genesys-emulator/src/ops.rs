//! The route table: every operation of the contract (op id, method, path template, the
//! permissions of docs/genesys-api.md §9 / contract.json) and the handler that serves it.
//!
//! The table is the single source of truth for routing, permission checks and the operation
//! name recorded per request; tests compare it with `contract/genesys-contract.json`.

use super::call::{Call, Reply};
use super::errors::ApiError;
use super::state::Org;
use super::{
    aggregates, analytics, handoff, impact, org, quality, routing, search, settings, users,
};

/// Serves one operation against the organization (the lock is held by the caller).
pub type Handler = fn(&mut Org, &Call<'_>) -> Result<Reply, ApiError>;

/// Permissions an operation declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    /// None declared: any valid token may call it.
    None,
    /// Any one of these is enough.
    Any(&'static [&'static str]),
    /// Every one of these is needed.
    All(&'static [&'static str]),
}

/// One Platform API v2 operation served by the emulator.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The contract's op id (`get_user`, `patch_user`, ...).
    pub id: &'static str,
    pub method: &'static str,
    /// Path template with `{name}` parameters.
    pub path: &'static str,
    pub permissions: Perms,
    pub handler: Handler,
}

const PATCH_USER: &[&str] = &[
    "admin",
    "directory:user:edit",
    "directory:organization:admin",
];
const DELETE_USER: &[&str] = &[
    "admin",
    "directory:user:delete",
    "directory:organization:admin",
];
const USER_VIEW: &[&str] = &["directory:user:view"];
const QUEUE_JOIN: &[&str] = &["routing:queue:join", "routing:queueMember:manage"];
const QUEUE_MEMBERS_VIEW: &[&str] = &[
    "routing:queue:view",
    "routing:queue:edit",
    "routing:queue:readonly",
    "routing:queueMember:manage",
];
const QUEUE_MEMBERS_EDIT: &[&str] = &["routing:queue:edit", "routing:queueMember:manage"];
const QUEUE_VIEW: &[&str] = &["routing:queue:view"];
const SKILL_ASSIGN: &[&str] = &["routing:skill:assign"];
const LANGUAGE_ASSIGN: &[&str] = &["routing:skill:assign", "routing:language:assign"];
const DETAILS_VIEW: &[&str] = &[
    "analytics:conversationDetail:view",
    "analytics:agentConversationDetail:view",
];

const WFM_AGENT_VIEW: &[&str] = &[
    "wfm:agent:view",
    "wfm:publishedSchedule:view",
    "wfm:schedule:view",
    "coaching:appointment:add",
    "coaching:appointment:edit",
    "learning:assignment:add",
    "learning:assignment:reschedule",
];

macro_rules! op {
    ($id:ident, $method:literal, $path:literal, $perms:expr, $module:ident) => {
        Operation {
            id: stringify!($id),
            method: $method,
            path: $path,
            permissions: $perms,
            handler: $module::$id,
        }
    };
}

/// All 80 operations.
pub static OPERATIONS: &[Operation] = &[
    // users
    op!(
        get_user,
        "GET",
        "/api/v2/users/{userId}",
        Perms::None,
        users
    ),
    op!(get_users, "GET", "/api/v2/users", Perms::None, users),
    op!(
        post_users_search,
        "POST",
        "/api/v2/users/search",
        Perms::Any(USER_VIEW),
        search
    ),
    op!(
        get_users_search,
        "GET",
        "/api/v2/users/search",
        Perms::Any(USER_VIEW),
        search
    ),
    op!(
        get_users_query,
        "GET",
        "/api/v2/users/query",
        Perms::Any(USER_VIEW),
        users
    ),
    op!(
        patch_user,
        "PATCH",
        "/api/v2/users/{userId}",
        Perms::Any(PATCH_USER),
        users
    ),
    op!(
        delete_user,
        "DELETE",
        "/api/v2/users/{userId}",
        Perms::Any(DELETE_USER),
        users
    ),
    op!(
        get_user_state,
        "GET",
        "/api/v2/users/{userId}/state",
        Perms::Any(&["directory:userStateChange:view"]),
        users
    ),
    op!(
        put_user_state,
        "PUT",
        "/api/v2/users/{userId}/state",
        Perms::Any(&["directory:user:edit"]),
        users
    ),
    op!(
        get_user_adjacents,
        "GET",
        "/api/v2/users/{userId}/adjacents",
        Perms::None,
        users
    ),
    // routing
    op!(
        get_user_routingstatus,
        "GET",
        "/api/v2/users/{userId}/routingstatus",
        Perms::None,
        routing
    ),
    op!(
        put_user_routingstatus,
        "PUT",
        "/api/v2/users/{userId}/routingstatus",
        Perms::None,
        routing
    ),
    op!(
        get_user_queues,
        "GET",
        "/api/v2/users/{userId}/queues",
        Perms::Any(QUEUE_VIEW),
        routing
    ),
    op!(
        patch_user_queues,
        "PATCH",
        "/api/v2/users/{userId}/queues",
        Perms::Any(QUEUE_JOIN),
        routing
    ),
    op!(
        patch_user_queue,
        "PATCH",
        "/api/v2/users/{userId}/queues/{queueId}",
        Perms::Any(QUEUE_JOIN),
        routing
    ),
    op!(
        get_routing_queue_members,
        "GET",
        "/api/v2/routing/queues/{queueId}/members",
        Perms::Any(QUEUE_MEMBERS_VIEW),
        routing
    ),
    op!(
        post_routing_queue_members,
        "POST",
        "/api/v2/routing/queues/{queueId}/members",
        Perms::Any(QUEUE_MEMBERS_EDIT),
        routing
    ),
    op!(
        delete_routing_queue_member,
        "DELETE",
        "/api/v2/routing/queues/{queueId}/members/{memberId}",
        Perms::Any(QUEUE_MEMBERS_EDIT),
        routing
    ),
    op!(
        patch_routing_queue_members,
        "PATCH",
        "/api/v2/routing/queues/{queueId}/members",
        Perms::Any(QUEUE_MEMBERS_EDIT),
        routing
    ),
    op!(
        get_routing_queue,
        "GET",
        "/api/v2/routing/queues/{queueId}",
        Perms::All(QUEUE_VIEW),
        routing
    ),
    op!(
        get_routing_queues,
        "GET",
        "/api/v2/routing/queues",
        Perms::Any(QUEUE_VIEW),
        routing
    ),
    op!(
        get_user_routingskills,
        "GET",
        "/api/v2/users/{userId}/routingskills",
        Perms::None,
        routing
    ),
    op!(
        delete_user_routingskill,
        "DELETE",
        "/api/v2/users/{userId}/routingskills/{skillId}",
        Perms::All(SKILL_ASSIGN),
        routing
    ),
    op!(
        put_user_routingskills_bulk,
        "PUT",
        "/api/v2/users/{userId}/routingskills/bulk",
        Perms::Any(SKILL_ASSIGN),
        routing
    ),
    op!(
        get_user_routinglanguages,
        "GET",
        "/api/v2/users/{userId}/routinglanguages",
        Perms::None,
        routing
    ),
    op!(
        delete_user_routinglanguage,
        "DELETE",
        "/api/v2/users/{userId}/routinglanguages/{languageId}",
        Perms::Any(LANGUAGE_ASSIGN),
        routing
    ),
    op!(
        get_user_station,
        "GET",
        "/api/v2/users/{userId}/station",
        Perms::Any(&["telephony:otherStationAssociation:view"]),
        routing
    ),
    op!(
        delete_user_station_associatedstation,
        "DELETE",
        "/api/v2/users/{userId}/station/associatedstation",
        Perms::Any(&["telephony:station:disassociate"]),
        routing
    ),
    op!(
        delete_user_station_defaultstation,
        "DELETE",
        "/api/v2/users/{userId}/station/defaultstation",
        Perms::Any(&["telephony:plugin:all", "telephony:phone:assign"]),
        routing
    ),
    // presence, tokens, authorization, organization
    op!(
        patch_user_presence,
        "PATCH",
        "/api/v2/users/{userId}/presences/{sourceId}",
        Perms::None,
        org
    ),
    op!(
        put_users_presences_bulk,
        "PUT",
        "/api/v2/users/presences/bulk",
        Perms::Any(&["presence:userPresence:edit"]),
        org
    ),
    op!(
        get_user_presence,
        "GET",
        "/api/v2/users/{userId}/presences/{sourceId}",
        Perms::None,
        org
    ),
    op!(
        get_presence_definitions,
        "GET",
        "/api/v2/presence/definitions",
        Perms::All(&["presence:presenceDefinition:view"]),
        org
    ),
    op!(
        delete_token,
        "DELETE",
        "/api/v2/tokens/{userId}",
        Perms::Any(&["oauth:token:delete"]),
        org
    ),
    op!(get_tokens_me, "GET", "/api/v2/tokens/me", Perms::None, org),
    op!(
        get_user_roles,
        "GET",
        "/api/v2/users/{subjectId}/roles",
        Perms::Any(&["authorization:grant:view"]),
        org
    ),
    op!(
        get_authorization_subject,
        "GET",
        "/api/v2/authorization/subjects/{subjectId}",
        Perms::Any(&["authorization:grant:view"]),
        org
    ),
    op!(
        post_authorization_subject_bulkadd,
        "POST",
        "/api/v2/authorization/subjects/{subjectId}/bulkadd",
        Perms::All(&["authorization:grant:add"]),
        org
    ),
    op!(
        get_organizations_me,
        "GET",
        "/api/v2/organizations/me",
        Perms::None,
        org
    ),
    // analytics
    op!(
        post_analytics_conversations_details_query,
        "POST",
        "/api/v2/analytics/conversations/details/query",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        get_analytics_conversation_details,
        "GET",
        "/api/v2/analytics/conversations/{conversationId}/details",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        post_analytics_conversations_aggregates_query,
        "POST",
        "/api/v2/analytics/conversations/aggregates/query",
        Perms::Any(&["analytics:conversationAggregate:view"]),
        aggregates
    ),
    op!(
        post_analytics_conversations_details_jobs,
        "POST",
        "/api/v2/analytics/conversations/details/jobs",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        get_analytics_conversations_details_job,
        "GET",
        "/api/v2/analytics/conversations/details/jobs/{jobId}",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        get_analytics_conversations_details_job_results,
        "GET",
        "/api/v2/analytics/conversations/details/jobs/{jobId}/results",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        delete_analytics_conversations_details_job,
        "DELETE",
        "/api/v2/analytics/conversations/details/jobs/{jobId}",
        Perms::Any(DETAILS_VIEW),
        analytics
    ),
    op!(
        get_analytics_conversations_details_jobs_availability,
        "GET",
        "/api/v2/analytics/conversations/details/jobs/availability",
        Perms::Any(&["analytics:conversationDetail:view"]),
        analytics
    ),
    op!(
        post_analytics_users_details_query,
        "POST",
        "/api/v2/analytics/users/details/query",
        Perms::Any(&["analytics:userDetail:view"]),
        analytics
    ),
    // impact preflight: what names a user elsewhere in the org (read-only)
    op!(
        get_architect_dependencytracking_consumingresources,
        "GET",
        "/api/v2/architect/dependencytracking/consumingresources",
        Perms::All(&["architect:dependencyTracking:view"]),
        impact
    ),
    op!(
        post_alerting_rules_query,
        "POST",
        "/api/v2/alerting/rules/query",
        Perms::All(&["alerting:rule:view"]),
        impact
    ),
    op!(
        get_oauth_clients,
        "GET",
        "/api/v2/oauth/clients",
        Perms::Any(&["oauth:client:view"]),
        impact
    ),
    op!(
        get_recording_mediaretentionpolicies,
        "GET",
        "/api/v2/recording/mediaretentionpolicies",
        Perms::Any(&["recording:retentionPolicy:view"]),
        impact
    ),
    op!(
        get_workforcemanagement_agent_managementunit,
        "GET",
        "/api/v2/workforcemanagement/agents/{agentId}/managementunit",
        Perms::Any(WFM_AGENT_VIEW),
        impact
    ),
    op!(
        post_license_users,
        "POST",
        "/api/v2/license/users",
        Perms::Any(&["authorization:grant:add", "authorization:license:view"]),
        impact
    ),
    op!(
        get_telephony_providers_edges_dids,
        "GET",
        "/api/v2/telephony/providers/edges/dids",
        Perms::Any(&["telephony:plugin:all"]),
        impact
    ),
    op!(
        get_telephony_providers_edges_extensions,
        "GET",
        "/api/v2/telephony/providers/edges/extensions",
        Perms::Any(&["telephony:extensionPool:view"]),
        impact
    ),
    op!(
        get_telephony_providers_edges_phones,
        "GET",
        "/api/v2/telephony/providers/edges/phones",
        Perms::Any(&["telephony:plugin:all"]),
        impact
    ),
    // handoff
    op!(
        get_user_directreports,
        "GET",
        "/api/v2/users/{userId}/directreports",
        Perms::None,
        handoff
    ),
    op!(
        get_routing_user_directroutingbackup_settings,
        "GET",
        "/api/v2/routing/users/{userId}/directroutingbackup/settings",
        Perms::Any(&["routing:directRoutingBackup:view"]),
        handoff
    ),
    op!(
        put_routing_user_directroutingbackup_settings,
        "PUT",
        "/api/v2/routing/users/{userId}/directroutingbackup/settings",
        Perms::Any(&["routing:directRoutingBackup:edit"]),
        handoff
    ),
    op!(
        post_taskmanagement_workitems_query,
        "POST",
        "/api/v2/taskmanagement/workitems/query",
        Perms::Any(&["workitems:workitem:view"]),
        handoff
    ),
    op!(
        get_taskmanagement_workitem,
        "GET",
        "/api/v2/taskmanagement/workitems/{workitemId}",
        Perms::Any(&["workitems:workitem:view"]),
        handoff
    ),
    op!(
        patch_taskmanagement_workitem,
        "PATCH",
        "/api/v2/taskmanagement/workitems/{workitemId}",
        Perms::Any(&["workitems:workitem:edit", "workitems:workitem:accept"]),
        handoff
    ),
    op!(
        get_voicemail_user_messages,
        "GET",
        "/api/v2/voicemail/users/{userId}/messages",
        Perms::Any(&["voicemail:voicemail:viewOther"]),
        handoff
    ),
    op!(
        post_voicemail_messages,
        "POST",
        "/api/v2/voicemail/messages",
        Perms::None,
        handoff
    ),
    op!(
        get_conversations_callback,
        "GET",
        "/api/v2/conversations/callbacks/{conversationId}",
        Perms::None,
        handoff
    ),
    op!(
        patch_conversations_callbacks,
        "PATCH",
        "/api/v2/conversations/callbacks",
        Perms::Any(&["conversation:callback:edit"]),
        handoff
    ),
    op!(
        get_quality_evaluations_query,
        "GET",
        "/api/v2/quality/evaluations/query",
        Perms::Any(&["quality:evaluation:view"]),
        quality
    ),
    op!(
        get_quality_conversation_evaluation,
        "GET",
        "/api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}",
        Perms::Any(&[
            "quality:evaluation:view",
            "quality:evaluation:assign",
            "quality:evaluation:release"
        ]),
        quality
    ),
    op!(
        put_quality_conversation_evaluation,
        "PUT",
        "/api/v2/quality/conversations/{conversationId}/evaluations/{evaluationId}",
        Perms::Any(&[
            "quality:evaluation:edit",
            "quality:evaluation:editScore",
            "quality:evaluation:editAgentSignoff"
        ]),
        quality
    ),
    op!(
        get_quality_calibrations,
        "GET",
        "/api/v2/quality/calibrations",
        Perms::Any(&["quality:calibration:view"]),
        quality
    ),
    op!(
        get_quality_calibration,
        "GET",
        "/api/v2/quality/calibrations/{calibrationId}",
        Perms::Any(&["quality:calibration:view"]),
        quality
    ),
    op!(
        put_quality_calibration,
        "PUT",
        "/api/v2/quality/calibrations/{calibrationId}",
        Perms::Any(&["quality:calibration:edit"]),
        quality
    ),
    // what a restore puts back
    op!(
        get_routing_user_utilization,
        "GET",
        "/api/v2/routing/users/{userId}/utilization",
        Perms::Any(&["routing:utilization:manage", "routing:utilization:view"]),
        settings
    ),
    op!(
        put_routing_user_utilization,
        "PUT",
        "/api/v2/routing/users/{userId}/utilization",
        Perms::Any(&["routing:utilization:manage"]),
        settings
    ),
    op!(
        get_user_callforwarding,
        "GET",
        "/api/v2/users/{userId}/callforwarding",
        Perms::Any(&["conversation:callForwarding:view"]),
        settings
    ),
    op!(
        put_user_callforwarding,
        "PUT",
        "/api/v2/users/{userId}/callforwarding",
        Perms::Any(&["conversation:callForwarding:edit"]),
        settings
    ),
    op!(
        get_group,
        "GET",
        "/api/v2/groups/{groupId}",
        Perms::None,
        settings
    ),
    op!(
        post_group_members,
        "POST",
        "/api/v2/groups/{groupId}/members",
        Perms::None,
        settings
    ),
    op!(
        post_team_members,
        "POST",
        "/api/v2/teams/{teamId}/members",
        Perms::Any(&["groups:team:assign"]),
        settings
    ),
];

/// Path parameters by template name.
pub type PathParams = Vec<(&'static str, String)>;

/// Finds the operation for a request. Literal segments win over `{params}`
/// (`/users/search` is not `/users/{userId}`).
pub fn resolve(method: &str, path: &str) -> Option<(&'static Operation, PathParams)> {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(usize, &'static Operation, PathParams)> = None;
    for op in OPERATIONS
        .iter()
        .filter(|op| op.method.eq_ignore_ascii_case(method))
    {
        let Some((literals, params)) = match_template(op.path, &segments) else {
            continue;
        };
        if best.as_ref().is_none_or(|(n, _, _)| literals > *n) {
            best = Some((literals, op, params));
        }
    }
    best.map(|(_, op, params)| (op, params))
}

fn match_template(template: &'static str, segments: &[&str]) -> Option<(usize, PathParams)> {
    let parts: Vec<&'static str> = template.split('/').collect();
    if parts.len() != segments.len() {
        return None;
    }
    let mut literals = 0;
    let mut params = Vec::new();
    for (part, segment) in parts.iter().zip(segments) {
        if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            if segment.is_empty() {
                return None;
            }
            let value = percent_decode(segment);
            params.push((name, value));
        } else if part == segment {
            literals += 1;
        } else {
            return None;
        }
    }
    Some((literals, params))
}

fn percent_decode(segment: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", segment.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(|| segment.to_owned(), |(_, v)| v.into_owned())
}

/// Whether a client holding `granted` may call an operation declaring `required`.
/// `None` (no list in the fixture) grants everything. Granted permissions may use `*` per
/// segment (`routing:*:*`), as Genesys role permissions do.
pub fn missing_permissions(
    required: Perms,
    granted: Option<&[String]>,
) -> Option<Vec<&'static str>> {
    let granted = granted?;
    let has = |p: &str| granted.iter().any(|g| permission_matches(g, p));
    match required {
        Perms::None => None,
        Perms::Any(list) => (!list.iter().any(|p| has(p))).then(|| list.to_vec()),
        Perms::All(list) => {
            let missing: Vec<&'static str> = list.iter().copied().filter(|p| !has(p)).collect();
            (!missing.is_empty()).then_some(missing)
        }
    }
}

fn permission_matches(granted: &str, required: &str) -> bool {
    if granted == "*" || granted == required {
        return true;
    }
    let g: Vec<&str> = granted.split(':').collect();
    let r: Vec<&str> = required.split(':').collect();
    g.len() == r.len() && g.iter().zip(&r).all(|(g, r)| *g == "*" || g == r)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_table_has_80_distinct_operations() {
        let mut ids: Vec<_> = OPERATIONS.iter().map(|o| o.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 80);
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let (op, _) = resolve("GET", "/api/v2/users/search").unwrap();
        assert_eq!(op.id, "get_users_search");
        let (op, params) = resolve("GET", "/api/v2/users/abc").unwrap();
        assert_eq!((op.id, params[0].1.as_str()), ("get_user", "abc"));
        let (op, _) = resolve(
            "GET",
            "/api/v2/analytics/conversations/details/jobs/availability",
        )
        .unwrap();
        assert_eq!(
            op.id,
            "get_analytics_conversations_details_jobs_availability"
        );
        assert!(resolve("POST", "/api/v2/users/abc").is_none());
        assert!(resolve("GET", "/api/v2/users//state").is_none());
    }

    #[test]
    fn any_of_needs_one_permission_and_wildcards_match_segments() {
        let granted = vec!["directory:user:edit".to_owned()];
        assert_eq!(
            missing_permissions(Perms::Any(PATCH_USER), Some(&granted)),
            None
        );
        assert_eq!(
            missing_permissions(Perms::Any(DELETE_USER), Some(&granted)),
            Some(DELETE_USER.to_vec())
        );
        let wildcard = vec!["routing:*:*".to_owned()];
        assert_eq!(
            missing_permissions(Perms::Any(QUEUE_VIEW), Some(&wildcard)),
            None
        );
        assert_eq!(missing_permissions(Perms::All(SKILL_ASSIGN), None), None);
    }
}
