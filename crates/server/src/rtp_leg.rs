//! The RTP side of SIP calls: a port pair per call from `--rtp-ports`, and strict source checks
//! so that stray or injected packets from other addresses never reach a room ("RTP bleed").

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use pont_types::Timestamp;
use tokio::net::UdpSocket;

use crate::config::PortRange;

/// Hands out even/odd port pairs (RTP, RTCP; RFC 3550 §11) from the configured range, round
/// robin so a port just released is not reused at once (late packets of the old call).
#[derive(Debug)]
pub(crate) struct PortAllocator {
    range: PortRange,
    next: u16,
    in_use: HashSet<u16>,
}

impl PortAllocator {
    pub(crate) fn new(range: PortRange) -> Self {
        Self {
            range,
            next: range.lo + (range.lo % 2),
            in_use: HashSet::new(),
        }
    }

    /// Binds the next free pair on `ip`: (RTP socket, RTCP socket, RTP port).
    pub(crate) async fn bind_pair(
        &mut self,
        ip: IpAddr,
    ) -> io::Result<(UdpSocket, UdpSocket, u16)> {
        let first = self.range.lo + (self.range.lo % 2);
        if first >= self.range.hi {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "RTP port range holds no pair",
            ));
        }
        let pairs = (self.range.hi - first).div_ceil(2) as usize;
        for _ in 0..pairs {
            let port = self.next;
            self.next = if port + 3 > self.range.hi {
                first
            } else {
                port + 2
            };
            if self.in_use.contains(&port) {
                continue;
            }
            // A port another program holds is skipped, not an error.
            let Ok(rtp) = UdpSocket::bind(SocketAddr::new(ip, port)).await else {
                continue;
            };
            let Ok(rtcp) = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await else {
                continue;
            };
            self.in_use.insert(port);
            return Ok((rtp, rtcp, port));
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("no free RTP port pair in {}", self.range),
        ))
    }

    pub(crate) fn release(&mut self, port: u16) {
        self.in_use.remove(&port);
    }

    #[cfg(test)]
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.len()
    }
}

/// Sequential packets from a new address needed before we believe it (Asterisk's
/// `strictrtp` probation uses 4).
const PROBATION: u8 = 4;

/// Decides which source address a call's RTP may come from (sans-IO: time is handed in).
///
/// The address in the SDP is believed at once. A NATed endpoint sends from another address:
/// during a learning window a new address is accepted once it has sent [`PROBATION`] packets
/// in sequence; after that only the latched address is heard. Everything else is dropped and
/// counted by the caller. The window opens at the call's start (or a re-INVITE) and again at
/// the first packet if none came before: a phone whose first RTP comes late (a slow or busy
/// endpoint, a long early-media path) is still learned, as Asterisk's `strictrtp` learns from
/// the first packets whenever they come.
#[derive(Debug, Clone)]
pub(crate) struct SourceFilter {
    expected: Option<SocketAddr>,
    latched: Option<SocketAddr>,
    learning_until: Timestamp,
    learning: Duration,
    candidate: Option<(SocketAddr, u16, u8)>,
    /// A packet came (from any source) since the start or the last re-INVITE.
    heard: bool,
    last_activity: Timestamp,
}

impl SourceFilter {
    pub(crate) fn new(now: Timestamp, expected: Option<SocketAddr>, learning: Duration) -> Self {
        Self {
            expected,
            latched: None,
            learning_until: now + learning,
            learning,
            candidate: None,
            heard: false,
            last_activity: now,
        }
    }

    /// The peer's media moved (re-INVITE): learn again.
    pub(crate) fn relearn(&mut self, now: Timestamp, expected: Option<SocketAddr>) {
        *self = Self {
            last_activity: now,
            ..Self::new(now, expected, self.learning)
        };
    }

    /// Where to send our RTP: the latched address, else the SDP's.
    pub(crate) fn remote(&self) -> Option<SocketAddr> {
        self.latched.or(self.expected)
    }

    /// Whether an RTP packet with sequence number `seq` from `from` is accepted.
    pub(crate) fn accept_rtp(&mut self, now: Timestamp, from: SocketAddr, seq: u16) -> bool {
        if !self.heard {
            self.heard = true;
            self.learning_until = self.learning_until.max(now + self.learning);
        }
        let ok = match self.latched {
            Some(addr) => addr == from,
            None if Some(from) == self.expected => {
                self.latched = Some(from);
                true
            }
            None if now <= self.learning_until => {
                let count = match self.candidate {
                    Some((addr, last, n)) if addr == from && seq == last.wrapping_add(1) => n + 1,
                    _ => 1,
                };
                self.candidate = Some((from, seq, count));
                if count >= PROBATION {
                    self.latched = Some(from);
                    true
                } else {
                    false
                }
            }
            None => false,
        };
        if ok {
            self.last_activity = now;
        }
        ok
    }

    /// Whether an RTCP packet from `from` is accepted: from the media's IP address.
    pub(crate) fn accept_rtcp(&mut self, now: Timestamp, from: SocketAddr) -> bool {
        let ok = self.remote().is_some_and(|r| r.ip() == from.ip());
        if ok {
            self.last_activity = now;
        }
        ok
    }

    /// No accepted packet for `timeout`: the call is dead.
    pub(crate) fn is_inactive(&self, now: Timestamp, timeout: Duration) -> bool {
        now.saturating_since(self.last_activity) >= timeout
    }

    /// Treats `now` as activity (a held call sends nothing and must not time out).
    pub(crate) fn touch(&mut self, now: Timestamp) {
        self.last_activity = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn sdp_address_is_believed_and_others_are_dropped() {
        let t = Timestamp::ZERO;
        let mut f = SourceFilter::new(t, Some(addr("192.0.2.1:4000")), Duration::from_secs(2));
        assert!(f.accept_rtp(t, addr("192.0.2.1:4000"), 1));
        // After latching, an attacker's sequential stream is never heard.
        for seq in 2..20 {
            assert!(!f.accept_rtp(t, addr("198.51.100.9:4000"), seq));
        }
        assert!(f.accept_rtp(t, addr("192.0.2.1:4000"), 2));
        assert!(f.accept_rtcp(t, addr("192.0.2.1:4001")));
        assert!(!f.accept_rtcp(t, addr("198.51.100.9:4001")));
    }

    #[test]
    fn natted_source_is_learned_after_probation_only_while_learning() {
        let t = Timestamp::ZERO;
        let mut f = SourceFilter::new(t, Some(addr("10.0.0.5:4000")), Duration::from_secs(2));
        let nat = addr("203.0.113.7:61000");
        assert!(!f.accept_rtp(t, nat, 10));
        assert!(!f.accept_rtp(t, nat, 11));
        // A stray packet in between resets nothing for the real stream but is not accepted.
        assert!(!f.accept_rtp(t, addr("198.51.100.9:1"), 99));
        assert!(!f.accept_rtp(t, nat, 12));
        assert!(!f.accept_rtp(t, nat, 13));
        assert!(!f.accept_rtp(t, nat, 14));
        assert!(f.accept_rtp(t, nat, 15));
        assert_eq!(f.remote(), Some(nat));
        // Too late to learn another one: the window opened at the first packet (a stray one
        // here) and closed 2 s later.
        let mut g = SourceFilter::new(t, Some(addr("10.0.0.5:4000")), Duration::from_secs(2));
        assert!(!g.accept_rtp(t + Duration::from_secs(1), addr("198.51.100.9:1"), 7));
        let late = t + Duration::from_secs(4);
        for seq in 0..10 {
            assert!(!g.accept_rtp(late, nat, seq));
        }
        assert_eq!(g.remote(), Some(addr("10.0.0.5:4000")));
    }

    #[test]
    fn a_natted_source_whose_first_packet_comes_late_is_still_learned() {
        let t = Timestamp::ZERO;
        let mut f = SourceFilter::new(t, Some(addr("10.0.0.5:4000")), Duration::from_secs(2));
        let nat = addr("203.0.113.7:61000");
        // Nothing for 5 s (a busy endpoint), then its stream from behind NAT.
        let late = t + Duration::from_secs(5);
        let accepted: Vec<bool> = (0..6).map(|seq| f.accept_rtp(late, nat, seq)).collect();
        assert_eq!(accepted, [false, false, false, true, true, true]);
        assert_eq!(f.remote(), Some(nat));
    }

    #[test]
    fn inactivity() {
        let t = Timestamp::ZERO;
        let mut f = SourceFilter::new(t, Some(addr("192.0.2.1:4000")), Duration::from_secs(2));
        assert!(!f.is_inactive(t + Duration::from_secs(29), Duration::from_secs(30)));
        assert!(f.is_inactive(t + Duration::from_secs(30), Duration::from_secs(30)));
        f.touch(t + Duration::from_secs(30));
        assert!(!f.is_inactive(t + Duration::from_secs(31), Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn pairs_are_even_odd_distinct_and_released() {
        let range = PortRange {
            lo: 41_001,
            hi: 41_010,
        };
        let mut a = PortAllocator::new(range);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let mut ports = Vec::new();
        let mut keep = Vec::new();
        while let Ok((rtp, rtcp, port)) = a.bind_pair(ip).await {
            assert_eq!(port % 2, 0);
            assert_eq!(rtcp.local_addr().unwrap().port(), port + 1);
            assert!((range.lo..range.hi).contains(&port));
            ports.push(port);
            keep.push((rtp, rtcp));
        }
        // 41002, 41004, 41006, 41008 (41010 has no odd partner inside the range).
        assert_eq!(ports, vec![41_002, 41_004, 41_006, 41_008]);
        assert_eq!(a.in_use(), 4);
        drop(keep);
        a.release(41_004);
        let (_, _, port) = a.bind_pair(ip).await.unwrap();
        assert_eq!(port, 41_004);
    }
}
