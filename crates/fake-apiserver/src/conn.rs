//! Connections the server can cut: a listener whose streams all reset at once when the
//! "connection generation" moves on. This is how a restart looks to clients: every open
//! connection (idle keep-alives, requests in flight, watch streams) is reset (`SO_LINGER` 0, so
//! the peer gets a TCP RST, not a polite FIN), then nothing listens until the server comes back.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Accepts [`Killable`] streams born in the current generation of `generation`.
pub(crate) struct KillableListener {
    pub(crate) inner: TcpListener,
    pub(crate) generation: watch::Receiver<u64>,
}

impl axum::serve::Listener for KillableListener {
    type Io = Killable;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (Killable::new(stream, self.generation.clone()), addr);
                }
                // Too many open files and the like: wait a little, as axum's own listener does.
                Err(e) => {
                    tracing::debug!(error = %e, "fake API server: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that fails every read and write, and resets, once its generation has passed.
pub(crate) struct Killable {
    stream: TcpStream,
    killed: Pin<Box<dyn Future<Output = ()> + Send>>,
    dead: bool,
}

impl Killable {
    fn new(stream: TcpStream, mut generation: watch::Receiver<u64>) -> Self {
        let born = *generation.borrow_and_update();
        Self {
            stream,
            // Also fires when the server is gone (the sender dropped).
            killed: Box::pin(async move {
                let _ = generation.wait_for(|now| *now != born).await;
            }),
            dead: false,
        }
    }

    /// Whether the stream was cut; registers the waker so a cut wakes an idle connection.
    fn cut(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.dead && self.killed.as_mut().poll(cx).is_ready() {
            self.dead = true;
            // Closing with linger 0 sends a reset; an error here only means it is closed already.
            let _ = self.stream.set_zero_linger();
        }
        self.dead
    }
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the fake API server cut the connection",
    )
}

impl AsyncRead for Killable {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cut(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Killable {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.cut(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut(cx) {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut(cx) {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
