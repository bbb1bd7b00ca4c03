//! Two real endpoints on 127.0.0.1 exchange INVITE/200/ACK and BYE over UDP and TCP; a lost 200
//! is retransmitted until the ACK; malformed requests get a 400 or are counted.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sip::dialog::{new_branch, new_call_id, new_tag, Dialog, DialogId};
use sip::endpoint::{ClientTx, Endpoint, EndpointConfig, Incoming, TxEvent};
use sip::transaction::Timers;
use sip::transport::TransportKind::{self, Tcp, Udp};
use sip::{Method, RequestBuilder, SipMessage, Uri};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn fast_timers() -> Timers {
    Timers {
        t1: Duration::from_millis(50),
        t2: Duration::from_millis(400),
        t4: Duration::from_millis(500),
    }
}

async fn endpoint(tcp: bool) -> (Endpoint, Receiver<Incoming>) {
    Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tcp: tcp.then(|| "127.0.0.1:0".parse().unwrap()),
        timers: fast_timers(),
        ..EndpointConfig::default()
    })
    .await
    .unwrap()
}

fn addr_of(ep: &Endpoint, transport: TransportKind) -> SocketAddr {
    match transport {
        Udp => ep.local_addr(),
        Tcp => ep.tcp_addr().unwrap(),
        TransportKind::Tls => ep.tls_addr().unwrap(),
    }
}

fn contact(ep: &Endpoint, user: &str, transport: TransportKind) -> String {
    format!(
        "<sip:{user}@{};transport={}>",
        addr_of(ep, transport),
        transport.as_str().to_lowercase()
    )
}

fn dest_of(uri: &Uri) -> SocketAddr {
    format!("{}:{}", uri.host, uri.port.unwrap_or(5060))
        .parse()
        .unwrap()
}

fn invite(ep: &Endpoint, to: SocketAddr, transport: TransportKind) -> SipMessage {
    let uri = Uri::parse(&format!("sip:12345@{to}")).unwrap();
    RequestBuilder::new(Method::Invite, &uri)
        .header("Via", &ep.via(transport, &new_branch()))
        .header("Max-Forwards", "70")
        .header(
            "From",
            &format!(
                "<sip:13800000000@{}>;tag={}",
                addr_of(ep, transport),
                new_tag()
            ),
        )
        .header("To", &format!("<sip:12345@{to}>"))
        .header("Call-ID", &new_call_id("test.invalid"))
        .header("CSeq", "1 INVITE")
        .header("Contact", &contact(ep, "caller", transport))
        .body("application/sdp", b"v=0\r\n")
        .build_message()
}

async fn next_incoming(rx: &mut Receiver<Incoming>) -> Incoming {
    timeout(WAIT, rx.recv())
        .await
        .expect("incoming in time")
        .expect("channel open")
}

async fn next_event(tx: &mut ClientTx) -> TxEvent {
    timeout(WAIT, tx.next())
        .await
        .expect("event in time")
        .expect("transaction alive")
}

async fn final_response(tx: &mut ClientTx) -> SipMessage {
    loop {
        match next_event(tx).await {
            TxEvent::Provisional(_) => continue,
            TxEvent::Final(m) => return m,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The whole call: INVITE → 100/180/200 → ACK → BYE → 200, on one transport.
async fn call_flow(transport: TransportKind) {
    let (uac, _uac_rx) = endpoint(transport == Tcp).await;
    let (uas, mut uas_rx) = endpoint(transport == Tcp).await;
    let uas_addr = addr_of(&uas, transport);

    let inv = invite(&uac, uas_addr, transport);
    let mut ctx = uac.request(inv.clone(), uas_addr, transport);

    // UAS side: the INVITE arrives with a server transaction.
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.transport, transport);
    assert_eq!(inc.msg.method(), Some(&Method::Invite));
    assert_eq!(inc.msg.body(), b"v=0\r\n");
    let stx = inc.tx.clone().expect("server transaction");
    let tag = new_tag();
    let uas_contact = Uri::parse(&format!("sip:12345@{uas_addr}")).unwrap();
    let mut uas_dialog = Dialog::uas(&inc.msg, &tag, &uas_contact).unwrap();
    stx.respond(
        inc.msg
            .response(180, "Ringing")
            .to_tag(&tag)
            .build_message(),
    );
    stx.respond(
        inc.msg
            .response(200, "OK")
            .to_tag(&tag)
            .header("Contact", &contact(&uas, "12345", transport))
            .body("application/sdp", b"v=0\r\n")
            .build_message(),
    );

    // UAC side: 100 (automatic), 180, then 200.
    let mut provisional = Vec::new();
    let ok = loop {
        match next_event(&mut ctx).await {
            TxEvent::Provisional(m) => provisional.push(m.status().unwrap()),
            TxEvent::Final(m) => break m,
            other => panic!("unexpected {other:?}"),
        }
    };
    // Under load the INVITE may be retransmitted, repeating the provisional: compare distinct.
    provisional.dedup();
    assert_eq!(provisional, vec![100, 180]);
    assert_eq!(ok.status(), Some(200));
    assert_eq!(ok.to().tag(), Some(tag.as_str()));
    let mut uac_dialog = Dialog::uac(&inv, &ok).unwrap();
    assert_eq!(uac_dialog.id(), DialogId::of_response(&ok).unwrap());

    // ACK (outside any transaction, new branch, same CSeq number).
    let ack = uac_dialog
        .ack_for(&ok)
        .header("Via", &uac.via(transport, &new_branch()))
        .build();
    uac.send_raw(ack, dest_of(&uac_dialog.remote_target), transport);
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.msg.method(), Some(&Method::Ack));
    assert!(inc.tx.is_none());
    assert_eq!(inc.msg.cseq().seq, 1);
    assert_eq!(DialogId::of_incoming(&inc.msg), Some(uas_dialog.id()));

    // BYE from the UAC in the dialog.
    let bye = SipMessage::parse(
        uac_dialog
            .request(Method::Bye)
            .header("Via", &uac.via(transport, &new_branch()))
            .build(),
    )
    .unwrap();
    assert_eq!(bye.cseq().seq, 2);
    let mut bye_tx = uac.request(bye, dest_of(&uac_dialog.remote_target), transport);
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.msg.method(), Some(&Method::Bye));
    assert_eq!(DialogId::of_incoming(&inc.msg), Some(uas_dialog.id()));
    assert!(uas_dialog.accepts_remote_cseq(&inc.msg));
    inc.tx
        .unwrap()
        .respond(inc.msg.response(200, "OK").build_message());
    assert_eq!(final_response(&mut bye_tx).await.status(), Some(200));

    let s = uas.stats();
    assert!(s.received >= 3, "{s:?}");
    assert_eq!(s.parse_errors, 0);
    if transport == Tcp {
        assert!(uac.stats().tcp_connections >= 1);
    }
    // Everything finished: after the longest timer (64·T1 = 3.2 s here) no transaction is left.
    assert!(s.live_server_transactions >= 1, "{s:?}");
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(uas.stats().live_server_transactions, 0, "{:?}", uas.stats());
    assert_eq!(uac.stats().live_client_transactions, 0, "{:?}", uac.stats());
}

#[tokio::test]
async fn invite_ack_bye_over_udp() {
    call_flow(Udp).await;
}

#[tokio::test]
async fn invite_ack_bye_over_tcp() {
    call_flow(Tcp).await;
}

fn raw_invite(from: SocketAddr, to: SocketAddr, branch: &str) -> String {
    format!(
        "INVITE sip:12345@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@{from}>;tag=raw1\r\n\
         To: <sip:12345@{to}>\r\n\
         Call-ID: raw-{branch}\r\n\
         CSeq: 7 INVITE\r\n\
         Contact: <sip:caller@{from}>\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

async fn recv_msg(sock: &UdpSocket, within: Duration) -> Option<SipMessage> {
    let mut buf = vec![0u8; 65536];
    let (n, _) = timeout(within, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(SipMessage::parse(Bytes::copy_from_slice(&buf[..n])).unwrap())
}

/// A datagram as text, for answers that our own parser would refuse (a 400 without Call-ID).
async fn recv_raw(sock: &UdpSocket, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 65536];
    let (n, _) = timeout(within, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test]
async fn lost_200_is_retransmitted_until_the_ack() {
    let (uas, mut uas_rx) = endpoint(false).await;
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    phone
        .send_to(
            raw_invite(me, uas.local_addr(), "z9hG4bKlost1").as_bytes(),
            uas.local_addr(),
        )
        .await
        .unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    inc.tx.unwrap().respond(
        inc.msg
            .response(200, "OK")
            .to_tag("uas-tag")
            .build_message(),
    );

    // 100 Trying, then the 200, which the phone "loses" (ignores); the copy comes ~T1 later.
    let trying = recv_msg(&phone, WAIT).await.unwrap();
    assert_eq!(trying.status(), Some(100));
    let first = recv_msg(&phone, WAIT).await.unwrap();
    assert_eq!(first.status(), Some(200));
    let again = recv_msg(&phone, WAIT).await.expect("200 retransmitted");
    assert_eq!(again.status(), Some(200));
    assert_eq!(again.as_bytes(), first.as_bytes());
    assert!(uas.stats().retransmissions >= 1);

    // ACK it (new branch): it reaches the TU and the retransmissions stop.
    let ack = format!(
        "ACK sip:12345@{to} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bKack1;rport\r\nMax-Forwards: 70\r\n\
         From: <sip:caller@{me}>;tag=raw1\r\nTo: <sip:12345@{to}>;tag=uas-tag\r\nCall-ID: raw-z9hG4bKlost1\r\n\
         CSeq: 7 ACK\r\nContent-Length: 0\r\n\r\n",
        to = uas.local_addr()
    );
    phone
        .send_to(ack.as_bytes(), uas.local_addr())
        .await
        .unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.msg.method(), Some(&Method::Ack));
    // Drain anything already in flight, then nothing more for well over T2.
    while recv_msg(&phone, Duration::from_millis(100)).await.is_some() {}
    assert!(
        recv_msg(&phone, Duration::from_millis(900)).await.is_none(),
        "200 still retransmitted after the ACK"
    );
}

#[tokio::test]
async fn unacked_200_is_reported_as_ack_timeout() {
    let (uas, mut uas_rx) = endpoint(false).await;
    let mut timeouts = uas.take_ack_timeouts().unwrap();
    assert!(uas.take_ack_timeouts().is_none(), "taken once");
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    phone
        .send_to(
            raw_invite(me, uas.local_addr(), "z9hG4bKnoack").as_bytes(),
            uas.local_addr(),
        )
        .await
        .unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    let stx = inc.tx.unwrap();
    stx.respond(inc.msg.response(200, "OK").to_tag("t").build_message());
    // 64·T1 = 3.2 s with the fast timers.
    let id = timeout(WAIT, timeouts.recv()).await.unwrap().unwrap();
    assert_eq!(id, stx.id());
}

#[tokio::test]
async fn malformed_requests_get_400_or_are_counted_and_service_continues() {
    let (uas, mut uas_rx) = endpoint(false).await;
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    let to = uas.local_addr();

    // Broken CSeq: the request line and Via are readable, so it gets a 400 with the reason.
    let bad = raw_invite(me, to, "z9hG4bKbad1").replace("CSeq: 7 INVITE", "CSeq: seven INVITE");
    phone.send_to(bad.as_bytes(), to).await.unwrap();
    let resp = recv_msg(&phone, WAIT).await.expect("a 400");
    assert_eq!(resp.status(), Some(400));
    assert_eq!(resp.call_id(), "raw-z9hG4bKbad1");

    // No Call-ID: still a 400 naming it, routed back by the top Via (RFC 3261 §18.2.2).
    let bad = raw_invite(me, to, "z9hG4bKbad2").replace("Call-ID: raw-z9hG4bKbad2\r\n", "");
    phone.send_to(bad.as_bytes(), to).await.unwrap();
    let resp = recv_raw(&phone, WAIT).await.expect("a 400 without Call-ID");
    assert!(
        resp.starts_with("SIP/2.0 400 missing Call-ID header\r\n"),
        "{resp}"
    );
    assert!(resp.contains(";branch=z9hG4bKbad2"), "{resp}");

    // Two Call-IDs (long and compact form): a 400 echoing the first.
    let bad = raw_invite(me, to, "z9hG4bKbad3")
        .replace("CSeq: 7 INVITE", "i: second@h\r\nCSeq: 7 INVITE");
    phone.send_to(bad.as_bytes(), to).await.unwrap();
    let resp = recv_msg(&phone, WAIT)
        .await
        .expect("a 400 for two Call-IDs");
    assert_eq!(resp.status(), Some(400));
    assert_eq!(resp.reason(), Some("more than one Call-ID header"));
    assert_eq!(resp.call_id(), "raw-z9hG4bKbad3");

    // No Via: nowhere to send an answer; dropped and counted.
    let bad = raw_invite(me, to, "z9hG4bKbad4");
    let bad: String = bad
        .split_inclusive("\r\n")
        .filter(|l| !l.starts_with("Via:"))
        .collect();
    phone.send_to(bad.as_bytes(), to).await.unwrap();
    assert!(recv_msg(&phone, Duration::from_millis(300)).await.is_none());

    // Garbage.
    phone.send_to(b"\x00\xffhello", to).await.unwrap();
    // Keep-alive CRLFs are neither errors nor messages.
    phone.send_to(b"\r\n\r\n", to).await.unwrap();

    // The next good INVITE is served.
    phone
        .send_to(raw_invite(me, to, "z9hG4bKgood").as_bytes(), to)
        .await
        .unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.msg.call_id(), "raw-z9hG4bKgood");
    let s = uas.stats();
    assert_eq!(s.parse_errors, 5, "{s:?}");
    assert_eq!(s.parse_errors_dropped, 2, "no Via, and the garbage: {s:?}");
}

#[tokio::test]
async fn tcp_stream_with_two_messages_in_one_write_and_bad_framing() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (uas, mut uas_rx) = endpoint(true).await;
    let tcp = uas.tcp_addr().unwrap();
    let mut conn = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let me = conn.local_addr().unwrap();
    let one = raw_invite(me, tcp, "z9hG4bKt1").replace("/UDP", "/TCP");
    let two = raw_invite(me, tcp, "z9hG4bKt2").replace("/UDP", "/TCP");
    conn.write_all(format!("\r\n\r\n{one}{two}").as_bytes())
        .await
        .unwrap();
    let a = next_incoming(&mut uas_rx).await;
    let b = next_incoming(&mut uas_rx).await;
    assert_eq!(a.msg.call_id(), "raw-z9hG4bKt1");
    assert_eq!(b.msg.call_id(), "raw-z9hG4bKt2");
    // Responses come back on the same connection.
    a.tx.unwrap()
        .respond(a.msg.response(486, "Busy Here").to_tag("x").build_message());
    let mut buf = vec![0u8; 8192];
    let mut got = String::new();
    while !got.contains("486 Busy Here") {
        let n = timeout(WAIT, conn.read(&mut buf)).await.unwrap().unwrap();
        assert!(n > 0, "connection closed early");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(got.contains("SIP/2.0 100 Trying"));

    // A stream message without Content-Length cannot be framed: 400, then the connection closes.
    let bad = raw_invite(me, tcp, "z9hG4bKt3")
        .replace("/UDP", "/TCP")
        .replace("Content-Length: 0\r\n", "");
    conn.write_all(bad.as_bytes()).await.unwrap();
    let mut rest = String::new();
    loop {
        let n = timeout(WAIT, conn.read(&mut buf)).await.unwrap().unwrap();
        if n == 0 {
            break;
        }
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(rest.contains("SIP/2.0 400"), "{rest}");
    assert!(uas.stats().parse_errors >= 1);
}

#[tokio::test]
async fn request_to_a_closed_tcp_port_reports_transport_error() {
    let (uac, _rx) = endpoint(true).await;
    // Bind then drop a listener to get a port nobody listens on.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut ctx = uac.request(invite(&uac, dead, Tcp), dead, Tcp);
    match next_event(&mut ctx).await {
        TxEvent::TransportError => {}
        other => panic!("expected TransportError, got {other:?}"),
    }
    assert!(
        timeout(WAIT, ctx.next()).await.unwrap().is_none(),
        "terminated after the error"
    );
}

#[tokio::test]
async fn request_timeout_over_udp() {
    let (uac, _rx) = endpoint(false).await;
    // A socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut ctx = uac.request(
        invite(&uac, silent.local_addr().unwrap(), Udp),
        silent.local_addr().unwrap(),
        Udp,
    );
    match next_event(&mut ctx).await {
        TxEvent::Timeout => {}
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(uac.stats().retransmissions >= 5, "{:?}", uac.stats());
}

#[tokio::test]
async fn cancel_reaches_the_tu_with_its_invite() {
    let (uac, _uac_rx) = endpoint(false).await;
    let (uas, mut uas_rx) = endpoint(false).await;
    let inv = invite(&uac, uas.local_addr(), Udp);
    let mut ictx = uac.request(inv.clone(), uas.local_addr(), Udp);
    let inc = next_incoming(&mut uas_rx).await;
    let invite_tx = inc.tx.unwrap();
    let mut cctx = uac.cancel(&inv, uas.local_addr(), Udp).unwrap();
    let c = next_incoming(&mut uas_rx).await;
    assert_eq!(c.msg.method(), Some(&Method::Cancel));
    assert_eq!(c.cancels.as_ref().map(|t| t.id()), Some(invite_tx.id()));
    c.tx.unwrap()
        .respond(c.msg.response(200, "OK").build_message());
    invite_tx.respond(
        inc.msg
            .response(487, "Request Terminated")
            .to_tag("z")
            .build_message(),
    );
    assert_eq!(final_response(&mut cctx).await.status(), Some(200));
    assert_eq!(final_response(&mut ictx).await.status(), Some(487));
}

#[tokio::test]
async fn a_full_tu_queue_gets_503_instead_of_unbounded_buffering() {
    let (uas, mut uas_rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        timers: fast_timers(),
        incoming_queue: 1,
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    let to = uas.local_addr();
    // The TU reads nothing: the first INVITE fills the queue, the second is refused.
    for b in ["z9hG4bKq1", "z9hG4bKq2"] {
        phone
            .send_to(raw_invite(me, to, b).as_bytes(), to)
            .await
            .unwrap();
    }
    let mut statuses = Vec::new();
    while let Some(m) = recv_msg(&phone, Duration::from_millis(300)).await {
        statuses.push((m.status().unwrap(), m.call_id().to_owned()));
    }
    assert!(
        statuses.contains(&(503, "raw-z9hG4bKq2".to_owned())),
        "{statuses:?}"
    );
    assert!(!statuses
        .iter()
        .any(|(s, c)| *s == 503 && c == "raw-z9hG4bKq1"));
    assert_eq!(uas.stats().dropped_incoming, 1);
    let first = next_incoming(&mut uas_rx).await;
    assert_eq!(first.msg.call_id(), "raw-z9hG4bKq1");
}

#[tokio::test]
async fn tcp_crlf_ping_gets_a_pong() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (uas, _rx) = endpoint(true).await;
    let mut conn = tokio::net::TcpStream::connect(uas.tcp_addr().unwrap())
        .await
        .unwrap();
    conn.write_all(b"\r\n\r\n").await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, conn.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"\r\n");
}

#[tokio::test]
async fn ack_sent_through_request_is_not_a_transaction() {
    let (uac, _rx) = endpoint(false).await;
    let (uas, mut uas_rx) = endpoint(false).await;
    let inv = invite(&uac, uas.local_addr(), Udp);
    let text = String::from_utf8(inv.as_bytes().to_vec())
        .unwrap()
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("1 INVITE", "1 ACK");
    let ack = SipMessage::parse(Bytes::from(text)).unwrap();
    let mut ctx = uac.request(ack, uas.local_addr(), Udp);
    assert!(timeout(WAIT, ctx.next()).await.unwrap().is_none());
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(inc.msg.method(), Some(&Method::Ack));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(uac.stats().retransmissions, 0);
}

#[tokio::test]
async fn via_uses_the_advertised_host() {
    let (ep, _rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        advertised_host: Some("sip.hotline.example".into()),
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let via = ep.via(Udp, "z9hG4bKv");
    assert_eq!(
        via,
        format!(
            "SIP/2.0/UDP sip.hotline.example:{};branch=z9hG4bKv;rport",
            ep.local_addr().port()
        )
    );
    let parsed = sip::Via::parse(&via).unwrap();
    assert_eq!(parsed.branch(), Some("z9hG4bKv"));
}

#[tokio::test]
async fn quiet_tcp_connections_close_sooner_before_a_valid_message() {
    use sip::endpoint::TcpIdle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (uas, mut uas_rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tcp: Some("127.0.0.1:0".parse().unwrap()),
        tcp_idle: TcpIdle {
            before_first_message: Duration::from_millis(200),
            after_first_message: Duration::from_secs(3),
        },
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let tcp = uas.tcp_addr().unwrap();
    let mut buf = [0u8; 4096];

    // Never says anything: closed after ~200 ms.
    let mut silent = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let t = std::time::Instant::now();
    let n = timeout(WAIT, silent.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed by the endpoint");
    assert!(t.elapsed() < Duration::from_secs(2));

    // Sent a valid OPTIONS: still open well after 200 ms.
    let mut seat = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let me = seat.local_addr().unwrap();
    let opts = raw_invite(me, tcp, "z9hG4bKidle")
        .replace("/UDP", "/TCP")
        .replace("INVITE", "OPTIONS");
    seat.write_all(opts.as_bytes()).await.unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    inc.tx
        .unwrap()
        .respond(inc.msg.response(200, "OK").build_message());
    let n = timeout(WAIT, seat.read(&mut buf)).await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("SIP/2.0 200 OK"));
    tokio::time::sleep(Duration::from_millis(600)).await;
    seat.write_all(b"\r\n\r\n").await.unwrap();
    let n = timeout(WAIT, seat.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"\r\n", "the seat's connection is still served");
}

#[tokio::test]
async fn tcp_response_opens_a_new_connection_to_sent_by_when_the_old_one_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (uas, mut uas_rx) = endpoint(true).await;
    let tcp = uas.tcp_addr().unwrap();
    // The phone listens on its own port (its Via sent-by) and sends from an ephemeral one.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sent_by = listener.local_addr().unwrap();
    let mut conn = tokio::net::TcpStream::connect(tcp).await.unwrap();
    let opts = raw_invite(sent_by, tcp, "z9hG4bKfb")
        .replace("/UDP", "/TCP")
        .replace(";rport", "")
        .replace("INVITE", "OPTIONS");
    conn.write_all(opts.as_bytes()).await.unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    drop(conn);
    // Let the endpoint notice the close before it answers.
    tokio::time::sleep(Duration::from_millis(200)).await;
    inc.tx
        .unwrap()
        .respond(inc.msg.response(200, "OK").build_message());
    let (mut back, _) = timeout(WAIT, listener.accept()).await.unwrap().unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(WAIT, back.read(&mut buf)).await.unwrap().unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("SIP/2.0 200 OK"), "{text}");
    assert!(text.contains("z9hG4bKfb"));
}

#[tokio::test]
async fn messages_over_the_configured_size_are_refused() {
    let (uas, mut uas_rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        max_message_size: 2000,
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let phone = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let me = phone.local_addr().unwrap();
    let to = uas.local_addr();
    let padding = format!("X-Padding: {}\r\n", "a".repeat(1500));
    let small = raw_invite(me, to, "z9hG4bKsmall");
    let big = raw_invite(me, to, "z9hG4bKbig").replace(
        "Max-Forwards: 70\r\n",
        &format!("Max-Forwards: 70\r\n{padding}{padding}"),
    );
    assert!(small.len() < 2000 && big.len() > 2000);
    phone.send_to(big.as_bytes(), to).await.unwrap();
    phone.send_to(small.as_bytes(), to).await.unwrap();
    let inc = next_incoming(&mut uas_rx).await;
    assert_eq!(
        inc.msg.call_id(),
        "raw-z9hG4bKsmall",
        "only the small one reaches the TU"
    );
    assert_eq!(uas.stats().parse_errors, 1);
}

#[tokio::test]
async fn dropping_the_endpoint_closes_its_tcp_connections() {
    use tokio::io::AsyncReadExt;
    let (uas, rx) = endpoint(true).await;
    let mut conn = tokio::net::TcpStream::connect(uas.tcp_addr().unwrap())
        .await
        .unwrap();
    // Make sure the connection is being served before dropping.
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(uas);
    drop(rx);
    let mut buf = [0u8; 16];
    let n = timeout(WAIT, conn.read(&mut buf))
        .await
        .expect("closed promptly, not by the idle timer")
        .unwrap_or(0);
    assert_eq!(n, 0);
}
