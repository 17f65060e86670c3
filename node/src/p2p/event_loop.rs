//! The one task that owns the swarm.

use std::{collections::BTreeSet, future::Future, sync::Arc};

use futures::{FutureExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, Swarm,
    core::transport::ListenerId,
    identify, kad,
    request_response::{self, InboundRequestId, ResponseChannel},
    swarm::{SwarmEvent, dial_opts::DialOpts},
};
use tokio::sync::{Semaphore, mpsc, watch};
use zgvault_proto::wire::{ErrorCode, ErrorReply, KeyResponse, MAX_MESSAGE_BYTES, encode_response};

use super::{
    behaviour::{Behaviour, BehaviourEvent, KAD_PROTOCOL},
    codec::Inbound,
    error::P2pError,
    settings::{
        LISTEN_TIMEOUT, MAX_IDENTIFY_ADDRS, P2P_BUSY_RETRY_AFTER_SECS, P2pLimits, RequestHandler,
        strip_p2p,
    },
};
use crate::request::Origin;

const TARGET: &str = "zgvault::node::p2p";
/// Swarm events handled without waiting once every listener is bound, to collect the other
/// addresses of wildcard listeners.
const MAX_STARTUP_EVENTS: usize = 64;

/// What a `P2pHandle` asks the loop to do.
#[derive(Debug)]
pub(super) enum Command {
    /// Add a peer to kademlia and dial it.
    AddPeer { peer: PeerId, addr: Multiaddr },
}

/// A handler's finished answer, on its way back to the swarm.
struct Answer {
    peer: PeerId,
    request_id: InboundRequestId,
    channel: ResponseChannel<Vec<u8>>,
    response: Vec<u8>,
}

pub(super) struct EventLoop<H> {
    swarm: Swarm<Behaviour>,
    handler: H,
    limits: P2pLimits,
    /// One permit per request being handled; none left means `RATE_LIMITED`, never a queue.
    permits: Arc<Semaphore>,
    /// Cloned into every handler task; capacity = permits, so a send never waits long.
    answers_tx: mpsc::Sender<Answer>,
    answers: mpsc::Receiver<Answer>,
    commands: mpsc::Receiver<Command>,
    /// Every handle dropped: stop polling the command channel (it would return `None` forever).
    commands_closed: bool,
    /// Peers with at least one connection (at most `max_connections`), for handles to watch.
    peers: watch::Sender<BTreeSet<PeerId>>,
}

impl<H> std::fmt::Debug for EventLoop<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("limits", &self.limits)
            .field("free_permits", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl<H: RequestHandler> EventLoop<H> {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        handler: H,
        limits: P2pLimits,
        commands: mpsc::Receiver<Command>,
        peers: watch::Sender<BTreeSet<PeerId>>,
    ) -> Self {
        let slots = limits.max_concurrent_requests.max(1);
        let (answers_tx, answers) = mpsc::channel(slots);
        Self {
            swarm,
            handler,
            limits,
            permits: Arc::new(Semaphore::new(limits.max_concurrent_requests)),
            answers_tx,
            answers,
            commands,
            commands_closed: false,
            peers,
        }
    }

    /// Polls the swarm until every listener has reported a bound address; other events are
    /// handled as usual meanwhile.
    pub(super) async fn wait_listening(
        &mut self,
        listeners: Vec<(ListenerId, Multiaddr)>,
    ) -> Result<Vec<Multiaddr>, P2pError> {
        let mut bound: Vec<Multiaddr> = Vec::new();
        let mut waiting = listeners;
        while let Some((_, first)) = waiting.first() {
            let timeout = || P2pError::ListenTimeout {
                addr: first.clone(),
                secs: LISTEN_TIMEOUT.as_secs(),
            };
            let event = tokio::time::timeout(LISTEN_TIMEOUT, self.swarm.select_next_some())
                .await
                .map_err(|_| timeout())?;
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    waiting.retain(|(id, _)| *id != listener_id);
                    bound.push(address);
                }
                SwarmEvent::ListenerClosed {
                    listener_id,
                    reason,
                    ..
                } if waiting.iter().any(|(id, _)| *id == listener_id) => {
                    let addr = listener_addr(&waiting, listener_id);
                    let message = match reason {
                        Ok(()) => "listener closed".to_owned(),
                        Err(e) => e.to_string(),
                    };
                    return Err(P2pError::Listen { addr, message });
                }
                SwarmEvent::ListenerError { listener_id, error }
                    if waiting.iter().any(|(id, _)| *id == listener_id) =>
                {
                    let addr = listener_addr(&waiting, listener_id);
                    return Err(P2pError::Listen {
                        addr,
                        message: error.to_string(),
                    });
                }
                other => self.on_swarm_event(other),
            }
        }
        // A wildcard listener reports one address per interface, usually in one batch: take
        // the ones already there too (a bounded number of events, without waiting).
        for _ in 0..MAX_STARTUP_EVENTS {
            match self.swarm.next().now_or_never() {
                Some(Some(SwarmEvent::NewListenAddr { address, .. })) => bound.push(address),
                Some(Some(other)) => self.on_swarm_event(other),
                Some(None) | None => break,
            }
        }
        Ok(bound)
    }

    /// Serves until `shutdown` completes. Local work first (`biased`): finished answers go out
    /// before new remote work is taken in.
    pub(super) async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                Some(answer) = self.answers.recv() => self.on_answer(answer),
                command = self.commands.recv(), if !self.commands_closed => match command {
                    Some(command) => self.on_command(command),
                    None => self.commands_closed = true,
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
            }
        }
        tracing::info!(target: TARGET, "libp2p transport stopped");
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::AddPeer { peer, addr } => {
                let addr = strip_p2p(addr);
                self.swarm
                    .behaviour_mut()
                    .kad
                    .add_address(&peer, addr.clone());
                // With the peer id: the handshake checks it, and a connected peer is not
                // dialled again.
                let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
                if let Err(error) = self.swarm.dial(opts) {
                    tracing::debug!(target: TARGET, %peer, %error, "dial failed");
                }
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Keys(event)) => self.on_keys_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                // Only peers that speak our DHT go into it; at most a few addresses each.
                if info.protocols.contains(&KAD_PROTOCOL) {
                    for addr in info.listen_addrs.into_iter().take(MAX_IDENTIFY_ADDRS) {
                        self.swarm.behaviour_mut().kad.add_address(&peer_id, addr);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated {
                peer, ..
            })) => tracing::debug!(target: TARGET, %peer, "routing table updated"),
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                self.peers.send_if_modified(|peers| peers.insert(peer_id));
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.peers.send_if_modified(|peers| peers.remove(&peer_id));
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(target: TARGET, %address, "libp2p listening");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(target: TARGET, %error, "incoming connection failed");
            }
            other => tracing::trace!(target: TARGET, ?other, "swarm event"),
        }
    }

    fn on_keys_event(&mut self, event: request_response::Event<Inbound, Vec<u8>>) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request_id,
                        request,
                        channel,
                    },
                ..
            } => match request {
                Inbound::Message(request) => self.on_request(peer, request_id, request, channel),
                Inbound::TooLarge => {
                    tracing::debug!(target: TARGET, %peer, %request_id, "oversized request refused");
                    let reply = error_reply(
                        ErrorCode::TooLarge,
                        &format!("request larger than {MAX_MESSAGE_BYTES} bytes"),
                        0,
                    );
                    self.send(peer, request_id, channel, reply);
                }
            },
            request_response::Event::InboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                // Oversized or unreadable requests, timeouts, peers that left: the stream is
                // gone, nothing else is affected.
                tracing::debug!(target: TARGET, %peer, %request_id, %error, "inbound request failed");
            }
            request_response::Event::Message {
                peer,
                message: request_response::Message::Response { .. },
                ..
            } => tracing::debug!(target: TARGET, %peer, "unexpected response ignored"),
            other => tracing::trace!(target: TARGET, ?other, "keys event"),
        }
    }

    fn on_request(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        request: Vec<u8>,
        channel: ResponseChannel<Vec<u8>>,
    ) {
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            tracing::debug!(target: TARGET, %peer, %request_id, "busy: request refused");
            let busy = error_reply(
                ErrorCode::RateLimited,
                "the node is handling too many requests: retry shortly",
                P2P_BUSY_RETRY_AFTER_SECS,
            );
            self.send(peer, request_id, channel, busy);
            return;
        };
        let handler = self.handler.clone();
        let answers = self.answers_tx.clone();
        let timeout = self.limits.request_timeout;
        let origin = Origin {
            transport: "p2p",
            id: peer.to_string(),
        };
        tokio::spawn(async move {
            // The permit is held until the answer is queued, which bounds the queue too.
            let _permit = permit;
            let Ok(response) =
                tokio::time::timeout(timeout, handler.handle_request(origin, request)).await
            else {
                // The stream timed out at the same moment: nobody to answer.
                return;
            };
            let answer = Answer {
                peer,
                request_id,
                channel,
                response,
            };
            // Fails only when the loop has stopped.
            let _ = answers.send(answer).await;
        });
    }

    fn on_answer(&mut self, answer: Answer) {
        let Answer {
            peer,
            request_id,
            channel,
            response,
        } = answer;
        let response = if response.len() > MAX_MESSAGE_BYTES {
            tracing::warn!(target: TARGET, len = response.len(), "answer over the size limit");
            error_reply(ErrorCode::Internal, "the answer exceeded the size limit", 0)
        } else {
            response
        };
        self.send(peer, request_id, channel, response);
    }

    fn send(
        &mut self,
        peer: PeerId,
        request_id: InboundRequestId,
        channel: ResponseChannel<Vec<u8>>,
        response: Vec<u8>,
    ) {
        if self
            .swarm
            .behaviour_mut()
            .keys
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!(target: TARGET, %peer, %request_id, "peer gone before the answer");
        }
    }
}

fn listener_addr(waiting: &[(ListenerId, Multiaddr)], listener_id: ListenerId) -> Multiaddr {
    waiting
        .iter()
        .find(|(id, _)| *id == listener_id)
        .map(|(_, addr)| addr.clone())
        .unwrap_or_else(Multiaddr::empty)
}

fn error_reply(code: ErrorCode, message: &str, retry_after_secs: u32) -> Vec<u8> {
    encode_response(&KeyResponse::Error(ErrorReply::new(
        code,
        message,
        retry_after_secs,
    )))
}
