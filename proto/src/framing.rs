//! The `/zgvault/keys/1` stream framing, the one definition node and client share (feature
//! `p2p-framing`).
//!
//! A stream carries one message each way: the already-encoded `wire` bytes, written whole,
//! then the writer closes its half of the stream (libp2p's request-response does that after
//! the codec's write). There is no length prefix: a reader reads to the end of the stream, at
//! most [`MAX_MESSAGE_BYTES`], and one byte more to tell "exactly the limit" from "over it"
//! (a bare `take(MAX)` would silently truncate). Generic over `futures`' `AsyncRead` and
//! `AsyncWrite`, so the crate stays free of any network stack; the libp2p codecs that call
//! these functions live in the node and the client.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::wire::MAX_MESSAGE_BYTES;

/// The key protocol's libp2p name.
pub const KEYS_PROTOCOL_NAME: &str = "/zgvault/keys/1";

/// A message as read off a stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// The encoded message, at most [`MAX_MESSAGE_BYTES`] (possibly empty: the decoder
    /// refuses that, not the framing).
    Message(Vec<u8>),
    /// The peer sent more than [`MAX_MESSAGE_BYTES`]; the rest was not read.
    TooLarge,
}

/// Reads one message: everything up to the end of the stream, refusing more than
/// [`MAX_MESSAGE_BYTES`] ([`Frame::TooLarge`], without reading the rest). A stream that fails
/// before its end is an error, never a shorter message.
pub async fn read_frame<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Frame> {
    let mut bytes = Vec::new();
    io.take(MAX_MESSAGE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await?;
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Ok(Frame::TooLarge);
    }
    Ok(Frame::Message(bytes))
}

/// [`read_frame`] for a side that has no use for an oversized message: more than
/// [`MAX_MESSAGE_BYTES`] is an `InvalidData` error.
pub async fn read_message<T: AsyncRead + Unpin>(io: &mut T) -> io::Result<Vec<u8>> {
    match read_frame(io).await? {
        Frame::Message(bytes) => Ok(bytes),
        Frame::TooLarge => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("message larger than {MAX_MESSAGE_BYTES} bytes"),
        )),
    }
}

/// Writes one message whole; more than [`MAX_MESSAGE_BYTES`] is an `InvalidInput` error and
/// nothing is written. The caller (libp2p) closes the stream after it.
pub async fn write_message<T: AsyncWrite + Unpin>(io: &mut T, bytes: &[u8]) -> io::Result<()> {
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
    use std::{
        pin::Pin,
        task::{Context, Poll},
    };

    use futures::{executor::block_on, io::Cursor};

    use super::*;

    fn read(len: usize) -> io::Result<Frame> {
        block_on(read_frame(&mut Cursor::new(vec![7u8; len])))
    }

    #[test]
    fn empty_stream_is_an_empty_message() {
        assert_eq!(read(0).ok(), Some(Frame::Message(Vec::new())));
        let empty = block_on(read_message(&mut Cursor::new(Vec::new())));
        assert_eq!(empty.ok(), Some(Vec::new()));
    }

    #[test]
    fn reads_up_to_the_limit_and_flags_more() {
        assert_eq!(read(1).ok(), Some(Frame::Message(vec![7])));
        let at_limit = read(MAX_MESSAGE_BYTES).ok();
        assert!(matches!(at_limit, Some(Frame::Message(b)) if b.len() == MAX_MESSAGE_BYTES));
        assert_eq!(read(MAX_MESSAGE_BYTES + 1).ok(), Some(Frame::TooLarge));
        assert_eq!(read(10 * MAX_MESSAGE_BYTES).ok(), Some(Frame::TooLarge));
        let over = block_on(read_message(&mut Cursor::new(vec![
            0u8;
            MAX_MESSAGE_BYTES + 1
        ])));
        assert_eq!(
            over.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::InvalidData)
        );
    }

    #[test]
    fn oversize_stops_reading_one_byte_past_the_limit() {
        let mut io = Cursor::new(vec![7u8; 3 * MAX_MESSAGE_BYTES]);
        assert_eq!(block_on(read_frame(&mut io)).ok(), Some(Frame::TooLarge));
        assert_eq!(io.position(), MAX_MESSAGE_BYTES as u64 + 1);
    }

    /// A stream that yields `data` and then fails, as a connection reset mid-message does.
    struct Truncated {
        data: Vec<u8>,
        at: usize,
    }

    impl AsyncRead for Truncated {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            let rest = &self.data[self.at..];
            if rest.is_empty() {
                return Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()));
            }
            let n = rest.len().min(buf.len());
            buf[..n].copy_from_slice(&rest[..n]);
            self.at += n;
            Poll::Ready(Ok(n))
        }
    }

    #[test]
    fn truncated_stream_is_an_error_not_a_shorter_message() {
        let mut io = Truncated {
            data: vec![1u8; 100],
            at: 0,
        };
        let read = block_on(read_frame(&mut io));
        assert_eq!(
            read.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::ConnectionReset)
        );
    }

    #[test]
    fn writes_the_bytes_as_they_are_and_refuses_oversize() {
        let mut out = Cursor::new(Vec::new());
        block_on(write_message(&mut out, b"\x0a\x02hi")).expect("write");
        assert_eq!(out.into_inner(), b"\x0a\x02hi");
        let mut out = Cursor::new(Vec::new());
        block_on(write_message(&mut out, &[1u8; MAX_MESSAGE_BYTES])).expect("at the limit");
        assert_eq!(out.into_inner().len(), MAX_MESSAGE_BYTES);
        let mut out = Cursor::new(Vec::new());
        let refused = block_on(write_message(&mut out, &[0u8; MAX_MESSAGE_BYTES + 1]));
        assert_eq!(
            refused.map_err(|e| e.kind()).err(),
            Some(io::ErrorKind::InvalidInput)
        );
        assert!(out.into_inner().is_empty());
    }

    #[test]
    fn a_written_message_reads_back_whole() {
        let message: Vec<u8> = (0..=255u8).cycle().take(MAX_MESSAGE_BYTES).collect();
        let mut out = Cursor::new(Vec::new());
        block_on(write_message(&mut out, &message)).expect("write");
        let back = block_on(read_frame(&mut Cursor::new(out.into_inner())));
        assert_eq!(back.ok(), Some(Frame::Message(message)));
    }
}
