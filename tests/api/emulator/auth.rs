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
