//! Coalescing: concurrent reads of the same kind share one request.
//!
//! A wave of offboardings reads the same things for many users at once: each user by id, each
//! email, each user's conversations over the same window. The API can answer many of those in
//! one request (`GET /api/v2/users?id=…`, one search with several emails, one details query
//! with a predicate per user), and fewer calls is the only way past the rate limit. So those
//! reads go through a [`Coalescer`]:
//!
//! - the first caller of a *group* (reads that can share a request: the same `expand`, the same
//!   interval) opens a batch and starts a task that waits for a slot of the shared rate budget;
//! - callers arriving while it waits join the batch (up to its size);
//! - when the slot is granted the batch is sealed, sent as one request (a batch of one is sent
//!   as the ordinary single read) and every caller gets its own answer.
//!
//! - one batch of a group is in flight at a time: a batch opened while the previous one of its
//!   group is still answering waits for that answer before it asks for its slot.
//!
//! - during a wave (callers for other keys joined the coalescer within the last
//!   [`WAVE_WINDOW`]), the opener of a batch lingers for the coalescer's `linger` before it asks
//!   for its slot, so that the wave's other callers, whose passes run a step or two apart, join
//!   it. A lone offboarding asks only for its own keys, so it never lingers.
//!
//! An idle client gets its slot at once, so a lone read is sent at once, exactly as before; a
//! saturated client waits for its slot anyway, and the batch grows meanwhile. A client that is
//! busy without being saturated (many passes at once, each waiting on its own reads, or a
//! machine short of CPU) coalesces too: callers of a group that arrive while its request is in
//! flight go together in the next one, instead of each taking a slot the moment it is free (a
//! wave then made as many requests as callers, though the rate limit was far off). The request
//! runs on its own task, so a caller that gives up (a reconcile pass cancelled, a sibling read
//! failed) never strands the others.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use tokio::sync::oneshot;

use super::error::GenesysError;
use super::http::Admission;

type Reply<V> = oneshot::Sender<Result<V, GenesysError>>;
/// The callers of one batch: each key with where its answer goes.
type Waiting<K, V> = Vec<(K, Reply<V>)>;

/// How far back a coalescer looks for callers of other keys: a wave is on while they keep
/// coming.
pub(crate) const WAVE_WINDOW: Duration = Duration::from_secs(2);

/// How many recent callers a coalescer remembers to tell a wave.
const RECENT_MAX: usize = 64;

/// What the caller that opened a batch is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Opened {
    id: u64,
    /// How long to wait for others before asking for a slot.
    linger: Duration,
}

/// Open and sealed batches of one kind of read.
pub(crate) struct Coalescer<G, K, V> {
    max: usize,
    /// How long the opener of a batch waits for others during a wave.
    linger: Duration,
    hasher: std::collections::hash_map::RandomState,
    state: Mutex<Batches<G, K, V>>,
}

struct Batches<G, K, V> {
    next_id: u64,
    /// The batch of each group that callers can still join.
    open: HashMap<G, (u64, Waiting<K, V>)>,
    /// Batches that filled up before their slot was granted.
    full: HashMap<u64, Waiting<K, V>>,
    /// Per group, the turn of the batch in flight: held from before its slot is asked for until
    /// every caller is answered. Removed when no batch holds or awaits it.
    turns: HashMap<G, Arc<tokio::sync::Mutex<()>>>,
    /// When recent callers joined, and the hash of their key.
    recent: VecDeque<(Instant, u64)>,
}

impl<G: Eq + Hash + Clone, K: Hash, V> Coalescer<G, K, V> {
    /// Batches of at most `max` reads (at least one), sent at once.
    #[cfg(test)]
    pub fn new(max: usize) -> Self {
        Self::lingering(max, Duration::ZERO)
    }

    /// Batches of at most `max` reads (at least one), whose openers wait `linger` for others
    /// during a wave (module docs).
    pub fn lingering(max: usize, linger: Duration) -> Self {
        Self {
            max: max.max(1),
            linger,
            hasher: std::collections::hash_map::RandomState::new(),
            state: Mutex::new(Batches {
                next_id: 0,
                open: HashMap::new(),
                full: HashMap::new(),
                turns: HashMap::new(),
                recent: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batches<G, K, V>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `key` to the open batch of `group`, opening one if there is none. Returns where the
    /// answer will arrive and, to the caller that opened the batch, its id and how long to
    /// linger (the coalescer's linger while callers of other keys joined within
    /// [`WAVE_WINDOW`], else nothing): that caller must [`seal`](Self::seal) it and answer
    /// everyone.
    fn join(
        &self,
        group: &G,
        key: K,
    ) -> (Option<Opened>, oneshot::Receiver<Result<V, GenesysError>>) {
        let (reply, answer) = oneshot::channel();
        let hash = self.hasher.hash_one(&key);
        let mut batches = self.lock();
        let now = Instant::now();
        while batches
            .recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WAVE_WINDOW)
            || batches.recent.len() >= RECENT_MAX
        {
            batches.recent.pop_front();
        }
        let wave = batches.recent.iter().any(|(_, other)| *other != hash);
        batches.recent.push_back((now, hash));
        let linger = if wave { self.linger } else { Duration::ZERO };
        if let Some((id, waiting)) = batches.open.get_mut(group) {
            waiting.push((key, reply));
            if waiting.len() >= self.max {
                let id = *id;
                if let Some((_, waiting)) = batches.open.remove(group) {
                    batches.full.insert(id, waiting);
                }
            }
            return (None, answer);
        }
        let id = batches.next_id;
        batches.next_id = batches.next_id.wrapping_add(1);
        let waiting = vec![(key, reply)];
        if self.max == 1 {
            batches.full.insert(id, waiting);
        } else {
            batches.open.insert(group.clone(), (id, waiting));
        }
        (Some(Opened { id, linger }), answer)
    }

    /// The turn of `group`'s batches (see [`Batches::turns`]).
    fn turn(&self, group: &G) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.lock().turns.entry(group.clone()).or_default())
    }

    /// Forgets `group`'s turn when no other batch holds or awaits it (`turn` is the caller's
    /// own handle, dropped after this).
    fn end_turn(&self, group: &G, turn: &Arc<tokio::sync::Mutex<()>>) {
        let mut batches = self.lock();
        // The map's handle and the caller's: nobody else is in line.
        let mine = batches
            .turns
            .get(group)
            .is_some_and(|t| Arc::ptr_eq(t, turn));
        if mine && Arc::strong_count(turn) <= 2 {
            batches.turns.remove(group);
        }
    }

    /// Closes batch `id` of `group` to newcomers and hands over its callers.
    fn seal(&self, group: &G, id: u64) -> Waiting<K, V> {
        let mut batches = self.lock();
        if let Some(waiting) = batches.full.remove(&id) {
            return waiting;
        }
        match batches.open.get(group) {
            Some((open_id, _)) if *open_id == id => batches
                .open
                .remove(group)
                .map(|(_, waiting)| waiting)
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

/// Answers a batch, in the order of `keys`. A batch of one is sent `alone` on the slot the batch
/// already holds. Several keys go in one `combined` request (its first attempt also holds that
/// slot) whose result is attributed to each key; when it cannot be (`Ok(None)`), or Genesys
/// refuses the combined form as invalid (too many values, too many results), each key is sent
/// alone, waiting for its own slot. Any other failure answers every key with it.
pub(crate) async fn answer_batch<'k, K, V, C, A, AF>(
    keys: &'k [K],
    what: &str,
    combined: C,
    alone: A,
) -> Vec<Result<V, GenesysError>>
where
    C: Future<Output = Result<Option<Vec<Result<V, GenesysError>>>, GenesysError>>,
    A: Fn(&'k K, Admission) -> AF,
    AF: Future<Output = Result<V, GenesysError>>,
{
    if let [key] = keys {
        return vec![alone(key, Admission::Admitted).await];
    }
    match combined.await {
        Ok(Some(answers)) => return answers,
        Ok(None) => {
            tracing::debug!(
                what,
                "a combined result could not be attributed; one by one"
            );
        }
        Err(e @ GenesysError::Invalid { .. }) => {
            tracing::debug!(what, error = %e, "a combined request was refused; one by one");
        }
        Err(e) => return keys.iter().map(|_| Err(e.clone())).collect(),
    }
    futures::future::join_all(keys.iter().map(|key| alone(key, Admission::Wait))).await
}

/// What coalescing needs of a client: a cheap handle (clones share one budget) that can take a
/// slot of the shared rate budget ahead of the request that will use it.
pub(crate) trait Admit: Clone + Send + Sync + 'static {
    /// Takes one slot of the shared budget now, waiting for it as any call would.
    fn admit(&self, operation: &str) -> impl Future<Output = Result<(), GenesysError>> + Send;
}

/// Reads `key` together with the concurrent reads of the same `group` (see the module docs),
/// in the [`Coalescer`] that `pick` finds in `client`. `run` gets the batch's keys, in order,
/// and answers each, in the same order; the first attempt of its first request already holds a
/// slot of the budget.
pub(crate) async fn coalesce<C, G, K, V, Run, Fut>(
    client: &C,
    pick: fn(&C) -> &Coalescer<G, K, V>,
    operation: &'static str,
    group: G,
    key: K,
    run: Run,
) -> Result<V, GenesysError>
where
    C: Admit,
    G: Eq + Hash + Clone + Send + 'static,
    K: Hash + Send + 'static,
    V: Send + 'static,
    Run: FnOnce(C, G, Vec<K>) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<Result<V, GenesysError>>> + Send,
{
    let (opened, answer) = pick(client).join(&group, key);
    if let Some(Opened { id, linger }) = opened {
        let client = client.clone();
        tokio::spawn(async move {
            if !linger.is_zero() {
                tokio::time::sleep(linger).await;
            }
            // While the group's previous batch is in flight, this one stays open and grows.
            let turn = pick(&client).turn(&group);
            let held = turn.lock().await;
            let admitted = client.admit(operation).await;
            let waiting = pick(&client).seal(&group, id);
            let (keys, replies): (Vec<K>, Vec<Reply<V>>) = waiting.into_iter().unzip();
            let answers = match admitted {
                Ok(()) => run(client.clone(), group.clone(), keys).await,
                Err(e) => replies.iter().map(|_| Err(e.clone())).collect(),
            };
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that gave up has dropped its receiver: nothing to do.
                let _ = reply.send(answer);
            }
            drop(held);
            pick(&client).end_turn(&group, &turn);
        });
    }
    answer.await.unwrap_or_else(|_| {
        Err(GenesysError::Transient {
            operation: operation.to_owned(),
            status: None,
            attempts: 0,
            detail: "the batched request was abandoned before it answered".into(),
            body: None,
            source: None,
        })
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn callers_of_a_group_share_one_batch_until_it_is_sealed() {
        let batches: Coalescer<&str, u32, ()> = Coalescer::new(10);
        let (first, _a) = batches.join(&"g", 1);
        let (second, _b) = batches.join(&"g", 2);
        let (other, _c) = batches.join(&"h", 3);
        assert!(first.is_some(), "the first caller opens the batch");
        assert!(second.is_none(), "the second joins it");
        assert!(other.is_some(), "another group gets its own batch");

        let keys: Vec<u32> = batches
            .seal(&"g", first.unwrap().id)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, [1, 2]);
        let (after, _d) = batches.join(&"g", 4);
        assert!(after.is_some(), "a sealed batch takes no newcomer");
    }

    #[test]
    fn a_full_batch_is_set_aside_and_the_next_caller_opens_another() {
        let batches: Coalescer<&str, u32, ()> = Coalescer::new(2);
        let (first, _a) = batches.join(&"g", 1);
        let (_, _b) = batches.join(&"g", 2);
        let (third, _c) = batches.join(&"g", 3);
        assert!(third.is_some(), "the batch was full");

        let full: Vec<u32> = batches
            .seal(&"g", first.unwrap().id)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let next: Vec<u32> = batches
            .seal(&"g", third.unwrap().id)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!((full, next), (vec![1, 2], vec![3]));
    }

    #[test]
    fn only_callers_for_other_keys_make_a_batch_linger() {
        let linger = Duration::from_millis(250);
        let lingers = |opened: Option<Opened>| opened.unwrap().linger;
        let batches: Coalescer<&str, u32, ()> = Coalescer::lingering(10, linger);
        let (first, _a) = batches.join(&"g", 1);
        assert_eq!(lingers(first), Duration::ZERO, "nobody came before");
        batches.seal(&"g", first.unwrap().id);
        let (again, _b) = batches.join(&"g", 1);
        assert_eq!(
            lingers(again),
            Duration::ZERO,
            "one offboarding reading its own user again is alone"
        );
        batches.seal(&"g", again.unwrap().id);
        let (same_group, _s) = batches.join(&"g", 3);
        assert_eq!(lingers(same_group), linger, "another user's read: a wave");
        batches.seal(&"g", same_group.unwrap().id);
        let (other, _c) = batches.join(&"h", 2);
        assert_eq!(
            lingers(other),
            linger,
            "another user's read, whatever the group: a wave"
        );

        let never: Coalescer<&str, u32, ()> = Coalescer::new(10);
        let (_, _d) = never.join(&"g", 1);
        let (second, _e) = never.join(&"h", 2);
        assert_eq!(lingers(second), Duration::ZERO, "no linger configured");
    }

    #[test]
    fn batches_of_one_are_sealed_at_once() {
        let batches: Coalescer<&str, u32, ()> = Coalescer::new(1);
        let (first, _a) = batches.join(&"g", 1);
        let (second, _b) = batches.join(&"g", 2);
        assert!(first.is_some() && second.is_some());
        assert_eq!(batches.seal(&"g", second.unwrap().id).len(), 1);
    }
}
