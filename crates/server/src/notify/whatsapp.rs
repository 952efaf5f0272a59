//! WhatsApp notifications (#22) to the user's own phone, through the configured provider
//! and from the business's own WhatsApp number, as the CRM's sends choose it
//! (`whatsapp::api::twilio_sender`, `whatsapp::meta::sender_id`).
//!
//! A user is not a customer of the business, so the message is not filed in the customers'
//! conversations: it is handed straight to the provider's send and the job records the
//! outcome. Meta delivers business-initiated messages only as approved templates, so with
//! Meta `NOTIFY_WHATSAPP_TEMPLATE` (the template's name) is required; with Twilio a Content
//! SID there is used, else plain text (the sandbox and a user who wrote within 24 hours);
//! the Baileys bridge sends plain text. Template variables: 1 the caller, 2 what they
//! wanted, 3 the link to the call.

use super::message::Note;
use super::prefs::Prefs;
use super::state::NotifyState;
use super::{JobError, Sent};
use crate::config::{Settings, WhatsappProvider};
use crate::store::{businesses, now_ms};
use crate::whatsapp::send::Template;

/// The provider notifications go through, or why none can be used.
pub fn configured(settings: &Settings) -> Result<WhatsappProvider, String> {
    let provider = settings.whatsapp_provider.ok_or_else(|| {
        "no WHATSAPP_PROVIDER configured: WhatsApp notifications wait until it is set".to_string()
    })?;
    if provider == WhatsappProvider::Meta && settings.notify_whatsapp_template.is_none() {
        return Err(
            "no NOTIFY_WHATSAPP_TEMPLATE configured: Meta sends notifications only as an \
             approved template"
                .into(),
        );
    }
    Ok(provider)
}

/// Hands one notification to the provider.
pub async fn send(
    state: &NotifyState,
    business_id: i64,
    prefs: &Prefs,
    note: &Note,
) -> Result<Sent, JobError> {
    let provider = match configured(&state.settings) {
        Ok(p) => p,
        Err(why) => return Ok(Sent::NotConfigured(why)),
    };
    let to = prefs
        .whatsapp_phone
        .clone()
        .ok_or_else(|| JobError::permanent("the user has no WhatsApp phone"))?;
    let business = businesses::get(&state.db, business_id)
        .await?
        .ok_or_else(|| JobError::permanent("the business is gone"))?;
    let wa = &state.wa;
    let from_number = match provider {
        WhatsappProvider::Twilio => Some(
            crate::whatsapp::api::twilio_sender(wa, &business)
                .await?
                .ok_or_else(|| {
                    JobError::permanent(
                        "no WhatsApp sender: set the business's whatsapp_number \
                         (TWILIO_WHATSAPP_FROM is unset or another business's number)",
                    )
                })?,
        ),
        WhatsappProvider::Meta | WhatsappProvider::Baileys => business.whatsapp_number.clone(),
    };
    let template = match (provider, &state.settings.notify_whatsapp_template) {
        (WhatsappProvider::Baileys, _) | (_, None) => None,
        (_, Some(name)) => Some(Template {
            content_sid: name.clone(),
            variables: note.template_variables(),
            language: None,
        }),
    };
    let now = now_ms();
    let msg = crate::store::whatsapp::Message {
        id: 0,
        business_id: Some(business_id),
        customer_id: None,
        provider: crate::whatsapp::provider_name(provider).to_string(),
        provider_message_id: None,
        direction: "out".into(),
        from_number,
        to_number: Some(to),
        body: template.is_none().then(|| note.whatsapp_text()),
        media: None,
        template: template.and_then(|t| serde_json::to_string(&t).ok()),
        status: "queued".into(),
        status_rank: 0,
        error_code: None,
        error_message: None,
        attempts: 0,
        status_callback: None,
        idempotency_key: None,
        profile_name: None,
        reply_to: None,
        created_at: now,
        updated_at: now,
    };
    let result = match provider {
        WhatsappProvider::Twilio => crate::whatsapp::twilio::send(wa, &msg).await,
        WhatsappProvider::Meta => crate::whatsapp::meta::send(wa, &msg).await,
        WhatsappProvider::Baileys => crate::whatsapp::baileys::send(wa, &msg).await,
    };
    match result {
        Ok(accepted) => Ok(Sent::Done(accepted.provider_message_id)),
        Err(e) if e.retryable => Err(JobError::retry(format!("WhatsApp: {}", e.message))),
        Err(e) => Err(JobError::permanent(format!("WhatsApp: {}", e.message))),
    }
}
