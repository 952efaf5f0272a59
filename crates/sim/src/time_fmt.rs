//! Dates as Twilio writes them: RFC 2822 in REST JSON and callbacks' `Timestamp`.

use std::time::SystemTime;

use jiff::Timestamp;

/// `Tue, 10 Aug 2010 08:02:17 +0000`.
pub(crate) fn rfc2822(t: SystemTime) -> String {
    let t = Timestamp::try_from(t)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned_datetime(jiff::tz::TimeZone::UTC);
    t.strftime("%a, %d %b %Y %H:%M:%S +0000").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc2822(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let t = UNIX_EPOCH + Duration::from_secs(1_281_427_337);
        assert_eq!(rfc2822(t), "Tue, 10 Aug 2010 08:02:17 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc2822(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
