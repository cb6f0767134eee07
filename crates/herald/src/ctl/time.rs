//! Wall-clock time as `herald ctl` prints it: civil dates from the epoch, the local time
//! zone, and systemd's timestamp and time-span styles.
//!
//! No date crate: the conversion between days since 1970-01-01 and a proleptic Gregorian
//! date is a few lines of integer arithmetic, and the time zone is read the way the C
//! library reads it: `$TZ` (a zone name, a file, or a POSIX rule such as
//! `CET-1CEST,M3.5.0,M10.5.0/3`), else `/etc/localtime`, else UTC. Zone files are TZif
//! (RFC 8536, versions 1 to 4); times after the last transition follow the file's footer
//! rule. Leap-second tables (`right/` zones) are ignored.

use std::path::{Path, PathBuf};

/// Microseconds in a second.
pub const USEC_PER_SEC: u64 = 1_000_000;
const USEC_PER_MSEC: u64 = 1_000;
const USEC_PER_MINUTE: u64 = 60 * USEC_PER_SEC;
const USEC_PER_HOUR: u64 = 60 * USEC_PER_MINUTE;
const USEC_PER_DAY: u64 = 24 * USEC_PER_HOUR;
const USEC_PER_WEEK: u64 = 7 * USEC_PER_DAY;
/// systemd's month: 30.44 days.
const USEC_PER_MONTH: u64 = 2_629_800 * USEC_PER_SEC;
/// systemd's year: 365.25 days.
const USEC_PER_YEAR: u64 = 31_557_600 * USEC_PER_SEC;

const SECS_PER_DAY: i64 = 86_400;

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (`month` 1–12, `day` 1–31).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    // Count years from March, so that the leap day ends the year.
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date `(year, month 1–12, day 1–31)` of a count of days since
/// 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The day of the week of a count of days since 1970-01-01 (a Thursday); 0 is Sunday.
pub fn weekday_from_days(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: u32) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A moment broken down in some time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTime {
    /// The year.
    pub year: i64,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
    /// 0–23.
    pub hour: u32,
    /// 0–59.
    pub minute: u32,
    /// 0–59.
    pub second: u32,
    /// 0 is Sunday.
    pub weekday: u32,
    /// The zone's abbreviation then (`UTC`, `CET`, `CEST`, `+0530`).
    pub abbr: String,
}

impl LocalTime {
    /// `usec` (since the epoch) in `tz`.
    pub fn at(usec: u64, tz: &TimeZone) -> LocalTime {
        let secs = (usec / USEC_PER_SEC) as i64;
        let (offset, abbr) = tz.offset_at(secs);
        let local = secs + i64::from(offset);
        let days = local.div_euclid(SECS_PER_DAY);
        let sod = local.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        LocalTime {
            year,
            month,
            day,
            hour: (sod / 3600) as u32,
            minute: (sod / 60 % 60) as u32,
            second: (sod % 60) as u32,
            weekday: weekday_from_days(days),
            abbr: abbr.to_owned(),
        }
    }
}

/// systemd's timestamp style: `Fri 2026-12-04 16:30:01 UTC`.
pub fn format_timestamp(usec: u64, tz: &TimeZone) -> String {
    let t = LocalTime::at(usec, tz);
    format!(
        "{} {:04}-{:02}-{:02} {:02}:{:02}:{:02} {}",
        WEEKDAYS[t.weekday as usize], t.year, t.month, t.day, t.hour, t.minute, t.second, t.abbr
    )
}

/// journalctl's short style: `Dec 04 16:30:01`.
pub fn format_short(usec: u64, tz: &TimeZone) -> String {
    let t = LocalTime::at(usec, tz);
    format!(
        "{} {:02} {:02}:{:02}:{:02}",
        MONTHS[(t.month - 1) as usize],
        t.day,
        t.hour,
        t.minute,
        t.second
    )
}

/// The time of day: `16:30:02`.
pub fn format_clock(usec: u64, tz: &TimeZone) -> String {
    let t = LocalTime::at(usec, tz);
    format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second)
}

/// How long ago (or how long until) `then` is, in systemd's relative style: `now`,
/// `350ms ago`, `5s ago`, `2min 3s ago`, `12min ago`, `1h 2min ago`, `7h ago`,
/// `1 day 3h ago`, `3 days ago`, `2 weeks 1 day ago`, `1 month 4 days ago`,
/// `2 years 1 month ago`; `… left` for the future.
pub fn format_relative(now_usec: u64, then_usec: u64) -> String {
    let (d, s) = if now_usec > then_usec {
        (now_usec - then_usec, "ago")
    } else {
        (then_usec - now_usec, "left")
    };
    let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    // "N big M small ago": the larger unit and what remains of it in the smaller one.
    let two = |big: u64,
               big_names: (&'static str, &'static str),
               small: u64,
               small_names: (&'static str, &'static str)| {
        let (n, m) = (d / big, d % big / small);
        format!(
            "{n} {} {m} {} {s}",
            plural(n, big_names.0, big_names.1),
            plural(m, small_names.0, small_names.1)
        )
    };
    if d >= USEC_PER_YEAR {
        two(
            USEC_PER_YEAR,
            ("year", "years"),
            USEC_PER_MONTH,
            ("month", "months"),
        )
    } else if d >= USEC_PER_MONTH {
        two(
            USEC_PER_MONTH,
            ("month", "months"),
            USEC_PER_DAY,
            ("day", "days"),
        )
    } else if d >= USEC_PER_WEEK {
        two(
            USEC_PER_WEEK,
            ("week", "weeks"),
            USEC_PER_DAY,
            ("day", "days"),
        )
    } else if d >= 2 * USEC_PER_DAY {
        format!("{} days {s}", d / USEC_PER_DAY)
    } else if d >= 25 * USEC_PER_HOUR {
        format!("1 day {}h {s}", (d - USEC_PER_DAY) / USEC_PER_HOUR)
    } else if d >= 6 * USEC_PER_HOUR {
        format!("{}h {s}", d / USEC_PER_HOUR)
    } else if d >= USEC_PER_HOUR {
        format!(
            "{}h {}min {s}",
            d / USEC_PER_HOUR,
            d % USEC_PER_HOUR / USEC_PER_MINUTE
        )
    } else if d >= 5 * USEC_PER_MINUTE {
        format!("{}min {s}", d / USEC_PER_MINUTE)
    } else if d >= USEC_PER_MINUTE {
        format!(
            "{}min {}s {s}",
            d / USEC_PER_MINUTE,
            d % USEC_PER_MINUTE / USEC_PER_SEC
        )
    } else if d >= USEC_PER_SEC {
        format!("{}s {s}", d / USEC_PER_SEC)
    } else if d >= USEC_PER_MSEC {
        format!("{}ms {s}", d / USEC_PER_MSEC)
    } else if d > 0 {
        format!("{d}us {s}")
    } else {
        "now".to_owned()
    }
}

/// A duration, short: `850us`, `350ms`, `1.02s`, `1.5s`, `2s`, `1min 3s`, `2h 5min`.
/// Truncated, never rounded up: seconds to the hundredth below a minute, to the second
/// below an hour, to the minute above.
pub fn format_span(usec: u64) -> String {
    if usec < USEC_PER_MSEC {
        format!("{usec}us")
    } else if usec < USEC_PER_SEC {
        format!("{}ms", usec / USEC_PER_MSEC)
    } else if usec < USEC_PER_MINUTE {
        let centis = usec / 10_000;
        let (whole, frac) = (centis / 100, centis % 100);
        if frac == 0 {
            format!("{whole}s")
        } else if frac % 10 == 0 {
            format!("{whole}.{}s", frac / 10)
        } else {
            format!("{whole}.{frac:02}s")
        }
    } else if usec < USEC_PER_HOUR {
        let secs = usec % USEC_PER_MINUTE / USEC_PER_SEC;
        match secs {
            0 => format!("{}min", usec / USEC_PER_MINUTE),
            _ => format!("{}min {secs}s", usec / USEC_PER_MINUTE),
        }
    } else {
        let mins = usec % USEC_PER_HOUR / USEC_PER_MINUTE;
        match mins {
            0 => format!("{}h", usec / USEC_PER_HOUR),
            _ => format!("{}h {mins}min", usec / USEC_PER_HOUR),
        }
    }
}

/// A time zone: UTC, a fixed POSIX rule, or a TZif file's history plus its footer rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone {
    zone: Zone,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Zone {
    Rule(PosixTz),
    Tzif(Tzif),
}

impl TimeZone {
    /// Coordinated Universal Time.
    pub fn utc() -> TimeZone {
        TimeZone {
            zone: Zone::Rule(PosixTz::utc()),
        }
    }

    /// The local time zone, as the C library finds it: `$TZ` if set (empty means UTC; a
    /// leading `:` is dropped; an absolute path or a name under `$TZDIR`, default
    /// `/usr/share/zoneinfo`, is read as a TZif file, else the value is parsed as a POSIX
    /// rule), otherwise `/etc/localtime`. Anything unreadable means UTC.
    pub fn local() -> TimeZone {
        match std::env::var_os("TZ") {
            None => TimeZone::from_file(Path::new("/etc/localtime")).unwrap_or_else(TimeZone::utc),
            Some(value) => {
                let value = value.to_string_lossy();
                let tzdir = std::env::var_os("TZDIR")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
                TimeZone::from_tz_value(&value, &tzdir)
            }
        }
    }

    /// The zone a `$TZ` value names, zone files looked up under `tzdir`.
    pub fn from_tz_value(value: &str, tzdir: &Path) -> TimeZone {
        let name = value.strip_prefix(':').unwrap_or(value);
        if name.is_empty() {
            return TimeZone::utc();
        }
        let path = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            tzdir.join(name)
        };
        if let Some(tz) = TimeZone::from_file(&path) {
            return tz;
        }
        TimeZone::from_posix(name).unwrap_or_else(TimeZone::utc)
    }

    /// A TZif file, or `None` if it cannot be read or is not one.
    pub fn from_file(path: &Path) -> Option<TimeZone> {
        let bytes = std::fs::read(path).ok()?;
        TimeZone::from_tzif(&bytes)
    }

    /// The contents of a TZif file, or `None` if they are not one.
    pub fn from_tzif(bytes: &[u8]) -> Option<TimeZone> {
        Tzif::parse(bytes).map(|t| TimeZone {
            zone: Zone::Tzif(t),
        })
    }

    /// A POSIX `TZ` rule such as `EST5EDT,M3.2.0,M11.1.0` or `<+0530>-5:30`.
    pub fn from_posix(rule: &str) -> Option<TimeZone> {
        PosixTz::parse(rule).map(|p| TimeZone {
            zone: Zone::Rule(p),
        })
    }

    /// The offset east of UTC in seconds, and the abbreviation, at `secs` since the epoch.
    pub fn offset_at(&self, secs: i64) -> (i32, &str) {
        match &self.zone {
            Zone::Rule(rule) => rule.offset_at(secs),
            Zone::Tzif(tzif) => tzif.offset_at(secs),
        }
    }
}

/// A TZif file's contents, as far as local time needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tzif {
    /// Transition times, ascending.
    transitions: Vec<i64>,
    /// For each transition, the index of the local time type it begins.
    transition_types: Vec<u8>,
    /// Local time types: UT offset and abbreviation.
    types: Vec<(i32, String)>,
    /// The rule for times after the last transition (version 2 and later).
    footer: Option<PosixTz>,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn count(&mut self) -> Option<usize> {
        self.u32().map(|n| n as usize)
    }
}

/// The six counts of a TZif header, in file order.
struct Counts {
    isutcnt: usize,
    isstdcnt: usize,
    leapcnt: usize,
    timecnt: usize,
    typecnt: usize,
    charcnt: usize,
}

impl Counts {
    fn read(c: &mut Cursor<'_>) -> Option<(u8, Counts)> {
        if c.take(4)? != b"TZif" {
            return None;
        }
        let version = c.take(1)?[0];
        c.take(15)?;
        let counts = Counts {
            isutcnt: c.count()?,
            isstdcnt: c.count()?,
            leapcnt: c.count()?,
            timecnt: c.count()?,
            typecnt: c.count()?,
            charcnt: c.count()?,
        };
        Some((version, counts))
    }

    fn block_len(&self, time_size: usize) -> Option<usize> {
        let parts = [
            self.timecnt.checked_mul(time_size)?,
            self.timecnt,
            self.typecnt.checked_mul(6)?,
            self.charcnt,
            self.leapcnt.checked_mul(time_size + 4)?,
            self.isstdcnt,
            self.isutcnt,
        ];
        parts.iter().try_fold(0usize, |acc, n| acc.checked_add(*n))
    }
}

impl Tzif {
    fn parse(bytes: &[u8]) -> Option<Tzif> {
        let mut c = Cursor { bytes, pos: 0 };
        let (version, mut counts) = Counts::read(&mut c)?;
        let mut time_size = 4;
        if version >= b'2' {
            // Skip the 32-bit block; the 64-bit one that follows says the same and more.
            c.take(counts.block_len(4)?)?;
            counts = Counts::read(&mut c)?.1;
            time_size = 8;
        }
        if counts.typecnt == 0 {
            return None;
        }
        let mut transitions = Vec::with_capacity(counts.timecnt);
        for _ in 0..counts.timecnt {
            let b = c.take(time_size)?;
            transitions.push(if time_size == 8 {
                i64::from_be_bytes(b.try_into().ok()?)
            } else {
                i64::from(i32::from_be_bytes(b.try_into().ok()?))
            });
        }
        let transition_types = c.take(counts.timecnt)?.to_vec();
        let mut raw_types = Vec::with_capacity(counts.typecnt);
        for _ in 0..counts.typecnt {
            let b = c.take(6)?;
            raw_types.push((i32::from_be_bytes([b[0], b[1], b[2], b[3]]), b[5] as usize));
        }
        let chars = c.take(counts.charcnt)?;
        let types = raw_types
            .into_iter()
            .map(|(utoff, idx)| {
                let rest = chars.get(idx..).unwrap_or_default();
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                (utoff, String::from_utf8_lossy(&rest[..end]).into_owned())
            })
            .collect::<Vec<_>>();
        if transition_types.iter().any(|&t| t as usize >= types.len()) {
            return None;
        }
        let trailer = counts.leapcnt.checked_mul(time_size + 4)?;
        c.take(
            trailer
                .checked_add(counts.isstdcnt)?
                .checked_add(counts.isutcnt)?,
        )?;
        let footer = if version >= b'2' {
            let rest = &bytes[c.pos..];
            let text = rest.strip_prefix(b"\n").unwrap_or_default();
            let end = text.iter().position(|&b| b == b'\n').unwrap_or(0);
            std::str::from_utf8(&text[..end])
                .ok()
                .and_then(PosixTz::parse)
        } else {
            None
        };
        Some(Tzif {
            transitions,
            transition_types,
            types,
            footer,
        })
    }

    fn offset_at(&self, secs: i64) -> (i32, &str) {
        let after = self.transitions.partition_point(|&t| t <= secs);
        if after == self.transitions.len() {
            if let Some(rule) = &self.footer {
                return rule.offset_at(secs);
            }
        }
        // Before the first transition, the first type applies (RFC 8536, 3.2).
        let idx = match after {
            0 => 0,
            n => self.transition_types[n - 1] as usize,
        };
        let (offset, abbr) = &self.types[idx];
        (*offset, abbr)
    }
}

/// A POSIX `TZ` rule: standard time, and optionally summer time with its yearly
/// start and end.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PosixTz {
    std_abbr: String,
    /// East of UTC, in seconds (the rule itself counts west).
    std_offset: i32,
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    abbr: String,
    offset: i32,
    /// When summer time starts, in standard local time.
    start: Transition,
    /// When it ends, in summer local time.
    end: Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Transition {
    date: DateRule,
    /// Seconds after the local midnight starting that date (may be negative or > 24h).
    time: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DateRule {
    /// `Jn`: day 1–365, February 29 never counted.
    Julian1(u32),
    /// `n`: day 0–365, February 29 counted in leap years.
    Julian0(u32),
    /// `Mm.w.d`: weekday `d` (0 Sunday) of week `w` (1–5, 5 the last) of month `m`.
    MonthWeekDay(u32, u32, u32),
}

impl DateRule {
    /// Days since the epoch of this date in `year`.
    fn days(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            DateRule::Julian1(n) => {
                let n = i64::from(n);
                jan1 + n - 1 + i64::from(is_leap(year) && n >= 60)
            }
            DateRule::Julian0(n) => jan1 + i64::from(n),
            DateRule::MonthWeekDay(month, week, weekday) => {
                let first = days_from_civil(year, month, 1);
                let first_wd = i64::from(weekday_from_days(first));
                let mut offset =
                    (i64::from(weekday) - first_wd).rem_euclid(7) + (i64::from(week) - 1) * 7;
                while offset >= days_in_month(year, month) {
                    offset -= 7;
                }
                first + offset
            }
        }
    }
}

struct RuleParser<'a> {
    b: &'a [u8],
    i: usize,
}

impl RuleParser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.i;
        if self.eat(b'<') {
            while self
                .peek()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'-')
            {
                self.i += 1;
            }
            let name = &self.b[start + 1..self.i];
            return (self.eat(b'>') && name.len() >= 3)
                .then(|| String::from_utf8_lossy(name).into_owned());
        }
        while self.peek().is_some_and(|c| c.is_ascii_alphabetic()) {
            self.i += 1;
        }
        let name = &self.b[start..self.i];
        (name.len() >= 3).then(|| String::from_utf8_lossy(name).into_owned())
    }

    fn number(&mut self, max: u32) -> Option<u32> {
        let start = self.i;
        let mut n: u32 = 0;
        while let Some(c) = self.peek().filter(u8::is_ascii_digit) {
            n = n.checked_mul(10)?.checked_add(u32::from(c - b'0'))?;
            self.i += 1;
        }
        (self.i > start && n <= max).then_some(n)
    }

    /// `[+-]hh[:mm[:ss]]`, in seconds.
    fn hms(&mut self, max_hours: u32) -> Option<i32> {
        let negative = if self.eat(b'-') {
            true
        } else {
            self.eat(b'+');
            false
        };
        let mut secs = self.number(max_hours)? * 3600;
        if self.eat(b':') {
            secs += self.number(59)? * 60;
            if self.eat(b':') {
                secs += self.number(59)?;
            }
        }
        let secs = secs as i32;
        Some(if negative { -secs } else { secs })
    }

    fn transition(&mut self) -> Option<Transition> {
        let date = if self.eat(b'J') {
            DateRule::Julian1(self.number(365).filter(|&n| n >= 1)?)
        } else if self.eat(b'M') {
            let month = self.number(12).filter(|&m| m >= 1)?;
            self.eat(b'.').then_some(())?;
            let week = self.number(5).filter(|&w| w >= 1)?;
            self.eat(b'.').then_some(())?;
            DateRule::MonthWeekDay(month, week, self.number(6)?)
        } else {
            DateRule::Julian0(self.number(365)?)
        };
        let time = if self.eat(b'/') {
            self.hms(167)?
        } else {
            2 * 3600
        };
        Some(Transition { date, time })
    }
}

impl PosixTz {
    fn utc() -> PosixTz {
        PosixTz {
            std_abbr: "UTC".to_owned(),
            std_offset: 0,
            dst: None,
        }
    }

    fn parse(rule: &str) -> Option<PosixTz> {
        let mut p = RuleParser {
            b: rule.as_bytes(),
            i: 0,
        };
        let std_abbr = p.name()?;
        let std_offset = -p.hms(24)?;
        if p.peek().is_none() {
            return Some(PosixTz {
                std_abbr,
                std_offset,
                dst: None,
            });
        }
        let abbr = p.name()?;
        let offset = match p.peek() {
            Some(c) if c.is_ascii_digit() || c == b'+' || c == b'-' => -p.hms(24)?,
            _ => std_offset + 3600,
        };
        let (start, end) = if p.eat(b',') {
            let start = p.transition()?;
            p.eat(b',').then_some(())?;
            (start, p.transition()?)
        } else {
            // No rule: the C library's default, the US rules since 2007.
            (
                Transition {
                    date: DateRule::MonthWeekDay(3, 2, 0),
                    time: 7200,
                },
                Transition {
                    date: DateRule::MonthWeekDay(11, 1, 0),
                    time: 7200,
                },
            )
        };
        if p.peek().is_some() {
            return None;
        }
        Some(PosixTz {
            std_abbr,
            std_offset,
            dst: Some(Dst {
                abbr,
                offset,
                start,
                end,
            }),
        })
    }

    fn offset_at(&self, secs: i64) -> (i32, &str) {
        let Some(dst) = &self.dst else {
            return (self.std_offset, &self.std_abbr);
        };
        let year = civil_from_days((secs + i64::from(self.std_offset)).div_euclid(SECS_PER_DAY)).0;
        let start = dst.start.date.days(year) * SECS_PER_DAY + i64::from(dst.start.time)
            - i64::from(self.std_offset);
        let end = dst.end.date.days(year) * SECS_PER_DAY + i64::from(dst.end.time)
            - i64::from(dst.offset);
        let summer = if start <= end {
            start <= secs && secs < end
        } else {
            // Southern hemisphere: summer spans the new year.
            !(end <= secs && secs < start)
        };
        if summer {
            (dst.offset, &dst.abbr)
        } else {
            (self.std_offset, &self.std_abbr)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version-2 TZif file: the given transitions and types in both blocks, and a footer.
    fn tzif(transitions: &[(i64, u8)], types: &[(i32, bool, &str)], footer: &str) -> Vec<u8> {
        let mut chars = Vec::new();
        let mut idx = Vec::new();
        for (_, _, abbr) in types {
            idx.push(chars.len() as u8);
            chars.extend_from_slice(abbr.as_bytes());
            chars.push(0);
        }
        let block = |wide: bool| {
            let mut out = b"TZif2".to_vec();
            out.extend_from_slice(&[0; 15]);
            for n in [0, 0, 0, transitions.len(), types.len(), chars.len()] {
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            for (t, _) in transitions {
                if wide {
                    out.extend_from_slice(&t.to_be_bytes());
                } else {
                    out.extend_from_slice(&(*t as i32).to_be_bytes());
                }
            }
            out.extend(transitions.iter().map(|(_, ty)| *ty));
            for (i, (off, dst, _)) in types.iter().enumerate() {
                out.extend_from_slice(&off.to_be_bytes());
                out.push(u8::from(*dst));
                out.push(idx[i]);
            }
            out.extend_from_slice(&chars);
            out
        };
        let mut file = block(false);
        file.extend(block(true));
        file.push(b'\n');
        file.extend_from_slice(footer.as_bytes());
        file.push(b'\n');
        file
    }

    fn at(tz: &TimeZone, y: i64, mo: u32, d: u32, h: i64, mi: i64) -> (i32, String) {
        let secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60;
        let (off, abbr) = tz.offset_at(secs);
        (off, abbr.to_owned())
    }

    #[test]
    fn posix_rule_europe() {
        let tz = TimeZone::from_posix("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        // 2026: summer time from Sun 29 March 01:00 UTC to Sun 25 October 01:00 UTC.
        assert_eq!(at(&tz, 2026, 3, 29, 0, 59), (3600, "CET".into()));
        assert_eq!(at(&tz, 2026, 3, 29, 1, 0), (7200, "CEST".into()));
        assert_eq!(at(&tz, 2026, 10, 25, 0, 59), (7200, "CEST".into()));
        assert_eq!(at(&tz, 2026, 10, 25, 1, 0), (3600, "CET".into()));
        assert_eq!(at(&tz, 2026, 12, 4, 16, 30), (3600, "CET".into()));
    }

    #[test]
    fn posix_rule_southern_and_quoted() {
        // Sydney: summer from the first Sunday of October to the first Sunday of April.
        let tz = TimeZone::from_posix("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(at(&tz, 2026, 1, 15, 0, 0), (39600, "AEDT".into()));
        assert_eq!(at(&tz, 2026, 7, 15, 0, 0), (36000, "AEST".into()));
        let india = TimeZone::from_posix("<+0530>-5:30").unwrap();
        assert_eq!(at(&india, 2026, 7, 15, 0, 0), (19800, "+0530".into()));
        let ny = TimeZone::from_posix("EST5EDT").unwrap(); // default US rules
        assert_eq!(at(&ny, 2026, 7, 4, 12, 0), (-14400, "EDT".into()));
        assert_eq!(at(&ny, 2026, 1, 4, 12, 0), (-18000, "EST".into()));
        assert!(TimeZone::from_posix("UTC").is_none());
        assert!(TimeZone::from_posix("CET-1CEST,M3.5.0").is_none());
    }

    #[test]
    fn tzif_transitions_then_footer() {
        // Two transitions in 2026, then the footer rule.
        let spring = days_from_civil(2026, 3, 29) * SECS_PER_DAY + 3600;
        let autumn = days_from_civil(2026, 10, 25) * SECS_PER_DAY + 3600;
        let file = tzif(
            &[(spring, 1), (autumn, 0)],
            &[(3600, false, "CET"), (7200, true, "CEST")],
            "CET-1CEST,M3.5.0,M10.5.0/3",
        );
        let tz = TimeZone::from_tzif(&file).unwrap();
        assert_eq!(at(&tz, 2025, 1, 1, 0, 0), (3600, "CET".into()));
        assert_eq!(at(&tz, 2026, 6, 1, 0, 0), (7200, "CEST".into()));
        assert_eq!(at(&tz, 2026, 11, 1, 0, 0), (3600, "CET".into()));
        assert_eq!(at(&tz, 2027, 7, 1, 0, 0), (7200, "CEST".into())); // footer
        assert!(TimeZone::from_tzif(&file[..30]).is_none());
        assert!(TimeZone::from_tzif(b"not a zone file at all, no sir").is_none());
    }

    #[test]
    fn tz_value_lookup() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Etc")).unwrap();
        std::fs::write(
            dir.path().join("Etc/Test"),
            tzif(&[], &[(-3600, false, "TST")], "TST1"),
        )
        .unwrap();
        let from_file = TimeZone::from_tz_value(":Etc/Test", dir.path());
        assert_eq!(at(&from_file, 2026, 1, 1, 0, 0), (-3600, "TST".into()));
        let rule = TimeZone::from_tz_value("XYZ-3", dir.path());
        assert_eq!(at(&rule, 2026, 1, 1, 0, 0), (10800, "XYZ".into()));
        assert_eq!(TimeZone::from_tz_value("", dir.path()), TimeZone::utc());
        assert_eq!(
            TimeZone::from_tz_value("No/Such", dir.path()),
            TimeZone::utc()
        );
    }

    #[test]
    fn system_zone_files_when_present() {
        // The real tzdata, when installed: Berlin in summer and in winter.
        let Some(tz) = TimeZone::from_file(Path::new("/usr/share/zoneinfo/Europe/Berlin")) else {
            eprintln!("skipped: /usr/share/zoneinfo/Europe/Berlin is not installed");
            return;
        };
        assert_eq!(at(&tz, 2026, 7, 1, 12, 0), (7200, "CEST".into()));
        assert_eq!(at(&tz, 2026, 12, 4, 12, 0), (3600, "CET".into()));
        assert_eq!(at(&tz, 2060, 7, 1, 12, 0), (7200, "CEST".into()));
    }
}
