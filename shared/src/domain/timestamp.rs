//! Timestamps: UTC, millisecond precision, one fixed-width text form everywhere.
//!
//! `2026-11-22T05:04:03.120Z` sorts as text in time order, which storage keys rely on.

use std::fmt;

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(OffsetDateTime::now_utc())
    }

    /// Truncates to milliseconds and converts to UTC.
    pub fn from_datetime(t: OffsetDateTime) -> Self {
        let t = t.to_offset(time::UtcOffset::UTC);
        let ms = t.millisecond();
        Self(
            t.replace_nanosecond(u32::from(ms) * 1_000_000)
                .expect("valid nanosecond"),
        )
    }

    pub fn from_unix_seconds(s: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp(s).ok().map(Self)
    }

    pub fn parse(s: &str) -> Result<Self, time::error::Parse> {
        PrimitiveDateTime::parse(s, FORMAT).map(|p| Self(p.assume_utc()))
    }

    pub fn unix_seconds(&self) -> i64 {
        self.0.unix_timestamp()
    }

    /// Milliseconds since the Unix epoch (the timestamp's whole precision).
    pub fn unix_millis(&self) -> i64 {
        i64::try_from(self.0.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    pub fn datetime(&self) -> OffsetDateTime {
        self.0
    }

    pub fn plus(&self, d: time::Duration) -> Self {
        Self(self.0 + d)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0.format(FORMAT).map_err(|_| fmt::Error)?;
        f.write_str(&s)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses the text form [`Timestamp`] writes (as [`Timestamp::parse`]).
impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

text_schema!(
    Timestamp,
    "Timestamp",
    "An RFC 3339 UTC time.",
    format = DateTime
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips_and_sorts() {
        let a = Timestamp::parse("2026-11-22T05:04:03.120Z").unwrap();
        assert_eq!(a.to_string(), "2026-11-22T05:04:03.120Z");
        let b = a.plus(time::Duration::milliseconds(5));
        assert!(a.to_string() < b.to_string());
        let now = Timestamp::now();
        assert_eq!(Timestamp::parse(&now.to_string()).unwrap(), now);
    }
}
