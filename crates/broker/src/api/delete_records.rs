//! DeleteRecords: raise a partition's log start offset (-1 means "up to the
//! high watermark"); whole segments below it are removed.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use crate::broker::Broker;
use crate::error::BrokerError;
use crate::internal_topic::refuse_client_change;

pub fn handle(broker: &Broker, req: DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(p.partition_index);
                    let outcome = refuse_client_change(t.name.as_str(), "delete records of")
                        .and_then(|()| broker.topics.partition(t.name.as_str(), p.partition_index))
                        .and_then(|part| {
                            part.delete_records_before(p.offset)
                                .map_err(BrokerError::from)
                        });
                    match outcome {
                        Ok(low) => result.with_low_watermark(low),
                        Err(e) => result
                            .with_error_code(e.code().code())
                            .with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(t.name)
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}
