//! Which field a unique violation clashed on, so a refusal can say what to change (#17).
//!
//! PostgreSQL names the constraint or unique index that refused a write; SQLite names the
//! columns in its message (`UNIQUE constraint failed: table.column[, table.column]`). One
//! table below holds every unique constraint and unique index the migrations create, under
//! both names, with the field a client knows the value by. A violation raised by a trigger
//! (the number claims of migration 0012) names no constraint, and so no field.

/// Every unique constraint and unique index of the schema: (PostgreSQL name, the columns
/// SQLite reports, the field). Row ids are generated and never clash, so they are left out.
const UNIQUE: &[(&str, &str, &str)] = &[
    ("users_email_key", "users.email", "email"),
    (
        "business_numbers_pkey",
        "business_numbers.number",
        "numbers",
    ),
    (
        "businesses_whatsapp_number",
        "businesses.whatsapp_number",
        "whatsapp_number",
    ),
    (
        "businesses_meta_phone_number_id",
        "businesses.meta_phone_number_id",
        "meta_phone_number_id",
    ),
    (
        "customers_business_id_phone_key",
        "customers.business_id, customers.phone",
        "phone",
    ),
    ("call_logs_call_sid_key", "call_logs.call_sid", "call_sid"),
    ("call_watch_pkey", "call_watch.call_sid", "call_sid"),
    (
        "call_turns_call_sid_turn_index_key",
        "call_turns.call_sid, call_turns.turn_index",
        "turn_index",
    ),
    ("tts_prompts_pkey", "tts_prompts.name", "name"),
    (
        "jobs_idempotency_key_key",
        "jobs.idempotency_key",
        "idempotency_key",
    ),
    (
        "sessions_token_hash_key",
        "sessions.token_hash",
        "token_hash",
    ),
    (
        "api_tokens_token_hash_key",
        "api_tokens.token_hash",
        "token_hash",
    ),
    (
        "whatsapp_messages_provider_provider_message_id_key",
        "whatsapp_messages.provider, whatsapp_messages.provider_message_id",
        "provider_message_id",
    ),
    (
        "whatsapp_messages_idempotency_key_key",
        "whatsapp_messages.idempotency_key",
        "idempotency_key",
    ),
    (
        "call_policies_pkey",
        "call_policies.business_id",
        "business_id",
    ),
];

/// The start of every SQLite unique violation (and of the claim triggers' messages).
const SQLITE_PREFIX: &str = "UNIQUE constraint failed: ";

/// The field a unique violation clashed on; `None` when the error is no unique violation or
/// the constraint is not one the schema declares.
pub fn unique_field(e: &sqlx::Error) -> Option<&'static str> {
    if !super::is_unique_violation(e) {
        return None;
    }
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    match db.constraint() {
        Some(name) => by_name(name),
        None => sqlite_field(db.message()),
    }
}

fn by_name(name: &str) -> Option<&'static str> {
    UNIQUE.iter().find(|c| c.0 == name).map(|c| c.2)
}

/// The field of a SQLite message: the columns it lists, or an index it names
/// (`index 'name'`, for indexes on expressions).
fn sqlite_field(message: &str) -> Option<&'static str> {
    let rest = message.strip_prefix(SQLITE_PREFIX)?.trim();
    if let Some(index) = rest
        .strip_prefix("index '")
        .and_then(|r| r.strip_suffix('\''))
    {
        return by_name(index);
    }
    UNIQUE.iter().find(|c| c.1 == rest).map(|c| c.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_messages_name_their_field() {
        for (message, field) in [
            ("UNIQUE constraint failed: users.email", Some("email")),
            (
                "UNIQUE constraint failed: customers.business_id, customers.phone",
                Some("phone"),
            ),
            (
                "UNIQUE constraint failed: business_numbers.number",
                Some("numbers"),
            ),
            (
                "UNIQUE constraint failed: businesses.whatsapp_number",
                Some("whatsapp_number"),
            ),
            (
                "UNIQUE constraint failed: businesses.meta_phone_number_id",
                Some("meta_phone_number_id"),
            ),
            (
                "UNIQUE constraint failed: index 'businesses_whatsapp_number'",
                Some("whatsapp_number"),
            ),
            // The claim triggers name no column; unknown tables name no field.
            (
                "UNIQUE constraint failed: the number belongs to another business",
                None,
            ),
            ("UNIQUE constraint failed: things.thing", None),
            ("UNIQUE constraint failed: customers.phone", None),
            ("NOT NULL constraint failed: users.email", None),
            ("", None),
        ] {
            assert_eq!(sqlite_field(message), field, "{message}");
        }
    }

    #[test]
    fn postgres_names_map_to_fields() {
        assert_eq!(by_name("users_email_key"), Some("email"));
        assert_eq!(by_name("business_numbers_pkey"), Some("numbers"));
        assert_eq!(by_name("customers_business_id_phone_key"), Some("phone"));
        assert_eq!(by_name("customers_pkey"), None);
    }

    #[test]
    fn every_constraint_is_listed_once() {
        for (i, c) in UNIQUE.iter().enumerate() {
            assert!(
                UNIQUE[i + 1..].iter().all(|o| o.0 != c.0 && o.1 != c.1),
                "{c:?} twice"
            );
        }
    }
}
