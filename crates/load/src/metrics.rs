//! Counters shared by every simulated participant (read once a second for the progress line)
//! and the per-participant figures each one hands back when it stops.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use crate::stats::{Histogram, Jitter, Loss};

/// Live totals for the progress line.
#[derive(Debug, Default)]
pub(crate) struct Live {
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) joined: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// RTCP datagrams (reports, feedback) the web clients sent once connected: the bridge
    /// handles these too, so a cheaper receive path must not send fewer.
    pub(crate) rtcp_sent: AtomicU64,
}

impl Live {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The scripted talk spurts: one publisher at a time is loud; subscribers time how long the
/// bridge takes to name it the active speaker.
#[derive(Debug, Default)]
pub(crate) struct SpeakerScript {
    /// Index of the loud publisher (usize::MAX: nobody).
    pub(crate) loud: AtomicUsize,
    pub(crate) state: Mutex<SpurtState>,
}

#[derive(Debug, Default)]
pub(crate) struct SpurtState {
    /// Participant ids of the publishers, by index, once joined.
    pub(crate) publisher_ids: Vec<Option<String>>,
    /// The current spurt: its number, the loud participant's id, when it started.
    pub(crate) current: Option<(u64, String, Instant)>,
}

impl SpeakerScript {
    pub(crate) fn new(publishers: usize) -> Self {
        Self {
            loud: AtomicUsize::new(usize::MAX),
            state: Mutex::new(SpurtState {
                publisher_ids: vec![None; publishers],
                current: None,
            }),
        }
    }

    pub(crate) fn is_loud(&self, index: usize) -> bool {
        self.loud.load(Ordering::Relaxed) == index
    }

    pub(crate) fn register(&self, index: usize, id: &str) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = s.publisher_ids.get_mut(index) {
            *slot = Some(id.to_owned());
        }
    }

    /// Makes publisher `spurt % n` the loud one (if it has joined); returns whether it switched.
    pub(crate) fn next_spurt(&self, spurt: u64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let n = s.publisher_ids.len();
        if n < 2 {
            return false;
        }
        let index = (spurt % n as u64) as usize;
        let Some(id) = s.publisher_ids[index].clone() else {
            return false;
        };
        s.current = Some((spurt, id, Instant::now()));
        self.loud.store(index, Ordering::Relaxed);
        true
    }

    /// A subscriber saw `speaker` name `id`: the latency of the current spurt if `id` is its
    /// loud publisher and this subscriber has not counted this spurt yet.
    pub(crate) fn observed(&self, id: &str, last_counted: &mut Option<u64>) -> Option<u64> {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (spurt, loud, at) = s.current.as_ref()?;
        if loud != id || *last_counted == Some(*spurt) {
            return None;
        }
        *last_counted = Some(*spurt);
        Some(at.elapsed().as_millis() as u64)
    }
}

/// One received stream (by SSRC).
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamStats {
    pub(crate) loss: Loss,
    pub(crate) jitter: Jitter,
    /// RTP clock rate (Hz), for jitter in ms.
    pub(crate) clock: u32,
}

impl StreamStats {
    pub(crate) fn packet(&mut self, clock: u32, seq: u16, rtp_ts: u32, arrival_us: u64) {
        self.clock = clock;
        self.loss.update(seq);
        self.jitter
            .update(rtp_ts, arrival_us as f64 * f64::from(clock) / 1e6);
    }

    pub(crate) fn jitter_ms(&self) -> f64 {
        if self.clock == 0 {
            0.0
        } else {
            self.jitter.get() * 1000.0 / f64::from(self.clock)
        }
    }
}

/// What one simulated participant measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct PartStats {
    pub(crate) kind: &'static str,
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) streams: HashMap<u32, StreamStats>,
    /// One-way latency from the payload stamp, µs.
    pub(crate) latency_us: Histogram,
    /// Until media flows (web: ICE + DTLS up; SIP: in the room per the API), ms.
    pub(crate) join_ms: Option<u64>,
    pub(crate) failed: Option<String>,
    pub(crate) speaker_ms: Histogram,
    /// RTP datagrams handed to str0m once connected (SRTP-authenticated and decrypted there),
    /// the packets str0m delivered, and those counted from their plaintext header only.
    pub(crate) srtp_checked: u64,
    pub(crate) srtp_ok: u64,
    pub(crate) header_counted: u64,
}

/// Resolves once `stop` turns true (or its sender is gone); holds no guard across awaits.
pub(crate) async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spurt_is_timed_once_per_subscriber_and_only_for_its_loud_publisher() {
        let script = SpeakerScript::new(2);
        assert!(!script.next_spurt(0), "nobody has joined yet");
        script.register(0, "p1");
        script.register(1, "p2");
        assert!(script.next_spurt(1));
        assert!(script.is_loud(1) && !script.is_loud(0));
        let mut counted = None;
        assert_eq!(
            script.observed("p1", &mut counted),
            None,
            "not the loud one"
        );
        assert!(script.observed("p2", &mut counted).is_some());
        assert_eq!(script.observed("p2", &mut counted), None, "counted once");
        assert!(script.next_spurt(2));
        assert!(script.observed("p1", &mut counted).is_some());
    }
}
