//! Prompt loading: the shipped WAVs in all three encodings, and refusal of what we cannot play.

use std::path::{Path, PathBuf};
use std::time::Duration;

use media::g711;
use media::prompt::FRAME_SAMPLES;
use media::{Codec, Prompt, PromptError};

fn prompts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dialplans/prompts")
}

/// A WAV file with the given format tag, channels, rate, bits and raw data.
fn wav(tag: u16, channels: u16, rate: u32, bits: u16, data: &[u8]) -> Vec<u8> {
    let block = channels * bits / 8;
    let mut v = Vec::new();
    v.extend_from_slice(b"RIFF");
    v.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    v.extend_from_slice(b"WAVEfmt ");
    v.extend_from_slice(&16u32.to_le_bytes());
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * block as u32).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v.extend_from_slice(b"LIST");
    v.extend_from_slice(&3u32.to_le_bytes());
    v.extend_from_slice(b"abc\0"); // odd-length chunk + pad byte
    v.extend_from_slice(b"data");
    v.extend_from_slice(&(data.len() as u32).to_le_bytes());
    v.extend_from_slice(data);
    v
}

#[test]
fn shipped_prompts_load_in_all_three_encodings() {
    // greeting: μ-law, transfer_ringing: A-law, off_hours: 16-bit PCM (see generate.sh).
    for name in [
        "greeting.wav",
        "please_wait.wav",
        "merged_transition.wav",
        "transfer_ringing.wav",
        "off_hours.wav",
    ] {
        let p =
            Prompt::load_wav(&prompts_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(p.duration() > Duration::from_secs(1), "{name}");
        assert_eq!(
            p.frame_count(),
            (p.duration().as_micros() as usize).div_ceil(20_000),
            "{name}"
        );
        let loud = (0..p.frame_count())
            .filter(|i| {
                p.frame(Codec::Pcmu, *i)
                    .unwrap()
                    .iter()
                    .any(|b| g711::ulaw_to_linear(*b).abs() > 2000)
            })
            .count();
        assert!(loud > 10, "{name} has speech");
    }
}

#[test]
fn ulaw_source_bytes_are_kept_and_alaw_transcoded() {
    let data: Vec<u8> = (0..400u32).map(|i| (i * 7 % 256) as u8).collect();
    let p = Prompt::from_wav_bytes(&wav(7, 1, 8000, 8, &data)).unwrap();
    assert_eq!(p.frame_count(), 3);
    assert_eq!(p.duration(), Duration::from_millis(50));
    assert_eq!(&p.frame(Codec::Pcmu, 0).unwrap()[..], &data[..160]);
    assert_eq!(
        p.frame(Codec::Pcma, 1).unwrap()[0],
        g711::ULAW_TO_ALAW[data[160] as usize]
    );
    // The tail frame is padded with silence.
    let last = p.frame(Codec::Pcmu, 2).unwrap();
    assert_eq!(&last[..80], &data[320..]);
    assert!(last[80..].iter().all(|b| *b == g711::ULAW_SILENCE));
    assert!(p.frame(Codec::Pcmu, 3).is_none());
}

#[test]
fn alaw_and_pcm16_sources() {
    let alaw = vec![0xAAu8; FRAME_SAMPLES];
    let p = Prompt::from_wav_bytes(&wav(6, 1, 8000, 8, &alaw)).unwrap();
    assert_eq!(&p.frame(Codec::Pcma, 0).unwrap()[..], &alaw[..]);
    assert_eq!(
        p.frame(Codec::Pcmu, 0).unwrap()[0],
        g711::ALAW_TO_ULAW[0xAA]
    );

    let pcm: Vec<u8> = std::iter::repeat_n(12_000i16.to_le_bytes(), 160)
        .flatten()
        .collect();
    let p = Prompt::from_wav_bytes(&wav(1, 1, 8000, 16, &pcm)).unwrap();
    assert_eq!(
        p.frame(Codec::Pcmu, 0).unwrap()[5],
        g711::linear_to_ulaw(12_000)
    );
    assert_eq!(
        p.frame(Codec::Pcma, 0).unwrap()[5],
        g711::linear_to_alaw(12_000)
    );
}

#[test]
fn refuses_what_it_cannot_play() {
    let pcm = vec![0u8; 640];
    let e = Prompt::from_wav_bytes(&wav(1, 1, 16000, 16, &pcm)).unwrap_err();
    assert!(matches!(e, PromptError::SampleRate(16000)), "{e}");
    assert!(e.to_string().contains("8000"));
    let e = Prompt::from_wav_bytes(&wav(1, 2, 8000, 16, &pcm)).unwrap_err();
    assert!(matches!(e, PromptError::Channels(2)), "{e}");
    let e = Prompt::from_wav_bytes(&wav(1, 1, 8000, 8, &pcm)).unwrap_err();
    assert!(
        matches!(e, PromptError::Encoding { tag: 1, bits: 8 }),
        "{e}"
    );
    let e = Prompt::from_wav_bytes(&wav(3, 1, 8000, 32, &pcm)).unwrap_err();
    assert!(
        matches!(e, PromptError::Encoding { tag: 3, .. }),
        "float refused: {e}"
    );
    let e = Prompt::from_wav_bytes(&wav(7, 1, 8000, 8, &[])).unwrap_err();
    assert!(matches!(e, PromptError::Empty));
    assert!(matches!(
        Prompt::from_wav_bytes(b"ID3\x03 definitely an mp3").unwrap_err(),
        PromptError::NotWav(_)
    ));
    let e = Prompt::load_wav(Path::new("/nonexistent/prompt.wav")).unwrap_err();
    assert!(e.to_string().contains("/nonexistent/prompt.wav"));
}

#[test]
fn truncated_files_never_panic() {
    let full = wav(7, 1, 8000, 8, &[0x55; 500]);
    for cut in 0..full.len() {
        let _ = Prompt::from_wav_bytes(&full[..cut]);
    }
    let mut huge_len = full.clone();
    huge_len[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let fmt_at = 16;
    huge_len[fmt_at..fmt_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let _ = Prompt::from_wav_bytes(&huge_len);
}

/// The plan checker (dialplan) reads the same chunks: the first fmt and the first data count, so a
/// later fmt (even an unplayable one) or a second data chunk changes nothing (found by fuzzing).
#[test]
fn the_first_fmt_and_data_chunks_count() {
    let good = wav(7, 1, 8000, 8, &[0x7f; 200]);
    let data_at = good.len() - 200 - 8;
    let mut later = good[..data_at].to_vec();
    // A 44.1 kHz stereo fmt after the first one, then a second, empty data chunk after the first.
    let cd = wav(1, 2, 44100, 16, &[]);
    later.extend_from_slice(&cd[12..36]);
    later.extend_from_slice(&good[data_at..]);
    later.extend_from_slice(b"data\0\0\0\0");
    let p = Prompt::from_wav_bytes(&later).expect("plays as the first fmt says");
    assert_eq!(p.duration(), Duration::from_millis(25));
    assert_eq!(p.frame(Codec::Pcmu, 0).unwrap()[0], 0x7f);
}
