//! Calendar dates (full or partial) and date-times as clinicians record them.
//!
//! A partial date (`2024`, `2024-03`) is common for a previous infection or a vaccine dose.
//! Comparisons are three-valued: `2024-03` is neither before nor after `2024-03-15`.
//!
//! Also the one calendar conversion of the workspace ([`civil_from_days`]) and the UTC
//! renderings of a Unix time ([`Timestamp`]) that the console, the exports and the command
//! line show.

use std::cmp::Ordering;
use std::fmt;

/// A date with year, and optionally month and day (ISO 8601 `YYYY`, `YYYY-MM`, `YYYY-MM-DD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialDate {
    pub year: u16,
    pub month: Option<u8>,
    pub day: Option<u8>,
}

/// A date and time of day (`YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]`), minute precision or better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: PartialDate,
    /// Seconds since local midnight.
    pub seconds: u32,
    /// Offset from UTC in minutes, when given.
    pub offset_minutes: Option<i16>,
}

/// Why a date could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateProblem {
    /// Not in ISO 8601 form.
    Format,
    /// A month or day that does not exist (`2024-02-30`).
    NoSuchDay,
}

fn digits(s: &str, n: usize) -> Option<u32> {
    (s.len() == n && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl PartialDate {
    /// A full date; `None` when it does not exist.
    pub fn ymd(year: u16, month: u8, day: u8) -> Option<Self> {
        ((1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)).then_some(
            PartialDate {
                year,
                month: Some(month),
                day: Some(day),
            },
        )
    }

    /// Parses `YYYY`, `YYYY-MM` or `YYYY-MM-DD` (years 1000–9999).
    pub fn parse(s: &str) -> Result<Self, DateProblem> {
        let mut parts = s.split('-');
        let year = parts
            .next()
            .and_then(|p| digits(p, 4))
            .ok_or(DateProblem::Format)?;
        if year < 1000 {
            return Err(DateProblem::Format);
        }
        let year = year as u16;
        let month = match parts.next() {
            None => None,
            Some(p) => Some(digits(p, 2).ok_or(DateProblem::Format)? as u8),
        };
        let day = match parts.next() {
            None => None,
            Some(p) => Some(digits(p, 2).ok_or(DateProblem::Format)? as u8),
        };
        if parts.next().is_some() {
            return Err(DateProblem::Format);
        }
        if let Some(m) = month {
            if !(1..=12).contains(&m) {
                return Err(DateProblem::NoSuchDay);
            }
            if let Some(d) = day
                && (d == 0 || d > days_in_month(year, m))
            {
                return Err(DateProblem::NoSuchDay);
            }
        }
        Ok(PartialDate { year, month, day })
    }

    /// Whether year, month and day are all known.
    pub fn is_full(&self) -> bool {
        self.day.is_some()
    }

    /// Compares two dates as far as both are known: `None` when they may fall either way.
    pub fn partial_cmp_known(&self, other: &PartialDate) -> Option<Ordering> {
        let pairs = [
            (Some(self.year), Some(other.year)),
            (self.month.map(u16::from), other.month.map(u16::from)),
            (self.day.map(u16::from), other.day.map(u16::from)),
        ];
        for (a, b) in pairs {
            match (a, b) {
                (Some(a), Some(b)) if a != b => return Some(a.cmp(&b)),
                (Some(_), Some(_)) => {}
                (None, None) => return Some(Ordering::Equal),
                _ => return None,
            }
        }
        Some(Ordering::Equal)
    }

    /// Days since 1970-01-01 of a full date (proleptic Gregorian calendar).
    pub fn days_since_epoch(&self) -> Option<i64> {
        let (m, d) = (self.month?, self.day?);
        // Howard Hinnant's days_from_civil
        let y = i64::from(self.year) - i64::from(m <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (i64::from(m) + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(era * 146_097 + doe - 719_468)
    }

    /// The full date of a day count since 1970-01-01; `None` for a year outside `0..=65535`.
    pub fn from_days_since_epoch(days: i64) -> Option<Self> {
        let (y, m, d) = civil_from_days(days);
        PartialDate::ymd(u16::try_from(y).ok()?, m, d)
    }

    /// Whole months from `self` to `later` (both full dates), e.g. for a child's age.
    pub fn months_until(&self, later: &PartialDate) -> Option<i64> {
        let (m1, d1, m2, d2) = (self.month?, self.day?, later.month?, later.day?);
        let mut months =
            (i64::from(later.year) - i64::from(self.year)) * 12 + i64::from(m2) - i64::from(m1);
        if d2 < d1 {
            months -= 1;
        }
        Some(months)
    }

    /// Completed years from `self` to `later` (both full dates), as an age is counted: a year
    /// is complete on the day of the same month and day, and for 29 February in a common year
    /// on 1 March. When `later` is before `self` the count is negative: minus the completed
    /// years back from `later` to `self`.
    pub fn years_until(&self, later: &PartialDate) -> Option<i64> {
        if later.days_since_epoch()? >= self.days_since_epoch()? {
            Some(self.months_until(later)?.div_euclid(12))
        } else {
            Some(-later.months_until(self)?.div_euclid(12))
        }
    }
}

/// The proleptic Gregorian `(year, month, day)` of a day count since 1970-01-01, for any day
/// count (Howard Hinnant's `civil_from_days`; day `-1` is 1969-12-31).
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// An instant in whole seconds since 1970-01-01T00:00:00Z (Unix time), with its UTC
/// renderings: ISO 8601 for the exports, a shorter one for people reading the console and the
/// command line. Years are written with at least four digits (a sign before a negative one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `secs` seconds after (before, when negative) the Unix epoch.
    pub const fn from_unix_seconds(secs: i64) -> Self {
        Timestamp(secs)
    }

    /// An unsigned Unix time; beyond `i64::MAX` it stays at `i64::MAX`.
    pub fn from_unsigned(secs: u64) -> Self {
        Timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
    }

    /// Seconds since the Unix epoch.
    pub const fn unix_seconds(self) -> i64 {
        self.0
    }

    /// The UTC day of the instant, as `(year, month, day)`.
    pub fn civil_date(self) -> (i64, u8, u8) {
        civil_from_days(self.0.div_euclid(86_400))
    }

    /// The UTC time of day, as `(hour, minute, second)`.
    pub fn time_of_day(self) -> (u8, u8, u8) {
        let s = self.0.rem_euclid(86_400);
        ((s / 3600) as u8, (s % 3600 / 60) as u8, (s % 60) as u8)
    }

    /// `2027-01-15T08:00:00Z`.
    pub fn iso_datetime(self) -> String {
        let (h, min, s) = self.time_of_day();
        format!("{}T{h:02}:{min:02}:{s:02}Z", self.iso_date())
    }

    /// `2027-01-15` (the UTC day).
    pub fn iso_date(self) -> String {
        let (y, m, d) = self.civil_date();
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// `2027-01-15 08:00 UTC`: to the minute, for pages and listings.
    pub fn minutes_utc(self) -> String {
        let (h, min, _) = self.time_of_day();
        format!("{} {h:02}:{min:02} UTC", self.iso_date())
    }

    /// `2027-01-15 08:00:00Z`: to the second, for audit trails.
    pub fn seconds_utc(self) -> String {
        let (h, min, s) = self.time_of_day();
        format!("{} {h:02}:{min:02}:{s:02}Z", self.iso_date())
    }
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}", self.year)?;
        if let Some(m) = self.month {
            write!(f, "-{m:02}")?;
        }
        if let Some(d) = self.day {
            write!(f, "-{d:02}")?;
        }
        Ok(())
    }
}

impl DateTime {
    /// Parses `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]`; a space may stand for `T`.
    pub fn parse(s: &str) -> Result<Self, DateProblem> {
        let (d, rest) = s
            .split_once('T')
            .or_else(|| s.split_once(' '))
            .ok_or(DateProblem::Format)?;
        let date = PartialDate::parse(d)?;
        if !date.is_full() {
            return Err(DateProblem::Format);
        }
        let (time, offset_minutes) = if let Some(t) = rest.strip_suffix('Z') {
            (t, Some(0))
        } else if let Some(pos) = rest.rfind(['+', '-']) {
            let (t, off) = rest.split_at(pos);
            let sign: i16 = if off.starts_with('-') { -1 } else { 1 };
            let (h, m) = off[1..].split_once(':').ok_or(DateProblem::Format)?;
            let (h, m) = (
                digits(h, 2).ok_or(DateProblem::Format)?,
                digits(m, 2).ok_or(DateProblem::Format)?,
            );
            if h > 14 || m > 59 {
                return Err(DateProblem::Format);
            }
            (t, Some(sign * (h * 60 + m) as i16))
        } else {
            (rest, None)
        };
        let mut parts = time.split(':');
        let h = parts
            .next()
            .and_then(|p| digits(p, 2))
            .ok_or(DateProblem::Format)?;
        let m = parts
            .next()
            .and_then(|p| digits(p, 2))
            .ok_or(DateProblem::Format)?;
        let sec = match parts.next() {
            None => 0,
            Some(p) => {
                let whole = p.split_once('.').map_or(p, |(w, frac)| {
                    if frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit()) {
                        ""
                    } else {
                        w
                    }
                });
                digits(whole, 2).ok_or(DateProblem::Format)?
            }
        };
        if parts.next().is_some() {
            return Err(DateProblem::Format);
        }
        if h > 23 || m > 59 || sec > 59 {
            return Err(DateProblem::NoSuchDay);
        }
        Ok(DateTime {
            date,
            seconds: h * 3600 + m * 60 + sec,
            offset_minutes,
        })
    }

    /// Orders two date-times; local times without offset compare as written.
    pub fn cmp_instant(&self, other: &DateTime) -> Ordering {
        let key = |t: &DateTime| {
            let days = t.date.days_since_epoch().unwrap_or(0);
            let off = match (self.offset_minutes, other.offset_minutes) {
                (Some(_), Some(_)) => i64::from(t.offset_minutes.unwrap_or(0)) * 60,
                _ => 0,
            };
            days * 86_400 + i64::from(t.seconds) - off
        };
        key(self).cmp(&key(other))
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (
            self.seconds / 3600,
            self.seconds / 60 % 60,
            self.seconds % 60,
        );
        write!(f, "{}T{h:02}:{m:02}", self.date)?;
        if s != 0 {
            write!(f, ":{s:02}")?;
        }
        match self.offset_minutes {
            None => Ok(()),
            Some(0) => f.write_str("Z"),
            Some(o) => write!(
                f,
                "{}{:02}:{:02}",
                if o < 0 { '-' } else { '+' },
                o.abs() / 60,
                o.abs() % 60
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_partial_dates() {
        assert_eq!(
            PartialDate::parse("2024-02-29").unwrap().to_string(),
            "2024-02-29"
        );
        assert_eq!(PartialDate::parse("2024-03").unwrap().day, None);
        assert_eq!(PartialDate::parse("2024").unwrap().month, None);
        assert_eq!(
            PartialDate::parse("2023-02-29"),
            Err(DateProblem::NoSuchDay)
        );
        assert_eq!(PartialDate::parse("2024-13"), Err(DateProblem::NoSuchDay));
        for bad in [
            "24-01-01",
            "2024/01/01",
            "2024-1-1",
            "",
            "2024-01-01-01",
            "０２０２",
        ] {
            assert_eq!(PartialDate::parse(bad), Err(DateProblem::Format), "{bad}");
        }
    }

    #[test]
    fn compares_partial_dates_only_as_far_as_known() {
        let d = |s| PartialDate::parse(s).unwrap();
        assert_eq!(
            d("2024-03").partial_cmp_known(&d("2024-04-01")),
            Some(Ordering::Less)
        );
        assert_eq!(d("2024-03").partial_cmp_known(&d("2024-03-15")), None);
        assert_eq!(
            d("2024").partial_cmp_known(&d("2024")),
            Some(Ordering::Equal)
        );
        assert_eq!(
            d("2024-03-02").partial_cmp_known(&d("2024-03-01")),
            Some(Ordering::Greater)
        );
    }

    #[test]
    fn counts_days_and_months() {
        let d = |s| PartialDate::parse(s).unwrap();
        assert_eq!(d("1970-01-01").days_since_epoch(), Some(0));
        assert_eq!(d("2000-03-01").days_since_epoch(), Some(11_017));
        for n in [-1000, 0, 11_017, 20_000, 30_000] {
            let date = PartialDate::from_days_since_epoch(n).unwrap();
            assert_eq!(date.days_since_epoch(), Some(n));
        }
        assert_eq!(d("2023-05-20").months_until(&d("2024-05-19")), Some(11));
        assert_eq!(d("2023-05-20").months_until(&d("2024-05-20")), Some(12));
    }

    #[test]
    fn civil_dates_of_day_counts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(-719_468), (0, 3, 1));
        assert_eq!(civil_from_days(-719_469), (0, 2, 29));
        assert_eq!(civil_from_days(-719_529), (-1, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(47_540), (2100, 2, 28));
        assert_eq!(civil_from_days(47_541), (2100, 3, 1));
        // Every day of four centuries round-trips through the inverse.
        for n in -80_000..80_000 {
            let (y, m, d) = civil_from_days(n);
            let date = PartialDate::ymd(y as u16, m, d).unwrap();
            assert_eq!(date.days_since_epoch(), Some(n), "{n}");
        }
        assert_eq!(PartialDate::from_days_since_epoch(-719_529), None);
    }

    #[test]
    fn timestamps_render_in_utc() {
        let t = Timestamp::from_unix_seconds;
        assert_eq!(t(0).iso_datetime(), "1970-01-01T00:00:00Z");
        assert_eq!(t(1_800_000_000).iso_datetime(), "2027-01-15T08:00:00Z");
        assert_eq!(t(951_825_600).iso_datetime(), "2000-02-29T12:00:00Z");
        assert_eq!(t(4_107_542_399).iso_datetime(), "2100-02-28T23:59:59Z");
        assert_eq!(t(4_107_542_400).iso_date(), "2100-03-01");
        assert_eq!(t(-86_400).iso_date(), "1969-12-31");
        assert_eq!(t(-1).iso_datetime(), "1969-12-31T23:59:59Z");
        assert_eq!(t(-62_167_219_201).iso_datetime(), "-001-12-31T23:59:59Z");
        assert_eq!(t(1_800_000_059).minutes_utc(), "2027-01-15 08:00 UTC");
        assert_eq!(t(-60).minutes_utc(), "1969-12-31 23:59 UTC");
        assert_eq!(t(951_825_601).seconds_utc(), "2000-02-29 12:00:01Z");
        assert_eq!(Timestamp::from_unsigned(u64::MAX).unix_seconds(), i64::MAX);
        assert!(
            Timestamp::from_unsigned(u64::MAX)
                .iso_date()
                .starts_with("292277026596-")
        );
    }

    #[test]
    fn parses_and_orders_datetimes() {
        let t = |s| DateTime::parse(s).unwrap();
        assert_eq!(t("2024-03-01T08:30").to_string(), "2024-03-01T08:30");
        assert_eq!(
            t("2024-03-01 08:30:15+09:00").to_string(),
            "2024-03-01T08:30:15+09:00"
        );
        assert_eq!(
            t("2024-03-01T08:30:00.250Z").to_string(),
            "2024-03-01T08:30Z"
        );
        assert_eq!(
            t("2024-03-01T09:00+09:00").cmp_instant(&t("2024-03-01T01:00+01:00")),
            Ordering::Equal
        );
        assert_eq!(
            t("2024-03-01T09:00").cmp_instant(&t("2024-03-01T10:00")),
            Ordering::Less
        );
        assert_eq!(
            DateTime::parse("2024-03-01T25:00"),
            Err(DateProblem::NoSuchDay)
        );
        assert_eq!(DateTime::parse("2024-03T10:00"), Err(DateProblem::Format));
        assert_eq!(DateTime::parse("2024-03-01"), Err(DateProblem::Format));
    }
}
