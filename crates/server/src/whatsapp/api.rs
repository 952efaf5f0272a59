//! The CRM's WhatsApp API (W3): send, list conversations, read one, fetch media.
//!
//! Every route is authenticated and tenant-scoped (C4): a business user sees only their
//! business; an operator names the business with `business_id`. A send is recorded
//! `queued` with its `whatsapp_send` job and answered at once (a worker hands it to the
//! provider, retrying 429s and 5xx; the message's status and error show the outcome),
//! honours `Idempotency-Key` (a retried request returns the first answer's message and
//! never sends twice), and refuses free-form text
//! outside WhatsApp's 24-hour customer-service window with `template_required`, before
//! any provider is called (Twilio would fail it with 63016, Meta with 131047).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::{Caller, Tenant};
use crate::config::WhatsappProvider;
use crate::domain::Phone;
use crate::error::AppError;
use crate::http::twilio::public_base;
use crate::store::whatsapp::{self as store, Message};
use crate::store::{businesses, customers, now_ms};
use crate::whatsapp::send::Template;
use crate::whatsapp::state::WaState;
use crate::whatsapp::{attachment, media, provider_name};

/// WhatsApp's customer-service window.
pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// WhatsApp's limit on a text message.
pub const MAX_TEXT_CHARS: usize = 4096;

/// An API error: the shared shape, plus the 24-hour refusal's own code.
#[derive(Debug)]
pub enum WaError {
    App(AppError),
    TemplateRequired(String),
}

impl From<AppError> for WaError {
    fn from(e: AppError) -> Self {
        WaError::App(e)
    }
}

impl From<sqlx::Error> for WaError {
    fn from(e: sqlx::Error) -> Self {
        WaError::App(e.into())
    }
}

impl IntoResponse for WaError {
    fn into_response(self) -> Response {
        match self {
            WaError::App(e) => e.into_response(),
            WaError::TemplateRequired(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"error": {"code": "template_required", "message": message}})),
            )
                .into_response(),
        }
    }
}

type WaResult<T> = Result<T, WaError>;

/// The business a send acts for (C4), by the rules of the [`Tenant`] extractor: an owner's
/// or agent's own business; for an operator the one named — by `?business_id=` like every
/// tenant-scoped route, or by the request body's `business_id` (the send's own shape). A
/// business the caller may not see is 404, exactly like one that does not exist.
pub async fn send_tenant(
    state: &WaState,
    caller: Caller,
    in_query: Option<i64>,
    in_body: Option<i64>,
) -> Result<Tenant, AppError> {
    let asked = match (in_query, in_body) {
        (Some(q), Some(b)) if q != b => {
            return Err(AppError::BadRequest(
                "business_id differs between the query and the body".into(),
            ));
        }
        (q, b) => q.or(b),
    };
    crate::auth::tenant_for(
        &state.db,
        caller,
        asked,
        "business_id is required for an operator",
    )
    .await
}

/// `?business_id=` of a request, read as [`crate::auth::business_param`] reads it.
fn query_business_id(uri: &Uri) -> Result<Option<i64>, AppError> {
    let Some(query) = uri.query() else {
        return Ok(None);
    };
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
        .map_err(|_| AppError::BadRequest("malformed query string".into()))?;
    match pairs.iter().find(|(k, _)| k == "business_id") {
        None => Ok(None),
        Some((_, v)) if v.is_empty() => Ok(None),
        Some((_, v)) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::BadRequest("business_id must be an integer".into())),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    pub business_id: Option<i64>,
    pub customer_id: Option<i64>,
    pub to: Option<String>,
    pub body: Option<String>,
    pub template: Option<TemplateRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateRequest {
    pub content_sid: String,
    /// `{"1": "דנה"}` or `["דנה"]`.
    #[serde(default)]
    pub variables: Option<Value>,
    pub language: Option<String>,
}

fn bad(message: impl Into<String>) -> WaError {
    WaError::App(AppError::BadRequest(message.into()))
}

fn template_of(t: TemplateRequest, provider: WhatsappProvider) -> WaResult<Template> {
    let sid = t.content_sid.trim().to_string();
    let valid = match provider {
        WhatsappProvider::Twilio => {
            sid.len() == 34
                && sid.starts_with("HX")
                && sid.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        WhatsappProvider::Meta => {
            !sid.is_empty()
                && sid.len() <= 512
                && sid
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        }
        WhatsappProvider::Baileys => {
            return Err(bad(
                "templates are not available with WHATSAPP_PROVIDER=baileys (WhatsApp Web has none)",
            ));
        }
    };
    if !valid {
        return Err(bad(match provider {
            WhatsappProvider::Twilio => "template.content_sid must be a Twilio Content SID (HX…)",
            _ => "template.content_sid must be the template's name (a-z, 0-9, _)",
        }));
    }
    let variables = match t.variables {
        None | Some(Value::Null) => Default::default(),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                Value::Number(n) => Ok((k, n.to_string())),
                _ => Err(bad("template.variables values must be strings")),
            })
            .collect::<WaResult<_>>()?,
        Some(Value::Array(items)) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(((i + 1).to_string(), s)),
                Value::Number(n) => Ok(((i + 1).to_string(), n.to_string())),
                _ => Err(bad("template.variables values must be strings")),
            })
            .collect::<WaResult<_>>()?,
        Some(_) => return Err(bad("template.variables must be an object or a list")),
    };
    let language = t
        .language
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty());
    if language
        .as_deref()
        .is_some_and(|l| l.len() > 10 || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(bad("template.language must be a code like he or en_US"));
    }
    Ok(Template {
        content_sid: sid,
        variables,
        language,
    })
}

fn idempotency_key(headers: &HeaderMap) -> WaResult<Option<String>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| bad("Idempotency-Key must be printable ASCII"))?
        .trim();
    if v.is_empty() || v.len() > 255 {
        return Err(bad("Idempotency-Key must be 1 to 255 characters"));
    }
    Ok(Some(v.to_string()))
}

/// `POST /api/whatsapp/send`: owners and agents send for their own business, operators
/// for the one they name.
pub async fn send_message(
    State(state): State<WaState>,
    caller: Caller,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> WaResult<Response> {
    let req: SendRequest =
        serde_json::from_slice(&body).map_err(|e| bad(format!("invalid request: {e}")))?;
    let in_query = query_business_id(&uri)?;
    let Tenant { business_id, .. } = send_tenant(&state, caller, in_query, req.business_id).await?;
    let business = businesses::get(&state.db, business_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let key = idempotency_key(&headers)?.map(|k| format!("{business_id}:{k}"));
    if let Some(key) = &key
        && let Some(existing) = by_key(&state, business_id, key).await?
    {
        return Ok(replay(&existing));
    }
    let provider = state.settings.whatsapp_provider.ok_or_else(|| {
        AppError::Unavailable("WhatsApp is not configured: set WHATSAPP_PROVIDER".into())
    })?;
    let text = req.body.as_deref().map(str::trim).filter(|b| !b.is_empty());
    let (text, template) = match (text, req.template) {
        (Some(_), Some(_)) => return Err(bad("give body or template, not both")),
        (None, None) => return Err(bad("body or template is required")),
        (Some(t), None) if t.chars().count() > MAX_TEXT_CHARS => {
            return Err(bad(format!(
                "body is longer than {MAX_TEXT_CHARS} characters"
            )));
        }
        (Some(t), None) => (Some(t.to_string()), None),
        (None, Some(t)) => (None, Some(template_of(t, provider)?)),
    };
    // A customer who does not exist yet is created only once the send is accepted: a
    // refused send leaves the CRM as it was.
    let (known, phone) = match (req.customer_id, req.to.as_deref()) {
        (Some(_), Some(_)) => return Err(bad("give customer_id or to, not both")),
        (None, None) => return Err(bad("customer_id or to is required")),
        (Some(id), None) => {
            let c = customers::get(&state.db, business_id, id)
                .await?
                .ok_or(AppError::NotFound)?;
            (Some(c), None)
        }
        (None, Some(to)) => {
            let phone = Phone::parse(to).map_err(|e| bad(e.to_string()))?;
            match customers::by_phone(&state.db, business_id, &phone).await? {
                Some(c) => (Some(c), None),
                None => (None, Some(phone)),
            }
        }
    };
    let last_inbound_at = known.as_ref().and_then(|c| c.last_inbound_at);
    let within_window = last_inbound_at.is_some_and(|at| now_ms() - at < WINDOW_MS);
    if template.is_none() && !within_window {
        let last = match last_inbound_at {
            None => "the customer has never written to this business".to_string(),
            Some(at) => format!(
                "the customer last wrote {} hours ago",
                (now_ms() - at) / (60 * 60 * 1000)
            ),
        };
        return Err(WaError::TemplateRequired(format!(
            "Outside WhatsApp's 24-hour customer-service window ({last}): free-form text \
             cannot be sent. Send an approved template instead: \
             {{\"template\": {{\"content_sid\": …, \"variables\": {{…}}}}}}."
        )));
    }
    let from_number = match provider {
        WhatsappProvider::Twilio => {
            Some(twilio_sender(&state, &business).await?.ok_or_else(|| {
                bad("no WhatsApp sender: set the business's whatsapp_number \
                     (TWILIO_WHATSAPP_FROM is unset or another business's number)")
            })?)
        }
        WhatsappProvider::Meta => {
            // Refused here rather than failed later: the sender must be the business's own.
            if crate::whatsapp::meta::sender_id(&state, Some(&business))
                .await?
                .is_none()
            {
                return Err(bad(
                    "no Meta sender: set the business's meta_phone_number_id \
                     (META_PHONE_NUMBER_ID is unset or another business's)",
                ));
            }
            business.whatsapp_number.clone()
        }
        WhatsappProvider::Baileys => business.whatsapp_number.clone(),
    };
    let (customer_id, to_number) = match (known, phone) {
        (Some(c), _) => (c.id, c.phone),
        (None, Some(phone)) => (
            customers::upsert_by_phone(&state.db, business_id, &phone, None, "whatsapp").await?,
            phone.to_string(),
        ),
        (None, None) => return Err(AppError::NotFound.into()),
    };
    let status_callback = (provider == WhatsappProvider::Twilio).then(|| {
        format!(
            "{}/webhook/whatsapp/status",
            public_base(&state.settings, &headers)
        )
    });
    let new = store::NewOutbound {
        customer_id,
        provider: provider_name(provider),
        from_number,
        to_number,
        body: text,
        template: template
            .as_ref()
            .and_then(|t| serde_json::to_string(t).ok()),
        status_callback,
        idempotency_key: key,
        reply_to: None,
    };
    // Recorded `queued` with its send job in one transaction; a worker sends it.
    let job = &crate::whatsapp::jobs::SEND_JOB;
    let (msg, inserted) = store::queue_outbound(&state.db, business_id, &new, job).await?;
    if inserted {
        crate::jobs::wake();
    }
    Ok(if inserted {
        (StatusCode::OK, Json(view(&msg))).into_response()
    } else {
        replay(&msg)
    })
}

async fn by_key(state: &WaState, business_id: i64, key: &str) -> WaResult<Option<Message>> {
    Ok(match store::id_by_key(&state.db, business_id, key).await? {
        Some(id) => store::get(&state.db, business_id, id).await?,
        None => None,
    })
}

fn replay(msg: &Message) -> Response {
    (
        StatusCode::OK,
        [("idempotent-replayed", "true")],
        Json(view(msg)),
    )
        .into_response()
}

/// The number a business's Twilio sends go out from (C4, W3): its own WhatsApp number
/// always; without one, the service default `TWILIO_WHATSAPP_FROM` — but never when
/// another business owns that number (its customers' replies would land there, with that
/// business's auto-reply); else the business's first voice number. `None`: no number of
/// its own and no default it may use.
pub(crate) async fn twilio_sender(
    state: &WaState,
    business: &businesses::Business,
) -> Result<Option<String>, sqlx::Error> {
    let parse = |raw: &str| crate::whatsapp::parse_address(raw);
    if let Some(own) = business.whatsapp_number.as_deref().and_then(parse) {
        return Ok(Some(own.to_string()));
    }
    if let Some(default) = state
        .settings
        .twilio_whatsapp_from
        .as_deref()
        .and_then(parse)
    {
        match businesses::claimed_elsewhere(&state.db, Some(business.id), &default).await? {
            None => return Ok(Some(default.to_string())),
            Some(owner) => tracing::debug!(
                business_id = business.id,
                owner,
                "TWILIO_WHATSAPP_FROM belongs to another business: not used as this one's sender"
            ),
        }
    }
    Ok(businesses::numbers(&state.db, business.id)
        .await?
        .into_iter()
        .next())
}

/// A message as the web app sees it: media as our own URLs, internal fields left out.
pub fn view(m: &Message) -> Value {
    let media: Vec<Value> = media::refs(m)
        .into_iter()
        .enumerate()
        .map(|(n, r)| {
            json!({
                "n": n,
                "content_type": r.content_type,
                "filename": r.filename,
                "url": format!("/api/whatsapp/messages/{}/media/{n}", m.id),
            })
        })
        .collect();
    let template: Option<Value> = m
        .template
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok());
    json!({
        "id": m.id,
        "business_id": m.business_id,
        "customer_id": m.customer_id,
        "provider": m.provider,
        "provider_message_id": m.provider_message_id,
        "direction": m.direction,
        "from": m.from_number,
        "to": m.to_number,
        "body": m.body,
        "media": media,
        "template": template,
        "status": m.status,
        "error_code": m.error_code,
        "error_message": m.error_message,
        "profile_name": m.profile_name,
        "reply_to": m.reply_to,
        "created_at": m.created_at,
        "updated_at": m.updated_at,
    })
}

#[derive(Debug, Deserialize)]
pub struct ScopeQuery {
    /// `business_id` is read by the [`Tenant`] extractor.
    pub limit: Option<i64>,
}

/// `GET /api/whatsapp/threads`: conversations, most recent first.
pub async fn threads(
    State(state): State<WaState>,
    Tenant { business_id, .. }: Tenant,
    Query(q): Query<ScopeQuery>,
) -> WaResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let threads = store::threads(&state.db, business_id, limit).await?;
    Ok(Json(json!({ "threads": threads })))
}

/// `GET /api/whatsapp/threads/{customer_id}`: one conversation, oldest first.
pub async fn thread(
    State(state): State<WaState>,
    Tenant { business_id, .. }: Tenant,
    Path(customer_id): Path<i64>,
    Query(q): Query<ScopeQuery>,
) -> WaResult<Json<Value>> {
    let customer = customers::get(&state.db, business_id, customer_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    let messages = store::thread(&state.db, business_id, customer_id, limit).await?;
    let within_window = customer
        .last_inbound_at
        .is_some_and(|at| now_ms() - at < WINDOW_MS);
    Ok(Json(json!({
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "phone": customer.phone,
            "last_inbound_at": customer.last_inbound_at,
        },
        "window_open": within_window,
        "messages": messages.iter().map(view).collect::<Vec<_>>(),
    })))
}

/// `GET /api/whatsapp/messages/{id}/media/{n}`: the attachment, fetched with provider auth
/// and served as [`attachment::decide`] rules: a download unless an allow-listed type the
/// bytes confirm, always `nosniff` and sandboxed.
pub async fn media_item(
    State(state): State<WaState>,
    Tenant { business_id, .. }: Tenant,
    Path((id, n)): Path<(i64, usize)>,
) -> WaResult<Response> {
    let msg = store::get(&state.db, business_id, id)
        .await?
        .ok_or(AppError::NotFound)?;
    match media::fetch(&state, &msg, n).await {
        Ok(item) => {
            let served = attachment::decide(
                &item.content_type,
                &item.bytes,
                item.filename.as_deref(),
                &format!("whatsapp-{id}-{n}"),
            );
            let mut response = (StatusCode::OK, item.bytes).into_response();
            let headers = response.headers_mut();
            for (name, value) in attachment::headers(&served) {
                headers.insert(name, value);
            }
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("private, max-age=3600"),
            );
            Ok(response)
        }
        Err(media::MediaError::NotFound) => Err(AppError::NotFound.into()),
        Err(media::MediaError::Fetch(why)) => {
            tracing::warn!(id, n, error = %why, "WhatsApp media fetch failed");
            Err(AppError::Unavailable("the provider did not give the media".into()).into())
        }
    }
}
