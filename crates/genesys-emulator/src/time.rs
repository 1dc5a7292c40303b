//! Times: the fixture's relative times (`now-40d+7m`), the wire format
//! (`yyyy-MM-ddTHH:mm:ss.mmmZ`), ISO-8601 durations and intervals (`start/end`).

use chrono::{DateTime, Months, NaiveDate, NaiveDateTime, TimeDelta, Utc};

/// A time that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("invalid time {0:?}: expected RFC 3339 or now[+-]<n><d|h|m|s>...")]
    Time(String),
    #[error("invalid ISO-8601 duration {0:?}")]
    Duration(String),
    #[error("invalid ISO-8601 interval {0:?}: expected <start>/<end>")]
    Interval(String),
}

/// Renders a time the way Genesys does: UTC, milliseconds, `Z`.
pub fn format(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Resolves a fixture time: RFC 3339, or `now` followed by signed offsets such as `-40d+7m`
/// or `-2h30m` (units `d`, `h`, `m`, `s`), relative to `epoch` (when the emulator started).
pub fn resolve(text: &str, epoch: DateTime<Utc>) -> Result<DateTime<Utc>, TimeError> {
    let text = text.trim();
    let bad = || TimeError::Time(text.to_owned());
    let Some(mut rest) = text.strip_prefix("now") else {
        return parse_absolute(text).ok_or_else(bad);
    };
    let mut time = epoch;
    while !rest.is_empty() {
        let negative = match rest.as_bytes()[0] {
            b'+' => false,
            b'-' => true,
            _ => return Err(bad()),
        };
        rest = &rest[1..];
        let end = rest.find(['+', '-']).unwrap_or(rest.len());
        let (term, tail) = rest.split_at(end);
        let delta = parse_offset(term).ok_or_else(bad)?;
        time = if negative { time - delta } else { time + delta };
        rest = tail;
    }
    Ok(time)
}

/// `2h30m` → 2.5 hours. At least one `<digits><unit>` group.
fn parse_offset(term: &str) -> Option<TimeDelta> {
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    let mut groups = 0;
    for c in term.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        total += match c {
            'd' => TimeDelta::try_days(n)?,
            'h' => TimeDelta::try_hours(n)?,
            'm' => TimeDelta::try_minutes(n)?,
            's' => TimeDelta::try_seconds(n)?,
            _ => return None,
        };
        groups += 1;
    }
    (digits.is_empty() && groups > 0).then_some(total)
}

/// RFC 3339, or a local-less ISO date-time (taken as UTC), or a plain date (midnight UTC).
pub fn parse_absolute(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// An ISO-8601 duration (`P1D`, `PT15M`, `P1Y2M`, `P2W`): calendar months plus an exact span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoDuration {
    pub months: u32,
    pub exact: TimeDelta,
}

impl IsoDuration {
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::Duration(text.to_owned());
        let body = text.strip_prefix('P').ok_or_else(bad)?;
        let (date, time) = match body.split_once('T') {
            Some((d, t)) if !t.is_empty() => (d, Some(t)),
            Some(_) => return Err(bad()),
            None => (body, None),
        };
        let mut months = 0u32;
        let mut exact = TimeDelta::zero();
        let mut seen = false;
        for (n, unit) in designators(date).ok_or_else(bad)? {
            let whole = whole(n).ok_or_else(bad)?;
            match unit {
                'Y' => months += u32::try_from(whole * 12).map_err(|_| bad())?,
                'M' => months += u32::try_from(whole).map_err(|_| bad())?,
                'W' => exact += TimeDelta::try_weeks(whole).ok_or_else(bad)?,
                'D' => exact += TimeDelta::try_days(whole).ok_or_else(bad)?,
                _ => return Err(bad()),
            }
            seen = true;
        }
        for (n, unit) in designators(time.unwrap_or("")).ok_or_else(bad)? {
            exact += match unit {
                'H' => TimeDelta::try_hours(whole(n).ok_or_else(bad)?).ok_or_else(bad)?,
                'M' => TimeDelta::try_minutes(whole(n).ok_or_else(bad)?).ok_or_else(bad)?,
                #[allow(clippy::cast_possible_truncation)]
                'S' => TimeDelta::try_milliseconds((n * 1000.0).round() as i64).ok_or_else(bad)?,
                _ => return Err(bad()),
            };
            seen = true;
        }
        if !seen || (months == 0 && exact <= TimeDelta::zero()) {
            return Err(bad());
        }
        Ok(Self { months, exact })
    }

    pub fn add_to(self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        time.checked_add_months(Months::new(self.months))?
            .checked_add_signed(self.exact)
    }

    pub fn sub_from(self, time: DateTime<Utc>) -> Option<DateTime<Utc>> {
        time.checked_sub_months(Months::new(self.months))?
            .checked_sub_signed(self.exact)
    }
}

fn whole(n: f64) -> Option<i64> {
    #[allow(clippy::cast_possible_truncation)]
    (n.fract() == 0.0 && n >= 0.0).then_some(n as i64)
}

/// `1Y2M3D` → [(1,'Y'), (2,'M'), (3,'D')].
fn designators(text: &str) -> Option<Vec<(f64, char)>> {
    let mut out = Vec::new();
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' || c == ',' {
            number.push(if c == ',' { '.' } else { c });
        } else {
            out.push((number.parse().ok()?, c));
            number.clear();
        }
    }
    number.is_empty().then_some(out)
}

/// An ISO-8601 interval: `<start>/<end>`, `<start>/<duration>` or `<duration>/<end>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Interval {
    pub fn parse(text: &str) -> Result<Self, TimeError> {
        let bad = || TimeError::Interval(text.to_owned());
        let (a, b) = text.split_once('/').ok_or_else(bad)?;
        let (start, end) = if a.starts_with('P') {
            let end = parse_absolute(b).ok_or_else(bad)?;
            (IsoDuration::parse(a)?.sub_from(end).ok_or_else(bad)?, end)
        } else if b.starts_with('P') {
            let start = parse_absolute(a).ok_or_else(bad)?;
            (start, IsoDuration::parse(b)?.add_to(start).ok_or_else(bad)?)
        } else {
            (
                parse_absolute(a).ok_or_else(bad)?,
                parse_absolute(b).ok_or_else(bad)?,
            )
        };
        if end <= start {
            return Err(bad());
        }
        Ok(Self { start, end })
    }

    pub fn contains(&self, time: DateTime<Utc>) -> bool {
        self.start <= time && time < self.end
    }

    /// Whether `[start, end)` (end `None` = still running) overlaps the interval.
    pub fn overlaps(&self, start: DateTime<Utc>, end: Option<DateTime<Utc>>) -> bool {
        start < self.end && end.is_none_or(|e| e > self.start)
    }

    /// The whole UTC days the interval touches: `[midnight before start, midnight at/after end)`.
    #[must_use]
    pub fn days_touched(&self) -> Self {
        let start = floor_day(self.start);
        let end_floor = floor_day(self.end);
        let end = if end_floor == self.end {
            end_floor
        } else {
            end_floor + TimeDelta::days(1)
        };
        Self { start, end }
    }

    pub fn render(&self) -> String {
        format!("{}/{}", format(self.start), format(self.end))
    }
}

fn floor_day(time: DateTime<Utc>) -> DateTime<Utc> {
    time.date_naive()
        .and_hms_opt(0, 0, 0)
        .map_or(time, |t| t.and_utc())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn epoch() -> DateTime<Utc> {
        parse_absolute("2024-05-10T12:00:00Z").unwrap()
    }

    #[test]
    fn relative_times_add_and_subtract_offsets_from_the_epoch() {
        assert_eq!(resolve("now", epoch()).unwrap(), epoch());
        assert_eq!(
            format(resolve("now-40d+7m", epoch()).unwrap()),
            "2024-03-31T12:07:00.000Z"
        );
        assert_eq!(
            format(resolve("now-2h30m", epoch()).unwrap()),
            "2024-05-10T09:30:00.000Z"
        );
        assert_eq!(
            format(resolve("now+30s", epoch()).unwrap()),
            "2024-05-10T12:00:30.000Z"
        );
        assert_eq!(
            format(resolve("2024-01-02T03:04:05Z", epoch()).unwrap()),
            "2024-01-02T03:04:05.000Z"
        );
    }

    #[test]
    fn malformed_relative_times_are_rejected() {
        for text in ["now-", "now-3", "now-3x", "now3d", "yesterday", "now-d"] {
            assert!(resolve(text, epoch()).is_err(), "{text}");
        }
    }

    #[test]
    fn iso_durations_cover_calendar_and_clock_units() {
        let d = IsoDuration::parse("P1DT2H").unwrap();
        assert_eq!(d.exact, TimeDelta::hours(26));
        assert_eq!(IsoDuration::parse("P1M").unwrap().months, 1);
        assert_eq!(
            IsoDuration::parse("PT0.5S").unwrap().exact,
            TimeDelta::milliseconds(500)
        );
        for bad in ["P", "PT", "1D", "P1X", "PT0S"] {
            assert!(IsoDuration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn intervals_accept_both_ends_or_a_duration() {
        let i = Interval::parse("2024-05-01T00:00:00.000Z/2024-05-08T00:00:00.000Z").unwrap();
        assert_eq!(i.end - i.start, TimeDelta::days(7));
        let i = Interval::parse("2024-05-01T00:00:00Z/P1D").unwrap();
        assert_eq!(format(i.end), "2024-05-02T00:00:00.000Z");
        assert!(Interval::parse("2024-05-02T00:00:00Z/2024-05-01T00:00:00Z").is_err());
        assert!(Interval::parse("2024-05-02").is_err());
    }

    #[test]
    fn days_touched_round_out_to_whole_utc_days() {
        let i = Interval::parse("2024-05-01T10:00:00Z/2024-05-02T00:00:00Z").unwrap();
        assert_eq!(
            i.days_touched().render(),
            "2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z"
        );
        let i = Interval::parse("2024-05-01T10:00:00Z/2024-05-02T00:00:01Z").unwrap();
        assert_eq!(
            i.days_touched().render(),
            "2024-05-01T00:00:00.000Z/2024-05-03T00:00:00.000Z"
        );
    }
}
