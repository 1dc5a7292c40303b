//! Step 2 of the pipeline, "load credentials": the [`ClientProvider`] trait gives the reconciler
//! a Genesys client for a resource. The Kubernetes controller will read the Secret named by
//! `spec.credentialsSecretRef` in the resource's namespace; the one-shot mode and the tests hand
//! over one ready client ([`FixedClient`]). Building a client does no I/O; the first call to
//! Genesys fetches the token.

use async_trait::async_trait;

use super::error::CredentialsError;
use crate::crd::GenesysUserOffboarding;
use crate::genesys::GenesysClient;

/// Gives the Genesys client to use for a resource. Clones of a client share their token cache
/// and rate-limit budget, so a provider should hand out clones rather than build anew.
#[async_trait]
pub trait ClientProvider: Send + Sync {
    async fn client_for(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<GenesysClient, CredentialsError>;
}

/// The same client for every resource (one-shot mode, tests).
#[derive(Debug, Clone)]
pub struct FixedClient(pub GenesysClient);

#[async_trait]
impl ClientProvider for FixedClient {
    async fn client_for(
        &self,
        _resource: &GenesysUserOffboarding,
    ) -> Result<GenesysClient, CredentialsError> {
        Ok(self.0.clone())
    }
}
