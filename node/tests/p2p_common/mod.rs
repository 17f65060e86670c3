//! A node under test and minimal libp2p clients that can also misbehave.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::{
    collections::HashMap,
    io,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, SwarmBuilder, noise,
    request_response::{self, OutboundRequestId, ProtocolSupport},
    swarm::SwarmEvent,
    tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};
use zgvault_node::p2p::{KEYS_PROTOCOL, P2pHandle, P2pLimits, RequestHandler, start};

/// Starts a node on 127.0.0.1/tcp/0; sending on the returned sender stops it.
pub async fn start_node<H: RequestHandler>(
    handler: H,
    limits: P2pLimits,
) -> (P2pHandle, oneshot::Sender<()>) {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let handle = start(
        libp2p::identity::Keypair::generate_ed25519(),
        vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        vec![],
        handler,
        limits,
        async move {
            let _ = stop_rx.await;
        },
    )
    .await
    .unwrap();
    (handle, stop_tx)
}

/// How a test client writes its requests.
#[derive(Clone)]
pub enum Mode {
    /// Like a real client (a 1 MiB read cap on answers).
    Normal,
    /// Writes requests of any size.
    Unlimited,
    /// Opens the stream, flushes the protocol negotiation, reports on the sender, then never
    /// writes.
    Stall(Arc<Mutex<Option<oneshot::Sender<()>>>>),
}

#[derive(Clone)]
struct TestCodec(Mode);

impl request_response::Codec for TestCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
    ) -> io::Result<Vec<u8>> {
        Err(io::Error::other("test clients take no requests"))
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        io.take(1 << 20).read_to_end(&mut bytes).await?;
        Ok(bytes)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Vec<u8>,
    ) -> io::Result<()> {
        if let Mode::Stall(signal) = &self.0 {
            io.flush().await?;
            if let Some(tx) = signal.lock().unwrap().take() {
                let _ = tx.send(());
            }
            std::future::pending::<()>().await;
        }
        io.write_all(&request).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()> {
        Err(io::Error::other("test clients send no responses"))
    }
}

type Reply = oneshot::Sender<Result<Vec<u8>, String>>;

/// A client swarm driven by its own task; `request` sends one request and waits for the answer.
#[derive(Clone)]
pub struct TestClient {
    pub peer_id: PeerId,
    commands: mpsc::Sender<(PeerId, Vec<Multiaddr>, Vec<u8>, Reply)>,
}

impl TestClient {
    pub fn start(mode: Mode) -> Self {
        let mut swarm: Swarm<request_response::Behaviour<TestCodec>> =
            SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(
                    tcp::Config::default(),
                    noise::Config::new,
                    yamux::Config::default,
                )
                .unwrap()
                .with_behaviour(|_| {
                    request_response::Behaviour::with_codec(
                        TestCodec(mode),
                        [(KEYS_PROTOCOL, ProtocolSupport::Outbound)],
                        request_response::Config::default()
                            .with_request_timeout(Duration::from_secs(60)),
                    )
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
                .build();
        let peer_id = *swarm.local_peer_id();
        let (commands, mut rx) = mpsc::channel::<(PeerId, Vec<Multiaddr>, Vec<u8>, Reply)>(8);
        tokio::spawn(async move {
            let mut pending: HashMap<OutboundRequestId, Reply> = HashMap::new();
            loop {
                tokio::select! {
                    command = rx.recv() => {
                        let Some((peer, addrs, body, reply)) = command else { return };
                        let id = swarm.behaviour_mut().send_request_with_addresses(&peer, body, addrs);
                        pending.insert(id, reply);
                    }
                    event = swarm.select_next_some() => match event {
                        SwarmEvent::Behaviour(request_response::Event::Message {
                            message: request_response::Message::Response { request_id, response },
                            ..
                        }) => {
                            if let Some(reply) = pending.remove(&request_id) {
                                let _ = reply.send(Ok(response));
                            }
                        }
                        SwarmEvent::Behaviour(request_response::Event::OutboundFailure {
                            request_id, error, ..
                        }) => {
                            if let Some(reply) = pending.remove(&request_id) {
                                let _ = reply.send(Err(error.to_string()));
                            }
                        }
                        _ => {}
                    },
                }
            }
        });
        Self { peer_id, commands }
    }

    pub async fn request(&self, node: &P2pHandle, body: Vec<u8>) -> Result<Vec<u8>, String> {
        self.request_to((node.peer_id(), node.listen_addrs().to_vec()), body)
            .await
    }

    pub async fn request_to(
        &self,
        (peer, addrs): (PeerId, Vec<Multiaddr>),
        body: Vec<u8>,
    ) -> Result<Vec<u8>, String> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send((peer, addrs, body, reply))
            .await
            .unwrap();
        answer.await.unwrap()
    }
}
