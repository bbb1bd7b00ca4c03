//! Media for hotline12345: SDP offer/answer, G.711, prompts, RFC 4733 DTMF, RTP relay and the
//! N-party mixer (sans-IO modules), driven by a tokio engine with one pacing clock per shard.

pub mod dtmf;
// The engine uses Linux batch syscalls (recvmmsg/sendmmsg); the sans-IO modules are portable.
#[cfg(target_os = "linux")]
mod engine;
pub mod g711;
pub mod mixer;
pub mod prompt;
pub mod rtp;
pub mod sdp;
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
