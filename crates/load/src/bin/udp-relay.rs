//! `udp-relay`: the baseline for `pont-load --baseline`. A minimal UDP forwarder on one
//! socket and one thread, reading with `recvmmsg` and writing with `sendmmsg` in batches: what
//! this machine can move with no ICE, DTLS, SRTP, RTCP or RTP rewrite at all.
//!
//! Protocol: `RLY1` + room (u32, big-endian) joins a room (answered `RLY1OK`); every other
//! datagram from a member goes, unchanged, to every other member of its room.
//!
//! `nix` provides safe wrappers of `recvmmsg`/`sendmmsg`, so this binary needs no `unsafe`
//! (the workspace forbids it); std has no batched socket calls.

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd as _;

use anyhow::{Context as _, bail};
use clap::Parser;
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrIn, recvmmsg, sendmmsg};

/// A minimal UDP relay (recvmmsg/sendmmsg) for pont-load's baseline; loopback only.
#[derive(Debug, Parser)]
struct Args {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

/// Datagrams read per `recvmmsg`.
const BATCH: usize = 64;
/// Datagrams written per `sendmmsg`.
const SEND_BATCH: usize = 256;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let SocketAddr::V4(listen) = args.listen else {
        bail!("udp-relay: IPv4 loopback only");
    };
    if !listen.ip().is_loopback() {
        bail!("udp-relay: {listen} is not loopback");
    }
    let sock = UdpSocket::bind(listen).context("bind")?;
    // Say where we listen, as `pont serve` does, for whoever started us.
    println!("udp-relay listening {}", sock.local_addr()?);
    let fd = sock.as_raw_fd();

    let mut rooms: HashMap<u32, Vec<SockaddrIn>> = HashMap::new();
    let mut member_of: HashMap<SocketAddrV4, u32> = HashMap::new();
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut rx_headers = MultiHeaders::<SockaddrIn>::preallocate(BATCH, None);
    let mut tx_headers = MultiHeaders::<SockaddrIn>::preallocate(SEND_BATCH, None);
    let mut got: Vec<(SockaddrIn, usize)> = Vec::with_capacity(BATCH);
    let mut out: Vec<(usize, SockaddrIn)> = Vec::with_capacity(SEND_BATCH);
    loop {
        got.clear();
        {
            let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
                bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
            let res = recvmmsg(
                fd,
                &mut rx_headers,
                iovs.iter_mut(),
                MsgFlags::MSG_WAITFORONE,
                None,
            );
            match res {
                Ok(msgs) => {
                    for m in msgs {
                        if let Some(a) = m.address {
                            got.push((a, m.bytes));
                        }
                    }
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("recvmmsg"),
            }
        }
        out.clear();
        for (i, &(from, len)) in got.iter().enumerate() {
            let data = &bufs[i][..len];
            let from_std = SocketAddrV4::new(from.ip(), from.port());
            if len == 8 && data.starts_with(b"RLY1") {
                let room = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                if member_of.insert(from_std, room).is_none() {
                    rooms.entry(room).or_default().push(from);
                }
                let _ = sock.send_to(b"RLY1OK", from_std);
                continue;
            }
            let Some(room) = member_of.get(&from_std) else {
                continue;
            };
            for &to in rooms.get(room).into_iter().flatten() {
                if to != from {
                    out.push((i, to));
                }
            }
        }
        for chunk in out.chunks(SEND_BATCH) {
            let mut done = 0;
            while done < chunk.len() {
                let rest = &chunk[done..];
                let iovs: Vec<[IoSlice<'_>; 1]> = rest
                    .iter()
                    .map(|&(i, _)| [IoSlice::new(&bufs[i][..got[i].1])])
                    .collect();
                let addrs: Vec<Option<SockaddrIn>> = rest.iter().map(|&(_, a)| Some(a)).collect();
                match sendmmsg(fd, &mut tx_headers, &iovs, &addrs, [], MsgFlags::empty()) {
                    Ok(r) => done += r.count().max(1),
                    Err(nix::errno::Errno::EINTR) => {}
                    // A full socket buffer or a closed peer: drop this one, as a relay does.
                    Err(_) => done += 1,
                }
            }
        }
    }
}
