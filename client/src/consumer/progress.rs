//! How far the application got in the chunk it is draining, readable by the
//! consumer's tasks without the consumer's help.
//!
//! The consumer hands out a chunk's messages without locking and writes the
//! position to the shared cursor only when the chunk is drained. A task that
//! commits on its own (the auto-commit timer, the revocation of partitions)
//! would otherwise commit the chunk's start while the application, blocked
//! in its own processing, already holds later messages: correct
//! (at-least-once) but a needlessly large replay. So the consumer also
//! publishes, with one relaxed atomic store per message, the offset after
//! the last message handed out; tasks fold it into the cursor before they
//! read positions.
//!
//! Consistency: the chunk mark and the offset change together under the
//! mark's lock when a new chunk starts; in between only the consumer stores
//! offsets, and only for the marked chunk, so a reader holding the lock
//! never pairs one chunk's offset with another chunk's partition.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use super::state::FetchState;
use crate::group::TopicPartition;

/// The chunk being drained and the offset after its last handed message.
#[derive(Debug)]
pub(crate) struct HandedProgress {
    mark: Mutex<Option<ChunkMark>>,
    /// Offset after the last message handed out of the marked chunk; -1
    /// before the first.
    offset: AtomicI64,
}

#[derive(Debug, Clone)]
struct ChunkMark {
    tp: TopicPartition,
    version: u64,
    /// The leader epoch of the chunk's first message: never newer than the
    /// epoch of any message handed out of it.
    leader_epoch: Option<i32>,
}

impl Default for HandedProgress {
    fn default() -> Self {
        Self {
            mark: Mutex::new(None),
            offset: AtomicI64::new(-1),
        }
    }
}

impl HandedProgress {
    /// The consumer starts draining a chunk (one lock per chunk).
    pub(crate) fn start_chunk(&self, tp: &TopicPartition, version: u64, leader_epoch: Option<i32>) {
        let mut mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
        *mark = Some(ChunkMark {
            tp: tp.clone(),
            version,
            leader_epoch,
        });
        self.offset.store(-1, Ordering::Relaxed);
    }

    /// The consumer handed out a message; `next` is the offset after it.
    /// Only the consumer calls this, for the marked chunk.
    pub(crate) fn handed(&self, next: i64) {
        self.offset.store(next, Ordering::Relaxed);
    }

    /// Moves the marked partition's cursor to the handed-out offset, if the
    /// cursor is still the one the chunk was fetched for and behind it.
    pub(crate) fn fold_into(&self, state: &mut FetchState) {
        let (mark, offset) = {
            let mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
            // Read under the lock: see the module docs.
            (mark.clone(), self.offset.load(Ordering::Relaxed))
        };
        let Some(mark) = mark else {
            return;
        };
        if offset < 0 {
            return;
        }
        if let Some(c) = state.cursors.get_mut(&mark.tp) {
            if c.version == mark.version && c.position.is_none_or(|p| p < offset) {
                c.position = Some(offset);
                c.position_epoch = mark.leader_epoch.or(c.position_epoch);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer::state::StartOffset;

    fn state_at(tp: &TopicPartition, position: i64) -> (FetchState, u64) {
        let mut s = FetchState::new(1 << 20);
        s.assign([(tp.clone(), StartOffset::At(position))]);
        let c = s.cursors.get_mut(tp).unwrap();
        c.position = Some(position);
        let version = c.version;
        (s, version)
    }

    #[test]
    fn handed_progress_moves_the_cursor_forward_only() {
        let tp = TopicPartition::new("t", 0);
        let (mut s, version) = state_at(&tp, 10);
        let p = HandedProgress::default();
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(10));
        p.start_chunk(&tp, version, Some(3));
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(10), "nothing handed yet");
        p.handed(11);
        p.handed(12);
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(12));
        assert_eq!(s.cursors[&tp].position_epoch, Some(3));
        // The cursor moved past the chunk meanwhile (it was drained).
        s.cursors.get_mut(&tp).unwrap().position = Some(20);
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(20));
    }

    #[test]
    fn a_chunk_of_an_older_cursor_version_changes_nothing() {
        let tp = TopicPartition::new("t", 0);
        let (mut s, version) = state_at(&tp, 5);
        let p = HandedProgress::default();
        p.start_chunk(&tp, version, None);
        p.handed(9);
        // A seek bumps the version: the chunk no longer counts.
        s.seek(&tp, StartOffset::At(2));
        s.cursors.get_mut(&tp).unwrap().position = Some(2);
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(2));
        // Another partition's chunk never moves this one.
        let other = TopicPartition::new("t", 1);
        let version = s.cursors[&tp].version;
        p.start_chunk(&other, version, None);
        p.handed(50);
        p.fold_into(&mut s);
        assert_eq!(s.cursors[&tp].position, Some(2));
    }
}
