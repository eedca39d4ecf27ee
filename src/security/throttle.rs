//! A small sliding-window rate limit per key (client IP), kept in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    limit: usize,
    window: Duration,
    hits: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    pub fn new(limit: usize, window: Duration) -> Throttle {
        Throttle {
            limit,
            window,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Records a hit for `key`; false when `key` is over its limit (the hit is not counted).
    pub fn allow(&self, key: &str) -> bool {
        let now = Instant::now();
        let Ok(mut hits) = self.hits.lock() else {
            return true;
        };
        if hits.len() > 10_000 {
            hits.retain(|_, h| {
                h.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        let entry = hits.entry(key.to_string()).or_default();
        while entry
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            entry.pop_front();
        }
        if entry.len() >= self.limit {
            return false;
        }
        entry.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_over_its_limit_is_refused_and_others_are_not() {
        let t = Throttle::new(2, Duration::from_secs(60));
        assert!(t.allow("a") && t.allow("a"));
        assert!(!t.allow("a"));
        assert!(t.allow("b"));
    }
}
