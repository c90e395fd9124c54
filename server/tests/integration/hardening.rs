//! Hostile clients (issue 16): slow and silent connections are cut off, the
//! connection cap holds, every error is JSON, `/healthz` reports failing
//! writes, plan reads need the token and come in capped pages.

// Slow clients are slow on the wall clock; the pauses are the test.
#![allow(clippy::disallowed_methods)]

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TOKEN, TestServer, json};

const SHORT: &str = "header_timeout_ms = 300\nrequest_timeout_ms = 600\n";

/// `extra` goes into `[server]` (the config's last table is `[apps.*]`).
async fn start(dir: &std::path::Path, server: &str) -> TestServer {
    TestServer::start_with_server(dir, server).await
}

/// Read until the peer closes (or `limit` passes); what was read.
async fn read_to_close(s: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    match tokio::time::timeout(limit, read_all).await {
        Ok(()) => Ok(out),
        Err(_) => Err("the server kept the connection open"),
    }
}

#[tokio::test]
async fn a_client_trickling_its_headers_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), SHORT).await;
    let s = TcpStream::connect(srv.addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    // One header byte every 50 ms, never the blank line: 5 s worth of bytes.
    let trickle = tokio::spawn(async move {
        w.write_all(b"GET /healthz HTTP/1.1\r\n").await.ok();
        for _ in 0..100 {
            if w.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let started = tokio::time::Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a client trickling headers was still connected after 3 s (header timeout 300 ms)"
    );
    assert!(started.elapsed() >= Duration::from_millis(250));
    trickle.abort();
    srv.stop().await;
}

#[tokio::test]
async fn a_silent_client_and_an_idle_keep_alive_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), SHORT).await;
    let mut silent = TcpStream::connect(srv.addr).await.unwrap();
    let got = read_to_close(&mut silent, Duration::from_secs(3)).await;
    assert!(got.is_ok(), "silent client: {got:?}");

    // One request, then silence on the kept-alive connection.
    let mut idle = TcpStream::connect(srv.addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let got = read_to_close(&mut idle, Duration::from_secs(3))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn a_client_trickling_its_body_gets_a_json_408() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), SHORT).await;
    let s = TcpStream::connect(srv.addr).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let trickle = tokio::spawn(async move {
        let head = format!(
            "POST /v1/plans HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        );
        w.write_all(head.as_bytes()).await.ok();
        for _ in 0..100 {
            if w.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let answered = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if got.windows(4).any(|w| w == b"\r\n\r\n") && got.ends_with(b"}") {
                        return;
                    }
                }
            }
        }
    })
    .await;
    trickle.abort();
    let text = String::from_utf8_lossy(&got);
    assert!(answered.is_ok(), "no answer within 3 s: {text}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("content-type: application/json"), "{text}");
    let body = &text[text.find("\r\n\r\n").unwrap() + 4..];
    assert!(json(body.as_bytes())["error"].is_string(), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(
        dir.path(),
        "header_timeout_ms = 10000\nmax_connections = 3\n",
    )
    .await;
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(srv.addr).await.unwrap());
    }
    // The kernel accepts the 4th into the backlog; the server does not serve it.
    let mut fourth = TcpStream::connect(srv.addr).await.unwrap();
    fourth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let early = tokio::time::timeout(Duration::from_millis(500), fourth.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "a 4th connection was served with max_connections = 3"
    );
    drop(silent.pop());
    let got = read_to_close(&mut fourth, Duration::from_secs(3))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    drop(silent);
    srv.stop().await;
}

#[tokio::test]
async fn every_error_is_json() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), "").await;
    let mut s = TcpStream::connect(srv.addr).await.unwrap();
    for req in [
        // A path segment that is not UTF-8 (axum's path rejection).
        format!("GET /v1/plans/%FF HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"),
        // A query string that does not deserialize.
        "GET /v1/decisions?app=%FF HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n".to_string(),
        "GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_string(),
    ] {
        s.write_all(req.as_bytes()).await.unwrap();
    }
    let got = read_to_close(&mut s, Duration::from_secs(5)).await.unwrap();
    let text = String::from_utf8_lossy(&got);
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["400", "400", "405", "404"], "{text}");
    assert_eq!(
        text.matches("content-type: application/json").count(),
        4,
        "{text}"
    );
    assert!(!text.contains("text/plain"), "{text}");
    srv.stop().await;
}

#[tokio::test]
async fn healthz_is_503_while_writes_fail_and_ok_once_they_pass() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), "").await;
    let mut c = srv.client().await;
    let (s, b) = c.get("/healthz").await.unwrap();
    assert_eq!(s.as_u16(), 200);
    assert_eq!(json(&b)["writes"]["ok"], true);
    // Every insert of a plan now fails, as on a full or read-only disk.
    let db = rusqlite::Connection::open(dir.path().join("state.db")).unwrap();
    db.execute_batch(
        "CREATE TRIGGER fail_writes BEFORE INSERT ON plans \
         BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END;",
    )
    .unwrap();
    let plan = r#"{"app":"flight-search","id":"p","steps":[{"at":1800000000000,"replicas":4,"reason":{"kind":"baseline"}}]}"#;
    let (s, b) = c.post("/v1/plans", Some(TOKEN), plan).await.unwrap();
    assert_eq!(s.as_u16(), 503, "{}", String::from_utf8_lossy(&b));
    let (s, b) = c.get("/healthz").await.unwrap();
    let v = json(&b);
    assert_eq!(s.as_u16(), 503, "{v}");
    assert_eq!(v["status"], "failing");
    assert_eq!(v["writes"]["ok"], false);
    assert!(
        v["writes"]["last_error"]
            .as_str()
            .unwrap()
            .contains("disk I/O error (test)"),
        "{v}"
    );
    assert!(v["error"].as_str().unwrap().contains("last write"), "{v}");
    db.execute_batch("DROP TRIGGER fail_writes").unwrap();
    let (s, b) = c.post("/v1/plans", Some(TOKEN), plan).await.unwrap();
    assert_eq!(s.as_u16(), 201, "{}", String::from_utf8_lossy(&b));
    let (s, b) = c.get("/healthz").await.unwrap();
    assert_eq!(s.as_u16(), 200, "{}", String::from_utf8_lossy(&b));
    assert_eq!(json(&b)["writes"]["ok"], true);
    srv.stop().await;
}

fn plan(id: &str) -> String {
    format!(
        r#"{{"app":"flight-search","id":"{id}","steps":[{{"at":1800000000000,"replicas":4,"reason":{{"kind":"baseline"}}}}]}}"#
    )
}

#[tokio::test]
async fn plans_come_in_pages_capped_in_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), "max_page_bytes = 1024\n").await;
    let mut c = srv.client().await;
    let ids: Vec<String> = (0..5).map(|i| format!("plan-{i}")).collect();
    for id in &ids {
        let (s, _) = c.post("/v1/plans", Some(TOKEN), plan(id)).await.unwrap();
        assert_eq!(s.as_u16(), 201);
    }
    // By count: 2 per page, then the rest.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let q = after
            .as_ref()
            .map_or(String::new(), |a| format!("&after={a}"));
        let (s, b) = c
            .get_with_token(&format!("/v1/plans?limit=2{q}"), TOKEN)
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 200);
        let v = json(&b);
        let page = v["plans"].as_array().unwrap();
        assert!(page.len() <= 2, "{v}");
        seen.extend(page.iter().map(|p| p["id"].as_str().unwrap().to_string()));
        match v["next_after"].as_str() {
            Some(a) => after = Some(a.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    // By size: a plan is ~150 bytes of JSON; 1 KiB holds fewer than 100.
    for i in 5..20 {
        let (s, _) = c
            .post("/v1/plans", Some(TOKEN), plan(&format!("plan-{i:02}")))
            .await
            .unwrap();
        assert_eq!(s.as_u16(), 201);
    }
    let (_, b) = c
        .get_with_token("/v1/plans?limit=100", TOKEN)
        .await
        .unwrap();
    let v = json(&b);
    let n = v["plans"].as_array().unwrap().len();
    assert!((1..20).contains(&n), "a 1 KiB page held {n} plans");
    assert!(v["next_after"].is_string(), "{v}");
    let (s, b) = c.get_with_token("/v1/plans?limit=0", TOKEN).await.unwrap();
    assert_eq!(s.as_u16(), 400);
    assert_eq!(json(&b)["field"], "limit");
    srv.stop().await;
}

#[tokio::test]
async fn public_reads_opens_plan_reads_but_not_writes() {
    let dir = tempfile::tempdir().unwrap();
    let srv = start(dir.path(), "public_reads = true\n").await;
    let mut c = srv.client().await;
    let (s, _) = c.get("/v1/plans").await.unwrap();
    assert_eq!(s.as_u16(), 200);
    let (s, _) = c.get("/v1/plans/none").await.unwrap();
    assert_eq!(s.as_u16(), 404);
    let (s, _) = c.post("/v1/plans", None, plan("x")).await.unwrap();
    assert_eq!(s.as_u16(), 401);
    srv.stop().await;
}
