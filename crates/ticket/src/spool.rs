//! The spool: an append-only journal of call records on disk, so that none is lost and the call path never waits.
//!
//! Every submitted record is written (one `write` of one JSON line, under a mutex) to `current.jsonl` *before* it
//! is offered to the writer's channel. So a record whose `submit` returned survives a crash or `kill -9` of the
//! process even while it sits in the channel. When the channel is full (or the writer is gone) the record is only
//! in the journal; it is counted as `spilled` and replayed later.
//!
//! fsync policy: `submit` never fsyncs (it must not block the call path). A background task `fdatasync`s the
//! journal at most every 100 ms when something was written, so a power cut loses at most ~100 ms of records that
//! were not yet in the database. A process crash loses nothing (the line is in the page cache).
//!
//! Checkpoints: the writer periodically *seals* the journal (renames `current.jsonl` to `sealed-N.jsonl` and opens
//! a new one, under the same mutex, so the cut is exact). A sealed segment is deleted once every record in it
//! that went through the channel is committed (the channel is FIFO and carries a sequence number), after
//! replaying the whole segment if any of its records spilled. Inserts are idempotent by call id, so a replay of a
//! record that also made it through the channel stores nothing twice.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::record::CallRecord;

/// What travels on the channel: the record and its journal sequence number.
#[derive(Debug)]
pub(crate) struct Item {
    pub seq: u64,
    pub rec: CallRecord,
}

const CURRENT: &str = "current.jsonl";

struct Inner {
    file: Arc<File>,
    /// Sequence number of the last record journaled.
    seq: u64,
    /// Bytes in `current.jsonl`.
    bytes: u64,
    /// Sequence number of the last record that entered the channel, in the current segment (0 = none).
    last_sent: u64,
    /// Some record of the current segment did not enter the channel.
    had_spill: bool,
    next_segment: u64,
}

/// A sealed journal segment waiting to be confirmed stored.
#[derive(Debug)]
pub(crate) struct Sealed {
    pub path: PathBuf,
    pub last_sent: u64,
    pub had_spill: bool,
}

pub(crate) struct Journal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    spilled: AtomicU64,
    /// Records neither journaled nor queued (disk full *and* channel full): logged loudly and counted.
    lost: AtomicU64,
    journal_errors: AtomicU64,
    dirty: AtomicBool,
}

impl Journal {
    /// Open the spool directory. Leftovers of an earlier run (`current.jsonl`, sealed segments) are returned, in
    /// order, for replay; new records go to a fresh `current.jsonl`.
    pub fn open(dir: &Path) -> io::Result<(Journal, Vec<PathBuf>)> {
        fs::create_dir_all(dir)?;
        let mut leftovers = sealed_segments(dir)?;
        let mut next_segment = leftovers.last().map(|(n, _)| n + 1).unwrap_or(0);
        let current = dir.join(CURRENT);
        if current.exists() {
            let p = dir.join(segment_name(next_segment));
            fs::rename(&current, &p)?;
            leftovers.push((next_segment, p));
            next_segment += 1;
        }
        let file = open_append(&current)?;
        sync_dir(dir);
        let j = Journal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                file: Arc::new(file),
                seq: 0,
                bytes: 0,
                last_sent: 0,
                had_spill: false,
                next_segment,
            }),
            spilled: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            journal_errors: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
        };
        Ok((j, leftovers.into_iter().map(|(_, p)| p).collect()))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves only counters behind; keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Journal the record, then offer it to the writer. Never waits for the database.
    pub fn submit(&self, tx: &mpsc::Sender<Item>, rec: CallRecord) {
        let mut line = match serde_json::to_vec(&rec) {
            Ok(l) => l,
            Err(e) => {
                // Cannot happen for this plain struct; counted rather than panicking on the call path.
                tracing::error!(error = %e, "call record not serializable");
                self.journal_errors.fetch_add(1, Ordering::Relaxed);
                Vec::new()
            }
        };
        line.push(b'\n');
        let mut g = self.lock();
        g.seq += 1;
        let seq = g.seq;
        let journaled = line.len() > 1 && (&*g.file).write_all(&line).is_ok();
        if journaled {
            g.bytes += line.len() as u64;
            self.dirty.store(true, Ordering::Release);
        } else {
            self.journal_errors.fetch_add(1, Ordering::Relaxed);
        }
        match tx.try_send(Item { seq, rec }) {
            Ok(()) => g.last_sent = seq,
            Err(e) => {
                g.had_spill = true;
                self.spilled.fetch_add(1, Ordering::Relaxed);
                if !journaled {
                    self.lost.fetch_add(1, Ordering::Relaxed);
                    let rec = e.into_inner().rec;
                    tracing::error!(
                        call_id = %rec.call_id,
                        caller = %crate::mask::mask_phone(&rec.caller),
                        "call record LOST: spool not writable and channel full"
                    );
                }
            }
        }
    }

    /// Seal the current segment if it holds anything.
    pub fn seal(&self) -> io::Result<Option<Sealed>> {
        let mut g = self.lock();
        if g.bytes == 0 {
            return Ok(None);
        }
        let path = self.dir.join(segment_name(g.next_segment));
        let current = self.dir.join(CURRENT);
        fs::rename(&current, &path)?;
        // Appends from now on go to a fresh file; if opening fails, keep writing to the renamed one (it is
        // still replayed, because it is now a sealed segment that we never report as sealed).
        let file = match open_append(&current) {
            Ok(f) => f,
            Err(e) => {
                let _ = fs::rename(&path, &current);
                return Err(e);
            }
        };
        g.next_segment += 1;
        g.file = Arc::new(file);
        let sealed = Sealed {
            path,
            last_sent: g.last_sent,
            had_spill: g.had_spill,
        };
        g.bytes = 0;
        g.last_sent = 0;
        g.had_spill = false;
        Ok(Some(sealed))
    }

    pub fn bytes(&self) -> u64 {
        self.lock().bytes
    }

    /// fdatasync the current file when something was written since the last call.
    pub fn sync_if_dirty(&self) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let file = self.lock().file.clone();
        file.sync_data()
    }

    pub fn spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// A failed write elsewhere in the spool directory (the live-call journal).
    pub fn count_error(&self) {
        self.journal_errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn journal_errors(&self) -> u64 {
        self.journal_errors.load(Ordering::Relaxed)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Records of one journal file, in order. A torn last line (the process died mid-write) or a corrupt line is
/// skipped and counted, never fatal.
pub(crate) fn read_segment(path: &Path) -> io::Result<(Vec<CallRecord>, usize)> {
    let f = File::open(path)?;
    let mut out = Vec::new();
    let mut bad = 0;
    for line in BufReader::new(f).split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<CallRecord>(&line) {
            Ok(r) => out.push(r),
            Err(e) => {
                bad += 1;
                tracing::warn!(file = %path.display(), error = %e, "skipping unreadable spool line");
            }
        }
    }
    Ok((out, bad))
}

/// Done with a segment: delete it, or keep it as `*.bad` for a human when it had unreadable lines.
pub(crate) fn retire_segment(path: &Path, bad_lines: usize) -> io::Result<()> {
    if bad_lines > 0 {
        fs::rename(path, path.with_extension("bad"))
    } else {
        fs::remove_file(path)
    }
}

fn segment_name(n: u64) -> String {
    format!("sealed-{n:012}.jsonl")
}

fn sealed_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix("sealed-")
            .and_then(|r| r.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((n, e.path()));
        }
    }
    out.sort();
    Ok(out)
}

fn open_append(p: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(p)
}

/// Make renames durable; best effort (not every filesystem supports syncing a directory).
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::EndReason;

    pub(crate) fn rec(i: u32) -> CallRecord {
        CallRecord {
            call_id: format!("call-{i}"),
            caller: "13812341234".into(),
            called: "12345".into(),
            original_called: None,
            route_mode: None,
            department: None,
            started_at_ms: i as i64,
            answered_at_ms: None,
            ended_at_ms: i as i64 + 1,
            wait_ms: 0,
            seat: None,
            end_reason: EndReason::CallerHangup,
            digits: "1#".into(),
            off_hours: false,
            transfer_unanswered: None,
            transfers: Vec::new(),
            handed_over_by: None,
            system_answered_at_ms: None,
            queue_visits: Vec::new(),
            survey: None,
            quality: Vec::new(),
        }
    }

    #[test]
    fn full_channel_spills_to_the_journal_in_order_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let (j, left) = Journal::open(dir.path()).unwrap();
        assert!(left.is_empty());
        let (tx, mut rx) = mpsc::channel(2);
        for i in 0..5 {
            j.submit(&tx, rec(i));
        }
        assert_eq!(j.spilled(), 3);
        assert_eq!(rx.try_recv().unwrap().seq, 1);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert!(rx.try_recv().is_err());
        let s = j.seal().unwrap().unwrap();
        assert_eq!((s.last_sent, s.had_spill), (2, true));
        let (recs, bad) = read_segment(&s.path).unwrap();
        assert_eq!(bad, 0);
        let ids: Vec<_> = recs.iter().map(|r| r.call_id.as_str()).collect();
        assert_eq!(ids, ["call-0", "call-1", "call-2", "call-3", "call-4"]);
        // Nothing new: nothing to seal.
        assert!(j.seal().unwrap().is_none());
    }

    #[test]
    fn a_closed_channel_spills_everything() {
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(dir.path()).unwrap();
        let (tx, rx) = mpsc::channel(10);
        drop(rx);
        j.submit(&tx, rec(1));
        assert_eq!((j.spilled(), j.lost()), (1, 0));
        let s = j.seal().unwrap().unwrap();
        assert_eq!((s.last_sent, s.had_spill), (0, true));
    }

    #[test]
    fn records_with_transfers_round_trip_and_old_lines_without_them_still_load() {
        use crate::record::{TransferAttempt, TransferEndedBy, TransferKind, TransferOutcome};
        let dir = tempfile::tempdir().unwrap();
        let (j, _) = Journal::open(dir.path()).unwrap();
        let (tx, _rx) = mpsc::channel(10);
        let mut r = rec(1);
        r.transfers = vec![
            TransferAttempt {
                target: "8001".into(),
                department: Some("water".into()),
                started_at_ms: 10,
                answered_at_ms: None,
                ended_at_ms: 15_010,
                outcome: TransferOutcome::Rejected { status: 603 },
                answer_target_ms: Some(15_000),
                ended_by: Some(TransferEndedBy::Department),
                kind: Some(TransferKind::Blind),
            },
            TransferAttempt {
                target: "8002".into(),
                department: None,
                started_at_ms: 20_000,
                answered_at_ms: Some(25_000),
                ended_at_ms: 90_000,
                outcome: TransferOutcome::Answered,
                answer_target_ms: None,
                ended_by: None,
                kind: None,
            },
        ];
        j.submit(&tx, r.clone());
        // A line written before `transfers` (and `ended_by`) existed.
        let old = br#"{"call_id":"old-1","caller":"13812341234","called":"12345","original_called":null,"route_mode":null,"department":null,"started_at_ms":1,"answered_at_ms":null,"ended_at_ms":2,"wait_ms":0,"seat":null,"end_reason":"caller_hangup","digits":"","off_hours":false,"transfer_unanswered":"water"}"#;
        let mut f = open_append(&dir.path().join(CURRENT)).unwrap();
        f.write_all(old).unwrap();
        f.write_all(b"\n").unwrap();
        let s = j.seal().unwrap().unwrap();
        let (recs, bad) = read_segment(&s.path).unwrap();
        assert_eq!(bad, 0);
        assert_eq!(recs[0], r);
        assert_eq!(recs[1].call_id, "old-1");
        assert!(recs[1].transfers.is_empty());
        assert_eq!(recs[1].transfer_unanswered.as_deref(), Some("water"));
    }

    #[test]
    fn reopening_hands_back_leftovers_in_order_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let (j, _) = Journal::open(dir.path()).unwrap();
            let (tx, _rx) = mpsc::channel(10);
            j.submit(&tx, rec(1));
            j.seal().unwrap().unwrap();
            j.submit(&tx, rec(2));
            // The process dies in the middle of writing a line.
            let mut f = open_append(&dir.path().join(CURRENT)).unwrap();
            f.write_all(br#"{"call_id":"call-3","cal"#).unwrap();
        }
        let (_j, left) = Journal::open(dir.path()).unwrap();
        assert_eq!(left.len(), 2);
        let (a, bad_a) = read_segment(&left[0]).unwrap();
        let (b, bad_b) = read_segment(&left[1]).unwrap();
        assert_eq!((a.len(), bad_a, a[0].call_id.as_str()), (1, 0, "call-1"));
        assert_eq!((b.len(), bad_b, b[0].call_id.as_str()), (1, 1, "call-2"));
        retire_segment(&left[1], bad_b).unwrap();
        assert!(left[1].with_extension("bad").exists());
        assert!(dir.path().join(CURRENT).exists());
    }
}
