//! `GET /api/openapi.json` is a sound OpenAPI 3.1 document that matches the router.
//!
//! Three directions are checked: every `/api` route written in the source is in the
//! document; every operation in the document answers (401 or its public answer, never 404
//! or 405); every method the document does not list on a path answers 405. So the route
//! table cannot drift from the code, and the isolation matrix that reads it sees every route.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use common::crm;
use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::Value;

/// Every path given to `.route("/api…", …)` anywhere in the server's source.
fn routes_in_source() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut out = BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let mut rest = text.as_str();
        while let Some(i) = rest.find(".route(") {
            rest = &rest[i + ".route(".len()..];
            let trimmed = rest.trim_start();
            if let Some(lit) = trimmed.strip_prefix('"') {
                let path = &lit[..lit.find('"').unwrap()];
                if path == "/api" || path.starts_with("/api/") {
                    out.insert(path.to_string());
                }
            }
        }
    }
    // The JSON 404 for unknown API paths is not an operation.
    out.remove("/api");
    out.remove("/api/{*rest}");
    out
}

fn resolve_refs(v: &Value, schemas: &serde_json::Map<String, Value>, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("{at}: unexpected $ref {r}"));
                assert!(
                    schemas.contains_key(name),
                    "{at}: $ref to missing schema {name}"
                );
            }
            for (k, x) in m {
                resolve_refs(x, schemas, &format!("{at}/{k}"));
            }
        }
        Value::Array(a) => a.iter().for_each(|x| resolve_refs(x, schemas, at)),
        _ => {}
    }
}

async fn openapi_document_matches_the_router(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (s, doc) = crm::call(&app, Method::GET, "/api/openapi.json", None, None).await;
    assert_eq!(s, 200);

    // A well-formed OpenAPI 3.1 document.
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    resolve_refs(&doc, schemas, "#");
    let mut ids = HashSet::new();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, item) in paths {
        assert!(path.starts_with("/api/"), "{path}");
        for (method, op) in item.as_object().unwrap() {
            assert!(
                ["get", "post", "put", "patch", "delete"].contains(&method.as_str()),
                "{method} {path}"
            );
            let id = op["operationId"].as_str().expect("operationId");
            assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
            assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()));
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().unwrap())
                .collect();
            let in_template: Vec<&str> = path
                .split('/')
                .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .collect();
            assert_eq!(declared, in_template, "{method} {path}: path parameters");
        }
    }

    // Source → document.
    let documented: BTreeSet<String> = paths.keys().cloned().collect();
    let in_source = routes_in_source();
    let missing: Vec<_> = in_source.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes in the source but not in crm::openapi::OPERATIONS: {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&in_source).collect();
    assert!(
        stale.is_empty(),
        "documented routes with no handler: {stale:?}"
    );

    // Document → router, method by method.
    let all = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ];
    for (path, item) in paths {
        let url = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "1" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let listed = item.as_object().unwrap();
        for m in &all {
            let r = app
                .http
                .request(m.clone(), app.url(&url))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap_or(Value::Null);
            if listed.contains_key(&m.as_str().to_lowercase()) {
                let access = listed[&m.as_str().to_lowercase()]["x-mokdan-access"]
                    .as_str()
                    .unwrap();
                if access == "public" {
                    assert!(![404, 405].contains(&status), "{m} {path}: {status}");
                } else {
                    assert_eq!(status, 401, "{m} {path} without a credential");
                }
            } else {
                assert_eq!(status, 405, "{m} {path} is not documented, so must be 405");
            }
            if status >= 400 {
                crm::error_code(&body);
            }
        }
    }
}
dual_test!(openapi_document_matches_the_router);

/// Errors axum makes itself still answer `{error:{code,message}}`.
async fn every_api_error_has_one_shape(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let r = app.get("/api/no/such/thing").await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "not_found");

    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "bad_request");

    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .body("email=x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let v: Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "unsupported_media_type");

    let r = app
        .http
        .post(app.url("/api/auth/login"))
        .json(&serde_json::json!({ "email": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(crm::error_code(&v), "invalid");

    // A path id that is not a number, on an authenticated route.
    let bid = crm::add_business(&app, "x", "+97233333333").await;
    crm::add_user(
        &app,
        "o@example.com",
        mokdan::store::users::Role::Owner,
        Some(bid),
    )
    .await;
    let token = crm::login(&app, "o@example.com").await;
    let (s, v) = crm::get(&app, "/api/customers/abc", &token).await;
    assert_eq!(s, 400, "{v}");
    crm::error_code(&v);
}
dual_test!(every_api_error_has_one_shape);
