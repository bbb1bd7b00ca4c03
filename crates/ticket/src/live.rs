//! The live-call journal: the calls answered and not yet ended, on disk, so that a daemon killed mid-call
//! (`kill -9`, a crash, a power cut after the page cache was flushed) still leaves exactly one record per
//! answered call.
//!
//! `live.jsonl` gets one `{"open": record}` line when a seat answers (the record as known then, ended
//! `interrupted`) and one `{"close": call_id}` line when the final record has been journaled in the
//! spool. `heartbeat` holds the wall time of the daemon's last second. At the next start every call
//! opened and never closed is recovered: its interim record, ended at the last heartbeat, goes through
//! the spool like any other. Because the final record is journaled *before* the close line, a crash
//! between the two leaves both; the spool replays the final one first and inserts are idempotent by
//! call id, so the final record wins and nothing is stored twice.
//!
//! The file is rewritten from the open set when it grows past [`REWRITE_BYTES`], so it stays small
//! however long the daemon runs.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::record::{CallRecord, EndReason};

const LIVE: &str = "live.jsonl";
const HEARTBEAT: &str = "heartbeat";
/// Rewrite `live.jsonl` from the open calls beyond this size (a few seconds of a busy hour).
const REWRITE_BYTES: u64 = 8 << 20;

/// A line as read back.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Open(Box<CallRecord>),
    Close(String),
}

/// The same line as written, borrowing: an answered call costs no copy of its record.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineRef<'a> {
    Open(&'a CallRecord),
    Close(&'a str),
}

struct Inner {
    file: File,
    bytes: u64,
    /// Open calls: call id → its `open` line, for the rewrite.
    open: HashMap<String, Vec<u8>>,
}

pub(crate) struct LiveJournal {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

impl LiveJournal {
    /// Open the journal in `dir`. Returns it (empty) and the calls an earlier run left open, as records
    /// ended `interrupted` at that run's last heartbeat. The caller journals those in the spool, then
    /// calls [`LiveJournal::forget_recovered`].
    pub fn open(dir: &Path) -> io::Result<(LiveJournal, Vec<CallRecord>)> {
        fs::create_dir_all(dir)?;
        let path = dir.join(LIVE);
        let mut open: HashMap<String, CallRecord> = HashMap::new();
        if path.exists() {
            let reader = BufReader::new(File::open(&path)?);
            for line in reader.split(b'\n') {
                let line = line?;
                // A torn last line (the crash came mid-write) is skipped, not fatal.
                match serde_json::from_slice::<Line>(&line) {
                    Ok(Line::Open(rec)) => {
                        open.insert(rec.call_id.clone(), *rec);
                    }
                    Ok(Line::Close(id)) => {
                        open.remove(&id);
                    }
                    Err(_) => {}
                }
            }
        }
        let beat = fs::read_to_string(dir.join(HEARTBEAT))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok());
        let mut recovered: Vec<CallRecord> = open
            .into_values()
            .map(|mut rec| {
                rec.end_reason = EndReason::Interrupted;
                if let Some(beat) = beat {
                    rec.ended_at_ms = rec.ended_at_ms.max(beat);
                }
                rec
            })
            .collect();
        recovered.sort_by_key(|r| (r.started_at_ms, r.call_id.clone()));
        // Appended to until the recovered calls are safely in the spool; then started afresh.
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        let j = LiveJournal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                file,
                bytes,
                open: HashMap::new(),
            }),
        };
        Ok((j, recovered))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The recovered calls are journaled in the spool: start the file afresh.
    pub fn forget_recovered(&self) -> io::Result<()> {
        let mut g = self.lock();
        self.rewrite(&mut g)
    }

    /// A seat answered this call.
    pub fn open_call(&self, rec: &CallRecord) -> io::Result<()> {
        let mut line = serde_json::to_vec(&LineRef::Open(rec))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        line.push(b'\n');
        let mut g = self.lock();
        g.file.write_all(&line)?;
        g.bytes += line.len() as u64;
        g.open.insert(rec.call_id.clone(), line);
        Ok(())
    }

    /// The call's final record is journaled in the spool. Calls never opened (not answered) cost nothing.
    pub fn close_call(&self, call_id: &str) -> io::Result<()> {
        let mut g = self.lock();
        if g.open.remove(call_id).is_none() {
            return Ok(());
        }
        let mut line = serde_json::to_vec(&LineRef::Close(call_id))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        line.push(b'\n');
        g.file.write_all(&line)?;
        g.bytes += line.len() as u64;
        if g.bytes > REWRITE_BYTES {
            self.rewrite(&mut g)?;
        }
        Ok(())
    }

    /// Calls answered and not ended.
    pub fn open_calls(&self) -> usize {
        self.lock().open.len()
    }

    /// The daemon is alive at `wall_ms`: an interrupted call is taken to have ended at the last beat.
    pub fn heartbeat(&self, wall_ms: i64) -> io::Result<()> {
        let tmp = self.dir.join("heartbeat.tmp");
        fs::write(&tmp, wall_ms.to_string())?;
        fs::rename(tmp, self.dir.join(HEARTBEAT))
    }

    /// `live.jsonl` := the open calls only (write a new file, then rename it over the old one).
    fn rewrite(&self, g: &mut Inner) -> io::Result<()> {
        let tmp = self.dir.join("live.jsonl.tmp");
        let mut f = File::create(&tmp)?;
        let mut bytes = 0u64;
        for line in g.open.values() {
            f.write_all(line)?;
            bytes += line.len() as u64;
        }
        f.sync_data()?;
        fs::rename(&tmp, self.dir.join(LIVE))?;
        g.file = OpenOptions::new().append(true).open(self.dir.join(LIVE))?;
        g.bytes = bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, answered: i64) -> CallRecord {
        CallRecord {
            call_id: id.into(),
            caller: "13800001234".into(),
            called: "12345".into(),
            original_called: None,
            route_mode: None,
            department: None,
            started_at_ms: answered - 5_000,
            answered_at_ms: Some(answered),
            ended_at_ms: answered,
            wait_ms: 5_000,
            seat: Some("1001".into()),
            end_reason: EndReason::Interrupted,
            digits: String::new(),
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
    fn calls_left_open_by_a_crash_come_back_ended_at_the_last_heartbeat() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let (j, recovered) = LiveJournal::open(dir.path()).expect("open");
            assert!(recovered.is_empty());
            j.open_call(&rec("a", 1_000)).expect("open a");
            j.open_call(&rec("b", 2_000)).expect("open b");
            j.close_call("a").expect("close a");
            j.close_call("never-answered").expect("no-op");
            j.heartbeat(9_000).expect("beat");
            assert_eq!(j.open_calls(), 1);
            // Dropped without a word: the crash.
        }
        // A torn last line from the crash is skipped.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LIVE))
            .expect("append");
        f.write_all(b"{\"open\": {\"call_id\": \"tor")
            .expect("torn");
        let (j, recovered) = LiveJournal::open(dir.path()).expect("reopen");
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].call_id, "b");
        assert_eq!(recovered[0].end_reason, EndReason::Interrupted);
        assert_eq!(recovered[0].ended_at_ms, 9_000);
        j.forget_recovered().expect("forget");
        let (_, again) = LiveJournal::open(dir.path()).expect("third start");
        assert!(again.is_empty(), "recovered once, not at every start");
    }

    #[test]
    fn the_file_is_rewritten_from_the_open_calls_when_it_grows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (j, _) = LiveJournal::open(dir.path()).expect("open");
        j.open_call(&rec("kept", 1)).expect("open kept");
        let mut n = 0;
        while fs::metadata(dir.path().join(LIVE))
            .map(|m| m.len())
            .unwrap_or(0)
            < REWRITE_BYTES / 2
        {
            let id = format!("c{n}");
            j.open_call(&rec(&id, 1)).expect("open");
            j.close_call(&id).expect("close");
            n += 1;
        }
        for k in 0..n * 2 {
            let id = format!("d{k}");
            j.open_call(&rec(&id, 1)).expect("open");
            j.close_call(&id).expect("close");
        }
        let len = fs::metadata(dir.path().join(LIVE))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(len < REWRITE_BYTES + 4096, "{len}");
        drop(j);
        let (_, recovered) = LiveJournal::open(dir.path()).expect("reopen");
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].call_id, "kept");
    }
}
