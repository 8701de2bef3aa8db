//! The five methods: paths, shapes, and the invitation state machine.

use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::{emails, spawn_emulator};

#[tokio::test]
async fn get_answers_proto3_json_with_int64_as_string() {
    let app = spawn_emulator().await;

    let reply = app.get_invitation("ada@example.com").await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({
            "name": "customers/C0demo000/userinvitations/ada@example.com",
            "state": "INVITED",
            "mailsSentCount": "2",
            "updateTime": "2026-01-05T09:00:00.000Z",
        })
    );
}

#[tokio::test]
async fn get_omits_a_zero_mails_sent_count() {
    let app = spawn_emulator().await;

    let reply = app.get_invitation("donald@example.com").await;

    assert_eq!(reply.body["state"], json!("NOT_YET_SENT"));
    assert!(
        reply.body.get("mailsSentCount").is_none(),
        "{:?}",
        reply.body
    );
}

#[tokio::test]
async fn raw_and_percent_encoded_at_and_plus_reach_the_same_invitation() {
    let app = spawn_emulator().await;

    for segment in [
        "grace+hr@example.com",
        "grace%2Bhr%40example.com",
        "grace%2bhr@example.com",
    ] {
        let reply = app.get_invitation(segment).await;
        assert_eq!(reply.status, 200, "{segment}: {:?}", reply.body);
        assert_eq!(
            reply.body["name"],
            json!("customers/C0demo000/userinvitations/grace+hr@example.com")
        );
    }
}

#[tokio::test]
async fn email_lookup_ignores_case_and_answers_the_stored_address() {
    let app = spawn_emulator().await;

    let reply = app.get_invitation("ADA@Example.COM").await;

    assert_eq!(
        reply.body["name"],
        json!("customers/C0demo000/userinvitations/ada@example.com")
    );
}

#[tokio::test]
async fn my_customer_alias_answers_with_the_canonical_name() {
    let app = spawn_emulator().await;

    let reply = app
        .get(&app.url("/v1/customers/my_customer/userinvitations/ada@example.com"))
        .await;

    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["name"],
        json!("customers/C0demo000/userinvitations/ada@example.com")
    );
}

#[tokio::test]
async fn unknown_customer_is_permission_denied() {
    let app = spawn_emulator().await;

    let reply = app
        .get(&app.url("/v1/customers/C0other99/userinvitations"))
        .await;

    reply.assert_google_error(403, "PERMISSION_DENIED");
}

#[tokio::test]
async fn unknown_verb_suffix_is_not_found() {
    let app = spawn_emulator().await;

    let reply = app.post(&app.invitations("/ada@example.com:resend")).await;

    reply.assert_google_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn malformed_email_segments_are_invalid_argument() {
    let app = spawn_emulator().await;

    for segment in [
        "no-at-sign",
        "%zz@example.com",
        "%ff%fe@example.com",
        "a%2Fb@example.com",
        "@example.com",
        ":send",
    ] {
        let reply = app.get(&app.invitations(&format!("/{segment}"))).await;
        reply.assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn unknown_paths_answer_google_not_found() {
    let app = spawn_emulator().await;

    for path in [
        "/v1/customers/C0demo000/groups",
        "/v1/other",
        "/",
        "/v1/customers/C0demo000/userinvitations/a@b.c/extra",
    ] {
        let reply = app.get(&app.url(path)).await;
        reply.assert_google_error(404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn get_of_unknown_address_is_not_found() {
    let app = spawn_emulator().await;

    let reply = app.get_invitation("nobody@example.com").await;

    reply.assert_google_error(404, "NOT_FOUND");
}

#[tokio::test]
async fn unmanaged_accounts_are_invitable() {
    let app = spawn_emulator().await;

    for email in [
        "donald@example.com",
        "ada@example.com",
        "barbara@example.com",
        "annie@example.com",
    ] {
        let reply = app.is_invitable(email).await;
        assert_eq!(reply.body, json!({"isInvitableUser": true}), "{email}");
    }
}

#[tokio::test]
async fn managed_and_unknown_accounts_answer_an_empty_object() {
    let app = spawn_emulator().await;

    for email in ["alan@example.com", "nobody@example.com"] {
        let reply = app.is_invitable(email).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, json!({}), "{email}");
    }
}

#[tokio::test]
async fn send_invites_a_not_yet_sent_account_and_answers_a_done_operation() {
    let app = spawn_emulator().await;

    let reply = app.send("donald@example.com").await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        reply.body["name"]
            .as_str()
            .unwrap_or_default()
            .starts_with("operations/")
    );
    assert_eq!(reply.body["done"], json!(true));
    let response = &reply.body["response"];
    assert_eq!(
        response["@type"],
        json!("type.googleapis.com/google.apps.cloudidentity.userinvitations.v1.UserInvitation")
    );
    assert_eq!(
        response["name"],
        json!("customers/C0demo000/userinvitations/donald@example.com")
    );
    assert_eq!(response["state"], json!("INVITED"));
    assert_eq!(response["mailsSentCount"], json!("1"));
    assert_eq!(
        app.stats().await["mailsSent"],
        json!({"donald@example.com": 1})
    );
}

#[tokio::test]
async fn send_to_an_invited_account_mails_again() {
    let app = spawn_emulator().await;

    let reply = app.send("ada@example.com").await;

    assert_eq!(reply.body["response"]["state"], json!("INVITED"));
    assert_eq!(reply.body["response"]["mailsSentCount"], json!("3"));
    assert_eq!(
        app.get_invitation("ada@example.com").await.body["mailsSentCount"],
        json!("3")
    );
}

#[tokio::test]
async fn send_to_a_declined_account_invites_again() {
    let app = spawn_emulator().await;

    let reply = app.send("barbara@example.com").await;

    assert_eq!(reply.body["response"]["state"], json!("INVITED"));
    assert_eq!(reply.body["response"]["mailsSentCount"], json!("2"));
}

#[tokio::test]
async fn send_to_a_managed_account_is_failed_precondition_and_mails_nobody() {
    let app = spawn_emulator().await;

    let reply = app.send("alan@example.com").await;

    reply.assert_google_error(400, "FAILED_PRECONDITION");
    assert_eq!(app.stats().await["mailsSent"], json!({}));
}

#[tokio::test]
async fn send_to_an_unknown_address_is_failed_precondition() {
    let app = spawn_emulator().await;

    let reply = app.send("nobody@example.com").await;

    reply.assert_google_error(400, "FAILED_PRECONDITION");
}

#[tokio::test]
async fn cancel_returns_an_invitation_to_not_yet_sent_without_mail() {
    let app = spawn_emulator().await;

    let reply = app.cancel("ada@example.com").await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["response"]["state"], json!("NOT_YET_SENT"));
    assert_eq!(reply.body["response"]["mailsSentCount"], json!("2"));
    assert_eq!(app.stats().await["mailsSent"], json!({}));
}

#[tokio::test]
async fn cancel_of_anything_not_invited_is_failed_precondition() {
    let app = spawn_emulator().await;

    for email in [
        "donald@example.com",
        "alan@example.com",
        "barbara@example.com",
        "nobody@example.com",
    ] {
        let reply = app.cancel(email).await;
        reply.assert_google_error(400, "FAILED_PRECONDITION");
    }
}

#[tokio::test]
async fn send_takes_an_empty_body_or_an_empty_object_only() {
    let app = spawn_emulator().await;
    let url = app.invitations("/ada@example.com:send");

    assert_eq!(app.post_as(&url, Some(&app.token), "").await.status, 200);
    assert_eq!(app.post_as(&url, Some(&app.token), "{}").await.status, 200);
    for body in ["[]", "\"x\"", "{", "{\"resend\": true}"] {
        app.post_as(&url, Some(&app.token), body)
            .await
            .assert_google_error(400, "INVALID_ARGUMENT");
    }
}

#[tokio::test]
async fn recent_account_is_invitable_and_sendable_but_hidden_from_get_and_list() {
    let app = spawn_emulator().await;

    assert_eq!(
        app.is_invitable("annie@example.com").await.body,
        json!({"isInvitableUser": true})
    );
    let sent = app.send("annie@example.com").await;

    assert_eq!(sent.body["response"]["state"], json!("INVITED"));
    app.get_invitation("annie@example.com")
        .await
        .assert_google_error(404, "NOT_FOUND");
    let list = app.get(&app.invitations("?pageSize=200")).await;
    assert!(!emails(&list.body).contains(&"annie@example.com".to_string()));
}

#[tokio::test]
async fn google_system_parameters_are_ignored() {
    let app = spawn_emulator().await;

    let reply = app
        .get(
            &app.invitations("/ada@example.com?alt=json&prettyPrint=false&quotaUser=x&%24.xgafv=2"),
        )
        .await;

    assert_eq!(reply.status, 200, "{:?}", reply.body);
}

#[tokio::test]
async fn the_fields_system_parameter_is_accepted_on_list_and_get() {
    let app = spawn_emulator().await;

    let list = app
        .get(&app.invitations("?fields=nextPageToken,userInvitations(name,state)&pageSize=2"))
        .await;
    let get = app
        .get(&app.invitations("/ada@example.com?fields=name"))
        .await;

    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(emails(&list.body).len(), 2);
    assert_eq!(get.status, 200, "{:?}", get.body);
    assert_eq!(
        get.body["name"],
        json!("customers/C0demo000/userinvitations/ada@example.com")
    );
}

#[tokio::test]
async fn every_global_parameter_of_the_discovery_document_is_accepted() {
    let app = spawn_emulator().await;
    let everything = "%24.xgafv=1&access_token=ignored-when-a-header-is-given&alt=json&callback=cb\
        &fields=name&key=AIzaKey&oauth_token=ignored-too&prettyPrint=true&quotaUser=hr-ci\
        &uploadType=media&upload_protocol=raw";

    let get = app
        .get(&app.invitations(&format!("/ada@example.com?{everything}")))
        .await;
    let list = app
        .get(&app.invitations(&format!("?{everything}&pageSize=1")))
        .await;
    let check = app
        .get(&app.invitations(&format!("/ada@example.com:isInvitableUser?{everything}")))
        .await;
    let send = app
        .post(&app.invitations(&format!("/donald@example.com:send?{everything}")))
        .await;

    for reply in [&get, &list, &check, &send] {
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_invalid_argument() {
    let app = spawn_emulator().await;

    let on_list = app.get(&app.invitations("?colour=blue")).await;
    let on_get = app
        .get(&app.invitations("/ada@example.com?colour=blue"))
        .await;

    on_list.assert_google_error(400, "INVALID_ARGUMENT");
    on_get.assert_google_error(400, "INVALID_ARGUMENT");
}
