"""Schemathesis hooks for tests/fuzz/run.sh (loaded through SCHEMATHESIS_HOOKS).

A page token is opaque: only one the gateway issued, for the same filter and order, is valid, so
no generator can invent one, and an invented one is rightly refused (400 `invalid_query`). Valid
(positive) list requests (invitations, the audit trail, campaigns and their items) that carry a pageToken get a real one
instead: the hook asks the gateway for the first page of the same query and uses its
nextPageToken (or drops the parameter when there is no next page). Invalid (negative) requests
keep what was generated.
"""

import json
import os
import urllib.parse
import urllib.request

import schemathesis

GATEWAY = os.environ["FUZZ_GATEWAY"]
TOKEN = os.environ["FUZZ_TOKEN"]


# The listings whose page tokens only the gateway can make (path templates).
PAGED = ("/v1/invitations", "/v1/audit", "/v1/campaigns", "/v1/campaigns/{id}/items")


def _first_page_token(path, query):
    """nextPageToken of the first page of `query` on `path` (a page of one), or None."""
    params = {name: value for name, value in query.items() if name not in ("pageToken", "pageSize")}
    params["pageSize"] = "1"
    url = f"{GATEWAY}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response).get("nextPageToken")
    except (OSError, ValueError):
        return None


@schemathesis.hook
def map_case(context, case):
    operation = case.operation
    if (
        operation.method.upper() == "POST"
        and operation.path == "/v1/campaigns/roster"
        and case.meta is not None
        and case.meta.generation.mode.is_positive
    ):
        # A roster's shape (a header row naming an `email` column) is CSV, which no schema can
        # state: a valid roster is a real one (a generated string is rightly refused with 400).
        case.body = "email,name\r\nada@example.com,Ada\r\ngrace@example.com,Grace\r\n"
        return case
    if operation.method.upper() != "GET" or operation.path not in PAGED:
        return case
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive:
        return case
    if not case.query or "pageToken" not in case.query:
        return case
    path = operation.path
    for name, value in (case.path_parameters or {}).items():
        path = path.replace("{" + name + "}", urllib.parse.quote(str(value), safe=""))
    token = _first_page_token(path, case.query)
    if token is None:
        del case.query["pageToken"]
    else:
        case.query["pageToken"] = token
    return case
