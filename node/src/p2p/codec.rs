//! The libp2p codec of `/zgvault/keys/1`: the framing itself (the encoded `wire` message,
//! the stream closed after it, at most `MAX_MESSAGE_BYTES` each way) is
//! `zgvault_proto::framing`, shared with the client.

use std::io;

use futures::{AsyncRead, AsyncWrite};
use libp2p::{StreamProtocol, request_response};
use zgvault_proto::framing::{self, Frame, KEYS_PROTOCOL_NAME};

/// The key protocol's libp2p name.
pub const KEYS_PROTOCOL: StreamProtocol = StreamProtocol::new(KEYS_PROTOCOL_NAME);

/// A request as read off a stream: [`Frame::Message`] (at most `MAX_MESSAGE_BYTES`) or
/// [`Frame::TooLarge`] (the rest was not read; answered with `TOO_LARGE` without reaching
/// the handler).
pub type Inbound = Frame;

/// Raw-bytes request-response codec with the protocol's size limit on every read and write.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeysCodec;

impl request_response::Codec for KeysCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound>
    where
        T: AsyncRead + Unpin + Send,
    {
        framing::read_frame(io).await
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
        request: Inbound,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        match request {
            Frame::Message(bytes) => framing::write_message(io, &bytes).await,
            Frame::TooLarge => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "an oversized request cannot be sent",
            )),
        }
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        framing::write_message(io, &response).await
    }
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;
    use zgvault_proto::wire::MAX_MESSAGE_BYTES;

    use super::*;

    async fn read(len: usize) -> io::Result<Inbound> {
        let mut io = Cursor::new(vec![7u8; len]);
        KeysCodec.read_request(&KEYS_PROTOCOL, &mut io).await
    }

    #[tokio::test]
    async fn reads_up_to_the_limit_and_flags_more() {
        assert_eq!(read(0).await.ok(), Some(Inbound::Message(Vec::new())));
        let at_limit = read(MAX_MESSAGE_BYTES).await.ok();
        assert!(matches!(at_limit, Some(Inbound::Message(b)) if b.len() == MAX_MESSAGE_BYTES));
        assert_eq!(
            read(MAX_MESSAGE_BYTES + 1).await.ok(),
            Some(Inbound::TooLarge)
        );
        assert_eq!(
            read(10 * MAX_MESSAGE_BYTES).await.ok(),
            Some(Inbound::TooLarge)
        );
    }

    #[tokio::test]
    async fn refuses_to_write_more_than_the_limit() {
        let mut io = Cursor::new(Vec::new());
        let too_big = vec![0u8; MAX_MESSAGE_BYTES + 1];
        let written = KeysCodec
            .write_response(&KEYS_PROTOCOL, &mut io, too_big)
            .await;
        assert!(written.is_err());
        assert!(io.into_inner().is_empty());
        let mut io = Cursor::new(Vec::new());
        let refused = KeysCodec
            .write_request(&KEYS_PROTOCOL, &mut io, Inbound::TooLarge)
            .await;
        assert!(refused.is_err());
    }
}
