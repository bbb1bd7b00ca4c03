//! DTMF: RFC 4733 telephone-events (receive with de-duplication, send for forwarding) and SIP INFO
//! bodies (`application/dtmf-relay`, `application/dtmf`). Both paths yield the same [`DtmfDigit`].

/// One detected key press.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfDigit {
    /// '0'-'9', '*', '#', 'A'-'D'.
    pub digit: char,
    pub duration_ms: u32,
    /// RFC 4733 volume in -dBm0 (0-63); INFO bodies carry none (0).
    pub volume: u8,
}

/// RFC 4733 event code → digit.
pub fn event_to_char(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// Digit → RFC 4733 event code.
pub fn char_to_event(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(c as u8 - b'A' + 12),
        'a'..='d' => Some(c as u8 - b'a' + 12),
        _ => None,
    }
}

/// The 4-byte telephone-event payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    pub event: u8,
    pub end: bool,
    pub volume: u8,
    /// In timestamp units (8 kHz samples).
    pub duration: u16,
}

impl EventPayload {
    pub fn parse(p: &[u8]) -> Option<EventPayload> {
        if p.len() < 4 {
            return None;
        }
        Some(EventPayload {
            event: p[0],
            end: p[1] & 0x80 != 0,
            volume: p[1] & 0x3F,
            duration: u16::from_be_bytes([p[2], p[3]]),
        })
    }

    pub fn encode(&self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (self.volume & 0x3F) | if self.end { 0x80 } else { 0 },
            d[0],
            d[1],
        ]
    }
}

/// RFC 4733 receiver for one stream. All packets of one event share its RTP timestamp; the end
/// packet is usually sent three times. A digit is reported once, at its first end packet (or when
/// a new event starts while the previous one never showed an end).
#[derive(Debug, Default, Clone)]
pub struct DtmfReceiver {
    current: Option<Current>,
    /// Timestamp of the last reported event, so late retransmissions stay silent.
    last_reported: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Current {
    ts: u32,
    event: u8,
    duration: u16,
    volume: u8,
    reported: bool,
}

fn to_digit(c: &Current) -> Option<DtmfDigit> {
    Some(DtmfDigit {
        digit: event_to_char(c.event)?,
        duration_ms: c.duration as u32 / 8,
        volume: c.volume,
    })
}

impl DtmfReceiver {
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Feeds one telephone-event packet (its RTP timestamp and payload).
    pub fn on_packet(&mut self, ts: u32, payload: &[u8]) -> Option<DtmfDigit> {
        let p = EventPayload::parse(payload)?;
        if self.last_reported == Some(ts) {
            return None;
        }
        let mut unended = None;
        match &mut self.current {
            Some(c) if c.ts == ts => {
                if c.reported {
                    return None;
                }
                c.duration = c.duration.max(p.duration);
                c.volume = p.volume;
            }
            slot => {
                if let Some(prev) = slot.take() {
                    if !prev.reported {
                        unended = Some(prev);
                    }
                }
                *slot = Some(Current {
                    ts,
                    event: p.event,
                    duration: p.duration,
                    volume: p.volume,
                    reported: false,
                });
            }
        }
        if let Some(prev) = unended {
            // The previous event lost all its end packets: report it now, the new one at its end.
            self.last_reported = Some(prev.ts);
            return to_digit(&prev);
        }
        let c = self.current.as_mut()?;
        if p.end {
            c.reported = true;
            self.last_reported = Some(c.ts);
            return to_digit(c);
        }
        None
    }

    /// Reports an event still in progress whose end never came (call on media timeout/teardown).
    pub fn flush(&mut self) -> Option<DtmfDigit> {
        let c = self.current.take()?;
        if c.reported {
            return None;
        }
        self.last_reported = Some(c.ts);
        to_digit(&c)
    }
}

/// The packets of one RFC 4733 event as a sender emits them, one per 20 ms tick: a first packet
/// (marker bit), updates with growing duration, then the end packet three times. All carry the
/// same RTP timestamp (the event's start). Returns (marker, payload) pairs.
pub fn rfc4733_packets(event: u8, duration_ms: u32, volume: u8) -> Vec<(bool, [u8; 4])> {
    let total = (duration_ms.clamp(40, 8000) * 8) as u16;
    let mut out = Vec::new();
    let mut d: u16 = 160;
    while d < total {
        out.push((
            out.is_empty(),
            EventPayload {
                event,
                end: false,
                volume,
                duration: d,
            }
            .encode(),
        ));
        d = d.saturating_add(160);
    }
    let end = EventPayload {
        event,
        end: true,
        volume,
        duration: total,
    }
    .encode();
    for _ in 0..3 {
        out.push((out.is_empty(), end));
    }
    out
}

/// Default length of an INFO digit without a Duration.
const INFO_DEFAULT_MS: u32 = 250;

/// Parses a SIP INFO body carrying DTMF.
/// `application/dtmf-relay`: `Signal=5\r\nDuration=160\r\n` (Signal may also be 10/11 for */#).
/// `application/dtmf`: the digit alone (or its event code).
pub fn parse_info_body(content_type: &str, body: &str) -> Option<DtmfDigit> {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = INFO_DEFAULT_MS;
            for line in body.lines() {
                let Some((k, v)) = line.split_once('=') else {
                    continue;
                };
                let (k, v) = (k.trim(), v.trim());
                if k.eq_ignore_ascii_case("signal") {
                    digit = signal_to_char(v);
                } else if k.eq_ignore_ascii_case("duration") {
                    duration = v.parse().ok().filter(|d| *d > 0 && *d <= 60_000)?;
                }
            }
            Some(DtmfDigit {
                digit: digit?,
                duration_ms: duration,
                volume: 0,
            })
        }
        "application/dtmf" => Some(DtmfDigit {
            digit: signal_to_char(body.trim())?,
            duration_ms: INFO_DEFAULT_MS,
            volume: 0,
        }),
        _ => None,
    }
}

fn signal_to_char(v: &str) -> Option<char> {
    let mut chars = v.chars();
    let first = chars.next()?;
    if chars.next().is_none() {
        let c = first.to_ascii_uppercase();
        return char_to_event(c).map(|_| c);
    }
    // Multi-character: an event code such as "10" (*) or "11" (#).
    event_to_char(v.parse::<u8>().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_codes() {
        for c in "0123456789*#ABCD".chars() {
            assert_eq!(event_to_char(char_to_event(c).unwrap()), Some(c));
        }
        assert_eq!(event_to_char(16), None);
        assert_eq!(char_to_event('x'), None);
    }

    #[test]
    fn duplicated_end_packets_count_once() {
        let mut rx = DtmfReceiver::new();
        let pkts = rfc4733_packets(5, 100, 10);
        let mut got = Vec::new();
        for (_, p) in &pkts {
            got.extend(rx.on_packet(8000, p));
        }
        assert_eq!(
            got,
            vec![DtmfDigit {
                digit: '5',
                duration_ms: 100,
                volume: 10
            }]
        );
        // A late retransmission of the same event is still ignored.
        assert_eq!(rx.on_packet(8000, &pkts[pkts.len() - 1].1), None);
    }

    #[test]
    fn same_digit_twice_is_two_events() {
        let mut rx = DtmfReceiver::new();
        let mut got = Vec::new();
        for ts in [1000u32, 5000] {
            for (_, p) in rfc4733_packets(1, 60, 0) {
                got.extend(rx.on_packet(ts, &p));
            }
        }
        assert_eq!(got.iter().map(|d| d.digit).collect::<String>(), "11");
    }

    #[test]
    fn lost_end_is_reported_when_next_event_starts() {
        let mut rx = DtmfReceiver::new();
        let start = EventPayload {
            event: 11,
            end: false,
            volume: 7,
            duration: 400,
        }
        .encode();
        assert_eq!(rx.on_packet(100, &start), None);
        let next = EventPayload {
            event: 3,
            end: false,
            volume: 7,
            duration: 160,
        }
        .encode();
        let d = rx.on_packet(900, &next).unwrap();
        assert_eq!((d.digit, d.duration_ms), ('#', 50));
        assert_eq!(rx.flush().map(|d| d.digit), Some('3'));
        assert_eq!(rx.flush(), None);
    }

    #[test]
    fn short_payload_ignored() {
        let mut rx = DtmfReceiver::new();
        assert_eq!(rx.on_packet(1, &[1, 0x80]), None);
    }

    #[test]
    fn sender_shape() {
        let p = rfc4733_packets(9, 100, 10);
        assert!(p[0].0 && !p[1].0);
        let ends: Vec<_> = p.iter().filter(|(_, b)| b[1] & 0x80 != 0).collect();
        assert_eq!(ends.len(), 3);
        assert_eq!(
            EventPayload::parse(&ends[0].1).unwrap().duration,
            800,
            "100 ms = 800 samples"
        );
    }

    #[test]
    fn info_bodies() {
        let d = parse_info_body("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n").unwrap();
        assert_eq!((d.digit, d.duration_ms), ('5', 160));
        let d = parse_info_body(
            "Application/DTMF-Relay; charset=x",
            "signal= #\nduration=100",
        )
        .unwrap();
        assert_eq!(d.digit, '#');
        assert_eq!(
            parse_info_body("application/dtmf-relay", "Signal=11")
                .unwrap()
                .digit,
            '#'
        );
        assert_eq!(
            parse_info_body("application/dtmf-relay", "Signal=10")
                .unwrap()
                .digit,
            '*'
        );
        assert_eq!(
            parse_info_body("application/dtmf", "7\r\n").unwrap().digit,
            '7'
        );
        assert_eq!(parse_info_body("application/dtmf", "d").unwrap().digit, 'D');
        assert_eq!(
            parse_info_body("application/dtmf-relay", "Duration=100"),
            None
        );
        assert_eq!(parse_info_body("application/dtmf-relay", "Signal=X"), None);
        assert_eq!(
            parse_info_body("application/dtmf-relay", "Signal=5\nDuration=abc"),
            None
        );
        assert_eq!(parse_info_body("text/plain", "Signal=5"), None);
    }
}
