//! The broker on a failing disk, through the wire: partition data on the
//! fault-injecting file system. A full disk refuses produces with
//! KAFKA_STORAGE_ERROR while reads go on, and writing resumes by itself
//! once there is room.

mod common;

use common::*;
use fjord_log::FaultFs;

const KAFKA_STORAGE_ERROR: i16 = 56;

#[tokio::test]
async fn a_full_disk_refuses_produces_keeps_reads_and_recovers_by_itself() {
    let fs = FaultFs::new();
    let b = TestBroker::start_on(Some(fs.shared()), |_| {}).await;
    let mut c = b.client().await;
    c.create_topic("full", 1).await;
    assert_eq!(
        c.produce("full", 0, -1, Batch::of(&["a"]).encode()).await,
        (0, 0)
    );

    fs.fail_writes(true);
    for acks in [-1, 1] {
        let (err, _) = c
            .produce("full", 0, acks, Batch::of(&["lost"]).encode())
            .await;
        assert_eq!(err, KAFKA_STORAGE_ERROR, "acks={acks}");
    }
    let read = c.fetch("full", 0, 0, 1 << 20).await;
    assert_eq!(read.error_code, 0);
    assert_eq!(values(read.records.as_ref().unwrap()), vec![b"a".to_vec()]);

    fs.fail_writes(false);
    assert_eq!(
        c.produce("full", 0, -1, Batch::of(&["b"]).encode()).await,
        (0, 1)
    );
    let read = c.fetch("full", 0, 0, 1 << 20).await;
    assert_eq!(
        values(read.records.as_ref().unwrap()),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
}
