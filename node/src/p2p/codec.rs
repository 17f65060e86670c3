//! The `/zgvault/keys/1` framing: the payload is an already-encoded `wire` message, written
//! whole and followed by closing the stream, at most [`MAX_MESSAGE_BYTES`] each way.
//!
//! The client crate has a copy of these few lines (`client/src/keys/p2p.rs`): the node must
//! not depend on the client, and `zgvault-proto` stays free of I/O.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::{StreamProtocol, request_response};
use zgvault_proto::wire::MAX_MESSAGE_BYTES;

/// The key protocol's libp2p name.
pub const KEYS_PROTOCOL: StreamProtocol = StreamProtocol::new("/zgvault/keys/1");

/// Raw-bytes request-response codec with the protocol's size limit on every read and write.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeysCodec;

/// A request as read off a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// The encoded request, at most [`MAX_MESSAGE_BYTES`].
    Message(Vec<u8>),
    /// The peer sent more than [`MAX_MESSAGE_BYTES`]; the rest was not read. Answered with
    /// `TOO_LARGE` without reaching the handler.
    TooLarge,
}

impl request_response::Codec for KeysCodec {
    type Protocol = StreamProtocol;
    type Request = Inbound;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Inbound>
    where
        T: AsyncRead + Unpin + Send,
    {
        match read_limited(io).await {
            Ok(bytes) => Ok(Inbound::Message(bytes)),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => Ok(Inbound::TooLarge),
            Err(e) => Err(e),
        }
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_limited(io).await
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
            Inbound::Message(bytes) => write_limited(io, &bytes).await,
            Inbound::TooLarge => Err(io::Error::new(
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
        write_limited(io, &response).await
    }
}

/// Reads to the end of the stream, refusing more than [`MAX_MESSAGE_BYTES`]; one byte more
/// is read to tell "exactly the limit" from "over it" (a bare `take(MAX)` would silently
/// truncate).
async fn read_limited<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    io.take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message larger than {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

async fn write_limited<T: AsyncWrite + Unpin + Send>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "message of {} bytes exceeds {MAX_MESSAGE_BYTES}",
                bytes.len()
            ),
        ));
    }
    io.write_all(bytes).await
}

#[cfg(test)]
mod tests {
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

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
