//! Presence and sessions (`docs/genesys-api.md` §6.7–§6.8): the org's presence definitions (the
//! Offline one is cached), a user's Genesys Cloud presence, and revoking a user's tokens.

use reqwest::Method;
use serde::Serialize;

use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::ApiRequest;
use super::models::{Listing, PresenceDefinition, SystemPresence, UserId, UserPresence};

/// The Genesys Cloud presence source (`PATCH /users/{id}/presences/purecloud`).
const PURECLOUD_SOURCE: &str = "purecloud";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct PresencePatch<'a> {
    presence_definition: DefinitionId<'a>,
}

#[derive(Debug, Serialize)]
struct DefinitionId<'a> {
    id: &'a str,
}

impl GenesysClient {
    /// `GET /api/v2/presence/definitions`.
    pub async fn get_presence_definitions(&self) -> Result<Vec<PresenceDefinition>, GenesysError> {
        let listing: Listing<PresenceDefinition> = self
            .send(ApiRequest::get(
                "get_presence_definitions",
                &["presence", "definitions"],
            ))
            .await?
            .json()?;
        Ok(listing.entities)
    }

    /// The id of the org's `Offline` system presence definition (looked up once, then cached).
    pub async fn offline_presence_id(&self) -> Result<String, GenesysError> {
        self.inner
            .offline_presence
            .get_or_try_init(|| async {
                let definitions = self.get_presence_definitions().await?;
                pick_offline(&definitions).ok_or_else(|| GenesysError::NotFound {
                    operation: "get_presence_definitions".into(),
                    resource: "an active Offline system presence definition".into(),
                    body: None,
                })
            })
            .await
            .cloned()
    }

    /// `GET /api/v2/users/{id}/presences/purecloud`.
    pub async fn get_presence(&self, id: &UserId) -> Result<UserPresence, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_presence",
            &["users", id.as_str(), "presences", PURECLOUD_SOURCE],
        ))
        .await?
        .json()
    }

    /// `PATCH /api/v2/users/{id}/presences/purecloud` with `{"presenceDefinition":{"id":..}}`.
    pub async fn set_presence(
        &self,
        id: &UserId,
        definition_id: &str,
    ) -> Result<UserPresence, GenesysError> {
        let request = ApiRequest::new(
            "patch_user_presence",
            Method::PATCH,
            &["users", id.as_str(), "presences", PURECLOUD_SOURCE],
        )
        .json(&PresencePatch {
            presence_definition: DefinitionId { id: definition_id },
        })?;
        self.send(request).await?.json()
    }

    /// `DELETE /api/v2/tokens/{userId}`: ends every session of the user (`oauth:token:delete`).
    pub async fn revoke_tokens(&self, id: &UserId) -> Result<(), GenesysError> {
        self.send(ApiRequest::new(
            "delete_token",
            Method::DELETE,
            &["tokens", id.as_str()],
        ))
        .await
        .map(drop)
    }
}

/// The active `Offline` definition, preferring a `System` one.
fn pick_offline(definitions: &[PresenceDefinition]) -> Option<String> {
    let offline = |d: &&PresenceDefinition| {
        d.system_presence == Some(SystemPresence::Offline) && d.deactivated != Some(true)
    };
    definitions
        .iter()
        .filter(offline)
        .find(|d| d.kind.as_deref() == Some("System"))
        .or_else(|| definitions.iter().find(offline))
        .map(|d| d.id.clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn offline_is_the_active_system_definition() {
        let defs: Vec<PresenceDefinition> = serde_json::from_str(
            r#"[{"id":"a","systemPresence":"Available","type":"System"},
                {"id":"u","systemPresence":"Offline","type":"User"},
                {"id":"old","systemPresence":"Offline","type":"System","deactivated":true},
                {"id":"off","systemPresence":"Offline","type":"System"}]"#,
        )
        .unwrap();
        assert_eq!(pick_offline(&defs).as_deref(), Some("off"));
        assert_eq!(pick_offline(&defs[..2]).as_deref(), Some("u"));
        assert_eq!(pick_offline(&defs[..1]), None);
    }
}
