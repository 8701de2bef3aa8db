"""Drives the emulator with Google's own Python client library; exits non-zero on any mismatch.

Usage: check.py EMULATOR_URL KEY_FILE
"""

import json
import sys
import urllib.request

from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

SCOPE = "https://www.googleapis.com/auth/cloud-identity.userinvitations"
ADMIN = "admin@example.com"
PARENT = "customers/C0demo000"


def name(email):
    return f"{PARENT}/userinvitations/{email}"


def expect(label, actual, wanted):
    if actual != wanted:
        print(f"FAIL {label}: got {actual!r}, wanted {wanted!r}", file=sys.stderr)
        sys.exit(1)
    print(f"ok   {label}")


def control(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data, method="GET" if body is None else "POST")
    request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request) as response:
        text = response.read()
        return json.loads(text) if text else None


def expect_http_error(label, call, status, google_status):
    try:
        call.execute()
    except HttpError as error:
        body = json.loads(error.content)
        expect(label, (error.resp.status, body["error"]["status"]), (status, google_status))
        return
    print(f"FAIL {label}: no error", file=sys.stderr)
    sys.exit(1)


def main():
    url, key_file = sys.argv[1], sys.argv[2]
    control(url, "/emulator/v1/reset", {})
    creds = service_account.Credentials.from_service_account_file(key_file, scopes=[SCOPE], subject=ADMIN)
    service = build(
        "cloudidentity",
        "v1",
        credentials=creds,
        client_options={"api_endpoint": url},
        static_discovery=True,
    )
    invitations = service.customers().userinvitations()

    # list with filter and orderBy, paged by the client's own list_next.
    request = invitations.list(parent=PARENT, filter="state=='INVITED'", orderBy="email desc", pageSize=3)
    seen, pages = [], 0
    while request is not None:
        page = request.execute()
        pages += 1
        for item in page.get("userInvitations", []):
            expect(f"state of {item['name']}", item["state"], "INVITED")
            expect(f"mailsSentCount of {item['name']} is a string", type(item["mailsSentCount"]), str)
            seen.append(item["name"].rsplit("/", 1)[1])
        request = invitations.list_next(request, page)
    expect("invited emails, descending", seen, sorted(seen, reverse=True))
    expect("invited count", len(seen), 8)
    expect("pages of 3", pages, 3)

    everything = invitations.list(parent=PARENT, orderBy="update_time").execute()
    expect("oldest first", everything["userInvitations"][0]["name"], name("ada@example.com"))
    expect("no next page", "nextPageToken" in everything, False)

    # get of an address with '+', which the client leaves unencoded in the path.
    grace = invitations.get(name=name("grace+hr@example.com")).execute()
    expect(
        "get grace+hr",
        grace,
        {"name": name("grace+hr@example.com"), "state": "NOT_YET_SENT", "updateTime": "2026-01-05T10:00:00.000Z"},
    )

    expect("isInvitableUser unmanaged", invitations.isInvitableUser(name=name("grace+hr@example.com")).execute(),
           {"isInvitableUser": True})
    expect("isInvitableUser managed", invitations.isInvitableUser(name=name("alan@example.com")).execute(), {})

    sent = invitations.send(name=name("grace+hr@example.com"), body={}).execute()
    expect("send done", sent["done"], True)
    expect("send state", sent["response"]["state"], "INVITED")
    expect("send mailsSentCount", sent["response"]["mailsSentCount"], "1")

    cancelled = invitations.cancel(name=name("grace+hr@example.com"), body={}).execute()
    expect("cancel state", cancelled["response"]["state"], "NOT_YET_SENT")

    expect_http_error("get unknown", invitations.get(name=name("nobody@example.com")), 404, "NOT_FOUND")
    expect_http_error("send to managed", invitations.send(name=name("alan@example.com"), body={}), 400,
                      "FAILED_PRECONDITION")

    stats = control(url, "/emulator/v1/stats")
    expect("mails sent", stats["mailsSent"], {"grace+hr@example.com": 1})
    expect("grant subject", stats["tokenGrants"][0]["sub"], ADMIN)
    expect("grant audience", stats["tokenGrants"][0]["aud"], "https://oauth2.googleapis.com/token")
    print("Google's Python client agrees with the emulator.")


if __name__ == "__main__":
    main()
