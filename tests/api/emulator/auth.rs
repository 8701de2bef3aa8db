//! Bearer tokens on the User Invitation methods.

use invitation_gateway::emulator::CLOUD_PLATFORM_SCOPE;
use pretty_assertions::assert_eq;
use serde_json::json;

use super::helpers::spawn_emulator;

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let app = spawn_emulator().await;

    let reply = app.get_as(&app.invitations(""), None).await;

    reply.assert_google_error(401, "UNAUTHENTICATED");
    let challenge = reply
        .headers
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        challenge,
        Some(r#"Bearer realm="https://accounts.google.com/""#)
    );
}

#[tokio::test]
async fn a_token_the_emulator_did_not_issue_is_unauthenticated() {
    let app = spawn_emulator().await;

    for token in ["ya29.forged", ""] {
        let reply = app
            .get_as(&app.invitations("/ada@example.com"), Some(token))
            .await;
        reply.assert_google_error(401, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_readonly_token_reads_but_cannot_send_or_cancel() {
    let app = spawn_emulator().await;
    let readonly = app.readonly_token().await;

    assert_eq!(
        app.get_as(&app.invitations(""), Some(&readonly))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_as(&app.invitations("/ada@example.com"), Some(&readonly))
            .await
            .status,
        200
    );
    assert_eq!(
        app.get_as(
            &app.invitations("/ada@example.com:isInvitableUser"),
            Some(&readonly)
        )
        .await
        .status,
        200
    );
    for verb in ["send", "cancel"] {
        let reply = app
            .post_as(
                &app.invitations(&format!("/ada@example.com:{verb}")),
                Some(&readonly),
                "{}",
            )
            .await;
        reply.assert_google_error(403, "PERMISSION_DENIED");
        assert_eq!(
            reply.body["error"]["details"][0]["reason"],
            json!("ACCESS_TOKEN_SCOPE_INSUFFICIENT")
        );
    }
    assert_eq!(app.stats().await["mailsSent"], json!({}));
}

#[tokio::test]
async fn a_token_without_a_user_invitation_scope_is_refused_everywhere() {
    let app = spawn_emulator().await;
    let cloud = app.own_token(CLOUD_PLATFORM_SCOPE).await;

    for path in ["", "/ada@example.com", "/ada@example.com:isInvitableUser"] {
        app.get_as(&app.invitations(path), Some(&cloud))
            .await
            .assert_google_error(403, "PERMISSION_DENIED");
    }
    for verb in ["send", "cancel"] {
        let reply = app
            .post_as(
                &app.invitations(&format!("/ada@example.com:{verb}")),
                Some(&cloud),
                "{}",
            )
            .await;
        reply.assert_google_error(403, "PERMISSION_DENIED");
    }
}

#[tokio::test]
async fn revoked_tokens_stop_working_and_new_ones_do() {
    let app = spawn_emulator().await;

    let revoke = app.control("/emulator/v1/tokens/revoke", json!({})).await;

    assert_eq!(revoke.status, 204);
    app.get(&app.invitations(""))
        .await
        .assert_google_error(401, "UNAUTHENTICATED");
    let fresh = app
        .token_for(invitation_gateway::emulator::USERINVITATIONS_SCOPE)
        .await;
    assert_eq!(
        app.get_as(&app.invitations(""), Some(&fresh)).await.status,
        200
    );
}

#[tokio::test]
async fn an_access_token_query_parameter_is_the_credential_when_there_is_no_header() {
    let app = spawn_emulator().await;

    let list = app
        .get_as(
            &app.invitations(&format!("?access_token={}&pageSize=1", app.token)),
            None,
        )
        .await;
    let send = app
        .post_as(
            &app.invitations(&format!(
                "/donald@example.com:send?access_token={}",
                app.token
            )),
            None,
            "{}",
        )
        .await;
    let legacy = app
        .get_as(
            &app.invitations(&format!("/ada@example.com?oauth_token={}", app.token)),
            None,
        )
        .await;

    assert_eq!(list.status, 200, "{:?}", list.body);
    assert_eq!(
        list.body["userInvitations"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(send.status, 200, "{:?}", send.body);
    assert_eq!(send.body["response"]["state"], json!("INVITED"));
    assert_eq!(legacy.status, 200, "{:?}", legacy.body);
}

#[tokio::test]
async fn a_query_access_token_is_checked_like_a_header_token() {
    let app = spawn_emulator().await;
    let readonly = app.readonly_token().await;

    let forged = app
        .get_as(&app.invitations("?access_token=ya29.forged"), None)
        .await;
    let empty = app.get_as(&app.invitations("?access_token="), None).await;
    let readonly_send = app
        .post_as(
            &app.invitations(&format!("/donald@example.com:send?access_token={readonly}")),
            None,
            "{}",
        )
        .await;
    // The header, when present, is the credential: a good query token does not rescue a bad one.
    let bad_header = app
        .get_as(
            &app.invitations(&format!("?access_token={}", app.token)),
            Some("ya29.forged"),
        )
        .await;

    forged.assert_google_error(401, "UNAUTHENTICATED");
    empty.assert_google_error(401, "UNAUTHENTICATED");
    readonly_send.assert_google_error(403, "PERMISSION_DENIED");
    bad_header.assert_google_error(401, "UNAUTHENTICATED");
}
