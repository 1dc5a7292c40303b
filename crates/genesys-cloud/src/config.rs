//! Where the client talks to and how: regions and their hosts (`docs/genesys-api.md` §1), explicit
//! endpoints (HTTPS only, plain HTTP only for loopback), credentials, and the tunables of
//! [`ClientConfig`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::GenesysError;

// A Genesys Cloud region, named by its SDK key (`docs/genesys-api.md` §1). It is also the CRD's
// `spec.region` enum (hence `JsonSchema`, and serde accepting exactly the SDK keys). No `///` on
// the type: kube's schema rewrite would put the type's description over the field's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum Region {
    /// Americas (US East), mypurecloud.com.
    #[serde(rename = "us_east_1")]
    UsEast1,
    /// EMEA (Dublin), mypurecloud.ie.
    #[serde(rename = "eu_west_1")]
    EuWest1,
    /// Asia Pacific (Sydney), mypurecloud.com.au.
    #[serde(rename = "ap_southeast_2")]
    ApSoutheast2,
    /// Asia Pacific (Tokyo), mypurecloud.jp.
    #[serde(rename = "ap_northeast_1")]
    ApNortheast1,
    /// EMEA (Frankfurt), mypurecloud.de.
    #[serde(rename = "eu_central_1")]
    EuCentral1,
    /// Americas (US West), usw2.pure.cloud.
    #[serde(rename = "us_west_2")]
    UsWest2,
    /// Americas (Canada), cac1.pure.cloud.
    #[serde(rename = "ca_central_1")]
    CaCentral1,
    /// Asia Pacific (Seoul), apne2.pure.cloud.
    #[serde(rename = "ap_northeast_2")]
    ApNortheast2,
    /// EMEA (London), euw2.pure.cloud.
    #[serde(rename = "eu_west_2")]
    EuWest2,
    /// Asia Pacific (Mumbai), aps1.pure.cloud.
    #[serde(rename = "ap_south_1")]
    ApSouth1,
    /// Americas (US East 2, `FedRAMP`), use2.us-gov-pure.cloud.
    #[serde(rename = "us_east_2")]
    UsEast2,
    /// Americas (São Paulo), sae1.pure.cloud.
    #[serde(rename = "sa_east_1")]
    SaEast1,
    /// Middle East (UAE), mec1.pure.cloud.
    #[serde(rename = "me_central_1")]
    MeCentral1,
    /// Asia Pacific (Osaka), apne3.pure.cloud.
    #[serde(rename = "ap_northeast_3")]
    ApNortheast3,
    /// EMEA (Zurich), euc2.pure.cloud.
    #[serde(rename = "eu_central_2")]
    EuCentral2,
    /// Americas (Mexico), mxc1.pure.cloud.
    #[serde(rename = "mx_central_1")]
    MxCentral1,
    /// Asia Pacific (Singapore), apse1.pure.cloud.
    #[serde(rename = "ap_southeast_1")]
    ApSoutheast1,
    /// EMEA (EU sovereign cloud, Germany), edee1.eusc-pure.cloud.
    #[serde(rename = "eusc_de_east_1")]
    EuscDeEast1,
}

impl Region {
    /// Every region in the reference, in its order.
    pub const ALL: [Region; 18] = [
        Region::UsEast1,
        Region::EuWest1,
        Region::ApSoutheast2,
        Region::ApNortheast1,
        Region::EuCentral1,
        Region::UsWest2,
        Region::CaCentral1,
        Region::ApNortheast2,
        Region::EuWest2,
        Region::ApSouth1,
        Region::UsEast2,
        Region::SaEast1,
        Region::MeCentral1,
        Region::ApNortheast3,
        Region::EuCentral2,
        Region::MxCentral1,
        Region::ApSoutheast1,
        Region::EuscDeEast1,
    ];

    /// The SDK key, e.g. `us_east_1` (as written in `spec.region`).
    pub fn as_str(self) -> &'static str {
        self.key()
    }

    /// The SDK key, e.g. `us_east_1`.
    pub fn key(self) -> &'static str {
        match self {
            Region::UsEast1 => "us_east_1",
            Region::EuWest1 => "eu_west_1",
            Region::ApSoutheast2 => "ap_southeast_2",
            Region::ApNortheast1 => "ap_northeast_1",
            Region::EuCentral1 => "eu_central_1",
            Region::UsWest2 => "us_west_2",
            Region::CaCentral1 => "ca_central_1",
            Region::ApNortheast2 => "ap_northeast_2",
            Region::EuWest2 => "eu_west_2",
            Region::ApSouth1 => "ap_south_1",
            Region::UsEast2 => "us_east_2",
            Region::SaEast1 => "sa_east_1",
            Region::MeCentral1 => "me_central_1",
            Region::ApNortheast3 => "ap_northeast_3",
            Region::EuCentral2 => "eu_central_2",
            Region::MxCentral1 => "mx_central_1",
            Region::ApSoutheast1 => "ap_southeast_1",
            Region::EuscDeEast1 => "eusc_de_east_1",
        }
    }

    /// The region's domain; the API host is `api.<domain>`, the login host `login.<domain>`.
    pub fn domain(self) -> &'static str {
        match self {
            Region::UsEast1 => "mypurecloud.com",
            Region::EuWest1 => "mypurecloud.ie",
            Region::ApSoutheast2 => "mypurecloud.com.au",
            Region::ApNortheast1 => "mypurecloud.jp",
            Region::EuCentral1 => "mypurecloud.de",
            Region::UsWest2 => "usw2.pure.cloud",
            Region::CaCentral1 => "cac1.pure.cloud",
            Region::ApNortheast2 => "apne2.pure.cloud",
            Region::EuWest2 => "euw2.pure.cloud",
            Region::ApSouth1 => "aps1.pure.cloud",
            Region::UsEast2 => "use2.us-gov-pure.cloud",
            Region::SaEast1 => "sae1.pure.cloud",
            Region::MeCentral1 => "mec1.pure.cloud",
            Region::ApNortheast3 => "apne3.pure.cloud",
            Region::EuCentral2 => "euc2.pure.cloud",
            Region::MxCentral1 => "mxc1.pure.cloud",
            Region::ApSoutheast1 => "apse1.pure.cloud",
            Region::EuscDeEast1 => "edee1.eusc-pure.cloud",
        }
    }

    /// `https://api.<domain>/`.
    pub fn api_host(self) -> String {
        format!("api.{}", self.domain())
    }

    /// `https://login.<domain>/`.
    pub fn login_host(self) -> String {
        format!("login.{}", self.domain())
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A region name that is not in the reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Genesys Cloud region {0:?} (expected a key such as us_east_1 or us-east-1)")]
pub struct UnknownRegion(pub String);

impl FromStr for Region {
    type Err = UnknownRegion;

    /// Accepts the SDK key (`us_east_1`), the dashed form (`us-east-1`), in any case, and the
    /// region's domain (`mypurecloud.ie`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Region::ALL
            .into_iter()
            .find(|r| r.key() == wanted || r.domain() == s.trim().to_ascii_lowercase())
            .ok_or_else(|| UnknownRegion(s.to_owned()))
    }
}

/// The two base URLs the client uses: the API (`/api/v2/...`) and the login host
/// (`/oauth/token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    api: Url,
    login: Url,
}

impl Endpoints {
    /// The public hosts of a region.
    pub fn for_region(region: Region) -> Self {
        // The hosts come from a fixed table of valid DNS names (checked by a unit test).
        let parse = |host: String| {
            Url::parse(&format!("https://{host}/")).expect("region hosts are valid URLs")
        };
        Self {
            api: parse(region.api_host()),
            login: parse(region.login_host()),
        }
    }

    /// Explicit base URLs, e.g. the emulator's. Both must be `https`, except that `http` is
    /// allowed for loopback hosts (`localhost`, `127.0.0.0/8`, `::1`). No credentials, query or
    /// fragment may be embedded.
    pub fn custom(api: Url, login: Url) -> Result<Self, GenesysError> {
        Ok(Self {
            api: validate_base("api", api)?,
            login: validate_base("login", login)?,
        })
    }

    /// Parses both URLs, then validates them as [`Endpoints::custom`] does.
    pub fn parse(api: &str, login: &str) -> Result<Self, GenesysError> {
        let parse = |which: &str, text: &str| {
            Url::parse(text).map_err(|e| GenesysError::Config {
                detail: format!("{which} base URL {:?} is not a URL: {e}", redact_url(text)),
            })
        };
        Self::custom(parse("api", api)?, parse("login", login)?)
    }

    /// The same base URL for the API and the login host (the emulator serves both).
    pub fn single(base: Url) -> Result<Self, GenesysError> {
        Self::custom(base.clone(), base)
    }

    pub fn api(&self) -> &Url {
        &self.api
    }

    pub fn login(&self) -> &Url {
        &self.login
    }
}

fn validate_base(which: &str, mut url: Url) -> Result<Url, GenesysError> {
    let bad = |why: &str| GenesysError::Config {
        detail: format!("{which} base URL {}: {why}", redact_url(url.as_str())),
    };
    if url.cannot_be_a_base() {
        return Err(bad("is not a base URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not embed credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(bad(
                "must use https (plain http is only allowed for loopback)",
            ));
        }
        _ => return Err(bad("must use https")),
    }
    if url.host().is_none() {
        return Err(bad("has no host"));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

/// `value`, a URL or what was meant as one, with what it may carry in secret cut out, for a
/// message that echoes it: everything between the scheme and the last `@` (user info such as
/// `user:password@`), and everything from the first `?` or `#` after that (query and fragment).
/// Cuts too much rather than too little: any `@` counts, wherever it is.
pub fn redact_url(value: &str) -> String {
    const REDACTED: &str = "[REDACTED]";
    let start = value.find("://").map_or(0, |i| i + 3);
    let (mut out, rest) = match value.rfind('@') {
        Some(at) if at >= start => (format!("{}{REDACTED}@", &value[..start]), &value[at + 1..]),
        _ => (String::new(), value),
    };
    match rest.find(['?', '#']) {
        Some(cut) => {
            out.push_str(&rest[..=cut]);
            out.push_str(REDACTED);
        }
        None => out.push_str(rest),
    }
    out
}

/// A host, and optionally a port, that custom endpoints (`spec.apiBaseUrl`,
/// `spec.loginBaseUrl`) may name: `HOST` (every port of it) or `HOST:PORT`, an IPv6 address in
/// brackets (`[::1]:8080`). Hosts compare as a URL resolves them: names case-insensitively,
/// addresses by value (`127.0.0.1`), so a URL cannot dodge an entry by its spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AllowedEndpoint {
    host: url::Host<String>,
    port: Option<u16>,
}

/// An `--allowed-endpoint` entry that is not `HOST` or `HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not HOST or HOST:PORT (e.g. genesys-proxy.example.com, 127.0.0.1:8080, [::1]:8080)"
)]
pub struct InvalidAllowedEndpoint(pub String);

impl AllowedEndpoint {
    /// Exactly the host and port `url` connects to (its scheme's default port when it names
    /// none).
    pub fn of(url: &Url) -> Option<Self> {
        Some(Self {
            host: url.host()?.to_owned(),
            port: url.port_or_known_default(),
        })
    }

    /// Whether `url` connects to this host (and port, when one is set).
    pub fn allows(&self, url: &Url) -> bool {
        url.host().is_some_and(|host| host.to_owned() == self.host)
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }
}

impl FromStr for AllowedEndpoint {
    type Err = InvalidAllowedEndpoint;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidAllowedEndpoint(s.to_owned());
        let text = s.trim();
        // A trailing `:PORT`, unless the colon is one of an IPv6 address's.
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port: u16 = port.parse().ok().filter(|p| *p != 0).ok_or_else(invalid)?;
                (host, Some(port))
            }
            _ => (text, None),
        };
        let host = url::Host::parse(host).map_err(|_| invalid())?;
        if let url::Host::Domain(name) = &host
            && !name.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
        {
            return Err(invalid());
        }
        Ok(Self { host, port })
    }
}

impl fmt::Display for AllowedEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// The hosts custom endpoints may name; empty (the default): none, only regions. Which hosts
/// receive an OAuth client's credentials is the operator administrator's decision, not the
/// decision of whoever may create a resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedEndpoints(Vec<AllowedEndpoint>);

impl AllowedEndpoints {
    /// Parses `HOST` / `HOST:PORT` entries.
    pub fn parse<I>(entries: I) -> Result<Self, InvalidAllowedEndpoint>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        entries
            .into_iter()
            .map(|entry| entry.as_ref().parse())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether an entry allows `url`'s host and port.
    pub fn allows(&self, url: &Url) -> bool {
        self.0.iter().any(|entry| entry.allows(url))
    }

    /// Whether both the API and the login base URL are allowed.
    pub fn allow(&self, endpoints: &Endpoints) -> bool {
        self.allows(endpoints.api()) && self.allows(endpoints.login())
    }
}

impl FromIterator<AllowedEndpoint> for AllowedEndpoints {
    fn from_iter<T: IntoIterator<Item = AllowedEndpoint>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for AllowedEndpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        for (i, entry) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{entry}")?;
        }
        Ok(())
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// OAuth client-credentials of one Genesys OAuth client. `Debug` never shows the secret.
#[derive(Clone)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: SecretString,
}

impl ClientCredentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<SecretString>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    pub fn client_secret(&self) -> &SecretString {
        &self.client_secret
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[REDACTED]")
            .finish()
    }
}

/// Counts calls for metrics: one `on_call` per HTTP exchange (including retries and the token
/// request, operation `post_oauth_token`), one `on_rate_limit_wait` when a call had to wait for
/// the shared budget.
pub trait CallObserver: Send + Sync {
    /// `status` is `None` when no response arrived (timeout, connection error).
    fn on_call(&self, operation: &str, status: Option<u16>, elapsed: Duration);
    fn on_rate_limit_wait(&self, waited: Duration) {
        let _ = waited;
    }
}

/// Everything [`super::GenesysClient::new`] needs. Build with [`ClientConfig::new`] and the
/// `with_*` setters.
#[derive(Clone)]
pub struct ClientConfig {
    pub endpoints: Endpoints,
    pub credentials: ClientCredentials,
    /// The OAuth client's limit (Genesys default: 300 per minute per token).
    pub requests_per_minute: u32,
    /// Fraction of `requests_per_minute` the client actually uses (default 0.97), so that a
    /// server enforcing the full limit never answers 429.
    pub headroom: f64,
    /// Per-request timeout (default 30 s).
    pub request_timeout: Duration,
    /// Retries of a transient failure (and, separately, of a 429 with `Retry-After`) before the
    /// error is surfaced (default 4).
    pub max_retries: u32,
    /// First backoff delay for transient failures (default 250 ms); doubles each retry, jittered.
    pub retry_base_delay: Duration,
    /// Largest backoff delay (default 10 s).
    pub retry_max_delay: Duration,
    /// A 429's `Retry-After` above this is not waited out in-line: the call fails with
    /// `RateLimited` at once (Go SDK policy, `docs/genesys-api.md` §8.3; default 180 s).
    pub max_retry_after: Duration,
    /// Attempts of `set_user_state` when the version keeps conflicting (default 10, like
    /// Terraform's provider).
    pub max_conflict_retries: u32,
    /// Analytics windows longer than this use the async details jobs (default 31 days).
    pub max_sync_interval: Duration,
    /// How often a details job's status is polled (default 2 s).
    pub job_poll_interval: Duration,
    /// How long a details job may take before the call gives up (default 10 min).
    pub job_timeout: Duration,
    /// Largest response body the client reads (default 16 MiB); a larger one fails the call with
    /// a `Decode` error instead of filling memory. The pages of one listing share this budget.
    pub max_response_bytes: usize,
    /// Most concurrent reads coalesced into one request (default 25): users by id, email
    /// searches, and users' conversations over the same window. 1 turns coalescing off.
    pub max_batch: usize,
    /// During a wave (callers for several users at once), how long the first caller of a
    /// coalesced request waits for the others before it is sent (default 250 ms; zero sends at
    /// once). A lone offboarding never waits.
    pub batch_linger: Duration,
    pub observer: Option<Arc<dyn CallObserver>>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("endpoints", &self.endpoints)
            .field("credentials", &self.credentials)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("headroom", &self.headroom)
            .field("request_timeout", &self.request_timeout)
            .field("max_retries", &self.max_retries)
            .field("max_sync_interval", &self.max_sync_interval)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("max_batch", &self.max_batch)
            .field("batch_linger", &self.batch_linger)
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    pub fn new(endpoints: Endpoints, credentials: ClientCredentials) -> Self {
        Self {
            endpoints,
            credentials,
            requests_per_minute: 300,
            headroom: 0.97,
            request_timeout: Duration::from_secs(30),
            max_retries: 4,
            retry_base_delay: Duration::from_millis(250),
            retry_max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(180),
            max_conflict_retries: 10,
            max_sync_interval: Duration::from_secs(31 * 24 * 3600),
            job_poll_interval: Duration::from_secs(2),
            job_timeout: Duration::from_secs(600),
            max_response_bytes: 16 * 1024 * 1024,
            max_batch: 25,
            batch_linger: Duration::from_millis(250),
            observer: None,
        }
    }

    #[must_use]
    pub fn with_requests_per_minute(mut self, rpm: u32) -> Self {
        self.requests_per_minute = rpm;
        self
    }

    #[must_use]
    pub fn with_headroom(mut self, headroom: f64) -> Self {
        self.headroom = headroom;
        self
    }

    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    #[must_use]
    pub fn with_max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// Backoff for transient failures: first delay and cap.
    #[must_use]
    pub fn with_retry_delays(mut self, base: Duration, max: Duration) -> Self {
        self.retry_base_delay = base;
        self.retry_max_delay = max;
        self
    }

    #[must_use]
    pub fn with_max_retry_after(mut self, max: Duration) -> Self {
        self.max_retry_after = max;
        self
    }

    #[must_use]
    pub fn with_max_conflict_retries(mut self, retries: u32) -> Self {
        self.max_conflict_retries = retries;
        self
    }

    #[must_use]
    pub fn with_max_sync_interval(mut self, max: Duration) -> Self {
        self.max_sync_interval = max;
        self
    }

    /// Polling period and overall deadline of async analytics jobs.
    #[must_use]
    pub fn with_job_polling(mut self, poll_interval: Duration, timeout: Duration) -> Self {
        self.job_poll_interval = poll_interval;
        self.job_timeout = timeout;
        self
    }

    /// Largest response body (and largest listing, all pages together) the client reads.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Most concurrent reads coalesced into one request (1: none).
    #[must_use]
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max;
        self
    }

    /// How long the first caller of a coalesced request waits for others during a wave.
    #[must_use]
    pub fn with_batch_linger(mut self, linger: Duration) -> Self {
        self.batch_linger = linger;
        self
    }

    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn CallObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), GenesysError> {
        let bad = |detail: String| Err(GenesysError::Config { detail });
        if self.requests_per_minute == 0 {
            return bad("requests_per_minute must be at least 1".into());
        }
        if !(self.headroom > 0.0 && self.headroom <= 1.0) {
            return bad(format!("headroom must be in (0, 1], got {}", self.headroom));
        }
        if self.max_response_bytes == 0 {
            return bad("max_response_bytes must be at least 1".into());
        }
        if self.request_timeout.is_zero() {
            return bad("request_timeout must be positive".into());
        }
        if self.credentials.client_id.is_empty() {
            return bad("client id is empty".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn every_region_maps_to_its_api_and_login_host() {
        let expected = [
            ("us_east_1", "mypurecloud.com"),
            ("eu_west_1", "mypurecloud.ie"),
            ("ap_southeast_2", "mypurecloud.com.au"),
            ("ap_northeast_1", "mypurecloud.jp"),
            ("eu_central_1", "mypurecloud.de"),
            ("us_west_2", "usw2.pure.cloud"),
            ("ca_central_1", "cac1.pure.cloud"),
            ("ap_northeast_2", "apne2.pure.cloud"),
            ("eu_west_2", "euw2.pure.cloud"),
            ("ap_south_1", "aps1.pure.cloud"),
            ("us_east_2", "use2.us-gov-pure.cloud"),
            ("sa_east_1", "sae1.pure.cloud"),
            ("me_central_1", "mec1.pure.cloud"),
            ("ap_northeast_3", "apne3.pure.cloud"),
            ("eu_central_2", "euc2.pure.cloud"),
            ("mx_central_1", "mxc1.pure.cloud"),
            ("ap_southeast_1", "apse1.pure.cloud"),
            ("eusc_de_east_1", "edee1.eusc-pure.cloud"),
        ];
        assert_eq!(expected.len(), Region::ALL.len());
        for (key, domain) in expected {
            let region: Region = key.parse().unwrap();
            let endpoints = Endpoints::for_region(region);
            assert_eq!(endpoints.api().as_str(), format!("https://api.{domain}/"));
            assert_eq!(
                endpoints.login().as_str(),
                format!("https://login.{domain}/")
            );
        }
    }

    #[test]
    fn regions_parse_from_key_dashed_form_and_domain() {
        assert_eq!("us_east_1".parse::<Region>().unwrap(), Region::UsEast1);
        assert_eq!("us-east-1".parse::<Region>().unwrap(), Region::UsEast1);
        assert_eq!("EU-WEST-2".parse::<Region>().unwrap(), Region::EuWest2);
        assert_eq!("mypurecloud.ie".parse::<Region>().unwrap(), Region::EuWest1);
        assert!("us-east-9".parse::<Region>().is_err());
        assert_eq!(Region::EuscDeEast1.to_string(), "eusc_de_east_1");
    }

    #[test]
    fn custom_endpoints_require_https_except_for_loopback() {
        let ok = |s: &str| Endpoints::parse(s, s).is_ok();
        assert!(ok("https://api.example.com"));
        assert!(ok("http://127.0.0.1:8080/"));
        assert!(ok("http://127.1.2.3:8080/"));
        assert!(ok("http://localhost:8080"));
        assert!(ok("http://[::1]:8080/"));
        assert!(!ok("http://api.example.com/"));
        assert!(!ok("http://10.0.0.1/"));
        assert!(!ok("ftp://127.0.0.1/"));
        assert!(!ok("https://user:pw@api.example.com/"));
        assert!(!ok("https://api.example.com/?x=1"));
        assert!(!ok("not a url"));
    }

    #[test]
    fn a_rejected_endpoint_is_named_without_its_user_info() {
        let error = Endpoints::parse("https://jane:hunter2@api.example.com/", "https://l.x.com")
            .unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("api.example.com"), "{shown}");

        let error = Endpoints::parse("https://jane:hunter2@[bad/", "https://l.x.com").unwrap_err();
        assert!(!format!("{error} {error:?}").contains("hunter2"), "{error}");
    }

    #[test]
    fn redaction_cuts_user_info_query_and_fragment() {
        for (url, shown) in [
            ("https://api.example.com/v2", "https://api.example.com/v2"),
            ("https://u:p@host/", "https://[REDACTED]@host/"),
            ("https://u:p@w@host/x", "https://[REDACTED]@host/x"),
            ("u:p@host", "[REDACTED]@host"),
            ("https://host/?token=t", "https://host/?[REDACTED]"),
            ("https://host/#t", "https://host/#[REDACTED]"),
            (
                "https://u:p@host/?t#f",
                "https://[REDACTED]@host/?[REDACTED]",
            ),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn allowed_endpoints_match_hosts_as_urls_resolve_them() {
        let url = |s: &str| Url::parse(s).unwrap();
        let entry = |s: &str| s.parse::<AllowedEndpoint>().unwrap();

        assert!(entry("Proxy.Example.com").allows(&url("https://proxy.example.com:8443/")));
        assert!(entry("proxy.example.com:443").allows(&url("https://proxy.example.com/")));
        assert!(!entry("proxy.example.com:443").allows(&url("https://proxy.example.com:8443/")));
        assert!(!entry("proxy.example.com").allows(&url("https://example.com/")));
        assert!(!entry("example.com").allows(&url("https://proxy.example.com/")));
        assert!(entry("127.0.0.1:8080").allows(&url("http://127.0.0.1:8080/")));
        assert!(!entry("127.0.0.1:8080").allows(&url("http://localhost:8080/")));
        assert!(entry("[::1]").allows(&url("http://[::1]:9000/")));
        assert!(entry("[::1]:9000").allows(&url("http://[::1]:9000/")));
        assert_eq!(entry(" [::1]:9000 ").to_string(), "[::1]:9000");

        for bad in [
            "",
            "::1",
            "host:0",
            "host:70000",
            "host:port",
            "https://host",
            "host/path",
            "user@host",
            "*.example.com",
            "host.",
        ] {
            assert!(bad.parse::<AllowedEndpoint>().is_err(), "{bad:?}");
        }
        assert_eq!(AllowedEndpoints::default().to_string(), "none");
        assert!(!AllowedEndpoints::default().allows(&url("https://api.mypurecloud.com/")));
    }

    #[test]
    fn custom_endpoint_paths_gain_a_trailing_slash() {
        let e =
            Endpoints::parse("https://proxy.example.com/genesys", "https://login.x.com").unwrap();
        assert_eq!(e.api().as_str(), "https://proxy.example.com/genesys/");
        assert_eq!(e.login().as_str(), "https://login.x.com/");
    }

    #[test]
    fn credentials_debug_redacts_the_secret() {
        let creds = ClientCredentials::new("demo-client", "demo-secret".to_owned());
        let shown = format!("{creds:?}");
        assert!(shown.contains("demo-client"));
        assert!(!shown.contains("demo-secret"));
        assert_eq!(creds.client_secret().expose_secret(), "demo-secret");
        let config = ClientConfig::new(Endpoints::for_region(Region::UsEast1), creds);
        assert!(!format!("{config:?}").contains("demo-secret"));
    }
}
