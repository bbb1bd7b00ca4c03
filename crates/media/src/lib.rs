//! Media for hotline12345: SDP offer/answer, G.711, prompts, RFC 4733 DTMF, RTCP (`rtcp`: reports,
//! receive statistics, an E-model MOS), RTP relay and the
//! N-party mixer (sans-IO modules), driven by an engine with one receive task per leg (tokio) and
//! one pacing thread per core for everything we generate.
//!
//! One call, as the B2BUA drives it:
//! ```no_run
//! # async fn call(engine: media::MediaEngine, offer: &str, greeting: std::sync::Arc<media::Prompt>)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use media::sdp::{self, Codec, Direction, SdpSession};
//! let mut caller = engine.open_leg().await?;
//! let mut caller_sdp = SdpSession::new(rand_id());
//! // 488/400 from `e.status` when the offer cannot be answered.
//! let (neg, answer_body) = sdp::answer(offer, caller.local_addr(), &mut caller_sdp)?;
//! caller.set_remote(&neg); // send answer_body in the 200 OK
//! caller.play(greeting, false); // or play_with_barge_in for menus
//! // … MediaEvent::PromptFinished / Dtmf / MediaTimeout from caller.next_event().await
//! let seat = engine.open_leg().await?;
//! let mut seat_sdp = SdpSession::new(rand_id());
//! let offer_body = sdp::offer(seat.local_addr(), &mut seat_sdp, &[Codec::Pcmu, Codec::Pcma], 101, Direction::SendRecv);
//! // … INVITE the seat with offer_body; on its 200 OK:
//! # let seat_answer = "";
//! seat.set_remote(&sdp::accept_answer(seat_answer, &[Codec::Pcmu, Codec::Pcma])?);
//! media::bridge(&caller, &seat); // relay both ways; dropping a leg ends its media
//! # let _ = offer_body; let _ = answer_body; let _ = caller.next_event().await; Ok(()) }
//! # fn rand_id() -> u64 { 1 }
//! ```
//! If the engine binds `0.0.0.0`, put the advertised address (not `local_addr().ip()`) in the SDP:
//! `SocketAddr::new(public_ip, leg.local_addr().port())`.

pub mod dtmf;
// The engine uses Linux batch syscalls (recvmmsg/sendmmsg); the sans-IO modules are portable.
#[cfg(target_os = "linux")]
mod engine;
pub mod g711;
pub mod mixer;
pub mod prompt;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod srtp;
#[cfg(target_os = "linux")]
pub mod udp;

pub use dtmf::{parse_info_body, DtmfDigit};
#[cfg(target_os = "linux")]
pub use engine::{
    bridge, conference, unbridge, Conference, EngineOptions, EngineStats, LegStats, MediaConfig,
    MediaEngine, MediaEvent, MediaLeg, PacingReport,
};
pub use prompt::{Prompt, PromptError};
pub use sdp::{Codec, Direction, Negotiated, SdpError, SdpSession};
