//! Query parameters and content negotiation: which representation (`Table`,
//! `PartialObjectMetadata`, the full object) the client asked for in `Accept`.

use super::errors::ApiError;

/// The request's query string, decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let pairs = match raw {
            None | Some("") => Vec::new(),
            Some(raw) => serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
                .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?,
        };
        Ok(Self { pairs })
    }

    /// The first value of `key`, if present and not empty.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == key && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter (`true`/`1`).
    pub(crate) fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1" | "True"))
    }

    /// A non-negative integer parameter.
    pub(crate) fn number(&self, key: &str) -> Result<Option<u64>, ApiError> {
        self.get(key)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid value for {key}: {v:?}")))
            })
            .transpose()
    }

    /// Whether `dryRun=All` was asked for.
    pub(crate) fn dry_run(&self) -> Result<bool, ApiError> {
        let values: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(k, _)| k == "dryRun")
            .map(|(_, v)| v.as_str())
            .collect();
        match values.as_slice() {
            [] => Ok(false),
            ["All"] => Ok(true),
            other => Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: {other:?}: supported values: \"All\""
            ))),
        }
    }

    /// `fieldValidation`: Strict, Warn (the default) or Ignore.
    pub(crate) fn field_validation(&self) -> Result<FieldValidation, ApiError> {
        match self.get("fieldValidation") {
            None | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: {other:?}: supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// What to do with unknown or duplicate fields in a request body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Reject the request (400).
    Strict,
    /// Drop them and say so in a `Warning` header.
    Warn,
    /// Drop them silently.
    Ignore,
}

/// `includeObject` for Table responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

/// The representation the client asked for in `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Representation {
    /// The object (or list) itself.
    Full,
    /// `meta.k8s.io` `Table` (the version is `v1` or `v1beta1`).
    Table { beta: bool },
    /// `meta.k8s.io` `PartialObjectMetadata` / `PartialObjectMetadataList`.
    Metadata { beta: bool },
}

struct MediaRange<'a> {
    essence: String,
    params: Vec<(String, &'a str)>,
}

impl MediaRange<'_> {
    fn param(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim_matches('"'))
    }
}

fn media_ranges(accept: &str) -> Vec<MediaRange<'_>> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let essence = parts.next()?.trim().to_ascii_lowercase();
            if essence.is_empty() {
                return None;
            }
            let params = parts
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_ascii_lowercase(), v.trim()))
                })
                .collect();
            Some(MediaRange { essence, params })
        })
        .collect()
}

fn is_json(essence: &str) -> bool {
    matches!(essence, "application/json" | "application/*" | "*/*")
}

/// Picks the first representation in `Accept` this server can produce, in the client's order.
/// Protobuf is declined, so clients fall back to JSON.
pub(crate) fn negotiate(accept: Option<&str>) -> Result<Representation, ApiError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Representation::Full);
    };
    for range in media_ranges(accept) {
        if !is_json(&range.essence) {
            continue;
        }
        let group = range.param("g");
        let version = range.param("v");
        match range.param("as") {
            None => return Ok(Representation::Full),
            Some("Table") if group == Some("meta.k8s.io") => match version {
                Some("v1") => return Ok(Representation::Table { beta: false }),
                Some("v1beta1") => return Ok(Representation::Table { beta: true }),
                _ => {}
            },
            Some("PartialObjectMetadata" | "PartialObjectMetadataList")
                if group == Some("meta.k8s.io") =>
            {
                match version {
                    Some("v1") => return Ok(Representation::Metadata { beta: false }),
                    Some("v1beta1") => return Ok(Representation::Metadata { beta: true }),
                    _ => {}
                }
            }
            Some(_) => {}
        }
    }
    Err(ApiError::not_acceptable(accept))
}

/// The two forms of `/api` and `/apis`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DiscoveryFormat {
    /// `APIVersions` / `APIGroupList`.
    Plain,
    /// `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`.
    Aggregated,
}

/// The form of `/api` or `/apis` to answer with: the first in `Accept` this server serves
/// (aggregated `v2`, or plain JSON); `None` when there is none (406). The retired `v2beta1` is
/// passed over, as a 1.34 server does.
pub(crate) fn negotiate_discovery(accept: Option<&str>) -> Option<DiscoveryFormat> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(DiscoveryFormat::Plain);
    };
    media_ranges(accept).iter().find_map(|r| {
        if !is_json(&r.essence) {
            return None;
        }
        match (r.param("as"), r.param("g"), r.param("v")) {
            (None, _, _) => Some(DiscoveryFormat::Plain),
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                Some(DiscoveryFormat::Aggregated)
            }
            _ => None,
        }
    })
}

/// Whether plain JSON (no `as=` conversion) is acceptable, for discovery and version endpoints.
pub(crate) fn accepts_plain_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return true;
    };
    media_ranges(accept)
        .iter()
        .any(|r| is_json(&r.essence) && r.param("as").is_none())
}

/// `includeObject` (Table responses): `Metadata` unless the client says otherwise.
pub(crate) fn include_object(query: &Query) -> Result<IncludeObject, ApiError> {
    match query.get("includeObject") {
        None | Some("Metadata") => Ok(IncludeObject::Metadata),
        Some("Object") => Ok(IncludeObject::Object),
        Some("None") => Ok(IncludeObject::None),
        Some(other) => Err(ApiError::bad_request(format!(
            "includeObject: Unsupported value: {other:?}: supported values: \"None\", \"Metadata\", \"Object\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kubectl_get_asks_for_a_table_first() {
        let accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            negotiate(Some(accept)).unwrap(),
            Representation::Table { beta: false }
        );
    }

    #[test]
    fn aggregated_discovery_is_served_when_asked_for_first() {
        let kubectl = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate_discovery(Some(kubectl)),
            Some(DiscoveryFormat::Aggregated)
        );
        assert_eq!(
            negotiate_discovery(Some("application/json")),
            Some(DiscoveryFormat::Plain)
        );
        assert_eq!(negotiate_discovery(None), Some(DiscoveryFormat::Plain));
        let beta_first = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(
            negotiate_discovery(Some(beta_first)),
            Some(DiscoveryFormat::Plain)
        );
        assert_eq!(
            negotiate_discovery(Some("application/vnd.kubernetes.protobuf")),
            None
        );
        // Other discovery documents exist only in the plain form.
        assert!(!accepts_plain_json(Some(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
        )));
    }

    #[test]
    fn protobuf_only_is_not_acceptable() {
        assert!(negotiate(Some("application/vnd.kubernetes.protobuf")).is_err());
        assert_eq!(
            negotiate(Some("application/vnd.kubernetes.protobuf, */*")).unwrap(),
            Representation::Full
        );
    }
}
