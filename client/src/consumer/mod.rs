//! The consumer: fetch tasks per partition leader feeding one [`Consumer`].
//!
//! ```text
//!                 assign / seek / pause / commit
//!  application ◀──────────────▶ Consumer ──── OffsetCommit (committer task, in order)
//!      ▲ recv / recv_batch / stream  │ lock per chunk, never per message
//!      │                             ▼
//!   Chunk (messages of one      FetchState: cursor per partition, budget
//!   partition, one response)    ▲        ▲
//!      ▲                        │        │ leaders, ListOffsets, OffsetFetch
//!      └──── fetch task (one per leader, own Fetch connection)   supervisor task
//! ```
//!
//! - Prefetch: fetch tasks keep fetching while the buffered bytes are under
//!   `queued.max.messages.kbytes`; the consumer frees budget as it drains.
//! - Every seek, pause and offset reset bumps the cursor's version; data
//!   fetched for an older version is dropped, never handed out.
//! - Positions move only as messages are handed out, so commits are
//!   at-least-once.

mod api;
mod auto_commit;
mod commit;
mod config;
mod decode;
mod fetch_session;
mod fetcher;
#[cfg(test)]
mod group_mock_tests;
mod group_task;
mod list_offsets;
mod message;
#[cfg(test)]
mod mock_fetch;
#[cfg(test)]
mod mock_group;
#[cfg(test)]
mod mock_list_offsets;
#[cfg(test)]
mod mock_tests;
mod pattern;
mod progress;
#[cfg(test)]
mod rack_tests;
mod rebalance;
#[cfg(test)]
mod session_tests;
mod shared;
mod state;
mod supervisor;
#[cfg(test)]
mod txn_tests;

pub use api::{Consumer, PendingCommit};
pub use commit::Committed;
pub use config::{ConsumerConfig, IsolationLevel, OffsetReset};
pub use message::Message;
pub use rebalance::{RebalanceFuture, RebalanceListener};
pub use state::StartOffset;
