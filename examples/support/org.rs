//! A demo-org-like Genesys Cloud organization of `n` agents for the scale runs
//! (`examples/bulk.rs`, `tests/integration/drift.rs`): the demo org's queues, skills, roles and
//! presences, and per agent one direct queue membership, an associated station, a skill, a role
//! and one past conversation. Agent `i` is `agent{i}@bulk.example.com`.

use genesys_emulator::fixture::Fixture;
use serde_json::json;

/// The id of agent `i`.
pub fn user_id(i: usize) -> String {
    format!("6b000000-0000-4000-8000-{i:012}")
}

/// The email address of agent `i`.
pub fn email(i: usize) -> String {
    format!("agent{i}@bulk.example.com")
}

/// The organization, with the emulator's per-token limit and added latency.
pub fn fixture(n: usize, requests_per_minute: u32, latency_ms: u64) -> anyhow::Result<Fixture> {
    fixture_of(0..n, requests_per_minute, latency_ms)
}

/// An organization of the agents `agents` only (one of several organizations sharing the
/// numbering, so that agent `i` is the same person whichever organization serves them).
pub fn fixture_of(
    agents: impl IntoIterator<Item = usize>,
    requests_per_minute: u32,
    latency_ms: u64,
) -> anyhow::Result<Fixture> {
    let mut fixture = Fixture::demo();
    fixture.requests_per_minute = requests_per_minute;
    fixture.latency_ms = latency_ms;
    let queue = fixture.queues[0].id.clone();
    let skill = fixture.skills[0].id.clone();
    let role = fixture.roles[0].id.clone();
    fixture.users.clear();
    // The demo org's impact objects name its own users, who are not in this org.
    fixture.impact = genesys_emulator::fixture::ImpactFixture::default();
    fixture.conversations.clear();
    fixture.stations.clear();
    for i in agents {
        let station = format!("4c000000-0000-4000-8000-{i:012}");
        fixture.stations.push(serde_json::from_value(
            json!({"id": station, "name": format!("WebRTC Agent {i}")}),
        )?);
        fixture.users.push(serde_json::from_value(json!({
            "id": user_id(i),
            "name": format!("Agent {i}"),
            "email": email(i),
            "version": 3,
            "routingStatus": "IDLE",
            "presence": "Available",
            "station": {"associated": station, "default": station},
            "queues": [{"queueId": queue, "joined": true}],
            "skills": [{"id": skill, "proficiency": 3}],
            "roles": [{"roleId": role}],
        }))?);
        fixture.conversations.push(serde_json::from_value(json!({
            "id": format!("c0b00000-0000-4000-8000-{i:012}"),
            "start": "now-10d",
            "end": "now-10d+5m",
            "participants": [
                {"purpose": "customer", "name": "+1 555 0100"},
                {"purpose": "agent", "userId": user_id(i), "name": format!("Agent {i}")},
            ],
        }))?);
    }
    fixture.validate()?;
    Ok(fixture)
}
