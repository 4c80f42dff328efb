//! The decisions behind the kernel's one-shot APIC timer, which serves both guest sleeps and
//! the wall-clock watchdog (`wasi_impl::Limits::wall_time_ms`).
//!
//! The watchdog itself runs in `wasi_impl`: between fuel slices and around sleeps it checks the
//! kernel's flag and compares the TSC-based monotonic clock with the deadline. The timer
//! interrupt sets that flag at the deadline ([`on_timer`]), so a check is one atomic load and a
//! sleeping guest wakes on time. If the guest is still running [`HARD_STOP_GRACE_NS`] after
//! the flag was set, it is stuck in a host call that cannot be interrupted, and the interrupt
//! ends the whole run with exit code 115 (the only way left to bound the image's run time).
//!
//! The xAPIC counts down a 32-bit register, which at a GHz-class timer frequency covers only
//! a few seconds: a longer wait is cut into several one-shots ([`ticks_for`] saturates, and the
//! interrupt re-arms itself until the deadline).

/// How long after its deadline a guest may still be running (finishing a slice or a host
/// call) before the timer interrupt ends the whole run.
pub const HARD_STOP_GRACE_NS: u64 = 10_000_000_000;

/// What the timer interrupt does for an armed watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerAction {
    /// The deadline has not come: re-arm the timer for this TSC value.
    Wait {
        /// TSC value to wake at.
        until: u64,
    },
    /// The deadline has passed: set the flag and re-arm for the hard stop at this TSC value.
    Fire {
        /// TSC value of the hard stop.
        hard_stop_at: u64,
    },
    /// The guest ignored the flag for the whole grace period: end the run.
    HardStop,
}

/// Decides what the timer interrupt does, at TSC `now`, for a watchdog with TSC `deadline`
/// whose flag is `fired`, given the grace period in TSC ticks.
pub fn on_timer(now: u64, deadline: u64, fired: bool, grace_tsc: u64) -> TimerAction {
    let hard_stop_at = deadline.saturating_add(grace_tsc);
    if now < deadline {
        TimerAction::Wait { until: deadline }
    } else if !fired {
        TimerAction::Fire { hard_stop_at }
    } else if now >= hard_stop_at {
        TimerAction::HardStop
    } else {
        TimerAction::Wait {
            until: hard_stop_at,
        }
    }
}

/// The next timer target for a sleep until `sleep_until` (TSC) while the watchdog waits for
/// `watchdog` (TSC, `None` when disarmed or already fired): whichever comes first.
pub fn next_wakeup(sleep_until: u64, watchdog: Option<u64>) -> u64 {
    watchdog.map_or(sleep_until, |w| w.min(sleep_until))
}

/// The timer's initial count for a wait of `remaining_tsc` TSC ticks: at least 1 (0 stops
/// the timer), at most `u32::MAX` (a longer wait takes several one-shots).
pub fn ticks_for(remaining_tsc: u64, timer_hz: u64, tsc_hz: u64) -> u32 {
    if tsc_hz == 0 {
        return u32::MAX;
    }
    (u128::from(remaining_tsc) * u128::from(timer_hz) / u128::from(tsc_hz))
        .clamp(1, u128::from(u32::MAX)) as u32
}

/// The grace period in TSC ticks for a TSC running at `tsc_hz`.
pub fn grace_tsc(tsc_hz: u64) -> u64 {
    u64::try_from(u128::from(HARD_STOP_GRACE_NS) * u128::from(tsc_hz) / 1_000_000_000)
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interrupt_waits_fires_then_hard_stops() {
        let grace = 1000;
        assert_eq!(
            on_timer(10, 100, false, grace),
            TimerAction::Wait { until: 100 }
        );
        assert_eq!(
            on_timer(100, 100, false, grace),
            TimerAction::Fire { hard_stop_at: 1100 }
        );
        // An early wake-up after firing (a sleep's one-shot) re-arms for the hard stop.
        assert_eq!(
            on_timer(500, 100, true, grace),
            TimerAction::Wait { until: 1100 }
        );
        assert_eq!(on_timer(1100, 100, true, grace), TimerAction::HardStop);
        // A late first interrupt only fires: the guest still gets the grace period's chance
        // to stop by itself at its next slice boundary.
        assert_eq!(
            on_timer(5000, 100, false, grace),
            TimerAction::Fire { hard_stop_at: 1100 }
        );
        assert_eq!(
            on_timer(u64::MAX, u64::MAX - 1, false, grace),
            TimerAction::Fire {
                hard_stop_at: u64::MAX
            }
        );
    }

    #[test]
    fn sleeps_wake_for_the_watchdog_first() {
        assert_eq!(next_wakeup(500, None), 500);
        assert_eq!(next_wakeup(500, Some(300)), 300);
        assert_eq!(next_wakeup(500, Some(900)), 500);
    }

    #[test]
    fn timer_counts_are_clamped() {
        // 1 GHz timer, 2 GHz TSC: half the TSC ticks.
        assert_eq!(ticks_for(2000, 1_000_000_000, 2_000_000_000), 1000);
        assert_eq!(ticks_for(1, 1_000_000_000, 2_000_000_000), 1);
        assert_eq!(ticks_for(0, 1_000_000_000, 2_000_000_000), 1);
        assert_eq!(ticks_for(u64::MAX, 1_000_000_000, 1), u32::MAX);
        assert_eq!(ticks_for(5, 1, 0), u32::MAX);
        assert_eq!(grace_tsc(1_000_000_000), 10_000_000_000);
        assert_eq!(grace_tsc(u64::MAX), u64::MAX);
    }
}
