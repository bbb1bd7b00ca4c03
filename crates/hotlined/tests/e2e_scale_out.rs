//! Scale-out behind an existing engine (docs/scale-out.md): Kamailio (Debian `kamailio`,
//! deploy/kamailio/dispatcher.cfg) in front of two hotlined instances sharing one ticket database
//! (PostgreSQL when TICKET_TEST_PG_URL is set, as in tests/run; else one SQLite file). Seats register through
//! Kamailio and reach their own center's instance; carriers' calls are spread over both; `kill -9` of one
//! instance mid-call: Kamailio's OPTIONS probes mark it down, new calls go to the other, and after its
//! restart the call it was carrying has its record from the live-call journal — every answered call
//! recorded once, none lost, none twice.
//!
//! Runs when `kamailio` is installed (CI installs it); without it the test says so and passes, like the
//! suite's other optional peers (`HOTLINE_REQUIRE_KAMAILIO=1` makes it fail instead).

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::*;

struct Kamailio {
    child: Child,
    sip: SocketAddr,
    ctl: String,
    _dir: tempfile::TempDir,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log =
                std::fs::read_to_string(self._dir.path().join("kamailio.log")).unwrap_or_default();
            eprintln!("==== kamailio.log\n{log}");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn kamailio_bin() -> Option<String> {
    let found = ["/usr/sbin/kamailio", "/usr/local/sbin/kamailio"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .map(str::to_string);
    if found.is_none() {
        assert!(
            std::env::var("HOTLINE_REQUIRE_KAMAILIO").as_deref() != Ok("1"),
            "kamailio not installed: apt-get install -y kamailio"
        );
        eprintln!("\n!!!!!!!! scale-out test SKIPPED: kamailio is not installed (apt-get install -y kamailio) !!!!!!!!\n");
    }
    found
}

impl Kamailio {
    /// Kamailio with the repo's dispatcher config; set 1 = both instances, set 11 = center 1's seats (a
    /// first), set 12 = center 2's (b first). Probes every second.
    fn start(bin: &str, a: SocketAddr, b: SocketAddr, center2_seats: &str) -> Kamailio {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("hotlined.list");
        std::fs::write(
            &list,
            format!(
                "1 sip:{a} 0 0\n1 sip:{b} 0 0\n11 sip:{a} 0 10\n11 sip:{b} 0 5\n12 sip:{b} 0 10\n12 sip:{a} 0 5\n"
            ),
        )
        .unwrap();
        let port = free_port();
        let ctl = format!("unix:{}/ctl", dir.path().display());
        let child = Command::new(bin)
            .arg("-f")
            .arg(repo().join("deploy/kamailio/dispatcher.cfg"))
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-l")
            .arg(format!("udp:127.0.0.1:{port}"))
            .arg("-Y")
            .arg(dir.path())
            .arg("-P")
            .arg(dir.path().join("kamailio.pid"))
            .arg("-w")
            .arg(dir.path())
            .arg("-A")
            .arg(format!("DS_LIST=\"{}\"", list.display()))
            .args(["-A", "PING_S=1", "-A", "FR_MS=1500", "-A", "CHILDREN=2"])
            .arg("-A")
            .arg(format!("CTL_SOCK=\"{ctl}\""))
            .arg("-A")
            .arg(format!("CENTER2_SEATS=\"{center2_seats}\""))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("kamailio.log")).unwrap(),
            ))
            .spawn()
            .expect("start kamailio");
        let k = Kamailio {
            child,
            sip: SocketAddr::from(([127, 0, 0, 1], port)),
            ctl,
            _dir: dir,
        };
        wait_for(Duration::from_secs(15), "kamailio answering kamcmd", || {
            k.kamcmd(&["core.uptime"]).is_some()
        });
        k
    }

    fn kamcmd(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("kamcmd")
            .arg("-s")
            .arg(&self.ctl)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The dispatcher's flags for `dest` in every set it is in (`AP` active, `IP`/`IX` inactive, `TP`
    /// not yet probed …): each set's entry is probed on its own.
    fn flags(&self, dest: SocketAddr) -> Vec<String> {
        let list = self.kamcmd(&["dispatcher.list"]).unwrap_or_default();
        let uri = format!("URI: sip:{dest}");
        list.split(&uri)
            .skip(1)
            .filter_map(|rest| rest.split("FLAGS:").nth(1))
            .map(|f| f.split_whitespace().next().unwrap_or("").to_string())
            .collect()
    }

    fn active(&self, dest: SocketAddr) -> bool {
        let f = self.flags(dest);
        !f.is_empty() && f.iter().all(|f| f.starts_with('A'))
    }

    fn down(&self, dest: SocketAddr) -> bool {
        let f = self.flags(dest);
        !f.is_empty() && f.iter().all(|f| f.starts_with('I'))
    }
}

/// A carrier call through Kamailio: SIPp with the caller scenario, talking `talk_ms` after the answer.
fn call(via: SocketAddr, rtp: &RtpPeer, talk_ms: u32) -> Sipp {
    let port = free_port().to_string();
    let media = rtp.port().to_string();
    let talk = talk_ms.to_string();
    Sipp::spawn(
        via,
        &sipp_dir().join("caller.xml"),
        &[
            "-i",
            "127.0.0.1",
            "-p",
            &port,
            "-s",
            "12345",
            "-key",
            "caller_rtp_port",
            &media,
            "-d",
            &talk,
        ],
    )
}

fn active(d: &Daemon) -> u64 {
    d.status()["calls"]["active"].as_u64().unwrap_or(0)
}

#[test]
fn kamailio_spreads_calls_over_two_instances_and_fails_over_when_one_is_killed() {
    let Some(bin) = kamailio_bin() else { return };
    let (db_url, _db_dir) = match fresh_pg_url() {
        Some(url) => (url, None),
        None => {
            let dir = tempfile::tempdir().unwrap();
            (
                format!("sqlite://{}", dir.path().join("shared.db").display()),
                Some(dir),
            )
        }
    };
    let state_a = tempfile::tempdir().unwrap();
    // a restarts on the same port: one below the kernel's ephemeral range (32768–), so no socket of this
    // test or another takes it while a is down.
    let port_a = (0..2000u16)
        .map(|i| 10_000 + ((std::process::id() as u16 % 2000 + i) % 2000) * 2)
        .find(|p| {
            std::net::UdpSocket::bind(("127.0.0.1", *p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok()
        })
        .expect("a free port below 14000");
    let port_b = free_port();
    let media = 21_000 + (std::process::id() % 100) as u16 * 200;
    let opts = |port: u16, spool: &Path, media_base: u16| Options {
        database_url: Some(db_url.clone()),
        sip_port: Some(port),
        spool_dir: Some(spool.to_path_buf()),
        media_base: Some(media_base),
        ..Options::default()
    };
    let mut a = Daemon::start(opts(port_a, state_a.path(), media));
    let state_b = tempfile::tempdir().unwrap();
    let b = Daemon::start(opts(port_b, state_b.path(), media + 100));
    // Seats 1004 and 1005 are center 2's: they belong to b; 1001 to a.
    let k = Kamailio::start(&bin, a.sip, b.sip, "^100[45]$");
    wait_for(
        Duration::from_secs(10),
        "both instances active in Kamailio",
        || k.active(a.sip) && k.active(b.sip),
    );

    // Seats register through Kamailio and land on their own center's instance.
    let seat_rtp: Vec<RtpPeer> = (0..3).map(|_| RtpPeer::new()).collect();
    let _s1 = register_seat_through(
        &a,
        k.sip,
        "1001",
        "seat_answer.xml",
        seat_rtp[0].port(),
        "u1",
        120_000,
    );
    let _s4 = register_seat_through(
        &b,
        k.sip,
        "1004",
        "seat_answer.xml",
        seat_rtp[1].port(),
        "u1",
        120_000,
    );
    let _s5 = register_seat_through(
        &b,
        k.sip,
        "1005",
        "seat_answer.xml",
        seat_rtp[2].port(),
        "u1",
        120_000,
    );
    assert_eq!(
        a.seat_status("1004")["registered"],
        false,
        "1004 is center 2's seat"
    );
    assert_eq!(
        b.seat_status("1001")["registered"],
        false,
        "1001 is center 1's seat"
    );

    // Two long calls: round robin puts one on each instance, each answered by one of its seats.
    let callers: Vec<RtpPeer> = (0..4).map(|_| RtpPeer::new()).collect();
    let mut on_a_or_b = vec![call(k.sip, &callers[0], 25_000)];
    std::thread::sleep(Duration::from_millis(300));
    on_a_or_b.push(call(k.sip, &callers[1], 20_000));
    wait_for(
        Duration::from_secs(20),
        "one call talking on each instance",
        || {
            a.seat_status("1001")["state"]["state"] == "talking"
                && ["1004", "1005"]
                    .iter()
                    .any(|s| b.seat_status(s)["state"]["state"] == "talking")
        },
    );
    assert_eq!((active(&a), active(&b)), (1, 1));

    // kill -9 of instance a in the middle of its call.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    wait_for(Duration::from_secs(10), "Kamailio marking a down", || {
        k.down(a.sip)
    });
    let noticed = killed.elapsed();
    // Probes every second, two failures in a row: down within about two intervals.
    assert!(
        noticed < Duration::from_secs(5),
        "marked down after {noticed:?}"
    );

    // New calls go to b and complete there.
    let before = b.call_records(0).len();
    for rtp in &callers[2..4] {
        let mut c = call(k.sip, rtp, 1_000);
        let st = c.wait(Duration::from_secs(40));
        assert!(
            st.success(),
            "a new call after the kill: {}\n{}",
            c.messages(),
            b.log()
        );
    }
    assert!(b.call_records(before + 2).len() >= before + 2);

    // The call b carried ends normally; the one a carried cannot end cleanly (its BYE finds nobody).
    let ended_cleanly = on_a_or_b
        .iter_mut()
        .map(|c| c.wait(Duration::from_secs(60)).success())
        .filter(|ok| *ok)
        .count();
    assert_eq!(
        ended_cleanly, 1,
        "the call on b ends with a 200 to its BYE, the one on a cannot"
    );

    // a comes back on its state directory: its live-call journal gives the interrupted call its record.
    let a2 = Daemon::start(opts(port_a, state_a.path(), media));
    wait_for(
        Duration::from_secs(10),
        "a active again in Kamailio",
        || k.active(a2.sip),
    );
    let records = a2.call_records(4);
    let mut ids: Vec<&str> = records.iter().map(|r| r.call_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        records.len(),
        4,
        "four answered calls, four records: {records:#?}"
    );
    assert_eq!(ids.len(), 4, "no call recorded twice");
    assert!(
        records.iter().all(|r| r.answered_at_ms.is_some()),
        "every record is of an answered call: {records:#?}"
    );
    let interrupted: Vec<_> = records
        .iter()
        .filter(|r| {
            format!("{:?}", r.end_reason)
                .to_lowercase()
                .contains("interrupted")
        })
        .collect();
    assert_eq!(
        interrupted.len(),
        1,
        "the call a carried, recovered: {records:#?}"
    );
    // Nothing more arrives later (a replay runs once).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(a2.call_records(5).len(), 4);
}
