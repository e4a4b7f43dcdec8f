//! The few messages and the two calls of the Remote Workers API v1test2 (`google.devtools.remoteworkers.v1test2`, BuildGrid's Bots service) that `pleat worker` uses, declared by hand (`bazel-remote-apis` does not ship them) with the tags of the official `bots.proto` and `worker.proto`.

use bazel_remote_apis::google::protobuf::{Any, Timestamp};
use bazel_remote_apis::google::rpc::Status;
use tonic::codegen::http;

/// A bot's session with the server: its leases travel in it both ways.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct BotSession {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub bot_id: String,
    #[prost(enumeration = "BotStatus", tag = "3")]
    pub status: i32,
    #[prost(message, optional, tag = "4")]
    pub worker: Option<Worker>,
    #[prost(message, repeated, tag = "5")]
    pub leases: Vec<Lease>,
    #[prost(message, optional, tag = "6")]
    pub expire_time: Option<Timestamp>,
    #[prost(string, tag = "7")]
    pub version: String,
}

/// One piece of work: an Action (or its digest) in, an ActionResult out.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Lease {
    #[prost(string, tag = "7")]
    pub id: String,
    #[prost(message, optional, tag = "8")]
    pub payload: Option<Any>,
    #[prost(message, optional, tag = "9")]
    pub result: Option<Any>,
    #[prost(enumeration = "LeaseState", tag = "2")]
    pub state: i32,
    #[prost(message, optional, tag = "3")]
    pub status: Option<Status>,
    #[prost(message, optional, tag = "4")]
    pub requirements: Option<Worker>,
    #[prost(message, optional, tag = "5")]
    pub expire_time: Option<Timestamp>,
}

/// The machine: its first device runs the work, and its properties are what the
/// scheduler matches against an action's platform.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Worker {
    #[prost(message, repeated, tag = "1")]
    pub devices: Vec<Device>,
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Device {
    #[prost(string, tag = "1")]
    pub handle: String,
    #[prost(message, repeated, tag = "2")]
    pub properties: Vec<Property>,
}

/// `Worker.Property` and `Device.Property` (the same two fields).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Property {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum BotStatus {
    Unspecified = 0,
    Ok = 1,
    Unhealthy = 2,
    HostRebooting = 3,
    BotTerminating = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum LeaseState {
    Unspecified = 0,
    Pending = 1,
    Active = 2,
    Completed = 4,
    Cancelled = 5,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CreateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub parent: String,
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct UpdateBotSessionRequest {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub bot_session: Option<BotSession>,
}

/// The Bots service's two calls over a tonic channel.
#[derive(Debug, Clone)]
pub struct BotsClient {
    inner: tonic::client::Grpc<tonic::transport::Channel>,
}

impl BotsClient {
    pub fn new(channel: tonic::transport::Channel) -> Self {
        Self { inner: tonic::client::Grpc::new(channel) }
    }

    async fn unary<Q: prost::Message + 'static, A: prost::Message + Default + 'static>(
        &mut self,
        request: tonic::Request<Q>,
        path: &'static str,
    ) -> Result<tonic::Response<A>, tonic::Status> {
        self.inner.ready().await.map_err(|e| tonic::Status::unavailable(format!("not ready: {e}")))?;
        let codec = tonic_prost::ProstCodec::<Q, A>::default();
        self.inner.unary(request, http::uri::PathAndQuery::from_static(path), codec).await
    }

    pub async fn create_bot_session(
        &mut self,
        request: tonic::Request<CreateBotSessionRequest>,
    ) -> Result<tonic::Response<BotSession>, tonic::Status> {
        self.unary(request, "/google.devtools.remoteworkers.v1test2.Bots/CreateBotSession").await
    }

    pub async fn update_bot_session(
        &mut self,
        request: tonic::Request<UpdateBotSessionRequest>,
    ) -> Result<tonic::Response<BotSession>, tonic::Status> {
        self.unary(request, "/google.devtools.remoteworkers.v1test2.Bots/UpdateBotSession").await
    }
}

/// The `type_url` of a packed message of type `name` (a full protobuf name).
pub fn type_url(name: &str) -> String {
    format!("type.googleapis.com/{name}")
}

/// Packs `message` of protobuf type `name` as an `Any`.
pub fn pack<M: prost::Message>(name: &str, message: &M) -> Any {
    Any { type_url: type_url(name), value: message.encode_to_vec() }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn the_messages_have_the_official_tags() {
        let lease = Lease {
            id: "a".into(),
            state: LeaseState::Completed as i32,
            status: Some(Status { code: 0, message: String::new(), details: Vec::new() }),
            ..Lease::default()
        };
        // id is field 7 (0x3a = 7 << 3 | 2), state field 2 (0x10), status field 3 (0x1a).
        assert_eq!(lease.encode_to_vec(), [0x10, 0x04, 0x1a, 0x00, 0x3a, 0x01, b'a']);
        let session = BotSession {
            bot_id: "b".into(),
            status: BotStatus::Ok as i32,
            worker: Some(Worker {
                devices: vec![Device {
                    handle: "h".into(),
                    properties: vec![Property { key: "k".into(), value: "v".into() }],
                }],
                properties: Vec::new(),
            }),
            ..BotSession::default()
        };
        assert_eq!(
            session.encode_to_vec(),
            [
                0x12, 0x01, b'b', 0x18, 0x01, 0x22, 0x0d, 0x0a, 0x0b, 0x0a, 0x01, b'h', 0x12, 0x06, 0x0a,
                0x01, b'k', 0x12, 0x01, b'v'
            ]
        );
        let expire = Lease { expire_time: Some(Timestamp { seconds: 1, nanos: 0 }), ..Lease::default() };
        assert_eq!(expire.encode_to_vec(), [0x2a, 0x02, 0x08, 0x01], "expire_time is field 5");
    }
}
