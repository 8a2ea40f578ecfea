//! A deliberately small HTTP/1.1 client over a TCP stream: enough to probe
//! an app and to compare answers byte for byte, with no connection pooling
//! or redirects to hide what the server really said.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response body read; larger bodies are cut (and say so).
const MAX_RESPONSE_BYTES: usize = 16 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What came back from a port asked for HTTP.
#[derive(Debug)]
pub enum Reply {
    Http(HttpAnswer),
    /// Bytes came back, but not HTTP: another protocol listens there.
    NotHttp(Vec<u8>),
    /// The connection closed without a byte (docker-proxy with nothing behind, or a picky server).
    Closed,
}

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub fn get(path: &'a str) -> Self {
        Request {
            method: "GET",
            path,
            headers: &[],
            body: &[],
        }
    }
}

pub async fn send(
    addr: SocketAddr,
    request: &Request<'_>,
    timeout: Duration,
) -> std::io::Result<Reply> {
    tokio::time::timeout(timeout, exchange(addr, request))
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ))
        })
}

async fn exchange(addr: SocketAddr, request: &Request<'_>) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: rslim-probe\r\nAccept: */*\r\nConnection: close\r\n",
        request.method, request.path, addr
    );
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !request.body.is_empty() || request.method != "GET" {
        head.push_str(&format!("Content-Length: {}\r\n", request.body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(request.body).await?;
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..read]);
        // Decided by the first bytes: a server that answers (or greets first,
        // like MySQL or SMTP) with anything but `HTTP/` speaks another
        // protocol, and may keep the connection open forever.
        if !could_be_http(&raw) {
            return Ok(Reply::NotHttp(raw));
        }
        if raw.len() >= MAX_RESPONSE_BYTES {
            raw.truncate(MAX_RESPONSE_BYTES);
            break;
        }
    }
    Ok(parse_reply(&raw))
}

/// Whether `start` (the first bytes of an answer) can still begin an HTTP response.
fn could_be_http(start: &[u8]) -> bool {
    const PREFIX: &[u8] = b"HTTP/";
    let n = start.len().min(PREFIX.len());
    start[..n] == PREFIX[..n]
}

/// Parses a whole response as read until the server closed the connection.
pub fn parse_reply(raw: &[u8]) -> Reply {
    if raw.is_empty() {
        return Reply::Closed;
    }
    if !raw.starts_with(b"HTTP/") {
        return Reply::NotHttp(raw.to_vec());
    }
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Reply::NotHttp(raw.to_vec());
    };
    let head = String::from_utf8_lossy(&raw[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    let Some(status) = status else {
        return Reply::NotHttp(raw.to_vec());
    };
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[head_end + 4..];
    let mut answer = HttpAnswer {
        status,
        headers,
        body: Vec::new(),
    };
    answer.body = if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        dechunk(rest)
    } else if let Some(length) = answer
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        rest[..length.min(rest.len())].to_vec()
    } else {
        rest.to_vec()
    };
    Reply::Http(answer)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or(0);
        data = &data[line_end + 2..];
        if size == 0 || size > data.len() {
            break;
        }
        body.extend_from_slice(&data[..size]);
        data = data.get(size + 2..).unwrap_or(&[]);
    }
    body
}

#[cfg(test)]
mod tests {

    #[test]
    fn only_answers_starting_like_http_can_be_http() {
        assert!(could_be_http(b"HT"));
        assert!(could_be_http(b"HTTP/1.1 200 OK"));
        assert!(!could_be_http(b"-ERR unknown command"));
        assert!(!could_be_http(b"J\x00\x00\x00\x0a8.0.36"));
    }

    /// A redis-like server answers an error line and keeps the connection
    /// open: the probe must tell it is not HTTP from that line, long before
    /// its timeout, instead of waiting for a close that never comes.
    #[tokio::test]
    async fn a_server_of_another_protocol_is_recognised_at_its_first_bytes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let _ = socket.read(&mut buffer).await;
            socket
                .write_all(b"-ERR unknown command 'GET'\r\n")
                .await
                .unwrap();
            // Never closes on its own.
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let reply = send(addr, &Request::get("/"), Duration::from_secs(3))
            .await
            .expect("the probe waited for a close instead of reading the first bytes");
        assert!(
            matches!(reply, Reply::NotHttp(ref bytes) if bytes.starts_with(b"-ERR")),
            "{reply:?}"
        );
        server.abort();
    }
    use super::*;

    #[test]
    fn parses_a_content_length_response() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
        let Reply::Http(answer) = parse_reply(raw) else {
            panic!("not http")
        };
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("content-type"), Some("text/plain"));
        assert_eq!(answer.body, b"hello");
    }

    #[test]
    fn parses_a_chunked_response() {
        let raw = b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n6;x=y\r\npedia \r\n0\r\n\r\n";
        let Reply::Http(answer) = parse_reply(raw) else {
            panic!("not http")
        };
        assert_eq!(answer.status, 404);
        assert_eq!(answer.body, b"Wikipedia ");
    }

    #[test]
    fn tells_other_protocols_and_closed_connections_apart() {
        assert!(matches!(
            parse_reply(b"-ERR unknown command 'GET'\r\n"),
            Reply::NotHttp(_)
        ));
        assert!(matches!(parse_reply(b""), Reply::Closed));
        assert!(matches!(
            parse_reply(b"HTTP/1.1 garbage"),
            Reply::NotHttp(_)
        ));
    }

    #[tokio::test]
    async fn talks_to_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let n = socket.read(&mut buf).await.unwrap();
            let request = String::from_utf8_lossy(&buf[..n]).to_string();
            socket
                .write_all(b"HTTP/1.0 200 OK\r\n\r\nbody without length")
                .await
                .unwrap();
            request
        });
        let reply = send(addr, &Request::get("/x?y=1"), Duration::from_secs(5))
            .await
            .unwrap();
        let request = server.await.unwrap();
        assert!(request.starts_with("GET /x?y=1 HTTP/1.1\r\n"), "{request}");
        let Reply::Http(answer) = reply else {
            panic!("not http")
        };
        assert_eq!(answer.body, b"body without length");
    }
}
