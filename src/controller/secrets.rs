//! [`SecretClientProvider`]: the reconciler's [`ClientProvider`] for a cluster. Credentials come
//! only from the Secret named by `spec.credentialsSecretRef`, in the resource's own namespace
//! (there is no field for another namespace, so a cross-namespace reference cannot be written),
//! under the keys `clientId` and `clientSecret`. Custom endpoints (`spec.apiBaseUrl`,
//! `spec.loginBaseUrl`) are used only when the operator's configuration allows their hosts
//! ([`SecretClientProvider::with_allowed_endpoints`]); that is checked before the Secret is read,
//! so a refused resource never has its Secret read nor anything sent.
//!
//! A pass loads its credentials once ([`ClientProvider::client_for`]). A Secret that is missing or
//! lacks a key stalls the pass (`CredentialsMissing`); an error of the API server reading it
//! (a 500, a timeout) says nothing about the Secret, so the pass is retried with backoff
//! (`SecretUnreadable`).
//!
//! One [`GenesysClient`] is kept per (namespace, Secret, clientId, endpoints): resources that use
//! the same OAuth client share its token and its rate-limit budget. A change to a Secret (seen by
//! the controller's Secret watch, see [`SecretClientProvider::invalidate`]) drops what was cached
//! for it. Secret values live only in [`SecretString`]s; no log line, error or `Debug` shows one.
//! I/O: Kubernetes `GET` of Secrets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::{Client, ResourceExt};
use secrecy::SecretString;

use crate::crd::{
    GenesysUserOffboarding, GenesysUserOffboardingSpec, SECRET_KEY_CLIENT_ID,
    SECRET_KEY_CLIENT_SECRET,
};
use crate::reconcile::ClientProvider;
use crate::reconcile::credentials::endpoints;
use crate::reconcile::error::CredentialsError;
use genesys_cloud::{
    AllowedEndpoints, CallObserver, ClientConfig, ClientCredentials, GenesysClient,
};

/// The credentials found in a Secret.
#[derive(Clone)]
struct Credentials {
    client_id: String,
    client_secret: SecretString,
}

/// The cache key of a client: the OAuth client and where it talks to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    namespace: String,
    secret: String,
    client_id: String,
    api: String,
    login: String,
}

/// Reads credentials Secrets and hands out shared Genesys clients.
pub struct SecretClientProvider {
    client: Client,
    requests_per_minute: u32,
    observer: Option<Arc<dyn CallObserver>>,
    allowed_endpoints: AllowedEndpoints,
    secrets: Mutex<HashMap<(String, String), Credentials>>,
    clients: Mutex<HashMap<ClientKey, GenesysClient>>,
}

impl std::fmt::Debug for SecretClientProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretClientProvider")
            .field("requests_per_minute", &self.requests_per_minute)
            .field("allowed_endpoints", &self.allowed_endpoints.to_string())
            .field("cached_clients", &lock(&self.clients).len())
            .finish_non_exhaustive()
    }
}

impl SecretClientProvider {
    /// `requests_per_minute` is each OAuth client's budget; `observer` sees every Genesys call.
    /// No custom endpoint is allowed (see [`Self::with_allowed_endpoints`]).
    pub fn new(
        client: Client,
        requests_per_minute: u32,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Self {
        Self {
            client,
            requests_per_minute,
            observer,
            allowed_endpoints: AllowedEndpoints::default(),
            secrets: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// The hosts `spec.apiBaseUrl` and `spec.loginBaseUrl` may name (`--allowed-endpoint`).
    #[must_use]
    pub fn with_allowed_endpoints(mut self, allowed: AllowedEndpoints) -> Self {
        self.allowed_endpoints = allowed;
        self
    }

    /// Drops what is cached for the Secret `namespace/name` (it changed or went away).
    pub fn invalidate(&self, namespace: &str, name: &str) {
        let removed = lock(&self.secrets)
            .remove(&(namespace.to_owned(), name.to_owned()))
            .is_some();
        lock(&self.clients).retain(|key, _| !(key.namespace == namespace && key.secret == name));
        if removed {
            tracing::debug!(
                secret.namespace = namespace,
                secret.name = name,
                "credentials cache invalidated"
            );
        }
    }

    /// How many distinct clients are cached (one per OAuth client and endpoints).
    pub fn cached_clients(&self) -> usize {
        lock(&self.clients).len()
    }

    /// The client for a resource in `namespace` with `spec`, from the cache or built from its
    /// Secret. A missing Secret or key is [`CredentialsError::Missing`] (a human must act); an
    /// error of the Kubernetes API reading it is [`CredentialsError::Unreadable`] (retried).
    pub async fn load_for(
        &self,
        namespace: Option<String>,
        spec: &GenesysUserOffboardingSpec,
    ) -> Result<GenesysClient, CredentialsError> {
        let namespace = namespace
            .ok_or_else(|| CredentialsError::Missing("the resource has no namespace".into()))?;
        let secret = spec.credentials_secret_ref.name.clone();
        // First, before the Secret is read: where the credentials would go.
        let endpoints = endpoints(spec, &self.allowed_endpoints)?;
        let credentials = self.credentials(&namespace, &secret).await?;
        let key = ClientKey {
            namespace,
            secret,
            client_id: credentials.client_id.clone(),
            api: endpoints.api().to_string(),
            login: endpoints.login().to_string(),
        };
        if let Some(client) = lock(&self.clients).get(&key) {
            return Ok(client.clone());
        }
        let mut config = ClientConfig::new(
            endpoints,
            ClientCredentials::new(credentials.client_id, credentials.client_secret),
        )
        .with_requests_per_minute(self.requests_per_minute);
        if let Some(observer) = &self.observer {
            config = config.with_observer(observer.clone());
        }
        let client = GenesysClient::new(config).map_err(CredentialsError::Client)?;
        // Two passes may race to build the same client: keep the first, so both share it.
        Ok(lock(&self.clients).entry(key).or_insert(client).clone())
    }

    async fn credentials(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Credentials, CredentialsError> {
        let cache_key = (namespace.to_owned(), name.to_owned());
        if let Some(found) = lock(&self.secrets).get(&cache_key) {
            return Ok(found.clone());
        }
        let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
        let secret = api
            .get_opt(name)
            .await
            .map_err(|source| CredentialsError::Unreadable {
                secret: format!("{namespace}/{name}"),
                source: Box::new(source),
            })?;
        let Some(secret) = secret else {
            return Err(CredentialsError::Missing(format!(
                "Secret {namespace}/{name} not found (create it with the keys {SECRET_KEY_CLIENT_ID} and {SECRET_KEY_CLIENT_SECRET})"
            )));
        };
        let value = |key: &str| -> Result<String, CredentialsError> {
            let bytes = secret
                .data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|b| b.0.clone())
                .or_else(|| {
                    secret
                        .string_data
                        .as_ref()
                        .and_then(|data| data.get(key))
                        .map(|s| s.clone().into_bytes())
                })
                .ok_or_else(|| {
                    CredentialsError::Missing(format!("Secret {namespace}/{name} has no key {key}"))
                })?;
            let text = String::from_utf8(bytes).map_err(|_| {
                CredentialsError::Missing(format!(
                    "Secret {namespace}/{name}: key {key} is not UTF-8 text"
                ))
            })?;
            let text = text.trim().to_owned();
            if text.is_empty() {
                return Err(CredentialsError::Missing(format!(
                    "Secret {namespace}/{name}: key {key} is empty"
                )));
            }
            Ok(text)
        };
        let credentials = Credentials {
            client_id: value(SECRET_KEY_CLIENT_ID)?,
            client_secret: SecretString::from(value(SECRET_KEY_CLIENT_SECRET)?),
        };
        lock(&self.secrets).insert(cache_key, credentials.clone());
        Ok(credentials)
    }
}

#[async_trait]
impl ClientProvider for SecretClientProvider {
    /// The pass's one load of its credentials (the Secret is read unless cached).
    async fn client_for(
        &self,
        resource: &GenesysUserOffboarding,
    ) -> Result<GenesysClient, CredentialsError> {
        self.load_for(resource.namespace(), &resource.spec).await
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use fake_apiserver::{ApiFault, FakeApiServer};
    use genesys_cloud::RetryClass;
    use kube::api::PostParams;

    fn offboarding() -> GenesysUserOffboarding {
        let spec = serde_yaml::from_str(
            "user: {email: jane.doe@example.com}\ncredentialsSecretRef: {name: genesys}\nregion: us_east_1\n",
        )
        .unwrap();
        let mut resource = GenesysUserOffboarding::new("jane", spec);
        resource.metadata.namespace = Some("default".into());
        resource
    }

    #[tokio::test]
    async fn a_missing_secret_stalls_and_an_api_error_reading_it_is_retried() {
        let api = FakeApiServer::start().await.unwrap();
        let provider = SecretClientProvider::new(api.kube_client(), 300, None);
        let resource = offboarding();

        let missing = provider.client_for(&resource).await.unwrap_err();
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "genesys", "namespace": "default"},
            "stringData": {"clientId": "demo-client", "clientSecret": "demo-secret"},
        }))
        .unwrap();
        Api::<Secret>::namespaced(api.kube_client(), "default")
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        // A 500: kube's client retries a 503 by itself.
        api.inject(ApiFault::new("get", "secrets").status(500));
        let unreadable = provider.client_for(&resource).await.unwrap_err();
        let loaded = provider.client_for(&resource).await;

        assert_eq!(missing.reason(), "CredentialsMissing");
        assert_eq!(missing.retry_class(), RetryClass::Never);
        assert_eq!(unreadable.reason(), "SecretUnreadable");
        assert_eq!(unreadable.retry_class(), RetryClass::Backoff);
        assert!(
            !crate::reconcile::error::chain(&unreadable).contains("demo-secret"),
            "no secret in the error"
        );
        assert!(loaded.is_ok(), "read once the API server answers");
    }
}
