//! Who is calling the API, and on behalf of which business (C3, C4).
//!
//! Users live in the database with argon2id hashes. A caller proves who they are with one
//! of three credentials, all checked here so a handler cannot forget to:
//! - the web app's session cookie (`mokdan_session`, HttpOnly), whose unsafe requests also
//!   need CSRF proof (the `X-CSRF-Token` header, or an Origin/Referer of this host);
//! - a short-lived bearer JWT (HS256, `JWT_SECRET`) naming a live session;
//! - a per-business API token (`Bearer mk_…`), stored hashed, good only while the user who
//!   made it is still an owner of that business (or an operator).
//!
//! Extractors: [`Caller`] (anyone signed in), [`Operator`] (the service's operators),
//! [`Tenant`] (a caller acting for one business, resolved once so stores can be scoped).

pub mod cache;
pub mod ctx;
mod hasher;
pub mod jwt;
pub mod known;
pub mod limiter;
pub mod routes;
pub mod tokens;

pub use ctx::AuthCtx;

use std::net::SocketAddr;
use std::time::Duration;

use argon2::password_hash::PasswordVerifier;
use argon2::password_hash::phc::PasswordHash;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::AppError;
use crate::store::users::{self, Role};
use crate::store::{businesses, sessions};

/// The session cookie (HttpOnly) and the CSRF double-submit cookie (readable by the app).
pub const SESSION_COOKIE: &str = "mokdan_session";
pub const CSRF_COOKIE: &str = "mokdan_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a login session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Login attempts per minute from one IP, and failed attempts per minute for one account.
/// (The default of `MOKDAN_LOGIN_LIMIT_PER_IP`.)
pub const LOGIN_LIMIT_PER_IP: usize = 10;
pub const LOGIN_FAILURES_PER_ACCOUNT: usize = 5;
/// The cookie naming the business an operator helps as support in the web app (#20).
pub const SUPPORT_COOKIE: &str = "mokdan_support";
/// Why a support write is refused while the owner has not allowed editing.
pub const SUPPORT_READ_ONLY: &str =
    "מצב תמיכה: צפייה בלבד. בעל/ת העסק לא איפשר/ה לצוות התמיכה לערוך, ולכן השינוי לא נשמר.";
/// The prefix of per-business API tokens.
pub const API_TOKEN_PREFIX: &str = "mk_";

/// An authenticated user.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: i64,
    pub role: Role,
    pub business_id: Option<i64>,
    /// The API token the caller used, if any (its writes are audited with its id).
    pub token_id: Option<i64>,
}

impl Caller {
    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// Owners manage their business's users, tokens and settings; operators manage all.
    pub fn require_owner(&self) -> Result<(), AppError> {
        match self.role {
            Role::Operator | Role::Owner => Ok(()),
            Role::Agent => Err(AppError::Forbidden),
        }
    }
}

/// How the caller proved who they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Session { session_id: i64 },
    Jwt { session_id: i64 },
    ApiToken { token_id: i64 },
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::Session { .. } => "session",
            Via::Jwt { .. } => "jwt",
            Via::ApiToken { .. } => "api_token",
        }
    }
}

/// A caller and the credential they used.
#[derive(Clone, Debug)]
pub struct Authenticated {
    pub caller: Caller,
    pub via: Via,
}

/// Per-process authentication state: the login limiter and the memory of live sessions.
pub struct AuthState {
    pub limiter: limiter::Limiter,
    /// Clients with a recent successful login, whom the per-account limit lets through.
    pub known: known::KnownClients,
    pub sessions: cache::SessionCache,
    /// Login turns, by a hash of the account: checks for one account run one at a time.
    account_turns: Vec<tokio::sync::Mutex<()>>,
}

impl AuthState {
    pub fn new() -> Self {
        // Make the dummy hash now, off the request path, so the first unknown-email login
        // costs the same as any other.
        std::thread::spawn(|| {
            let _ = dummy_hash();
        });
        Self {
            limiter: limiter::Limiter::new(Duration::from_secs(60)),
            known: known::KnownClients::default(),
            sessions: cache::SessionCache::default(),
            account_turns: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Waits for the account's turn to have a password checked (accounts share 64 turns).
    pub async fn account_turn(&self, account: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(account);
        self.account_turns[(hash % self.account_turns.len() as u64) as usize]
            .lock()
            .await
    }
}

impl Default for AuthState {
    fn default() -> Self {
        Self::new()
    }
}

/// A password checked against its stored argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so timing does not tell.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password(&crate::config::random_hex(16)).unwrap_or_default())
        .clone()
}

/// argon2id with a fresh salt, as a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::PasswordHasher;
    // A 16-byte salt from the operating system's generator, as before.
    PasswordHasher::<PasswordHash>::hash_password(&argon2::Argon2::default(), password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// [`hash_password`] off the async runtime, on the hashing threads (argon2 is deliberately
/// slow and large).
pub async fn hash_password_blocking(password: String) -> Result<String, AppError> {
    hasher::run(move || hash_password(&password))
        .await
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the password hasher stopped")))?
        .map_err(AppError::Internal)
}

/// Checks an email and password; the user on success, `None` for any failure, never
/// saying which (an unknown email is verified against a dummy hash, so it takes as long).
pub async fn check_credentials(
    state: &AuthCtx,
    email: &str,
    password: &str,
) -> Result<Option<users::UserAuth>, AppError> {
    let user = users::by_email(&state.db, email).await?;
    let hash = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(dummy_hash);
    let password = password.to_string();
    let ok = hasher::run(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    // A disabled user's right password still signs no one in (#20).
    Ok(user.filter(|u| ok && u.disabled_at.is_none()))
}

/// Checks an email and password; `None` for any failure, never saying which.
pub async fn login(
    state: &AuthCtx,
    email: &str,
    password: &str,
) -> Result<Option<Caller>, AppError> {
    Ok(check_credentials(state, email, password)
        .await?
        .and_then(|u| {
            Role::parse(&u.role).map(|role| Caller {
                user_id: u.id,
                role,
                business_id: u.business_id,
                token_id: None,
            })
        }))
}

/// SHA-256 of a secret token, as stored.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The CSRF token that belongs to a session token: an HMAC, so it cannot be guessed from
/// outside and needs no storage.
pub fn csrf_for(secret: &str, session_token: &str) -> String {
    let tag =
        crate::crypto::hmac_sha256_parts(secret.as_bytes(), &[b"csrf|", session_token.as_bytes()]);
    hex::encode(&tag[..16])
}

/// A cookie from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The client's IP: the socket's peer, or — when that peer is a trusted proxy
/// (`MOKDAN_TRUSTED_PROXIES`, loopback by default: the TLS proxy of the deployment guide) —
/// the right-most `X-Forwarded-For` address that is not itself a trusted proxy. Addresses to
/// its left were written by the client and are never believed; an untrusted peer's header
/// is ignored altogether.
pub fn client_ip(parts: &Parts, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
    else {
        return "unknown".into();
    };
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = peer;
    if is_trusted(&peer) {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in forwarded.into_iter().rev() {
            let Ok(ip) = hop.trim().parse::<std::net::IpAddr>() else {
                break;
            };
            client = ip.to_canonical();
            if !is_trusted(&client) {
                break;
            }
        }
    }
    client.to_string()
}

/// An error response in the API's one shape, for the cases [`AppError`] has no variant for.
pub fn reject(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

fn caller_of(p: &sessions::Principal) -> Option<Caller> {
    Role::parse(&p.role).map(|role| Caller {
        user_id: p.user_id,
        role,
        business_id: p.business_id,
        token_id: None,
    })
}

/// A live session: remembered from a check within [`cache::TTL`], else `lookup`'s answer.
async fn live_session(
    state: &AuthCtx,
    key: cache::Key,
    lookup: impl std::future::Future<Output = Result<Option<sessions::Principal>, sqlx::Error>>,
) -> Result<sessions::Principal, AppError> {
    match state.auth.sessions.get(&key) {
        Ok(principal) => Ok(principal),
        Err(generation) => {
            let principal = lookup.await?.ok_or(AppError::Unauthorized)?;
            state.auth.sessions.put(key, principal.clone(), generation);
            Ok(principal)
        }
    }
}

/// Resolves the request's credential; `Unauthorized` for a missing, expired, forged or
/// revoked one; `Forbidden` for a cookie request without CSRF proof.
async fn authenticate(parts: &Parts, state: &AuthCtx) -> Result<Authenticated, AppError> {
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    if let Some(token) = bearer {
        if token.starts_with(API_TOKEN_PREFIX) {
            // Only while its creator is still an owner of the business (or an operator):
            // a token outlives neither its creator's removal nor their demotion (#16.7).
            let (token_id, business_id, created_by) =
                sessions::api_token_by_hash(&state.db, &token_digest(token))
                    .await?
                    .ok_or(AppError::Unauthorized)?;
            let db = state.db.clone();
            tokio::spawn(async move {
                let _ = sessions::touch_api_token(&db, token_id).await;
            });
            return Ok(Authenticated {
                caller: Caller {
                    user_id: created_by,
                    role: Role::Agent,
                    business_id: Some(business_id),
                    token_id: Some(token_id),
                },
                via: Via::ApiToken { token_id },
            });
        }
        let now = crate::store::now_ms() / 1000;
        let claims = jwt::decode(state.settings.jwt_secret.expose(), token, now)
            .map_err(|_| AppError::Unauthorized)?;
        let key = cache::Key::Jwt {
            session_id: claims.sid,
            user_id: claims.sub,
        };
        let principal = live_session(
            state,
            key,
            sessions::by_id(&state.db, claims.sid, claims.sub),
        )
        .await?;
        let caller = caller_of(&principal).ok_or(AppError::Unauthorized)?;
        return Ok(Authenticated {
            caller,
            via: Via::Jwt {
                session_id: principal.session_id,
            },
        });
    }
    let token = cookie(&parts.headers, SESSION_COOKIE).ok_or(AppError::Unauthorized)?;
    let digest = token_digest(token);
    let principal = live_session(
        state,
        cache::Key::Cookie(digest.clone()),
        sessions::by_token_hash(&state.db, &digest),
    )
    .await?;
    let caller = caller_of(&principal).ok_or(AppError::Unauthorized)?;
    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
        && !csrf_ok(parts, state, token)
    {
        return Err(AppError::Forbidden);
    }
    Ok(Authenticated {
        caller,
        via: Via::Session {
            session_id: principal.session_id,
        },
    })
}

/// CSRF proof for a cookie-authenticated unsafe request: the session's CSRF token in the
/// header (double-submitted from the `mokdan_csrf` cookie), or an Origin (else Referer)
/// that is this host or `PUBLIC_BASE_URL`.
fn csrf_ok(parts: &Parts, state: &AuthCtx, session_token: &str) -> bool {
    let expected = csrf_for(state.settings.jwt_secret.expose(), session_token);
    if let Some(sent) = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok())
        && crate::crypto::constant_time_eq(sent.as_bytes(), expected.as_bytes())
    {
        return true;
    }
    let origin = parts
        .headers
        .get(header::ORIGIN)
        .or_else(|| parts.headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok());
    let Some(origin) = origin else {
        return false;
    };
    let authority = |u: &url::Url| {
        u.host_str()
            .map(|h| match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_string(),
            })
            .unwrap_or_default()
    };
    let origin_authority = authority(&origin);
    if let Some(base) = state
        .settings
        .public_base_url
        .as_deref()
        .and_then(|b| url::Url::parse(b).ok())
    {
        return origin.scheme() == base.scheme() && origin_authority == authority(&base);
    }
    parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| host.eq_ignore_ascii_case(&origin_authority))
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    AuthCtx: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<Authenticated>() {
            return Ok(done.clone());
        }
        let done = authenticate(parts, &AuthCtx::from_ref(state)).await?;
        parts.extensions.insert(done.clone());
        Ok(done)
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AuthCtx: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Authenticated::from_request_parts(parts, state)
            .await?
            .caller)
    }
}

/// A caller who operates the whole service.
#[derive(Clone, Debug)]
pub struct Operator(pub Caller);

impl<S> FromRequestParts<S> for Operator
where
    S: Send + Sync,
    AuthCtx: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.role == Role::Operator {
            Ok(Operator(caller))
        } else {
            Err(AppError::Forbidden)
        }
    }
}

/// A caller acting for one business: an owner's or agent's own, or for an operator the
/// business named by the `business_id` query parameter. A business the caller may not see
/// answers 404, exactly like one that does not exist (C4).
#[derive(Clone, Debug)]
pub struct Tenant {
    pub caller: Caller,
    pub business_id: i64,
}

/// The `business_id` query parameter, if any.
pub fn business_param(parts: &Parts) -> Result<Option<i64>, AppError> {
    let Some(query) = parts.uri.query() else {
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

impl<S> FromRequestParts<S> for Tenant
where
    S: Send + Sync,
    AuthCtx: FromRef<S>,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        let caller = auth.caller;
        let mut asked = business_param(parts)?;
        let db = AuthCtx::from_ref(state).db;
        // An operator in the web app's support mode (#20) acts for the business the support
        // cookie names, through this same check; writes only if its owner allowed them.
        let support = caller.is_operator()
            && asked.is_none()
            && matches!(auth.via, Via::Session { .. })
            && cookie(&parts.headers, SUPPORT_COOKIE)
                .and_then(|c| c.parse::<i64>().ok())
                .map(|id| asked = Some(id))
                .is_some();
        let tenant = tenant_for(
            &db,
            caller,
            asked,
            "business_id (query parameter) is required for an operator",
        )
        .await?;
        if support
            && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && !businesses::support_can_edit(&db, tenant.business_id).await?
        {
            return Err(AppError::ForbiddenBecause(SUPPORT_READ_ONLY.into()));
        }
        Ok(tenant)
    }
}

/// The one tenant check (C4): the business `caller` acts for when it asks for `asked`.
/// An operator must name one that exists (else `missing` as a 400); an owner or agent acts
/// for their own, and asking for another answers 404 exactly like one that does not exist.
pub async fn tenant_for(
    db: &crate::store::Db,
    caller: Caller,
    asked: Option<i64>,
    missing: &str,
) -> Result<Tenant, AppError> {
    let business_id = if caller.role == Role::Operator {
        let id = asked.ok_or_else(|| AppError::BadRequest(missing.into()))?;
        businesses::get(db, id).await?.ok_or(AppError::NotFound)?;
        id
    } else {
        own_business(&caller, asked)?
    };
    Ok(Tenant {
        caller,
        business_id,
    })
}

/// An owner's or agent's own business, refusing (404) a request that names another and
/// (403) a caller with none. Operators are resolved by [`tenant_for`].
pub fn own_business(caller: &Caller, asked: Option<i64>) -> Result<i64, AppError> {
    let own = caller.business_id.ok_or(AppError::Forbidden)?;
    if asked.is_some_and(|a| a != own) {
        return Err(AppError::NotFound);
    }
    Ok(own)
}
