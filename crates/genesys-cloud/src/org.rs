//! The organization the OAuth client belongs to (`GET /api/v2/organizations/me`): a cheap
//! connectivity and credentials check.

use super::error::GenesysError;
use super::http::{ApiRequest, GenesysClient};
use super::models::Organization;

impl GenesysClient {
    /// `GET /api/v2/organizations/me`.
    pub async fn organization(&self) -> Result<Organization, GenesysError> {
        self.send_json(ApiRequest::get(
            "get_organizations_me",
            &["organizations", "me"],
        ))
        .await
    }
}
