//! The backup file as JSON Lines: one JSON object a line, the bid's fields
//! beside its `partition` and `offset` (the default format: readable with
//! any text tool).

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::{backup_err, BackupContents, BackupLine};
use crate::error::{AuctionError, Result};

/// Appends `lines` to `out`, one JSON object and a newline each.
pub fn encode(lines: &[BackupLine], out: &mut Vec<u8>) -> Result<()> {
    for line in lines {
        serde_json::to_writer(&mut *out, line).map_err(|e| AuctionError::Codec(e.to_string()))?;
        out.push(b'\n');
    }
    Ok(())
}

/// Reads a JSON Lines backup file (missing: empty). Only the last line may
/// be torn (unterminated or not JSON): that is what a crash mid-write
/// leaves. A bad line anywhere else means the file was damaged and is an
/// error.
pub fn read(path: &Path) -> Result<BackupContents> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BackupContents::default()),
        Err(source) => {
            return Err(AuctionError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut reader = BufReader::new(file);
    let mut contents = BackupContents::default();
    let mut buf = Vec::new();
    let mut pos = 0u64;
    let mut line_no = 0;
    loop {
        buf.clear();
        let n = reader
            .by_ref()
            .read_until(b'\n', &mut buf)
            .map_err(|source| AuctionError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let parsed = serde_json::from_slice::<BackupLine>(buf.trim_ascii_end());
        match (complete, parsed) {
            (true, Ok(line)) => {
                contents.lines.push(line);
                pos += n as u64;
                contents.good_len = pos;
            }
            (false, _) => break,
            (true, Err(e)) => {
                if pos + n as u64 == total {
                    break; // the last line: torn by a crash mid-write
                }
                return Err(backup_err(path, format!("line {line_no} is damaged: {e}")));
            }
        }
    }
    contents.torn_bytes = total - contents.good_len;
    Ok(contents)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::backup::sample_line;

    fn line(p: i32, o: i64) -> String {
        let mut out = Vec::new();
        encode(&[sample_line(p, o)], &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_torn_last_line_is_reported_and_earlier_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        assert_eq!(read(&path).unwrap().lines.len(), 0);
        let good = line(0, 0) + &line(1, 0) + &line(0, 1);
        let torn = "{\"partition\":1,\"off";
        std::fs::write(&path, format!("{good}{torn}")).unwrap();
        let c = read(&path).unwrap();
        assert_eq!(c.lines.len(), 3);
        assert_eq!(c.good_len, good.len() as u64);
        assert_eq!(c.torn_bytes, torn.len() as u64);
        assert_eq!(c.written(), BTreeMap::from([(0, 1), (1, 0)]));
        // A complete but unparsable last line is torn too (a crash between
        // the bytes and the newline reaching the disk in another order).
        std::fs::write(&path, format!("{good}garbage\n")).unwrap();
        assert_eq!(read(&path).unwrap().torn_bytes, 8);
        std::fs::write(&path, format!("garbage\n{good}")).unwrap();
        assert!(read(&path)
            .unwrap_err()
            .to_string()
            .contains("line 1 is damaged"));
    }
}
