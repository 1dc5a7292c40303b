//! Just enough of the Kubernetes protobuf encoding to accept what `kubectl create secret`,
//! `kubectl create configmap` and `kubectl create namespace` send (their typed clients POST
//! `application/vnd.kubernetes.protobuf`): the `k8s\0` envelope and the fields a client sets on
//! `Secret`, `ConfigMap` and `Namespace` objects. Responses are always JSON, which those clients accept.

use serde_json::{Map, Value, json};

use super::errors::ApiError;

/// How one protobuf field maps to JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Message(&'static [Field]),
    RepeatedStr,
    RepeatedMessage(&'static [Field]),
    MapStr,
    MapBytes,
}

type Field = (u32, &'static str, Kind);

const OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (11, "labels", Kind::MapStr),
    (12, "annotations", Kind::MapStr),
    (
        13,
        "ownerReferences",
        Kind::RepeatedMessage(OWNER_REFERENCE),
    ),
    (14, "finalizers", Kind::RepeatedStr),
];

const SECRET: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::MapBytes),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::MapStr),
    (5, "immutable", Kind::Bool),
];

const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::MapStr),
    (3, "binaryData", Kind::MapBytes),
    (4, "immutable", Kind::Bool),
];

const NAMESPACE_SPEC: &[Field] = &[(1, "finalizers", Kind::RepeatedStr)];

const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(NAMESPACE_SPEC)),
];

const TYPE_META: &[Field] = &[(1, "apiVersion", Kind::Str), (2, "kind", Kind::Str)];

/// A wire-format value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn malformed() -> ApiError {
    ApiError::bad_request("cannot decode the protobuf request body")
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos).ok_or_else(malformed)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(malformed())
}

/// Every (field number, value) in a message.
fn fields(buf: &[u8]) -> Result<Vec<(u32, Wire<'_>)>, ApiError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = varint(buf, &mut pos)?;
        let number = u32::try_from(tag >> 3).map_err(|_| malformed())?;
        let wire = match tag & 7 {
            0 => Wire::Varint(varint(buf, &mut pos)?),
            1 => {
                pos += 8;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| malformed())?;
                let end = pos
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or_else(malformed)?;
                let bytes = &buf[pos..end];
                pos = end;
                Wire::Bytes(bytes)
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return Err(malformed()),
        };
        out.push((number, wire));
    }
    if pos > buf.len() {
        return Err(malformed());
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed())
}

fn map_entry(bytes: &[u8], base64_value: bool) -> Result<(String, Value), ApiError> {
    let mut key = String::new();
    let mut value = Value::String(String::new());
    for (number, wire) in fields(bytes)? {
        if let Wire::Bytes(b) = wire {
            match number {
                1 => key = text(b)?,
                2 if base64_value => {
                    value = json!(base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        b
                    ));
                }
                2 => value = json!(text(b)?),
                _ => {}
            }
        }
    }
    Ok((key, value))
}

fn decode_message(buf: &[u8], schema: &[Field]) -> Result<Value, ApiError> {
    let mut object = Map::new();
    for (number, wire) in fields(buf)? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = (*name).to_owned();
        match (kind, wire) {
            (Kind::Str, Wire::Bytes(b)) => {
                object.insert(name, json!(text(b)?));
            }
            (Kind::Bool, Wire::Varint(v)) => {
                object.insert(name, json!(v != 0));
            }
            (Kind::Message(inner), Wire::Bytes(b)) => {
                object.insert(name, decode_message(b, inner)?);
            }
            (Kind::RepeatedStr, Wire::Bytes(b)) => {
                let entry = object.entry(name).or_insert_with(|| json!([]));
                if let Value::Array(items) = entry {
                    items.push(json!(text(b)?));
                }
            }
            (Kind::RepeatedMessage(inner), Wire::Bytes(b)) => {
                let decoded = decode_message(b, inner)?;
                let entry = object.entry(name).or_insert_with(|| json!([]));
                if let Value::Array(items) = entry {
                    items.push(decoded);
                }
            }
            (Kind::MapStr | Kind::MapBytes, Wire::Bytes(b)) => {
                let (key, value) = map_entry(b, matches!(kind, Kind::MapBytes))?;
                let entry = object.entry(name).or_insert_with(|| json!({}));
                if let Value::Object(map) = entry {
                    map.insert(key, value);
                }
            }
            _ => return Err(malformed()),
        }
    }
    Ok(Value::Object(object))
}

/// Decodes a protobuf request body (envelope included) into the JSON object it describes.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let unknown = body.strip_prefix(b"k8s\0").ok_or_else(malformed)?;
    let mut type_meta = Value::Null;
    let mut raw: &[u8] = &[];
    for (number, wire) in fields(unknown)? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => type_meta = decode_message(b, TYPE_META)?,
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let api_version = type_meta["apiVersion"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kind = type_meta["kind"].as_str().unwrap_or_default().to_owned();
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Namespace") => NAMESPACE,
        _ => {
            return Err(ApiError::unsupported_media_type(
                &format!("application/vnd.kubernetes.protobuf ({api_version} {kind})"),
                &["application/json", "application/yaml"],
            ));
        }
    };
    let mut object = decode_message(raw, schema)?;
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".to_owned(), json!(api_version));
        map.insert("kind".to_owned(), json!(kind));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn field(number: u32, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![
            u8::try_from(number << 3 | 2).unwrap(),
            u8::try_from(bytes.len()).unwrap(),
        ];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_protobuf_secret_decodes_to_json() {
        let meta = [field(1, b"creds"), field(3, b"team")].concat();
        let entry = [field(1, b"clientId"), field(2, b"demo")].concat();
        let secret = [field(1, &meta), field(2, &entry), field(3, b"Opaque")].concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [b"k8s\0".to_vec(), field(1, &type_meta), field(2, &secret)].concat();

        let object = decode(&body).unwrap();

        assert_eq!(
            object,
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "team"},
                   "data": {"clientId": "ZGVtbw=="}, "type": "Opaque"})
        );
    }
}
