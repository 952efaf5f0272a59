//! Agents that need no language model: the scripted intake receptionist, which is what a
//! business gets before (or instead of) configuring an LLM, plus the small Hebrew
//! understanding it relies on (yes / no / "say that again").

pub mod intent;
pub mod scripted;

pub use scripted::ScriptedAgent;
