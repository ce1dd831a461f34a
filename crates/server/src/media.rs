//! The media task: the one owner of the [`MediaCore`].
//!
//! It maps tokio's monotonic clock onto the core's [`Timestamp`], sleeps until the core's next
//! timeout, drains transmits and events after every input, and answers queries from the HTTP
//! side over a channel. Nothing else touches the core, so it needs no lock.

use std::time::Duration;

use pont_media::{CoreConfig, CoreStats, Event, MediaCore, ParticipantInfo};
use pont_types::{ParticipantId, RoomId, Timestamp};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{Instrument as _, debug, debug_span, info, trace};

/// Maps tokio instants onto core timestamps: microseconds since the task started.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    base: Instant,
}

/// How far ahead a timestamp the clock cannot represent is scheduled (it means "never").
const FAR_FUTURE: Duration = Duration::from_secs(24 * 3600);

impl Clock {
    pub(crate) fn new(base: Instant) -> Self {
        Self { base }
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.timestamp(Instant::now())
    }

    /// An instant before the base maps to zero: time never goes backwards for the core.
    pub(crate) fn timestamp(&self, at: Instant) -> Timestamp {
        let micros = at.saturating_duration_since(self.base).as_micros();
        Timestamp::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    pub(crate) fn instant(&self, at: Timestamp) -> Instant {
        self.base
            .checked_add(Duration::from_micros(at.as_micros()))
            .unwrap_or_else(|| Instant::now() + FAR_FUTURE)
    }
}

/// A room as the media core sees it right now.
#[derive(Debug, Clone)]
pub(crate) struct RoomSnapshot {
    pub(crate) participants: Vec<ParticipantInfo>,
    pub(crate) active_speaker: Option<ParticipantId>,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone)]
pub(crate) struct StatsSnapshot {
    pub(crate) stats: CoreStats,
    pub(crate) rooms: usize,
    pub(crate) participants: usize,
}

enum Query {
    Room(RoomId, oneshot::Sender<RoomSnapshot>),
    Stats(oneshot::Sender<StatsSnapshot>),
    Ping(oneshot::Sender<()>),
}

/// The media task stopped (it panicked or shut down).
#[derive(Debug, thiserror::Error)]
#[error("the media task is not running")]
pub(crate) struct MediaGone;

/// The HTTP side's handle on the media task.
#[derive(Debug, Clone)]
pub(crate) struct MediaHandle {
    tx: mpsc::Sender<Query>,
}

impl MediaHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Query) -> Result<T, MediaGone> {
        let (reply, answer) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| MediaGone)?;
        answer.await.map_err(|_| MediaGone)
    }

    pub(crate) async fn room(&self, room: RoomId) -> Result<RoomSnapshot, MediaGone> {
        self.ask(|r| Query::Room(room, r)).await
    }

    pub(crate) async fn stats(&self) -> Result<StatsSnapshot, MediaGone> {
        self.ask(Query::Stats).await
    }

    /// Answers once the task is running its loop.
    pub(crate) async fn ping(&self) -> Result<(), MediaGone> {
        self.ask(Query::Ping).await
    }
}

/// Queries waiting for the media task; HTTP handlers wait (back-pressure) beyond this.
const QUERY_QUEUE: usize = 256;

/// Starts the media task; it ends when `shutdown` turns true or every handle is dropped.
pub(crate) fn spawn(
    config: CoreConfig,
    shutdown: watch::Receiver<bool>,
) -> (MediaHandle, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUERY_QUEUE);
    let task = tokio::spawn(
        run(MediaCore::new(config), rx, shutdown).instrument(tracing::info_span!("media")),
    );
    (MediaHandle { tx }, task)
}

async fn run(
    mut core: MediaCore,
    mut rx: mpsc::Receiver<Query>,
    mut shutdown: watch::Receiver<bool>,
) {
    let clock = Clock::new(Instant::now());
    let mut buf = Vec::with_capacity(1500);
    info!("media core running");
    loop {
        drain(&mut core, &mut buf);
        let next = core.poll_timeout().map(|t| clock.instant(t));
        // `sleep_until` is built even when the branch is disabled, so give it a real instant.
        let wake = next.unwrap_or_else(|| Instant::now() + FAR_FUTURE);
        tokio::select! {
            biased;
            _ = shutdown.changed() => break,
            query = rx.recv() => match query {
                Some(query) => answer(&core, query),
                None => break,
            },
            () = tokio::time::sleep_until(wake), if next.is_some() => {
                core.handle_timeout(clock.now());
            }
        }
    }
    info!("media core stopped");
}

/// Drains the core's outputs in the documented order: transmits, then events.
fn drain(core: &mut MediaCore, buf: &mut Vec<u8>) {
    while let Some(transmit) = core.poll_transmit(buf) {
        // No legs exist yet: SIP and WebRTC legs will send these on their sockets.
        let _span = debug_span!("participant", id = %transmit.to).entered();
        trace!(kind = ?transmit.kind, len = buf.len(), "transmit with no leg to send it on");
    }
    while let Some(event) = core.poll_event() {
        match event {
            Event::SpeakerChanged { room, speaker } => {
                let _span = debug_span!("room", %room).entered();
                debug!(speaker = ?speaker.map(|p| p.to_string()), "active speaker changed");
            }
            Event::RoomEmpty { room } => {
                let _span = debug_span!("room", %room).entered();
                debug!("room empty");
            }
            Event::StreamAdded { to, stream } => {
                let _span = debug_span!("participant", id = %to).entered();
                debug!(ssrc = %stream.ssrc, codec = ?stream.codec, "stream added");
            }
            Event::StreamRemoved { to, ssrc } => {
                let _span = debug_span!("participant", id = %to).entered();
                debug!(%ssrc, "stream removed");
            }
            other => debug!(event = ?other, "media event"),
        }
    }
}

fn answer(core: &MediaCore, query: Query) {
    // A dropped receiver means the HTTP request went away; nothing to do.
    match query {
        Query::Room(room, reply) => {
            let _span = debug_span!("room", %room).entered();
            let snapshot = RoomSnapshot {
                participants: core.room(room).unwrap_or_default(),
                active_speaker: core.active_speaker(room),
            };
            let _ = reply.send(snapshot);
        }
        Query::Stats(reply) => {
            let _ = reply.send(StatsSnapshot {
                stats: core.stats().clone(),
                rooms: core.room_count(),
                participants: core.participant_count(),
            });
        }
        Query::Ping(reply) => {
            let _ = reply.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_maps_instants_both_ways() {
        let base = Instant::now();
        let clock = Clock::new(base);
        let later = base + Duration::from_millis(1500);
        let ts = clock.timestamp(later);
        assert_eq!(ts, Timestamp::from_millis(1500));
        assert_eq!(clock.instant(ts), later);
    }

    #[test]
    fn clock_never_goes_backwards_or_overflows() {
        let base = Instant::now() + Duration::from_secs(10);
        let clock = Clock::new(base);
        assert_eq!(clock.timestamp(Instant::now()), Timestamp::ZERO);
        // Timestamp::MAX cannot be an Instant: it becomes "far in the future".
        assert!(clock.instant(Timestamp::MAX) > Instant::now() + Duration::from_secs(3600));
    }
}
