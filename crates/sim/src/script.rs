//! The caller: what they say, when they press keys, when they hang up, and how they
//! misbehave.
//!
//! Real callers talk over the agent, hang up mid-sentence and sit on calls whose media
//! has died; the server's barge-in, watchdog and fallback paths only get exercised if
//! the simulated caller can do the same on purpose.

use std::time::Duration;

/// One thing the caller does, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Speak text with espeak-ng in `voice` (`he` unless said otherwise). With
    /// `cut_after`, hang up that far into the sentence.
    Say {
        text: String,
        voice: String,
        cut_after: Option<Duration>,
    },
    /// Speak a WAV file (any rate or channel count; resampled to 8 kHz).
    Wav { bytes: Vec<u8> },
    /// Say nothing for a while (silence frames keep flowing).
    Silence { dur: Duration },
    /// Press a key (sent as a `dtmf` event).
    Dtmf { digit: char },
    /// Wait until the agent has spoken and then been quiet for ~700 ms, or `max`.
    WaitForAgent { max: Duration },
    /// Wait until the agent has been talking for `into` (since the caller's last turn)
    /// with more still to play, or `max`: the next `Say` then talks over it, a barge-in
    /// that lands mid-reply however long the agent took to start.
    WaitForAgentSpeech { into: Duration, max: Duration },
    /// Hang up.
    HangUp,
}

/// A whole caller. Steps that are not preceded by `WaitForAgent` start at once, which
/// is how a barge-in is scripted.
#[derive(Debug, Clone, PartialEq)]
pub struct CallerScript {
    pub steps: Vec<Step>,
    /// The media WebSocket is never opened (Twilio's side of the stream dies).
    pub never_connect_socket: bool,
    /// Media frames stop this long after `start`; the socket stays open.
    pub stop_media_after: Option<Duration>,
    /// The TCP connection of the media socket is dropped this long after `start`, with
    /// no `stop` and no close handshake (a network cut); Twilio then goes on to the
    /// `<Connect action>`.
    pub cut_socket_after: Option<Duration>,
    /// The caller hangs up after this long whatever happens (a safety net for
    /// scripts that end without `HangUp` on a server that never ends the call).
    pub max_duration: Duration,
}

impl Default for CallerScript {
    fn default() -> Self {
        Self {
            steps: Vec::new(),
            never_connect_socket: false,
            stop_media_after: None,
            cut_socket_after: None,
            max_duration: Duration::from_secs(300),
        }
    }
}

impl CallerScript {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn step(mut self, step: Step) -> Self {
        self.steps.push(step);
        self
    }

    pub fn say(self, text: impl Into<String>) -> Self {
        self.say_in("he", text)
    }

    /// Says `text` in another espeak-ng voice, e.g. `en` for an English caller.
    pub fn say_in(self, voice: impl Into<String>, text: impl Into<String>) -> Self {
        self.step(Step::Say {
            text: text.into(),
            voice: voice.into(),
            cut_after: None,
        })
    }

    /// Says the start of `text` and hangs up `cut_after` into it.
    pub fn say_and_hang_up_after(self, text: impl Into<String>, cut_after: Duration) -> Self {
        self.step(Step::Say {
            text: text.into(),
            voice: "he".into(),
            cut_after: Some(cut_after),
        })
    }

    pub fn wav(self, bytes: Vec<u8>) -> Self {
        self.step(Step::Wav { bytes })
    }

    pub fn silence(self, dur: Duration) -> Self {
        self.step(Step::Silence { dur })
    }

    pub fn dtmf(self, digit: char) -> Self {
        self.step(Step::Dtmf { digit })
    }

    pub fn wait_for_agent(self, max: Duration) -> Self {
        self.step(Step::WaitForAgent { max })
    }

    /// Waits until the agent is `into` its reply and still talking (see
    /// [`Step::WaitForAgentSpeech`]).
    pub fn wait_for_agent_speech(self, into: Duration, max: Duration) -> Self {
        self.step(Step::WaitForAgentSpeech { into, max })
    }

    pub fn hang_up(self) -> Self {
        self.step(Step::HangUp)
    }

    pub fn never_connect_socket(mut self) -> Self {
        self.never_connect_socket = true;
        self
    }

    pub fn stop_media_after(mut self, after: Duration) -> Self {
        self.stop_media_after = Some(after);
        self
    }

    pub fn cut_socket_after(mut self, after: Duration) -> Self {
        self.cut_socket_after = Some(after);
        self
    }

    pub fn max_duration(mut self, max: Duration) -> Self {
        self.max_duration = max;
        self
    }

    /// The callee of an outbound call when nobody set one: listens to the agent,
    /// stays on the line a moment, then hangs up.
    pub fn default_callee() -> Self {
        Self::new()
            .wait_for_agent(Duration::from_secs(15))
            .silence(Duration::from_secs(1))
            .hang_up()
    }
}
