//! JSON renderings of stored entities, field for field as the contract's models
//! (`User`, `RoutingStatus`, `UserPresence`, `UserStations`, `UserQueue`, `QueueMember`,
//! `UserRoutingSkill`, ...). Only fields the emulator knows are written; expanded sub-objects
//! appear only when asked for with `expand` (docs/genesys-api.md §2).

use serde_json::{Map, Value, json};

use super::call::Expand;
use super::fixture::{MemberGroupRef, MemberGroupType, NamedEntity, QueueFixture};
use super::state::{Membership, Org, Proficiency, User};
use super::time::format;

pub fn division(org: &Org, id: &str) -> Value {
    let d = org.division_or_home(id);
    json!({"id": d.id, "name": d.name, "selfUri": format!("/api/v2/authorization/divisions/{}", d.id)})
}

fn org_slug(org: &Org) -> String {
    let slug: String = org
        .organization
        .name
        .chars()
        .filter_map(|c| {
            if c.is_ascii_alphanumeric() {
                Some(c.to_ascii_lowercase())
            } else if c == ' ' || c == '-' {
                Some('-')
            } else {
                None
            }
        })
        .collect();
    if slug.is_empty() { "org".into() } else { slug }
}

/// The user as `User`, with the sub-objects named in `expand`.
pub fn user(org: &Org, u: &User, expand: &Expand) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(u.id));
    out.insert("name".into(), json!(u.name));
    out.insert("division".into(), division(org, &u.division_id));
    out.insert(
        "chat".into(),
        json!({"jabberId": format!("{}@{}.orgspan.com", u.id.replace('-', ""), org_slug(org))}),
    );
    if let Some(d) = &u.department {
        out.insert("department".into(), json!(d));
    }
    out.insert("email".into(), json!(u.email));
    out.insert(
        "primaryContactInfo".into(),
        json!([{"address": u.email, "mediaType": "EMAIL", "type": "PRIMARY"}]),
    );
    out.insert("addresses".into(), json!([]));
    out.insert("state".into(), json!(u.state.as_str()));
    if let Some(t) = &u.title {
        out.insert("title".into(), json!(t));
    }
    out.insert("username".into(), json!(u.username));
    if let Some(m) = &u.manager_id {
        out.insert(
            "manager".into(),
            json!({"id": m, "selfUri": format!("/api/v2/users/{m}")}),
        );
    }
    out.insert("images".into(), json!([]));
    out.insert("version".into(), json!(u.version));
    if let Some(p) = &u.preferred_name {
        out.insert("preferredName".into(), json!(p));
    }
    out.insert("acdAutoAnswer".into(), json!(u.acd_auto_answer));
    if expand.has("certifications") {
        out.insert("certifications".into(), json!(u.certifications));
    }
    if expand.has("profileSkills") {
        out.insert("profileSkills".into(), json!(u.profile_skills));
    }
    if expand.has("routingStatus") {
        out.insert("routingStatus".into(), routing_status(u));
    }
    if expand.has("presence")
        && let Some(p) = presence(org, u)
    {
        out.insert("presence".into(), p);
    }
    if expand.has("station") {
        out.insert("station".into(), stations(org, u));
    }
    if expand.has("authorization") || expand.has("authorization.unusedRoles") {
        let mut a = authorization(org, u);
        if expand.has("authorization.unusedRoles") {
            a["unusedRoles"] = json!([]);
        }
        out.insert("authorization".into(), a);
    }
    if expand.has("groups") {
        let groups: Vec<Value> = u
            .groups
            .iter()
            .filter_map(|g| org.groups.iter().find(|e| e.id == *g))
            .map(|g| json!({"id": g.id, "name": g.name, "selfUri": format!("/api/v2/groups/{}", g.id)}))
            .collect();
        out.insert("groups".into(), Value::Array(groups));
    }
    if expand.has("team")
        && let Some(t) = u
            .team
            .as_ref()
            .and_then(|t| org.teams.iter().find(|e| e.id == *t))
    {
        out.insert(
            "team".into(),
            json!({"id": t.id, "name": t.name, "selfUri": format!("/api/v2/teams/{}", t.id)}),
        );
    }
    if expand.has("skills") {
        let skills = u.skills.iter().map(|s| skill(org, u, s)).collect();
        out.insert("skills".into(), Value::Array(skills));
    }
    if expand.has("languages") {
        let languages = u.languages.iter().map(|l| language(org, u, l)).collect();
        out.insert("languages".into(), Value::Array(languages));
    }
    if expand.has("lasttokenissued")
        && let Some(t) = u.last_token_issued
    {
        out.insert("lastTokenIssued".into(), json!({"dateIssued": format(t)}));
    }
    if expand.has("dateLastLogin")
        && let Some(t) = u.last_token_issued
    {
        out.insert("dateLastLogin".into(), json!(format(t)));
    }
    out.insert("selfUri".into(), json!(format!("/api/v2/users/{}", u.id)));
    Value::Object(out)
}

/// `RoutingStatus`.
pub fn routing_status(u: &User) -> Value {
    json!({
        "userId": u.id,
        "status": u.routing_status.status,
        "startTime": format(u.routing_status.start_time),
    })
}

/// `UserPresence` of the Genesys Cloud (`PURECLOUD`) source; with `behavior.presenceSourceId`
/// it also names the source in `sourceId`, the field that replaces the deprecated `source`.
pub fn presence(org: &Org, u: &User) -> Option<Value> {
    let p = u.presence.as_ref()?;
    let d = org.presence_definition(&p.definition_id)?;
    let mut out = json!({
        "source": "PURECLOUD",
        "primary": true,
        "presenceDefinition": {
            "id": d.id,
            "systemPresence": d.system_presence,
            "selfUri": format!("/api/v2/presence/definitions/{}", d.id),
        },
        "modifiedDate": format(p.modified_date),
        "selfUri": format!("/api/v2/users/{}/presences/purecloud", u.id),
    });
    if let Some(m) = &p.message {
        out["message"] = json!(m);
    }
    if org.behavior.presence_source_id {
        out["sourceId"] = json!("PURECLOUD");
    }
    Some(out)
}

/// `UserStations`: associated, default, effective (associated else default), last associated.
pub fn stations(org: &Org, u: &User) -> Value {
    let station = |id: &str| -> Option<Value> {
        let s = org.station(id)?;
        Some(json!({"id": s.id, "name": s.name, "type": s.r#type}))
    };
    let user_ref = json!({"id": u.id, "selfUri": format!("/api/v2/users/{}", u.id)});
    let mut out = Map::new();
    if let Some(mut a) = u.station.associated.as_deref().and_then(station) {
        a["associatedUser"] = user_ref.clone();
        if let Some(d) = u.station.associated_date {
            a["associatedDate"] = json!(format(d));
        }
        out.insert("associatedStation".into(), a.clone());
        out.insert("effectiveStation".into(), a);
    }
    if let Some(mut d) = u.station.default.as_deref().and_then(station) {
        d["defaultUser"] = user_ref;
        out.insert("defaultStation".into(), d.clone());
        out.entry("effectiveStation").or_insert(d);
    }
    if let Some(l) = u.station.last_associated.as_deref().and_then(station) {
        out.insert("lastAssociatedStation".into(), l);
    }
    Value::Object(out)
}

/// `UserAuthorization`: the distinct roles granted to the user.
pub fn authorization(org: &Org, u: &User) -> Value {
    let mut roles: Vec<Value> = Vec::new();
    for g in &u.roles {
        if let Some(r) = org.roles.iter().find(|r| r.id == g.role_id) {
            let v = json!({"id": r.id, "name": r.name});
            if !roles.contains(&v) {
                roles.push(v);
            }
        }
    }
    json!({"roles": roles})
}

/// `UserRoutingSkill`.
pub fn skill(org: &Org, u: &User, s: &Proficiency) -> Value {
    let name = org
        .skills
        .iter()
        .find(|e| e.id == s.id)
        .map_or_else(|| s.id.clone(), |e| e.name.clone());
    json!({
        "id": s.id,
        "name": name,
        "proficiency": s.proficiency,
        "state": "active",
        "skillUri": format!("/api/v2/routing/skills/{}", s.id),
        "selfUri": format!("/api/v2/users/{}/routingskills/{}", u.id, s.id),
    })
}

/// `UserRoutingLanguage`.
pub fn language(org: &Org, u: &User, l: &Proficiency) -> Value {
    let name = org
        .languages
        .iter()
        .find(|e| e.id == l.id)
        .map_or_else(|| l.id.clone(), |e| e.name.clone());
    json!({
        "id": l.id,
        "name": name,
        "proficiency": l.proficiency,
        "state": "active",
        "languageUri": format!("/api/v2/routing/languages/{}", l.id),
        "selfUri": format!("/api/v2/users/{}/routinglanguages/{}", u.id, l.id),
    })
}

/// `Queue` with member counts (non-deleted users).
pub fn queue(org: &Org, q: &QueueFixture) -> Value {
    let members: Vec<&Membership> = org
        .users
        .iter()
        .filter(|u| !u.is_deleted())
        .filter_map(|u| u.membership(&q.id))
        .collect();
    let mut out = json!({
        "id": q.id,
        "name": q.name,
        "division": division(org, q.division_id.as_deref().unwrap_or(&org.home_division)),
        "memberCount": members.len(),
        "userMemberCount": members.iter().filter(|m| m.direct).count(),
        "joinedMemberCount": members.iter().filter(|m| m.joined).count(),
        "selfUri": format!("/api/v2/routing/queues/{}", q.id),
    });
    if !q.member_groups.is_empty() {
        let groups: Vec<Value> = q
            .member_groups
            .iter()
            .filter_map(|g| member_group(org, g))
            .collect();
        out["memberGroups"] = Value::Array(groups);
    }
    out
}

/// `MemberGroup`: `id`, `name`, `type`, `memberCount` (users who are not deleted), `selfUri`.
fn member_group(org: &Org, g: &MemberGroupRef) -> Option<Value> {
    let live = || org.users.iter().filter(|u| !u.is_deleted());
    let (catalogue, members, uri): (&[NamedEntity], usize, &str) = match g.r#type {
        MemberGroupType::Group => (
            &org.groups,
            live().filter(|u| u.groups.contains(&g.id)).count(),
            "/api/v2/groups",
        ),
        MemberGroupType::Team => (
            &org.teams,
            live().filter(|u| u.team.as_ref() == Some(&g.id)).count(),
            "/api/v2/teams",
        ),
        MemberGroupType::Skillgroup => (
            &org.skill_groups,
            live().filter(|u| u.skill_groups.contains(&g.id)).count(),
            "/api/v2/routing/skillgroups",
        ),
    };
    let named = catalogue.iter().find(|e| e.id == g.id)?;
    Some(json!({
        "id": named.id,
        "name": named.name,
        "type": g.r#type.as_str(),
        "memberCount": members,
        "selfUri": format!("{uri}/{}", named.id),
    }))
}

/// `UserQueue`: the queue plus the user's `joined` flag.
pub fn user_queue(org: &Org, q: &QueueFixture, m: &Membership) -> Value {
    let mut out = queue(org, q);
    out["joined"] = json!(m.joined);
    out
}

/// `QueueMember`.
pub fn queue_member(org: &Org, u: &User, m: &Membership, expand: &Expand) -> Value {
    let mut out = json!({
        "id": u.id,
        "name": u.name,
        "user": user(org, u, expand),
        "ringNumber": 1,
        "joined": m.joined,
        "memberBy": m.member_by(),
        "selfUri": format!("/api/v2/users/{}", u.id),
    });
    if expand.has("routingStatus") {
        out["routingStatus"] = routing_status(u);
    }
    out
}
