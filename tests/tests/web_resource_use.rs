//! Measures the bridge with real browsers: memory per web participant and server CPU per
//! forwarded stream, against the same server idle. Ignored by default (it takes ~40 s);
//! run: `cargo test --release -p pont-tests --test web_resource_use -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use pont_tests::webdriver::{Browser, Driver, browser_available, poll, write_wav};
use pont_tests::{EVENT_WAIT, Server, create_token, instant_room};

/// Resident memory (kB) and CPU time (clock ticks) of a process, from /proc.
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let cpu = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    (rss, cpu)
}

/// CPU share of one core over `window`, and RSS at its end.
fn measure(pid: u32, window: Duration) -> (u64, f64) {
    let (_, c0) = usage(pid);
    let t0 = Instant::now();
    std::thread::sleep(window); // a measurement window, not synchronisation
    let (rss, c1) = usage(pid);
    let ticks = 100.0; // USER_HZ on Linux
    (rss, (c1 - c0) as f64 / ticks / t0.elapsed().as_secs_f64())
}

#[test]
#[ignore = "a measurement: run explicitly with --ignored"]
fn web_resource_use() {
    let Ok((chromium, driver)) = browser_available() else {
        eprintln!("SKIPPED: chromium/chromedriver not installed");
        return;
    };
    const N: usize = 3;
    let window = Duration::from_secs(10);
    let dir = tempfile::tempdir().unwrap();
    let token = create_token(&dir.path().join("data"), "alice");
    let server = Server::start(dir.path());
    let room = instant_room(&server, &token);
    let pid = server.pid();
    let (idle_rss, idle_cpu) = measure(pid, window);

    let silence = dir.path().join("silence.wav");
    write_wav(&silence, 10, None);
    let driver = Driver::start(&chromium, &driver);
    let browsers: Vec<Browser> = (0..N)
        .map(|i| {
            let b = driver.browser(
                &dir.path().join(format!("p{i}")),
                &[format!(
                    "--use-file-for-fake-audio-capture={}",
                    silence.display()
                )],
            );
            b.navigate(&server.url(&format!("/r/{room}?name=p{i}&autojoin=1")));
            b
        })
        .collect();
    // Wait until every browser decodes every other video.
    for b in &browsers {
        poll(EVENT_WAIT, || {
            let v = b.exec_async(
                "const d = arguments[0]; window.pont ? window.pont.stats().then(d) : d([]);",
            );
            let decoding = v
                .as_array()?
                .iter()
                .filter(|s| s["kind"] == "video" && s["framesDecoded"].as_u64() > Some(0))
                .count();
            (decoding == N - 1).then_some(())
        })
        .expect("all videos decoding");
    }
    let (call_rss, call_cpu) = measure(pid, window);
    let streams = N * 2 * (N - 1); // audio + video from each publisher to each other browser
    println!(
        "idle: RSS {idle_rss} kB, CPU {:.2}% of a core",
        idle_cpu * 100.0
    );
    println!(
        "call: {N} browsers, {streams} forwarded streams: RSS {call_rss} kB, CPU {:.2}%",
        call_cpu * 100.0
    );
    println!(
        "per web participant: {} kB; per forwarded stream: {:.3}% of a core",
        (call_rss.saturating_sub(idle_rss)) / N as u64,
        (call_cpu - idle_cpu) * 100.0 / streams as f64
    );
}
