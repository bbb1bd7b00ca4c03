//! Benchmark (c), end to end: CPU per three-party call in the engine — receive three G.711
//! streams, jitter-buffer, decode, mix, encode and send three streams, 50 packets/s each way per
//! party. Runs C conferences on one tokio worker (receive side) and one pacing thread (mix and
//! send); a generator thread plays the 3·C parties. CPU per call = (worker + pacer CPU) / C.
//! Run once: `cargo bench -p media --bench conference`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use media::{conference, rtp, Codec, Direction, MediaConfig, MediaEngine, Negotiated};

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const CONFS: usize = 200;
const MEASURE: Duration = Duration::from_secs(5);

/// CPU seconds used so far by threads whose name starts with `prefix`.
fn threads_cpu(prefix: &str) -> f64 {
    let mut total = 0u64;
    if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
        for t in dir.flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if !comm.trim().starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
            if let Some((_, rest)) = stat.rsplit_once(')') {
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
        .thread_name("conf-worker")
        .enable_all()
        .build()
        .unwrap();
    let sink = StdUdp::bind((LO, 0)).unwrap();
    let sink_addr = sink.local_addr().unwrap();
    let (eng, legs, confs, targets) = rt.block_on(async {
        let eng = MediaEngine::start_with_shards(
            MediaConfig {
                bind_ip: LO,
                port_min: 6000,
                port_max: 7999,
                media_timeout: Duration::from_secs(3600),
            },
            1,
        )
        .await
        .unwrap();
        let mut legs = Vec::new();
        let mut confs = Vec::new();
        let mut targets: Vec<(SocketAddr, u8)> = Vec::new();
        for _ in 0..CONFS {
            let mut three = Vec::new();
            for p in 0..3 {
                let leg = eng.open_leg().await.unwrap();
                // One A-law party per call, as with a department seat on another PBX.
                let codec = if p == 2 { Codec::Pcma } else { Codec::Pcmu };
                leg.set_remote(&Negotiated {
                    remote: sink_addr,
                    codec,
                    pt: codec.static_pt(),
                    dtmf_pt: None,
                    ptime_ms: 20,
                    direction: Direction::SendRecv,
                    rtcp_mux: false,
                    rtcp: None,
                });
                targets.push((leg.local_addr(), codec.static_pt()));
                three.push(leg);
            }
            confs.push(conference(&[&three[0], &three[1], &three[2]]));
            legs.push(three);
        }
        (eng, legs, confs, targets)
    });

    let stop = Arc::new(AtomicBool::new(false));
    let gen_stop = stop.clone();
    let generator = std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let s = StdUdp::bind((LO, 0)).unwrap();
        let mut seq = 0u16;
        let start = Instant::now();
        let mut pkts: Vec<[u8; 172]> = vec![[0u8; 172]; targets.len()];
        while !gen_stop.load(Ordering::Relaxed) {
            for (i, (p, (_, pt))) in pkts.iter_mut().zip(targets.iter()).enumerate() {
                for (j, b) in p[12..].iter_mut().enumerate() {
                    *b = ((i * 7 + j + seq as usize) % 256) as u8;
                }
                rtp::write_header(p, false, *pt, seq, seq as u32 * 160, i as u32);
            }
            for (chunk_p, chunk_t) in pkts
                .chunks(media::udp::BATCH)
                .zip(targets.chunks(media::udp::BATCH))
            {
                let msgs: Vec<(&[u8], SocketAddr)> = chunk_p
                    .iter()
                    .zip(chunk_t.iter())
                    .map(|(p, (to, _))| (&p[..], *to))
                    .collect();
                media::udp::send_batch(s.as_raw_fd(), &msgs);
            }
            seq = seq.wrapping_add(1);
            // 50 packets/s per party, on the absolute 20 ms grid.
            let next = start + Duration::from_millis(20) * seq as u32;
            if let Some(d) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(d);
            }
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let s0 = eng.stats();
    let cpu0 = threads_cpu("conf-worker") + threads_cpu("media-pacer");
    let t0 = Instant::now();
    std::thread::sleep(MEASURE);
    let cpu = threads_cpu("conf-worker") + threads_cpu("media-pacer") - cpu0;
    let wall = t0.elapsed().as_secs_f64();
    let s1 = eng.stats();
    stop.store(true, Ordering::Relaxed);
    let _ = generator.join();
    let pin = (s1.packets_in - s0.packets_in) as f64 / wall;
    let pout = (s1.packets_out - s0.packets_out) as f64 / wall;
    println!(
        "{CONFS} three-party calls: {pin:.0} pkt/s in, {pout:.0} pkt/s out (expected {} each way), engine CPU {:.2} s in {wall:.2} s",
        CONFS * 3 * 50,
        cpu
    );
    println!(
        "RESULT (c): {:.3}% of one core per three-party call ({:.0} µs CPU per second), i.e. about {:.0} mixed calls per core",
        cpu * 100.0 / wall / CONFS as f64,
        cpu * 1e6 / wall / CONFS as f64,
        CONFS as f64 * wall / cpu.max(0.01)
    );
    drop(confs);
    drop(legs);
}
