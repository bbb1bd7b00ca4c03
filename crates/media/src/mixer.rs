//! N-party mixer for the three-way transfer: each party hears the sum of everyone else, clipped to
//! 16 bits; one small jitter buffer per input absorbs arrival jitter. Sans-IO: frames in, frames out.

use std::collections::VecDeque;

use crate::prompt::FRAME_SAMPLES;

/// One 20 ms frame of linear audio.
pub type PcmFrame = [i16; FRAME_SAMPLES];

/// A small per-input jitter buffer ordered by RTP sequence number: playout starts once `prefill`
/// frames are queued (and again after an underrun), late and duplicate frames are dropped, and the
/// depth is capped so a burst cannot add delay forever.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    frames: VecDeque<(u16, PcmFrame)>,
    prefill: usize,
    max: usize,
    playing: bool,
    last_played: Option<u16>,
}

impl JitterBuffer {
    pub fn new(prefill: usize, max: usize) -> JitterBuffer {
        JitterBuffer {
            frames: VecDeque::with_capacity(max + 1),
            prefill: prefill.max(1),
            max: max.max(prefill.max(1)),
            playing: false,
            last_played: None,
        }
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn push(&mut self, seq: u16, frame: &PcmFrame) {
        if let Some(last) = self.last_played {
            if !crate::rtp::seq_newer(seq, last) {
                return; // too late, already played past it
            }
        }
        // Insert in order; from the back, since frames mostly arrive in order.
        let mut at = self.frames.len();
        while at > 0 {
            let s = self.frames[at - 1].0;
            if s == seq {
                return; // duplicate
            }
            if crate::rtp::seq_newer(seq, s) {
                break;
            }
            at -= 1;
        }
        self.frames.insert(at, (seq, *frame));
        while self.frames.len() > self.max {
            self.frames.pop_front();
        }
    }

    /// The frame to play this tick, or `None` (silence) while prefilling or on underrun.
    pub fn pop(&mut self) -> Option<PcmFrame> {
        if !self.playing {
            if self.frames.len() < self.prefill {
                return None;
            }
            self.playing = true;
        }
        match self.frames.pop_front() {
            Some((seq, f)) => {
                self.last_played = Some(seq);
                Some(f)
            }
            None => {
                self.playing = false;
                None
            }
        }
    }
}

/// Mixes N inputs; party `i` receives Σ(all) − own(i), saturated to i16.
#[derive(Debug, Clone)]
pub struct Mixer {
    inputs: Vec<JitterBuffer>,
    current: Vec<Option<PcmFrame>>,
}

impl Mixer {
    /// `prefill`/`max` in 20 ms frames for each input's jitter buffer (2 and 6 are sensible).
    pub fn new(parties: usize, prefill: usize, max: usize) -> Mixer {
        Mixer {
            inputs: (0..parties)
                .map(|_| JitterBuffer::new(prefill, max))
                .collect(),
            current: vec![None; parties],
        }
    }

    pub fn parties(&self) -> usize {
        self.inputs.len()
    }

    /// Queues party `party`'s decoded frame with its RTP sequence number.
    pub fn push(&mut self, party: usize, seq: u16, frame: &PcmFrame) {
        if let Some(j) = self.inputs.get_mut(party) {
            j.push(seq, frame);
        }
    }

    /// One 20 ms mixing step: `out[i]` becomes what party `i` hears.
    pub fn mix(&mut self, out: &mut [PcmFrame]) {
        let mut sum = [0i32; FRAME_SAMPLES];
        for (j, cur) in self.inputs.iter_mut().zip(self.current.iter_mut()) {
            *cur = j.pop();
            if let Some(f) = cur {
                for (s, x) in sum.iter_mut().zip(f.iter()) {
                    *s += *x as i32;
                }
            }
        }
        for (o, cur) in out.iter_mut().zip(self.current.iter()) {
            match cur {
                Some(own) => {
                    for ((o, s), x) in o.iter_mut().zip(sum.iter()).zip(own.iter()) {
                        *o = (*s - *x as i32).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                    }
                }
                None => {
                    for (o, s) in o.iter_mut().zip(sum.iter()) {
                        *o = (*s).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, amp: f64, frame: usize) -> PcmFrame {
        let mut f = [0i16; FRAME_SAMPLES];
        for (i, s) in f.iter_mut().enumerate() {
            let n = (frame * FRAME_SAMPLES + i) as f64;
            *s = (amp * (n * hz * std::f64::consts::TAU / 8000.0).sin()).round() as i16;
        }
        f
    }

    /// Correlation of `x` with a tone: ~amp/2·N when present, ~0 when absent.
    fn energy_at(x: &[i16], hz: f64, frame: usize) -> f64 {
        let t = tone(hz, 1.0e4, frame);
        x.iter()
            .zip(t.iter())
            .map(|(a, b)| *a as f64 * *b as f64 / 1.0e4)
            .sum::<f64>()
            / x.len() as f64
    }

    #[test]
    fn each_party_hears_exactly_the_others() {
        let hz = [440.0, 697.0, 1209.0];
        let amp = [6000.0, 5000.0, 4000.0];
        let mut m = Mixer::new(3, 2, 6);
        let mut out = vec![[0i16; FRAME_SAMPLES]; 3];
        for frame in 0..12usize {
            for p in 0..3 {
                m.push(p, frame as u16, &tone(hz[p], amp[p], frame));
            }
            m.mix(&mut out);
            // With a prefill of 2 frames, output starts one tick late.
            if frame == 0 {
                assert!(out.iter().all(|o| o.iter().all(|s| *s == 0)));
                continue;
            }
            let played = frame - 1;
            for (me, heard) in out.iter().enumerate() {
                let want: Vec<i32> = (0..FRAME_SAMPLES)
                    .map(|i| {
                        (0..3)
                            .filter(|p| *p != me)
                            .map(|p| tone(hz[p], amp[p], played)[i] as i32)
                            .sum()
                    })
                    .collect();
                assert!(heard.iter().zip(want.iter()).all(|(h, w)| *h as i32 == *w));
                // Own tone absent, the others present.
                assert!(
                    energy_at(heard, hz[me], played).abs() < 200.0,
                    "party {me} hears itself"
                );
                for p in (0..3).filter(|p| *p != me) {
                    assert!(energy_at(heard, hz[p], played) > amp[p] / 2.0 * 0.8);
                }
            }
        }
    }

    #[test]
    fn sum_is_clipped_not_wrapped() {
        let mut m = Mixer::new(3, 1, 4);
        let loud = [30_000i16; FRAME_SAMPLES];
        let low = [-30_000i16; FRAME_SAMPLES];
        m.push(0, 0, &loud);
        m.push(1, 0, &loud);
        m.push(2, 0, &low);
        let mut out = vec![[0i16; FRAME_SAMPLES]; 3];
        m.mix(&mut out);
        assert!(
            out[2].iter().all(|s| *s == i16::MAX),
            "60000 clips to 32767"
        );
        assert!(out[0].iter().all(|s| *s == 0));
        let mut m = Mixer::new(3, 1, 4);
        m.push(0, 0, &low);
        m.push(1, 0, &low);
        m.mix(&mut out);
        assert!(out[2].iter().all(|s| *s == i16::MIN));
    }

    #[test]
    fn silent_party_hears_everyone() {
        let mut m = Mixer::new(3, 1, 4);
        m.push(0, 0, &[100; FRAME_SAMPLES]);
        m.push(1, 0, &[20; FRAME_SAMPLES]);
        let mut out = vec![[0i16; FRAME_SAMPLES]; 3];
        m.mix(&mut out);
        assert_eq!(out[0][0], 20);
        assert_eq!(out[1][0], 100);
        assert_eq!(out[2][0], 120);
    }

    #[test]
    fn jitter_buffer_reorders_dedups_and_drops_late() {
        let f = |v: i16| [v; FRAME_SAMPLES];
        let mut j = JitterBuffer::new(2, 4);
        j.push(11, &f(11));
        assert_eq!(j.pop(), None, "prefilling");
        j.push(10, &f(10));
        j.push(10, &f(99)); // duplicate
        assert_eq!(j.len(), 2);
        assert_eq!(j.pop().unwrap()[0], 10);
        assert_eq!(j.pop().unwrap()[0], 11);
        j.push(9, &f(9)); // late: already played past it
        assert!(j.is_empty());
        assert_eq!(j.pop(), None, "underrun → silence, then prefill again");
        j.push(12, &f(12));
        assert_eq!(j.pop(), None);
        j.push(13, &f(13));
        assert_eq!(j.pop().unwrap()[0], 12);
        // Overflow keeps the newest `max` frames.
        for s in 14..24u16 {
            j.push(s, &f(s as i16));
        }
        assert_eq!(j.len(), 4);
        assert_eq!(j.pop().unwrap()[0], 20);
    }

    #[test]
    fn sequence_wrap_in_jitter_buffer() {
        let mut j = JitterBuffer::new(1, 4);
        j.push(65535, &[1; FRAME_SAMPLES]);
        j.push(0, &[2; FRAME_SAMPLES]);
        assert_eq!(j.pop().unwrap()[0], 1);
        assert_eq!(j.pop().unwrap()[0], 2);
    }
}
