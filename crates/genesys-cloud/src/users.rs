//! Users: find by email (active and inactive, and separately deleted, without touching them),
//! read, and change `state` with its `version` (`docs/genesys-api.md` §3–§5).
//!
//! There is deliberately no call that deletes a user.

use std::collections::{HashMap, HashSet};

use reqwest::Method;
use serde::Serialize;

use super::batch::{answer_batch, coalesce};
use super::client::GenesysClient;
use super::error::GenesysError;
use super::http::{Admission, ApiRequest, MAX_PAGES, PAGE_SIZE, too_many_pages};
use super::models::{EmailMatches, User, UserId, UserState, UserStateInfo, UsersSearchResponse};

/// `UserSearchCriteria`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchCriterion<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    fields: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    values: Option<&'a [&'a str]>,
}

/// `UserSearchRequest`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest<'a> {
    page_size: u32,
    page_number: u32,
    query: [SearchCriterion<'a>; 2],
}

/// `UpdateUser` carrying only `state` and `version`: when `state` is present it must be the only
/// field changed (`docs/genesys-api.md` §4.1).
#[derive(Debug, Serialize)]
struct StatePatch<'a> {
    state: &'a UserState,
    version: i64,
}

impl GenesysClient {
    /// Every user whose email is exactly `email`: `live` holds active and inactive users (searched
    /// with an explicit `state` criterion, since search may leave inactive users out otherwise),
    /// `deleted` the soft-deleted ones (found with a `deleted` criterion, only to report them).
    pub async fn find_users_by_email(&self, email: &str) -> Result<EmailMatches, GenesysError> {
        let live = self
            .search_by_email(&[email], &["active", "inactive"], Admission::Wait)
            .await?
            .into_iter()
            .filter(|u| !u.is_state(&UserState::Deleted))
            .collect();
        let deleted = self
            .search_by_email(&[email], &["deleted"], Admission::Wait)
            .await?
            .into_iter()
            .filter(|u| u.state.is_none() || u.is_state(&UserState::Deleted))
            .collect();
        Ok(EmailMatches { live, deleted })
    }

    /// The same split as [`find_users_by_email`](Self::find_users_by_email) from one search:
    /// the `state` criterion names `active`, `inactive` and `deleted` at once (deleted users
    /// are returned only when a `state` criterion asks for them, §3.4), and each result goes to
    /// `live` or `deleted` by the `state` it carries. A result without `state` counts as live:
    /// reading it by id then tells (a deleted user is `NotFound` there).
    ///
    /// Concurrent calls are coalesced: one search names all their emails (`values`), and each
    /// caller gets the results carrying its email. When a result cannot be told apart that way
    /// (no email, or one that none of the callers asked for, as a match on another address
    /// would be), or the combined search is refused, each email is searched on its own: an
    /// ambiguous email must never look unambiguous.
    pub async fn find_users_by_email_all_states(
        &self,
        email: &str,
    ) -> Result<EmailMatches, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.email_searches,
            "post_users_search",
            (),
            email.to_owned(),
            |client, (), emails| async move { client.search_emails(emails).await },
        )
        .await
    }

    /// The searches of a batch of emails, in order.
    async fn search_emails(&self, emails: Vec<String>) -> Vec<Result<EmailMatches, GenesysError>> {
        const ALL_STATES: &[&str] = &["active", "inactive", "deleted"];
        let split = |users: Vec<User>| {
            let (deleted, live) = users
                .into_iter()
                .partition(|u| u.is_state(&UserState::Deleted));
            EmailMatches { live, deleted }
        };
        let wanted: Vec<&str> = emails.iter().map(String::as_str).collect();
        let keys: Vec<String> = emails.iter().map(|e| e.to_lowercase()).collect();
        let combined = async {
            let users = self
                .search_by_email(&wanted, ALL_STATES, Admission::Admitted)
                .await?;
            Ok(attribute_by_email(&keys, users)
                .map(|per_email| per_email.into_iter().map(|u| Ok(split(u))).collect()))
        };
        answer_batch(
            &wanted,
            "email search",
            combined,
            |email, admission| async move {
                self.search_by_email(&[*email], ALL_STATES, admission)
                    .await
                    .map(split)
            },
        )
        .await
    }

    async fn search_by_email(
        &self,
        emails: &[&str],
        states: &[&str],
        first_page: Admission,
    ) -> Result<Vec<User>, GenesysError> {
        let mut seen = HashSet::new();
        let mut users = Vec::new();
        let (value, values) = match emails {
            [one] => (Some(*one), None),
            several => (None, Some(several)),
        };
        for page in 1..=MAX_PAGES {
            let body = SearchRequest {
                page_size: PAGE_SIZE,
                page_number: page,
                query: [
                    SearchCriterion {
                        kind: "EXACT",
                        fields: ["email"],
                        value,
                        values,
                    },
                    SearchCriterion {
                        kind: "EXACT",
                        fields: ["state"],
                        value: None,
                        values: Some(states),
                    },
                ],
            };
            let request = ApiRequest::new("post_users_search", Method::POST, &["users", "search"])
                .json(&body)?;
            let admission = first_page.for_page(page);
            let response: UsersSearchResponse =
                self.send(request.admission(admission)).await?.json()?;
            let count = response.results.len();
            let before = users.len();
            for user in response.results {
                if seen.insert(user.id.clone()) {
                    users.push(user);
                }
            }
            if count > 0 && users.len() == before {
                return Err(GenesysError::Decode {
                    operation: "post_users_search".into(),
                    status: 200,
                    detail: format!(
                        "page {page} repeats users already listed (the server ignores \
                         pageNumber); stopped walking the search"
                    ),
                });
            }
            let last = count == 0
                || match response.page_count {
                    Some(page_count) => i64::from(page) >= page_count,
                    None => response.next_page.is_none(),
                };
            if last {
                return Ok(users);
            }
        }
        Err(too_many_pages("post_users_search"))
    }

    /// `GET /api/v2/users/{id}` with `expand` (comma-joined). Finds active and inactive users;
    /// a deleted user is `NotFound` (see [`GenesysClient::get_deleted_user`]).
    ///
    /// Concurrent reads with the same `expand` are coalesced into one
    /// `GET /api/v2/users?id=…&state=any&expand=…`, which answers each the same way (a deleted
    /// or missing user is `NotFound`).
    pub async fn get_user(&self, id: &UserId, expand: &[&str]) -> Result<User, GenesysError> {
        coalesce(
            self,
            |client| &client.inner.users_by_id,
            "get_user",
            expand.join(","),
            id.clone(),
            |client, expand, ids| async move { client.read_users(&expand, ids).await },
        )
        .await
    }

    /// One `GET /users/{id}`.
    async fn read_user(
        &self,
        id: &UserId,
        expand: &str,
        admission: Admission,
    ) -> Result<User, GenesysError> {
        let mut request = ApiRequest::get("get_user", &["users", id.as_str()]);
        if !expand.is_empty() {
            request = request.query("expand", expand);
        }
        self.send(request.admission(admission)).await?.json()
    }

    /// The reads of a batch of ids, in order.
    async fn read_users(&self, expand: &str, ids: Vec<UserId>) -> Vec<Result<User, GenesysError>> {
        let combined = async {
            let joined: Vec<&str> = ids.iter().map(UserId::as_str).collect();
            let mut request = ApiRequest::get("get_users", &["users"])
                .query_list("id", &joined)
                .query("state", "any");
            if !expand.is_empty() {
                request = request.query("expand", expand);
            }
            let found: HashMap<UserId, User> = self
                .get_all_pages::<User>(request.admission(Admission::Admitted))
                .await?
                .into_iter()
                .filter(|u| !u.is_state(&UserState::Deleted))
                .map(|u| (u.id.clone(), u))
                .collect();
            Ok(Some(
                ids.iter()
                    .map(|id| {
                        found
                            .get(id)
                            .cloned()
                            .ok_or_else(|| GenesysError::NotFound {
                                operation: "get_user".into(),
                                resource: format!("/api/v2/users/{id}"),
                                body: None,
                            })
                    })
                    .collect(),
            ))
        };
        answer_batch(&ids, "user read", combined, |id, admission| {
            self.read_user(id, expand, admission)
        })
        .await
    }

    /// `GET /api/v2/users/{id}?state=deleted`: the user if it is soft-deleted, `None` if there is
    /// no deleted user with that id. Read-only.
    pub async fn get_deleted_user(&self, id: &UserId) -> Result<Option<User>, GenesysError> {
        let request =
            ApiRequest::get("get_user", &["users", id.as_str()]).query("state", "deleted");
        match self
            .send(request)
            .await
            .and_then(|reply| reply.json::<User>())
        {
            Ok(user) if user.state.is_none() || user.is_state(&UserState::Deleted) => {
                Ok(Some(user))
            }
            Ok(_) => Ok(None),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /api/v2/users?id=..&state=any`, 100 ids per request, every page. Users that do not
    /// exist are simply absent from the result.
    pub async fn get_users_by_ids(&self, ids: &[UserId]) -> Result<Vec<User>, GenesysError> {
        let mut users = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PAGE_SIZE as usize) {
            let joined: Vec<&str> = chunk.iter().map(UserId::as_str).collect();
            let request = ApiRequest::get("get_users", &["users"])
                .query_list("id", &joined)
                .query("state", "any");
            users.extend(self.get_all_pages::<User>(request).await?);
        }
        Ok(users)
    }

    /// Moves a user to `state` (e.g. `inactive`): reads the user, returns it unchanged if it is
    /// already there, otherwise sends a PATCH of `{state, version}` and, on a version conflict, re-reads
    /// and tries again (at most `max_conflict_retries` times).
    pub async fn set_user_state(
        &self,
        id: &UserId,
        state: UserState,
    ) -> Result<User, GenesysError> {
        let attempts = self.inner.config.max_conflict_retries.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let user = self.get_user(id, &[]).await?;
            if user.is_state(&state) {
                tracing::debug!(user = %id, state = %state, "user already in the target state");
                return Ok(user);
            }
            let version = user.version.ok_or_else(|| GenesysError::Decode {
                operation: "get_user".into(),
                status: 200,
                detail: format!("user {id} has no version, so its state cannot be changed"),
            })?;
            match self.patch_user_state(id, state.clone(), version).await {
                Err(e) if e.is_version_conflict() && attempt < attempts => {
                    tracing::info!(user = %id, attempt, "version conflict; re-reading the user");
                    self.inner.backoff.sleep(attempt - 1).await;
                }
                other => return other,
            }
        }
    }

    /// One `PATCH /api/v2/users/{id}` with `{"state": .., "version": ..}` and nothing else.
    pub async fn patch_user_state(
        &self,
        id: &UserId,
        state: UserState,
        version: i64,
    ) -> Result<User, GenesysError> {
        let request = ApiRequest::new("patch_user", Method::PATCH, &["users", id.as_str()]).json(
            &StatePatch {
                state: &state,
                version,
            },
        )?;
        self.send(request).await?.json()
    }

    /// `GET /api/v2/users/{id}/state` (needs `directory:userStateChange:view`).
    pub async fn get_user_state(&self, id: &UserId) -> Result<UserStateInfo, GenesysError> {
        self.send(ApiRequest::get(
            "get_user_state",
            &["users", id.as_str(), "state"],
        ))
        .await?
        .json()
    }

    /// `PUT /api/v2/users/{id}/state`: changes state and records `stateChangeReason`.
    pub async fn put_user_state(
        &self,
        id: &UserId,
        state: &UserStateInfo,
    ) -> Result<UserStateInfo, GenesysError> {
        let request = ApiRequest::new(
            "put_user_state",
            Method::PUT,
            &["users", id.as_str(), "state"],
        )
        .json(state)?;
        self.send(request).await?.json()
    }
}

/// Each result of a combined email search, given to the email (lowercased, in `keys`) it
/// carries; `None` when some result carries no email or one not asked for.
fn attribute_by_email(keys: &[String], users: Vec<User>) -> Option<Vec<Vec<User>>> {
    let mut per_email: Vec<Vec<User>> = keys.iter().map(|_| Vec::new()).collect();
    for user in users {
        let email = user.email.as_deref()?.to_lowercase();
        let mut matched = false;
        for (key, list) in keys.iter().zip(per_email.iter_mut()) {
            if *key == email {
                list.push(user.clone());
                matched = true;
            }
        }
        if !matched {
            return None;
        }
    }
    Some(per_email)
}
