//! Benchmark (b): relayed RTP packets per second per core. The engine runs on ONE tokio worker
//! thread; a generator thread on the other core blasts 172-byte G.711 packets at the A legs of
//! bridged pairs; the B legs relay to a sink socket. Packets/s per core = relayed packets divided
//! by the CPU seconds the worker thread used (from /proc/self/task/*/stat).
//! Run once: `cargo bench -p media --bench relay`.

use std::net::{IpAddr, Ipv4Addr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{bridge, rtp, Codec, Direction, MediaConfig, MediaEngine, Negotiated};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const PAIRS: usize = 50;
const MEASURE: Duration = Duration::from_secs(5);
const WORKER: &str = "relay-worker";

/// CPU seconds used so far by threads named `name` (utime + stime, in clock ticks of 1/100 s).
fn thread_cpu(name: &str) -> f64 {
    let mut total = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            // Fields after the ")" of comm: state is field 3, utime 14, stime 15.
            if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
                let f: Vec<&str> = rest.split_whitespace().collect();
                total += f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
                total += f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total as f64 / 100.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(WORKER)
        .enable_all()
        .build()
        .unwrap();
    let sink = StdUdp::bind((LO, 0)).unwrap(); // never read: the kernel drops what overflows
    let sink_addr = sink.local_addr().unwrap();
    let (eng, legs, a_addrs) = rt.block_on(async {
        let eng = MediaEngine::start_with_shards(
            MediaConfig {
                bind_ip: LO,
                port_min: 9000,
                port_max: 9999,
                media_timeout: Duration::from_secs(3600),
            },
            1,
        )
        .await
        .unwrap();
        let mut legs = Vec::new();
        let mut a_addrs = Vec::new();
        for _ in 0..PAIRS {
            let a = eng.open_leg().await.unwrap();
            let b = eng.open_leg().await.unwrap();
            let n = |remote, codec: Codec| Negotiated {
                remote,
                codec,
                pt: codec.static_pt(),
                dtmf_pt: Some(101),
                ptime_ms: 20,
                direction: Direction::SendRecv,
                rtcp_mux: false,
                rtcp: None,
            };
            a.set_remote(&n("127.0.0.1:9".parse().unwrap(), Codec::Pcmu));
            b.set_remote(&n(sink_addr, Codec::Pcmu));
            bridge(&a, &b);
            a_addrs.push(a.local_addr());
            legs.push((a, b));
        }
        (eng, legs, a_addrs)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let gen_stop = stop.clone();
    let generator = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        // sendmmsg, 16 destinations per call, so the generator outruns the relay worker.
        let s = StdUdp::bind((LO, 0)).unwrap();
        let mut pkts = [[0xFFu8; 172]; media::udp::BATCH];
        let mut seq = 0u16;
        let mut sent = 0u64;
        while !gen_stop.load(Ordering::Relaxed) {
            for chunk in a_addrs.chunks(media::udp::BATCH) {
                for p in pkts.iter_mut() {
                    rtp::write_header(p, false, 0, seq, seq as u32 * 160, 0x1234);
                }
                let msgs: Vec<(&[u8], std::net::SocketAddr)> = chunk
                    .iter()
                    .zip(pkts.iter())
                    .map(|(to, p)| (&p[..], *to))
                    .collect();
                sent += media::udp::send_batch(s.as_raw_fd(), &msgs) as u64;
            }
            seq = seq.wrapping_add(1);
        }
        sent
    });
    std::thread::sleep(Duration::from_secs(1));
    let out0 = eng.stats().packets_out;
    let in0 = eng.stats().packets_in;
    let cpu0 = thread_cpu(WORKER);
    let t0 = Instant::now();
    std::thread::sleep(MEASURE);
    let out = eng.stats().packets_out - out0;
    let inn = eng.stats().packets_in - in0;
    let cpu = thread_cpu(WORKER) - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let generated = generator.join().unwrap_or(0);
    println!(
        "pairs {PAIRS}: generated {generated} (whole run), received {inn}, relayed {out} in {wall:.2} s = {:.0} pkt/s wall; worker CPU {cpu:.2} s ({:.0}% of one core)",
        out as f64 / wall,
        cpu * 100.0 / wall
    );
    println!(
        "RESULT (b): {:.0} relayed packets/s per core (relayed / worker CPU seconds)",
        out as f64 / cpu.max(0.01)
    );
    drop(legs);
}
