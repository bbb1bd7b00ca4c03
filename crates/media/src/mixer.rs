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
