//! RTCP for a plain RTP leg (a SIP caller's audio): our sender and receiver reports on
//! RFC 3550 intervals, and what the far end reports about the stream we send it.
//!
//! Sans-IO like the rest of the crate: the caller tells it what was sent and received and
//! what time it is, asks [`RtcpReporter::poll_timeout`] when to come back, and gets each
//! compound report from [`RtcpReporter::poll_report`] to send on the leg's RTCP port.

use std::time::Duration;

use pont_types::{Ssrc, Timestamp};

use crate::recv::{LastSr, RecvState, Verdict};
use crate::rtcp::{ReceiverReport, ReportBlock, Rtcp, SenderReport};

/// RFC 3550 §6.2: the minimum interval between reports, 5 s (a two-party audio call's
/// RTCP bandwidth never asks for a longer one).
const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// RFC 3550 §6.3.1: the randomised interval is divided by e − 3/2 to compensate for the
/// timer reconsideration algorithm's bias toward shorter intervals.
const COMPENSATION: f64 = 1.218_28;
/// SDES item type CNAME (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// RTCP packet type SDES.
const PT_SDES: u8 = 202;

/// What the far end said about the stream we send it (a reception report block about our
/// SSRC, RFC 3550 §6.4.1), in units people read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteReport {
    /// Share of our packets lost since its previous report, 0.0 to 1.0.
    pub fraction_lost: f64,
    /// Packets of ours lost since the call started.
    pub cumulative_lost: i32,
    /// Interarrival jitter it measured.
    pub jitter: Duration,
    /// Round-trip time from its LSR/DLSR (RFC 3550 §6.4.1), once it has had one of our SRs.
    pub rtt: Option<Duration>,
}

/// RTCP state of one RTP leg: one SSRC of ours, one remote source.
#[derive(Debug)]
pub struct RtcpReporter {
    ssrc: Ssrc,
    cname: String,
    clock_rate: u32,
    ntp_at_zero: u64,
    rng: u64,
    next_report: Timestamp,
    // Sender side: what we sent since the start.
    packets_sent: u32,
    octets_sent: u32,
    /// The RTP timestamp of our last packet and when it was sent.
    last_sent: Option<(u32, Timestamp)>,
    /// Sent anything since the last report (RFC 3550 §6.4: then an SR, else an RR).
    sent_since_report: bool,
    // Receiver side.
    remote: Option<(Ssrc, RecvState)>,
    reports_sent: u64,
    last_remote: Option<RemoteReport>,
}

impl RtcpReporter {
    /// `ssrc` is ours (the one our RTP carries); `ntp_at_zero` is the NTP time (32.32) at
    /// `Timestamp::ZERO`; `seed` spreads the legs' report times (RFC 3550 §6.2 randomisation).
    pub fn new(
        now: Timestamp,
        ssrc: Ssrc,
        cname: &str,
        clock_rate: u32,
        ntp_at_zero: u64,
        seed: u64,
    ) -> Self {
        let mut r = Self {
            ssrc,
            cname: cname.chars().take(255).collect(),
            clock_rate: clock_rate.max(1),
            ntp_at_zero,
            rng: seed | 1,
            next_report: now,
            packets_sent: 0,
            octets_sent: 0,
            last_sent: None,
            sent_since_report: false,
            remote: None,
            reports_sent: 0,
            last_remote: None,
        };
        // RFC 3550 §6.2: the first report after half the minimum interval.
        r.next_report = now + r.interval(MIN_INTERVAL / 2);
        r
    }

    // ---- getters ---------------------------------------------------------------------------

    /// The far end's latest report about our stream.
    pub fn remote_report(&self) -> Option<RemoteReport> {
        self.last_remote
    }

    /// Compound reports produced so far.
    pub fn reports_sent(&self) -> u64 {
        self.reports_sent
    }

    // ---- inputs ----------------------------------------------------------------------------

    /// We sent an RTP packet with timestamp `rtp_time` and `payload_len` payload bytes.
    pub fn handle_sent(&mut self, now: Timestamp, rtp_time: u32, payload_len: usize) {
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self
            .octets_sent
            .wrapping_add(u32::try_from(payload_len).unwrap_or(u32::MAX));
        self.last_sent = Some((rtp_time, now));
        self.sent_since_report = true;
    }

    /// The far end's RTP packet arrived (after the caller's source checks). A new SSRC
    /// starts the statistics again.
    pub fn handle_received(&mut self, now: Timestamp, ssrc: Ssrc, seq: u16, rtp_time: u32) {
        let state = match &mut self.remote {
            Some((s, state)) if *s == ssrc => state,
            _ => {
                self.remote = Some((ssrc, RecvState::new(self.clock_rate)));
                let Some((_, state)) = self.remote.as_mut() else {
                    return;
                };
                state
            }
        };
        let _: Verdict = state.receive(now, seq, rtp_time);
    }

    /// The far end's RTCP (a parsed compound packet). Returns its report about our stream,
    /// if it carried one.
    pub fn handle_rtcp(&mut self, now: Timestamp, packets: &[Rtcp]) -> Option<RemoteReport> {
        let mut about_us = None;
        for p in packets {
            let blocks = match p {
                Rtcp::SenderReport(sr) => {
                    if let Some((ssrc, state)) = &mut self.remote
                        && *ssrc == sr.ssrc
                    {
                        state.last_sr = Some(LastSr {
                            ntp: sr.ntp,
                            rtp_time: sr.rtp_time,
                            received_at: now,
                        });
                    }
                    &sr.reports
                }
                Rtcp::ReceiverReport(rr) => &rr.reports,
                _ => continue,
            };
            if let Some(b) = blocks.iter().find(|b| b.ssrc == self.ssrc) {
                about_us = Some(self.remote_from(now, b));
            }
        }
        if about_us.is_some() {
            self.last_remote = about_us;
        }
        about_us
    }

    // ---- outputs ---------------------------------------------------------------------------

    /// When the next report is due.
    pub fn poll_timeout(&self) -> Timestamp {
        self.next_report
    }

    /// Writes the compound report due at `now` into `out` (cleared first): an SR if we sent
    /// since the last one (else an RR) with a block about the far end's stream if it sent,
    /// then SDES CNAME (RFC 3550 §6.1). False when none is due yet.
    pub fn poll_report(&mut self, now: Timestamp, out: &mut Vec<u8>) -> bool {
        if now < self.next_report {
            return false;
        }
        out.clear();
        let blocks: Vec<ReportBlock> = self
            .remote
            .as_mut()
            .and_then(|(ssrc, state)| state.report_block(now, *ssrc))
            .into_iter()
            .collect();
        let report = if self.sent_since_report {
            let ntp = self.ntp(now);
            // The RTP time that corresponds to `now`, from our last packet on.
            let rtp_time = self.last_sent.map_or(0, |(ts, at)| {
                let ticks =
                    now.saturating_since(at).as_micros() * u128::from(self.clock_rate) / 1_000_000;
                ts.wrapping_add(ticks as u32)
            });
            Rtcp::SenderReport(SenderReport {
                ssrc: self.ssrc,
                ntp,
                rtp_time,
                packet_count: self.packets_sent,
                octet_count: self.octets_sent,
                reports: blocks,
            })
        } else {
            Rtcp::ReceiverReport(ReceiverReport {
                ssrc: self.ssrc,
                reports: blocks,
            })
        };
        report.write_to(out);
        self.write_sdes(out);
        self.sent_since_report = false;
        self.reports_sent += 1;
        self.next_report = now + self.interval(MIN_INTERVAL);
        true
    }

    // ---- internals -------------------------------------------------------------------------

    /// RFC 3550 §6.3.1: `base` times a random factor in [0.5, 1.5], over e − 3/2.
    fn interval(&mut self, base: Duration) -> Duration {
        // xorshift64: deterministic for a seed, no OS entropy in the core.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        base.mul_f64((0.5 + unit) / COMPENSATION)
    }

    fn ntp(&self, now: Timestamp) -> u64 {
        let micros = now.as_micros();
        let secs = micros / 1_000_000;
        let frac = ((micros % 1_000_000) << 32) / 1_000_000;
        self.ntp_at_zero.wrapping_add((secs << 32) | frac)
    }

    fn remote_from(&self, now: Timestamp, b: &ReportBlock) -> RemoteReport {
        // RFC 3550 §6.4.1: RTT = A − LSR − DLSR, all in 1/65536 s (the middle NTP bits).
        let rtt = (b.last_sr != 0).then(|| {
            let a = ((self.ntp(now) >> 16) & 0xffff_ffff) as u32;
            let q16 = a
                .wrapping_sub(b.last_sr)
                .wrapping_sub(b.delay_since_last_sr);
            Duration::from_micros(u64::from(q16) * 1_000_000 / 65_536)
        });
        RemoteReport {
            fraction_lost: f64::from(b.fraction_lost) / 256.0,
            cumulative_lost: b.cumulative_lost,
            jitter: Duration::from_micros(
                u64::from(b.jitter) * 1_000_000 / u64::from(self.clock_rate),
            ),
            rtt,
        }
    }

    /// One SDES chunk with our CNAME, padded to a 32-bit boundary (RFC 3550 §6.5).
    fn write_sdes(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0x81, PT_SDES, 0, 0]);
        out.extend_from_slice(&self.ssrc.0.to_be_bytes());
        out.push(SDES_CNAME);
        out.push(self.cname.len() as u8);
        out.extend_from_slice(self.cname.as_bytes());
        // The item list ends with a zero octet, then zeros up to the next word.
        out.push(0);
        while !(out.len() - start).is_multiple_of(4) {
            out.push(0);
        }
        let words = ((out.len() - start) / 4 - 1) as u16;
        out[start + 2..start + 4].copy_from_slice(&words.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtcp::parse_compound;

    fn t(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn parse(buf: &[u8]) -> Vec<Rtcp> {
        let mut out = Vec::new();
        parse_compound(buf, &mut out).unwrap();
        out
    }

    #[test]
    fn first_report_comes_within_rfc_intervals_then_every_few_seconds() {
        let mut r = RtcpReporter::new(t(0), Ssrc(7), "pont", 8000, 0, 42);
        let first = r.poll_timeout().saturating_since(t(0));
        // 2.5 s × [0.5, 1.5] / 1.21828.
        assert!(first >= Duration::from_millis(1026) && first <= Duration::from_millis(3079));
        let mut buf = Vec::new();
        assert!(!r.poll_report(t(0), &mut buf));
        let mut at = r.poll_timeout();
        let mut gaps = Vec::new();
        for _ in 0..50 {
            assert!(r.poll_report(at, &mut buf));
            let next = r.poll_timeout();
            gaps.push(next.saturating_since(at));
            at = next;
        }
        assert!(
            gaps.iter()
                .all(|g| *g >= Duration::from_millis(2052) && *g <= Duration::from_millis(6157))
        );
        // Randomised: not all the same.
        assert!(gaps.iter().any(|g| *g != gaps[0]));
    }

    #[test]
    fn sender_report_counts_what_we_sent_and_reports_on_what_we_received() {
        let mut r = RtcpReporter::new(t(0), Ssrc(7), "pont@bridge", 8000, 1 << 32, 1);
        for i in 0..100u16 {
            r.handle_sent(t(u64::from(i) * 20), u32::from(i) * 160, 160);
            // The far end's stream loses every tenth packet.
            if i % 10 != 9 {
                r.handle_received(t(u64::from(i) * 20), Ssrc(99), 1000 + i, u32::from(i) * 160);
            }
        }
        let mut buf = Vec::new();
        assert!(r.poll_report(t(5000), &mut buf));
        let packets = parse(&buf);
        let Rtcp::SenderReport(sr) = &packets[0] else {
            panic!("{packets:?}")
        };
        assert_eq!(sr.ssrc, Ssrc(7));
        assert_eq!(sr.packet_count, 100);
        assert_eq!(sr.octet_count, 16_000);
        // NTP: one second at zero, plus five.
        assert_eq!(sr.ntp >> 32, 6);
        // Last packet at 1.98 s with timestamp 99*160; 3.02 s later at 8 kHz.
        assert_eq!(sr.rtp_time, 99 * 160 + 24_160);
        let b = sr.reports[0];
        assert_eq!(b.ssrc, Ssrc(99));
        // Received 90 of 99 expected (the last, seq 1099, was lost so is not yet expected).
        assert_eq!(b.cumulative_lost, 9);
        assert!(
            matches!(packets[1], Rtcp::Other { pt: 202, .. }),
            "SDES follows"
        );
        // Nothing sent since: the next is an RR.
        assert!(r.poll_report(t(20_000), &mut buf));
        assert!(matches!(parse(&buf)[0], Rtcp::ReceiverReport(_)));
    }

    #[test]
    fn the_far_ends_report_about_our_stream_gives_loss_jitter_and_rtt() {
        let mut r = RtcpReporter::new(t(0), Ssrc(7), "pont", 8000, 0, 1);
        r.handle_sent(t(0), 0, 160);
        let mut buf = Vec::new();
        let at = r.poll_timeout();
        assert!(r.poll_report(at, &mut buf));
        let Rtcp::SenderReport(ours) = &parse(&buf)[0] else {
            panic!()
        };
        let lsr = ((ours.ntp >> 16) & 0xffff_ffff) as u32;
        // It answers 100 ms later having held our SR for 60 ms: RTT 40 ms.
        let theirs = Rtcp::ReceiverReport(ReceiverReport {
            ssrc: Ssrc(99),
            reports: vec![ReportBlock {
                ssrc: Ssrc(7),
                fraction_lost: 64,
                cumulative_lost: 12,
                highest_seq: 500,
                jitter: 160,
                last_sr: lsr,
                delay_since_last_sr: 65_536 * 60 / 1000,
            }],
        });
        let got = r
            .handle_rtcp(at + Duration::from_millis(100), &[theirs])
            .unwrap();
        assert!((got.fraction_lost - 0.25).abs() < 1e-9);
        assert_eq!(got.cumulative_lost, 12);
        assert_eq!(got.jitter, Duration::from_millis(20));
        let rtt = got.rtt.unwrap();
        assert!(
            rtt >= Duration::from_millis(39) && rtt <= Duration::from_millis(41),
            "{rtt:?}"
        );
        assert_eq!(r.remote_report(), Some(got));
        // A report about someone else's stream is not about us.
        let other = Rtcp::ReceiverReport(ReceiverReport {
            ssrc: Ssrc(99),
            reports: vec![ReportBlock {
                ssrc: Ssrc(8),
                ..ReportBlock::default()
            }],
        });
        assert_eq!(
            r.handle_rtcp(at + Duration::from_millis(200), &[other]),
            None
        );
    }

    #[test]
    fn their_sr_is_echoed_in_our_lsr_and_dlsr() {
        let mut r = RtcpReporter::new(t(0), Ssrc(7), "pont", 8000, 0, 1);
        r.handle_received(t(0), Ssrc(99), 1, 0);
        let sr = Rtcp::SenderReport(SenderReport {
            ssrc: Ssrc(99),
            ntp: 0x0001_2345_6789_0000,
            ..SenderReport::default()
        });
        r.handle_rtcp(t(500), &[sr]);
        let mut buf = Vec::new();
        // The first report is due after at least 1026 ms.
        let at = r.poll_timeout();
        assert!(r.poll_report(at, &mut buf));
        let Rtcp::ReceiverReport(rr) = &parse(&buf)[0] else {
            panic!()
        };
        assert_eq!(rr.reports[0].last_sr, 0x2345_6789);
        let held = at.saturating_since(t(500));
        assert_eq!(
            u128::from(rr.reports[0].delay_since_last_sr),
            held.as_micros() * 65_536 / 1_000_000
        );
    }
}
