//! SIP over TLS (RFC 3261 §26.2.1) on 127.0.0.1: a client's request arrives with transport TLS and is answered
//! on its own TLS connection; our request to that client goes back over the same connection; a request to a
//! TLS peer with no open connection fails at once; a client that never finishes its handshake is dropped.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use sip::dialog::{new_branch, new_call_id};
use sip::endpoint::{Endpoint, EndpointConfig, TxEvent};
use sip::transport::TransportKind;
use sip::{Method, RequestBuilder, Uri};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(5);

fn certificate() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let der = CertificateDer::from(ck.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

async fn read_until<S: AsyncReadExt + Unpin>(conn: &mut S, needle: &str) -> String {
    let mut buf = vec![0u8; 8192];
    let mut got = String::new();
    while !got.contains(needle) {
        let n = timeout(WAIT, conn.read(&mut buf))
            .await
            .expect("in time")
            .unwrap();
        assert!(n > 0, "connection closed early: {got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    got
}

#[tokio::test]
async fn requests_and_responses_travel_on_the_peers_tls_connection() {
    let (server, client) = certificate();
    let (ep, mut rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tls: Some(("127.0.0.1:0".parse().unwrap(), server)),
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let tls_addr = ep.tls_addr().unwrap();
    assert!(ep
        .via_sent_by(TransportKind::Tls)
        .starts_with(&format!("SIP/2.0/TLS 127.0.0.1:{}", tls_addr.port())));

    let tcp = tokio::net::TcpStream::connect(tls_addr).await.unwrap();
    let me = tcp.local_addr().unwrap();
    let connector = tokio_rustls::TlsConnector::from(client);
    let mut conn = connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("handshake with the endpoint's certificate");
    let options = format!(
        "OPTIONS sip:12345@{tls_addr};transport=tls SIP/2.0\r\n\
         Via: SIP/2.0/TLS {me};branch=z9hG4bKtls1;alias\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:seat@{me};transport=tls>;tag=t1\r\n\
         To: <sip:12345@{tls_addr}>\r\n\
         Call-ID: tls-1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    );
    conn.write_all(options.as_bytes()).await.unwrap();
    let inc = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    assert_eq!(inc.transport, TransportKind::Tls);
    assert_eq!(inc.source, me);
    inc.tx
        .unwrap()
        .respond(inc.msg.response(200, "OK").to_tag("x").build_message());
    let got = read_until(&mut conn, "SIP/2.0 200 OK").await;
    assert!(got.contains("Call-ID: tls-1"));

    // Our request to the peer goes over its connection (it listens nowhere else).
    let uri = Uri::parse(&format!("sip:seat@{me};transport=tls")).unwrap();
    let bye = RequestBuilder::new(Method::Options, &uri)
        .header("Via", &ep.via(TransportKind::Tls, &new_branch()))
        .header("Max-Forwards", "70")
        .header("From", "<sip:12345@127.0.0.1>;tag=y")
        .header("To", "<sip:seat@127.0.0.1>")
        .header("Call-ID", &new_call_id("test.invalid"))
        .header("CSeq", "1 OPTIONS")
        .build_message();
    let mut ctx = ep.request(bye, me, TransportKind::Tls);
    let req = read_until(&mut conn, "\r\n\r\n").await;
    assert!(req.starts_with("OPTIONS sip:seat@"), "{req}");
    assert!(req.contains("Via: SIP/2.0/TLS 127.0.0.1:"), "{req}");
    let via = req.lines().find(|l| l.starts_with("Via:")).unwrap();
    let call_id = req.lines().find(|l| l.starts_with("Call-ID:")).unwrap();
    let ok = format!(
        "SIP/2.0 200 OK\r\n{via}\r\nFrom: <sip:12345@127.0.0.1>;tag=y\r\nTo: <sip:seat@127.0.0.1>;tag=z\r\n\
         {call_id}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    conn.write_all(ok.as_bytes()).await.unwrap();
    match timeout(WAIT, ctx.next()).await.unwrap() {
        Some(TxEvent::Final(r)) => assert_eq!(r.status(), Some(200)),
        other => panic!("expected the 200 over TLS, got {other:?}"),
    }

    // No connection to this address: a transport error at once, not a connection attempt.
    let nobody = "127.0.0.1:9".parse().unwrap();
    let req = RequestBuilder::new(Method::Options, &Uri::parse("sip:x@127.0.0.1:9").unwrap())
        .header("Via", &ep.via(TransportKind::Tls, &new_branch()))
        .header("Max-Forwards", "70")
        .header("From", "<sip:12345@127.0.0.1>;tag=y")
        .header("To", "<sip:x@127.0.0.1>")
        .header("Call-ID", &new_call_id("test.invalid"))
        .header("CSeq", "1 OPTIONS")
        .build_message();
    let mut ctx = ep.request(req, nobody, TransportKind::Tls);
    assert!(matches!(
        timeout(Duration::from_secs(1), ctx.next()).await.unwrap(),
        Some(TxEvent::TransportError)
    ));
}

#[tokio::test]
async fn plain_text_on_the_tls_port_is_not_sip() {
    let (server, _) = certificate();
    let (ep, mut rx) = Endpoint::bind(EndpointConfig {
        udp: "127.0.0.1:0".parse().unwrap(),
        tls: Some(("127.0.0.1:0".parse().unwrap(), server)),
        ..EndpointConfig::default()
    })
    .await
    .unwrap();
    let mut tcp = tokio::net::TcpStream::connect(ep.tls_addr().unwrap())
        .await
        .unwrap();
    tcp.write_all(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    // The handshake fails: the connection closes (rustls may first send an alert) and nothing reaches the TU.
    let closed = timeout(WAIT, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "connection closed");
    assert!(rx.try_recv().is_err());
}
