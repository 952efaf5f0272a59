//! How the simulated Twilio behaves: whose account it is and how fast time runs.
//!
//! Tests want calls that finish in a second; a person listening to `mokdan sim call`
//! wants real time. `speed` shortens what Twilio itself times (Play, Pause, Record and
//! the caller's script around them) while the media stream keeps Twilio's real 20 ms
//! pace unless `fast_media` is set, because the server's pacing is what we measure.

use std::fmt;
use std::time::Duration;

use audio::frame::FRAME_DURATION;

/// Settings for a [`crate::Sim`].
#[derive(Clone)]
pub struct SimConfig {
    /// The account the REST API accepts (`AC` + 32 hex).
    pub account_sid: String,
    /// Signs webhooks and checks the REST API's Basic auth.
    pub auth_token: String,
    /// 1.0 is real time; 4.0 plays Play/Pause/Record four times faster.
    pub speed: f64,
    /// Also accelerate the media stream's 20 ms frames by `speed`.
    pub fast_media: bool,
}

impl SimConfig {
    pub fn new(account_sid: impl Into<String>, auth_token: impl Into<String>) -> Self {
        Self {
            account_sid: account_sid.into(),
            auth_token: auth_token.into(),
            speed: 1.0,
            fast_media: false,
        }
    }

    pub fn speed(mut self, speed: f64) -> Self {
        self.speed = speed;
        self
    }

    pub fn fast_media(mut self, fast: bool) -> Self {
        self.fast_media = fast;
        self
    }

    fn factor(&self) -> f64 {
        if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        }
    }

    /// A call-time duration as wall-clock time at this speed.
    pub(crate) fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.factor())
    }

    /// The wall-clock period of one 20 ms frame outside the media stream.
    pub(crate) fn verb_frame(&self) -> Duration {
        self.scaled(FRAME_DURATION)
    }

    /// The wall-clock period of one media frame on the stream.
    pub(crate) fn media_frame(&self) -> Duration {
        if self.fast_media {
            self.scaled(FRAME_DURATION)
        } else {
            FRAME_DURATION
        }
    }
}

impl Default for SimConfig {
    /// A fixed test account: `AC` + 32 zeros, token `sim-auth-token`.
    fn default() -> Self {
        Self::new(format!("AC{}", "0".repeat(32)), "sim-auth-token")
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("speed", &self.speed)
            .field("fast_media", &self.fast_media)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_and_media_pace() {
        let cfg = SimConfig::default().speed(4.0);
        assert_eq!(cfg.scaled(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(cfg.verb_frame(), Duration::from_millis(5));
        assert_eq!(cfg.media_frame(), Duration::from_millis(20));
        assert_eq!(
            cfg.clone().fast_media(true).media_frame(),
            Duration::from_millis(5)
        );
        assert_eq!(
            SimConfig::default()
                .speed(0.0)
                .scaled(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        assert!(!format!("{cfg:?}").contains("sim-auth-token"));
    }
}
