//! Unit tests of the object container file: its bytes, and recovery from
//! a file cut at every byte of its last block and of its header.

use super::*;
use crate::backup::sample_line as line;

/// A file of a header and three blocks; returns it with the end of each
/// block (the header's end first).
fn file_of_three_blocks() -> (Vec<u8>, Vec<usize>, Vec<BackupLine>) {
    let s = backup_schema();
    let sync = new_sync();
    let mut bytes = header_bytes(&s.json, &sync);
    let mut ends = vec![bytes.len()];
    let blocks = [
        vec![line(0, 0), line(1, 0)],
        vec![line(0, 1)],
        vec![line(2, 0), line(1, 1), line(0, 2)],
    ];
    for b in &blocks {
        encode_block(b, &s.schema, &sync, &mut bytes).unwrap();
        ends.push(bytes.len());
    }
    (bytes, ends, blocks.concat())
}

#[test]
fn the_schema_is_the_bid_schema_with_partition_and_offset_first() {
    let v: serde_json::Value = serde_json::from_str(&backup_schema().json).unwrap();
    let names: Vec<&str> = v["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "partition",
            "offset",
            "id",
            "item",
            "name",
            "price",
            "bid_ts"
        ]
    );
    assert_eq!(v["fields"][6]["type"]["logicalType"], "timestamp-millis");
}

#[test]
fn blocks_read_back_and_the_header_is_standard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    let (bytes, ends, lines) = file_of_three_blocks();
    assert_eq!(&bytes[..4], b"Obj\x01");
    std::fs::write(&path, &bytes).unwrap();
    let (c, header) = read(&path).unwrap();
    assert_eq!(c.lines, lines);
    assert_eq!((c.good_len, c.torn_bytes), (bytes.len() as u64, 0));
    assert_eq!(header.unwrap().len, ends[0] as u64);
    // apache-avro's own reader agrees with the framing.
    let reader = apache_avro::Reader::new(bytes.as_slice()).unwrap();
    let values: Vec<_> = reader.map(|v| from_value(v.unwrap()).unwrap()).collect();
    assert_eq!(values, lines);
}

#[test]
fn a_file_cut_anywhere_in_the_last_block_keeps_the_complete_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    let (bytes, ends, lines) = file_of_three_blocks();
    let before_last = ends[2];
    for cut in before_last..bytes.len() {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (c, header) = read(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert!(header.is_some(), "cut at {cut}");
        assert_eq!(c.lines, lines[..3], "cut at {cut}");
        assert_eq!(c.good_len, before_last as u64, "cut at {cut}");
        assert_eq!(c.torn_bytes, (cut - before_last) as u64, "cut at {cut}");
    }
}

#[test]
fn a_file_cut_anywhere_in_the_header_is_a_torn_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    let (bytes, ends, _) = file_of_three_blocks();
    for cut in 0..ends[0] {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let (c, header) = read(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert!(header.is_none(), "cut at {cut}");
        assert!(c.lines.is_empty(), "cut at {cut}");
        assert_eq!((c.good_len, c.torn_bytes), (0, cut as u64), "cut at {cut}");
    }
    // The complete header alone: a file with no block yet.
    std::fs::write(&path, &bytes[..ends[0]]).unwrap();
    let (c, header) = read(&path).unwrap();
    assert!(header.is_some() && c.lines.is_empty() && c.torn_bytes == 0);
}

#[test]
fn a_last_block_with_a_wrong_sync_marker_or_garbage_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    let (mut bytes, ends, lines) = file_of_three_blocks();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff; // the last block's sync marker
    std::fs::write(&path, &bytes).unwrap();
    let (c, _) = read(&path).unwrap();
    assert_eq!(c.lines, lines[..3]);
    assert_eq!(c.torn_bytes, (ends[3] - ends[2]) as u64);
    // Zeros where the last block's records should be (a crash can persist the
    // file's new length before its data): the count (1 byte) and size (2
    // bytes) are intact.
    let (mut bytes, ends, _) = file_of_three_blocks();
    bytes[ends[2] + 3..ends[3] - SYNC_LEN].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(
        read(&path).unwrap().0.torn_bytes,
        (ends[3] - ends[2]) as u64
    );
}

#[test]
fn damage_before_the_last_block_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    let (bytes, ends, _) = file_of_three_blocks();
    // Every byte of the first two blocks flipped in turn: each either still
    // reads the same (a byte inside a string) or is reported as damage, and
    // is never silently cut off as a torn tail.
    for at in ends[0]..ends[2] {
        let mut bad = bytes.clone();
        bad[at] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        match read(&path) {
            Ok((c, _)) => assert_eq!(
                (c.lines.len(), c.torn_bytes),
                (6, 0),
                "flipped byte {at} was cut off"
            ),
            Err(e) => assert!(e.to_string().contains("is damaged"), "byte {at}: {e}"),
        }
    }
    let mut bad = bytes.clone();
    bad[ends[2] - 1] ^= 1; // the second block's sync marker
    std::fs::write(&path, &bad).unwrap();
    let e = read(&path).unwrap_err().to_string();
    assert!(e.contains("block 2") && e.contains("sync marker"), "{e}");
}

#[test]
fn foreign_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.avro");
    std::fs::write(&path, b"{\"partition\":0}\n").unwrap();
    assert!(read(&path)
        .unwrap_err()
        .to_string()
        .contains("not an Avro object container file"));
    let mut deflate = header_bytes(&backup_schema().json, &new_sync());
    let at = deflate.windows(4).position(|w| w == b"null").unwrap();
    deflate.splice(at - 1..at + 4, [8u8].into_iter().chain(*b"zstd"));
    std::fs::write(&path, &deflate).unwrap();
    assert!(read(&path).unwrap_err().to_string().contains("`zstd`"));
}
