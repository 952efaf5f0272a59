//! HTTP plumbing shared by the features: Twilio's signed webhook requests (the extractor
//! every Twilio-facing route takes) and the layer that makes every `/api` error JSON.

pub mod json_errors;
pub mod twilio;
