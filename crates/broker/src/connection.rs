//! One client connection: read size-prefixed frames, dispatch each in
//! arrival order, write responses in the same order.
//!
//! Reading and writing are decoupled: the reader dispatches request N+1
//! while request N's response is still pending (an fsync, a long poll), which
//! lets a client pipeline produce requests; a bounded channel of pending
//! responses caps how far ahead it can get. A frame that cannot be decoded
//! closes this connection only.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc};

use crate::broker::Broker;
use crate::codec::Reply;
use crate::dispatch::{dispatch_from, ResponseFuture};

/// Responses that may be pending at once per connection. An acks=all
/// producer with linger 0 at 10,000 records/s keeps ~80 requests waiting on
/// an 8 ms fsync; a cap below that stalls reading and shows up as latency.
const MAX_IN_FLIGHT: usize = 1024;

pub struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    broker: Arc<Broker>,
    shutdown: broadcast::Receiver<()>,
}

impl Connection {
    pub fn new(
        socket: TcpStream,
        peer: SocketAddr,
        broker: Arc<Broker>,
        shutdown: broadcast::Receiver<()>,
    ) -> Self {
        Connection {
            socket,
            peer,
            broker,
            shutdown,
        }
    }

    pub async fn run(mut self) {
        let (mut reader, writer) = self.socket.into_split();
        let (tx, rx) = mpsc::channel::<ResponseFuture>(MAX_IN_FLIGHT);
        let writer_task = tokio::spawn(write_responses(writer, rx));
        let max_frame = self.broker.config.max_request_bytes;
        let idle = std::time::Duration::from_millis(self.broker.config.connections_max_idle_ms);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let peer = self.peer;
        // The budget bytes of the frame being read (request_budget).
        let mut reserved = None;
        loop {
            // Take every complete frame already buffered.
            loop {
                match next_frame(&mut buf, max_frame) {
                    Ok(Some(frame)) => match dispatch_from(&self.broker, frame, Some(peer)).await {
                        Ok(resp) => {
                            // Dispatched: the request's bytes are released.
                            reserved = None;
                            if tx.send(resp).await.is_err() {
                                return; // writer gone: the peer closed
                            }
                        }
                        Err(e) => {
                            tracing::warn!(%peer, error = %e, "closing connection after bad request");
                            drop(tx);
                            let _ = writer_task.await;
                            return;
                        }
                    },
                    Ok(None) => break,
                    Err(reason) => {
                        tracing::warn!(%peer, reason, "closing connection after bad frame");
                        drop(tx);
                        let _ = writer_task.await;
                        return;
                    }
                }
            }
            // A frame is coming whose body is not all here: reserve its
            // bytes in the broker's budget before buffering more of it.
            if let (None, Some(size)) = (&reserved, pending_frame_size(&buf)) {
                tokio::select! {
                    r = self.broker.request_budget.reserve(4 + size) => reserved = Some(r),
                    _ = self.shutdown.recv() => break,
                }
                buf.reserve((4 + size).saturating_sub(buf.len()));
            }
            tokio::select! {
                read = reader.read_buf(&mut buf) => match read {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "read failed");
                        break;
                    }
                },
                // Requests still in flight are answered before the close.
                _ = tokio::time::sleep(idle) => {
                    tracing::debug!(%peer, idle_ms = idle.as_millis() as u64, "closing idle connection");
                    break;
                }
                _ = self.shutdown.recv() => break,
            }
        }
        // Let already dispatched requests finish and be answered.
        drop(tx);
        let _ = writer_task.await;
    }
}

/// Splits one frame off `buf` if it is complete. Sizes are checked before
/// anything is allocated for them: a negative or oversized size is refused.
fn next_frame(buf: &mut BytesMut, max_frame: usize) -> Result<Option<bytes::Bytes>, String> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < 0 {
        return Err(format!("negative frame size {size}"));
    }
    let size = size as usize;
    if size > max_frame {
        return Err(format!(
            "frame of {size} bytes exceeds the {max_frame}-byte limit"
        ));
    }
    if buf.len() < 4 + size {
        // The caller grows the buffer once the bytes are reserved.
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(size).freeze()))
}

/// The size of the frame at the front of `buf`, once its size is there
/// (already checked by `next_frame`).
fn pending_frame_size(buf: &BytesMut) -> Option<usize> {
    let size = i32::from_be_bytes(buf.get(..4)?.try_into().ok()?);
    usize::try_from(size).ok()
}

async fn write_responses(writer: OwnedWriteHalf, mut rx: mpsc::Receiver<ResponseFuture>) {
    let mut writer = BufWriter::with_capacity(64 * 1024, writer);
    while let Some(mut pending) = rx.recv().await {
        // A response that is not ready yet (fsync, long poll) must not hold
        // back the ones already buffered: flush them before waiting.
        let out = match poll_once(&mut pending).await {
            Some(out) => out,
            None => {
                if writer.flush().await.is_err() {
                    return;
                }
                pending.await
            }
        };
        match out {
            Reply::Send(bytes) => {
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Reply::Silent => {}
            Reply::Close => break,
        }
        // Flush once no further response is queued, batching small writes.
        if rx.is_empty() && writer.flush().await.is_err() {
            return;
        }
    }
    let _ = writer.flush().await;
}

/// Polls a future once: its output if it is ready now, None otherwise (the
/// future stays registered with its waker and can be awaited afterwards).
async fn poll_once<T>(
    fut: &mut std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>,
) -> Option<T> {
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_split_only_when_complete() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 1, 2][..]);
        assert_eq!(next_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(&[3, 0, 0]);
        assert_eq!(
            next_frame(&mut buf, 100).unwrap().unwrap().as_ref(),
            &[1, 2, 3]
        );
        assert_eq!(buf.as_ref(), &[0, 0]);
    }

    #[test]
    fn negative_and_oversized_sizes_are_refused() {
        let mut neg = BytesMut::from(&(-1i32).to_be_bytes()[..]);
        assert!(next_frame(&mut neg, 100).is_err());
        let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(next_frame(&mut huge, 100).is_err());
    }
}
