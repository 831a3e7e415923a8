//! Hours of operation: is a buyer open at an instant?
//!
//! A [`Schedule`] is written in the buyer's wall-clock time, so the instant is
//! converted to the buyer's zone first and the local weekday and minute are
//! matched against that day's `[open, close)` windows.
//!
//! Daylight-saving time falls out of the wall-clock reading, and these are the
//! consequences (tested below):
//! - spring forward: local times that never happen (02:00–02:59 in New York)
//!   are never open, so a window lying wholly inside the gap never opens that day;
//! - fall back: the repeated hour (01:00–01:59 in New York) is open both times
//!   it happens if a window covers it.

use chrono::{DateTime, Datelike, Timelike, Utc};
use chrono_tz::Tz;
use switchboard_model::Schedule;

/// Whether `now` falls in an opening window in `tz` local time. `None` schedule = always open.
///
/// A window is `[open, close)` by minute, so `close = 24:00` covers the day's
/// last minute, and a window with `open >= close` never matches. Windows never
/// spill into the next day: to stay open across midnight, close at `24:00` and
/// open the next day at `00:00`.
pub fn is_open(schedule: Option<&Schedule>, tz: Tz, now: DateTime<Utc>) -> bool {
    let Some(schedule) = schedule else {
        return true;
    };
    let local = now.with_timezone(&tz);
    // `hour() * 60 + minute()` is at most 1439, so it fits u16 and the `24:00`
    // end is exclusive without a special case.
    let minute = (local.hour() * 60 + local.minute()) as u16;
    schedule
        .day(local.weekday())
        .iter()
        .any(|w| w.open.0 <= minute && minute < w.close.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use chrono_tz::{America::New_York, Pacific::Auckland};
    use switchboard_model::TimeWindow;
    use switchboard_model::config::TimeOfDay;

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid test time")
    }

    fn window(open: &str, close: &str) -> TimeWindow {
        TimeWindow {
            open: TimeOfDay::parse(open).expect("valid open"),
            close: TimeOfDay::parse(close).expect("valid close"),
        }
    }

    #[test]
    fn no_schedule_is_always_open() {
        assert!(is_open(None, New_York, utc(2024, 3, 10, 7, 0)));
        assert!(is_open(None, Auckland, utc(2024, 12, 31, 23, 59)));
    }

    #[test]
    fn weekday_window_in_new_york_time_not_utc() {
        // Monday 2024-01-08 9:00-17:00 in New York (EST, UTC-5) is 14:00-22:00 UTC.
        let s = Schedule {
            monday: vec![window("09:00", "17:00")],
            ..Schedule::default()
        };
        assert!(!is_open(Some(&s), New_York, utc(2024, 1, 8, 13, 59)));
        assert!(is_open(Some(&s), New_York, utc(2024, 1, 8, 14, 0)));
        assert!(is_open(Some(&s), New_York, utc(2024, 1, 8, 21, 59)));
        assert!(
            !is_open(Some(&s), New_York, utc(2024, 1, 8, 22, 0)),
            "close minute is exclusive"
        );
        // In UTC terms 09:00 Monday would be open, but it is 04:00 in New York.
        assert!(!is_open(Some(&s), New_York, utc(2024, 1, 8, 9, 30)));
    }

    #[test]
    fn closed_days_have_no_windows() {
        let s = Schedule {
            monday: vec![window("00:00", "24:00")],
            ..Schedule::default()
        };
        // Tuesday noon in New York.
        assert!(!is_open(Some(&s), New_York, utc(2024, 1, 9, 17, 0)));
        // An empty schedule is closed all week, not open.
        let empty = Schedule::default();
        for day in 8..15 {
            assert!(!is_open(Some(&empty), New_York, utc(2024, 1, day, 17, 0)));
        }
    }

    #[test]
    fn window_ending_at_24_00_covers_the_last_minute_and_joins_the_next_day() {
        let s = Schedule {
            monday: vec![window("22:00", "24:00")],
            tuesday: vec![window("00:00", "02:00")],
            ..Schedule::default()
        };
        // Mon 2024-01-08 23:59:59 EST = Tue 04:59:59 UTC.
        let last_second = Utc
            .with_ymd_and_hms(2024, 1, 9, 4, 59, 59)
            .single()
            .expect("valid");
        assert!(is_open(Some(&s), New_York, last_second));
        assert!(
            is_open(Some(&s), New_York, utc(2024, 1, 9, 5, 0)),
            "Tue 00:00"
        );
        assert!(
            is_open(Some(&s), New_York, utc(2024, 1, 9, 6, 59)),
            "Tue 01:59"
        );
        assert!(
            !is_open(Some(&s), New_York, utc(2024, 1, 9, 7, 0)),
            "Tue 02:00"
        );
        // Monday's 22:00-24:00 does not spill into Tuesday evening.
        assert!(
            !is_open(Some(&s), New_York, utc(2024, 1, 10, 4, 0)),
            "Tue 23:00"
        );
    }

    #[test]
    fn spring_forward_gap_never_opens() {
        // 2024-03-10 (Sunday): New York jumps from 01:59:59 EST to 03:00 EDT at 07:00 UTC.
        let gap = Schedule {
            sunday: vec![window("02:00", "03:00")],
            ..Schedule::default()
        };
        for m in 0..=180 {
            let t = utc(2024, 3, 10, 5, 0) + chrono::Duration::minutes(m);
            assert!(
                !is_open(Some(&gap), New_York, t),
                "02:00-03:00 does not exist that day ({t})"
            );
        }
        let early = Schedule {
            sunday: vec![window("01:00", "03:00")],
            ..Schedule::default()
        };
        assert!(
            is_open(Some(&early), New_York, utc(2024, 3, 10, 6, 59)),
            "01:59 EST"
        );
        assert!(
            !is_open(Some(&early), New_York, utc(2024, 3, 10, 7, 0)),
            "03:00 EDT, one minute later"
        );
        let late = Schedule {
            sunday: vec![window("03:00", "04:00")],
            ..Schedule::default()
        };
        assert!(
            is_open(Some(&late), New_York, utc(2024, 3, 10, 7, 0)),
            "03:00 EDT"
        );
    }

    #[test]
    fn fall_back_repeated_hour_is_open_twice() {
        // 2024-11-03 (Sunday): 01:00-01:59 happens in EDT (05:00 UTC) and again in EST (06:00 UTC).
        let s = Schedule {
            sunday: vec![window("01:00", "02:00")],
            ..Schedule::default()
        };
        assert!(
            !is_open(Some(&s), New_York, utc(2024, 11, 3, 4, 59)),
            "00:59 EDT"
        );
        assert!(
            is_open(Some(&s), New_York, utc(2024, 11, 3, 5, 30)),
            "01:30 EDT"
        );
        assert!(
            is_open(Some(&s), New_York, utc(2024, 11, 3, 6, 30)),
            "01:30 EST"
        );
        assert!(
            !is_open(Some(&s), New_York, utc(2024, 11, 3, 7, 0)),
            "02:00 EST"
        );
    }

    #[test]
    fn auckland_is_a_day_ahead_of_utc() {
        // Monday 2024-01-08 09:00 in Auckland (NZDT, UTC+13) is Sunday 20:00 UTC.
        let s = Schedule {
            monday: vec![window("09:00", "17:00")],
            ..Schedule::default()
        };
        assert!(is_open(Some(&s), Auckland, utc(2024, 1, 7, 20, 0)));
        assert!(!is_open(Some(&s), Auckland, utc(2024, 1, 7, 19, 59)));
        // Monday 10:00 UTC is Monday 23:00 in Auckland: closed, though UTC says Monday daytime.
        assert!(!is_open(Some(&s), Auckland, utc(2024, 1, 8, 10, 0)));
        // In July Auckland is on NZST (UTC+12): Monday 2024-07-08 09:00 = Sunday 21:00 UTC.
        assert!(is_open(Some(&s), Auckland, utc(2024, 7, 7, 21, 0)));
        assert!(!is_open(Some(&s), Auckland, utc(2024, 7, 7, 20, 59)));
    }

    #[test]
    fn inverted_or_out_of_range_windows_do_not_panic_or_open() {
        let s = Schedule {
            monday: vec![
                TimeWindow {
                    open: TimeOfDay(600),
                    close: TimeOfDay(600),
                },
                TimeWindow {
                    open: TimeOfDay(900),
                    close: TimeOfDay(300),
                },
                TimeWindow {
                    open: TimeOfDay(5000),
                    close: TimeOfDay(u16::MAX),
                },
            ],
            ..Schedule::default()
        };
        for h in 0..24 {
            assert!(!is_open(Some(&s), chrono_tz::UTC, utc(2024, 1, 8, h, 0)));
        }
    }
}
