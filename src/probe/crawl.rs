//! `--http-probe-crawl`: follow the `href` and `src` links of HTML pages on
//! the same host, breadth first, so a static site's pages, styles and
//! images are all opened while the sensor records (and are all kept).

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;

use super::http::{self, HttpAnswer, Reply, Request};
use super::steps::STEP_TIMEOUT;

#[derive(Debug, Clone, Copy)]
pub struct CrawlLimits {
    /// Links followed from the start page: 1 fetches what `/` links to.
    pub depth: usize,
    /// Pages fetched in all, the start page included.
    pub pages: usize,
}

/// Fetches `/` and what it links to on the same host; every fetched path
/// with its answer, in the order fetched. Unanswered links are skipped.
pub async fn crawl(addr: SocketAddr, limits: CrawlLimits) -> Vec<(String, HttpAnswer)> {
    let origins = [
        format!("127.0.0.1:{}", addr.port()),
        format!("localhost:{}", addr.port()),
    ];
    let mut seen = BTreeSet::from(["/".to_string()]);
    let mut queue = VecDeque::from([("/".to_string(), 0usize)]);
    let mut fetched = Vec::new();
    while let Some((path, depth)) = queue.pop_front() {
        if fetched.len() >= limits.pages {
            break;
        }
        let Ok(Reply::Http(answer)) = http::send(addr, &Request::get(&path), STEP_TIMEOUT).await
        else {
            continue;
        };
        if depth < limits.depth && is_html(&answer) {
            let html = String::from_utf8_lossy(&answer.body);
            for link in links(&html) {
                if let Some(target) = same_origin_path(&path, &link, &origins) {
                    if seen.insert(target.clone()) {
                        queue.push_back((target, depth + 1));
                    }
                }
            }
        }
        fetched.push((path, answer));
    }
    fetched
}

fn is_html(answer: &HttpAnswer) -> bool {
    answer.status < 400
        && answer
            .header("content-type")
            .is_some_and(|t| t.to_ascii_lowercase().contains("html"))
}

/// The values of `href` and `src` attributes, quoted or not.
pub fn links(html: &str) -> Vec<String> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    for attribute in ["href", "src"] {
        for (at, _) in lower.match_indices(attribute) {
            let before = lower[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_ascii_whitespace()) {
                continue;
            }
            let rest = html[at + attribute.len()..].trim_start();
            let Some(value) = rest.strip_prefix('=').map(str::trim_start) else {
                continue;
            };
            let link = match value.chars().next() {
                Some(quote @ ('"' | '\'')) => value[1..].split(quote).next(),
                _ => value
                    .split(|c: char| c.is_ascii_whitespace() || c == '>')
                    .next(),
            };
            if let Some(link) = link.filter(|l| !l.is_empty()) {
                found.push(link.replace("&amp;", "&"));
            }
        }
    }
    found
}

/// The path (and query) a link on page `base` points to, when it stays on
/// one of `origins` (`host:port`); `None` for other hosts and schemes.
pub fn same_origin_path(base: &str, link: &str, origins: &[String]) -> Option<String> {
    let link = link.split('#').next().unwrap_or("").trim();
    if link.is_empty() {
        return None;
    }
    let after_origin = |rest: &str| -> Option<String> {
        let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(authority))
            .then(|| format!("/{}", path.trim_start_matches('/')))
    };
    let joined = if let Some(rest) = link.strip_prefix("//") {
        after_origin(rest)?
    } else if let Some(rest) = strip_prefix_ignore_case(link, "http://") {
        after_origin(rest)?
    } else if link
        .split(['/', '?'])
        .next()
        .is_some_and(|first| first.contains(':'))
    {
        // mailto:, javascript:, https: (another origin by definition), data:
        return None;
    } else if link.starts_with('/') {
        link.to_string()
    } else if link.starts_with('?') {
        format!("{}{link}", base.split('?').next().unwrap_or(base))
    } else {
        let base_path = base.split('?').next().unwrap_or(base);
        let dir = &base_path[..=base_path.rfind('/').unwrap_or(0)];
        format!("{dir}{link}")
    };
    Some(normalise(&joined))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Resolves `.` and `..` segments of an absolute path; keeps the query.
fn normalise(path: &str) -> String {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let mut segments: Vec<&str> = Vec::new();
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if trailing && out != "/" {
        out.push('/');
    }
    if let Some(query) = query {
        out = format!("{out}?{query}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_links_in_html() {
        let html = r#"<link rel="stylesheet" href="/css/site.css"><IMG SRC='img/a.png' alt=x>
            <a href=plain.html>p</a><a data-href="/no">n</a><a href="/q?a=1&amp;b=2#top">q</a>"#;
        assert_eq!(
            links(html),
            ["/css/site.css", "plain.html", "/q?a=1&b=2#top", "img/a.png"]
        );
    }

    #[test]
    fn keeps_links_on_the_same_host_only() {
        let origins = ["127.0.0.1:4000".to_string(), "localhost:4000".to_string()];
        let resolve = |base: &str, link: &str| same_origin_path(base, link, &origins);
        assert_eq!(
            resolve("/pages/about.html", "faq.html").unwrap(),
            "/pages/faq.html"
        );
        assert_eq!(
            resolve("/pages/about.html", "../css/site.css").unwrap(),
            "/css/site.css"
        );
        assert_eq!(resolve("/pages/", "./a/../b/").unwrap(), "/pages/b/");
        assert_eq!(resolve("/list?page=1", "?page=2").unwrap(), "/list?page=2");
        assert_eq!(resolve("/", "http://127.0.0.1:4000/x#frag").unwrap(), "/x");
        assert_eq!(resolve("/", "//localhost:4000").unwrap(), "/");
        assert_eq!(resolve("/", "http://example.com/x"), None);
        assert_eq!(resolve("/", "http://127.0.0.1:4001/x"), None);
        assert_eq!(resolve("/", "https://127.0.0.1:4000/x"), None);
        assert_eq!(resolve("/", "mailto:a@b.c"), None);
        assert_eq!(resolve("/", "#top"), None);
        assert_eq!(resolve("/a/b", "../../../x").unwrap(), "/x");
    }

    #[tokio::test]
    async fn crawls_a_small_site_within_its_limits() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 2048];
                let n = socket.read(&mut buf).await.unwrap();
                let request = String::from_utf8_lossy(&buf[..n]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = match path.as_str() {
                    "/" => r#"<a href="/a.html">a</a> <a href="http://example.com/">x</a>"#,
                    "/a.html" => r#"<a href="b.html">b</a><a href="/">home</a>"#,
                    "/b.html" => r#"<a href="c.html">c</a>"#,
                    _ => "deep",
                };
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(reply.as_bytes()).await.unwrap();
            }
        });
        let paths = |found: Vec<(String, HttpAnswer)>| {
            found.into_iter().map(|(p, _)| p).collect::<Vec<_>>()
        };
        let all = crawl(
            addr,
            CrawlLimits {
                depth: 5,
                pages: 100,
            },
        )
        .await;
        assert_eq!(paths(all), ["/", "/a.html", "/b.html", "/c.html"]);
        let shallow = crawl(
            addr,
            CrawlLimits {
                depth: 1,
                pages: 100,
            },
        )
        .await;
        assert_eq!(paths(shallow), ["/", "/a.html"]);
        let few = crawl(addr, CrawlLimits { depth: 5, pages: 3 }).await;
        assert_eq!(paths(few), ["/", "/a.html", "/b.html"]);
    }
}
