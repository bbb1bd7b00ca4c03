//! Prompt file validation: the media path plays 8 kHz mono G.711 (μ-law/A-law) or 16-bit PCM WAVs without
//! resampling, so anything else must be refused before a plan goes live.
//!
//! hound only reads PCM/float, so the RIFF `fmt ` chunk is read here for every file; PCM files are then also
//! opened with hound to make sure they decode.

use std::path::Path;

/// WAVE format tags.
const PCM: u16 = 1;
const ALAW: u16 = 6;
const MULAW: u16 = 7;
const EXTENSIBLE: u16 = 0xFFFE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WavFormat {
    pub tag: u16,
    pub channels: u16,
    pub sample_rate: u32,
    pub bits: u16,
    pub data_len: u32,
}

impl WavFormat {
    fn encoding(&self) -> String {
        match (self.tag, self.bits) {
            (PCM, b) => format!("{b}-bit PCM"),
            (ALAW, _) => "A-law".into(),
            (MULAW, _) => "μ-law".into(),
            (t, b) => format!("format tag {t} ({b}-bit)"),
        }
    }
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Reads the `fmt ` and `data` chunk headers of a RIFF/WAVE byte buffer the way the media engine's
/// reader (`media::Prompt::from_wav_bytes`) does, so a prompt passed here is one it plays (the
/// fuzzers check that): fields are read inside the chunk as declared, the first `fmt ` counts, and
/// `data_len` is the audio actually present in a truncated file.
pub(crate) fn parse_wav_header(b: &[u8]) -> Result<WavFormat, String> {
    if b.len() < 12 || &b[0..4] != b"RIFF" || &b[8..12] != b"WAVE" {
        return Err("not a RIFF/WAVE file".into());
    }
    let mut at = 12usize;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while at + 8 <= b.len() {
        let id = &b[at..at + 4];
        let len = u32le(b, at + 4).ok_or("truncated chunk header")? as usize;
        let start = at + 8;
        // A truncated last chunk is read as far as it goes.
        let chunk = &b[start..start.saturating_add(len).min(b.len())];
        if id == b"fmt " && fmt.is_none() {
            let mut tag = u16le(chunk, 0).ok_or("fmt chunk too short")?;
            let channels = u16le(chunk, 2).ok_or("fmt chunk too short")?;
            let rate = u32le(chunk, 4).ok_or("fmt chunk too short")?;
            let bits = u16le(chunk, 14).ok_or("fmt chunk too short")?;
            if tag == EXTENSIBLE {
                // The real format is the first two bytes of the sub-format GUID.
                tag = u16le(chunk, 24).ok_or("extensible fmt chunk too short")?;
            }
            fmt = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, sample_rate, bits) = fmt.ok_or("data chunk before fmt chunk")?;
            return Ok(WavFormat {
                tag,
                channels,
                sample_rate,
                bits,
                data_len: chunk.len() as u32,
            });
        }
        // Chunks are padded to an even length.
        at = start.saturating_add(len).saturating_add(len & 1);
    }
    Err(if fmt.is_some() {
        "no data chunk"
    } else {
        "no fmt chunk"
    }
    .into())
}

/// Checks one prompt file; the error is a sentence naming what is wrong and what is expected.
pub(crate) fn check_prompt(path: &Path) -> Result<WavFormat, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("prompt file {} cannot be read: {e}", path.display()))?;
    check_prompt_bytes(&bytes, path)
}

/// [`check_prompt`] on the file's bytes; `path` only names it in the messages.
pub(crate) fn check_prompt_bytes(bytes: &[u8], path: &Path) -> Result<WavFormat, String> {
    let f = parse_wav_header(bytes)
        .map_err(|e| format!("prompt {} is not a valid WAV: {e}", path.display()))?;
    let ok_encoding = matches!((f.tag, f.bits), (PCM, 16) | (ALAW, 8) | (MULAW, 8));
    if f.sample_rate != 8000 || f.channels != 1 || !ok_encoding {
        return Err(format!(
            "prompt {} is {} Hz, {} channel(s), {}; expected 8000 Hz mono μ-law, A-law or 16-bit PCM \
             (convert with: sox in.wav -r 8000 -c 1 -e u-law out.wav)",
            path.display(),
            f.sample_rate,
            f.channels,
            f.encoding()
        ));
    }
    // Whole samples: one byte for G.711, two for 16-bit PCM.
    if f.data_len < u32::from(f.bits / 8).max(1) {
        return Err(format!("prompt {} has no audio", path.display()));
    }
    if f.tag == PCM {
        let reader = hound::WavReader::new(std::io::Cursor::new(bytes))
            .map_err(|e| format!("prompt {} does not decode: {e}", path.display()))?;
        let spec = reader.spec();
        if spec.sample_rate != 8000 || spec.channels != 1 || spec.bits_per_sample != 16 {
            return Err(format!(
                "prompt {} decodes as {spec:?}; expected 8 kHz mono 16-bit",
                path.display()
            ));
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(b"RIFF");
        v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        v.extend_from_slice(b"WAVEfmt ");
        v.extend_from_slice(&16u32.to_le_bytes());
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&channels.to_le_bytes());
        v.extend_from_slice(&rate.to_le_bytes());
        let block = channels * bits / 8;
        v.extend_from_slice(&(rate * block as u32).to_le_bytes());
        v.extend_from_slice(&block.to_le_bytes());
        v.extend_from_slice(&bits.to_le_bytes());
        v.extend_from_slice(b"data");
        v.extend_from_slice(&(data.len() as u32).to_le_bytes());
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn header_parsing() {
        let f = parse_wav_header(&wav(7, 1, 8000, 8, &[0xff; 10])).unwrap();
        assert_eq!(
            (f.tag, f.channels, f.sample_rate, f.bits, f.data_len),
            (7, 1, 8000, 8, 10)
        );
        assert!(parse_wav_header(b"RIFF").is_err());
        assert!(parse_wav_header(b"RIFF\0\0\0\0WAVEdata\x04\0\0\0abcd")
            .unwrap_err()
            .contains("before fmt"));
        let mut truncated = wav(1, 1, 8000, 16, &[0; 4]);
        truncated.truncate(30);
        assert!(parse_wav_header(&truncated).is_err());
    }

    /// Found by fuzzing (`fuzz/regressions/wav/`): each of these passed the plan check while the
    /// media engine refused to load the prompt, so a plan went live with a prompt it cannot play.
    #[test]
    fn what_the_media_engine_cannot_play_is_refused() {
        let good = wav(7, 1, 8000, 8, &[0xff; 10]);
        // Truncated audio: the declared length counts for nothing, the bytes present do.
        let mut cut = good.clone();
        cut.truncate(44);
        let p = Path::new("p.wav");
        assert!(check_prompt_bytes(&cut, p)
            .unwrap_err()
            .contains("no audio"));
        // One byte of 16-bit PCM is not a sample.
        let one = wav(1, 1, 8000, 16, &[0]);
        assert!(check_prompt_bytes(&one, p)
            .unwrap_err()
            .contains("no audio"));
        // A fmt chunk shorter than its fields: read inside the chunk, not past it.
        let mut short = good.clone();
        short[16..20].copy_from_slice(&8u32.to_le_bytes());
        assert!(check_prompt_bytes(&short, p)
            .unwrap_err()
            .contains("too short"));
        // A second fmt chunk does not replace the first (nor does one after the data).
        let mut two = good[..36].to_vec();
        two.extend_from_slice(&good[12..36]);
        let stereo = two.len() - 24 + 10;
        two[stereo] = 2;
        two.extend_from_slice(&good[36..]);
        let f = parse_wav_header(&two).unwrap();
        assert_eq!((f.channels, f.data_len), (1, 10));
        check_prompt_bytes(&two, p).unwrap();
    }

    #[test]
    fn example_prompts_are_accepted() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/prompts");
        for name in [
            "greeting",
            "please_wait",
            "merged_transition",
            "transfer_ringing",
            "off_hours",
        ] {
            check_prompt(&dir.join(format!("{name}.wav"))).unwrap();
        }
    }

    #[test]
    fn wrong_formats_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let cases: [(&str, Vec<u8>, &str); 4] = [
            (
                "cd.wav",
                wav(1, 2, 44100, 16, &[0; 8]),
                "44100 Hz, 2 channel(s)",
            ),
            ("wide.wav", wav(1, 1, 16000, 16, &[0; 8]), "16000 Hz"),
            ("float.wav", wav(3, 1, 8000, 32, &[0; 8]), "format tag 3"),
            ("empty.wav", wav(7, 1, 8000, 8, &[]), "no audio"),
        ];
        for (name, bytes, fragment) in cases {
            let p = tmp.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            let e = check_prompt(&p).unwrap_err();
            assert!(e.contains(fragment), "{name}: {e}");
        }
        let ok = tmp.path().join("ok.wav");
        std::fs::write(&ok, wav(1, 1, 8000, 16, &[0; 8])).unwrap();
        check_prompt(&ok).unwrap();
        assert!(check_prompt(&tmp.path().join("missing.wav"))
            .unwrap_err()
            .contains("cannot be read"));
    }
}
