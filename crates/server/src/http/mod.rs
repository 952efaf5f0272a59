//! HTTP plumbing shared by the features: the server loop with its header and body
//! deadlines, Twilio's signed webhook requests (the extractor every Twilio-facing route
//! takes) and the layer that makes every `/api` error JSON.

pub mod body_deadline;
pub mod json_errors;
pub mod serve;
pub mod twilio;
