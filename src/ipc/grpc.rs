//! gRPC sidecars without generated code: the server's own descriptions (server
//! reflection, `grpc.reflection.v1alpha`) say what a method takes and returns; the
//! request is built from JSON, the reply shown as JSON (proto3's JSON mapping). Health is
//! the standard `grpc.health.v1.Health/Check`. Unary calls only.

use super::protocol::{Outcome, cap_text};
use super::rpc::Call;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use serde_json::Value;
use std::time::{Duration, Instant};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Channel, Endpoint};
use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

/// Files fetched through reflection at most, dependencies included.
const MAX_FILES: usize = 256;

pub struct GrpcClient {
    channel: Channel,
    /// What reflection said, for this run of the server.
    pool: tokio::sync::Mutex<DescriptorPool>,
}

impl GrpcClient {
    pub fn new(address: &str) -> Result<GrpcClient, String> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| format!("{address}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        Ok(GrpcClient {
            channel: endpoint.connect_lazy(),
            pool: tokio::sync::Mutex::new(DescriptorPool::new()),
        })
    }

    /// A new run of the server may describe itself differently.
    pub fn reset(&self) {
        if let Ok(mut pool) = self.pool.try_lock() {
            *pool = DescriptorPool::new();
        }
    }

    /// `package.Service/Method` with `params` as its request message.
    pub async fn call(&self, method: &str, params: Option<&Value>, timeout: Duration) -> Call {
        let request = params.map_or_else(|| "{}".to_string(), Value::to_string);
        let fail = |outcome| Call { request: request.clone(), outcome, response: None, latency: None };
        let deadline = tokio::time::Instant::now() + timeout;
        let described = tokio::time::timeout_at(deadline, self.method(method)).await;
        let method_desc = match described {
            Err(_) => return fail(Outcome::Timeout(timeout)),
            Ok(Err(outcome)) => return fail(outcome),
            Ok(Ok(m)) => m,
        };
        let input = params.cloned().unwrap_or_else(|| Value::Object(Default::default()));
        let message = match DynamicMessage::deserialize(method_desc.input(), input) {
            Ok(m) => m,
            Err(e) => {
                return fail(Outcome::Transport(format!(
                    "the params do not fit {}: {e}",
                    method_desc.input().full_name()
                )));
            }
        };
        let path = format!("/{}/{}", method_desc.parent_service().full_name(), method_desc.name());
        let Ok(path) = path.parse::<tonic::codegen::http::uri::PathAndQuery>() else {
            return fail(Outcome::Transport(format!("not a method path: {path}")));
        };
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        let codec = DynamicCodec { output: method_desc.output() };
        let start = Instant::now();
        let called = tokio::time::timeout_at(deadline, async {
            grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
            grpc.unary(tonic::Request::new(message), path, codec).await
        })
        .await;
        let latency = start.elapsed();
        match called {
            Err(_) => fail(Outcome::Timeout(timeout)),
            Ok(Ok(reply)) => {
                let json = serde_json::to_string(&reply.into_inner())
                    .unwrap_or_else(|e| format!("(unprintable: {e})"));
                Call { request, outcome: Outcome::Ok, response: Some(cap_text(json)), latency: Some(latency) }
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unavailable => Call {
                request,
                outcome: Outcome::Transport(status_text(&status)),
                response: None,
                latency: Some(latency),
            },
            Ok(Err(status)) => Call {
                request,
                outcome: Outcome::RpcError { code: status.code() as i64, message: status_text(&status) },
                response: None,
                latency: Some(latency),
            },
        }
    }

    /// The standard health check: `Ok` when the service is SERVING.
    pub async fn health(&self, service: &str, timeout: Duration) -> Result<(), String> {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let mut client = HealthClient::new(self.channel.clone());
        let asked = client.check(HealthCheckRequest { service: service.to_string() });
        match tokio::time::timeout(timeout, asked).await {
            Err(_) => Err(format!("timeout after {}", crate::text::duration::short_duration(timeout))),
            Ok(Err(status)) => Err(status_text(&status)),
            Ok(Ok(reply)) => match ServingStatus::try_from(reply.into_inner().status) {
                Ok(ServingStatus::Serving) => Ok(()),
                Ok(other) => Err(other.as_str_name().to_string()),
                Err(_) => Err("an unknown serving status".into()),
            },
        }
    }

    /// The method's description, asking the server's reflection the first time.
    async fn method(&self, path: &str) -> Result<MethodDescriptor, Outcome> {
        let (service, name) = path
            .trim_start_matches('/')
            .split_once('/')
            .ok_or_else(|| Outcome::Transport(format!("{path:?} is not package.Service/Method")))?;
        let mut pool = self.pool.lock().await;
        if pool.get_service_by_name(service).is_none() {
            self.learn(&mut pool, service).await?;
        }
        let service_desc = pool.get_service_by_name(service).ok_or_else(|| Outcome::RpcError {
            code: tonic::Code::NotFound as i64,
            message: format!("no service {service} on this server (reflection)"),
        })?;
        service_desc.methods().find(|m| m.name() == name).ok_or_else(|| {
            let known: Vec<String> = service_desc.methods().map(|m| m.name().to_string()).collect();
            Outcome::RpcError {
                code: tonic::Code::Unimplemented as i64,
                message: format!("{service} has no method {name} (it has {})", known.join(", ")),
            }
        })
    }

    /// Fetches the file that defines `symbol` and every file it depends on.
    async fn learn(&self, pool: &mut DescriptorPool, symbol: &str) -> Result<(), Outcome> {
        let mut files = Vec::new();
        let mut wanted = vec![MessageRequest::FileContainingSymbol(symbol.to_string())];
        let mut seen = std::collections::HashSet::new();
        while let Some(ask) = wanted.pop() {
            if files.len() > MAX_FILES {
                return Err(Outcome::Transport("reflection: too many files".into()));
            }
            for bytes in self.reflect(ask).await? {
                let file = prost_types::FileDescriptorProto::decode(bytes.as_slice())
                    .map_err(|e| Outcome::Malformed(format!("reflection: a file descriptor: {e}")))?;
                if !seen.insert(file.name().to_string()) {
                    continue;
                }
                for dependency in &file.dependency {
                    if !seen.contains(dependency) && pool.get_file_by_name(dependency).is_none() {
                        wanted.push(MessageRequest::FileByFilename(dependency.clone()));
                    }
                }
                files.push(file);
            }
        }
        // Dependencies first, as the pool wants them.
        files.reverse();
        let set = prost_types::FileDescriptorSet { file: files };
        pool.add_file_descriptor_set(set)
            .map_err(|e| Outcome::Malformed(format!("reflection: the descriptors do not fit together: {e}")))
    }

    async fn reflect(&self, ask: MessageRequest) -> Result<Vec<Vec<u8>>, Outcome> {
        let mut client = ServerReflectionClient::new(self.channel.clone());
        let request = ServerReflectionRequest { host: String::new(), message_request: Some(ask) };
        let mut replies = client
            .server_reflection_info(tokio_stream_once(request))
            .await
            .map_err(|s| Outcome::Transport(format!("reflection: {}", status_text(&s))))?
            .into_inner();
        let reply = replies
            .message()
            .await
            .map_err(|s| Outcome::Transport(format!("reflection: {}", status_text(&s))))?
            .ok_or_else(|| Outcome::Transport("reflection: no answer".into()))?;
        match reply.message_response {
            Some(MessageResponse::FileDescriptorResponse(files)) => Ok(files.file_descriptor_proto),
            Some(MessageResponse::ErrorResponse(e)) => Err(Outcome::RpcError {
                code: e.error_code as i64,
                message: format!("reflection: {}", e.error_message),
            }),
            _ => Err(Outcome::Malformed("reflection: an unexpected answer".into())),
        }
    }
}

/// A stream of one request (the reflection call is a bidirectional stream).
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> + Send + 'static {
    tonic::codegen::tokio_stream::iter(std::iter::once(item))
}

fn status_text(status: &tonic::Status) -> String {
    let code = format!("{:?}", status.code());
    if status.message().is_empty() { code } else { format!("{code}: {}", status.message()) }
}

/// Messages whose type is known only at run time.
struct DynamicCodec {
    output: MessageDescriptor,
}

struct DynamicEncoder;
struct DynamicDecoder(MessageDescriptor);

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder(self.output.clone())
    }
}

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        item.encode(dst).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, tonic::Status> {
        DynamicMessage::decode(self.0.clone(), src)
            .map(Some)
            .map_err(|e| tonic::Status::internal(e.to_string()))
    }
}
