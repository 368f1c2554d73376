//! DeleteGroups: removes groups without members, with their committed
//! offsets (tombstoned in `__consumer_offsets`).

use std::future::Future;
use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use crate::broker::Broker;
use crate::group::code_of;

pub fn handle(
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
) -> impl Future<Output = DeleteGroupsResponse> + Send + 'static {
    let ids = req.groups_names.iter().map(|g| g.to_string()).collect();
    let pending = broker.groups.delete_groups(ids);
    async move {
        let results = pending
            .await
            .into_iter()
            .map(|(id, r)| {
                DeletableGroupResult::default()
                    .with_group_id(GroupId(StrBytes::from_string(id)))
                    .with_error_code(code_of(&r))
            })
            .collect();
        DeleteGroupsResponse::default().with_results(results)
    }
}
