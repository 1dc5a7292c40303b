//! The in-memory object store: objects as JSON keyed by resource, namespace and name, one
//! cluster-wide `resourceVersion` counter (like etcd's revision), and the change history that
//! watches replay from a given `resourceVersion` and then follow live.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::registry::StorageKey;

/// The type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One committed change.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub rv: u64,
    pub kind: ChangeType,
    pub key: StorageKey,
    /// The object after the change (for a deletion: its last state, at the deletion's version).
    pub object: Arc<Value>,
    /// The object before the change, for watches with selectors.
    pub previous: Option<Arc<Value>>,
}

type Objects = BTreeMap<(String, String), Value>;

/// Objects plus history.
#[derive(Debug)]
pub(crate) struct Store {
    objects: BTreeMap<StorageKey, Objects>,
    rv: u64,
    history: VecDeque<Arc<Change>>,
    history_limit: usize,
    /// Watches may start from this version or later; older ones get 410 Gone.
    oldest_available: u64,
    tx: broadcast::Sender<Arc<Change>>,
}

fn key_of(object: &Value) -> (String, String) {
    let text = |p: &str| {
        object
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (text("/metadata/namespace"), text("/metadata/name"))
}

fn set_rv(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".to_owned(), json!(rv.to_string()));
    }
}

impl Store {
    pub(crate) fn new(history_limit: usize, watch_buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(watch_buffer.max(16));
        Self {
            objects: BTreeMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_limit: history_limit.max(1),
            oldest_available: 0,
            tx,
        }
    }

    /// The latest committed `resourceVersion`.
    pub(crate) fn current_rv(&self) -> u64 {
        self.rv
    }

    pub(crate) fn get(&self, key: &StorageKey, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(key)?
            .get(&(namespace.to_owned(), name.to_owned()))
    }

    /// Objects of a resource, in one namespace or all, ordered by namespace and name.
    pub(crate) fn list(&self, key: &StorageKey, namespace: Option<&str>) -> Vec<&Value> {
        self.objects.get(key).map_or_else(Vec::new, |objects| {
            objects
                .iter()
                .filter(|((ns, _), _)| namespace.is_none_or(|n| n == ns))
                .map(|(_, v)| v)
                .collect()
        })
    }

    /// The storage keys that hold objects in `namespace`.
    pub(crate) fn count_in_namespace(&self, namespace: &str) -> usize {
        self.objects
            .values()
            .map(|objects| objects.keys().filter(|(ns, _)| ns == namespace).count())
            .sum()
    }

    /// All stored (storage key, namespace, name) triples in a namespace.
    pub(crate) fn keys_in_namespace(&self, namespace: &str) -> Vec<(StorageKey, String)> {
        self.objects
            .iter()
            .flat_map(|(key, objects)| {
                objects
                    .keys()
                    .filter(|(ns, _)| ns == namespace)
                    .map(|(_, name)| (key.clone(), name.clone()))
            })
            .collect()
    }

    fn record(&mut self, change: Change) {
        let change = Arc::new(change);
        self.history.push_back(Arc::clone(&change));
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.oldest_available = old.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(change);
    }

    /// Stores a new object (ADDED) and returns it with its `resourceVersion`.
    pub(crate) fn insert(&mut self, key: &StorageKey, mut object: Value) -> Value {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        self.objects
            .entry(key.clone())
            .or_default()
            .insert(key_of(&object), object.clone());
        self.record(Change {
            rv: self.rv,
            kind: ChangeType::Added,
            key: key.clone(),
            object: Arc::new(object.clone()),
            previous: None,
        });
        object
    }

    /// Replaces an object (MODIFIED) and returns it with its new `resourceVersion`.
    pub(crate) fn update(&mut self, key: &StorageKey, mut object: Value) -> Value {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        let previous = self
            .objects
            .entry(key.clone())
            .or_default()
            .insert(key_of(&object), object.clone());
        self.record(Change {
            rv: self.rv,
            kind: ChangeType::Modified,
            key: key.clone(),
            object: Arc::new(object.clone()),
            previous: previous.map(Arc::new),
        });
        object
    }

    /// Removes an object (DELETED) and returns its last state, at the deletion's version.
    pub(crate) fn remove(
        &mut self,
        key: &StorageKey,
        namespace: &str,
        name: &str,
    ) -> Option<Value> {
        let previous = self
            .objects
            .get_mut(key)?
            .remove(&(namespace.to_owned(), name.to_owned()))?;
        self.rv += 1;
        let mut object = previous.clone();
        set_rv(&mut object, self.rv);
        self.record(Change {
            rv: self.rv,
            kind: ChangeType::Deleted,
            key: key.clone(),
            object: Arc::new(object.clone()),
            previous: Some(Arc::new(previous)),
        });
        Some(object)
    }

    /// Removes an object whose last write emptied its finalizers: one DELETED event carrying
    /// `last` (the object as that write left it), as the real server does.
    pub(crate) fn remove_final(&mut self, key: &StorageKey, mut last: Value) -> Option<Value> {
        let id = key_of(&last);
        let previous = self.objects.get_mut(key)?.remove(&id)?;
        self.rv += 1;
        set_rv(&mut last, self.rv);
        self.record(Change {
            rv: self.rv,
            kind: ChangeType::Deleted,
            key: key.clone(),
            object: Arc::new(last.clone()),
            previous: Some(Arc::new(previous)),
        });
        Some(last)
    }

    /// Changes after `rv`, or `None` when they are no longer kept (410 Gone).
    pub(crate) fn changes_since(&self, rv: u64) -> Option<Vec<Arc<Change>>> {
        if rv < self.oldest_available {
            return None;
        }
        Some(self.history.iter().filter(|c| c.rv > rv).cloned().collect())
    }

    /// A receiver of every change committed from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Change>> {
        self.tx.subscribe()
    }
}
