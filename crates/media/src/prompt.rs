//! Prompts: 8 kHz mono WAV (μ-law, A-law or 16-bit PCM), decoded once at load into ready-to-send
//! 20 ms frames in both μ-law and A-law, so playing never decodes, resamples or transcodes.
//!
//! Our own RIFF reader rather than `hound`: hound refuses WAVE_FORMAT_ALAW/MULAW (tags 6 and 7),
//! and two of the shipped prompts use them.

use std::path::Path;
use std::time::Duration;

use crate::g711;
use crate::sdp::Codec;

/// Samples per 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;
/// One encoded G.711 frame.
pub type Frame = [u8; FRAME_SAMPLES];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read prompt {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("not a WAV file: {0}")]
    NotWav(String),
    #[error("unsupported WAV encoding (format tag {tag}, {bits} bits); need 8 kHz mono μ-law, A-law or 16-bit PCM")]
    Encoding { tag: u16, bits: u16 },
    #[error("unsupported sample rate {0} Hz; prompts must be 8000 Hz")]
    SampleRate(u32),
    #[error("unsupported channel count {0}; prompts must be mono")]
    Channels(u16),
    #[error("WAV has no audio samples")]
    Empty,
}

/// A prompt ready for playing on any leg.
#[derive(Debug, Clone)]
pub struct Prompt {
    ulaw: Vec<Frame>,
    alaw: Vec<Frame>,
    samples: usize,
}

#[derive(Clone, Copy)]
enum Encoding {
    Pcm16,
    Alaw,
    Ulaw,
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

impl Prompt {
    /// Loads and validates a WAV prompt.
    pub fn load_wav(path: &Path) -> Result<Prompt, PromptError> {
        let bytes = std::fs::read(path).map_err(|source| PromptError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Prompt::from_wav_bytes(&bytes)
    }

    /// Parses WAV bytes (RIFF/WAVE with fmt and data chunks).
    pub fn from_wav_bytes(b: &[u8]) -> Result<Prompt, PromptError> {
        if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
            return Err(PromptError::NotWav("missing RIFF/WAVE header".into()));
        }
        let mut at = 12;
        let mut fmt: Option<(Encoding, u32, u16)> = None;
        let mut data: Option<&[u8]> = None;
        while at + 8 <= b.len() {
            let id = &b[at..at + 4];
            let len = le32(b, at + 4).unwrap_or(0) as usize;
            let body_start = at + 8;
            // A truncated last chunk (common for streamed WAVs) is read as far as it goes.
            let body_end = body_start.saturating_add(len).min(b.len());
            let body = &b[body_start..body_end];
            // The first fmt and data chunks count; the plan checker (`dialplan`'s wav.rs) reads
            // them the same way, so a prompt it passes is one this plays.
            match id {
                b"fmt " if fmt.is_none() => {
                    let short = || PromptError::NotWav("fmt chunk too short".into());
                    let mut tag = le16(body, 0).ok_or_else(short)?;
                    let channels = le16(body, 2).ok_or_else(short)?;
                    let rate = le32(body, 4).ok_or_else(short)?;
                    let bits = le16(body, 14).ok_or_else(short)?;
                    if tag == 0xFFFE {
                        // WAVE_FORMAT_EXTENSIBLE: the real tag is the first two bytes of the GUID.
                        tag = le16(body, 24).ok_or_else(short)?;
                    }
                    let enc = match (tag, bits) {
                        (1, 16) => Encoding::Pcm16,
                        (6, 8) => Encoding::Alaw,
                        (7, 8) => Encoding::Ulaw,
                        _ => return Err(PromptError::Encoding { tag, bits }),
                    };
                    fmt = Some((enc, rate, channels));
                }
                b"data" if data.is_none() => data = Some(body),
                _ => {}
            }
            // Chunks are padded to even length.
            at = body_start.saturating_add(len).saturating_add(len & 1);
        }
        let (enc, rate, channels) =
            fmt.ok_or_else(|| PromptError::NotWav("no fmt chunk".into()))?;
        if channels != 1 {
            return Err(PromptError::Channels(channels));
        }
        if rate != 8000 {
            return Err(PromptError::SampleRate(rate));
        }
        let data = data.ok_or_else(|| PromptError::NotWav("no data chunk".into()))?;
        let (ulaw, alaw): (Vec<u8>, Vec<u8>) = match enc {
            // Keep the recorded codec's bytes untouched; only the other law is transcoded.
            Encoding::Ulaw => (
                data.to_vec(),
                data.iter()
                    .map(|&u| g711::ULAW_TO_ALAW[u as usize])
                    .collect(),
            ),
            Encoding::Alaw => (
                data.iter()
                    .map(|&a| g711::ALAW_TO_ULAW[a as usize])
                    .collect(),
                data.to_vec(),
            ),
            Encoding::Pcm16 => data
                .chunks_exact(2)
                .map(|s| {
                    let v = i16::from_le_bytes([s[0], s[1]]);
                    (g711::linear_to_ulaw(v), g711::linear_to_alaw(v))
                })
                .unzip(),
        };
        if ulaw.is_empty() {
            return Err(PromptError::Empty);
        }
        Ok(Prompt {
            samples: ulaw.len(),
            ulaw: to_frames(&ulaw, g711::ULAW_SILENCE),
            alaw: to_frames(&alaw, g711::ALAW_SILENCE),
        })
    }

    /// Builds a prompt from linear samples (tests, tones).
    pub fn from_linear(samples: &[i16]) -> Result<Prompt, PromptError> {
        if samples.is_empty() {
            return Err(PromptError::Empty);
        }
        let ulaw: Vec<u8> = samples.iter().map(|&s| g711::linear_to_ulaw(s)).collect();
        let alaw: Vec<u8> = samples.iter().map(|&s| g711::linear_to_alaw(s)).collect();
        Ok(Prompt {
            samples: samples.len(),
            ulaw: to_frames(&ulaw, g711::ULAW_SILENCE),
            alaw: to_frames(&alaw, g711::ALAW_SILENCE),
        })
    }

    /// Exact length of the recording.
    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.samples as u64 * 125)
    }

    /// Number of 20 ms frames (the last one padded with silence).
    pub fn frame_count(&self) -> usize {
        self.ulaw.len()
    }

    /// Frame `i` encoded for `codec`.
    pub fn frame(&self, codec: Codec, i: usize) -> Option<&Frame> {
        match codec {
            Codec::Pcmu => self.ulaw.get(i),
            Codec::Pcma => self.alaw.get(i),
        }
    }
}

fn to_frames(encoded: &[u8], silence: u8) -> Vec<Frame> {
    encoded
        .chunks(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [silence; FRAME_SAMPLES];
            f[..c.len()].copy_from_slice(c);
            f
        })
        .collect()
}
