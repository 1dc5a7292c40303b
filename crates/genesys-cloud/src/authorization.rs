//! Roles and grants (`docs/genesys-api.md` §6.9): read what a user holds before deactivation (going
//! inactive removes directly assigned roles) and grant it back on restore.

use reqwest::Method;
use serde::Serialize;

use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::ApiRequest;
use super::models::{AuthzSubject, RoleDivision, UserAuthorization, UserId};

/// `RoleDivisionGrants`.
#[derive(Debug, Serialize)]
struct RoleDivisionGrants<'a> {
    grants: &'a [RoleDivision],
}

impl GenesysClient {
    /// `GET /api/v2/users/{id}/roles`.
    pub async fn get_user_roles(&self, id: &UserId) -> Result<UserAuthorization, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_roles",
            &["users", id.as_str(), "roles"],
        ))
        .await?
        .json()
    }

    /// `GET /api/v2/authorization/subjects/{id}`: grants, each a role in a division.
    pub async fn get_authorization_subject(
        &self,
        id: &UserId,
    ) -> Result<AuthzSubject, GenesysError> {
        self.send(ApiRequest::get(
            "get_authorization_subject",
            &["authorization", "subjects", id.as_str()],
        ))
        .await?
        .json()
    }

    /// `POST /api/v2/authorization/subjects/{id}/bulkadd` with `{"grants":[{roleId, divisionId}]}`.
    /// Does nothing for an empty list.
    pub async fn grant_roles(
        &self,
        id: &UserId,
        grants: &[RoleDivision],
    ) -> Result<(), GenesysError> {
        if grants.is_empty() {
            return Ok(());
        }
        let request = ApiRequest::new(
            "post_authorization_subject_bulkadd",
            Method::POST,
            &["authorization", "subjects", id.as_str(), "bulkadd"],
        )
        .json(&RoleDivisionGrants { grants })?;
        self.send(request).await.map(drop)
    }
}
