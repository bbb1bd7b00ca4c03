//! The one clock of the daemon: monotonic milliseconds since start, handed to every sans-IO core
//! (`call`, `acd`, `sip::session`) as `now_ms`. Wall time is read only for records and routing by the
//! calendar. Built on tokio's clock (the registrar and the rate bucket read it as [`Clock::instant`]) so a test can run the daemon's tasks with paused time.

use tokio::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    pub fn start() -> Clock {
        Clock {
            origin: Instant::now(),
        }
    }

    /// Monotonic ms since the daemon started.
    pub fn now_ms(&self) -> i64 {
        self.origin.elapsed().as_millis() as i64
    }

    /// The instant a core's `at_ms` deadline stands for (for `sleep_until`).
    pub fn instant_at(&self, at_ms: i64) -> Instant {
        self.origin + Duration::from_millis(at_ms.max(0) as u64)
    }

    /// The same clock as a `std` instant, for cores that take one (the registrar, the rate bucket).
    pub fn instant(&self) -> std::time::Instant {
        Instant::now().into_std()
    }

    /// Wall time (epoch ms), for records only.
    pub fn wall_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}
