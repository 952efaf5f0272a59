//! The media WebSocket `/ws/twilio-media`: where the live conversation happens (V5–V9, S3).
//!
//! The seeds' production calls died here: the greeting played, then silence. So the socket
//! is strict about Twilio's protocol (nothing before `start`, only `media`/`mark`/`clear`,
//! always with the `streamSid` from `start`), proves each stream belongs to a call we
//! answered (per-call token), feeds the watchdog every frame, and never lets a stranger
//! reach the agent.

pub mod routes;
pub mod sender;
pub mod socket;
