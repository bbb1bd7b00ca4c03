//! Message framing on stream transports (RFC 3261 §18.3): headers end at the first empty line and
//! the body is exactly Content-Length bytes, which is therefore mandatory on streams.

use crate::message::{parse_u32, ParseError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Need more bytes; call again once more have arrived (nothing to consume yet).
    Incomplete,
    /// `buf[skip..skip + len]` is one message; consume `skip + len` bytes. `skip` counts the CRLF
    /// keep-alives before it (RFC 3261 §7.5, RFC 5626 §3.5.1).
    Complete { skip: usize, len: usize },
    /// The stream is broken beyond recovery: answer (if possible) and close the connection.
    Invalid(ParseError),
}

/// Find the next message in a stream buffer. `max_len` bounds a single message (headers + body).
pub fn frame(buf: &[u8], max_len: usize) -> Frame {
    let skip = keepalive_len(buf);
    if skip == buf.len() {
        // Only keep-alive CRLFs so far: they are consumed as `skip` with the next message.
        return Frame::Incomplete;
    }
    let data = &buf[skip..];
    let Some(body_start) = body_start(data) else {
        if data.len() > max_len {
            return Frame::Invalid(ParseError::new(513, "Message Too Large"));
        }
        return Frame::Incomplete;
    };
    let head = &data[..body_start];
    let mut content_length: Option<usize> = None;
    // Skip the start line; look at each header line (continuations never start a name).
    for line in head.split(|&c| c == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if line.first().is_some_and(|c| *c == b' ' || *c == b'\t') {
            continue;
        }
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let v = std::str::from_utf8(line[colon + 1..].trim_ascii())
                .ok()
                .and_then(parse_u32);
            match (v, content_length) {
                (Some(n), None) => content_length = Some(n as usize),
                (Some(n), Some(m)) if n as usize == m => {}
                _ => {
                    return Frame::Invalid(ParseError::new(400, "invalid Content-Length on stream"))
                }
            }
        }
    }
    let Some(cl) = content_length else {
        return Frame::Invalid(ParseError::new(400, "missing Content-Length on stream"));
    };
    let len = body_start + cl;
    if len > max_len {
        return Frame::Invalid(ParseError::new(513, "Message Too Large"));
    }
    if data.len() < len {
        return Frame::Incomplete;
    }
    Frame::Complete { skip, len }
}

/// Where the body starts: after the first empty line. Lines end in CRLF or, as the parser also
/// takes them, a bare LF; ending the head anywhere else would let framer and parser disagree on
/// where a message ends (found by fuzzing: a bare-LF head followed by a body holding CRLFCRLF).
fn body_start(data: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'\n', &data[from..]) {
        let nl = from + i;
        match &data[nl + 1..] {
            [b'\n', ..] => return Some(nl + 2),
            [b'\r', b'\n', ..] => return Some(nl + 3),
            _ => from = nl + 1,
        }
    }
    None
}

/// Length of the CRLF keep-alive run at the start of `buf` (RFC 5626 §4.4.1: a client sends
/// CRLFCRLF, the server answers CRLF). [`frame`] reports a buffer holding only CRLFs as
/// `Incomplete` (they are skipped with the next message); a stream reader that wants to answer
/// pings, or not keep them buffered on an idle connection, consumes them with this:
/// `let n = keepalive_len(&buf); if n == buf.len() && n >= 4 { send "\r\n"; buf.advance(n) }`.
pub fn keepalive_len(buf: &[u8]) -> usize {
    buf.iter()
        .position(|&c| c != b'\r' && c != b'\n')
        .unwrap_or(buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n\
To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 5\r\n\r\nhello";

    #[test]
    fn partial_message_is_incomplete_at_every_cut() {
        for cut in 0..MSG.len() {
            assert_eq!(frame(&MSG[..cut], 65536), Frame::Incomplete, "cut at {cut}");
        }
        assert_eq!(
            frame(MSG, 65536),
            Frame::Complete {
                skip: 0,
                len: MSG.len()
            }
        );
    }

    #[test]
    fn a_bare_lf_head_ends_where_the_parser_ends_it() {
        let msg: &[u8] =
            b"OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\nFrom: <sip:x@y>;tag=1\n\
To: <sip:a@b>\nCall-ID: c\nCSeq: 1 OPTIONS\nContent-Length: 4\n\nab\r\n\r\nwxyz";
        let Frame::Complete { skip: 0, len } = frame(msg, 65536) else {
            panic!("{:?}", frame(msg, 65536))
        };
        let m = crate::SipMessage::parse(bytes::Bytes::copy_from_slice(&msg[..len])).unwrap();
        assert_eq!(m.body(), b"ab\r\n");
        assert_eq!(m.wire().len(), len);
        assert_eq!(&msg[len..], b"\r\nwxyz", "the rest is the next message");
        // A head that has only "\n\r" so far waits for its last byte.
        assert_eq!(
            frame(b"OPTIONS sip:a@b SIP/2.0\nl: 0\n\r", 65536),
            Frame::Incomplete
        );
    }

    #[test]
    fn two_messages_in_one_buffer() {
        let mut buf = MSG.to_vec();
        buf.extend_from_slice(MSG);
        let Frame::Complete { skip, len } = frame(&buf, 65536) else {
            panic!()
        };
        assert_eq!((skip, len), (0, MSG.len()));
        assert_eq!(
            frame(&buf[skip + len..], 65536),
            Frame::Complete {
                skip: 0,
                len: MSG.len()
            }
        );
    }

    #[test]
    fn keepalive_crlfs_are_skipped() {
        let mut buf = b"\r\n\r\n\r\n".to_vec();
        assert_eq!(frame(&buf, 65536), Frame::Incomplete);
        buf.extend_from_slice(MSG);
        assert_eq!(
            frame(&buf, 65536),
            Frame::Complete {
                skip: 6,
                len: MSG.len()
            }
        );
    }

    #[test]
    fn keepalive_run_length() {
        assert_eq!(keepalive_len(b"\r\n\r\n"), 4);
        assert_eq!(keepalive_len(b"\r\nINVITE"), 2);
        assert_eq!(keepalive_len(b"INVITE"), 0);
        assert_eq!(keepalive_len(b""), 0);
    }

    #[test]
    fn compact_content_length_works() {
        let m = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5", "l:5");
        assert_eq!(
            frame(m.as_bytes(), 65536),
            Frame::Complete {
                skip: 0,
                len: m.len()
            }
        );
    }

    #[test]
    fn missing_or_bad_content_length_on_stream_is_invalid() {
        let no_cl = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5\r\n", "");
        match frame(no_cl.as_bytes(), 65536) {
            Frame::Invalid(e) => assert_eq!(e.status, 400),
            f => panic!("{f:?}"),
        }
        let bad = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5", "Content-Length: x");
        assert!(matches!(frame(bad.as_bytes(), 65536), Frame::Invalid(e) if e.status == 400));
        let two = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5", "Content-Length: 5\r\nl: 6");
        assert!(matches!(frame(two.as_bytes(), 65536), Frame::Invalid(e) if e.status == 400));
    }

    #[test]
    fn oversized_messages_are_invalid_before_buffering_them() {
        let big = String::from_utf8(MSG.to_vec())
            .unwrap()
            .replace("Content-Length: 5", "Content-Length: 100000");
        let head_only = &big.as_bytes()[..big.len() - 5];
        assert!(matches!(frame(head_only, 65536), Frame::Invalid(e) if e.status == 513));
        // headers that never end
        let endless = vec![b'a'; 70000];
        assert!(matches!(frame(&endless, 65536), Frame::Invalid(e) if e.status == 513));
    }
}
