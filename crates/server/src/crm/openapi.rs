//! `GET /api/openapi.json`: the API described as OpenAPI 3.1, from one table of operations.
//!
//! [`OPERATIONS`] is the one list of `/api` routes. The served document is built from it,
//! and the tests read that document to drive the tenant-isolation matrix and check that
//! the router and the table agree (every `/api` path in the source is listed here, every
//! listed method answers, every other method is 405). A route added without an entry here
//! fails those tests. Each operation carries `x-mokdan-access` (who may call it) and, for
//! paths that name an object, `x-mokdan-resource` (which kind of object the first path
//! parameter names: `{id}`, or `{customer_id}` on a WhatsApp thread).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::page::MAX_PER_PAGE;
use crate::crm::state::CrmState;

pub fn router() -> Router<CrmState> {
    Router::new().route("/api/openapi.json", get(serve))
}

async fn serve() -> Json<Value> {
    Json(document())
}

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// No credential (login, this document).
    Public,
    /// Any signed-in caller, about themselves.
    Caller,
    /// A member of the business (operators name it with `business_id`).
    Tenant,
    /// An owner of the business, or an operator.
    Owner,
    /// An operator; or, on `/api/businesses/{id}`, a member of that business.
    Business,
    /// Operators only.
    Operator,
}

impl Access {
    pub fn name(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Caller => "caller",
            Access::Tenant => "tenant",
            Access::Owner => "owner",
            Access::Business => "business",
            Access::Operator => "operator",
        }
    }
}

/// What a request carries.
#[derive(Clone, Copy, Debug)]
pub enum Req {
    None,
    /// A JSON body of this schema, with an example that a valid request could send.
    Json(&'static str, &'static str),
    Csv,
}

/// What a success answers.
#[derive(Clone, Copy, Debug)]
pub enum Res {
    Json(u16, &'static str),
    Empty(u16),
    Csv,
    Wav,
    /// An attachment in whatever type the provider gave it.
    Media,
}

/// A query parameter: name, JSON type, description.
pub type Param = (&'static str, &'static str, &'static str);

pub struct Op {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub access: Access,
    pub resource: Option<&'static str>,
    pub query: &'static [Param],
    pub req: Req,
    pub res: Res,
}

const PAGE: [Param; 2] = [
    ("page", "integer", "Page number, from 1."),
    (
        "per_page",
        "integer",
        "Rows per page, 1 to 100 (default 50).",
    ),
];
const MAPPING: Param = (
    "mapping",
    "string",
    "Which column feeds which field: comma-separated, one entry per column in order, each \
     name, phone, email, status, tags, notes (or the Hebrew שם, טלפון, אימייל, סטטוס, תגיות, \
     הערות) or ignore (or empty); columns past the end are ignored. Without it the header \
     row decides (Hebrew or English names).",
);
const BIZ: Param = (
    "business_id",
    "integer",
    "The business to act for (operators; others may only name their own).",
);

macro_rules! op {
    ($m:literal $p:literal, $tag:literal, $access:ident, $res_kind:expr, $summary:literal,
     query: $q:expr, req: $req:expr, res: $res:expr) => {
        Op {
            method: $m,
            path: $p,
            summary: $summary,
            tag: $tag,
            access: Access::$access,
            resource: $res_kind,
            query: $q,
            req: $req,
            res: $res,
        }
    };
}

/// Every `/api` operation of the service.
pub const OPERATIONS: &[Op] = &[
    op!("post" "/api/auth/login", "auth", Public, None,
        "Sign in: sets the session and CSRF cookies and returns a 15-minute bearer JWT.",
        query: &[], req: Req::Json("LoginRequest", r#"{"email":"owner@example.com","password":"a-long-password"}"#),
        res: Res::Json(200, "LoginResponse")),
    op!("post" "/api/auth/logout", "auth", Caller, None,
        "Sign out: revokes the session (and every JWT issued for it).",
        query: &[], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/auth/me", "auth", Caller, None, "Who is calling.",
        query: &[], req: Req::None, res: Res::Json(200, "Me")),
    op!("get" "/api/openapi.json", "meta", Public, None, "This document.",
        query: &[], req: Req::None, res: Res::Json(200, "OpenApi")),
    op!("get" "/api/tokens", "tokens", Owner, None, "The business's live API tokens (never their secrets).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "TokenList")),
    op!("post" "/api/tokens", "tokens", Owner, None,
        "Create an API token; its secret (`mk_…`) is returned once.",
        query: &[BIZ], req: Req::Json("TokenCreate", r#"{"name":"integration"}"#),
        res: Res::Json(201, "TokenCreated")),
    op!("delete" "/api/tokens/{id}", "tokens", Owner, Some("token"), "Revoke an API token.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/businesses", "businesses", Operator, None, "Every business.",
        query: &[], req: Req::None, res: Res::Json(200, "BusinessList")),
    op!("post" "/api/businesses", "businesses", Operator, None,
        "Create a business; a voice or WhatsApp number another business has is 409.",
        query: &[], req: Req::Json("BusinessCreate", r#"{"name":"מספרת רחל","numbers":["03-7654321"]}"#),
        res: Res::Json(201, "Business")),
    op!("get" "/api/businesses/{id}", "businesses", Business, Some("business"),
        "A business (operators: any; others: their own).",
        query: &[], req: Req::None, res: Res::Json(200, "Business")),
    op!("patch" "/api/businesses/{id}", "businesses", Business, Some("business"),
        "Change a business's settings (owners: their own, not its voice or WhatsApp numbers).",
        query: &[], req: Req::Json("BusinessPatch", r#"{"greeting":"שלום"}"#),
        res: Res::Json(200, "Business")),
    op!("get" "/api/businesses/{id}/call-policy", "businesses", Business, Some("business"),
        "Where the business may place calls and transfers, and its call quotas (by default \
         Israel only, no premium or special-rate numbers).",
        query: &[], req: Req::None, res: Res::Json(200, "CallPolicy")),
    op!("put" "/api/businesses/{id}/call-policy", "businesses", Operator, Some("business"),
        "Set where the business may call and its quotas (operators only); fields left out keep \
         their value.",
        query: &[], req: Req::Json("CallPolicyPatch", r#"{"countries":["972","44"],"per_hour":50}"#),
        res: Res::Json(200, "CallPolicy")),
    op!("delete" "/api/businesses/{id}", "businesses", Operator, Some("business"),
        "Delete a business and everything it owns.",
        query: &[], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/users", "users", Tenant, None,
        "Users of the caller's business (operators: all, or one business's).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "UserList")),
    op!("post" "/api/users", "users", Owner, None, "Add a user.",
        query: &[BIZ],
        req: Req::Json("UserCreate", r#"{"email":"agent2@example.com","password":"a-long-password","role":"agent","business_id":1}"#),
        res: Res::Json(201, "User")),
    op!("get" "/api/users/{id}", "users", Tenant, Some("user"), "A user.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "User")),
    op!("patch" "/api/users/{id}", "users", Owner, Some("user"),
        "Change a user; a new password or role signs them out everywhere.",
        query: &[BIZ], req: Req::Json("UserPatch", r#"{"name":"דנה"}"#), res: Res::Json(200, "User")),
    op!("delete" "/api/users/{id}", "users", Owner, Some("user"), "Delete a user.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("post" "/api/users/invitations", "users", Owner, None,
        "Invite a user by e-mail (#20): a one-time link, good for 72 hours, e-mailed when \
         SMTP_URL is set (`emailed`); `url` is returned to pass on either way.",
        query: &[BIZ],
        req: Req::Json("Invitation", r#"{"email":"new-agent@example.com","role":"agent"}"#),
        res: Res::Json(201, "LinkIssued")),
    op!("post" "/api/users/{id}/disable", "users", Owner, Some("user"),
        "Disable a user: their sessions, JWTs and API tokens stop at once and they cannot \
         sign in. Not oneself, nor a business's last enabled owner.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "User")),
    op!("post" "/api/users/{id}/enable", "users", Owner, Some("user"),
        "Enable a disabled user again.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "User")),
    op!("post" "/api/users/{id}/password-reset", "users", Owner, Some("user"),
        "A one-time password-reset link for a user (72 hours, replaces an earlier one), \
         e-mailed when SMTP_URL is set.",
        query: &[BIZ], req: Req::None, res: Res::Json(201, "LinkIssued")),
    op!("post" "/api/invitations/accept", "auth", Public, None,
        "Accept an invitation with a name and a password; signs the new user in (as login). \
         An unknown, expired or used link is 422 on `token`.",
        query: &[],
        req: Req::Json("InvitationAccept", r#"{"token":"…","name":"דנה כהן","password":"a-long-password-1"}"#),
        res: Res::Json(200, "LoginResponse")),
    op!("post" "/api/password-resets/accept", "auth", Public, None,
        "Use a password-reset link: the new password, every earlier session ends, and the \
         user is signed in (as login). An unknown, expired or used link is 422 on `token`.",
        query: &[],
        req: Req::Json("PasswordResetAccept", r#"{"token":"…","password":"a-long-password-1"}"#),
        res: Res::Json(200, "LoginResponse")),
    op!("post" "/api/auth/password", "auth", Caller, None,
        "Change one's own password (the current one is required); one's other sessions end.",
        query: &[],
        req: Req::Json("PasswordChange", r#"{"current_password":"old-password-1","new_password":"a-new-password-2"}"#),
        res: Res::Empty(204)),
    op!("get" "/api/users/{id}/notifications", "users", Tenant, Some("user"),
        "A user's notification preferences (#22): which events (`call.summarised`, \
         `call.urgent`, `appointment.booked`, `appointment.cancelled`), by e-mail and/or WhatsApp, and quiet hours. \
         One's own, or (owners) a user of one's business; a user who chose nothing shows \
         their role's default (`is_default`).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "NotificationPrefs")),
    op!("put" "/api/users/{id}/notifications", "users", Tenant, Some("user"),
        "Set a user's notification preferences: one's own, or (owners) a user of one's \
         business; fields left out keep their value. WhatsApp goes to `whatsapp_phone`, the \
         user's own phone; a message due in quiet hours or on Shabbat (Friday 16:00 to \
         Saturday 20:00, Israel's time) waits for their end, except urgent ones.",
        query: &[BIZ],
        req: Req::Json("NotificationPrefsUpdate", r#"{"events":["call.summarised","call.urgent"],"email_on":true,"quiet_hours":{"from":"22:00","to":"07:00"},"shabbat_quiet":true}"#),
        res: Res::Json(200, "NotificationPrefs")),
    op!("get" "/api/customers", "customers", Tenant, None,
        "Customers, newest first: search `q` (name, email, phone), filter `status`, paged.",
        query: &[
            ("q", "string", "Text in the name or email, or digits of the phone."),
            ("status", "string", "new, contacted, qualified, won or lost."),
            PAGE[0], PAGE[1], BIZ,
        ],
        req: Req::None, res: Res::Json(200, "CustomerPage")),
    op!("post" "/api/customers", "customers", Tenant, None,
        "Add a customer; the phone is stored as E.164 and is unique per business (409).",
        query: &[BIZ], req: Req::Json("CustomerCreate", r#"{"name":"דנה כהן","phone":"050-1234567"}"#),
        res: Res::Json(201, "Customer")),
    op!("get" "/api/customers/export", "customers", Tenant, None,
        "All customers as CSV (UTF-8 with a byte-order mark, CRLF): name, phone, email, \
         status, tags, notes, created_at and updated_at (epoch ms), created_at_iso and \
         updated_at_iso (ISO 8601 with Israel's offset, `2026-12-07T13:05:00+02:00`).",
        query: &[BIZ], req: Req::None, res: Res::Csv),
    op!("post" "/api/customers/import", "customers", Tenant, None,
        "Import customers from CSV (UTF-8 with or without BOM, or Windows-1255); a `phone` \
         column is required, by its header or by `mapping`; duplicates by phone update only \
         the mapped columns.",
        query: &[MAPPING, BIZ], req: Req::Csv, res: Res::Json(200, "ImportReport")),
    op!("post" "/api/customers/import/preview", "customers", Tenant, None,
        "What an import of this CSV would do, writing nothing: the encoding, the header row \
         with a suggested field per column, and the first 10 rows each with its action \
         (create, update, unchanged, reject) and a Hebrew reason.",
        query: &[MAPPING, BIZ], req: Req::Csv, res: Res::Json(200, "ImportPreview")),
    op!("get" "/api/customers/{id}", "customers", Tenant, Some("customer"), "A customer.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Customer")),
    op!("patch" "/api/customers/{id}", "customers", Tenant, Some("customer"), "Change a customer.",
        query: &[BIZ], req: Req::Json("CustomerPatch", r#"{"status":"contacted"}"#),
        res: Res::Json(200, "Customer")),
    op!("delete" "/api/customers/{id}", "customers", Owner, Some("customer"),
        "Delete a customer: it leaves every list and can be restored (`POST …/restore`).",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/customers/deleted", "customers", Tenant, None,
        "Deleted customers, most recently deleted first (at most 200), to restore.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "CustomerList")),
    op!("post" "/api/customers/{id}/restore", "customers", Tenant, Some("customer"),
        "Restore a deleted customer (404 when it is not deleted).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Customer")),
    op!("post" "/api/customers/{id}/merge", "customers", Tenant, Some("customer"),
        "Merge `from_id` into this customer: calls, messages, notes, appointments and tasks \
         move over, missing fields are taken, tags and notes joined; `from_id` is removed.",
        query: &[BIZ], req: Req::Json("CustomerMerge", r#"{"from_id":2}"#),
        res: Res::Json(200, "CustomerMerged")),
    op!("post" "/api/customers/bulk-status", "customers", Tenant, None,
        "Set the status of up to 500 customers at once; answers how many changed.",
        query: &[BIZ], req: Req::Json("BulkStatus", r#"{"ids":[1,2],"status":"contacted"}"#),
        res: Res::Json(200, "BulkStatusResult")),
    op!("post" "/api/customers/{id}/follow-up", "customers", Tenant, Some("customer"),
        "Set (or clear, with null) when to get back to the customer, and who does.",
        query: &[BIZ],
        req: Req::Json("FollowUp", r#"{"follow_up_at":"2027-01-03T09:00","assignee_user_id":null}"#),
        res: Res::Json(200, "Customer")),
    op!("get" "/api/customers/{id}/tasks", "customers", Tenant, Some("customer"),
        "A customer's tasks: open ones by due time, then done ones.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "TaskList")),
    op!("post" "/api/customers/{id}/tasks", "customers", Tenant, Some("customer"),
        "Add a task (assigned to the caller unless `assignee_user_id` names a team member).",
        query: &[BIZ], req: Req::Json("TaskCreate", r#"{"title":"לחזור אליה","due_at":"2027-01-03T09:00"}"#),
        res: Res::Json(201, "Task")),
    op!("get" "/api/tasks/mine", "customers", Tenant, None,
        "The caller's open tasks due by the end of today in Israel, and leads to follow up.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "MyTasks")),
    op!("post" "/api/tasks/{id}/done", "customers", Tenant, Some("task"),
        "Mark a task done (or open again with `done: false`).",
        query: &[BIZ], req: Req::Json("TaskDone", r#"{"done":true}"#), res: Res::Empty(204)),
    op!("get" "/api/saved-filters", "customers", Tenant, None,
        "The caller's saved filters of the leads list.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "SavedFilterList")),
    op!("post" "/api/saved-filters", "customers", Tenant, None,
        "Save (or replace, by name) a filter: the leads list's query string.",
        query: &[BIZ], req: Req::Json("SavedFilterSave", r#"{"name":"חדשים שלי","query":"status=new&assignee=me"}"#),
        res: Res::Json(201, "SavedFilter")),
    op!("delete" "/api/saved-filters/{id}", "customers", Tenant, Some("saved_filter"),
        "Delete one of the caller's saved filters.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("post" "/api/customers/{id}/notes", "customers", Tenant, Some("customer"),
        "Add a note to a customer's timeline.",
        query: &[BIZ], req: Req::Json("NoteCreate", r#"{"body":"חזרה אחרי החג"}"#),
        res: Res::Json(201, "Note")),
    op!("get" "/api/customers/{id}/timeline", "customers", Tenant, Some("customer"),
        "A customer's calls, WhatsApp messages and notes, newest first.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Timeline")),
    op!("get" "/api/calls", "calls", Tenant, None,
        "Calls, newest first, filtered by status, direction, customer and time.",
        query: &[
            ("status", "string", "A call status (ringing, in-progress, completed, transcribed…)."),
            ("direction", "string", "inbound or outbound-api."),
            ("from", "string", "From this time: YYYY-MM-DD (from 00:00 in Israel), RFC 3339 or epoch ms."),
            ("to", "string", "Before this time; a bare date includes that day."),
            ("customer_id", "integer", "Only this customer's calls."),
            ("q", "string", "Words of the caller's or lead's name, the reason or the summary, or digits of the number."),
            ("disposition", "string", "handled, callback, spam, or none for calls not yet marked."),
            PAGE[0], PAGE[1], BIZ,
        ],
        req: Req::None, res: Res::Json(200, "CallPage")),
    op!("post" "/api/calls", "calls", Tenant, None,
        "Place an outbound call from the business's first number (V4).",
        query: &[], req: Req::Json("PlaceCall", r#"{"to":"050-1234567","business_id":1,"purpose":"תזכורת לתור מחר ב-10:00"}"#),
        res: Res::Json(201, "PlacedCall")),
    op!("get" "/api/calls/{id}", "calls", Tenant, Some("call"),
        "A call with its transcript, summary, timings and conversation turns.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "CallDetail")),
    op!("patch" "/api/calls/{id}", "calls", Tenant, Some("call"),
        "Staff's review of a call: a corrected summary (the post-call job never overwrites it) \
         and what came of the call. A field left out is kept; `null` clears it. Audited.",
        query: &[BIZ],
        req: Req::Json("CallReview", r#"{"summary":"ביקש תור ליום שלישי, חזרנו אליו","disposition":"handled"}"#),
        res: Res::Json(200, "Call")),
    op!("get" "/api/calls/{id}/recording", "calls", Tenant, Some("call"),
        "The call's recording (WAV), streamed from the service's copy; 404 until downloaded.",
        query: &[BIZ], req: Req::None, res: Res::Wav),
    op!("get" "/api/calls/{id}/turns/{turn}/audio", "calls", Tenant, Some("call"),
        "A caller's answer in their own voice (WAV), kept with or without speech-to-text (`has_audio` on the turn); 404 otherwise.",
        query: &[BIZ], req: Req::None, res: Res::Wav),
    op!("get" "/api/audit", "audit", Owner, None,
        "Who changed what and when (businesses, users, customers), newest first.",
        query: &[PAGE[0], PAGE[1], BIZ], req: Req::None, res: Res::Json(200, "AuditPage")),
    op!("get" "/api/jobs", "jobs", Operator, None,
        "Background jobs (recordings, transcriptions, summaries, clean-up), newest first; \
         a `dead` or `waiting` job is how stuck work shows itself. Jobs are the service's, \
         not a business's: operators only.",
        query: &[
            ("state", "string", "queued, running, waiting, done or dead."),
            ("limit", "integer", "At most this many, 1 to 500 (default 100)."),
        ],
        req: Req::None, res: Res::Json(200, "JobList")),
    op!("post" "/api/jobs/{id}/retry", "jobs", Operator, Some("job"),
        "Revive a dead job: back to `queued` with its attempts reset; any other state is 409.",
        query: &[], req: Req::None, res: Res::Json(200, "Job")),
    op!("post" "/api/whatsapp/send", "whatsapp", Tenant, None,
        "Send a WhatsApp message to a customer (by id, or by phone: a new number becomes a \
         customer). Free-form text only within 24 hours of the customer's last message, \
         otherwise 422 `template_required`; a template any time. Recorded `queued` before the \
         provider sees it; with `Idempotency-Key` a retried request returns the first \
         answer's message and never sends twice. Another business's customer is 404.",
        query: &[BIZ],
        req: Req::Json("WhatsappSend", r#"{"customer_id":1,"body":"שלום, התור שלך מחר ב-10:00","business_id":1}"#),
        res: Res::Json(200, "WhatsappMessage")),
    op!("get" "/api/whatsapp/threads", "whatsapp", Tenant, None,
        "The business's WhatsApp conversations, most recent first, each with its latest message.",
        query: &[("limit", "integer", "At most this many, 1 to 500 (default 100)."), BIZ],
        req: Req::None, res: Res::Json(200, "WhatsappThreadList")),
    op!("get" "/api/whatsapp/threads/{customer_id}", "whatsapp", Tenant, Some("customer"),
        "One customer's WhatsApp conversation, oldest first, and whether the 24-hour window is open.",
        query: &[("limit", "integer", "The latest this many, 1 to 1000 (default 200)."), BIZ],
        req: Req::None, res: Res::Json(200, "WhatsappThread")),
    op!("get" "/api/whatsapp/messages/{id}/media/{n}", "whatsapp", Tenant, Some("whatsapp_message"),
        "Attachment `n` (from 0) of a message, fetched from the provider with its credentials.",
        query: &[BIZ], req: Req::None, res: Res::Media),
    op!("get" "/api/webhooks/endpoints", "webhooks", Owner, None,
        "The business's webhook endpoints (never their signing secrets).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "WebhookEndpointList")),
    op!("post" "/api/webhooks/endpoints", "webhooks", Owner, None,
        "Register an endpoint for some events; its signing secret (`whsec_…`) is returned \
         once. In production only `https://` URLs whose host resolves to public addresses \
         (422 otherwise).",
        query: &[BIZ],
        req: Req::Json("WebhookEndpointCreate", r#"{"url":"https://example.com/hooks/mokdan","events":["call.completed","lead.created"]}"#),
        res: Res::Json(201, "WebhookEndpointCreated")),
    op!("get" "/api/webhooks/endpoints/{id}", "webhooks", Owner, Some("webhook_endpoint"),
        "A webhook endpoint (without its secret).",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "WebhookEndpoint")),
    op!("patch" "/api/webhooks/endpoints/{id}", "webhooks", Owner, Some("webhook_endpoint"),
        "Change an endpoint's URL, events, description or whether it is enabled.",
        query: &[BIZ], req: Req::Json("WebhookEndpointPatch", r#"{"enabled":false}"#),
        res: Res::Json(200, "WebhookEndpoint")),
    op!("delete" "/api/webhooks/endpoints/{id}", "webhooks", Owner, Some("webhook_endpoint"),
        "Delete an endpoint and its deliveries.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/webhooks/deliveries", "webhooks", Owner, None,
        "Deliveries of events to the business's endpoints, newest first, each with its \
         status, attempts and the last status code.",
        query: &[
            ("endpoint_id", "integer", "Only this endpoint's deliveries."),
            ("limit", "integer", "At most this many, 1 to 500 (default 50)."),
            BIZ,
        ],
        req: Req::None, res: Res::Json(200, "WebhookDeliveryList")),
    op!("post" "/api/webhooks/deliveries/{id}/resend", "webhooks", Owner, Some("webhook_delivery"),
        "Send a delivered or failed delivery again (the same body and `webhook-id`); a \
         pending one is 409.",
        query: &[BIZ], req: Req::None, res: Res::Json(202, "WebhookDelivery")),
    op!("get" "/api/services", "appointments", Tenant, None,
        "The business's services (name, duration, buffer after, price), by id.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "ServiceList")),
    op!("post" "/api/services", "appointments", Tenant, None,
        "Add a service: duration and buffer after in minutes (multiples of 5), optional price in agorot.",
        query: &[BIZ], req: Req::Json("ServiceCreate", r#"{"name":"תספורת","duration_minutes":30,"buffer_after_minutes":10,"price_agorot":8000}"#),
        res: Res::Json(201, "Service")),
    op!("get" "/api/services/{id}", "appointments", Tenant, Some("service"), "A service.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Service")),
    op!("patch" "/api/services/{id}", "appointments", Tenant, Some("service"),
        "Change a service; fields left out keep their value.",
        query: &[BIZ], req: Req::Json("ServicePatch", r#"{"duration_minutes":45}"#),
        res: Res::Json(200, "Service")),
    op!("delete" "/api/services/{id}", "appointments", Owner, Some("service"),
        "Delete a service and its appointments.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/staff", "appointments", Tenant, None,
        "The business's staff (people, rooms or chairs), each with the services they give and weekly hours.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "StaffList")),
    op!("post" "/api/staff", "appointments", Tenant, None,
        "Add a staff member with their services and weekly hours (Israel's time; day 0 is Sunday).",
        query: &[BIZ], req: Req::Json("StaffWrite", r#"{"name":"רונית","service_ids":[],"hours":[{"day":0,"from":"09:00","to":"17:00"}]}"#),
        res: Res::Json(201, "StaffMember")),
    op!("get" "/api/staff/{id}", "appointments", Tenant, Some("staff"), "A staff member.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "StaffMember")),
    op!("put" "/api/staff/{id}", "appointments", Tenant, Some("staff"),
        "Replace a staff member's name, services and weekly hours.",
        query: &[BIZ], req: Req::Json("StaffWrite", r#"{"name":"רונית","service_ids":[],"hours":[{"day":1,"from":"10:00","to":"14:00"}]}"#),
        res: Res::Json(200, "StaffMember")),
    op!("delete" "/api/staff/{id}", "appointments", Owner, Some("staff"),
        "Delete a staff member and their appointments.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("get" "/api/businesses/{id}/appointment-settings", "appointments", Business, Some("business"),
        "Booking settings: location for Shabbat times (tel_aviv or jerusalem), closed on \
         Shabbat and holidays, slot step, the business's own weekly hours (none: not bounded), \
         and the customer's WhatsApp messages: the reminder's time and the templates used \
         outside WhatsApp's 24-hour window.",
        query: &[], req: Req::None, res: Res::Json(200, "AppointmentSettings")),
    op!("put" "/api/businesses/{id}/appointment-settings", "appointments", Business, Some("business"),
        "Replace the booking settings (owners and operators). Closed on Shabbat and holidays: \
         no slot from Friday's candle-lighting (18 minutes before sunset, 40 in Jerusalem) \
         to nightfall on Saturday, nor on Rosh Hashana, Yom Kippur, the first and last days \
         of Sukkot and Pesach, and Shavuot (Israel's schedule), from their eve's candle-lighting.",
        query: &[], req: Req::Json("AppointmentSettings", r#"{"location":"tel_aviv","closed_on_holy_days":true,"slot_step_minutes":15,"hours":[{"day":0,"from":"08:00","to":"18:00"}]}"#),
        res: Res::Json(200, "AppointmentSettings")),
    op!("get" "/api/appointments", "appointments", Tenant, None,
        "Appointments starting in a range (default: the next 7 days; at most 62), by start.",
        query: &[
            ("from", "string", "From this time: RFC 3339, or Israel's wall clock (2027-01-05T09:00, 2027-01-05)."),
            ("to", "string", "Before this time, in the same forms."),
            ("staff_id", "integer", "Only this staff member's."),
            BIZ,
        ],
        req: Req::None, res: Res::Json(200, "AppointmentList")),
    op!("post" "/api/appointments", "appointments", Tenant, None,
        "Book: the start must fall on 5 minutes and within the business's and the staff \
         member's hours (422 otherwise); without `staff_id` the first staff member free \
         then is taken. A taken time is 409 `slot_taken` with `error.next_free`.",
        query: &[BIZ], req: Req::Json("AppointmentCreate", r#"{"service_id":1,"start":"2030-01-08T09:00","customer_name":"דנה כהן","customer_phone":"050-1234567"}"#),
        res: Res::Json(201, "Appointment")),
    op!("get" "/api/appointments/{id}", "appointments", Tenant, Some("appointment"), "An appointment.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Appointment")),
    op!("patch" "/api/appointments/{id}", "appointments", Tenant, Some("appointment"),
        "Move an appointment to another start (and staff member); a taken time is 409 `slot_taken`.",
        query: &[BIZ], req: Req::Json("AppointmentMove", r#"{"start":"2030-01-08T11:00"}"#),
        res: Res::Json(200, "Appointment")),
    op!("post" "/api/appointments/{id}/cancel", "appointments", Tenant, Some("appointment"),
        "Cancel an appointment; its time is free again at once.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "Appointment")),
    op!("get" "/api/availability", "appointments", Tenant, None,
        "Free times for a service in a range (default: from now, 7 days; at most 62), by start, \
         around the hours, closures, Shabbat and holidays, and what is booked.",
        query: &[
            ("service", "integer", "The service (default: the business's first)."),
            ("from", "string", "From this time: RFC 3339, or Israel's wall clock."),
            ("to", "string", "Before this time."),
            ("staff_id", "integer", "Only this staff member."),
            BIZ,
        ],
        req: Req::None, res: Res::Json(200, "Availability")),
    op!("get" "/api/closures", "appointments", Tenant, None,
        "Closed dates and special hours touching a range of Israel's dates (default: a year \
         from today; at most 366 days), by first date.",
        query: &[
            ("from", "string", "From this date (YYYY-MM-DD)."),
            ("to", "string", "To this date, inclusive."),
            BIZ,
        ],
        req: Req::None, res: Res::Json(200, "ClosureList")),
    op!("post" "/api/closures", "appointments", Tenant, None,
        "Close a date or a range of dates (no slot is offered and no booking taken then), or \
         give them special hours with `from` and `to`.",
        query: &[BIZ], req: Req::Json("ClosureCreate", r#"{"first_date":"2030-04-10","last_date":"2030-04-12","note":"חופשה"}"#),
        res: Res::Json(201, "Closure")),
    op!("delete" "/api/closures/{id}", "appointments", Tenant, Some("closure"),
        "Remove a closure: its dates are open again.",
        query: &[BIZ], req: Req::None, res: Res::Empty(204)),
    op!("post" "/api/staff/{id}/ics-token", "appointments", Tenant, Some("staff"),
        "A new secret URL for the staff member's ICS calendar feed (RFC 5545, to subscribe \
         from a phone); the previous URL stops working.",
        query: &[BIZ], req: Req::None, res: Res::Json(200, "IcsFeed")),
];

/// Header parameters, by method and path.
const HEADERS: &[(&str, &str, Param)] = &[(
    "post",
    "/api/whatsapp/send",
    (
        "Idempotency-Key",
        "string",
        "1 to 255 characters; a repeat returns the first message (header \
         `Idempotent-Replayed: true`) and sends nothing.",
    ),
)];

pub(super) fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

/// `POST /api/customers/import/preview`'s answer (its own function: one `json!` would
/// nest past the macro's recursion limit).
fn import_preview() -> Value {
    let row = object(
        &["row", "cells", "action", "changes", "message", "reason"],
        json!({
            "row": { "type": "integer" },
            "cells": { "type": "array", "items": { "type": "string" } },
            "action": { "type": "string", "enum": ["create", "update", "unchanged", "reject"] },
            "phone": nullable("string"), "phone_display": nullable("string"),
            "name": nullable("string"),
            "changes": { "type": "array", "items": { "type": "string" } },
            "message": { "type": "string" }, "reason": { "type": "string" },
        }),
    );
    let column = object(
        &["index", "header", "suggested", "samples"],
        json!({
            "index": { "type": "integer" }, "header": { "type": "string" },
            "suggested": { "type": "string", "description": "A field, or `ignore`." },
            "samples": { "type": "array", "items": { "type": "string" } },
        }),
    );
    let pair = |a: &str, b: &str| {
        object(
            &[a, b],
            json!({ a: { "type": "string" }, b: { "type": "string" } }),
        )
    };
    object(
        &[
            "encoding",
            "columns",
            "mapping",
            "fields",
            "total_rows",
            "ready",
            "problems",
            "rows",
        ],
        json!({
            "encoding": { "type": "string", "enum": ["utf-8", "utf-8-bom", "windows-1255"] },
            "columns": { "type": "array", "items": column },
            "mapping": { "type": "array", "items": { "type": "string" },
                "description": "The mapping the rows were planned with, one entry per column." },
            "fields": { "type": "array", "items": pair("field", "label") },
            "total_rows": { "type": "integer" },
            "ready": { "type": "boolean", "description": "A column feeds `phone`." },
            "problems": { "type": "array", "items": pair("message", "reason") },
            "rows": { "type": "array", "items": row },
        }),
    )
}

pub(super) fn object(required: &[&str], props: Value) -> Value {
    json!({ "type": "object", "required": required, "properties": props })
}

fn page_of(item: &str) -> Value {
    object(
        &["items", "total", "page", "per_page"],
        json!({
            "items": { "type": "array", "items": r(item) },
            "total": { "type": "integer" },
            "page": { "type": "integer" },
            "per_page": { "type": "integer" },
        }),
    )
}

fn schemas() -> Value {
    let role = json!({ "type": "string", "enum": ["operator", "owner", "agent"] });
    let status =
        json!({ "type": "string", "enum": ["new", "contacted", "qualified", "won", "lost"] });
    let tags = json!({ "oneOf": [
        { "type": "array", "items": { "type": "string" } }, { "type": "string" }
    ]});
    let user = object(
        &["id", "email", "role", "created_at", "updated_at"],
        json!({
            "id": { "type": "integer" }, "email": { "type": "string" }, "name": nullable("string"),
            "role": role, "business_id": nullable("integer"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
            "disabled_at": { "type": ["integer", "null"],
                "description": "When the user was disabled; null while they may sign in." },
        }),
    );
    let business_fields = json!({
        "name": { "type": "string", "minLength": 1, "maxLength": 200 },
        "numbers": { "type": "array", "items": { "type": "string" }, "maxItems": 20 },
        "greeting": nullable("string"), "agent_prompt": nullable("string"),
        "business_hours": { "description": "Opening hours as JSON (an object, or its text)." },
        "transfer_number": nullable("string"), "whatsapp_number": nullable("string"),
        "meta_phone_number_id": {
            "type": ["string", "null"], "pattern": "^[0-9]{1,32}$",
            "description": "Meta's phone number id of the WhatsApp number: sends through Meta \
                go out from it (null: META_PHONE_NUMBER_ID, unless another business has it). \
                Operators only.",
        },
        "auto_reply": { "type": "boolean" },
        "recording_retention_days": { "type": "integer", "minimum": 1, "maximum": 3650 },
        "intake_questions": {
            "type": ["array", "null"], "minItems": 1, "maxItems": 10,
            "items": { "type": "string", "minLength": 1, "maxLength": 200 },
            "description": "The scripted agent's questions, asked in order; null: its defaults \
                (name, reason for the call, a good time to call back).",
        },
    });
    let mut business = business_fields.clone();
    business["id"] = json!({ "type": "integer" });
    business["created_at"] = json!({ "type": "integer" });
    business["updated_at"] = json!({ "type": "integer" });
    let customer = object(
        &[
            "id",
            "business_id",
            "phone",
            "status",
            "tags",
            "notes",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "business_id": { "type": "integer" },
            "name": nullable("string"),
            "phone": { "type": "string", "description": "E.164, e.g. +972501234567." },
            "phone_display": { "type": "string", "description": "Local form, e.g. 050-123-4567." },
            "email": nullable("string"), "status": status,
            "tags": { "type": "array", "items": { "type": "string" } },
            "notes": { "type": "string" }, "owner_user_id": nullable("integer"),
            "source": nullable("string"), "last_inbound_at": nullable("integer"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        }),
    );
    let call = object(
        &[
            "id",
            "call_sid",
            "direction",
            "status",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "call_sid": { "type": "string" },
            "business_id": nullable("integer"), "customer_id": nullable("integer"),
            "from_number": nullable("string"), "to_number": nullable("string"),
            "direction": { "type": "string" }, "status": { "type": "string" },
            "duration_secs": nullable("integer"), "recording_duration": nullable("integer"),
            "transcription": nullable("string"), "call_summary": nullable("string"),
            "caller_name": nullable("string"), "caller_reason": nullable("string"),
            "callback_time": nullable("string"), "urgency": nullable("string"),
            "stream_started_at": nullable("integer"), "stream_ended_at": nullable("integer"),
            "stream_end_reason": nullable("string"), "fallback_reason": nullable("string"),
            "has_recording": { "type": "integer", "enum": [0, 1] },
            "disposition": { "type": ["string", "null"], "enum": ["handled", "callback", "spam", null] },
            "summary_edited_at": nullable("integer"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        }),
    );
    let token = object(
        &["id", "business_id", "name", "prefix", "created_at"],
        json!({
            "id": { "type": "integer" }, "business_id": { "type": "integer" },
            "name": { "type": "string" }, "prefix": { "type": "string" },
            "created_by": nullable("integer"), "created_at": { "type": "integer" },
            "last_used_at": nullable("integer"),
        }),
    );
    let mut token_created = token.clone();
    token_created["required"] =
        json!(["id", "business_id", "name", "prefix", "created_at", "token"]);
    token_created["properties"]["token"] =
        json!({ "type": "string", "description": "The secret, shown only now." });
    let mut all = json!({
        "Error": object(&["error"], json!({ "error": object(&["code", "message"], json!({
            "code": { "type": "string" }, "message": { "type": "string" },
            "field": { "type": "string", "description": "On a 409 `conflict`: the request \
                field whose value another object already has (`phone`, `numbers`, \
                `whatsapp_number`, `meta_phone_number_id`, `email`); absent when unknown." },
            "next_free": { "description": "On a 409 `slot_taken`: the next free time \
                (`start`, `end`, `staff_id`), or null when none is free in two weeks." },
        }))})),
        "LoginRequest": object(&["email", "password"], json!({
            "email": { "type": "string" }, "password": { "type": "string" },
        })),
        "LoginResponse": object(&["token", "token_type", "expires_in", "csrf_token", "user"], json!({
            "token": { "type": "string" }, "token_type": { "type": "string", "enum": ["Bearer"] },
            "expires_in": { "type": "integer" }, "csrf_token": { "type": "string" },
            "user": object(&["id", "email", "role"], json!({
                "id": { "type": "integer" }, "email": { "type": "string" }, "role": role,
                "business_id": nullable("integer"),
            })),
        })),
        "Me": object(&["auth", "role"], json!({
            "auth": { "type": "string", "enum": ["session", "jwt", "api_token"] },
            "role": role, "business_id": nullable("integer"),
            "user": { "oneOf": [r("User"), { "type": "null" }] },
        })),
        "OpenApi": { "type": "object" },
        "User": user,
        "UserList": { "type": "array", "items": r("User") },
        "UserCreate": object(&["email", "password", "role"], json!({
            "email": { "type": "string", "maxLength": 254 },
            "password": { "type": "string", "minLength": 8, "maxLength": 200 },
            "role": role, "business_id": nullable("integer"), "name": nullable("string"),
        })),
        "Invitation": object(&["email", "role"], json!({
            "email": { "type": "string", "maxLength": 254 },
            "role": { "type": "string", "enum": ["owner", "agent"] },
        })),
        "LinkIssued": object(&["id", "kind", "email", "role", "created_at", "expires_at", "url", "emailed"], json!({
            "id": { "type": "integer" }, "kind": { "type": "string", "enum": ["invite", "reset"] },
            "business_id": nullable("integer"), "user_id": nullable("integer"),
            "email": { "type": "string" }, "role": role, "created_by": nullable("integer"),
            "created_at": { "type": "integer" }, "expires_at": { "type": "integer" },
            "used_at": nullable("integer"),
            "url": { "type": "string", "description": "The one-time link, shown only now." },
            "emailed": { "type": "boolean", "description": "The SMTP server took the e-mail." },
        })),
        "InvitationAccept": object(&["token", "name", "password"], json!({
            "token": { "type": "string" }, "name": { "type": "string", "maxLength": 200 },
            "password": { "type": "string", "minLength": 10, "maxLength": 200,
                "description": "Letters and at least one digit or sign; not the e-mail." },
        })),
        "PasswordResetAccept": object(&["token", "password"], json!({
            "token": { "type": "string" },
            "password": { "type": "string", "minLength": 10, "maxLength": 200 },
        })),
        "PasswordChange": object(&["current_password", "new_password"], json!({
            "current_password": { "type": "string" },
            "new_password": { "type": "string", "minLength": 10, "maxLength": 200 },
        })),
        "UserPatch": object(&[], json!({
            "email": { "type": "string" }, "password": { "type": "string", "minLength": 8 },
            "current_password": { "type": "string",
                "description": "Required with `password` when changing one's own." },
            "role": role, "business_id": nullable("integer"), "name": nullable("string"),
        })),
        "Business": object(&["id", "name", "numbers", "auto_reply", "recording_retention_days",
            "created_at", "updated_at"], business),
        "BusinessList": { "type": "array", "items": r("Business") },
        "BusinessCreate": object(&["name"], business_fields.clone()),
        "BusinessPatch": object(&[], business_fields),
        "Customer": customer,
        "CustomerPage": page_of("Customer"),
        "CustomerCreate": object(&["phone"], json!({
            "name": nullable("string"), "phone": { "type": "string" },
            "email": nullable("string"), "status": status, "tags": tags,
            "notes": { "type": "string" }, "owner_user_id": nullable("integer"),
        })),
        "CustomerPatch": object(&[], json!({
            "name": nullable("string"), "phone": { "type": "string" },
            "email": nullable("string"), "status": status, "tags": tags,
            "notes": { "type": "string" }, "owner_user_id": nullable("integer"),
        })),
        "ImportReport": object(&["created", "updated", "errors"], json!({
            "created": { "type": "integer" }, "updated": { "type": "integer" },
            "errors": { "type": "array", "items": object(&["row", "message"], json!({
                "row": { "type": "integer" }, "message": { "type": "string" },
                "reason": { "type": "string", "description": "The same, in Hebrew." },
            }))},
            "notices": { "type": "array", "description": "Rows that renamed a lead.",
                "items": object(&["row", "message"], json!({
                "row": { "type": "integer" }, "message": { "type": "string" },
                "reason": { "type": "string" },
            }))},
        })),
        "ImportPreview": import_preview(),
        "Note": object(&["id", "customer_id", "body", "created_at"], json!({
            "id": { "type": "integer" }, "customer_id": { "type": "integer" },
            "author_user_id": nullable("integer"), "body": { "type": "string" },
            "created_at": { "type": "integer" },
        })),
        "NoteCreate": object(&["body"], json!({ "body": { "type": "string", "minLength": 1 } })),
        "Timeline": object(&["customer_id", "whatsapp_available", "items"], json!({
            "customer_id": { "type": "integer" },
            "whatsapp_available": { "type": "boolean",
                "description": "Whether the service has a WhatsApp provider configured; \
                    messages stored earlier show either way." },
            "items": { "type": "array", "items": object(&["kind", "at"], json!({
                "kind": { "type": "string", "enum": ["call", "whatsapp", "appointment", "note"] },
                "at": { "type": "integer" },
                "call": { "type": "object" }, "message": r("WhatsappMessage"), "note": r("Note"),
                "event": { "type": "string", "enum": ["booked", "confirmed", "cancelled"],
                    "description": "For an appointment: what happened at `at`." },
                "by": { "type": ["string", "null"], "description": "Who confirmed or cancelled: staff, caller, customer." },
                "appointment": r("Appointment"),
            }))},
        })),
    });
    let more = json!({
        "Call": call,
        "CallPage": page_of("Call"),
        "CallReview": object(&[], json!({
            "summary": { "type": ["string", "null"], "maxLength": 4000 },
            "disposition": { "type": ["string", "null"], "enum": ["handled", "callback", "spam", null] },
        })),
        "CallDetail": { "allOf": [r("Call"), object(&["turns", "timings", "recording_available"], json!({
            "transcript": nullable("string"), "summary": nullable("string"),
            "recording_available": { "type": "boolean" }, "timings": { "type": "object" },
            "turns": { "type": "array", "items": { "type": "object" } },
        }))]},
        "PlaceCall": object(&["to"], json!({
            "to": { "type": "string" },
            "business_id": { "type": ["integer", "null"], "description": "Required for operators." },
            "purpose": { "type": ["string", "null"], "maxLength": 200,
                "description": "Why the business calls: the agent's opening says it to the person called." },
        })),
        "CallPolicy": object(&["business_id", "countries", "allow_premium", "per_hour", "per_day",
            "per_credential_hour", "per_credential_day"], json!({
            "business_id": { "type": "integer" },
            "countries": { "type": "array", "items": { "type": "string" },
                "description": "Calling codes (or longer prefixes) that may be called, e.g. 972." },
            "allow_premium": { "type": "boolean",
                "description": "Premium and special-rate ranges (1-800, 1-900 …) may be called." },
            "per_hour": { "type": "integer" }, "per_day": { "type": "integer" },
            "per_credential_hour": { "type": "integer" }, "per_credential_day": { "type": "integer" },
        })),
        "CallPolicyPatch": object(&[], json!({
            "countries": { "oneOf": [{ "type": "array", "items": { "type": "string" } }, { "type": "string" }] },
            "allow_premium": { "type": "boolean" },
            "per_hour": { "type": "integer", "minimum": 0, "maximum": 100000 },
            "per_day": { "type": "integer", "minimum": 0, "maximum": 100000 },
            "per_credential_hour": { "type": "integer", "minimum": 0, "maximum": 100000 },
            "per_credential_day": { "type": "integer", "minimum": 0, "maximum": 100000 },
        })),
        "PlacedCall": object(&["call_sid", "status"], json!({
            "call_sid": { "type": "string" }, "status": { "type": "string" },
        })),
        "Token": token,
        "TokenList": { "type": "array", "items": r("Token") },
        "TokenCreate": object(&["name"], json!({ "name": { "type": "string", "minLength": 1, "maxLength": 100 } })),
        "TokenCreated": token_created,
        "AuditPage": page_of("AuditEntry"),
        "AuditEntry": object(&["id", "entity", "entity_id", "action", "changes", "created_at"], json!({
            "id": { "type": "integer" }, "business_id": nullable("integer"),
            "actor_user_id": nullable("integer"), "actor_token_id": nullable("integer"),
            "entity": { "type": "string" },
            "entity_id": { "type": "integer" }, "action": { "type": "string" },
            "changes": { "type": "string", "description": "JSON: {field: [old, new]}." },
            "created_at": { "type": "integer" },
        })),
    });
    for extra in [
        more,
        jobs_schemas(),
        whatsapp_schemas(),
        webhook_schemas(),
        notify_schemas(),
        appointment_schemas(),
        super::openapi_leads::schemas(),
    ] {
        if let (Some(a), Value::Object(b)) = (all.as_object_mut(), extra) {
            a.extend(b);
        }
    }
    all
}

fn appointment_schemas() -> Value {
    let ts = json!({ "type": "string", "description": "RFC 3339 with Israel's offset." });
    let date =
        json!({ "type": "string", "format": "date", "description": "Israel's date, YYYY-MM-DD." });
    let hours = json!({ "type": "array", "maxItems": 70, "items": object(&["day", "from", "to"], json!({
        "day": { "type": "integer", "minimum": 0, "maximum": 6, "description": "0 is Sunday." },
        "from": { "type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$" },
        "to": { "type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$" },
    }))});
    let service = object(
        &[
            "id",
            "business_id",
            "name",
            "duration_minutes",
            "buffer_after_minutes",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "business_id": { "type": "integer" }, "name": { "type": "string" },
            "duration_minutes": { "type": "integer" }, "buffer_after_minutes": { "type": "integer" },
            "price_agorot": nullable("integer"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        }),
    );
    let service_in = |required: &[&str]| {
        object(
            required,
            json!({
                "name": { "type": "string", "minLength": 1, "maxLength": 200 },
                "duration_minutes": { "type": "integer", "minimum": 5, "maximum": 720, "multipleOf": 5 },
                "buffer_after_minutes": { "type": "integer", "minimum": 0, "maximum": 240, "multipleOf": 5 },
                "price_agorot": { "type": ["integer", "null"], "minimum": 0 },
                "business_id": nullable("integer"),
            }),
        )
    };
    let staff = object(
        &[
            "id",
            "name",
            "service_ids",
            "hours",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "name": { "type": "string" },
            "service_ids": { "type": "array", "items": { "type": "integer" } }, "hours": hours,
            "google_calendar_id": { "type": ["string", "null"], "description": "The Google \
                Calendar shared with the service account: its busy times block slots, and \
                bookings are written to it as events." },
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        }),
    );
    let appointment = object(
        &[
            "id",
            "staff_id",
            "service_id",
            "start",
            "end",
            "status",
            "source",
            "notes",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "staff_id": { "type": "integer" },
            "service_id": { "type": "integer" }, "customer_id": nullable("integer"),
            "customer_name": nullable("string"),
            "customer_phone": { "type": ["string", "null"], "description": "E.164." },
            "start": ts, "end": ts,
            "status": { "type": "string", "enum": ["booked", "cancelled"] },
            "source": { "type": "string" }, "notes": { "type": "string" },
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
            "confirmed_at": { "type": ["integer", "null"], "description": "When the customer confirmed on WhatsApp (\"1\"), epoch ms." },
            "cancelled_at": nullable("integer"),
            "cancelled_by": { "type": ["string", "null"], "enum": ["staff", "caller", "customer", null] },
            "whatsapp_note": { "type": ["string", "null"], "description": "Why the customer got no WhatsApp message (no WhatsApp configured, no template outside the 24-hour window…), in Hebrew." },
            "calendar_sync": { "type": ["string", "null"], "enum": ["pending", "ok", "failed", null],
                "description": "Its event in the staff member's Google Calendar; null when \
                    none is connected. `failed` is retried." },
            "calendar_sync_error": nullable("string"),
        }),
    );
    json!({
        "Service": service,
        "ServiceList": object(&["services"], json!({ "services": { "type": "array", "items": r("Service") } })),
        "ServiceCreate": service_in(&["name", "duration_minutes"]),
        "ServicePatch": service_in(&[]),
        "StaffMember": staff,
        "StaffList": object(&["staff"], json!({ "staff": { "type": "array", "items": r("StaffMember") } })),
        "StaffWrite": object(&["name"], json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 200 },
            "service_ids": { "type": "array", "maxItems": 200, "items": { "type": "integer" } },
            "hours": hours, "business_id": nullable("integer"),
            "google_calendar_id": { "type": ["string", "null"], "maxLength": 254,
                "description": "Left out: kept; null: disconnected." },
        })),
        "Closure": object(&["id", "first_date", "last_date", "note"], json!({
            "id": { "type": "integer" }, "first_date": date, "last_date": date,
            "from": nullable("string"), "to": nullable("string"), "note": { "type": "string" },
        })),
        "ClosureList": object(&["closures"], json!({ "closures": { "type": "array", "items": r("Closure") } })),
        "ClosureCreate": object(&["first_date"], json!({
            "first_date": date, "last_date": date,
            "from": { "type": "string", "description": "Special hours' start (HH:MM); with `to`." },
            "to": { "type": "string", "description": "Special hours' end (HH:MM)." },
            "note": { "type": "string", "maxLength": 200 }, "business_id": nullable("integer"),
        })),
        "IcsFeed": object(&["staff_id", "url", "path"], json!({
            "staff_id": { "type": "integer" },
            "url": { "type": "string", "description": "The feed's secret URL (text/calendar)." },
            "path": { "type": "string" },
        })),
        "AppointmentSettings": object(&["location", "closed_on_holy_days", "slot_step_minutes"], json!({
            "location": { "type": "string", "enum": ["tel_aviv", "jerusalem"] },
            "closed_on_holy_days": { "type": "boolean" },
            "slot_step_minutes": { "type": "integer", "enum": [5, 10, 15, 20, 30, 60] },
            "hours": hours,
            "reminder_time": { "type": "string", "description": "The day-before WhatsApp reminder's time, HH:MM in Israel (default 18:00). Left out of a PUT, it and the fields below keep their values." },
            "reminders": { "type": "boolean", "description": "Whether the day-before reminder goes (default true)." },
            "confirm_template": { "type": ["string", "null"], "description": "Approved WhatsApp template (a Twilio Content SID HX…, or a Meta template name) for the confirmation and a move outside the 24-hour window; variables 1 name, 2 service, 3 day and time, 4 business. \"\" clears it." },
            "reminder_template": { "type": ["string", "null"], "description": "The same, for the reminder." },
            "cancel_template": { "type": ["string", "null"], "description": "The same, for a cancellation by staff." },
        })),
        "Appointment": appointment,
        "AppointmentList": object(&["appointments", "from", "to"], json!({
            "appointments": { "type": "array", "items": r("Appointment") }, "from": ts, "to": ts,
        })),
        "AppointmentCreate": object(&["service_id", "start"], json!({
            "service_id": { "type": "integer" }, "start": ts, "staff_id": nullable("integer"),
            "customer_id": nullable("integer"), "customer_name": nullable("string"),
            "customer_phone": nullable("string"), "notes": nullable("string"),
            "business_id": nullable("integer"),
        })),
        "AppointmentMove": object(&["start"], json!({
            "start": ts, "staff_id": nullable("integer"), "business_id": nullable("integer"),
        })),
        "Availability": object(&["service", "slots"], json!({
            "service": { "oneOf": [{ "type": "null" }, object(&["id", "name", "duration_minutes"], json!({
                "id": { "type": "integer" }, "name": { "type": "string" },
                "duration_minutes": { "type": "integer" },
            }))]},
            "slots": { "type": "array", "items": object(&["start", "end", "staff_id"], json!({
                "start": ts, "end": ts, "staff_id": { "type": "integer" },
                "staff_name": nullable("string"),
            }))},
            "google_calendar": { "type": ["string", "null"], "enum": ["ok", "unavailable", null],
                "description": "Whether connected Google Calendars' busy times were counted \
                    (`unavailable`: Google was down or slow, only our own bookings count)." },
        })),
    })
}

fn notify_schemas() -> Value {
    let events = json!({ "type": "array", "items": { "type": "string",
        "enum": ["call.summarised", "call.urgent", "appointment.booked", "appointment.cancelled"] } });
    let hhmm = json!({ "type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$" });
    let quiet = json!({ "oneOf": [
        object(&["from", "to"], json!({ "from": hhmm, "to": hhmm })),
        { "type": "null" },
    ], "description": "Daily quiet hours in Israel's time; `to` before `from` wraps midnight." });
    json!({
        "NotificationPrefs": object(&["user_id", "email", "is_default", "events", "email_on",
            "whatsapp_on", "shabbat_quiet"], json!({
            "user_id": { "type": "integer" },
            "email": { "type": "string", "description": "Where e-mail goes: the sign-in address." },
            "is_default": { "type": "boolean",
                "description": "Nothing chosen yet: an owner's default is call.summarised and \
                    call.urgent by e-mail, an agent's nothing." },
            "events": events, "email_on": { "type": "boolean" },
            "whatsapp_on": { "type": "boolean" },
            "whatsapp_phone": { "type": ["string", "null"], "description": "E.164." },
            "quiet_hours": quiet, "shabbat_quiet": { "type": "boolean" },
            "updated_at": nullable("integer"),
        })),
        "NotificationPrefsUpdate": object(&[], json!({
            "events": events, "email_on": { "type": "boolean" },
            "whatsapp_on": { "type": "boolean",
                "description": "Needs `whatsapp_phone` (here or stored)." },
            "whatsapp_phone": { "type": ["string", "null"],
                "description": "The user's own phone, any Israeli or E.164 form." },
            "quiet_hours": quiet, "shabbat_quiet": { "type": "boolean" },
        })),
    })
}

fn jobs_schemas() -> Value {
    let state =
        json!({ "type": "string", "enum": ["queued", "running", "waiting", "done", "dead"] });
    json!({
        "Job": object(&["id", "kind", "payload", "state", "attempts", "max_attempts",
            "run_after", "created_at", "updated_at"], json!({
            "id": { "type": "integer" },
            "kind": { "type": "string", "description": "fetch_recording, transcribe, summarise…" },
            "payload": { "type": "object", "description": "The job's input, e.g. {\"call_sid\": …}." },
            "state": state, "attempts": { "type": "integer" }, "max_attempts": { "type": "integer" },
            "run_after": { "type": "integer", "description": "Epoch ms; not claimed before." },
            "last_error": nullable("string"), "lease_until": nullable("integer"),
            "locked_by": nullable("string"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        })),
        "JobList": object(&["jobs"], json!({ "jobs": { "type": "array", "items": r("Job") } })),
    })
}

fn whatsapp_schemas() -> Value {
    let direction = json!({ "type": "string", "enum": ["in", "out"] });
    json!({
        "WhatsappSend": object(&[], json!({
            "business_id": { "type": ["integer", "null"],
                "description": "Required for operators (here or as the query parameter)." },
            "customer_id": { "type": "integer", "description": "The customer; or give `to`." },
            "to": { "type": "string", "description": "A phone number; or give `customer_id`." },
            "body": { "type": "string", "minLength": 1, "maxLength": 4096,
                "description": "Free-form text; or give `template`." },
            "template": object(&["content_sid"], json!({
                "content_sid": { "type": "string",
                    "description": "Twilio Content SID (HX…) or the Meta template's name." },
                "variables": { "oneOf": [
                    { "type": "object", "additionalProperties": { "type": "string" } },
                    { "type": "array", "items": { "type": "string" } },
                ]},
                "language": { "type": "string", "description": "e.g. he or en_US." },
            })),
        })),
        "WhatsappMessage": object(&["id", "provider", "direction", "media", "status",
            "created_at", "updated_at"], json!({
            "id": { "type": "integer" }, "business_id": nullable("integer"),
            "customer_id": nullable("integer"),
            "provider": { "type": "string", "enum": ["twilio", "meta", "baileys"] },
            "provider_message_id": nullable("string"), "direction": direction,
            "from": nullable("string"), "to": nullable("string"), "body": nullable("string"),
            "media": { "type": "array", "items": object(&["n", "url"], json!({
                "n": { "type": "integer" }, "content_type": nullable("string"),
                "filename": nullable("string"),
                "url": { "type": "string", "description": "/api/whatsapp/messages/{id}/media/{n}" },
            }))},
            "template": { "type": ["object", "null"] },
            "status": { "type": "string",
                "description": "received (in); queued, sending, sent, delivered, read, failed… (out)." },
            "error_code": nullable("string"), "error_message": nullable("string"),
            "profile_name": nullable("string"), "reply_to": nullable("string"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        })),
        "WhatsappThreadSummary": object(&["customer_id", "phone", "last_message_id",
            "last_direction", "last_status", "last_at", "messages"], json!({
            "customer_id": { "type": "integer" }, "name": nullable("string"),
            "phone": { "type": "string" }, "last_message_id": { "type": "integer" },
            "last_direction": direction, "last_body": nullable("string"),
            "last_status": { "type": "string" }, "last_at": { "type": "integer" },
            "messages": { "type": "integer" }, "last_inbound_at": nullable("integer"),
        })),
        "WhatsappThreadList": object(&["threads"], json!({
            "threads": { "type": "array", "items": r("WhatsappThreadSummary") },
        })),
        "WhatsappThread": object(&["customer", "window_open", "messages"], json!({
            "customer": object(&["id", "phone"], json!({
                "id": { "type": "integer" }, "name": nullable("string"),
                "phone": { "type": "string" }, "last_inbound_at": nullable("integer"),
            })),
            "window_open": { "type": "boolean",
                "description": "The customer wrote within 24 hours: free-form text may be sent." },
            "messages": { "type": "array", "items": r("WhatsappMessage") },
        })),
    })
}

/// The event types of signed webhooks (`crate::hooks::Event`).
fn webhook_events() -> Value {
    json!({ "type": "string", "enum": crate::hooks::Event::ALL.map(crate::hooks::Event::as_str) })
}

fn webhook_schemas() -> Value {
    let events = json!({ "oneOf": [
        { "type": "array", "items": webhook_events(), "minItems": 1 },
        { "type": "string", "description": "Comma-separated event types." },
    ]});
    let fields = json!({
        "url": { "type": "string", "minLength": 1, "maxLength": 2000,
            "description": "https:// (http:// only outside production); in production its \
                host must resolve to public addresses only." },
        "events": events,
        "description": { "type": ["string", "null"], "maxLength": 200 },
        "enabled": { "type": "boolean" },
    });
    let mut create_fields = fields.clone();
    create_fields["business_id"] = json!({ "type": ["integer", "null"],
        "description": "Optional; must be the business acted for." });
    let endpoint = object(
        &[
            "id",
            "business_id",
            "url",
            "events",
            "enabled",
            "created_at",
            "updated_at",
        ],
        json!({
            "id": { "type": "integer" }, "business_id": { "type": "integer" },
            "url": { "type": "string" }, "description": nullable("string"),
            "events": { "type": "array", "items": webhook_events() },
            "enabled": { "type": "boolean" },
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        }),
    );
    let mut created = endpoint.clone();
    created["required"] = json!([
        "id",
        "business_id",
        "url",
        "events",
        "enabled",
        "created_at",
        "updated_at",
        "secret"
    ]);
    created["properties"]["secret"] = json!({ "type": "string", "pattern": "^whsec_",
        "description": "The Standard Webhooks signing secret, shown only now." });
    let call_data = object(
        &["business_id", "call_id", "call_sid"],
        json!({
            "business_id": { "type": "integer" }, "call_id": { "type": "integer" },
            "call_sid": { "type": "string" }, "from": nullable("string"), "to": nullable("string"),
            "direction": { "type": "string" }, "status": { "type": "string" },
            "duration_secs": nullable("integer"), "customer_id": nullable("integer"),
            "summary": { "type": ["string", "null"], "description": "call.summarised only" },
            "caller_name": { "type": ["string", "null"], "description": "call.summarised only" },
            "caller_reason": { "type": ["string", "null"], "description": "call.summarised only" },
            "callback_time": { "type": ["string", "null"], "description": "call.summarised only" },
            "urgency": { "type": ["string", "null"], "description": "call.summarised only" },
            "transcription": { "type": ["string", "null"], "description": "call.summarised only" },
        }),
    );
    let lead_data = object(
        &["business_id", "lead_id", "phone"],
        json!({
            "business_id": { "type": "integer" }, "lead_id": { "type": "integer" },
            "name": nullable("string"), "phone": { "type": "string", "description": "E.164" },
            "email": nullable("string"), "status": { "type": "string" },
            "source": { "type": ["string", "null"], "description": "api, call, ui…" },
            "created_at": { "type": "integer" },
        }),
    );
    let whatsapp_data = object(
        &["business_id", "message_id", "from"],
        json!({
            "business_id": { "type": "integer" }, "message_id": { "type": "integer" },
            "customer_id": nullable("integer"), "provider": { "type": "string" },
            "provider_message_id": { "type": "string" }, "from": { "type": "string" },
            "to": nullable("string"), "body": nullable("string"),
            "media": { "type": "integer", "description": "How many attachments." },
            "profile_name": nullable("string"),
        }),
    );
    json!({
        "WebhookEndpoint": endpoint,
        "WebhookEndpointCreated": created,
        "WebhookEndpointList": object(&["endpoints"], json!({
            "endpoints": { "type": "array", "items": r("WebhookEndpoint") },
        })),
        "WebhookEndpointCreate": object(&["url", "events"], create_fields),
        "WebhookEndpointPatch": object(&[], fields),
        "WebhookEvent": object(&["type", "timestamp", "data"], json!({
            "type": webhook_events(),
            "timestamp": { "type": "string", "format": "date-time",
                "description": "When the event happened (RFC 3339, UTC)." },
            "data": { "anyOf": [r("WebhookCallData"), r("WebhookLeadData"),
                r("WebhookWhatsappData"), { "type": "object" }] },
        })),
        "WebhookCallData": call_data,
        "WebhookLeadData": lead_data,
        "WebhookWhatsappData": whatsapp_data,
        "WebhookDelivery": object(&["id", "endpoint_id", "event", "msg_id", "status",
            "attempts", "payload", "created_at", "updated_at"], json!({
            "id": { "type": "integer" }, "endpoint_id": { "type": "integer" },
            "event": webhook_events(),
            "msg_id": { "type": "string", "description": "The `webhook-id` header." },
            "status": { "type": "string", "enum": ["pending", "delivered", "failed"] },
            "attempts": { "type": "integer" },
            "last_status_code": nullable("integer"), "last_error": nullable("string"),
            "payload": r("WebhookEvent"),
            "delivered_at": nullable("integer"),
            "created_at": { "type": "integer" }, "updated_at": { "type": "integer" },
        })),
        "WebhookDeliveryList": object(&["deliveries"], json!({
            "deliveries": { "type": "array", "items": r("WebhookDelivery") },
        })),
    })
}

/// The signed requests the service sends (OpenAPI 3.1 `webhooks`), one per event type.
fn webhooks() -> Value {
    let mut out = Map::new();
    for event in crate::hooks::Event::ALL {
        let data = match event {
            crate::hooks::Event::CallCompleted | crate::hooks::Event::CallSummarised => {
                r("WebhookCallData")
            }
            crate::hooks::Event::LeadCreated => r("WebhookLeadData"),
            crate::hooks::Event::WhatsappReceived => r("WebhookWhatsappData"),
            _ => json!({ "type": "object", "description": "Reserved: not sent yet." }),
        };
        let header = |name: &str, desc: &str| {
            json!({ "name": name, "in": "header",
            "required": true, "description": desc, "schema": { "type": "string" } })
        };
        out.insert(event.as_str().to_string(), json!({ "post": {
            "summary": format!("`{}`, signed per the Standard Webhooks specification", event.as_str()),
            "parameters": [
                header("webhook-id", "The message id (`msg_…`): the same on every retry and resend."),
                header("webhook-timestamp", "Unix seconds of this attempt."),
                header("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of \
                    `{webhook-id}.{webhook-timestamp}.{body}` keyed with the base64-decoded \
                    part of the endpoint's `whsec_` secret."),
            ],
            "requestBody": { "required": true, "content": { "application/json": { "schema": {
                "allOf": [r("WebhookEvent"), { "type": "object", "properties": {
                    "type": { "const": event.as_str() }, "data": data } }],
            }}}},
            "responses": {
                "2XX": { "description": "Delivered." },
                "default": { "description": "408, 429 and 5xx are retried (eight attempts \
                    over about a day); any other 4xx is final." },
            },
        }}));
    }
    Value::Object(out)
}

/// The parameters in a path template (`{id}`, `{customer_id}`, `{n}`), in order.
pub fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn error_response(description: &str) -> Value {
    json!({ "description": description,
            "content": { "application/json": { "schema": r("Error") } } })
}

fn operation(op: &Op) -> Value {
    let mut params: Vec<Value> = Vec::new();
    for name in path_params(op.path) {
        let schema = match name {
            "n" => json!({ "type": "integer", "minimum": 0 }),
            _ => json!({ "type": "integer", "format": "int64" }),
        };
        params.push(json!({ "name": name, "in": "path", "required": true, "schema": schema }));
    }
    for (name, ty, desc) in op.query {
        let schema = match *name {
            "page" => json!({ "type": ty, "minimum": 1, "maximum": 1_000_000 }),
            "per_page" => json!({ "type": ty, "minimum": 1, "maximum": MAX_PER_PAGE }),
            _ => json!({ "type": ty }),
        };
        params.push(json!({ "name": name, "in": "query", "required": false,
                            "description": desc, "schema": schema }));
    }
    for (_, _, (name, ty, desc)) in HEADERS
        .iter()
        .filter(|(m, p, _)| *m == op.method && *p == op.path)
    {
        params.push(json!({ "name": name, "in": "header", "required": false,
                            "description": desc, "schema": { "type": ty } }));
    }
    let mut responses = Map::new();
    let ok = match op.res {
        Res::Json(code, schema) => (
            code,
            json!({ "description": "OK",
                    "content": { "application/json": { "schema": r(schema) } } }),
        ),
        Res::Empty(code) => (code, json!({ "description": "Done" })),
        Res::Csv => (
            200,
            json!({ "description": "CSV (UTF-8 with BOM)",
                    "content": { "text/csv": { "schema": { "type": "string" } } } }),
        ),
        Res::Wav => (
            200,
            json!({ "description": "WAV audio",
                    "content": { "audio/wav": { "schema": { "type": "string", "format": "binary" } } } }),
        ),
        Res::Media => (
            200,
            json!({ "description": "The attachment: a download (`application/octet-stream`), or \
                        inline when an image, audio or PDF type its bytes confirm; always \
                        `nosniff` and `Content-Security-Policy: sandbox`",
                    "content": { "*/*": { "schema": { "type": "string", "format": "binary" } } } }),
        ),
    };
    responses.insert(ok.0.to_string(), ok.1);
    let invalid = if op.path == "/api/whatsapp/send" {
        "Invalid field; or `template_required`: free-form text outside the 24-hour window"
    } else {
        "Invalid field"
    };
    let mut errors = vec![("400", "Malformed request"), ("422", invalid)];
    if matches!(op.req, Req::Json(..)) {
        errors.push(("415", "The body is not `application/json`"));
    }
    if op.access != Access::Public {
        errors.push((
            "401",
            "Not signed in, or the credential is expired, forged or revoked",
        ));
        errors.push((
            "403",
            "The caller's role may not do this (or CSRF proof is missing)",
        ));
    } else if op.path == "/api/auth/login" {
        errors.push(("401", "Wrong email or password"));
        errors.push(("429", "Too many attempts; see Retry-After"));
    }
    if op.resource.is_some() || op.query.iter().any(|(n, _, _)| *n == "business_id") {
        errors.push(("404", "No such object in the caller's business"));
    }
    match (op.method, op.path) {
        ("post", "/api/jobs/{id}/retry") => errors.push((
            "409",
            "The job is not dead (only a dead job can be retried)",
        )),
        ("post", "/api/whatsapp/send") => {}
        ("post", "/api/appointments") | ("patch", "/api/appointments/{id}") => errors.push((
            "409",
            "`slot_taken`: the time is another appointment's; `error.next_free` is the next \
             free time (or the appointment was cancelled)",
        )),
        ("post", "/api/webhooks/deliveries/{id}/resend") => errors.push((
            "409",
            "The delivery is still pending (its next attempt is scheduled)",
        )),
        ("post" | "patch", _) if op.access != Access::Public => errors.push((
            "409",
            "Conflicts with an existing object; `error.field` names the field (phone, \
             numbers, whatsapp_number, meta_phone_number_id, email)",
        )),
        _ => {}
    }
    match (op.method, op.path) {
        ("post", "/api/calls") => {
            errors.push(("503", "Twilio is not configured or refused the call"));
            errors.push((
                "404",
                "`business_id` names no business the caller may act for",
            ));
            errors.push((
                "403",
                "`destination_not_allowed`: outside the business's calling policy; or the role may not",
            ));
            errors.push((
                "429",
                "`call_quota_exceeded`: a call quota is used up; see Retry-After",
            ));
        }
        ("post", "/api/whatsapp/send") => {
            errors.push(("503", "WhatsApp is not configured (WHATSAPP_PROVIDER)"))
        }
        ("get", "/api/whatsapp/messages/{id}/media/{n}") => {
            errors.push(("503", "The provider did not give the media"))
        }
        _ => {}
    }
    for (code, desc) in errors {
        responses.insert(code.to_string(), error_response(desc));
    }
    let mut o = json!({
        "operationId": format!("{}_{}", op.method,
            op.path.trim_start_matches("/api/").replace(['/', '.'], "_").replace(['{', '}'], "")),
        "summary": op.summary,
        "tags": [op.tag],
        "parameters": params,
        "responses": responses,
        "x-mokdan-access": op.access.name(),
    });
    if let Some(res) = op.resource {
        o["x-mokdan-resource"] = json!(res);
    }
    if op.access == Access::Public {
        o["security"] = json!([]);
    }
    match op.req {
        Req::None => {}
        Req::Json(schema, example) => {
            let example: Value = serde_json::from_str(example).expect("examples are JSON");
            o["requestBody"] = json!({ "required": true, "content": { "application/json": {
                "schema": r(schema), "example": example } } });
        }
        Req::Csv => {
            o["requestBody"] = json!({ "required": true, "content": { "text/csv": {
                "schema": { "type": "string" },
                "example": "name,phone,email,status,tags,notes\r\nדנה כהן,050-1234567,,new,,\r\n" } } });
        }
    }
    o
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let entry = paths
            .entry(op.path.to_string())
            .or_insert_with(|| json!({}));
        entry[op.method] = operation(op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mokdan API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The CRM API of mokdan, a Hebrew AI phone receptionist. Every \
                error answers {\"error\":{\"code\",\"message\"}}. Sign in with POST \
                /api/auth/login; send the JWT as `Authorization: Bearer …`, or an API token \
                (`Bearer mk_…`), or use the session cookie with `X-CSRF-Token` on writes.",
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }, { "session": [] }],
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "JWT or mk_ API token" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE },
            },
            "schemas": schemas(),
        },
    })
}
