//! One person across campaigns: the items a person has in the campaigns the viewer sees.

use super::*;

/// Most campaign items a person lookup answers (the latest changed).
pub const MAX_PERSON_ITEMS: u32 = 200;

/// One item of a person, with the campaign it is in.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"campaignId": "5b0f7c9e2d4a4f1b9e8c3a2d1f0e9c8b", "campaignName": "Wave 1",
    "dryRun": false, "email": "ada@example.com", "outcome": "sent", "mails": 1,
    "lastMailAt": "2026-12-01T09:01:00.000Z", "updatedAt": "2026-12-01T09:01:00.000Z", "row": 2,
    "columns": {"employee_id": "E1001"}}))]
pub struct PersonItemView {
    /// The campaign's id.
    pub campaign_id: String,
    /// The campaign's name.
    pub campaign_name: String,
    /// The campaign is a dry run (nobody was mailed).
    pub dry_run: bool,
    /// The item, as `GET /v1/campaigns/{id}/items` shows it.
    #[serde(flatten)]
    pub item: ItemView,
}

impl Campaigns {
    /// The items of `person` (a normalised address) in the campaigns `viewer` sees (an
    /// admin's: every campaign), the latest changed first, at most [`MAX_PERSON_ITEMS`].
    pub async fn person_items(
        &self,
        person: &str,
        viewer: &Viewer,
    ) -> Result<Vec<PersonItemView>, CampaignError> {
        let owner = (!viewer.admin).then_some(&viewer.caller);
        let found = self
            .gate
            .call(|s| s.person_items(person, owner, MAX_PERSON_ITEMS))
            .await?;
        let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut items = Vec::with_capacity(found.len());
        for found in found {
            if !columns.contains_key(&found.campaign_id) {
                let record = self.gate.call(|s| s.campaign(&found.campaign_id)).await?;
                let names = record.map(|r| r.roster_columns).unwrap_or_default();
                columns.insert(found.campaign_id.clone(), names);
            }
            let names = columns
                .get(&found.campaign_id)
                .map_or(&[][..], Vec::as_slice);
            items.push(PersonItemView {
                item: item_view(found.item, names),
                campaign_id: found.campaign_id,
                campaign_name: found.campaign_name,
                dry_run: found.dry_run,
            });
        }
        Ok(items)
    }
}
