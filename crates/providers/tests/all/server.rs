//! A tiny HTTP/1.1 server on 127.0.0.1 that plays scripted raw responses byte for byte, so
//! tests can send exact bodies, wrong content types and cut connections.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One scripted answer.
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    chunks: Vec<Vec<u8>>,
    /// Send the body with chunked transfer encoding (and end it with the last chunk unless
    /// `cut` is set).
    chunked: bool,
    /// Close the connection without finishing the body.
    cut: bool,
    /// Keep the connection open and silent after the chunks.
    hang: bool,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            chunks: vec![body.into()],
            chunked: false,
            cut: false,
            hang: false,
        }
    }

    /// An SSE body, sent in pieces of `size` bytes (chunked), to exercise reassembly.
    pub fn sse(body: &[u8], size: usize) -> Self {
        Reply {
            chunks: body.chunks(size).map(<[u8]>::to_vec).collect(),
            chunked: true,
            ..Reply::new(200, "text/event-stream", Vec::new())
        }
    }

    pub fn without_content_type(mut self) -> Self {
        self.headers.retain(|(name, _)| name != "content-type");
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Ends the connection in the middle of a chunked body.
    pub fn cut(mut self) -> Self {
        self.chunked = true;
        self.cut = true;
        self
    }

    pub fn hang(mut self) -> Self {
        self.hang = true;
        self
    }
}

/// What the server received.
#[derive(Debug)]
pub struct Captured {
    pub method: String,
    pub path: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Captured {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A running server: its address and the requests it received.
pub struct Server {
    pub base_url: String,
    pub requests: mpsc::UnboundedReceiver<Captured>,
}

/// Serves `replies`, one per connection, in order.
pub async fn serve(replies: Vec<Reply>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (sender, requests) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        for reply in replies {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let sender = sender.clone();
            tokio::spawn(async move { answer(socket, reply, sender).await });
        }
    });
    Server {
        base_url: format!("http://127.0.0.1:{port}/v1"),
        requests,
    }
}

/// A base URL where nothing listens.
pub async fn refused_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

async fn answer(mut socket: TcpStream, reply: Reply, sender: mpsc::UnboundedSender<Captured>) {
    let Some(captured) = read_request(&mut socket).await else {
        return;
    };
    let _ = sender.send(captured);

    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if reply.chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else {
        let length: usize = reply.chunks.iter().map(Vec::len).sum();
        head.push_str(&format!("content-length: {length}\r\n"));
    }
    head.push_str("connection: close\r\n\r\n");
    if socket.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    for chunk in &reply.chunks {
        let sent = if reply.chunked {
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(chunk);
            framed.extend_from_slice(b"\r\n");
            socket.write_all(&framed).await
        } else {
            socket.write_all(chunk).await
        };
        if sent.is_err() {
            return;
        }
        let _ = socket.flush().await;
        // Let the client see the pieces as separate reads now and then.
        tokio::task::yield_now().await;
    }
    if reply.hang {
        tokio::time::sleep(Duration::from_secs(60)).await;
        return;
    }
    if reply.chunked && !reply.cut {
        let _ = socket.write_all(b"0\r\n\r\n").await;
    }
    let _ = socket.shutdown().await;
}

async fn read_request(socket: &mut TcpStream) -> Option<Captured> {
    let mut buffer = Vec::new();
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = socket.read(&mut piece).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&piece[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?.to_owned();
    let path = request_line.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = socket.read(&mut piece).await.ok()?;
        if read == 0 {
            break;
        }
        body.extend_from_slice(&piece[..read]);
    }
    Some(Captured {
        method,
        path,
        headers,
        body,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        _ => "Status",
    }
}
