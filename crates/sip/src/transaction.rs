//! The four RFC 3261 §17 transaction state machines, as plain data driven by the endpoint.
//!
//! Each machine keeps the bytes it may have to send again and up to two deadlines; the
//! endpoint schedules them and calls `on_timer` when one is due. Over a reliable transport
//! nothing is retransmitted and the wait states last zero seconds (RFC 3261 §17.1.1.2,
//! §17.1.2.2, §17.2.1, §17.2.2).

use std::time::Duration;

use pont_types::Timestamp;

/// RFC 3261 §17.1.1.1 timer base values; the defaults are the RFC's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate: 500 ms (RFC 3261 §17.1.1.1).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses: 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network: 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl Timers {
    /// 64*T1: Timers B, F, H, J, L, M (RFC 3261 §17, RFC 6026).
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// INVITE: 100 sent, waiting for the TU. Non-INVITE: "Trying".
    Proceeding,
    /// Final non-2xx sent (INVITE: retransmitted by Timer G until ACK or Timer H;
    /// non-INVITE: absorbs retransmissions until Timer J).
    Completed,
    /// INVITE: ACK received, absorbing ACK retransmissions until Timer I.
    Confirmed,
    /// INVITE: 2xx sent; absorbs INVITE retransmissions until Timer L (RFC 6026 §7.1).
    Accepted,
}

/// What a server transaction timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ServerTimer {
    /// Send the last response again (Timer G).
    Retransmit,
    /// No ACK came for a non-2xx final response (Timer H, RFC 3261 §17.2.1).
    AckTimeout,
    /// The transaction is over (Timers I, J, L).
    Terminated,
    Nothing,
}

#[derive(Debug)]
pub(crate) struct ServerTx {
    pub invite: bool,
    pub reliable: bool,
    pub state: ServerState,
    pub last_response: Option<Vec<u8>>,
    pub last_code: u16,
    retransmit_at: Option<Timestamp>,
    interval: Duration,
    end_at: Option<Timestamp>,
}

impl ServerTx {
    pub(crate) fn new(invite: bool, reliable: bool) -> Self {
        Self {
            invite,
            reliable,
            state: ServerState::Proceeding,
            last_response: None,
            last_code: 0,
            retransmit_at: None,
            interval: Duration::ZERO,
            end_at: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        match (self.retransmit_at, self.end_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub(crate) fn is_final(&self) -> bool {
        self.last_code >= 200
    }

    /// Record a response the TU sends through this transaction.
    pub(crate) fn respond(&mut self, now: Timestamp, code: u16, bytes: Vec<u8>, t: &Timers) {
        if self.is_final() {
            return;
        }
        self.last_code = code;
        self.last_response = Some(bytes);
        if code < 200 {
            return;
        }
        if self.invite && code < 300 {
            // RFC 6026 §7.1: Accepted, Timer L = 64*T1; the 2xx itself is retransmitted by
            // the dialog layer (RFC 3261 §13.3.1.4).
            self.state = ServerState::Accepted;
            self.end_at = Some(now + t.t1x64());
        } else if self.invite {
            // RFC 3261 §17.2.1: Timer G = T1 (UDP only), Timer H = 64*T1.
            self.state = ServerState::Completed;
            if !self.reliable {
                self.interval = t.t1;
                self.retransmit_at = Some(now + t.t1);
            }
            self.end_at = Some(now + t.t1x64());
        } else {
            // RFC 3261 §17.2.2: Timer J = 64*T1 for UDP, zero for reliable transports.
            self.state = ServerState::Completed;
            self.end_at = Some(if self.reliable { now } else { now + t.t1x64() });
        }
    }

    /// A retransmission of the request: the response to send again, if any
    /// (RFC 3261 §17.2.1, §17.2.2).
    pub(crate) fn on_request_retransmission(&self) -> Option<&[u8]> {
        match self.state {
            ServerState::Confirmed => None,
            _ => self.last_response.as_deref(),
        }
    }

    /// ACK matched this INVITE transaction (non-2xx final): RFC 3261 §17.2.1 Confirmed,
    /// Timer I = T4 for UDP, zero for reliable.
    pub(crate) fn on_ack(&mut self, now: Timestamp, t: &Timers) {
        if self.state == ServerState::Completed {
            self.state = ServerState::Confirmed;
            self.retransmit_at = None;
            self.end_at = Some(if self.reliable { now } else { now + t.t4 });
        }
    }

    pub(crate) fn on_timer(&mut self, now: Timestamp, t: &Timers) -> ServerTimer {
        if self.end_at.is_some_and(|e| e <= now) {
            self.end_at = None;
            self.retransmit_at = None;
            return if self.state == ServerState::Completed && self.invite {
                ServerTimer::AckTimeout
            } else {
                ServerTimer::Terminated
            };
        }
        if self.retransmit_at.is_some_and(|r| r <= now) {
            // Timer G doubles up to T2.
            self.interval = (self.interval * 2).min(t.t2);
            self.retransmit_at = Some(now + self.interval);
            return ServerTimer::Retransmit;
        }
        ServerTimer::Nothing
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE "Calling" / non-INVITE "Trying".
    Trying,
    Proceeding,
    /// Final response received; absorbing retransmissions (Timers D, K).
    Completed,
    /// INVITE: 2xx received; re-ACKing 2xx retransmissions until Timer M (RFC 6026 §8.4).
    Accepted,
}

/// What a client transaction timer asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClientTimer {
    /// Send the request again (Timers A, E).
    Retransmit,
    /// No final response in time (Timers B, F): report 408 to the TU.
    Timeout,
    /// Over (Timers D, K, M).
    Terminated,
    Nothing,
}

/// What a response does to a client transaction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ClientResponse {
    /// Pass it to the TU (a provisional while no final response came, RFC 3261 §17.1.1.2 and
    /// §17.1.2.2, or the first final response).
    Deliver,
    /// A retransmission absorbed by the transaction; `Some(ack)` to send the ACK again.
    Absorbed(Option<Vec<u8>>),
}

#[derive(Debug)]
pub(crate) struct ClientTx {
    pub invite: bool,
    pub reliable: bool,
    pub state: ClientState,
    pub request: Vec<u8>,
    /// ACK for a non-2xx final (same branch, RFC 3261 §17.1.1.3) or for a 2xx (new branch,
    /// §13.2.2.4), sent again when the response is retransmitted.
    pub ack: Option<Vec<u8>>,
    retransmit_at: Option<Timestamp>,
    interval: Duration,
    timeout_at: Option<Timestamp>,
    end_at: Option<Timestamp>,
}

impl ClientTx {
    /// A request just sent at `now`. RFC 3261 §17.1.1.2 Timer A = T1 / §17.1.2.2 Timer E = T1
    /// (UDP only); Timer B / F = 64*T1.
    pub(crate) fn new(
        invite: bool,
        reliable: bool,
        request: Vec<u8>,
        now: Timestamp,
        t: &Timers,
    ) -> Self {
        Self {
            invite,
            reliable,
            state: ClientState::Trying,
            request,
            ack: None,
            retransmit_at: (!reliable).then(|| now + t.t1),
            interval: t.t1,
            timeout_at: Some(now + t.t1x64()),
            end_at: None,
        }
    }

    pub(crate) fn deadline(&self) -> Option<Timestamp> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn on_response(&mut self, now: Timestamp, code: u16, t: &Timers) -> ClientResponse {
        match self.state {
            ClientState::Trying | ClientState::Proceeding if code < 200 => {
                if self.invite {
                    // RFC 3261 §17.1.1.2: a provisional stops Timer A (not B).
                    self.retransmit_at = None;
                } else if !self.reliable {
                    // RFC 3261 §17.1.2.2: Proceeding keeps Timer E, at T2.
                    self.interval = t.t2;
                }
                self.state = ClientState::Proceeding;
                ClientResponse::Deliver
            }
            ClientState::Trying | ClientState::Proceeding => {
                self.retransmit_at = None;
                self.timeout_at = None;
                if self.invite && code < 300 {
                    self.state = ClientState::Accepted;
                    // RFC 6026 §8.4: Timer M = 64*T1.
                    self.end_at = Some(now + t.t1x64());
                } else if self.invite {
                    // RFC 3261 §17.1.1.2: Timer D ≥ 32 s for UDP, zero for reliable.
                    self.state = ClientState::Completed;
                    let d = Duration::from_secs(32).max(t.t1x64() / 2);
                    self.end_at = Some(if self.reliable { now } else { now + d });
                } else {
                    // RFC 3261 §17.1.2.2: Timer K = T4 for UDP, zero for reliable.
                    self.state = ClientState::Completed;
                    self.end_at = Some(if self.reliable { now } else { now + t.t4 });
                }
                ClientResponse::Deliver
            }
            ClientState::Completed | ClientState::Accepted => {
                ClientResponse::Absorbed(self.ack.clone())
            }
        }
    }

    /// Stop Timer B/F: RFC 3261 §17.1.1.2 runs Timer B in "Calling" only, so the endpoint stops
    /// it at the first provisional response to the INVITE of a call it places (a ringing call
    /// waits for the TU's ring timeout or CANCEL instead).
    pub(crate) fn stop_timeout(&mut self) {
        self.timeout_at = None;
    }

    pub(crate) fn on_timer(&mut self, now: Timestamp, t: &Timers) -> ClientTimer {
        if self.end_at.is_some_and(|e| e <= now) {
            self.end_at = None;
            return ClientTimer::Terminated;
        }
        if self.timeout_at.is_some_and(|e| e <= now) {
            self.timeout_at = None;
            self.retransmit_at = None;
            return ClientTimer::Timeout;
        }
        if self.retransmit_at.is_some_and(|r| r <= now) {
            // Timer A doubles without bound; Timer E doubles up to T2.
            self.interval = if self.invite {
                self.interval * 2
            } else {
                (self.interval * 2).min(t.t2)
            };
            self.retransmit_at = Some(now + self.interval);
            return ClientTimer::Retransmit;
        }
        ClientTimer::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Timestamp {
        Timestamp::from_millis(n)
    }

    #[test]
    fn timer_b_fires_at_64_t1_after_a_doubling() {
        let t = Timers::default();
        let mut tx = ClientTx::new(true, false, b"INVITE".to_vec(), ms(0), &t);
        let mut sends = Vec::new();
        let now = loop {
            let now = tx.deadline().unwrap();
            match tx.on_timer(now, &t) {
                ClientTimer::Retransmit => sends.push(now.as_micros() / 1000),
                ClientTimer::Timeout => break now,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(now, ms(32_000));
        assert_eq!(sends, [500, 1500, 3500, 7500, 15500, 31500]);
    }

    #[test]
    fn timer_e_caps_at_t2_and_f_times_out() {
        let t = Timers::default();
        let mut tx = ClientTx::new(false, false, b"BYE".to_vec(), ms(0), &t);
        let mut sends = Vec::new();
        loop {
            let now = tx.deadline().unwrap();
            match tx.on_timer(now, &t) {
                ClientTimer::Retransmit => sends.push(now.as_micros() / 1000),
                ClientTimer::Timeout => {
                    assert_eq!(now, ms(32_000));
                    break;
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(&sends[..5], [500, 1500, 3500, 7500, 11500]);
    }

    #[test]
    fn timer_k_and_reliable_transports() {
        let t = Timers::default();
        let mut tx = ClientTx::new(false, false, b"BYE".to_vec(), ms(0), &t);
        assert_eq!(tx.on_response(ms(100), 200, &t), ClientResponse::Deliver);
        assert_eq!(tx.deadline(), Some(ms(5100)));
        assert_eq!(
            tx.on_response(ms(200), 200, &t),
            ClientResponse::Absorbed(None)
        );
        assert_eq!(tx.on_timer(ms(5100), &t), ClientTimer::Terminated);

        let tx = ClientTx::new(false, true, b"BYE".to_vec(), ms(0), &t);
        assert_eq!(tx.deadline(), Some(ms(32_000)), "no Timer E over TCP");
    }

    #[test]
    fn timer_d_absorbs_and_reacks() {
        let t = Timers::default();
        let mut tx = ClientTx::new(true, false, b"INVITE".to_vec(), ms(0), &t);
        assert_eq!(tx.on_response(ms(10), 100, &t), ClientResponse::Deliver);
        assert_eq!(tx.deadline(), Some(ms(32_000)), "Timer A stopped");
        assert_eq!(tx.on_response(ms(20), 486, &t), ClientResponse::Deliver);
        tx.ack = Some(b"ACK".to_vec());
        assert_eq!(
            tx.on_response(ms(30), 486, &t),
            ClientResponse::Absorbed(Some(b"ACK".to_vec()))
        );
        assert_eq!(tx.deadline(), Some(ms(32_020)));
    }

    #[test]
    fn every_provisional_is_delivered_and_timer_b_can_stop() {
        let t = Timers::default();
        let mut tx = ClientTx::new(true, false, b"INVITE".to_vec(), ms(0), &t);
        assert_eq!(tx.on_response(ms(10), 100, &t), ClientResponse::Deliver);
        assert_eq!(tx.on_response(ms(20), 180, &t), ClientResponse::Deliver);
        tx.stop_timeout();
        assert_eq!(
            tx.deadline(),
            None,
            "neither Timer A nor B after stop_timeout"
        );
        assert_eq!(tx.on_response(ms(60_000), 200, &t), ClientResponse::Deliver);
        assert_eq!(tx.state, ClientState::Accepted);
    }

    #[test]
    fn invite_server_timer_g_until_ack_then_i() {
        let t = Timers::default();
        let mut tx = ServerTx::new(true, false);
        tx.respond(ms(0), 486, b"486".to_vec(), &t);
        let mut sends = Vec::new();
        while let Some(d) = tx.deadline() {
            if d > ms(10_000) {
                break;
            }
            assert_eq!(tx.on_timer(d, &t), ServerTimer::Retransmit);
            sends.push(d.as_micros() / 1000);
        }
        assert_eq!(sends, [500, 1500, 3500, 7500]);
        tx.on_ack(ms(10_000), &t);
        assert_eq!(tx.on_request_retransmission(), None);
        assert_eq!(tx.deadline(), Some(ms(15_000)), "Timer I = T4");
        assert_eq!(tx.on_timer(ms(15_000), &t), ServerTimer::Terminated);
    }

    #[test]
    fn invite_server_timer_h() {
        let t = Timers::default();
        let mut tx = ServerTx::new(true, true);
        tx.respond(ms(0), 404, b"404".to_vec(), &t);
        assert_eq!(tx.deadline(), Some(ms(32_000)), "no Timer G over TCP");
        assert_eq!(tx.on_timer(ms(32_000), &t), ServerTimer::AckTimeout);
    }

    #[test]
    fn non_invite_server_timer_j() {
        let t = Timers::default();
        let mut tx = ServerTx::new(false, false);
        tx.respond(ms(0), 200, b"200".to_vec(), &t);
        assert_eq!(tx.on_request_retransmission(), Some(&b"200"[..]));
        assert_eq!(tx.deadline(), Some(ms(32_000)));
        let mut tcp = ServerTx::new(false, true);
        tcp.respond(ms(0), 200, b"200".to_vec(), &t);
        assert_eq!(tcp.deadline(), Some(ms(0)));
    }
}
