#!/usr/bin/env python3
"""The peer of `cargo run --release --example bulk -- --peer` (issue 6, scale target 6).

Offboards agents the way the popular tutorial does, with the official Python SDK
(purecloudplatformclientv2): one user after another, search by email, GET the user, PATCH
{state: inactive, version}, then an analytics conversation details query to confirm the history
is still there. No 429 handling, no retries (as in the tutorial): a failed call fails that user
and the loop goes on to the next one.

Usage (bulk runs it with .tools/venv/bin/python against a fresh emulator):
    .tools/venv/bin/python tests/sdk/peer_offboard.py --base-url http://127.0.0.1:PORT/ \
        --users N [--client-id demo-client] [--client-secret demo-secret]
Agent i is agent{i}@bulk.example.com (examples/support/org.rs). Prints one line per failure and,
as its last line, a JSON summary: {"users", "offboarded", "failed", "rate_limited", "seconds"}.
"""

import argparse
import datetime
import json
import sys
import time

import PureCloudPlatformClientV2 as gc
from PureCloudPlatformClientV2.rest import ApiException


def connect(base_url, client_id, client_secret):
    base = base_url.rstrip("/")
    gc.configuration.host = base
    client = gc.ApiClient(host=base)
    if client.get_conf_url("login", base) != base:
        gc.ApiClient.get_conf_url = lambda self, path_type, base_path: base_path
    client.get_client_credentials_token(client_id, client_secret)
    return client


def search_by_email(users_api, email):
    criteria = gc.UserSearchCriteria()
    criteria.type = "EXACT"
    criteria.fields = ["email"]
    criteria.value = email
    body = gc.UserSearchRequest()
    body.page_size = 25
    body.page_number = 1
    body.query = [criteria]
    return users_api.post_users_search(body)


def history_query(user_id):
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=30)
    predicate = gc.SegmentDetailQueryPredicate()
    predicate.type = "dimension"
    predicate.dimension = "userId"
    predicate.operator = "matches"
    predicate.value = user_id
    segment_filter = gc.SegmentDetailQueryFilter()
    segment_filter.type = "and"
    segment_filter.predicates = [predicate]
    paging = gc.PagingSpec()
    paging.page_size = 25
    paging.page_number = 1
    query = gc.ConversationQuery()
    stamp = lambda t: t.isoformat().replace("+00:00", "Z")  # noqa: E731
    query.interval = f"{stamp(start)}/{stamp(now)}"
    query.order = "asc"
    query.order_by = "conversationStart"
    query.segment_filters = [segment_filter]
    query.paging = paging
    return query


def offboard(users_api, analytics_api, email):
    found = search_by_email(users_api, email)
    results = found.results or []
    if len(results) != 1:
        raise RuntimeError(f"{len(results)} users found")
    user = users_api.get_user(results[0].id)
    update = gc.UpdateUser()
    update.state = "inactive"
    update.version = user.version
    users_api.patch_user(user.id, update)
    analytics_api.post_analytics_conversations_details_query(history_query(user.id))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    args = parser.parse_args()

    started = time.monotonic()
    client = connect(args.base_url, args.client_id, args.client_secret)
    users_api = gc.UsersApi(client)
    analytics_api = gc.AnalyticsApi(client)
    failed = rate_limited = 0
    for i in range(args.users):
        email = f"agent{i}@bulk.example.com"
        try:
            offboard(users_api, analytics_api, email)
        except ApiException as e:
            failed += 1
            rate_limited += e.status == 429
            print(f"FAILED {email}: HTTP {e.status}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 - the tutorial's loop goes on to the next user
            failed += 1
            print(f"FAILED {email}: {e}", file=sys.stderr)
    print(json.dumps({
        "users": args.users,
        "offboarded": args.users - failed,
        "failed": failed,
        "rate_limited": rate_limited,
        "seconds": round(time.monotonic() - started, 3),
    }))


if __name__ == "__main__":
    main()
