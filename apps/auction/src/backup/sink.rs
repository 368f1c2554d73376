//! Appending to the backup file in either format, with the recovery the
//! writer does on start: refuse a file of the other format, cut a torn
//! tail, recreate a torn Avro header.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::avro_file::{self, SYNC_LEN};
use super::{backup_err, check_format, jsonl, BackupContents, BackupFormat, BackupLine};
use crate::error::{AuctionError, Result};

/// How a batch becomes bytes.
enum Encoder {
    JsonLines,
    /// Blocks under the file's own sync marker (and schema, which must be
    /// the backup schema: a block in another schema would be misread).
    Avro {
        sync: [u8; SYNC_LEN],
    },
}

/// The backup file, open for appending one batch at a time.
pub struct BackupSink {
    path: PathBuf,
    file: File,
    encoder: Encoder,
    /// Reused between batches.
    buf: Vec<u8>,
}

impl BackupSink {
    /// Opens (or creates) `path` in `format`, cutting a torn tail first;
    /// returns the sink and what the file already holds.
    pub fn open(path: &Path, format: BackupFormat) -> Result<(BackupSink, BackupContents)> {
        let write_err = |source| AuctionError::Write {
            path: path.to_path_buf(),
            source,
        };
        check_format(path, format)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(write_err)?;
        }
        let (contents, encoder) = match format {
            BackupFormat::JsonLines => (jsonl::read(path)?, Encoder::JsonLines),
            BackupFormat::Avro => {
                let (contents, header) = avro_file::read(path)?;
                match header {
                    Some(h) => {
                        let ours = &avro_file::backup_schema().schema;
                        if h.schema.canonical_form() != ours.canonical_form() {
                            return Err(backup_err(
                                path,
                                "its records have another schema than fjord's backup \
                                 schema; appending would mix the two (use another --backup-file)"
                                    .into(),
                            ));
                        }
                        (contents, Encoder::Avro { sync: h.sync })
                    }
                    None => {
                        if contents.torn_bytes > 0 {
                            tracing::warn!(path = %path.display(), bytes = contents.torn_bytes,
                                "the Avro header is torn (a crash while creating the file): recreating it");
                        }
                        let sync = create_avro(path)?;
                        (BackupContents::default(), Encoder::Avro { sync })
                    }
                }
            }
        };
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(write_err)?;
        if contents.torn_bytes > 0 {
            tracing::warn!(path = %path.display(), bytes = contents.torn_bytes, "cutting off a torn tail");
            file.set_len(contents.good_len).map_err(write_err)?;
            file.sync_data().map_err(write_err)?;
        }
        let sink = BackupSink {
            path: path.to_path_buf(),
            file,
            encoder,
            buf: Vec::with_capacity(64 * 1024),
        };
        Ok((sink, contents))
    }

    /// Appends `lines` with one write (one Avro block) and fsyncs: when
    /// this returns, the records are durable and their offsets may be
    /// committed.
    pub fn append(&mut self, lines: &[BackupLine]) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.buf.clear();
        match &self.encoder {
            Encoder::JsonLines => jsonl::encode(lines, &mut self.buf)?,
            Encoder::Avro { sync } => avro_file::encode_block(
                lines,
                &avro_file::backup_schema().schema,
                sync,
                &mut self.buf,
            )?,
        }
        let write_err = |source| AuctionError::Write {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(&self.buf).map_err(write_err)?;
        self.file.sync_data().map_err(write_err)
    }
}

/// Writes a new file holding only the Avro header, atomically: the header
/// goes to a temporary file that is fsynced and renamed over `path`, so a
/// crash leaves the old file (missing, or a torn header) or the new one.
fn create_avro(path: &Path) -> Result<[u8; SYNC_LEN]> {
    let write_err = |source| AuctionError::Write {
        path: path.to_path_buf(),
        source,
    };
    let sync = avro_file::new_sync();
    let header = avro_file::header_bytes(&avro_file::backup_schema().json, &sync);
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = File::create(&tmp).map_err(write_err)?;
    f.write_all(&header).map_err(write_err)?;
    f.sync_all().map_err(write_err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(write_err)?;
    // The rename is durable once the directory is.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err)?;
    }
    Ok(sync)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::sample_line as line;

    #[test]
    fn both_formats_append_recover_and_reopen() {
        for format in [BackupFormat::JsonLines, BackupFormat::Avro] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("sub").join(format!("b.{format}"));
            let (mut sink, c) = BackupSink::open(&path, format).unwrap();
            assert!(c.lines.is_empty());
            sink.append(&[line(0, 0), line(1, 0)]).unwrap();
            sink.append(&[line(0, 1)]).unwrap();
            drop(sink);
            let len = std::fs::metadata(&path).unwrap().len();
            // A torn tail: half of a third batch.
            let mut bytes = std::fs::read(&path).unwrap();
            let (mut s2, _) = BackupSink::open(&path, format).unwrap();
            s2.append(&[line(2, 0), line(2, 1)]).unwrap();
            drop(s2);
            let full = std::fs::read(&path).unwrap();
            bytes.extend_from_slice(&full[len as usize..len as usize + 7]);
            std::fs::write(&path, &bytes).unwrap();

            let (mut sink, c) = BackupSink::open(&path, format).unwrap();
            assert_eq!(c.lines, [line(0, 0), line(1, 0), line(0, 1)], "{format}");
            assert_eq!(c.torn_bytes, 7, "{format}");
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                len,
                "cut, {format}"
            );
            sink.append(&[line(2, 0)]).unwrap();
            drop(sink);
            let c = super::super::read(&path).unwrap();
            assert_eq!(c.lines.len(), 4, "{format}");
            assert_eq!(c.torn_bytes, 0, "{format}");
            // The other format is refused, the file untouched.
            let other = match format {
                BackupFormat::JsonLines => BackupFormat::Avro,
                BackupFormat::Avro => BackupFormat::JsonLines,
            };
            let e = BackupSink::open(&path, other).err().unwrap().to_string();
            assert!(e.contains(&format!("--backup-format {format}")), "{e}");
            assert_eq!(super::super::read(&path).unwrap().lines.len(), 4);
        }
    }

    #[test]
    fn a_torn_avro_header_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.avro");
        let header = avro_file::header_bytes(&avro_file::backup_schema().json, &[7; SYNC_LEN]);
        std::fs::write(&path, &header[..header.len() - 3]).unwrap();
        let (mut sink, c) = BackupSink::open(&path, BackupFormat::Avro).unwrap();
        assert!(c.lines.is_empty());
        sink.append(&[line(0, 0)]).unwrap();
        drop(sink);
        let (c, h) = avro_file::read(&path).unwrap();
        assert_eq!(c.lines, [line(0, 0)]);
        assert_ne!(h.unwrap().sync, [7; SYNC_LEN], "a new header");
        assert!(!dir.path().join("b.avro.tmp").exists());
    }

    #[test]
    fn an_avro_file_of_another_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.avro");
        let other = r#"{"type":"record","name":"X","fields":[{"name":"a","type":"long"}]}"#;
        std::fs::write(&path, avro_file::header_bytes(other, &[1; SYNC_LEN])).unwrap();
        let e = BackupSink::open(&path, BackupFormat::Avro)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("another schema"), "{e}");
    }
}
