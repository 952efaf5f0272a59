//! Where a business may call, and how often (#16.2, V4): against toll fraud.
//!
//! Every outbound call and every transfer is paid by the service, so a stolen agent login or
//! API token must not be able to dial premium numbers abroad by the hundred. A business
//! calls Israel (+972) only, never its premium or special-rate ranges, unless the service's
//! operator allows more for it (`PUT /api/businesses/{id}/call-policy`). Calls are counted
//! per business and per credential, per hour and per day (defaults below, each adjustable
//! by the operator); past a quota the answer is 429 with `Retry-After`. A use is written
//! before it is counted, so simultaneous requests on several nodes cannot all pass one
//! count (some may be refused together instead, which is the safe side).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::Phone;
use crate::error::AppError;
use crate::store::call_policy::{self as store, StoredPolicy};
use crate::store::{Db, now_ms};

/// The countries a business may call by default: Israel.
pub const DEFAULT_COUNTRIES: &str = "972";
/// Default quotas: calls a business may place per hour and per day, and calls one
/// credential (a user's login or an API token) may place per hour and per day.
pub const DEFAULT_PER_HOUR: i64 = 60;
pub const DEFAULT_PER_DAY: i64 = 300;
pub const DEFAULT_PER_CREDENTIAL_HOUR: i64 = 20;
pub const DEFAULT_PER_CREDENTIAL_DAY: i64 = 100;

const HOUR_MS: i64 = 3600 * 1000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Premium and special-rate ranges, as E.164 digit prefixes: Israel's non-geographic
/// 1-XXX numbers (1-700 shared cost, 1-800/1-801 freephone that bills the caller's
/// operator, 1-809, 1-900/1-901/1-919 premium rate), North America's 900 and 976, the UK's
/// 09 premium and 087/084 service numbers, and satellite and international networks
/// (+870, +881, +882, +883), the classic targets of toll fraud.
const PREMIUM_PREFIXES: &[&str] = &[
    "9721", "1900", "1976", "449", "4487", "4484", "4470", "870", "881", "882", "883",
];

/// A business's calling policy, with the defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Calling codes (or longer prefixes) allowed, as digits: `["972"]`.
    pub countries: Vec<String>,
    /// Whether premium and special-rate ranges may be called.
    pub allow_premium: bool,
    pub per_hour: i64,
    pub per_day: i64,
    pub per_credential_hour: i64,
    pub per_credential_day: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            countries: vec![DEFAULT_COUNTRIES.to_string()],
            allow_premium: false,
            per_hour: DEFAULT_PER_HOUR,
            per_day: DEFAULT_PER_DAY,
            per_credential_hour: DEFAULT_PER_CREDENTIAL_HOUR,
            per_credential_day: DEFAULT_PER_CREDENTIAL_DAY,
        }
    }
}

/// Why a call is refused, answered as a clear 4xx in Hebrew.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 403: the destination is outside the business's policy.
    Destination(String),
    /// 429: a quota is used up; try again after this many seconds.
    Quota {
        retry_after_secs: i64,
        message: String,
    },
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Destination(message) => (
                StatusCode::FORBIDDEN,
                Json(json!({"error": {"code": "destination_not_allowed", "message": message}})),
            )
                .into_response(),
            Refusal::Quota {
                retry_after_secs,
                message,
            } => {
                let mut r = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"error": {"code": "call_quota_exceeded", "message": message}})),
                )
                    .into_response();
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.max(1).to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                r
            }
        }
    }
}

/// An error of a call route: the API's own, or a refusal by the policy.
#[derive(Debug)]
pub enum CallError {
    App(AppError),
    Refused(Refusal),
}

impl From<AppError> for CallError {
    fn from(e: AppError) -> Self {
        CallError::App(e)
    }
}

impl From<sqlx::Error> for CallError {
    fn from(e: sqlx::Error) -> Self {
        CallError::App(e.into())
    }
}

impl From<Refusal> for CallError {
    fn from(r: Refusal) -> Self {
        CallError::Refused(r)
    }
}

impl IntoResponse for CallError {
    fn into_response(self) -> Response {
        match self {
            CallError::App(e) => e.into_response(),
            CallError::Refused(r) => r.into_response(),
        }
    }
}

/// The business's policy (the defaults where nothing is stored).
pub async fn load(db: &Db, business_id: i64) -> Result<Policy, sqlx::Error> {
    let d = Policy::default();
    Ok(match store::get(db, business_id).await? {
        None => d,
        Some(s) => Policy {
            countries: parse_countries(&s.countries).unwrap_or(d.countries),
            allow_premium: s.allow_premium != 0,
            per_hour: s.per_hour.unwrap_or(d.per_hour),
            per_day: s.per_day.unwrap_or(d.per_day),
            per_credential_hour: s.per_credential_hour.unwrap_or(d.per_credential_hour),
            per_credential_day: s.per_credential_day.unwrap_or(d.per_credential_day),
        },
    })
}

/// Stores a whole policy.
pub async fn save(db: &Db, business_id: i64, p: &Policy) -> Result<(), sqlx::Error> {
    store::put(
        db,
        business_id,
        &StoredPolicy {
            countries: p.countries.join(","),
            allow_premium: i64::from(p.allow_premium),
            per_hour: Some(p.per_hour),
            per_day: Some(p.per_day),
            per_credential_hour: Some(p.per_credential_hour),
            per_credential_day: Some(p.per_credential_day),
        },
    )
    .await
}

/// Calling codes as the operator writes them (`972, +44`): digits, 1 to 6 of them.
pub fn parse_countries(raw: &str) -> Result<Vec<String>, String> {
    let codes: Vec<String> = raw
        .split(',')
        .map(|c| c.trim().trim_start_matches('+').to_string())
        .filter(|c| !c.is_empty())
        .collect();
    if codes.is_empty() {
        return Err("at least one calling code".into());
    }
    for c in &codes {
        if c.len() > 6 || !c.bytes().all(|b| b.is_ascii_digit()) || c.starts_with('0') {
            return Err(format!("`{c}` is not a calling code like 972 or 44"));
        }
    }
    Ok(codes)
}

/// Whether `to` may be called under `policy`; the refusal names what would allow it.
pub fn check_destination(policy: &Policy, to: &Phone) -> Result<(), Refusal> {
    let digits = to.as_str().trim_start_matches('+');
    if !policy
        .countries
        .iter()
        .any(|c| digits.starts_with(c.as_str()))
    {
        let allowed = policy
            .countries
            .iter()
            .map(|c| format!("+{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(Refusal::Destination(format!(
            "שיחות מהעסק מותרות רק למספרים שמתחילים ב־{allowed}. \
             מפעיל השירות יכול להתיר מדינות נוספות."
        )));
    }
    if !policy.allow_premium && PREMIUM_PREFIXES.iter().any(|p| digits.starts_with(p)) {
        return Err(Refusal::Destination(
            "זהו מספר בתעריף מיוחד (כמו 1-800 או 1-900) ושיחות אליו חסומות. \
             מפעיל השירות יכול להתיר אותן."
                .into(),
        ));
    }
    Ok(())
}

/// What a call is counted as: placed with a credential (a user's login, an API token), or
/// the agent's transfer of a live call, which counts against the business only.
#[derive(Clone, Copy, Debug)]
pub enum Placed<'a> {
    By(&'a str),
    Transfer,
}

/// Counts one call against the business's quotas (and its credential's): `Ok(())` when it
/// may go ahead (the use stays counted), else the refusal (and the use is taken back).
pub async fn admit(
    db: &Db,
    business_id: i64,
    policy: &Policy,
    placed: Placed<'_>,
) -> Result<Result<(), Refusal>, sqlx::Error> {
    let now = now_ms();
    let _ = store::prune(db, business_id, now - DAY_MS).await;
    let credential = match placed {
        Placed::By(c) => c,
        Placed::Transfer => "transfer",
    };
    let id = store::record_use(db, business_id, credential, now).await?;
    let checks = [
        (policy.per_hour, HOUR_MS, false, "בשעה"),
        (policy.per_day, DAY_MS, false, "ביום"),
        (policy.per_credential_hour, HOUR_MS, true, "בשעה"),
        (policy.per_credential_day, DAY_MS, true, "ביום"),
    ];
    for (limit, window, per_credential, period) in checks {
        if per_credential && matches!(placed, Placed::Transfer) {
            continue;
        }
        let since = now - window;
        let (count, oldest) = if per_credential {
            store::credential_uses(db, business_id, credential, since).await?
        } else {
            store::business_uses(db, business_id, since).await?
        };
        if count > limit {
            store::forget_use(db, id).await?;
            let retry_ms = oldest.unwrap_or(now) + window - now;
            let whose = if per_credential {
                "למשתמש או לאסימון הזה"
            } else {
                "לעסק"
            };
            return Ok(Err(Refusal::Quota {
                retry_after_secs: (retry_ms + 999) / 1000,
                message: format!(
                    "הגעת למכסת השיחות היוצאות {whose}: עד {limit} שיחות {period}. \
                     אפשר לנסות שוב מאוחר יותר, או לבקש ממפעיל השירות להגדיל את המכסה."
                ),
            }));
        }
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(p: &str) -> Phone {
        Phone::parse(p).unwrap()
    }

    #[test]
    fn israel_only_and_no_premium_by_default() {
        let p = Policy::default();
        assert!(check_destination(&p, &phone("050-123-4567")).is_ok());
        assert!(check_destination(&p, &phone("03-7654321")).is_ok());
        for bad in [
            "+4420 7946 0958",
            "+882 1234 5678",
            "+1 876 555 0100",
            "+972 1 900 123 456",
            "+972 1 800 123 456",
        ] {
            assert!(
                matches!(
                    check_destination(&p, &phone(bad)),
                    Err(Refusal::Destination(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_operator_can_allow_more() {
        let p = Policy {
            countries: parse_countries("972, +44").unwrap(),
            allow_premium: true,
            ..Policy::default()
        };
        assert!(check_destination(&p, &phone("+4420 7946 0958")).is_ok());
        assert!(check_destination(&p, &phone("+972 1 900 123 456")).is_ok());
        assert!(check_destination(&p, &phone("+1 876 555 0100")).is_err());
        assert!(parse_countries("").is_err());
        assert!(parse_countries("972,abc").is_err());
        assert!(parse_countries("0972").is_err());
    }
}
