//! Twilio may call a voice webhook with GET (V1, S1): the parameters are then in the query
//! string and the signature covers the full URL with it. A signed GET is served and writes
//! its row like a POST; a GET whose query was changed after signing is refused.

mod common;

use common::twilio::{self, AUTH_TOKEN, new_call_sid};
use common::{Backend, TestApp};
use mokdan::store::calls;

const BUSINESS_NUMBER: &str = "+97231234567";
const CALLER: &str = "+972501234567";

/// `path` with `query`, encoded as Twilio encodes it (`+` as `%2B`).
fn url_with(app: &TestApp, path: &str, query: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&app.url(path), query)
        .unwrap()
        .to_string()
}

/// A GET signed the way Twilio signs one: the full URL, no body parameters.
async fn signed_get(app: &TestApp, signed_url: &str, sent_url: &str) -> reqwest::Response {
    let sig = telephony::signature::compute(AUTH_TOKEN, signed_url, &[]);
    app.http
        .get(sent_url)
        .header("X-Twilio-Signature", sig)
        .send()
        .await
        .unwrap()
}

async fn signed_get_webhooks_are_served_and_write_their_rows(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN),
            ("TWILIO_ACCOUNT_SID", twilio::ACCOUNT_SID),
        ],
    )
    .await;
    let phone = mokdan::domain::Phone::parse(BUSINESS_NUMBER).unwrap();
    let business = mokdan::store::businesses::create(&app.state.db, "מוסך", &phone)
        .await
        .unwrap();
    let sid = new_call_sid();
    let ring = url_with(
        &app,
        "/webhook/incoming_call",
        &[
            ("AccountSid", twilio::ACCOUNT_SID),
            ("CallSid", &sid),
            ("CallStatus", "ringing"),
            ("Direction", "inbound"),
            ("From", CALLER),
            ("To", BUSINESS_NUMBER),
        ],
    );
    assert!(ring.contains("%2B972"), "{ring}");
    let r = signed_get(&app, &ring, &ring).await;
    assert_eq!(r.status(), 200);
    let t = telephony::twiml::parse(&r.text().await.unwrap()).unwrap();
    assert!(t.stream_connect().is_some(), "{:?}", t.verbs);
    let row = calls::by_sid(&app.state.db, &sid)
        .await
        .unwrap()
        .expect("the GET wrote the call row");
    assert_eq!(row.business_id, Some(business));
    assert_eq!(row.from_number.as_deref(), Some(CALLER));
    assert_eq!(row.to_number.as_deref(), Some(BUSINESS_NUMBER));
    assert_eq!(row.status, "ringing");

    // A status by GET moves the row forward.
    let done = url_with(
        &app,
        "/webhook/call_status",
        &[
            ("CallSid", &sid),
            ("CallStatus", "completed"),
            ("CallDuration", "42"),
        ],
    );
    assert_eq!(signed_get(&app, &done, &done).await.status(), 204);
    let row = calls::by_sid(&app.state.db, &sid).await.unwrap().unwrap();
    assert_eq!(row.status, "completed");
    assert_eq!(row.duration_secs, Some(42));

    // The signature covers the query: a changed parameter, or none at all, is 403.
    let other = new_call_sid();
    let tampered = ring.replace(&sid, &other);
    assert_eq!(signed_get(&app, &ring, &tampered).await.status(), 403);
    let bare = app.url("/webhook/incoming_call");
    assert_eq!(signed_get(&app, &bare, &ring).await.status(), 403);
    let unsigned = app.http.get(&ring).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    assert!(
        calls::by_sid(&app.state.db, &other)
            .await
            .unwrap()
            .is_none(),
        "a refused GET writes nothing"
    );
    app.shutdown().await.unwrap();
}
dual_test!(signed_get_webhooks_are_served_and_write_their_rows);
