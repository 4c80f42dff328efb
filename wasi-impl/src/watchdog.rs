//! The wall-clock watchdog ([`Limits::wall_time_ms`](crate::Limits::wall_time_ms)) and the
//! fuel slicing it relies on.
//!
//! wasmi cannot be interrupted from outside: a timer interrupt can only set a flag, and
//! jumping out of the interpreter could leave its state (or a lock) half updated. So a guest
//! with a wall-clock limit runs in *slices*: the store gets at most [`FUEL_SLICE`] fuel at a
//! time, wasmi stops resumably when it runs out (`ResumableCall::OutOfFuel`), and at every
//! such boundary [`Watchdog::expired`] asks the embedder's flag ([`Services::watchdog_fired`],
//! e.g. set by the kernel's APIC timer interrupt) and compares the monotonic clock with the
//! deadline. The clock comparison alone is enough (an embedder without a timer, or the kernel
//! under SEV-SNP without a usable APIC, still stops the guest at the next boundary); the flag
//! makes the check cheap and lets a sleeping guest wake at the deadline. Sleeps in
//! `poll_oneoff` are capped at the deadline ([`Watchdog::cap`]).
//!
//! [`FuelMeter`] keeps the guest's own fuel limit exact across slices: wasmi charges fuel all
//! or nothing (a block that needs more than the store holds is not started), so a slice that
//! runs dry is refilled with `max(slice, required)` as long as the guest's remaining budget
//! covers `required`, and the guest is out of fuel exactly when `required` exceeds what is
//! left of its limit: the same point, and the same `fuel_used`, as a single unsliced call.

use crate::Services;

/// Fuel per slice: the most a guest with a wall-clock limit runs between two watchdog checks.
/// About 1-5 ms of interpretation natively (10-50x more under QEMU's TCG); resuming costs a
/// few microseconds, so the overhead stays well below 1%.
pub const FUEL_SLICE: u64 = 1 << 20;

/// Splits a guest's fuel budget into slices; see the module documentation.
#[derive(Debug, Clone)]
pub struct FuelMeter {
    /// The guest's fuel limit (`u64::MAX` when unlimited).
    limit: u64,
    /// Fuel consumed by finished slices.
    used: u64,
    /// Fuel in the store not yet accounted as used (the current slice's grant, less what
    /// was already settled).
    granted: u64,
    /// Largest slice.
    slice: u64,
}

impl FuelMeter {
    /// A meter for `limit` (`None` = unlimited) handing out at most `slice` per slice.
    pub fn new(limit: Option<u64>, slice: u64) -> Self {
        Self {
            limit: limit.unwrap_or(u64::MAX),
            used: 0,
            granted: 0,
            slice: slice.max(1),
        }
    }

    /// The fuel to put into the store for the next slice, which must be able to pay for an
    /// operation costing `required`; `None` when the guest's own budget cannot (the guest
    /// is out of fuel, as it would be without slicing).
    pub fn grant(&mut self, required: u64) -> Option<u64> {
        let left = self.limit.saturating_sub(self.used);
        if required > left {
            self.granted = 0;
            return None;
        }
        self.granted = left.min(self.slice.max(required));
        Some(self.granted)
    }

    /// Accounts for what was spent since the last grant or settlement, given that
    /// `left_in_store` fuel is still in the store (and stays there, for the next call).
    pub fn settle(&mut self, left_in_store: u64) {
        let spent = self.granted.saturating_sub(left_in_store);
        self.used = self.used.saturating_add(spent).min(self.limit);
        self.granted = left_in_store.min(self.granted);
    }

    /// Fuel consumed so far (settled slices).
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Charges `cost` for host work (wasi-crypto over guest data) while the store holds
    /// `in_store`: returns what the store holds afterwards, drawing beyond it on the part of
    /// the budget not yet handed out, or `None` when the budget cannot pay (then everything
    /// counts as used, as when an unsliced store is set to 0).
    pub fn draw(&mut self, in_store: u64, cost: u64) -> Option<u64> {
        self.settle(in_store);
        if let Some(left) = in_store.checked_sub(cost) {
            return Some(left);
        }
        // used + granted <= limit always holds; saturate anyway rather than trust it.
        let pool = self
            .limit
            .saturating_sub(self.used)
            .saturating_sub(self.granted);
        if cost.saturating_sub(in_store) > pool {
            self.used = self.limit;
            self.granted = 0;
            return None;
        }
        self.used = self.used.saturating_add(cost).min(self.limit);
        self.granted = 0;
        Some(0)
    }
}

/// One guest's wall-clock deadline.
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    /// Monotonic deadline in ns.
    pub deadline_ns: u64,
    /// The configured limit, for the report.
    pub limit_ms: u64,
    /// Set once the deadline has been seen passed (it stays passed).
    fired: bool,
}

impl Watchdog {
    /// Starts the watchdog for a limit of `limit_ms` from `now_ns`.
    pub fn new(now_ns: u64, limit_ms: u64) -> Self {
        Self {
            deadline_ns: now_ns.saturating_add(limit_ms.saturating_mul(1_000_000)),
            limit_ms,
            fired: false,
        }
    }

    /// True once the deadline has passed: the embedder's flag, else the monotonic clock.
    pub fn expired(&mut self, services: &mut dyn Services) -> bool {
        if !self.fired {
            self.fired = services.watchdog_fired() || services.monotonic_now() >= self.deadline_ns;
        }
        self.fired
    }

    /// A sleep deadline capped at the watchdog's, so a sleeping guest wakes to be stopped.
    pub fn cap(&self, sleep_until_ns: u64) -> u64 {
        sleep_until_ns.min(self.deadline_ns)
    }

    /// The report: `watchdog: guest NAME exceeded its wall-clock limit of N ms`.
    pub fn message(&self, name: &str) -> alloc::string::String {
        alloc::format!(
            "watchdog: guest {name} exceeded its wall-clock limit of {} ms",
            self.limit_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays a sequence of operation costs against a plain wasmi-style fuel counter (all or
    /// nothing, trap when a cost exceeds what is left) and returns (ops executed, fuel used).
    fn unsliced(limit: u64, costs: &[u64]) -> (usize, u64) {
        let mut fuel = limit;
        for (i, &c) in costs.iter().enumerate() {
            if c > fuel {
                return (i, limit - fuel);
            }
            fuel -= c;
        }
        (costs.len(), limit - fuel)
    }

    /// The same costs through a [`FuelMeter`] with slices of `slice`.
    fn sliced(limit: Option<u64>, slice: u64, costs: &[u64]) -> (usize, u64, usize) {
        let mut m = FuelMeter::new(limit, slice);
        let mut store = m.grant(0).expect("first slice");
        let mut slices = 1;
        let mut i = 0;
        while i < costs.len() {
            let c = costs[i];
            if c > store {
                m.settle(store);
                match m.grant(c) {
                    Some(f) => {
                        store = f;
                        slices += 1;
                        continue;
                    }
                    None => return (i, m.used(), slices),
                }
            }
            store -= c;
            i += 1;
        }
        m.settle(store);
        (costs.len(), m.used(), slices)
    }

    #[test]
    fn slicing_keeps_the_fuel_limit_exact() {
        let patterns: [&[u64]; 5] = [
            &[1; 1000],
            &[3, 7, 1, 1, 250, 2, 9, 1, 1, 1, 64, 5],
            &[100, 1, 100, 1, 100],
            &[5000, 1, 2, 3],
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        ];
        for costs in patterns {
            let total: u64 = costs.iter().sum();
            for limit in [
                1,
                2,
                7,
                10,
                99,
                100,
                101,
                255,
                256,
                1000,
                total - 1,
                total,
                total + 1,
            ] {
                for slice in [1, 2, 3, 8, 64, 100, 1 << 20] {
                    let (ops, used) = unsliced(limit, costs);
                    let (s_ops, s_used, _) = sliced(Some(limit), slice, costs);
                    assert_eq!(
                        (s_ops, s_used),
                        (ops, used),
                        "limit {limit}, slice {slice}, costs {costs:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn host_charges_draw_on_the_whole_budget() {
        // 1000 fuel, slices of 100: a charge of 250 fits the budget, not the slice.
        let mut m = FuelMeter::new(Some(1000), 100);
        assert_eq!(m.grant(0), Some(100));
        assert_eq!(m.draw(60, 250), Some(0)); // 40 spent in wasm, then 250
        assert_eq!(m.used(), 290);
        assert_eq!(m.grant(1), Some(100));
        assert_eq!(m.draw(100, 30), Some(70)); // from the store
        m.settle(70);
        assert_eq!(m.used(), 320);
        // 680 left: 700 cannot be paid; everything counts as used, as unsliced.
        assert_eq!(m.draw(70, 700), None);
        m.settle(0);
        assert_eq!(m.used(), 1000);
        assert_eq!(m.grant(1), None);
        // Unsliced reference: the same charges against one counter.
        let mut fuel: u64 = 1000;
        for c in [40, 250, 30] {
            fuel -= c;
        }
        assert_eq!(1000 - fuel, 320);
    }

    #[test]
    fn unlimited_fuel_is_counted_and_never_runs_out() {
        let costs = [7u64; 100];
        let (ops, used, slices) = sliced(None, 64, &costs);
        assert_eq!((ops, used), (100, 700));
        // 9 operations of 7 fit in a 64-fuel slice: 12 slices for 100 operations.
        assert_eq!(slices, 12);
        let mut m = FuelMeter::new(None, 10);
        assert_eq!(m.grant(u64::MAX), Some(u64::MAX));
        m.settle(0);
        assert_eq!(m.used(), u64::MAX);
        assert_eq!(m.grant(1), None);
    }

    #[test]
    fn an_operation_larger_than_a_slice_gets_a_slice_of_its_size() {
        let mut m = FuelMeter::new(Some(10_000), 100);
        assert_eq!(m.grant(0), Some(100));
        m.settle(40); // spent 60
        assert_eq!(m.grant(5000), Some(5000));
        m.settle(10); // spent 4990, 10 stay in the store
        m.settle(10); // nothing more spent
        assert_eq!(m.used(), 5050);
        m.settle(0);
        assert_eq!(m.used(), 5060);
        assert_eq!(m.grant(4941), None, "4940 left");
        assert_eq!(m.grant(4940), Some(4940));
    }

    struct Clock {
        now: u64,
        flag: bool,
    }

    impl Services for Clock {
        fn monotonic_now(&mut self) -> u64 {
            self.now
        }
        fn monotonic_resolution(&self) -> u64 {
            1
        }
        fn wall_now(&mut self) -> u64 {
            0
        }
        fn wall_resolution(&self) -> u64 {
            1
        }
        fn random(&mut self, _buf: &mut [u8]) {}
        fn stdout(&mut self, _bytes: &[u8]) {}
        fn stderr(&mut self, _bytes: &[u8]) {}
        fn read_stdin(&mut self, _buf: &mut [u8]) -> Result<usize, crate::Errno> {
            Ok(0)
        }
        fn sleep_until(&mut self, deadline_ns: u64) {
            self.now = self.now.max(deadline_ns);
        }
        fn watchdog_fired(&mut self) -> bool {
            self.flag
        }
    }

    #[test]
    fn the_watchdog_fires_on_the_clock_or_the_embedders_flag_and_stays_fired() {
        let mut c = Clock {
            now: 1_000,
            flag: false,
        };
        let mut w = Watchdog::new(c.now, 5);
        assert_eq!(w.deadline_ns, 5_001_000);
        assert!(!w.expired(&mut c));
        c.now = 5_000_999;
        assert!(!w.expired(&mut c));
        c.now = 5_001_000;
        assert!(w.expired(&mut c));
        c.now = 0; // a clock going backwards does not un-fire it
        assert!(w.expired(&mut c));

        let mut early = Watchdog::new(0, 1000);
        c.flag = true;
        assert!(early.expired(&mut c), "the embedder's timer fired first");

        assert_eq!(w.cap(u64::MAX), 5_001_000);
        assert_eq!(w.cap(7), 7);
        assert_eq!(
            w.message("spinner"),
            "watchdog: guest spinner exceeded its wall-clock limit of 5 ms"
        );
        // Absurd limits saturate instead of overflowing.
        assert_eq!(Watchdog::new(u64::MAX - 1, u64::MAX).deadline_ns, u64::MAX);
    }
}
