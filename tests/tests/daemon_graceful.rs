//! Graceful stop: a large S3 PUT and a FUSE read in flight when SIGTERM arrives both
//! complete; the daemon then exits 0 and the mount is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use nix::sys::signal::Signal;
use weka_e2e::{Daemon, DaemonOptions};

/// Size of the object PUT while the daemon is told to stop.
const PUT_SIZE: usize = 1 << 30;
/// Size of the file read through the mount meanwhile.
const READ_SIZE: usize = 32 << 20;

/// Sends a presigned PUT over a raw socket, writing the body in 1 MiB chunks; `progress`
/// gets a message after the first 16 MiB. Returns the HTTP status line.
///
/// Unlike the read, the PUT is not held at a point of the test's choosing: a body that
/// stalls for 10 s is refused (`BODY_STALL`). At 1 GiB it is still sending when SIGTERM
/// arrives.
fn slow_put(
    url: &str,
    headers: Vec<(String, String)>,
    progress: mpsc::Sender<()>,
) -> Result<String, String> {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = TcpStream::connect(host).unwrap();
    let mut head = format!("PUT /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {PUT_SIZE}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let chunk = vec![b'w'; 1 << 20];
    for i in 0..PUT_SIZE / chunk.len() {
        if let Err(e) = stream.write_all(&chunk) {
            let mut response = String::new();
            let _ = stream.read_to_string(&mut response);
            return Err(format!("after {i} MiB: {e}; response: {response:?}"));
        }
        if i == 16 {
            let _ = progress.send(());
        }
    }
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| e.to_string())?;
    Ok(response.lines().next().unwrap_or_default().to_string())
}

/// Opens a file on the mount and reads its first MiB, tells `opened` and waits for `go`,
/// then reads it to the end.
fn slow_read(path: std::path::PathBuf, opened: mpsc::Sender<()>, go: mpsc::Receiver<()>) -> usize {
    let mut f = std::fs::File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return total;
        }
        if total == 0 {
            hold(&opened, &go);
        }
        total += n;
    }
}

/// Tells the test that the read is under way, then waits until the test lets it go on
/// (once the daemon is stopping), so that it is in flight when SIGTERM arrives.
fn hold(started: &mpsc::Sender<()>, go: &mpsc::Receiver<()>) {
    // Either error means the test thread has gone (it failed): finishing the read at once
    // is all that is left to do.
    let _ = started.send(());
    let _ = go.recv();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_put_and_a_fuse_read_in_flight_complete_before_the_daemon_exits() {
    // A debug build takes tens of seconds for 1 GiB on a loaded 2-core machine; the drain
    // deadline must cover it (the default is 30 s).
    let mut daemon =
        Daemon::start_with(DaemonOptions::default().config("drain_deadline = \"300s\"\n"));
    let s3 = daemon.admin_s3();
    s3.create_bucket().bucket("drain").send().await.unwrap();
    std::fs::write(
        daemon.mount().join("drain/readme.bin"),
        vec![b'r'; READ_SIZE],
    )
    .unwrap();
    let presigned = s3
        .put_object()
        .bucket("drain")
        .key("big.bin")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(600)).unwrap())
        .await
        .unwrap();
    let url = presigned.uri().to_string();
    let headers: Vec<(String, String)> = presigned
        .headers()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();

    let (read_tx, read_rx) = mpsc::channel();
    let (read_go, read_wait) = mpsc::channel();
    let reader = std::thread::spawn({
        let path = daemon.mount().join("drain/readme.bin");
        move || slow_read(path, read_tx, read_wait)
    });
    let (put_tx, put_rx) = mpsc::channel();
    let writer = std::thread::spawn(move || slow_put(&url, headers, put_tx));
    read_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    put_rx.recv_timeout(Duration::from_secs(30)).unwrap();

    daemon.signal(Signal::SIGTERM);
    // New connections are refused once stopping has begun.
    let addr = daemon.s3_addr();
    assert!(
        weka_e2e::wait_for(Duration::from_secs(10), || TcpStream::connect(&addr)
            .is_err()),
        "the S3 port still accepts after SIGTERM"
    );
    // The read was held until now: it is in flight while the daemon stops.
    read_go.send(()).unwrap();

    let status_line = writer
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("PUT failed: {e}\n{}", daemon.stderr()));
    assert!(
        status_line.contains(" 200 "),
        "PUT in flight got {status_line:?}\n{}",
        daemon.stderr()
    );
    assert_eq!(
        reader.join().unwrap(),
        READ_SIZE,
        "the FUSE read in flight completed"
    );
    let status = daemon
        .wait_exit(Duration::from_secs(60))
        .expect("wekad exits after draining");
    assert!(status.success(), "{status}\n{}", daemon.stderr());
    assert!(!daemon.is_mounted());
    assert_eq!(
        std::fs::metadata(daemon.data().join("drain/big.bin"))
            .unwrap()
            .len(),
        PUT_SIZE as u64
    );
}
