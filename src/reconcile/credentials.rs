//! Step 2 of the pipeline, "load credentials": the [`ClientProvider`] trait gives the reconciler
//! a Genesys client for a resource, asked once per pass. The Kubernetes controller reads the
//! Secret named by `spec.credentialsSecretRef` in the resource's namespace; the one-shot mode and
//! the tests hand over one ready client ([`FixedClient`]). Building a client does no I/O; the
//! first call to Genesys fetches the token.
//!
//! What a human must fix (a missing Secret or key, a refused endpoint) stalls the pass; a
//! failure to read the credentials ([`CredentialsError::Unreadable`], e.g. the Kubernetes API
//! answering 500) says nothing about them, so the pass is retried with backoff.
//!
//! Where a resource's credentials may go is decided by [`endpoints`], before any Secret is read:
//! a region's hosts always, custom base URLs only when the operator's configuration allows
//! their hosts ([`AllowedEndpoints`]). Whoever may create a resource must not be able to send
//! the namespace's OAuth client secret to a host of their choosing, nor use the operator to
//! probe its network.

use async_trait::async_trait;

use super::error::CredentialsError;
use crate::crd::{ApiEndpoints, GenesysUserOffboarding, GenesysUserOffboardingSpec};
use genesys_cloud::{AllowedEndpoints, Endpoints, GenesysClient, GenesysError};

/// Gives the Genesys client to use for a resource. Clones of a client share their token cache
/// and rate-limit budget, so a provider should hand out clones rather than build anew. An
/// error reading where the credentials are kept is [`CredentialsError::Unreadable`], never
/// [`CredentialsError::Missing`].
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

/// The endpoints `spec`'s credentials may be sent to: its region's hosts, or its custom base
/// URLs when `allowed` allows both of their hosts. Pure: call it before reading the Secret, so
/// that a refused resource costs no Secret read and no connection. A refusal is
/// [`CredentialsError::EndpointNotAllowed`], the same for every URL; the operator's log names
/// the hosts.
pub fn endpoints(
    spec: &GenesysUserOffboardingSpec,
    allowed: &AllowedEndpoints,
) -> Result<Endpoints, CredentialsError> {
    let invalid = |detail: String| CredentialsError::Client(GenesysError::Config { detail });
    match spec.api_endpoints() {
        Ok(ApiEndpoints::Region(region)) => Ok(Endpoints::for_region(region)),
        Ok(ApiEndpoints::Custom {
            api_base_url,
            login_base_url,
        }) => {
            if !(allowed.allows(&api_base_url) && allowed.allows(&login_base_url)) {
                tracing::warn!(
                    api = %host_and_port(&api_base_url),
                    login = %host_and_port(&login_base_url),
                    allowed = %allowed,
                    "custom Genesys endpoints refused: not allowed by --allowed-endpoint"
                );
                return Err(CredentialsError::EndpointNotAllowed);
            }
            Endpoints::custom(api_base_url, login_base_url).map_err(CredentialsError::Client)
        }
        Err(e) => Err(invalid(e.to_string())),
    }
}

/// `host:port` of a URL, for the operator's log (a validated base URL has no user info).
fn host_and_port(url: &url::Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default(),
        url.port_or_known_default().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(endpoints: &str) -> GenesysUserOffboardingSpec {
        serde_yaml::from_str(&format!(
            "user: {{email: jane.doe@example.com}}\ncredentialsSecretRef: {{name: c}}\n{endpoints}"
        ))
        .unwrap()
    }

    fn custom(api: &str, login: &str) -> GenesysUserOffboardingSpec {
        spec(&format!("apiBaseUrl: {api}\nloginBaseUrl: {login}\n"))
    }

    fn allowed(entries: &[&str]) -> AllowedEndpoints {
        AllowedEndpoints::parse(entries).unwrap()
    }

    #[test]
    fn a_region_needs_no_allowance() {
        let endpoints = endpoints(&spec("region: eu_west_1\n"), &allowed(&[])).unwrap();

        assert_eq!(endpoints.login().as_str(), "https://login.mypurecloud.ie/");
    }

    #[test]
    fn custom_endpoints_are_refused_unless_the_configuration_allows_both_hosts() {
        let spec = custom("http://127.0.0.1:8080/", "https://login.example.com/");
        let refused = |allowance: &[&str]| {
            matches!(
                endpoints(&spec, &allowed(allowance)),
                Err(CredentialsError::EndpointNotAllowed)
            )
        };

        assert!(refused(&[]), "off by default");
        assert!(refused(&["127.0.0.1:8080"]), "the login host too");
        assert!(
            refused(&["127.0.0.1:9090", "login.example.com"]),
            "another port"
        );
        assert!(
            refused(&["localhost", "login.example.com"]),
            "by address, not by name"
        );
        assert!(!refused(&["127.0.0.1:8080", "login.example.com"]));
        assert!(!refused(&["127.0.0.1", "LOGIN.example.com:443"]));
    }

    #[test]
    fn a_refusal_says_the_same_whatever_the_urls() {
        let messages: Vec<String> = [
            custom("https://10.0.0.1:6443/", "https://10.0.0.1:6443/"),
            custom("http://127.0.0.1:8080/", "http://[::1]:1/"),
            custom("https://metadata.internal/", "https://nowhere.invalid/"),
        ]
        .iter()
        .map(|spec| endpoints(spec, &allowed(&["api.example.com"])).unwrap_err())
        .map(|e| {
            assert_eq!(e.reason(), "EndpointNotAllowed");
            e.to_string()
        })
        .collect();

        assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
        assert!(!messages[0].contains("10.0.0.1"), "{}", messages[0]);
    }
}
