//! A minimal libp2p requester for `/zgvault/keys/1`: dial a node, send one encoded request,
//! read one encoded answer.
//!
//! The node's transport lives in `zgvault-node` (`node/src/p2p/`), which this crate must not
//! depend on. What both sides must agree on, the protocol name and the framing (the raw
//! protobuf bytes, the stream closed after them, at most `MAX_MESSAGE_BYTES` each way), is
//! `zgvault_proto::framing`. Everything else here is plain libp2p.
//!
//! Shape (libp2p file-sharing example): a cloneable [`P2pRequester`] handle sends commands
//! over a bounded channel to one event loop that owns the swarm; answers come back through
//! a oneshot kept in a map keyed by the request id. The loop ends when every handle is
//! dropped, which cancels whatever is still in flight.

use std::{collections::HashMap, io, time::Duration};

use futures::{AsyncRead, AsyncWrite, StreamExt};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise,
    request_response::{self, OutboundRequestId, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};
use zgvault_proto::framing::{self, KEYS_PROTOCOL_NAME};

use super::FailureKind;
use crate::error::Error;

/// The key protocol's libp2p name.
pub const KEYS_PROTOCOL: StreamProtocol = StreamProtocol::new(KEYS_PROTOCOL_NAME);
/// Commands queued to the event loop before senders wait.
pub const P2P_COMMAND_QUEUE: usize = 64;
/// How long an idle connection to a node is kept.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A handle to a libp2p swarm with a fresh identity that asks nodes for key shares.
#[derive(Clone, Debug)]
pub struct P2pRequester {
    commands: mpsc::Sender<Command>,
    local_peer_id: PeerId,
}

impl P2pRequester {
    /// Starts a swarm (ephemeral Ed25519 identity, TCP + Noise + Yamux) on the current tokio
    /// runtime. `request_timeout` bounds each request once its stream is open.
    pub fn start(request_timeout: Duration) -> Result<Self, Error> {
        let setup = |_| Error::Internal {
            what: "libp2p transport setup",
        };
        let swarm = SwarmBuilder::with_new_identity()
            .with_tokio()
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(setup)?
            .with_behaviour(|_| {
                request_response::Behaviour::<KeysCodec>::new(
                    [(KEYS_PROTOCOL, ProtocolSupport::Outbound)],
                    request_response::Config::default().with_request_timeout(request_timeout),
                )
            })
            .map_err(|_| Error::Internal {
                what: "libp2p behaviour setup",
            })?
            .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT))
            .build();
        let local_peer_id = *swarm.local_peer_id();
        let (commands, receiver) = mpsc::channel(P2P_COMMAND_QUEUE);
        let event_loop = EventLoop {
            swarm,
            commands: receiver,
            pending: HashMap::new(),
        };
        tokio::spawn(event_loop.run());
        Ok(Self {
            commands,
            local_peer_id,
        })
    }

    /// This requester's (ephemeral) peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// Sends `request` to `peer` (dialled at `addr` if not connected) and returns its answer.
    pub async fn request(
        &self,
        peer: PeerId,
        addr: Multiaddr,
        request: Vec<u8>,
    ) -> Result<Vec<u8>, FailureKind> {
        let stopped = || FailureKind::Unreachable {
            message: "the libp2p requester stopped".into(),
        };
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command {
                peer,
                addr,
                request,
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// One request to send.
#[derive(Debug)]
struct Command {
    peer: PeerId,
    addr: Multiaddr,
    request: Vec<u8>,
    reply: oneshot::Sender<Result<Vec<u8>, FailureKind>>,
}

/// Owns the swarm; one `select!` over swarm events and commands.
struct EventLoop {
    swarm: Swarm<request_response::Behaviour<KeysCodec>>,
    commands: mpsc::Receiver<Command>,
    /// Requests in flight, answered when their response or failure arrives.
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Vec<u8>, FailureKind>>>,
}

impl EventLoop {
    async fn run(mut self) {
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    // Every handle dropped: nobody waits for answers any more.
                    None => return,
                },
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let Command {
            peer,
            addr,
            request,
            reply,
        } = command;
        let id = self
            .swarm
            .behaviour_mut()
            .send_request_with_addresses(&peer, request, vec![addr]);
        self.pending.insert(id, reply);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<request_response::Event<Vec<u8>, Vec<u8>>>) {
        match event {
            SwarmEvent::Behaviour(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        request_id,
                        response,
                    },
                ..
            }) => self.answer(request_id, Ok(response)),
            SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                request_id,
                error,
                ..
            }) => {
                let kind = match error {
                    request_response::OutboundFailure::Timeout => FailureKind::Unreachable {
                        message: "libp2p request timed out".into(),
                    },
                    other => FailureKind::Unreachable {
                        message: other.to_string(),
                    },
                };
                self.answer(request_id, Err(kind));
            }
            other => tracing::trace!(target: "client::keys::p2p", ?other, "swarm event"),
        }
    }

    fn answer(&mut self, id: OutboundRequestId, result: Result<Vec<u8>, FailureKind>) {
        if let Some(reply) = self.pending.remove(&id) {
            // The asker may have given up (timeout, enough shares): nothing to do then.
            let _ = reply.send(result);
        }
    }
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

/// Raw-bytes codec for `/zgvault/keys/1`: the payload is already an encoded wire message; the
/// writer closes the stream after it (framing: `zgvault_proto::framing`).
#[derive(Clone, Copy, Debug, Default)]
pub struct KeysCodec;

impl request_response::Codec for KeysCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        framing::read_message(io).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        framing::read_message(io).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        framing::write_message(io, &req).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        framing::write_message(io, &res).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;
    use zgvault_proto::wire::MAX_MESSAGE_BYTES;

    use super::*;

    #[tokio::test]
    async fn answers_over_the_limit_are_refused() {
        let mut at_limit = Cursor::new(vec![1u8; MAX_MESSAGE_BYTES]);
        let read = KeysCodec.read_response(&KEYS_PROTOCOL, &mut at_limit).await;
        assert_eq!(read.map(|b| b.len()).ok(), Some(MAX_MESSAGE_BYTES));
        let mut over = Cursor::new(vec![1u8; MAX_MESSAGE_BYTES + 1]);
        let read = KeysCodec.read_response(&KEYS_PROTOCOL, &mut over).await;
        assert!(read.is_err());
        let mut out = Cursor::new(Vec::new());
        let write = KeysCodec
            .write_request(&KEYS_PROTOCOL, &mut out, vec![0; MAX_MESSAGE_BYTES + 1])
            .await;
        assert!(write.is_err());
    }
}
