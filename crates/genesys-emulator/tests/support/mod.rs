//! The emulator's tests' one support module: an emulator started with a token in hand, plain
//! `reqwest` calls returning status, headers and JSON, and the small builders the tests share
//! (time intervals, a details filter by user, the `ErrorBody` check).

#![allow(dead_code, clippy::unwrap_used)]

use chrono::{TimeDelta, Utc};
use genesys_emulator::fixture::Fixture;
use genesys_emulator::{Sim, SimHandle};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A running emulator and a client holding a token for it.
pub struct Api {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub token: String,
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

pub async fn start(fixture: Fixture, id: &str, secret: &str) -> Api {
    let sim = Sim::start(fixture).await.unwrap();
    let http = reqwest::Client::new();
    let mut api = Api {
        sim,
        http,
        token: String::new(),
    };
    let granted = api.grant(id, secret).await;
    assert_eq!(granted.status, 200, "{granted:?}");
    granted.body["access_token"]
        .as_str()
        .unwrap()
        .clone_into(&mut api.token);
    api
}

pub async fn demo() -> Api {
    start(Fixture::demo(), "demo-client", "demo-secret").await
}

pub async fn inline(yaml: &str) -> Api {
    start(Fixture::from_yaml(yaml).unwrap(), "c", "s").await
}

/// `now + offset` in the wire format.
pub fn at(offset: TimeDelta) -> String {
    (Utc::now() + offset)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An interval relative to one reading of the clock (two readings would make a 31-day interval
/// a millisecond longer than 31 days).
pub fn interval(from: TimeDelta, to: TimeDelta) -> String {
    let now = Utc::now();
    let format = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    format!("{}/{}", format(now + from), format(now + to))
}

pub fn user_filter(user: &str) -> Value {
    json!([{"type": "and", "predicates": [
        {"type": "dimension", "dimension": "userId", "operator": "matches", "value": user},
        {"type": "dimension", "dimension": "purpose", "value": "agent"}
    ]}])
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sim.base_url(), path.trim_start_matches('/'))
    }

    pub async fn answer(response: reqwest::Response) -> Answer {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn grant(&self, id: &str, secret: &str) -> Answer {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        Self::answer(response).await
    }

    pub async fn call_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method.parse().unwrap(), self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(request.send().await.unwrap()).await
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call_with(Some(&self.token), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Answer {
        self.call("PATCH", path, Some(body)).await
    }

    pub async fn search(&self, body: Value) -> Answer {
        self.post("/api/v2/users/search", body).await
    }

    pub fn ids(results: &Value) -> Vec<String> {
        results
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|u| u["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn assert_error_body(answer: &Answer, status: u16, code: &str) {
    assert_eq!(answer.status, status, "{answer:?}");
    let b = &answer.body;
    assert_eq!(b["code"], code, "{answer:?}");
    assert_eq!(b["status"], status);
    for field in ["message", "messageWithParams", "contextId"] {
        assert!(b[field].is_string(), "{field} in {b}");
    }
    assert!(b["messageParams"].is_object() && b["details"].is_array() && b["errors"].is_array());
    assert_eq!(
        answer.headers["inin-correlation-id"].to_str().unwrap(),
        b["contextId"].as_str().unwrap()
    );
}
