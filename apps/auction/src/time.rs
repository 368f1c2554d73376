//! UTC timestamps as text, without a date-time dependency: the auction only
//! needs "now" in milliseconds, RFC 3339 in UTC for closing times, and the
//! SQL `TIMESTAMP` literal form for the `bid_ts` column.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// The inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// `YYYY-MM-DD HH:MM:SS.mmm` (UTC): the literal every supported database
/// accepts for a timestamp column.
pub fn sql_timestamp(ms: i64) -> String {
    let (secs, millis) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 3339 in UTC with a `Z`, seconds precision.
pub fn rfc3339(ms: i64) -> String {
    let s = sql_timestamp(ms);
    format!("{}T{}Z", &s[..10], &s[11..19])
}

/// Parses `YYYY-MM-DDTHH:MM[:SS]Z` or with a `+HH:MM`/`-HH:MM` offset (a
/// space may stand for the `T`) into epoch milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = text.trim();
    let b = t.as_bytes();
    if b.len() < 16 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d, h, mi) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
    );
    let mut rest = &t[16..];
    let mut sec = 0;
    if let Some(r) = rest.strip_prefix(':') {
        let s: String = r.chars().take_while(char::is_ascii_digit).collect();
        sec = s.parse().ok()?;
        rest = &r[s.len()..];
        // Fractions of a second are accepted and dropped.
        if let Some(r) = rest.strip_prefix('.') {
            rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
        }
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 60 + om)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    Some(((days * 86400 + h * 3600 + mi * 60 + sec) - offset_min * 60) * 1000)
}

/// "2d 3h", "5m 10s", "closed": how long until `closes_ms`.
pub fn time_left(closes_ms: i64, now_ms: i64) -> String {
    let left = (closes_ms - now_ms) / 1000;
    if left <= 0 {
        return "closed".to_string();
    }
    let (d, h, m, s) = (
        left / 86400,
        left % 86400 / 3600,
        left % 3600 / 60,
        left % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_dates() {
        assert_eq!(sql_timestamp(0), "1970-01-01 00:00:00.000");
        assert_eq!(sql_timestamp(951_782_400_123), "2000-02-29 00:00:00.123");
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(
            parse_rfc3339("2000-02-29T01:30+01:30"),
            Some(951_782_400_000)
        );
        assert_eq!(
            parse_rfc3339("2030-12-31 23:59:59.5Z"),
            parse_rfc3339("2030-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(
            parse_rfc3339(&rfc3339(1_700_000_000_000)),
            Some(1_700_000_000_000)
        );
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "tomorrow",
            "2030-13-01T00:00Z",
            "2030-01-01T00:00",
            "2030-01-01T25:00Z",
            "２０３０-01-01T00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn time_left_reads_well() {
        assert_eq!(time_left(0, 1), "closed");
        assert_eq!(time_left(61_000, 0), "1m 1s");
        assert_eq!(time_left(90_061_000, 0), "1d 1h");
    }
}
