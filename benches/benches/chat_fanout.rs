//! One chat message fanned out to a room, shard side (issue 16). Each iteration is one message
//! from a browser to `N` = 10, 100, 300 participants, as the bridge does it today:
//! `Meeting::chat` (checks, rate limit, history), then a clone of the typed
//! `ToBrowser::Chat { line }` into each participant's `tokio::sync::mpsc::UnboundedSender`
//! (what `Task::broadcast` does), then each message taken off its channel and serialised with
//! `ToBrowser::to_json()` — what each browser's WebSocket task does, here one after the other
//! on this thread. The baseline is the same fan-out with the message serialised once per
//! broadcast and an `Arc<str>` of the JSON cloned into each channel (the "serialise once"
//! design). Two breakdown lines: `meeting_chat` alone, and `clone_send_only` (today's clones
//! into the channels, received and dropped without serialising).
//!
//! The rate limit (a burst of 5, then 1 message/s per participant) would refuse a sender's
//! 6th message within a second: each iteration's message comes from the next member in turn
//! (all `N` are members) *and* the clock passed to `Meeting::chat` moves on by
//! `CHAT_REFILL` (1 s) per iteration, so every sender has earned a token again; every call is
//! checked to be accepted.
//!
//! Not in here: the WebSocket frame and its write syscall, and waking each browser's task on
//! another thread (the end-to-end `pont-load chat` measures those).
//!
//! Run: `cargo bench -p pont-benches --bench chat_fanout`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pont_media::ParticipantKind;
use pont_plane::meeting::{CHAT_REFILL, Meeting, Rules};
use pont_plane::to_browser::ToBrowser;
use pont_types::{ParticipantId, Timestamp};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

/// A typical line of chat (58 characters).
const TEXT: &str = "Can everyone see my screen? The slides are on page 12 now.";
const SIZES: [usize; 3] = [10, 100, 300];

struct Room<T> {
    meeting: Meeting,
    now: Timestamp,
    unix_ms: i64,
    next_sender: u64,
    members: u64,
    txs: Vec<UnboundedSender<T>>,
    rxs: Vec<UnboundedReceiver<T>>,
}

impl<T> Room<T> {
    fn new(n: usize) -> Self {
        let now = Timestamp::from_millis(1);
        let mut meeting = Meeting::new(Rules::default());
        for i in 0..n as u64 {
            meeting.arrive(
                now,
                ParticipantId(i + 1),
                ParticipantKind::Web,
                &format!("Participant {}", i + 1),
                i == 0,
            );
        }
        let (txs, rxs) = (0..n).map(|_| unbounded_channel()).unzip();
        Self {
            meeting,
            now,
            unix_ms: 1_764_000_000_000,
            next_sender: 0,
            members: n as u64,
            txs,
            rxs,
        }
    }

    /// `Meeting::chat` from the next member in turn, one refill later: always accepted.
    fn chat(&mut self) -> ToBrowser {
        self.now += CHAT_REFILL;
        self.unix_ms += 1000;
        let from = ParticipantId(self.next_sender % self.members + 1);
        self.next_sender += 1;
        let line = self
            .meeting
            .chat(self.now, self.unix_ms, from, black_box(TEXT))
            .expect("the rate limit never refuses here");
        ToBrowser::Chat { line }
    }
}

/// Today: a typed clone per participant, each serialised on its way out.
fn fanout_today(r: &mut Room<ToBrowser>) -> usize {
    let msg = r.chat();
    for tx in &r.txs {
        let _ = tx.send(msg.clone());
    }
    let mut bytes = 0;
    for rx in &mut r.rxs {
        while let Ok(m) = rx.try_recv() {
            let json = m.to_json();
            bytes += black_box(json.as_bytes()).len();
        }
    }
    bytes
}

/// Today's clones into the channels, without the serialisation.
fn fanout_clone_only(r: &mut Room<ToBrowser>) -> usize {
    let msg = r.chat();
    for tx in &r.txs {
        let _ = tx.send(msg.clone());
    }
    let mut n = 0;
    for rx in &mut r.rxs {
        while let Ok(m) = rx.try_recv() {
            black_box(&m);
            n += 1;
        }
    }
    n
}

/// The baseline: serialised once per broadcast, an `Arc<str>` per participant.
fn fanout_serialise_once(r: &mut Room<Arc<str>>) -> usize {
    let msg = r.chat();
    let json: Arc<str> = msg.to_json().into();
    for tx in &r.txs {
        let _ = tx.send(Arc::clone(&json));
    }
    let mut bytes = 0;
    for rx in &mut r.rxs {
        while let Ok(m) = rx.try_recv() {
            bytes += black_box(m.as_bytes()).len();
        }
    }
    bytes
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("chat_one_message");
    let mut alone: Room<ToBrowser> = Room::new(300);
    g.bench_function("meeting_chat", |b| b.iter(|| black_box(alone.chat())));
    g.finish();

    for n in SIZES {
        let mut g = c.benchmark_group(format!("chat_fanout_{n}"));
        // Throughput in deliveries (messages handed to a participant's socket task).
        g.throughput(Throughput::Elements(n as u64));

        let mut once: Room<Arc<str>> = Room::new(n);
        let bytes_once = fanout_serialise_once(&mut once);
        let mut today: Room<ToBrowser> = Room::new(n);
        let bytes_today = fanout_today(&mut today);
        // The same JSON reaches everyone either way (one message, same length).
        assert_eq!(bytes_once, bytes_today);
        let mut clone: Room<ToBrowser> = Room::new(n);
        assert_eq!(fanout_clone_only(&mut clone), n);

        g.bench_function(BenchmarkId::new("baseline_serialise_once", n), |b| {
            b.iter(|| fanout_serialise_once(&mut once))
        });
        g.bench_function(BenchmarkId::new("clone_send_only", n), |b| {
            b.iter(|| fanout_clone_only(&mut clone))
        });
        g.bench_function(BenchmarkId::new("today_clone_and_to_json", n), |b| {
            b.iter(|| fanout_today(&mut today))
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
