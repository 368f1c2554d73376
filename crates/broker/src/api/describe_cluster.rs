//! DescribeCluster: this one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::AUTHORIZED_OPERATIONS_OMITTED;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    _req: DescribeClusterRequest,
    _version: i16,
) -> DescribeClusterResponse {
    let (host, port) = broker.advertised.clone();
    let node = BrokerId(broker.node_id());
    DescribeClusterResponse::default()
        .with_cluster_id(StrBytes::from_string(broker.cluster_id.clone()))
        .with_controller_id(node)
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(node)
            .with_host(StrBytes::from_string(host))
            .with_port(port as i32)])
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
