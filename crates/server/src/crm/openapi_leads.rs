//! The OpenAPI schemas of leads for daily work (#20): deleted leads and their restore,
//! merging, bulk status, follow-ups, tasks and saved filters. Apart from `openapi.rs` so
//! that file's one `json!` stays within the macro's recursion limit.

use serde_json::{Value, json};

use super::openapi::{nullable, object, r};

pub fn schemas() -> Value {
    let status =
        json!({ "type": "string", "enum": ["new", "contacted", "qualified", "won", "lost"] });
    json!({
        "CustomerList": object(&["items"], json!({ "items": { "type": "array", "items": r("Customer") } })),
        "CustomerMerge": object(&[], json!({
            "from_id": { "type": "integer", "description": "The lead merged in (removed)." },
            "from_phone": { "type": "string", "description": "Or that lead's phone number." },
        })),
        "CustomerMerged": object(&["customer", "moved"], json!({
            "customer": r("Customer"),
            "moved": object(&["calls", "messages", "notes", "appointments", "tasks"], json!({
                "calls": { "type": "integer" }, "messages": { "type": "integer" },
                "notes": { "type": "integer" }, "appointments": { "type": "integer" },
                "tasks": { "type": "integer" },
            })),
        })),
        "BulkStatus": object(&["ids", "status"], json!({
            "ids": { "type": "array", "items": { "type": "integer" }, "minItems": 1, "maxItems": 500 },
            "status": status,
        })),
        "BulkStatusResult": object(&["changed"], json!({ "changed": { "type": "integer" } })),
        "FollowUp": object(&[], json!({
            "follow_up_at": { "type": ["string", "null"],
                "description": "RFC 3339, or Israel's wall clock (2027-01-03T09:00)." },
            "assignee_user_id": nullable("integer"),
        })),
        "Task": object(&["id", "customer_id", "title", "created_at"], json!({
            "id": { "type": "integer" }, "customer_id": { "type": "integer" },
            "assignee_user_id": nullable("integer"), "title": { "type": "string" },
            "due_at": nullable("integer"), "done_at": nullable("integer"),
            "created_at": { "type": "integer" },
        })),
        "TaskList": object(&["items"], json!({ "items": { "type": "array", "items": r("Task") } })),
        "TaskCreate": object(&["title"], json!({
            "title": { "type": "string", "minLength": 1, "maxLength": 300 },
            "due_at": { "type": ["string", "null"] }, "assignee_user_id": nullable("integer"),
        })),
        "TaskDone": object(&[], json!({ "done": { "type": "boolean" } })),
        "MyTasks": object(&["until", "tasks", "follow_ups"], json!({
            "until": { "type": "integer" },
            "tasks": { "type": "array", "items": object(&["task"], json!({
                "task": r("Task"), "lead_name": nullable("string"), "lead_phone": { "type": "string" },
            }))},
            "follow_ups": { "type": "array", "items": r("Customer") },
        })),
        "SavedFilter": object(&["id", "name", "query"], json!({
            "id": { "type": "integer" }, "name": { "type": "string" }, "query": { "type": "string" },
        })),
        "SavedFilterList": object(&["items"], json!({ "items": { "type": "array", "items": r("SavedFilter") } })),
        "SavedFilterSave": object(&["name", "query"], json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 60 },
            "query": { "type": "string", "maxLength": 1000 },
        })),
    })
}
