//! Stores, their people and signing in, end to end through the API on each backend
//! (`embedded::...` on SQLite, `aws::...` on DynamoDB Local), and the accounts port's atomic
//! steps under concurrency (`contract_embedded::...`, `dynamodb::...`). What a stranger would
//! try is here too: guessing codes, replaying a refresh token, a forged token, an owner of one
//! store adding people to another.

use std::sync::Arc;

use catalog_core::auth::Role;
use catalog_core::domain::{
    Holder, Phone, Session, SessionId, SignInCode, Timestamp, User, UserId,
};
use catalog_tests::{Stores, TestApi, unique};
use serde_json::{Value, json};

/// A fresh Indian mobile number (tests share the servers, so each uses its own numbers).
pub(crate) fn phone() -> String {
    let n = uuid::Uuid::new_v4().as_u128() % 1_000_000_000;
    format!("+919{n:09}")
}

/// An admin creates a store owned by `owner_phone`; returns the store id.
pub(crate) async fn store_of(api: &TestApi, owner_phone: &str) -> String {
    let id = unique("st");
    let r = api
        .post(
            "/v1/stores",
            &api.admin(),
            json!({"store_id": id, "name": "Asha Kirana", "region": "IN-MH",
                   "owner": {"phone": owner_phone, "display_name": "Asha"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    id
}

async fn ask_code(api: &TestApi, phone: &str) -> u16 {
    api.send(
        "POST",
        "/v1/auth/code",
        None,
        Some(json!({"phone": phone})),
        &[],
    )
    .await
    .status
}

async fn token(api: &TestApi, body: Value) -> catalog_tests::Reply {
    api.send("POST", "/v1/auth/token", None, Some(body), &[])
        .await
}

/// Asks for a code and signs in with it: the token pair.
async fn sign_in(api: &TestApi, phone: &str) -> Value {
    assert_eq!(ask_code(api, phone).await, 202);
    let code = api.codes.last_code(phone).expect("a code was sent");
    let r = token(
        api,
        json!({"grant_type": "code", "phone": phone, "code": code}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn refresh(api: &TestApi, refresh_token: &Value) -> catalog_tests::Reply {
    token(
        api,
        json!({"grant_type": "refresh_token", "refresh_token": refresh_token}),
    )
    .await
}

async fn an_invited_owner_signs_in_and_refresh_tokens_rotate(api: &TestApi) {
    let owner = phone();
    let store = store_of(api, &owner).await;
    let pair = sign_in(api, &owner).await;
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["role"], "store_owner");
    assert_eq!(pair["store_ids"], json!([store]));
    assert!(pair["refresh_token"].as_str().unwrap().starts_with("kcrt_"));
    // The access token reaches the store's inventory, and no other store's.
    let access = pair["access_token"].as_str().unwrap();
    let r = api
        .get(&format!("/v1/stores/{store}/inventory"), access)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = api.get("/v1/stores/someone-else/inventory", access).await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    // The code was spent by the sign-in.
    let code = api.codes.last_code(&owner).unwrap();
    let again = token(
        api,
        json!({"grant_type": "code", "phone": owner, "code": code}),
    )
    .await;
    assert_eq!((again.status, again.code()), (401, "code_invalid"));

    // A refresh gives a new pair; the old refresh token is spent.
    let next = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_ne!(next.body["refresh_token"], pair["refresh_token"]);
    assert_eq!(next.body["store_ids"], json!([store]));
    // Its answer lost, the client sends the same token again at once: granted a pair of its
    // own. That answer lost too: granted again.
    let again = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_ne!(again.body["refresh_token"], next.body["refresh_token"]);
    let again = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    let third = refresh(api, &again.body["refresh_token"]).await;
    assert_eq!(third.status, 200, "{:?}", third.body);
    // The lost answer's token, never used by the client, used now (by whoever took it):
    // reuse. Its whole family ends, the newest token included.
    let stolen = refresh(api, &next.body["refresh_token"]).await;
    assert_eq!(
        (stolen.status, stolen.code()),
        (401, "refresh_token_reused")
    );
    let after = refresh(api, &third.body["refresh_token"]).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    // In a new sign-in, an older token than the last one sent: reuse, the family ends.
    let pair = sign_in(api, &owner).await;
    let next = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    let third = refresh(api, &next.body["refresh_token"]).await;
    assert_eq!(third.status, 200, "{:?}", third.body);
    let reused = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(
        (reused.status, reused.code()),
        (401, "refresh_token_reused")
    );
    assert_eq!(reused.header("www-authenticate"), Some("Bearer"));
    let after = refresh(api, &third.body["refresh_token"]).await;
    assert_eq!(after.status, 401, "{:?}", after.body);
    // Another sign-in is a new family, unaffected.
    let other = sign_in(api, &owner).await;
    assert_eq!(refresh(api, &other["refresh_token"]).await.status, 200);
}

async fn the_sixth_wrong_code_is_refused_even_when_right(api: &TestApi) {
    let owner = phone();
    store_of(api, &owner).await;
    assert_eq!(ask_code(api, &owner).await, 202);
    let code = api.codes.last_code(&owner).unwrap();
    let wrong = if code == "000000" { "000001" } else { "000000" };
    for left in (0..5).rev() {
        let r = token(
            api,
            json!({"grant_type": "code", "phone": owner, "code": wrong}),
        )
        .await;
        assert_eq!((r.status, r.code()), (401, "code_invalid"));
        assert!(
            r.body["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("{left} tries left")),
            "{:?}",
            r.body
        );
    }
    let r = token(
        api,
        json!({"grant_type": "code", "phone": owner, "code": code}),
    )
    .await;
    assert_eq!((r.status, r.code()), (401, "code_invalid"), "{:?}", r.body);
    // A new code works.
    sign_in(api, &owner).await;
}

async fn codes_go_only_to_users_and_are_limited_per_number(api: &TestApi) {
    let stranger = phone();
    assert_eq!(
        ask_code(api, &stranger).await,
        202,
        "the same answer for a stranger"
    );
    assert_eq!(
        api.codes.count(&stranger),
        0,
        "no SMS to a number that is no user's"
    );
    // What follows is the same for a stranger and a user: a wrong code, its tries left.
    let owner = phone();
    store_of(api, &owner).await;
    assert_eq!(ask_code(api, &owner).await, 202);
    let real = api.codes.last_code(&owner).unwrap();
    let wrong = if real == "123456" { "654321" } else { "123456" };
    let mut answers = Vec::new();
    for number in [&stranger, &owner] {
        let r = token(
            api,
            json!({"grant_type": "code", "phone": number, "code": wrong}),
        )
        .await;
        answers.push((r.status, r.body["code"].clone(), r.body["detail"].clone()));
    }
    assert_eq!(answers[0], answers[1], "a stranger's answer is a user's");
    assert_eq!(answers[0].0, 401);

    for _ in 0..4 {
        assert_eq!(ask_code(api, &owner).await, 202);
    }
    let r = api
        .send(
            "POST",
            "/v1/auth/code",
            None,
            Some(json!({"phone": owner})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(api.codes.count(&owner), 5);
    assert_eq!(
        api.codes.count(&stranger),
        0,
        "still no SMS to the stranger"
    );
    // Only the last code is good.
    let last = api.codes.last_code(&owner).unwrap();
    let r = token(
        api,
        json!({"grant_type": "code", "phone": owner, "code": last}),
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

async fn guessing_from_one_address_is_stopped(api: &TestApi) {
    // Codes tried from this test's address, across numbers: the limit is per address. Each of
    // the first 60 is judged (and wrong); the 61st is not.
    for i in 0..60 {
        let body = json!({"grant_type": "code", "phone": phone(), "code": format!("{i:06}")});
        let r = token(api, body).await;
        assert_eq!((r.status, r.code()), (401, "code_invalid"), "try {i}");
    }
    let body = json!({"grant_type": "code", "phone": phone(), "code": "123456"});
    let r = token(api, body).await;
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.body);
    assert!(r.header("retry-after").is_some());
}

async fn owners_add_staff_to_their_own_store_only(api: &TestApi) {
    let (owner_a, owner_b, staff) = (phone(), phone(), phone());
    let a = store_of(api, &owner_a).await;
    let b = store_of(api, &owner_b).await;
    let pair = sign_in(api, &owner_a).await;
    let access = pair["access_token"].as_str().unwrap();
    let staff_body = json!({"phone": staff, "display_name": "Ravi", "role": "scanner"});
    let r = api
        .post(
            &format!("/v1/stores/{b}/members"),
            access,
            staff_body.clone(),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden_store"),
        "{:?}",
        r.body
    );
    let r = api
        .post(&format!("/v1/stores/{a}/members"), access, staff_body)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["role"], "scanner");
    // The scanner signs in with the scanner's role in store A only.
    let staff_pair = sign_in(api, &staff).await;
    assert_eq!(staff_pair["role"], "scanner");
    assert_eq!(staff_pair["store_ids"], json!([a]));
    let scanner = staff_pair["access_token"].as_str().unwrap();
    let r = api
        .post(
            &format!("/v1/stores/{a}/members"),
            scanner,
            json!({"phone": phone(), "display_name": "X", "role": "store_owner"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    // The owner sees the store's people; the owner's role cannot be taken away.
    let r = api.get(&format!("/v1/stores/{a}"), access).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["members"].as_array().unwrap().len(),
        2,
        "{:?}",
        r.body
    );
    let r = api
        .post(
            &format!("/v1/stores/{a}/members"),
            access,
            json!({"phone": owner_a, "display_name": "Asha", "role": "scanner"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "owner_role_fixed"));
    // A store id is one store's.
    let r = api
        .post("/v1/stores", &api.admin(), json!({"store_id": a, "name": "Again", "region": "IN-MH", "owner": {"phone": phone(), "display_name": "Y"}}))
        .await;
    assert_eq!((r.status, r.code()), (409, "store_exists"));
    // Only admins create stores.
    let r = api
        .post("/v1/stores", access, json!({"store_id": unique("st"), "name": "Mine", "region": "IN-MH", "owner": {"phone": phone(), "display_name": "Y"}}))
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
}

async fn signing_out_ends_sessions(api: &TestApi) {
    let owner = phone();
    store_of(api, &owner).await;
    let phone_pair = sign_in(api, &owner).await;
    let tablet_pair = sign_in(api, &owner).await;
    let laptop_pair = sign_in(api, &owner).await;
    // This device: its refresh token stops working; the others go on.
    let r = api
        .send(
            "POST",
            "/v1/auth/sign-out",
            None,
            Some(json!({"refresh_token": phone_pair["refresh_token"]})),
            &[],
        )
        .await;
    assert_eq!(r.status, 204);
    let r = refresh(api, &phone_pair["refresh_token"]).await;
    assert_eq!((r.status, r.code()), (401, "session_ended"));
    let tablet = refresh(api, &tablet_pair["refresh_token"]).await;
    assert_eq!(tablet.status, 200);
    // A spent token signs out too (a client whose last refresh answer was lost): the laptop
    // refreshes once, then signs out with the token it had before.
    let laptop = refresh(api, &laptop_pair["refresh_token"]).await;
    assert_eq!(laptop.status, 200);
    let body = json!({"refresh_token": laptop_pair["refresh_token"]});
    let r = api
        .send("POST", "/v1/auth/sign-out", None, Some(body), &[])
        .await;
    assert_eq!(r.status, 204);
    let r = refresh(api, &laptop.body["refresh_token"]).await;
    assert_eq!((r.status, r.code()), (401, "session_ended"), "{:?}", r.body);
    // Any token at all: 204, and nothing else happens.
    for junk in [
        "",
        "kcrt_nonsense",
        "kcrt_0190f1a29000700080000000000000aa.q8Xr1nT0sE6ZkVb2mW4yLc9uJd3hFg7pAo5iKe1sRtU",
    ] {
        let r = api
            .send(
                "POST",
                "/v1/auth/sign-out",
                None,
                Some(json!({"refresh_token": junk})),
                &[],
            )
            .await;
        assert_eq!(r.status, 204, "{junk}");
    }
    // Everywhere: every session of the user ends.
    let access = laptop_pair["access_token"].as_str().unwrap();
    let r = api
        .send(
            "POST",
            "/v1/auth/sign-out-everywhere",
            Some(access),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = refresh(api, &tablet.body["refresh_token"]).await;
    assert_eq!((r.status, r.code()), (401, "session_ended"), "{:?}", r.body);
    // A new sign-in after it works.
    let fresh = sign_in(api, &owner).await;
    assert_eq!(refresh(api, &fresh["refresh_token"]).await.status, 200);
    // A token minted by `catalog token` names no user.
    let r = api
        .send(
            "POST",
            "/v1/auth/sign-out-everywhere",
            Some(&api.token(Role::StoreOwner, &["s"])),
            None,
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "not_a_user"));
}

async fn forged_and_malformed_input_is_refused(api: &TestApi) {
    let owner = phone();
    store_of(api, &owner).await;
    let pair = sign_in(api, &owner).await;
    let good = pair["refresh_token"].as_str().unwrap();
    // The right session with a secret it never had: not a token of ours, and the session
    // goes on (only a spent secret of its own ends it).
    let (head, _) = good.split_once('.').unwrap();
    let forged = format!("{head}.{}", "A".repeat(43));
    let r = refresh(api, &json!(forged)).await;
    assert_eq!((r.status, r.code()), (401, "refresh_token_invalid"));
    assert_eq!(refresh(api, &pair["refresh_token"]).await.status, 200);
    // Another prefix, another length, no session: not a token of ours.
    for bad in [
        good.replacen("kcrt_", "kcat_", 1),
        format!("{good}A"),
        "kcrt_0190f1a29000700080000000000000aa.q8Xr1nT0sE6ZkVb2mW4yLc9uJd3hFg7pAo5iKe1sRtU".into(),
    ] {
        let r = refresh(api, &json!(bad)).await;
        assert_eq!(
            (r.status, r.code()),
            (401, "refresh_token_invalid"),
            "{bad}"
        );
    }
    // Shapes: every problem at once, with its field.
    let r = token(api, json!({"grant_type": "password", "phone": owner})).await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = token(
        api,
        json!({"grant_type": "code", "phone": "12345", "code": "12"}),
    )
    .await;
    assert_eq!(r.status, 422);
    let fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["phone"], "{:?}", r.body);
    let r = token(
        api,
        json!({"grant_type": "code", "phone": owner, "code": "12a456"}),
    )
    .await;
    assert_eq!((r.status, r.code()), (422, "validation_failed"));
    let r = api
        .post(
            "/v1/stores",
            &api.admin(),
            json!({"store_id": "a/b", "name": "", "region": "India", "owner": {"phone": "0"}}),
        )
        .await;
    assert_eq!(r.status, 422);
    let mut fields: Vec<&str> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "name",
            "owner.display_name",
            "owner.phone",
            "region",
            "store_id"
        ],
        "{:?}",
        r.body
    );
    let r = api
        .send(
            "POST",
            "/v1/auth/code",
            None,
            Some(json!({"phone": owner, "extra": 1})),
            &[],
        )
        .await;
    assert_eq!(r.status, 422, "{:?}", r.body);
}

/// A scanner device: an owner adds it, it pairs once with its code and scans as the store's
/// scanner, refreshes, and stops when the owner revokes it.
async fn devices_pair_once_and_stop_when_revoked(api: &TestApi) {
    let (owner, other_owner) = (phone(), phone());
    let store = store_of(api, &owner).await;
    let other = store_of(api, &other_owner).await;
    let access = sign_in(api, &owner).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post(
            &format!("/v1/stores/{store}/devices"),
            &access,
            json!({"name": "Counter scanner"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["device"]["status"], "pending");
    let device = r.body["device"]["device_id"].as_str().unwrap().to_string();
    let code = r.body["pairing_code"].as_str().unwrap().to_string();
    assert!(code.starts_with(&format!("kcpc_{store}.")), "{code}");
    // Not into another store, and not by its scanner.
    let r = api
        .post(
            &format!("/v1/stores/{other}/devices"),
            &access,
            json!({"name": "X"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));

    let pair = |code: &str| {
        token(
            api,
            json!({"grant_type": "pairing_code", "pairing_code": code}),
        )
    };
    let paired = pair(&code).await;
    assert_eq!(paired.status, 200, "{:?}", paired.body);
    assert_eq!(paired.body["role"], "scanner");
    assert_eq!(paired.body["store_ids"], json!([store]));
    assert_eq!(paired.body["device_id"], device.as_str());
    assert!(paired.body.get("user_id").is_none());
    let r = pair(&code).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "pairing_code_invalid"),
        "a code pairs once"
    );
    let forged = format!("{}{}", &code[..code.len() - 4], "AAAA");
    let r = pair(&forged).await;
    assert_eq!((r.status, r.code()), (401, "pairing_code_invalid"));

    // The device scans into its store (and reads it), and may not manage it.
    let scanner = paired.body["access_token"].as_str().unwrap();
    let r = api
        .get(&format!("/v1/stores/{store}/inventory"), scanner)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let r = api
        .post(
            &format!("/v1/stores/{store}/devices"),
            scanner,
            json!({"name": "Y"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"));
    let next = refresh(api, &paired.body["refresh_token"]).await;
    assert_eq!(next.status, 200, "{:?}", next.body);
    assert_eq!(next.body["role"], "scanner");

    let r = api
        .get(&format!("/v1/stores/{store}/devices"), &access)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"][0]["status"], "paired");
    // Revoked: its refresh is refused, the listing says so, revoking again changes nothing.
    let path = format!("/v1/stores/{store}/devices/{device}");
    let r = api.send("DELETE", &path, Some(&access), None, &[]).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = refresh(api, &next.body["refresh_token"]).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "device_revoked"),
        "{:?}",
        r.body
    );
    let r = api
        .get(&format!("/v1/stores/{store}/devices"), &access)
        .await;
    assert_eq!(r.body["items"][0]["status"], "revoked");
    let r = api.send("DELETE", &path, Some(&access), None, &[]).await;
    assert_eq!(r.status, 204);
    // Another store's owner neither lists nor revokes them.
    let other_access = sign_in(api, &other_owner).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .get(&format!("/v1/stores/{store}/devices"), &other_access)
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    let r = api
        .send("DELETE", &path, Some(&other_access), None, &[])
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_store"));
    // A device revoked before it paired: its code pairs nothing.
    let r = api
        .post(
            &format!("/v1/stores/{store}/devices"),
            &access,
            json!({"name": "Spare"}),
        )
        .await;
    let spare = r.body["device"]["device_id"].as_str().unwrap().to_string();
    let spare_code = r.body["pairing_code"].as_str().unwrap().to_string();
    let spare_path = format!("/v1/stores/{store}/devices/{spare}");
    let r = api
        .send("DELETE", &spare_path, Some(&access), None, &[])
        .await;
    assert_eq!(r.status, 204);
    let r = pair(&spare_code).await;
    assert_eq!((r.status, r.code()), (401, "pairing_code_invalid"));
    let missing = format!("/v1/stores/{store}/devices/{}", uuid::Uuid::now_v7());
    let r = api.send("DELETE", &missing, Some(&access), None, &[]).await;
    assert_eq!((r.status, r.code()), (404, "device_not_found"));
}

/// An admin disables a user: no code, no refresh; enabled again, they sign in anew.
async fn an_admin_disables_and_enables_a_user(api: &TestApi) {
    let owner = phone();
    let store = store_of(api, &owner).await;
    let pair = sign_in(api, &owner).await;
    let user = pair["user_id"].as_str().unwrap();
    let path = format!("/v1/users/{user}");
    let access = pair["access_token"].as_str().unwrap();
    let r = api
        .send(
            "PATCH",
            &path,
            Some(access),
            Some(json!({"disabled": true})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (403, "forbidden_role"), "only admins");
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&api.admin()),
            Some(json!({"disabled": true})),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["disabled"], true);
    let r = refresh(api, &pair["refresh_token"]).await;
    assert_eq!((r.status, r.code()), (401, "user_disabled"));
    let sent = api.codes.count(&owner);
    assert_eq!(ask_code(api, &owner).await, 202);
    assert_eq!(api.codes.count(&owner), sent, "no SMS to a disabled user");
    let r = api
        .send(
            "PATCH",
            &path,
            Some(&api.admin()),
            Some(json!({"disabled": false})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.body["disabled"].clone()), (200, json!(false)));
    let r = refresh(api, &pair["refresh_token"]).await;
    assert_eq!(
        (r.status, r.code()),
        (401, "session_ended"),
        "enabling revives no session"
    );
    let again = sign_in(api, &owner).await;
    assert_eq!(again["store_ids"], json!([store]));
    let nobody = format!("/v1/users/{}", uuid::Uuid::now_v7());
    let r = api
        .send(
            "PATCH",
            &nobody,
            Some(&api.admin()),
            Some(json!({"disabled": true})),
            &[],
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "user_not_found"));
}

/// Two sign-ins racing with the one right code: one session, not two.
async fn one_code_signs_in_once(api: &TestApi) {
    let owner = phone();
    store_of(api, &owner).await;
    assert_eq!(ask_code(api, &owner).await, 202);
    let code = api.codes.last_code(&owner).unwrap();
    let body = json!({"grant_type": "code", "phone": owner, "code": code});
    let (a, b) = tokio::join!(token(api, body.clone()), token(api, body));
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 401], "{:?} {:?}", a.body, b.body);
}

api_cases!(
    devices_pair_once_and_stop_when_revoked,
    an_admin_disables_and_enables_a_user,
    one_code_signs_in_once,
    an_invited_owner_signs_in_and_refresh_tokens_rotate,
    the_sixth_wrong_code_is_refused_even_when_right,
    codes_go_only_to_users_and_are_limited_per_number,
    guessing_from_one_address_is_stopped,
    owners_add_staff_to_their_own_store_only,
    signing_out_ends_sessions,
    forged_and_malformed_input_is_refused,
);

// The port's atomic steps, raced.

fn user() -> User {
    User {
        user_id: UserId::new(),
        phone: Phone::parse(&phone()).unwrap(),
        display_name: "Racer".into(),
        global_role: None,
        disabled: false,
        sessions_valid_after: None,
        created_at: Timestamp::now(),
    }
}

async fn a_phone_names_one_user(s: &Stores) {
    // Ten users raced onto one number: one is added.
    let number = Phone::parse(&phone()).unwrap();
    let inserts = (0..10).map(|_| {
        let (a, mut u) = (s.accounts.clone(), user());
        u.phone = number.clone();
        tokio::spawn(async move { a.insert_user(&u).await.map(|()| u) })
    });
    let added: Vec<User> = futures::future::join_all(inserts)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap().ok())
        .collect();
    assert_eq!(added.len(), 1);
    let first = &added[0];
    let found = s.accounts.user_by_phone(&number).await.unwrap().unwrap();
    assert_eq!(&found, first);
    // Disabling and ending sessions change those fields only, and only of a user there is.
    let at = Timestamp::now();
    let disabled = s
        .accounts
        .set_disabled(&first.user_id, true, at)
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert_eq!(disabled.sessions_valid_after, Some(at));
    assert_eq!(
        (&disabled.phone, &disabled.display_name),
        (&first.phone, &first.display_name)
    );
    let later = at.plus(time::Duration::seconds(5));
    s.accounts
        .end_sessions(&first.user_id, later)
        .await
        .unwrap();
    let stored = s.accounts.get_user(&first.user_id).await.unwrap().unwrap();
    assert!(stored.disabled, "ending sessions leaves disabled as it was");
    assert_eq!(stored.sessions_valid_after, Some(later));
    let enabled = s
        .accounts
        .set_disabled(&first.user_id, false, later)
        .await
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(
        enabled.sessions_valid_after,
        Some(later),
        "enabling ends nothing"
    );
    let nobody = UserId::new();
    assert!(matches!(
        s.accounts.end_sessions(&nobody, at).await,
        Err(catalog_core::ports::StorageError::NotFound)
    ));
    assert!(matches!(
        s.accounts.set_disabled(&nobody, true, at).await,
        Err(catalog_core::ports::StorageError::NotFound)
    ));
    assert_eq!(s.accounts.get_user(&nobody).await.unwrap(), None);
}

async fn each_code_attempt_is_spent_once(s: &Stores) {
    let phone = Phone::parse(&phone()).unwrap();
    let now = Timestamp::now();
    let code = SignInCode {
        phone: phone.clone(),
        code_mac: "mac".into(),
        sent_at: now,
        expires_at: now.plus(time::Duration::minutes(10)),
        attempts_left: 5,
    };
    s.accounts.put_code(&code).await.unwrap();
    let tries = (0..12).map(|_| {
        let (a, p) = (s.accounts.clone(), phone.clone());
        tokio::spawn(async move { a.spend_code_attempt(&p, Timestamp::now()).await.unwrap() })
    });
    let mut left: Vec<u8> = futures::future::join_all(tries)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap().map(|c| c.attempts_left))
        .collect();
    left.sort();
    assert_eq!(left, [0, 1, 2, 3, 4], "five attempts, each spent once");
    // An expired code has no attempt; a new code replaces the old; deleting an old one does not
    // delete the new.
    let expired = SignInCode {
        sent_at: now,
        expires_at: now,
        ..code.clone()
    };
    s.accounts.put_code(&expired).await.unwrap();
    let spent = s
        .accounts
        .spend_code_attempt(&phone, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(spent, None);
    let newer = SignInCode {
        sent_at: now.plus(time::Duration::seconds(1)),
        ..code.clone()
    };
    s.accounts.put_code(&newer).await.unwrap();
    assert!(
        !s.accounts.delete_code(&code).await.unwrap(),
        "not the code there now"
    );
    let spent = s
        .accounts
        .spend_code_attempt(&phone, Timestamp::now())
        .await
        .unwrap();
    assert!(spent.is_some());
    // Two sign-ins racing with the right code: one deletes it, the other is told it is gone.
    let deletes = (0..2).map(|_| {
        let (a, c) = (s.accounts.clone(), newer.clone());
        tokio::spawn(async move { a.delete_code(&c).await.unwrap() })
    });
    let deleted: Vec<bool> = futures::future::join_all(deletes)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(deleted.iter().filter(|d| **d).count(), 1, "{deleted:?}");
    let spent = s
        .accounts
        .spend_code_attempt(&phone, Timestamp::now())
        .await
        .unwrap();
    assert_eq!(spent, None);
}

async fn a_limit_counts_exactly_under_a_race(s: &Stores) {
    let key = unique("rl");
    let end = Timestamp::from_unix_seconds(Timestamp::now().unix_seconds() + 3600).unwrap();
    let race = |end: Timestamp| {
        let (accounts, key) = (s.accounts.clone(), key.clone());
        let hits: Vec<_> = (0..20)
            .map(|_| {
                let (a, k) = (accounts.clone(), key.clone());
                tokio::spawn(async move { a.count_request(&k, end, 7).await.unwrap() })
            })
            .collect();
        async move {
            futures::future::join_all(hits)
                .await
                .into_iter()
                .filter(|r| *r.as_ref().unwrap())
                .count()
        }
    };
    assert_eq!(race(end).await, 7);
    // The next window starts again, raced too (the counter of the old one is replaced).
    let next = end.plus(time::Duration::hours(1));
    assert_eq!(race(next).await, 7);
    // A request whose clock is still in the window before: let through, uncounted, no error.
    assert!(s.accounts.count_request(&key, end, 7).await.unwrap());
    assert!(!s.accounts.count_request(&key, next, 7).await.unwrap());
}

async fn one_rotation_wins(s: &Stores) {
    let now = Timestamp::now();
    let session = Session {
        session_id: SessionId::new(),
        holder: Holder::User {
            user_id: UserId::new(),
        },
        secret_mac: "first".into(),
        spent_macs: vec![],
        generation: 0,
        created_at: now,
        refreshed_at: now,
        expires_at: now.plus(time::Duration::days(30)),
        revoked_at: None,
    };
    s.accounts.insert_session(&session).await.unwrap();
    let rotations = (0..8).map(|i| {
        let a: Arc<dyn catalog_core::ports::AccountStore> = s.accounts.clone();
        let next = Session {
            secret_mac: format!("next-{i}"),
            spent_macs: vec!["first".into()],
            generation: 1,
            ..session.clone()
        };
        tokio::spawn(async move { a.rotate_session(&next, "first").await.is_ok() })
    });
    let won = futures::future::join_all(rotations)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(won, 1);
    let stored = s
        .accounts
        .get_session(&session.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.generation, stored.spent_macs.as_slice()),
        (1, ["first".to_string()].as_slice())
    );
    // Revoked: no rotation from its current secret either, and revoking again changes nothing.
    let later = Timestamp::now();
    s.accounts
        .revoke_session(&session.session_id, later)
        .await
        .unwrap();
    s.accounts
        .revoke_session(&session.session_id, later.plus(time::Duration::hours(1)))
        .await
        .unwrap();
    let revoked = s
        .accounts
        .get_session(&session.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(later));
    let next = Session {
        secret_mac: "after".into(),
        ..revoked.clone()
    };
    assert!(
        s.accounts
            .rotate_session(&next, &revoked.secret_mac)
            .await
            .is_err()
    );
}

async fn a_device_pairs_once(s: &Stores) {
    use catalog_core::domain::{Device, DeviceId, StoreId};
    let now = Timestamp::now();
    let store = StoreId::parse(&unique("st")).unwrap();
    let device = Device {
        device_id: DeviceId::new(),
        store_id: store.clone(),
        name: "Shelf".into(),
        added_by: "test".into(),
        created_at: now,
        pairing_mac: Some("pair-mac".into()),
        pairing_expires_at: now.plus(time::Duration::minutes(10)),
        paired_at: None,
        session_id: None,
        revoked_at: None,
    };
    s.accounts.insert_device(&device).await.unwrap();
    let id = device.device_id;
    let wrong = s
        .accounts
        .pair_device(&store, &id, "other-mac", &SessionId::new(), now)
        .await;
    assert!(wrong.is_err(), "another code pairs nothing");
    let pairs = (0..6).map(|_| {
        let (a, st) = (s.accounts.clone(), store.clone());
        tokio::spawn(async move {
            let session = SessionId::new();
            a.pair_device(&st, &id, "pair-mac", &session, now)
                .await
                .ok()
                .map(|()| session)
        })
    });
    let won: Vec<SessionId> = futures::future::join_all(pairs)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    assert_eq!(won.len(), 1, "one pairing");
    let stored = s.accounts.get_device(&store, &id).await.unwrap().unwrap();
    assert_eq!(
        (stored.session_id, stored.pairing_mac.clone()),
        (Some(won[0]), None)
    );
    assert_eq!(stored.paired_at, Some(now));
    // Revoked: once, then as it was; an unknown device is not found.
    s.accounts.revoke_device(&store, &id, now).await.unwrap();
    let later = now.plus(time::Duration::hours(1));
    s.accounts.revoke_device(&store, &id, later).await.unwrap();
    let revoked = s.accounts.get_device(&store, &id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked_at, Some(now));
    assert!(matches!(
        s.accounts
            .revoke_device(&store, &DeviceId::new(), now)
            .await,
        Err(catalog_core::ports::StorageError::NotFound)
    ));
    assert_eq!(s.accounts.devices_of(&store).await.unwrap().len(), 1);
}

store_cases!(
    contract_embedded:
    a_device_pairs_once,
    a_phone_names_one_user,
    each_code_attempt_is_spent_once,
    a_limit_counts_exactly_under_a_race,
    one_rotation_wins,
);

/// The SMS adapter against ministack's SNS: a transactional SMS to the number, which
/// ministack records where a test can read it.
#[tokio::test]
async fn sns_sends_the_sms_to_the_number() {
    use catalog_core::adapters::sms::SnsCodes;
    use catalog_core::ports::CodeSender;

    let endpoint = catalog_tests::required_env("CATALOG_TEST_S3_ENDPOINT");
    let config = catalog_tests::sdk_config(&endpoint).await;
    let sender = SnsCodes {
        client: aws_sdk_sns::Client::new(&config),
        dlt: Some(("1101000000000000001".into(), "1107000000000000001".into())),
    };
    let to = Phone::parse(&phone()).unwrap();
    sender
        .send(&to, "123456 is your Kirana catalog sign-in code.")
        .await
        .unwrap();
    let inbox: Value = reqwest::get(format!(
        "{endpoint}/_ministack/sns/sms-messages?phoneNumber={}",
        to.as_str().replace('+', "%2B")
    ))
    .await
    .unwrap()
    .text()
    .await
    .map(|t| serde_json::from_str(&t).unwrap())
    .unwrap();
    let sent = &inbox["sms_messages"][to.as_str()];
    assert_eq!(sent.as_array().map(Vec::len), Some(1), "{inbox}");
    assert_eq!(
        sent[0]["Message"],
        "123456 is your Kirana catalog sign-in code."
    );
    let attrs = &sent[0]["MessageAttributes"];
    assert_eq!(
        attrs["AWS.SNS.SMS.SMSType"]["StringValue"], "Transactional",
        "{attrs}"
    );
    assert_eq!(
        attrs["AWS.MM.SMS.TemplateId"]["StringValue"], "1107000000000000001",
        "{attrs}"
    );
}
