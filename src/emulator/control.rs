//! The control API under `/emulator/v1`: accounts, faults, latency, delegation, setup problems,
//! tokens, stats, reset.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::accounts::{Account, State};
use super::body::read_json;
use super::faults::{FaultRequest, check_latency};
use super::setup::SetupRequest;
use super::state::Shared;
use super::wire::{GoogleError, reject_method};

type Answer = Result<HttpResponse, GoogleError>;

/// Registers every control route; a wrong verb on one of them is Google's 404 "Method not found."
pub fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/accounts", web::post().to(add_account)))
        .service(resource(
            "/accounts/accept",
            web::post().to(accept_invitation),
        ))
        .service(resource(
            "/accounts/decline",
            web::post().to(decline_invitation),
        ))
        .service(resource("/accounts/appear", web::post().to(appear)))
        .service(
            resource("/faults", web::post().to(add_fault)).route(web::delete().to(clear_faults)),
        )
        .service(resource("/latency", web::post().to(set_latency)))
        .service(resource("/quota", web::post().to(set_quota)))
        .service(resource("/delegation", web::post().to(set_delegation)))
        .service(resource("/setup", web::post().to(set_setup_problem)))
        .service(resource("/tokens/revoke", web::post().to(revoke_tokens)))
        .service(resource("/stats", web::get().to(show_stats)))
        .service(resource("/reset", web::post().to(reset)));
}

/// The control resource at `/emulator/v1{path}` answering `route`; any other verb gets
/// Google's 404.
fn resource(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(format!("/emulator/v1{path}"))
        .route(route)
        .default_service(web::to(reject_method))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddAccountRequest {
    email: String,
    state: Option<State>,
    recent: Option<bool>,
    /// The account's last change; now when absent. With `recent`, an account that will appear
    /// in list (`accounts/appear`) behind changes list already showed.
    update_time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailRequest {
    email: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyRequest {
    ms: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct QuotaRequest {
    /// Calls per minute; `null` lifts the quota. Required, so a typo cannot lift it by accident.
    #[serde(deserialize_with = "required_nullable")]
    per_minute: Option<u32>,
}

/// A field that must be present but may be `null`.
fn required_nullable<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u32>, D::Error> {
    Option::<u32>::deserialize(deserializer)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DelegationRequest {
    authorized_scopes: Vec<String>,
}

/// The control API's view of an account (plain integers, unlike Google's proto3 JSON).
fn account_json(account: &Account) -> Value {
    json!({
        "email": account.email,
        "state": account.state,
        "recent": account.recent,
        "mailsSentCount": account.mails_sent_count,
        "updateTime": account.update_time.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

async fn add_account(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: AddAccountRequest = read_json(payload).await?;
    let account = Account::new(
        &request.email,
        request.state.unwrap_or(State::NotYetSent),
        request.recent.unwrap_or(false),
        request.update_time.unwrap_or_else(Utc::now),
    );
    let mut world = shared.world();
    let added = world.directory.insert(account)?;
    Ok(HttpResponse::Created().json(account_json(added)))
}

async fn accept_invitation(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    answer_invitation(payload, shared, State::Accepted).await
}

async fn decline_invitation(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    answer_invitation(payload, shared, State::Declined).await
}

async fn answer_invitation(
    payload: web::Payload,
    shared: web::Data<Shared>,
    answer: State,
) -> Answer {
    let request: EmailRequest = read_json(payload).await?;
    let account = shared
        .world()
        .directory
        .answer(request.email.trim(), answer, Utc::now())?;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

/// Google's index catches up with a recent account: get and list show it from now on, with
/// the update time it had (older, typically, than changes list showed before).
async fn appear(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: EmailRequest = read_json(payload).await?;
    let account = shared.world().directory.appear(request.email.trim())?;
    Ok(HttpResponse::Ok().json(account_json(&account)))
}

async fn add_fault(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: FaultRequest = read_json(payload).await?;
    shared.world().faults.add(request)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn clear_faults(shared: web::Data<Shared>) -> HttpResponse {
    shared.world().faults.clear();
    HttpResponse::NoContent().finish()
}

async fn set_latency(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: LatencyRequest = read_json(payload).await?;
    shared.world().latency = check_latency("ms", request.ms)?;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_quota(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: QuotaRequest = read_json(payload).await?;
    if request.per_minute == Some(0) {
        return Err(GoogleError::invalid_argument(
            "perMinute must be at least 1, or null for no quota.",
        ));
    }
    shared.world().quota.set_per_minute(request.per_minute);
    Ok(HttpResponse::NoContent().finish())
}

async fn set_delegation(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: DelegationRequest = read_json(payload).await?;
    shared.world().authorized_scopes = request.authorized_scopes;
    Ok(HttpResponse::NoContent().finish())
}

async fn set_setup_problem(payload: web::Payload, shared: web::Data<Shared>) -> Answer {
    let request: SetupRequest = read_json(payload).await?;
    shared.world().setup_problem = request.problem;
    Ok(HttpResponse::NoContent().finish())
}

async fn revoke_tokens(shared: web::Data<Shared>) -> HttpResponse {
    shared.tokens().revoke_all();
    HttpResponse::NoContent().finish()
}

async fn show_stats(shared: web::Data<Shared>) -> HttpResponse {
    let world = shared.world();
    let mut stats = world.stats.to_json();
    if let Value::Object(fields) = &mut stats {
        fields.insert("quotaPerMinute".into(), json!(world.quota.per_minute()));
        fields.insert("setupProblem".into(), json!(world.setup_problem));
    }
    HttpResponse::Ok().json(stats)
}

async fn reset(shared: web::Data<Shared>) -> HttpResponse {
    shared.reset();
    HttpResponse::NoContent().finish()
}
