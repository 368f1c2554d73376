//! The backup file: every bid with the partition and offset it had in the
//! topic, for audit. Two formats, chosen with `--backup-format`: JSON Lines
//! ([`jsonl`], the default) and an Avro object container file
//! ([`avro_file`]). [`BackupSink`] writes either; [`read`] reads either,
//! telling them apart by the file's first bytes.
//!
//! Invariants the writer keeps, whatever the format: records are appended
//! in consumption order, so per partition offsets increase; each consumed
//! batch is one write, fsynced before the group's offsets are committed; on
//! start a torn tail (a crash in the middle of a write) is cut off, and
//! offsets already in the file are skipped when the group re-delivers them.
//! So after a crash at any point every record of the topic is in the file
//! exactly once. Damage anywhere but the tail is an error: the file is
//! never silently rewritten.

pub mod avro_file;
pub mod jsonl;
mod sink;
mod verify;
mod writer;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use sink::BackupSink;
pub use verify::{restore, verify, VerifyReport};
pub use writer::run;

use crate::bid::Bid;
use crate::error::{AuctionError, Result};

/// How the backup file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackupFormat {
    /// One JSON object a line.
    #[default]
    JsonLines,
    /// An Avro object container file (codec null).
    Avro,
}

impl BackupFormat {
    /// The name on the command line, also the default file's extension.
    pub fn name(self) -> &'static str {
        match self {
            BackupFormat::JsonLines => "jsonl",
            BackupFormat::Avro => "avro",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BackupFormat::JsonLines => "a JSON Lines",
            BackupFormat::Avro => "an Avro object container",
        }
    }
}

impl std::fmt::Display for BackupFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BackupFormat {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "jsonl" | "json-lines" | "jsonlines" => Ok(BackupFormat::JsonLines),
            "avro" => Ok(BackupFormat::Avro),
            _ => Err(format!("unknown backup format `{s}` (use jsonl or avro)")),
        }
    }
}

/// One record of the backup file (a line of the JSON Lines format).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupLine {
    pub partition: i32,
    pub offset: i64,
    #[serde(flatten)]
    pub bid: Bid,
}

/// What a backup file holds: its complete records, and the length of the
/// file up to the end of the last complete line or block.
#[derive(Debug, Default)]
pub struct BackupContents {
    pub lines: Vec<BackupLine>,
    pub good_len: u64,
    /// Bytes past `good_len` (a torn last line or block, or a torn header).
    pub torn_bytes: u64,
}

impl BackupContents {
    /// Highest offset written per partition.
    pub fn written(&self) -> BTreeMap<i32, i64> {
        let mut out = BTreeMap::new();
        for l in &self.lines {
            let e = out.entry(l.partition).or_insert(l.offset);
            *e = (*e).max(l.offset);
        }
        out
    }
}

fn backup_err(path: &Path, message: String) -> AuctionError {
    AuctionError::Backup {
        path: path.to_path_buf(),
        message,
    }
}

/// The format of an existing file, from its first bytes: the Avro magic
/// `Obj\x01` (or a piece of it: a header torn while it was created) or
/// anything else, JSON Lines. `None` when the file is missing or empty.
pub fn detect(path: &Path) -> Result<Option<BackupFormat>> {
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AuctionError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut head = Vec::with_capacity(4);
    file.by_ref()
        .take(4)
        .read_to_end(&mut head)
        .map_err(|source| AuctionError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(match head.len() {
        0 => None,
        n if head[..] == avro_file::MAGIC[..n] => Some(BackupFormat::Avro),
        _ => Some(BackupFormat::JsonLines),
    })
}

/// Refuses a file that exists in another format than `format` (writing
/// Avro blocks after JSON lines, or the reverse, would ruin it).
pub fn check_format(path: &Path, format: BackupFormat) -> Result<()> {
    match detect(path)? {
        Some(found) if found != format => Err(backup_err(
            path,
            format!(
                "it is {} file, but --backup-format {format} was given \
                 (use --backup-format {found}, or another --backup-file)",
                found.describe()
            ),
        )),
        _ => Ok(()),
    }
}

/// Reads a backup file of either format (missing or empty: no records).
pub fn read(path: &Path) -> Result<BackupContents> {
    match detect(path)? {
        None => Ok(BackupContents::default()),
        Some(BackupFormat::JsonLines) => jsonl::read(path),
        Some(BackupFormat::Avro) => Ok(avro_file::read(path)?.0),
    }
}

/// The default backup file in a data dir: `bids-backup.jsonl` or
/// `bids-backup.avro`.
pub fn default_path(data_dir: &Path, format: BackupFormat) -> PathBuf {
    data_dir.join(format!("bids-backup.{}", format.name()))
}

/// The bid at `partition`/`offset` that the backup format tests write and
/// read back (a non-ASCII name, so both formats carry UTF-8).
#[cfg(test)]
pub(crate) fn sample_line(partition: i32, offset: i64) -> BackupLine {
    BackupLine {
        partition,
        offset,
        bid: Bid {
            id: format!("id-{partition}-{offset}"),
            item: "lamp".into(),
            name: "Ann é".into(),
            price: 10 + offset,
            bid_ts: 1_700_000_000_000 + offset,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_detected_from_the_first_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        assert_eq!(detect(&path).unwrap(), None);
        for (bytes, want) in [
            (&b""[..], None),
            (b"O", Some(BackupFormat::Avro)),
            (b"Obj\x01\x04", Some(BackupFormat::Avro)),
            (b"{\"partition\"", Some(BackupFormat::JsonLines)),
            (b"Ob!", Some(BackupFormat::JsonLines)),
        ] {
            std::fs::write(&path, bytes).unwrap();
            assert_eq!(detect(&path).unwrap(), want, "{bytes:?}");
        }
        std::fs::write(&path, b"Obj\x01").unwrap();
        let e = check_format(&path, BackupFormat::JsonLines).unwrap_err();
        assert!(
            e.to_string()
                .contains("it is an Avro object container file, but --backup-format jsonl"),
            "{e}"
        );
        assert!(check_format(&path, BackupFormat::Avro).is_ok());
        assert_eq!("AVRO".parse::<BackupFormat>(), Ok(BackupFormat::Avro));
        assert!("csv".parse::<BackupFormat>().is_err());
    }
}
