//! The node's local, durable copy of its audit rows: an append-only file
//! that every row reaches (and is fsync'd to, a batch at a time) before the
//! call it belongs to counts as finished, and that rows leave only once the
//! store has them. A store outage then costs time, not rows; a crash loses
//! at most the batch being written.
//!
//! One JSON object per line:
//! - `{"t":"row",…}` a row, with its sequence number and its id (unique
//!   across nodes and runs; the store keeps one row per id, so a row sent
//!   twice is stored once);
//! - `{"t":"stored","upto":N}` every row up to sequence N is in the store;
//! - `{"t":"open","call_id":…}` a call whose rows were compacted away and
//!   that has no end row yet.
//!
//! A line cut short by a crash is ignored. The file is rewritten (to a
//! temporary file, fsync'd, renamed) once it passes [`COMPACT_AT`] bytes,
//! keeping only the rows not stored and the calls still open.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The file is rewritten once it is this large and a batch has been stored.
pub const COMPACT_AT: u64 = 16 * 1024 * 1024;

/// The event of the row that ends every answered call.
pub const CALL_ENDED: &str = "call_ended";
const CALL_STARTED: &str = "call_started";

/// One audit row as spooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpooledRow {
    pub seq: u64,
    /// Unique across nodes and runs; the store enforces it.
    pub id: String,
    pub call_id: String,
    pub event: String,
    pub outcome: Option<String>,
    pub account: Option<String>,
    pub detail: Value,
    /// Unix milliseconds.
    pub at: i64,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Line {
    Row(SpooledRow),
    Stored { upto: u64 },
    Open { call_id: String },
}

/// What a previous run left in the spool.
#[derive(Debug, Default)]
pub struct Recovered {
    /// Rows not yet in the store, in order.
    pub pending: Vec<SpooledRow>,
    /// Calls with a start and no end row: the run ended under them.
    pub open_calls: Vec<String>,
    /// The highest sequence number seen.
    pub last_seq: u64,
}

pub struct Spool {
    path: PathBuf,
    file: File,
    size: u64,
    /// Calls with rows spooled and no end row yet, kept through compaction.
    open: BTreeSet<String>,
}

impl Spool {
    /// Opens (creating) the spool at `path` and reads what it holds.
    pub fn open(path: &Path) -> std::io::Result<(Spool, Recovered)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let recovered = match File::open(path) {
            Ok(f) => read(BufReader::new(f))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Recovered::default(),
            Err(e) => return Err(e),
        };
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let mut spool = Spool {
            path: path.to_path_buf(),
            file,
            size,
            open: recovered.open_calls.iter().cloned().collect(),
        };
        // A torn last line would glue itself to the next one written.
        if size > 0 && !ends_with_newline(path)? {
            spool.file.write_all(b"\n")?;
            spool.size += 1;
        }
        Ok((spool, recovered))
    }

    /// Appends rows and makes them durable (one fsync for the batch).
    pub fn append(&mut self, rows: &[SpooledRow]) -> std::io::Result<()> {
        let mut text = Vec::with_capacity(rows.len() * 256);
        for row in rows {
            serde_json::to_writer(&mut text, &Line::Row(row.clone()))?;
            text.push(b'\n');
        }
        write_durably(&mut self.file, &text)?;
        self.size += text.len() as u64;
        for row in rows {
            self.track(row);
        }
        Ok(())
    }

    /// Records that the store has every row up to `upto`, compacting the
    /// file when it has grown large. `pending` are the rows still waiting.
    /// Not fsync'd: a lost marker only means rows are sent again, and the
    /// store keeps them once.
    pub fn mark_stored(&mut self, upto: u64, pending: &[SpooledRow]) -> std::io::Result<()> {
        if self.size >= COMPACT_AT {
            return self.compact(upto, pending);
        }
        let mut text = serde_json::to_vec(&Line::Stored { upto })?;
        text.push(b'\n');
        self.file.write_all(&text)?;
        self.size += text.len() as u64;
        Ok(())
    }

    fn track(&mut self, row: &SpooledRow) {
        if row.event == CALL_ENDED {
            self.open.remove(&row.call_id);
        } else if row.event == CALL_STARTED {
            self.open.insert(row.call_id.clone());
        }
    }

    fn compact(&mut self, upto: u64, pending: &[SpooledRow]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("compacting");
        let mut text = Vec::new();
        for call_id in &self.open {
            serde_json::to_writer(
                &mut text,
                &Line::Open {
                    call_id: call_id.clone(),
                },
            )?;
            text.push(b'\n');
        }
        serde_json::to_writer(&mut text, &Line::Stored { upto })?;
        text.push(b'\n');
        for row in pending {
            serde_json::to_writer(&mut text, &Line::Row(row.clone()))?;
            text.push(b'\n');
        }
        let mut file = File::create(&tmp)?;
        write_durably(&mut file, &text)?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.size = text.len() as u64;
        Ok(())
    }
}

fn write_durably(file: &mut File, text: &[u8]) -> std::io::Result<()> {
    file.write_all(text)?;
    file.sync_data()
}

fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    f.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn read(reader: impl BufRead) -> std::io::Result<Recovered> {
    let mut rows = Vec::new();
    let mut stored = 0;
    let mut open = BTreeSet::new();
    let mut last_seq = 0;
    for line in reader.split(b'\n') {
        let line = line?;
        // A line cut short by a crash (or anything else unreadable) is skipped.
        let Ok(line) = serde_json::from_slice::<Line>(&line) else {
            continue;
        };
        match line {
            Line::Row(row) => {
                last_seq = last_seq.max(row.seq);
                if row.event == CALL_ENDED {
                    open.remove(&row.call_id);
                } else if row.event == CALL_STARTED {
                    open.insert(row.call_id.clone());
                }
                rows.push(row);
            }
            Line::Stored { upto } => stored = stored.max(upto),
            Line::Open { call_id } => {
                open.insert(call_id);
            }
        }
    }
    rows.retain(|r| r.seq > stored);
    Ok(Recovered {
        pending: rows,
        open_calls: open.into_iter().collect(),
        last_seq: last_seq.max(stored),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, call: &str, event: &str) -> SpooledRow {
        SpooledRow {
            seq,
            id: format!("run-{seq}"),
            call_id: call.to_string(),
            event: event.to_string(),
            outcome: None,
            account: None,
            detail: serde_json::json!({ "event": event }),
            at: 1_800_000_000_000 + seq as i64,
        }
    }

    #[test]
    fn rows_not_stored_and_calls_without_an_end_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.spool");
        let (mut spool, recovered) = Spool::open(&path).unwrap();
        assert!(recovered.pending.is_empty() && recovered.open_calls.is_empty());
        spool
            .append(&[
                row(1, "a", CALL_STARTED),
                row(2, "b", CALL_STARTED),
                row(3, "a", CALL_ENDED),
            ])
            .unwrap();
        spool.mark_stored(2, &[row(3, "a", CALL_ENDED)]).unwrap();
        spool.append(&[row(4, "b", "caller_lookup")]).unwrap();
        drop(spool);
        // A crash in the middle of a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"t\":\"row\",\"seq\":5,\"id\":\"ru")
            .unwrap();
        drop(f);

        let (mut spool, recovered) = Spool::open(&path).unwrap();
        let seqs: Vec<u64> = recovered.pending.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4], "stored rows are not sent again");
        assert_eq!(recovered.open_calls, ["b"]);
        assert_eq!(recovered.last_seq, 4);
        // Writing goes on after the torn line without gluing onto it.
        spool.append(&[row(6, "b", CALL_ENDED)]).unwrap();
        drop(spool);
        let (_, recovered) = Spool::open(&path).unwrap();
        let seqs: Vec<u64> = recovered.pending.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [3, 4, 6]);
        assert!(recovered.open_calls.is_empty());
    }

    #[test]
    fn compaction_keeps_what_is_pending_and_the_open_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.spool");
        let (mut spool, _) = Spool::open(&path).unwrap();
        spool
            .append(&[
                row(1, "open", CALL_STARTED),
                row(2, "done", CALL_STARTED),
                row(3, "done", CALL_ENDED),
                row(4, "later", CALL_STARTED),
            ])
            .unwrap();
        spool.size = COMPACT_AT;
        spool
            .mark_stored(3, &[row(4, "later", CALL_STARTED)])
            .unwrap();
        assert!(spool.size < 1024, "compacted: {}", spool.size);
        spool.append(&[row(5, "later", "caller_lookup")]).unwrap();
        drop(spool);
        let (_, recovered) = Spool::open(&path).unwrap();
        let seqs: Vec<u64> = recovered.pending.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [4, 5]);
        assert_eq!(recovered.open_calls, ["later", "open"]);
    }

    #[test]
    fn a_full_disk_is_an_error_named_as_such() {
        let Ok(full) = OpenOptions::new().append(true).open("/dev/full") else {
            return;
        };
        let mut spool = Spool {
            path: PathBuf::from("/dev/full"),
            file: full,
            size: 0,
            open: BTreeSet::new(),
        };
        let e = spool.append(&[row(1, "a", CALL_STARTED)]).unwrap_err();
        assert_eq!(
            auth::store::StoreFailure::of_io(&e),
            auth::store::StoreFailure::DiskFull,
            "{e}"
        );
        assert!(spool.open.is_empty(), "a row not written is not tracked");
    }
}
