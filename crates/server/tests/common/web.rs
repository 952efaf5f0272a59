//! The web app's test world: two businesses (a clinic and a garage), their owners and an
//! agent, an operator, signed-in clients (session cookie and CSRF header), and calls and
//! leads made straight in the store. Shared by the web app's test files.

use mokdan::domain::{CallDirection, CallStatus, Phone};
use mokdan::store::users::{self, Role};
use mokdan::store::{Db, businesses, calls, now_ms};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Client, StatusCode};

use super::{Backend, TestApp};

pub const PASSWORD: &str = "a-good-password-1";

pub struct World {
    pub app: TestApp,
    pub biz_a: i64,
    pub biz_b: i64,
}

pub async fn world(backend: Backend) -> World {
    world_with(backend, &[]).await
}

/// The world on a service configured with these extra environment variables.
pub async fn world_with(backend: Backend, vars: &[(&str, &str)]) -> World {
    let app = TestApp::spawn_with(backend, vars).await;
    let db = &app.state.db;
    let biz_a = businesses::create(db, "מרפאת כהן", &Phone::parse("03-1234567").unwrap())
        .await
        .unwrap();
    let biz_b = businesses::create(db, "מוסך לוי", &Phone::parse("04-7654321").unwrap())
        .await
        .unwrap();
    let hash = mokdan::auth::hash_password(PASSWORD).unwrap();
    for (email, role, biz) in [
        ("owner@a.test", Role::Owner, Some(biz_a)),
        ("agent@a.test", Role::Agent, Some(biz_a)),
        ("owner@b.test", Role::Owner, Some(biz_b)),
        ("ops@mokdan.test", Role::Operator, None),
    ] {
        users::create(db, email, &hash, role, biz).await.unwrap();
    }
    World { app, biz_a, biz_b }
}

impl World {
    /// A client signed in as this user, which does not follow redirects.
    pub async fn client(&self, email: &str) -> Client {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_str(&self.app.base).unwrap(),
        );
        let res = self
            .app
            .http
            .post(self.app.url("/api/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        if matches!(
            res.status(),
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED
        ) {
            use base64::Engine;
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{email}:{PASSWORD}"));
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(&format!("Basic {basic}")).unwrap(),
            );
        } else {
            assert_eq!(res.status(), StatusCode::OK, "login as {email}");
            return signed_in(headers, &res);
        }
        Client::builder()
            .default_headers(headers)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    pub fn db(&self) -> &Db {
        &self.app.state.db
    }

    pub async fn lead(&self, business_id: i64, name: &str, phone: &str) -> i64 {
        mokdan::store::customers::upsert_by_phone(
            self.db(),
            business_id,
            &Phone::parse(phone).unwrap(),
            Some(name),
            "call",
        )
        .await
        .unwrap()
    }

    /// A finished inbound call with two turns and what the agent learned.
    pub async fn call(&self, business_id: i64, sid: &str, from: &str, status: &str) -> i64 {
        calls::insert(
            self.db(),
            &calls::NewCall {
                call_sid: sid,
                business_id: Some(business_id),
                from: Some(from),
                to: Some("+97231234567"),
                direction: CallDirection::Inbound,
                status: CallStatus::Ringing,
            },
        )
        .await
        .unwrap();
        calls::advance_status(self.db(), sid, &CallStatus::parse(status), Some(95))
            .await
            .unwrap();
        sqlx::query(
            "UPDATE call_logs SET caller_name = $2, caller_reason = $3, call_summary = $4, \
             transcription = $5 WHERE call_sid = $1",
        )
        .bind(sid)
        .bind("דנה כהן")
        .bind("קביעת תור")
        .bind("דנה רוצה תור לבדיקה מחר בבוקר")
        .bind("שלום, קוראים לי דנה")
        .execute(&self.db().pool)
        .await
        .unwrap();
        for (i, caller, agent, reply) in [
            (
                0i64,
                None,
                Some("שלום, הגעתם למרפאת כהן. מה שמך?"),
                Some(120i64),
            ),
            (
                1,
                Some("קוראים לי דנה"),
                Some("תודה דנה, במה אפשר לעזור?"),
                Some(1875),
            ),
        ] {
            sqlx::query(
                "INSERT INTO call_turns (call_sid, turn_index, caller_text, agent_text, stt_ms, \
                 first_frame_out_ms, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(sid)
            .bind(i)
            .bind(caller)
            .bind(agent)
            .bind(Some(310i64))
            .bind(reply)
            .bind(now_ms())
            .execute(&self.db().pool)
            .await
            .unwrap();
        }
        let (id,): (i64,) = sqlx::query_as("SELECT id FROM call_logs WHERE call_sid = $1")
            .bind(sid)
            .fetch_one(&self.db().pool)
            .await
            .unwrap();
        id
    }
}

/// A web client signed in as `email` with `password` on any test app.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert(header::ORIGIN, HeaderValue::from_str(&app.base).unwrap());
    let login = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::OK, "login as {email}");
    signed_in(headers, &login)
}

/// GETs a page and returns its status, headers and body.
pub async fn get(c: &Client, app: &TestApp, path: &str) -> (StatusCode, HeaderMap, String) {
    let res = c.get(app.url(path)).send().await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    (status, headers, res.text().await.unwrap())
}

/// A client carrying a sign-in's session and CSRF cookies (and the CSRF header the API
/// asks of cookie sessions), on top of `headers`; it does not follow redirects.
pub fn signed_in(mut headers: HeaderMap, login: &reqwest::Response) -> Client {
    let mut cookies = Vec::new();
    for v in login.headers().get_all(header::SET_COOKIE) {
        let pair = v.to_str().unwrap().split(';').next().unwrap().to_string();
        if let Some(csrf) = pair.strip_prefix("mokdan_csrf=") {
            headers.insert("x-csrf-token", HeaderValue::from_str(csrf).unwrap());
        }
        cookies.push(pair);
    }
    headers.insert(
        header::COOKIE,
        HeaderValue::from_str(&cookies.join("; ")).unwrap(),
    );
    Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}
