//! Trunk health over real sockets: two fake SBCs answer OPTIONS on 127.0.0.1; when the first stops
//! answering it is marked Down after `failure_threshold` probes and calls go to the second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::endpoint::{Endpoint, EndpointConfig};
use sip::gateway::{GatewayConfig, GatewayState, Gateways};
use sip::gateway_probe::{drive, ProbeIdentity};
use sip::{Method, SipMessage};
use tokio::net::UdpSocket;

/// A gateway that answers every OPTIONS 200 while `alive`.
async fn fake_sbc(alive: Arc<AtomicBool>) -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&buf[..n])) else {
                continue;
            };
            if msg.method() == Some(&Method::Options) && alive.load(Ordering::SeqCst) {
                let resp = msg.response(200, "OK").to_tag("sbc").build();
                let _ = sock.send_to(&resp, from).await;
            }
        }
    });
    addr
}

fn gw(name: &str, address: SocketAddr, priority: u32) -> GatewayConfig {
    GatewayConfig {
        name: name.into(),
        address,
        transport: Default::default(),
        targets: vec!["emergency-trunk".into()],
        priority,
        max_channels: None,
        probe_interval_s: 1,
        probe_timeout_ms: 300,
        failure_threshold: 2,
        recovery_threshold: 1,
        invite_timeout_ms: None,
    }
}

async fn wait_state(pool: &Mutex<Gateways>, name: &str, want: GatewayState, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let state = {
            let p = pool.lock().unwrap();
            p.id(name).and_then(|id| p.state(id))
        };
        if state == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} is {state:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_gateway_that_stops_answering_options_goes_down_and_calls_fail_over() {
    let (ep, _rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let (a_alive, b_alive) = (
        Arc::new(AtomicBool::new(true)),
        Arc::new(AtomicBool::new(true)),
    );
    let a = fake_sbc(a_alive.clone()).await;
    let b = fake_sbc(b_alive).await;
    let start = Instant::now();
    let clock = move || start.elapsed().as_millis() as i64;
    let pool = Arc::new(Mutex::new(
        Gateways::new(vec![gw("sbc-b", b, 20), gw("sbc-a", a, 10)], clock()).unwrap(),
    ));
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let who = ProbeIdentity {
        from_uri: "sip:hotline@center.example".into(),
        domain: "center.example".into(),
    };
    let task = tokio::spawn(drive(ep, pool.clone(), who, clock, move |e| {
        seen.lock().unwrap().push((e.name, e.from, e.to))
    }));

    wait_state(&pool, "sbc-a", GatewayState::Up, Duration::from_secs(3)).await;
    wait_state(&pool, "sbc-b", GatewayState::Up, Duration::from_secs(3)).await;
    let first = pool.lock().unwrap().seize("emergency-trunk", &[]).unwrap();
    assert_eq!(first.address, a, "priority 10 before 20");
    pool.lock().unwrap().release(first.gateway);

    // sbc-a goes silent: Probing after one lost probe, Down after the second.
    a_alive.store(false, Ordering::SeqCst);
    wait_state(&pool, "sbc-a", GatewayState::Down, Duration::from_secs(6)).await;
    let next = pool.lock().unwrap().seize("emergency-trunk", &[]).unwrap();
    assert_eq!(next.address, b, "the call goes to the second gateway");
    let status = pool.lock().unwrap().status();
    let sa = status.iter().find(|s| s.name == "sbc-a").unwrap();
    assert!(sa.probes_failed >= 2 && sa.last_rtt_ms.is_some(), "{sa:?}");
    assert!(
        serde_json::to_string(&status)
            .unwrap()
            .contains("\"state\":\"down\""),
        "/status shape"
    );

    // It answers again: Up at the next probe (recovery_threshold = 1).
    a_alive.store(true, Ordering::SeqCst);
    wait_state(&pool, "sbc-a", GatewayState::Up, Duration::from_secs(4)).await;
    task.abort();
    let ev = events.lock().unwrap().clone();
    let a_changes: Vec<_> = ev
        .iter()
        .filter(|e| e.0 == "sbc-a")
        .map(|e| (e.1, e.2))
        .collect();
    assert_eq!(
        a_changes,
        vec![
            (GatewayState::Probing, GatewayState::Up),
            (GatewayState::Up, GatewayState::Probing),
            (GatewayState::Probing, GatewayState::Down),
            (GatewayState::Down, GatewayState::Up),
        ]
    );
}
