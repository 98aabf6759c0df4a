//! The process's CPU time (user and system, every thread), for `perf`.

use std::time::Duration;

/// CPU time the process has used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct CpuTime {
    /// In user mode.
    pub(crate) user: Duration,
    /// In the kernel on the process's behalf.
    pub(crate) system: Duration,
}

impl CpuTime {
    /// The time used so far; `None` where the platform does not say.
    pub(crate) fn now() -> Option<Self> {
        imp::now()
    }

    /// What was used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// User plus system.
    pub(crate) fn total(self) -> Duration {
        self.user + self.system
    }
}

#[cfg(unix)]
mod imp {
    use std::time::Duration;

    use nix::sys::resource::{UsageWho, getrusage};
    use nix::sys::time::TimeVal;

    pub(super) fn now() -> Option<super::CpuTime> {
        let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
        Some(super::CpuTime {
            user: duration(usage.user_time()),
            system: duration(usage.system_time()),
        })
    }

    fn duration(t: TimeVal) -> Duration {
        let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
        let micros = u32::try_from(t.tv_usec()).unwrap_or(0);
        Duration::from_secs(secs) + Duration::from_micros(u64::from(micros))
    }
}

#[cfg(not(unix))]
mod imp {
    pub(super) fn now() -> Option<super::CpuTime> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(unix)]
    fn busy_work_shows_up_as_user_time() {
        let before = CpuTime::now().expect("getrusage works here");
        // Spin until the counter moves: user time must grow with work done,
        // however busy the machine is (wall time is only a safety cap).
        let start = std::time::Instant::now();
        let mut x = 0u64;
        let used = loop {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            let used = CpuTime::now().expect("getrusage works here").since(before);
            if used.user >= Duration::from_millis(30) {
                break used;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no user time: {used:?}"
            );
        };
        assert!(used.total() >= used.user);
    }

    #[test]
    fn since_never_goes_negative() {
        let a = CpuTime {
            user: Duration::from_secs(2),
            system: Duration::from_secs(1),
        };
        let b = CpuTime::default();
        assert_eq!(b.since(a), CpuTime::default());
        assert_eq!(a.since(b).total(), Duration::from_secs(3));
    }
}
