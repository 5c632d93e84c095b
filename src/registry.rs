//! Breakers and budgets per key: per host, region or tenant, made on first use.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use crate::clock::{Clock, DefaultClock, nanos_since};

/// A registry of values by key (a [`CircuitBreaker`](crate::CircuitBreaker) or a
/// [`RetryBudget`](crate::RetryBudget) per host, say), each made on first use, so that
/// one host's outage never opens another host's breaker or spends its budget.
///
/// - **No lock to find a key that is there**: the map is read through an atomic
///   pointer and replaced whole when a key is added or evicted, which happens only on
///   a miss.
/// - **Bounded memory**: at most `limit` keys. When a key is added, keys not looked up
///   for at least `idle` (and at most twice that) are evicted; if the registry is still
///   full, the key added first makes room.
/// - A lookup of a key that is there reads no clock; it marks the key used once per
///   idle period, and otherwise writes nothing.
///
/// ```
/// use std::time::Duration;
/// use steadfast::{retry, CircuitBreaker, Keyed};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let breakers = Keyed::new(1_000, Duration::from_secs(600), |_host: &str| {
///     CircuitBreaker::builder().consecutive_failures(5).build().unwrap_or_default()
/// });
///
/// let breaker = breakers.get("inventory.internal:443");
/// let value = retry(|_| async { Ok::<_, std::io::Error>(1) }).breaker(&breaker).await;
/// assert_eq!(breakers.len(), 1);
/// # }
/// ```
pub struct Keyed<T, K = DefaultClock> {
    inner: Arc<Inner<T, K>>,
}

struct Inner<T, K> {
    map: ArcSwap<HashMap<Arc<str>, Slot<T>>>,
    /// Held only to add or evict keys, never to look one up.
    writer: Mutex<Sweep>,
    make: Box<dyn Fn(&str) -> T + Send + Sync>,
    limit: usize,
    idle: u64,
    clock: K,
    origin: Instant,
}

/// When the registry last swept idle keys, and the count of keys ever added.
struct Sweep {
    at: u64,
    added: u64,
}

struct Slot<T> {
    value: T,
    /// Set on a lookup, cleared by a sweep: a key still clear at the next sweep has
    /// been idle for at least one sweep period.
    used: Arc<AtomicBool>,
    /// Which key came first, to make room when every key is in use.
    order: u64,
}

impl<T: Clone> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Self {
            value: self.value.clone(),
            used: self.used.clone(),
            order: self.order,
        }
    }
}

impl<T: Clone> Keyed<T> {
    /// A registry of at most `limit` keys (at least 1), evicting keys idle for `idle`,
    /// that makes each key's value with `make`.
    ///
    /// ```
    /// let budgets = steadfast::Keyed::new(100, std::time::Duration::from_secs(60), |_: &str| {
    ///     steadfast::RetryBudget::default()
    /// });
    /// ```
    pub fn new(
        limit: usize,
        idle: Duration,
        make: impl Fn(&str) -> T + Send + Sync + 'static,
    ) -> Self {
        Self::with_clock(limit, idle, make, DefaultClock::default())
    }
}

impl<T: Clone, K: Clock> Keyed<T, K> {
    /// As [`new`](Keyed::new), reading the time (only when a key is added) from `clock`.
    ///
    /// ```
    /// let budgets = steadfast::Keyed::with_clock(100, std::time::Duration::from_secs(60), |_: &str| {
    ///     steadfast::RetryBudget::default()
    /// }, steadfast::StdClock);
    /// ```
    pub fn with_clock(
        limit: usize,
        idle: Duration,
        make: impl Fn(&str) -> T + Send + Sync + 'static,
        clock: K,
    ) -> Self {
        let origin = clock.now();
        Self {
            inner: Arc::new(Inner {
                map: ArcSwap::from_pointee(HashMap::new()),
                writer: Mutex::new(Sweep { at: 0, added: 0 }),
                make: Box::new(make),
                limit: limit.max(1),
                idle: crate::clock::nanos(idle),
                clock,
                origin,
            }),
        }
    }

    /// The value for `key`, made now if the key is new.
    ///
    /// ```
    /// let counters = steadfast::Keyed::new(10, std::time::Duration::from_secs(60), |key: &str| key.len());
    /// assert_eq!(counters.get("eu-west"), 7);
    /// ```
    pub fn get(&self, key: &str) -> T {
        if let Some(slot) = self.inner.map.load().get(key) {
            // A load first: a key in steady use is written once per sweep, not per call.
            if !slot.used.load(Ordering::Relaxed) {
                slot.used.store(true, Ordering::Relaxed);
            }
            return slot.value.clone();
        }
        self.add(key)
    }

    /// How many keys the registry holds.
    ///
    /// ```
    /// let counters = steadfast::Keyed::new(10, std::time::Duration::from_secs(60), |key: &str| key.len());
    /// assert_eq!(counters.len(), 0);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.inner.map.load().len()
    }

    /// Whether the registry holds no key.
    ///
    /// ```
    /// let counters = steadfast::Keyed::new(10, std::time::Duration::from_secs(60), |key: &str| key.len());
    /// assert!(counters.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[cold]
    fn add(&self, key: &str) -> T {
        let inner = &*self.inner;
        // A poisoned lock only means another adder panicked (in `make`): the map it
        // guards is replaced whole, so it is never half-written.
        let mut sweep = inner
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = inner.map.load_full();
        if let Some(slot) = current.get(key) {
            return slot.value.clone();
        }
        let mut map: HashMap<Arc<str>, Slot<T>> = (*current).clone();
        let now = nanos_since(&inner.clock, inner.origin);
        if now.saturating_sub(sweep.at) >= inner.idle {
            // Keys untouched since the last sweep have been idle at least that long.
            map.retain(|_, slot| slot.used.swap(false, Ordering::Relaxed));
            sweep.at = now;
        }
        while map.len() >= inner.limit {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, slot)| slot.order)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        let value = (inner.make)(key);
        sweep.added = sweep.added.saturating_add(1);
        map.insert(
            Arc::from(key),
            Slot {
                value: value.clone(),
                used: Arc::new(AtomicBool::new(true)),
                order: sweep.added,
            },
        );
        inner.map.store(Arc::new(map));
        value
    }
}

/// One value for every key, or one per key: how a layer or middleware holds a breaker
/// or a budget.
#[derive(Clone, Debug)]
#[cfg_attr(
    not(any(feature = "tower", feature = "reqwest-middleware")),
    allow(dead_code)
)]
pub(crate) enum OneOrKeyed<T> {
    One(T),
    PerKey(Keyed<T>),
}

#[cfg_attr(
    not(any(feature = "tower", feature = "reqwest-middleware")),
    allow(dead_code)
)]
impl<T: Clone> OneOrKeyed<T> {
    /// The value for `key`.
    pub(crate) fn for_key(&self, key: &str) -> T {
        match self {
            Self::One(value) => value.clone(),
            Self::PerKey(keyed) => keyed.get(key),
        }
    }
}

impl<T, K> Clone for Keyed<T, K> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T, K> fmt::Debug for Keyed<T, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyed")
            .field("keys", &self.inner.map.load().len())
            .field("limit", &self.inner.limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::clock::ManualClock;

    fn counting(
        limit: usize,
        idle: Duration,
        clock: ManualClock,
    ) -> (Keyed<usize, ManualClock>, Arc<AtomicUsize>) {
        let made = Arc::new(AtomicUsize::new(0));
        let counter = made.clone();
        let keyed = Keyed::with_clock(
            limit,
            idle,
            move |_: &str| counter.fetch_add(1, Ordering::Relaxed),
            clock,
        );
        (keyed, made)
    }

    #[test]
    fn a_key_keeps_its_value_and_another_key_gets_its_own() {
        let (keyed, made) = counting(10, Duration::from_secs(60), ManualClock::default());
        assert_eq!(keyed.get("a"), 0);
        assert_eq!(keyed.get("b"), 1);
        assert_eq!(keyed.get("a"), 0);
        assert_eq!(made.load(Ordering::Relaxed), 2);
        assert_eq!(keyed.len(), 2);
    }

    #[test]
    fn memory_stays_within_the_limit_under_many_distinct_keys() {
        let (keyed, _) = counting(64, Duration::from_secs(3600), ManualClock::default());
        for n in 0..10_000 {
            keyed.get(&format!("tenant-{n}"));
            assert!(keyed.len() <= 64);
        }
        assert_eq!(keyed.len(), 64);
        // The newest keys are the ones kept when all are in use.
        assert_eq!(keyed.get("tenant-9999"), 9_999);
    }

    #[test]
    fn idle_keys_are_evicted_when_a_key_is_added() {
        let clock = ManualClock::default();
        let (keyed, _) = counting(10, Duration::from_secs(60), clock.clone());
        keyed.get("busy");
        keyed.get("quiet");
        // The first sweep, a minute in, clears the marks; "busy" is used again after it.
        clock.advance(Duration::from_secs(60));
        keyed.get("new-1");
        assert_eq!(keyed.len(), 3);
        keyed.get("busy");
        // A minute later, the next key added sweeps out "quiet", unused for a minute;
        // "new-1" counts as used when it was added.
        clock.advance(Duration::from_secs(60));
        keyed.get("new-2");
        assert_eq!(keyed.len(), 3);
        assert_eq!(keyed.get("busy"), 0, "kept, with its value");
        assert_eq!(keyed.get("quiet"), 4, "made again");
    }

    #[test]
    fn threads_racing_for_a_new_key_share_one_value() {
        let (keyed, made) = counting(10, Duration::from_secs(60), ManualClock::default());
        let values: Vec<usize> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| keyed.get("shared")))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(usize::MAX))
                .collect()
        });
        assert!(values.iter().all(|v| *v == 0), "{values:?}");
        assert_eq!(made.load(Ordering::Relaxed), 1);
    }
}
