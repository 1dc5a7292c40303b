//! The organization the OAuth client belongs to (`GET /api/v2/organizations/me`): a cheap
//! connectivity and credentials check.

use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::ApiRequest;
use super::models::Organization;

impl GenesysClient {
    /// `GET /api/v2/organizations/me`.
    pub async fn organization(&self) -> Result<Organization, GenesysError> {
        self.send(ApiRequest::get(
            "get_organizations_me",
            &["organizations", "me"],
        ))
        .await?
        .json()
    }
}
