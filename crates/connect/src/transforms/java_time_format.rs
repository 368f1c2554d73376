//! Java's `SimpleDateFormat` patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSXXX`)
//! translated to jiff's strftime, so settings written for Kafka Connect
//! (`TimestampConverter`'s `format`, `TimestampRouter`'s
//! `timestamp.format`) and, later, SQL's date functions mean here what
//! they mean in Java.
//!
//! Pattern syntax as Java's: a run of one ASCII letter is a field whose
//! width is the run's length; text in single quotes is literal (`''` is a
//! quote); anything else is literal. Field letters and their translation:
//!
//! | Java | meaning | strftime |
//! | --- | --- | --- |
//! | `G` | era | literal `AD` |
//! | `yy` / `y`, `yyyy` | two-digit / full year | `%y` / `%-Y`, `%Y` |
//! | `YYYY` | week year | `%G` (ISO) |
//! | `M`, `MM`, `MMM`, `MMMM` (and `L`) | month | `%-m`, `%m`, `%b`, `%B` |
//! | `w` | week of year | `%V` (ISO) |
//! | `D` | day of year | `%j` |
//! | `d` | day of month | `%d` |
//! | `E`..`EEE`, `EEEE` | day name | `%a`, `%A` |
//! | `u` | day number (Monday = 1) | `%u` |
//! | `a` | AM/PM | `%p` |
//! | `H` / `h` | hour 0-23 / 1-12 | `%H` / `%I` |
//! | `m`, `s` | minute, second | `%M`, `%S` |
//! | `S`..`SSS`, `S`×n | fraction | `%3f`, `%{n}f` |
//! | `z` | zone name | `%Z` (formatting only) |
//! | `Z` | `-0800` | `%z` |
//! | `X`, `XX`, `XXX` | `-08`, `-0800`, `-08:00`, or `Z` for UTC | `%:::z`, `%z`, `%:z` |
//!
//! A numeric field of one letter is unpadded (`%-d`); of more letters,
//! zero-padded to that width (`%03d` for `ddd`).
//!
//! Where Java and strftime differ, the difference is on purpose and
//! documented here:
//! - `S` in Java counts milliseconds (`SSSSSS` is milliseconds padded to
//!   six digits); here it is the fraction of the second to as many digits
//!   as letters, at least three, which is what `SSSSSS` is meant to say.
//! - `w` and `YYYY` are ISO 8601 weeks; Java's depend on the locale.
//! - `W`, `F`, `k` and `K` have no strftime equivalent and are refused.
//! - `z` formats the zone's abbreviation (`UTC`); parsing reads `UTC`,
//!   `GMT`, `UT`, `Z`, `GMT+08:00`-style offsets and the common fixed
//!   abbreviations (`PST`, `EST`, `CET`, `JST`, ...) as Java's legacy
//!   mapping gives them (a standard-time name is its standard offset).
//!
//! Parsing follows `DateFormat.parse(String)`: text after the pattern is
//! ignored, fields the pattern lacks default to 1970-01-01T00:00:00, and a
//! text without a zone is read in UTC (Kafka sets its formats' zone to
//! UTC).

use jiff::fmt::strtime::BrokenDownTime;
use jiff::tz::{Offset, TimeZone};
use jiff::{Timestamp, Zoned};

/// A translated `SimpleDateFormat` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaDateFormat {
    pattern: String,
    /// The translation, ISO zones (`X`) as numeric offsets.
    strftime: String,
    /// The same with every ISO zone as a literal `Z`: Java prints `Z` for
    /// a zero offset and accepts it when parsing; jiff's `%z` does neither.
    strftime_zulu: Option<String>,
    /// For a pattern with zone names (`z`): the translation to parse with,
    /// names as numeric offsets (jiff cannot parse `%Z`), the name in the
    /// text being rewritten to its offset first.
    parse_names: Option<(String, Option<String>)>,
}

impl JavaDateFormat {
    /// Translates `pattern`; the error says which part Java would refuse
    /// or strftime cannot express.
    pub fn new(pattern: &str) -> Result<JavaDateFormat, String> {
        let (strftime, zulu) = translate(pattern)?;
        let (by_offset, by_offset_zulu) = translate_with(pattern, "%z")?;
        let parse_names = (by_offset != strftime).then(|| {
            let zulu = (by_offset_zulu != by_offset).then_some(by_offset_zulu);
            (by_offset, zulu)
        });
        Ok(JavaDateFormat {
            pattern: pattern.to_string(),
            strftime_zulu: (zulu != strftime).then_some(zulu),
            strftime,
            parse_names,
        })
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The strftime string jiff formats with.
    pub fn strftime(&self) -> &str {
        &self.strftime
    }

    /// Formats an instant in UTC.
    pub fn format(&self, timestamp: Timestamp) -> Result<String, String> {
        self.format_zoned(&timestamp.to_zoned(TimeZone::UTC))
    }

    /// Formats a zoned datetime in its own zone.
    pub fn format_zoned(&self, zoned: &Zoned) -> Result<String, String> {
        let fmt = match &self.strftime_zulu {
            Some(zulu) if zoned.offset() == Offset::UTC => zulu,
            _ => &self.strftime,
        };
        jiff::fmt::strtime::format(fmt, zoned)
            .map_err(|e| format!("cannot format {zoned} with pattern {}: {e}", self.pattern))
    }

    /// Formats milliseconds since the epoch in UTC.
    pub fn format_millis(&self, millis: i64) -> Result<String, String> {
        let ts = Timestamp::from_millisecond(millis)
            .map_err(|e| format!("timestamp {millis} out of range: {e}"))?;
        self.format(ts)
    }

    /// Parses `text` as Java's `DateFormat.parse(String)` does (see the
    /// module docs); a text without a zone is read in UTC.
    pub fn parse(&self, text: &str) -> Result<Timestamp, String> {
        let (numeric, zulu, input) = match &self.parse_names {
            None => (
                &self.strftime,
                self.strftime_zulu.as_ref(),
                text.to_string(),
            ),
            Some((numeric, zulu)) => (numeric, zulu.as_ref(), zone_names_as_offsets(text)),
        };
        let parsed = BrokenDownTime::parse_prefix(numeric, &input).or_else(|first| match zulu {
            Some(zulu) => BrokenDownTime::parse_prefix(zulu, &input).map_err(|_| first),
            None => Err(first),
        });
        let (mut tm, _) = parsed.map_err(|e| self.parse_error(text, &e.to_string()))?;
        let has_week = tm.iso_week().is_some()
            || tm.sunday_based_week().is_some()
            || tm.monday_based_week().is_some();
        if tm.year().is_none() && tm.iso_week_year().is_none() {
            tm.set_year(Some(1970))
                .map_err(|e| self.parse_error(text, &e.to_string()))?;
        }
        if tm.day_of_year().is_none() && !has_week {
            if tm.month().is_none() {
                tm.set_month(Some(1))
                    .map_err(|e| self.parse_error(text, &e.to_string()))?;
            }
            if tm.day().is_none() {
                tm.set_day(Some(1))
                    .map_err(|e| self.parse_error(text, &e.to_string()))?;
                // A day name without a date cannot be checked against it.
                tm.set_weekday(None);
            }
        }
        let datetime = tm
            .to_datetime()
            .map_err(|e| self.parse_error(text, &e.to_string()))?;
        let offset = tm.offset().unwrap_or(Offset::UTC);
        offset
            .to_timestamp(datetime)
            .map_err(|e| self.parse_error(text, &e.to_string()))
    }

    /// Parses `text` to milliseconds since the epoch.
    pub fn parse_millis(&self, text: &str) -> Result<i64, String> {
        self.parse(text).map(|ts| ts.as_millisecond())
    }

    fn parse_error(&self, text: &str, why: &str) -> String {
        format!(
            "value ({text}) does not match pattern ({}): {why}",
            self.pattern
        )
    }
}

/// Offsets of the zone names Java parses (its legacy three-letter IDs
/// for fixed standard time), in minutes east of UTC.
const ZONE_NAMES: [(&str, i32); 22] = [
    ("UTC", 0),
    ("UT", 0),
    ("GMT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("IST", 330),
    ("JST", 540),
    ("HST", -600),
    ("AKST", -540),
    ("AKDT", -480),
    ("PST", -480),
    ("PDT", -420),
    ("MST", -420),
    ("MDT", -360),
    ("CST", -360),
    ("CDT", -300),
    ("EST", -300),
];

/// `text` with its first zone name (`PST`, `GMT+8`, `UTC-05:30`) written as
/// a `+HHMM` offset, which the parse translation reads with `%z`.
fn zone_names_as_offsets(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_uppercase() || (i > 0 && bytes[i - 1].is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let word = &text[start..i];
        let Some(&(_, mut minutes)) = ZONE_NAMES.iter().find(|(n, _)| *n == word) else {
            continue;
        };
        let mut end = i;
        if matches!(word, "GMT" | "UTC" | "UT") {
            if let Some((offset, len)) = gmt_offset(&text[i..]) {
                minutes = offset;
                end = i + len;
            }
        }
        let sign = if minutes < 0 { '-' } else { '+' };
        let abs = minutes.abs();
        return format!(
            "{}{sign}{:02}{:02}{}",
            &text[..start],
            abs / 60,
            abs % 60,
            &text[end..]
        );
    }
    text.to_string()
}

/// A `+8`, `+08`, `+0800` or `+08:00` after `GMT`: minutes and length.
fn gmt_offset(rest: &str) -> Option<(i32, usize)> {
    let sign = match rest.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = rest[1..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    let (hours, mut minutes, mut len) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0, 1 + digits.len()),
        4 => (digits[..2].parse().ok()?, digits[2..].parse().ok()?, 5),
        _ => return None,
    };
    if digits.len() <= 2 && rest[len..].starts_with(':') {
        let m: String = rest[len + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if m.len() == 2 {
            minutes = m.parse().ok()?;
            len += 3;
        }
    }
    Some((sign * (hours * 60 + minutes), len))
}

/// Translates a `SimpleDateFormat` pattern to jiff's strftime: the
/// translation with ISO zones as numeric offsets, and the one with them as
/// a literal `Z` (equal when the pattern has no `X`).
pub fn translate(pattern: &str) -> Result<(String, String), String> {
    translate_with(pattern, "%Z")
}

/// As [`translate`], with zone names (`z`) as `zone_name`.
fn translate_with(pattern: &str, zone_name: &str) -> Result<(String, String), String> {
    let mut out = String::new();
    let mut zulu = String::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            // `''` is a quote, inside quoted text or out of it.
            if chars.get(i + 1) == Some(&'\'') {
                push_literal(&mut out, &mut zulu, '\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("Unterminated quote in pattern {pattern}")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        push_literal(&mut out, &mut zulu, '\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&lit) => {
                        push_literal(&mut out, &mut zulu, lit);
                        i += 1;
                    }
                }
            }
            continue;
        }
        if !c.is_ascii_alphabetic() {
            push_literal(&mut out, &mut zulu, c);
            i += 1;
            continue;
        }
        let mut count = 1;
        while chars.get(i + count) == Some(&c) {
            count += 1;
        }
        i += count;
        if c == 'X' {
            let offset = match count {
                1 => "%:::z",
                2 => "%z",
                3 => "%:z",
                _ => return Err(format!("invalid ISO 8601 format: length={count}")),
            };
            out.push_str(offset);
            zulu.push('Z');
            continue;
        }
        let spec = if c == 'z' {
            zone_name.to_string()
        } else {
            field(c, count, pattern)?
        };
        out.push_str(&spec);
        zulu.push_str(&spec);
    }
    Ok((out, zulu))
}

fn push_literal(out: &mut String, zulu: &mut String, c: char) {
    for s in [out, zulu] {
        if c == '%' {
            s.push_str("%%");
        } else {
            s.push(c);
        }
    }
}

/// A numeric field: unpadded for one letter, zero-padded to the number of
/// letters otherwise (`natural` is the directive's own width, written
/// without a width for readability).
fn numeric(directive: char, count: usize, natural: usize) -> String {
    match count {
        n if n == natural => format!("%{directive}"),
        1 => format!("%-{directive}"),
        n => format!("%0{n}{directive}"),
    }
}

fn field(c: char, count: usize, pattern: &str) -> Result<String, String> {
    Ok(match c {
        'G' => "AD".to_string(),
        'y' if count == 2 => "%y".to_string(),
        'y' => numeric('Y', count, 4),
        'Y' if count == 2 => "%g".to_string(),
        'Y' => numeric('G', count, 4),
        'M' | 'L' => match count {
            1 | 2 => numeric('m', count, 2),
            3 => "%b".to_string(),
            _ => "%B".to_string(),
        },
        'w' => numeric('V', count, 2),
        'D' => numeric('j', count, 3),
        'd' => numeric('d', count, 2),
        'E' if count <= 3 => "%a".to_string(),
        'E' => "%A".to_string(),
        'u' => numeric('u', count, 1),
        'a' => "%p".to_string(),
        'H' => numeric('H', count, 2),
        'h' => numeric('I', count, 2),
        'm' => numeric('M', count, 2),
        's' => numeric('S', count, 2),
        'S' if count <= 3 => "%3f".to_string(),
        'S' if count <= 9 => format!("%{count}f"),
        'S' => {
            return Err(format!(
                "pattern {pattern}: at most 9 fraction digits (S) are supported"
            ))
        }
        'Z' => "%z".to_string(),
        'W' | 'F' | 'k' | 'K' => {
            return Err(format!(
                "pattern {pattern}: the letter '{c}' ({}) is not supported",
                match c {
                    'W' => "week in month",
                    'F' => "day of week in month",
                    'k' => "hour 1-24",
                    _ => "hour 0-11",
                }
            ))
        }
        other => return Err(format!("Illegal pattern character '{other}'")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tr(pattern: &str) -> String {
        translate(pattern).unwrap().0
    }

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn common_patterns_translate() {
        assert_eq!(tr("yyyyMMdd"), "%Y%m%d");
        assert_eq!(tr("yyyy-MM-dd HH:mm:ss"), "%Y-%m-%d %H:%M:%S");
        assert_eq!(tr("yyyy-MM-dd'T'HH:mm:ss.SSSZ"), "%Y-%m-%dT%H:%M:%S.%3f%z");
        assert_eq!(tr("yyyy-MM-dd'T'HH:mm:ssXXX"), "%Y-%m-%dT%H:%M:%S%:z");
        assert_eq!(tr("EEE, d MMM yyyy"), "%a, %-d %b %Y");
        assert_eq!(tr("EEEE MMMM"), "%A %B");
        assert_eq!(tr("h:mm a"), "%-I:%M %p");
        assert_eq!(tr("yy.M.d"), "%y.%-m.%-d");
        assert_eq!(tr("DDD u ww z G"), "%j %u %V %Z AD");
        assert_eq!(tr("ddd"), "%03d");
        assert_eq!(tr("SSSSSS"), "%6f");
    }

    #[test]
    fn widths_follow_the_number_of_letters() {
        assert_eq!(tr("y"), "%-Y");
        assert_eq!(tr("yyy"), "%03Y");
        assert_eq!(tr("yyyyy"), "%05Y");
        assert_eq!(tr("YYYY-'W'ww-u"), "%G-W%V-%u");
        assert_eq!(tr("YY"), "%g");
        assert_eq!(tr("uu"), "%02u");
        assert_eq!(tr("LLL LLLL L"), "%b %B %-m");
        assert_eq!(tr("D DD"), "%-j %02j");
        assert_eq!(tr("H:m:s"), "%-H:%-M:%-S");
        assert_eq!(tr("S SS SSSS SSSSSSSSS"), "%3f %3f %4f %9f");
        assert_eq!(tr("X XX XXX"), "%:::z %z %:z");
        let (_, zulu) = translate("HH:mmXXX").unwrap();
        assert_eq!(zulu, "%H:%MZ");
    }

    #[test]
    fn non_letters_and_non_ascii_text_are_literal() {
        assert_eq!(tr("yyyy年MM月dd日"), "%Y年%m月%d日");
        assert_eq!(tr("[HH] (mm) {ss} #"), "[%H] (%M) {%S} #");
        assert_eq!(tr("'It''s' h 'o''clock'"), "It's %-I o'clock");
    }

    #[test]
    fn quotes_and_percent_signs_are_literal() {
        assert_eq!(tr("'T'"), "T");
        assert_eq!(tr("''"), "'");
        assert_eq!(tr("'o''clock' H"), "o'clock %-H");
        assert_eq!(tr("'at' HH 'h'"), "at %H h");
        assert_eq!(tr("100% yyyy"), "100%% %Y");
        assert_eq!(tr("'%d'"), "%%d");
        assert!(translate("'unterminated").is_err());
    }

    #[test]
    fn letters_java_refuses_or_strftime_lacks_are_errors() {
        assert_eq!(
            translate("yyyy-bb").unwrap_err(),
            "Illegal pattern character 'b'"
        );
        assert!(translate("kk:mm").unwrap_err().contains("hour 1-24"));
        assert!(translate("XXXX").is_err());
        assert!(translate("SSSSSSSSSS").is_err());
    }

    #[test]
    fn formats_in_utc_as_java_does() {
        let t = ms("2024-03-05T07:08:09.045Z");
        let f = |p: &str| JavaDateFormat::new(p).unwrap().format_millis(t).unwrap();
        assert_eq!(f("yyyyMMdd"), "20240305");
        assert_eq!(f("yyyy-MM-dd HH:mm:ss.SSS"), "2024-03-05 07:08:09.045");
        assert_eq!(
            f("yyyy-MM-dd'T'HH:mm:ss.SSSXXX"),
            "2024-03-05T07:08:09.045Z"
        );
        assert_eq!(f("yyyy-MM-dd'T'HH:mm:ssZ"), "2024-03-05T07:08:09+0000");
        assert_eq!(
            f("EEE, d MMM yyyy HH:mm:ss z"),
            "Tue, 5 Mar 2024 07:08:09 UTC"
        );
        assert_eq!(f("EEEE d MMMM yy"), "Tuesday 5 March 24");
        assert_eq!(f("h:mm a"), "7:08 AM");
        assert_eq!(f("D"), "65");
        assert_eq!(f("M/d/y"), "3/5/2024");
        assert_eq!(f("'week' ww"), "week 10");
    }

    #[test]
    fn iso_zones_print_z_for_utc_and_the_offset_otherwise() {
        let fmt = JavaDateFormat::new("yyyy-MM-dd'T'HH:mmXXX").unwrap();
        let ts: Timestamp = "2024-03-05T07:08:00Z".parse().unwrap();
        assert_eq!(fmt.format(ts).unwrap(), "2024-03-05T07:08Z");
        let zoned = ts.to_zoned(TimeZone::fixed(jiff::tz::offset(-8)));
        assert_eq!(fmt.format_zoned(&zoned).unwrap(), "2024-03-04T23:08-08:00");
        let basic = JavaDateFormat::new("HHmmXX").unwrap();
        let plus = ts.to_zoned(TimeZone::fixed(jiff::tz::offset(5)));
        assert_eq!(basic.format_zoned(&plus).unwrap(), "1208+0500");
    }

    #[test]
    fn parses_as_java_does() {
        let p =
            |pattern: &str, text: &str| JavaDateFormat::new(pattern).unwrap().parse_millis(text);
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss", "2024-03-05 07:08:09"),
            Ok(ms("2024-03-05T07:08:09Z"))
        );
        assert_eq!(
            p(
                "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
                "2024-03-05T07:08:09.045+02:00"
            ),
            Ok(ms("2024-03-05T05:08:09.045Z"))
        );
        assert_eq!(
            p("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T07:08:09.045Z"),
            Ok(ms("2024-03-05T07:08:09.045Z"))
        );
        assert_eq!(
            p("yyyy-MM-dd'T'HH:mm:ssZ", "2024-03-05T07:08:09-0130"),
            Ok(ms("2024-03-05T08:38:09Z"))
        );
        assert_eq!(p("yyyyMMdd", "20240305"), Ok(ms("2024-03-05T00:00:00Z")));
        assert_eq!(
            p("dd MMM yyyy", "05 Mar 2024"),
            Ok(ms("2024-03-05T00:00:00Z"))
        );
        assert_eq!(
            p("EEE, d MMMM yyyy", "Tue, 5 March 2024"),
            Ok(ms("2024-03-05T00:00:00Z"))
        );
        assert_eq!(p("hh:mm a", "07:30 PM"), Ok(ms("1970-01-01T19:30:00Z")));
    }

    #[test]
    fn unpadded_fields_day_of_year_and_short_offsets_parse() {
        let p =
            |pattern: &str, text: &str| JavaDateFormat::new(pattern).unwrap().parse_millis(text);
        assert_eq!(p("d/M/y", "5/3/2024"), Ok(ms("2024-03-05T00:00:00Z")));
        assert_eq!(p("d/M/y", "15/11/2024"), Ok(ms("2024-11-15T00:00:00Z")));
        assert_eq!(p("yyyy-DDD", "2024-065"), Ok(ms("2024-03-05T00:00:00Z")));
        assert_eq!(
            p("yyyy-MM-dd HHX", "2024-03-05 10+02"),
            Ok(ms("2024-03-05T08:00:00Z"))
        );
        assert_eq!(
            p("yyyy-MM-dd HHXX", "2024-03-05 10Z"),
            Ok(ms("2024-03-05T10:00:00Z"))
        );
        assert_eq!(
            p(
                "EEEE, MMMM d, yyyy h:mm a",
                "Tuesday, March 5, 2024 12:15 AM"
            ),
            Ok(ms("2024-03-05T00:15:00Z"))
        );
        assert_eq!(
            p("yyyyMMddHHmmssSSS", "20240305070809045"),
            Ok(ms("2024-03-05T07:08:09.045Z"))
        );
    }

    #[test]
    fn midnight_and_noon_print_as_twelve_on_the_twelve_hour_clock() {
        let f = JavaDateFormat::new("hh:mm a").unwrap();
        assert_eq!(
            f.format_millis(ms("2024-03-05T00:05:00Z")).unwrap(),
            "12:05 AM"
        );
        assert_eq!(
            f.format_millis(ms("2024-03-05T12:05:00Z")).unwrap(),
            "12:05 PM"
        );
    }

    #[test]
    fn dates_before_the_epoch_format() {
        let f = JavaDateFormat::new("yyyy-MM-dd HH:mm:ss.SSS").unwrap();
        assert_eq!(f.format_millis(-1).unwrap(), "1969-12-31 23:59:59.999");
        assert_eq!(f.parse_millis("1969-12-31 23:59:59.999"), Ok(-1));
    }

    #[test]
    fn parsing_defaults_missing_fields_and_ignores_trailing_text() {
        let p =
            |pattern: &str, text: &str| JavaDateFormat::new(pattern).unwrap().parse_millis(text);
        assert_eq!(p("HH:mm", "13:45"), Ok(ms("1970-01-01T13:45:00Z")));
        assert_eq!(p("yyyy", "2024"), Ok(ms("2024-01-01T00:00:00Z")));
        assert_eq!(p("yyyy-MM", "2024-07"), Ok(ms("2024-07-01T00:00:00Z")));
        assert_eq!(
            p("yyyy-MM-dd", "2024-07-02 and more"),
            Ok(ms("2024-07-02T00:00:00Z"))
        );
    }

    #[test]
    fn zone_names_parse_as_java_reads_them() {
        let p =
            |pattern: &str, text: &str| JavaDateFormat::new(pattern).unwrap().parse_millis(text);
        // Java's Date.toString() form, which string timestamps often hold.
        let date_to_string = "EEE MMM dd HH:mm:ss zzz yyyy";
        assert_eq!(
            p(date_to_string, "Sun Dec 13 02:18:44 GMT 2020"),
            Ok(ms("2020-12-13T02:18:44Z"))
        );
        assert_eq!(
            p(date_to_string, "Sun Dec 13 02:18:44 PST 2020"),
            Ok(ms("2020-12-13T10:18:44Z"))
        );
        assert_eq!(
            p("yyyy-MM-dd HH:mm z", "2020-12-13 02:18 GMT+05:30"),
            Ok(ms("2020-12-12T20:48:00Z"))
        );
        assert_eq!(
            p("yyyy-MM-dd HH:mm z", "2020-12-13 02:18 UTC-8"),
            Ok(ms("2020-12-13T10:18:00Z"))
        );
        assert!(p("yyyy-MM-dd HH:mm z", "2020-12-13 02:18 XYZ").is_err());
        // Formatting still prints the abbreviation.
        let f = JavaDateFormat::new(date_to_string).unwrap();
        assert_eq!(f.format_millis(0).unwrap(), "Thu Jan 01 00:00:00 UTC 1970");
    }

    #[test]
    fn parse_errors_name_the_value_and_the_pattern() {
        let fmt = JavaDateFormat::new("yyyy-MM-dd").unwrap();
        let err = fmt.parse("05/03/2024").unwrap_err();
        assert!(
            err.starts_with("value (05/03/2024) does not match pattern (yyyy-MM-dd)"),
            "{err}"
        );
    }

    #[test]
    fn many_instants_round_trip() {
        // A fixed linear congruential sequence over 1900..2100, so a
        // failure repeats; each instant is formatted, then parsed back.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let lo = ms("1900-01-01T00:00:00Z");
        let span = (ms("2100-01-01T00:00:00Z") - lo) as u64;
        let formats: Vec<JavaDateFormat> = [
            "yyyy-MM-dd'T'HH:mm:ss.SSSXXX",
            "EEE, d MMM yyyy HH:mm:ss.SSS Z",
            "yyyy-DDD'T'hh:mm:ss.SSS a",
        ]
        .iter()
        .map(|p| JavaDateFormat::new(p).unwrap())
        .collect();
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let t = lo + ((x >> 11) % span) as i64;
            for f in &formats {
                let text = f.format_millis(t).unwrap();
                assert_eq!(f.parse_millis(&text), Ok(t), "{}: {text}", f.pattern());
            }
        }
    }

    #[test]
    fn format_and_parse_round_trip() {
        // (pattern, the unit it keeps in milliseconds)
        for (pattern, unit) in [
            ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", 1),
            ("yyyyMMddHHmmssSSS", 1),
            ("EEE MMM dd HH:mm:ss yyyy", 1000),
            ("dd/MM/yy hh:mm:ss.SSS a Z", 1),
            ("yyyy-DDD HH:mm", 60_000),
        ] {
            let fmt = JavaDateFormat::new(pattern).unwrap();
            for t in [0, 1_700_000_000_123, 951_782_400_999] {
                let text = fmt.format_millis(t).unwrap();
                assert_eq!(
                    fmt.parse_millis(&text),
                    Ok(t - t % unit),
                    "{pattern}: {text}"
                );
            }
        }
    }
}
