//! Presence and sessions (`docs/genesys-api.md` §6.7–§6.8): the org's presence definitions (the
//! Offline one is cached), a user's Genesys Cloud presence (one user, or many users' in one
//! bulk request), and revoking a user's tokens.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde::Serialize;

use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest};
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

/// The source of the Genesys Cloud presence as the bulk form names it: `sourceId`, and the
/// deprecated `source` it replaces (SDK `MutableUserPresence`), both sent.
const PURECLOUD_SOURCE_ID: &str = "PURECLOUD";

/// One entry of `PUT /users/presences/bulk` (SDK `MutableUserPresence`; `id` is "the user's id").
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BulkPresence<'a> {
    id: &'a str,
    source: &'a str,
    source_id: &'a str,
    presence_definition: DefinitionId<'a>,
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
        self.patch_presence(id, definition_id, Admission::Wait)
            .await?
            .json()
    }

    async fn patch_presence(
        &self,
        id: &UserId,
        definition_id: &str,
        admission: Admission,
    ) -> Result<super::http::Reply, GenesysError> {
        let request = ApiRequest::new(
            "patch_user_presence",
            Method::PATCH,
            &["users", id.as_str(), "presences", PURECLOUD_SOURCE],
        )
        .json(&PresencePatch {
            presence_definition: DefinitionId { id: definition_id },
        })?
        .admission(admission);
        self.send(request).await
    }

    /// Sets `id`'s Genesys Cloud presence to `definition_id` and answers nothing: what the
    /// presence became is for a read to tell (the bulk answer is not attributed per user).
    ///
    /// Concurrent changes to the same definition (a wave going Offline) are coalesced into one
    /// `PUT /api/v2/users/presences/bulk` naming them all (at most `max_batch`). A change alone
    /// is the one-user `PATCH`; so is each change of a batch whose bulk request Genesys refuses:
    /// 400 (too many entries, a source it does not take), 404 (one unknown user fails the whole
    /// request on some orgs) or 403 (the bulk form needs `presence:userPresence:edit`, the
    /// `PATCH` declares no permission; or one user is outside the client's divisions). After a
    /// 403 that names a missing permission this client sends no more bulk requests.
    pub async fn set_presence_together(
        &self,
        id: &UserId,
        definition_id: &str,
    ) -> Result<(), GenesysError> {
        if self.inner.presence_bulk_refused.load(Ordering::Relaxed) {
            return self.set_presence(id, definition_id).await.map(drop);
        }
        coalesce(
            self,
            |client| &client.inner.presence_sets,
            "put_users_presences_bulk",
            definition_id.to_owned(),
            id.clone(),
            |client, definition, users| async move {
                let combined = async {
                    match client.put_presences_bulk(&users, &definition).await {
                        Ok(()) => Ok(Some(users.iter().map(|_| Ok(())).collect())),
                        Err(e) if e.is_not_found() => Ok(None),
                        Err(GenesysError::Forbidden {
                            missing_permission, ..
                        }) => {
                            // A missing permission refuses every bulk request; a user outside
                            // the client's divisions only this one.
                            if missing_permission.is_some() {
                                client
                                    .inner
                                    .presence_bulk_refused
                                    .store(true, Ordering::Relaxed);
                                tracing::info!(
                                    "bulk presence refused (presence:userPresence:edit); one PATCH per user from now on"
                                );
                            }
                            Ok(None)
                        }
                        Err(e) => Err(e),
                    }
                };
                answer_batch(&users, "presence change", combined, |user, admission| {
                    let client = client.clone();
                    let definition = definition.clone();
                    async move {
                        client
                            .patch_presence(user, &definition, admission)
                            .await
                            .map(drop)
                    }
                })
                .await
            },
        )
        .await
    }

    /// `PUT /api/v2/users/presences/bulk`, its first attempt on the slot the batch holds.
    async fn put_presences_bulk(
        &self,
        users: &[UserId],
        definition_id: &str,
    ) -> Result<(), GenesysError> {
        let body: Vec<BulkPresence<'_>> = users
            .iter()
            .map(|u| BulkPresence {
                id: u.as_str(),
                source: PURECLOUD_SOURCE_ID,
                source_id: PURECLOUD_SOURCE_ID,
                presence_definition: DefinitionId { id: definition_id },
            })
            .collect();
        let request = ApiRequest::new(
            "put_users_presences_bulk",
            Method::PUT,
            &["users", "presences", "bulk"],
        )
        .json(&body)?
        .admission(Admission::Admitted);
        self.send(request).await.map(drop)
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
