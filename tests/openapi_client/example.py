"""The README's worked example, written with the client openapi-python-client generated from
openapi/openapi.json (only its functions and models): a dry run from a roster, read until
completed, its items listed page by page and counted; then a JSON campaign.

Usage: example.py <gateway-url> <bearer-token> <roster.csv>
"""

import collections
import sys
import time

from gateway_client import AuthenticatedClient
from gateway_client.api.campaigns import (
    create_campaign,
    create_roster_campaign,
    get_campaign,
    list_campaign_items,
)
from gateway_client.models import CampaignView, CreateCampaignRequest, ItemList, SourceRequest
from gateway_client.types import UNSET, File


def fail(message):
    print(f"generated client: {message}", file=sys.stderr)
    sys.exit(1)


def expect(answer, kind, what):
    if not isinstance(answer, kind):
        fail(f"{what}: expected {kind.__name__}, got {answer!r}")
    return answer


def completed(client, campaign_id):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        campaign = expect(get_campaign.sync(campaign_id, client=client), CampaignView, "read")
        if campaign.state == "completed":
            return campaign
        time.sleep(0.2)
    fail(f"campaign {campaign_id} did not complete")


def items_by_outcome(client, campaign_id):
    counts = collections.Counter()
    token = UNSET
    while True:
        page = expect(
            list_campaign_items.sync(campaign_id, client=client, page_size=2, page_token=token),
            ItemList,
            "items",
        )
        counts.update(str(item.outcome) for item in page.items)
        if not page.next_page_token:
            return counts
        token = page.next_page_token


def main():
    gateway, token, roster = sys.argv[1:4]
    client = AuthenticatedClient(base_url=gateway, token=token)
    with open(roster, "rb") as file:
        body = File(payload=file, file_name="roster.csv", mime_type="text/csv")
        dry = expect(
            create_roster_campaign.sync(client=client, body=body, name="Wave 1 (dry run)", dry_run=True),
            CampaignView,
            "roster dry run",
        )
    if not dry.dry_run or dry.name != "Wave 1 (dry run)":
        fail(f"the roster's query parameters were lost: {dry!r}")
    done = completed(client, dry.id)
    counts = dict(done.counts.additional_properties)
    listed = dict(items_by_outcome(client, dry.id))
    if not listed or sum(listed.values()) != done.total or listed != counts:
        fail(f"items {listed} disagree with the campaign's counts {counts} (total {done.total})")
    print(f"roster dry run {dry.id}: {done.total} items, {counts}")

    request = CreateCampaignRequest(
        name="Wave 1 (states)",
        source=SourceRequest(states=["NOT_YET_SENT"]),
        dry_run=True,
    )
    created = expect(create_campaign.sync(client=client, body=request), CampaignView, "JSON create")
    done = completed(client, created.id)
    listed = dict(items_by_outcome(client, created.id))
    if listed != dict(done.counts.additional_properties):
        fail(f"items {listed} disagree with {done.counts.additional_properties}")
    print(f"JSON dry run {created.id}: {done.total} items, {listed}")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
