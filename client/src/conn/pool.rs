//! Lazily opened connections, one per (broker, traffic kind), rebuilt after
//! failures with exponential backoff and jitter.
//!
//! A slot's async mutex serialises connecting, so a burst of callers for a
//! broker that just went away makes one connection attempt, not fifty. Idle
//! connections close themselves (the driver's idle timer); a closed
//! connection is noticed on the next [`Pool::get`] and replaced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::connection::{BrokerAddr, ConnKind, Connection};
use super::handshake::Connector;
use crate::backoff::Backoff;
use crate::error::Error;

#[derive(Debug)]
struct SlotState {
    conn: Option<Connection>,
    backoff: Backoff,
    not_before: Option<Instant>,
}

type Slot = Arc<tokio::sync::Mutex<SlotState>>;

/// Connections to every broker, by traffic kind.
#[derive(Debug)]
pub(crate) struct Pool {
    connector: Connector,
    slots: Mutex<HashMap<(i32, ConnKind), Slot>>,
}

impl Pool {
    pub(crate) fn new(connector: Connector) -> Self {
        Self {
            connector,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, id: i32, kind: ConnKind) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((id, kind))
            .or_insert_with(|| {
                let c = self.connector.config();
                Arc::new(tokio::sync::Mutex::new(SlotState {
                    conn: None,
                    backoff: Backoff::new(c.reconnect_backoff(), c.reconnect_backoff_max()),
                    not_before: None,
                }))
            })
            .clone()
    }

    /// The open connection for `broker` and `kind`, connecting if needed. A
    /// connection to an old address of the same broker id is replaced.
    pub(crate) async fn get(
        &self,
        broker: &BrokerAddr,
        kind: ConnKind,
    ) -> Result<Connection, Error> {
        let slot = self.slot(broker.id, kind);
        let mut state = slot.lock().await;
        if let Some(conn) = &state.conn {
            if !conn.is_closed() && conn.broker() == broker {
                return Ok(conn.clone());
            }
        }
        state.conn = None;
        if let Some(at) = state.not_before {
            tokio::time::sleep_until(at).await;
        }
        match self.connector.connect(broker).await {
            Ok(conn) => {
                state.backoff.reset();
                state.not_before = None;
                state.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                let delay = state.backoff.next_delay();
                tracing::warn!(broker = %broker.label(), ?kind, error = %e, retry_in = ?delay, "connect failed");
                state.not_before = Some(Instant::now() + delay);
                Err(e)
            }
        }
    }

    /// The connection if one is open, without connecting.
    pub(crate) fn try_get(&self, id: i32, kind: ConnKind) -> Option<Connection> {
        let slot = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.get(&(id, kind))?.clone()
        };
        let state = slot.try_lock().ok()?;
        state.conn.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Brokers with at least one open connection.
    pub(crate) fn connected_brokers(&self) -> Vec<i32> {
        let slots: Vec<((i32, ConnKind), Slot)> = {
            let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.iter().map(|(k, v)| (*k, v.clone())).collect()
        };
        let mut ids: Vec<i32> = slots
            .into_iter()
            .filter(|(_, slot)| {
                slot.try_lock()
                    .map(|s| s.conn.as_ref().is_some_and(|c| !c.is_closed()))
                    .unwrap_or(false)
            })
            .map(|((id, _), _)| id)
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}
