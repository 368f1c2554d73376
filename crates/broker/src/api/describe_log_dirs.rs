//! DescribeLogDirs: the one data directory and the size of every partition
//! in it.

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;

pub fn handle(broker: &Broker, req: DescribeLogDirsRequest) -> DescribeLogDirsResponse {
    let wanted = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.topic.as_str().to_string(), t.partitions))
            .collect::<Vec<_>>()
    });
    let topics = broker
        .topics
        .list()
        .into_iter()
        .filter_map(|t| {
            let parts: Vec<i32> = match &wanted {
                None => (0..t.partitions.len() as i32).collect(),
                Some(w) => w.iter().find(|(n, _)| *n == t.name)?.1.clone(),
            };
            let partitions = parts
                .into_iter()
                .filter_map(|i| {
                    let p = t.partitions.get(usize::try_from(i).ok()?)?;
                    Some(
                        DescribeLogDirsPartition::default()
                            .with_partition_index(i)
                            .with_partition_size(p.size_bytes() as i64)
                            .with_offset_lag(0),
                    )
                })
                .collect();
            Some(
                DescribeLogDirsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                    .with_partitions(partitions),
            )
        })
        .collect();
    let dir = std::fs::canonicalize(&broker.config.data_dir)
        .unwrap_or_else(|_| broker.config.data_dir.clone());
    DescribeLogDirsResponse::default().with_results(vec![DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(-1)
        .with_usable_bytes(-1)])
}
