//! `strftime_now(format)`: the current local time formatted like Python's `strftime`, for
//! templates that print today's date (Llama 3.x writes "Today Date: 26 Jul 2024").
//! Hugging Face renders `datetime.now().strftime(format)`: the user's local time, as a
//! naive datetime (so `%z` and `%Z` print nothing).

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Seconds since the Unix epoch, now. `web_time` reads `Date.now()` in the browser, where
/// `std::time::SystemTime` is unavailable.
pub(crate) fn unix_seconds_now() -> i64 {
    web_time::SystemTime::now()
        .duration_since(web_time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The local time zone's offset from UTC now, in seconds (east positive): the browser's
/// (the page's time zone, through `Date`), or the system's natively.
pub(crate) fn local_utc_offset_seconds() -> i64 {
    #[cfg(target_arch = "wasm32")]
    {
        // `getTimezoneOffset` is UTC minus local, in minutes.
        let minutes = js_sys::Date::new_0().get_timezone_offset();
        if minutes.is_finite() && minutes.abs() <= 24.0 * 60.0 {
            -(minutes as i64) * 60
        } else {
            0
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        use chrono::Offset;
        i64::from(chrono::Local::now().offset().fix().local_minus_utc())
    }
}

/// The local time now formatted like `datetime.now().strftime(format)`.
pub(crate) fn strftime_now(format: &str) -> String {
    strftime(
        format,
        unix_seconds_now().saturating_add(local_utc_offset_seconds()),
    )
}

/// A date and time broken into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DateTime {
    year: i64,
    /// 1..=12
    month: usize,
    /// 1..=31
    day: i64,
    /// 0 = Sunday
    weekday: usize,
    /// 1..=366
    day_of_year: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// Days since 1970-01-01 → (year, month 1..=12, day 1..=31), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

impl DateTime {
    fn from_unix(seconds: i64) -> Self {
        let days = seconds.div_euclid(86_400);
        let in_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        const DAYS_BEFORE_MONTH: [i64; 12] =
            [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
        let month_index = usize::try_from(month - 1).unwrap_or(0).min(11);
        let leap_day = i64::from(month > 2 && is_leap(year));
        DateTime {
            year,
            month: month_index + 1,
            day,
            // 1970-01-01 was a Thursday.
            weekday: usize::try_from((days + 4).rem_euclid(7)).unwrap_or(0),
            day_of_year: DAYS_BEFORE_MONTH[month_index] + leap_day + day,
            hour: in_day / 3600,
            minute: in_day % 3600 / 60,
            second: in_day % 60,
        }
    }
}

/// Formats like Python's `strftime` of a naive datetime, in the C locale: `seconds` counts
/// from 1970-01-01 00:00 in the time the fields show (UTC plus the local offset for local
/// time). Unknown directives are copied as written, as glibc does.
pub(crate) fn strftime(format: &str, seconds: i64) -> String {
    let t = DateTime::from_unix(seconds);
    let month_name = MONTHS[(t.month - 1) % 12];
    let weekday_name = WEEKDAYS[t.weekday % 7];
    let hour12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
    let mut out = String::with_capacity(format.len() + 16);
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(directive) = chars.next() else {
            out.push('%');
            break;
        };
        let field = match directive {
            'Y' => t.year.to_string(),
            'y' => format!("{:02}", t.year.rem_euclid(100)),
            'm' => format!("{:02}", t.month),
            'd' => format!("{:02}", t.day),
            'e' => format!("{:2}", t.day),
            'j' => format!("{:03}", t.day_of_year),
            'H' => format!("{:02}", t.hour),
            'I' => format!("{hour12:02}"),
            'M' => format!("{:02}", t.minute),
            'S' => format!("{:02}", t.second),
            'p' => (if t.hour < 12 { "AM" } else { "PM" }).to_string(),
            'B' => month_name.to_string(),
            'b' | 'h' => month_name.chars().take(3).collect(),
            'A' => weekday_name.to_string(),
            'a' => weekday_name.chars().take(3).collect(),
            'F' => format!("{}-{:02}-{:02}", t.year, t.month, t.day),
            'T' => format!("{:02}:{:02}:{:02}", t.hour, t.minute, t.second),
            // A naive datetime has no zone: Python prints nothing for these.
            'z' | 'Z' => String::new(),
            '%' => "%".to_string(),
            other => format!("%{other}"),
        };
        out.push_str(&field);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2024-07-26 13:05:09 UTC, a Friday.
        let t = 1_721_999_109;
        assert_eq!(strftime("%d %b %Y", t), "26 Jul 2024");
        assert_eq!(
            strftime("%A %B %e %H:%M:%S %p %I %j %y %F %T %% %Q", t),
            "Friday July 26 13:05:09 PM 01 208 24 2024-07-26 13:05:09 % %Q"
        );
        assert_eq!(strftime("%Y-%m-%d %a", 0), "1970-01-01 Thu");
        assert_eq!(strftime("%Y-%m-%d %j", 951_782_400), "2000-02-29 060");
        assert_eq!(strftime("%Y-%m-%d", -86_400), "1969-12-31");
        assert_eq!(strftime("trailing %", 0), "trailing %");
    }

    #[test]
    fn local_time_is_utc_plus_the_offset_and_naive() {
        // 2024-07-26 23:05:09 UTC is already Saturday in Kolkata (UTC+05:30)...
        let t = 1_722_035_109;
        assert_eq!(strftime("%a %F %T", t), "Fri 2024-07-26 23:05:09");
        assert_eq!(strftime("%a %F %T", t + 19_800), "Sat 2024-07-27 04:35:09");
        // ...and still Friday in Honolulu (UTC-10).
        assert_eq!(strftime("%a %F %T", t - 36_000), "Fri 2024-07-26 13:05:09");
        // A naive datetime has no zone to print.
        assert_eq!(strftime("[%z][%Z]", t), "[][]");
    }

    #[test]
    fn now_is_after_2024() {
        assert!(unix_seconds_now() > 1_700_000_000);
    }
}
