//! Time as IPP says it: `printer-up-time` / `time-at-*` integers and RFC
//! 2579 `dateTime`.

/// An instant as `printer-up-time` and `time-at-*` carry it: Unix seconds,
/// as cupsd does. RFC 8011 5.4.29 counts up-time from the printer's start,
/// but CUPS clients (`lpstat -o`, print dialogs) read `time-at-creation`
/// as a Unix time and would show 1970 dates; RFC 8011 5.3.14 only needs
/// `time-at-*` to share `printer-up-time`'s clock, which this keeps, and
/// jobs recovered after a restart keep their real times. Saturates in
/// 2038 like every 32-bit IPP clock.
pub(super) fn ipp_time(unix: u64) -> i32 {
    i32::try_from(unix).unwrap_or(i32::MAX)
}

/// RFC 2579 DateAndTime in UTC: year (2 bytes), month, day, hour, minutes,
/// seconds, deci-seconds, '+', hours and minutes from UTC.
pub(super) fn date_time(unix: u64) -> [u8; 11] {
    let days = i64::try_from(unix / 86_400).unwrap_or(i64::MAX / 2);
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    let year = u16::try_from(year).unwrap_or(u16::MAX).to_be_bytes();
    // Each value below is < 60 (or < 24), so the casts are exact.
    let hour = (secs / 3600) as u8;
    let minute = (secs % 3600 / 60) as u8;
    let second = (secs % 60) as u8;
    [
        year[0], year[1], month, day, hour, minute, second, 0, b'+', 0, 0,
    ]
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_of_known_instants() {
        assert_eq!(date_time(0), [7, 178, 1, 1, 0, 0, 0, 0, b'+', 0, 0]);
        // 2024-02-29 13:45:07 UTC, a leap day.
        assert_eq!(
            date_time(1_709_214_307),
            [7, 232, 2, 29, 13, 45, 7, 0, b'+', 0, 0]
        );
    }

    #[test]
    fn ipp_time_is_unix_seconds_saturating() {
        assert_eq!(ipp_time(1_709_214_307), 1_709_214_307);
        assert_eq!(ipp_time(u64::MAX), i32::MAX);
    }
}
