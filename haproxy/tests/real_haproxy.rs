//! Against a real HAProxy 2.6 on 127.0.0.1 (skips only when the binary is missing).

#![allow(clippy::unwrap_used)] // test harness helpers: a failed set-up should panic loudly

use crest_core::seams::{LoadBalancer, ServerAdminState};
use crest_haproxy::process::{HaproxyConfig, HaproxyProcess, ServerSpec, haproxy_binary};
use crest_haproxy::{AddServer, HaproxyError};

fn start(n: usize) -> Option<(tempfile::TempDir, HaproxyProcess)> {
    let Some(bin) = haproxy_binary() else {
        crest_core::services::skip_or_fail(
            module_path!(),
            "haproxy binary not found (set CREST_HAPROXY or install haproxy)",
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = HaproxyConfig {
        backend: "app".into(),
        servers: (0..n)
            .map(|i| ServerSpec {
                name: format!("s{i}"),
                addr: format!("127.0.0.1:{}", 1 + i),
                weight: 10,
            })
            .collect(),
        check_inter_ms: None,
        timeout_server_ms: 2000,
    };
    let p = HaproxyProcess::start(&bin, dir.path(), &cfg).unwrap();
    Some((dir, p))
}

#[tokio::test]
async fn stats_weights_states_dynamic_servers_and_reload() {
    let Some((_dir, mut hp)) = start(3) else {
        return;
    };
    let c = hp.client();
    let s = c.servers("app").await.unwrap();
    assert_eq!(
        s.iter().map(|x| x.name.as_str()).collect::<Vec<_>>(),
        ["s0", "s1", "s2"]
    );
    assert!(s.iter().all(|x| x.weight == 10));

    LoadBalancer::set_weight(&c, "app", "s1", 250)
        .await
        .unwrap();
    let s = c.servers("app").await.unwrap();
    assert_eq!(s[1].weight, 250);
    let st = c.servers_state(Some("app")).await.unwrap();
    assert_eq!(st[1].uweight, 250);
    assert_eq!(st[1].iweight, 10);

    LoadBalancer::set_state(&c, "app", "s2", ServerAdminState::Drain)
        .await
        .unwrap();
    let s = c.servers("app").await.unwrap();
    assert!(s[2].status.contains("DRAIN"), "{}", s[2].status);
    LoadBalancer::set_state(&c, "app", "s2", ServerAdminState::Ready)
        .await
        .unwrap();

    // Unknown names are typed NotFound errors.
    let e = c.set_weight("app", "nope", 5).await.unwrap_err();
    assert!(matches!(e, HaproxyError::NotFound { .. }), "{e}");
    let e = c.backend_rows("nobackend").await.unwrap_err();
    assert!(matches!(e, HaproxyError::NotFound { .. }), "{e}");

    // Dynamic servers: add (with checks) and delete.
    c.add_server(
        "app",
        "dyn1",
        &AddServer::new("127.0.0.1:9")
            .with_weight(7)
            .with_check(1000),
    )
    .await
    .unwrap();
    let s = c.servers("app").await.unwrap();
    let d = s.iter().find(|x| x.name == "dyn1").unwrap();
    assert_eq!(d.weight, 7);
    let e = c
        .add_server("app", "dyn1", &AddServer::new("127.0.0.1:9"))
        .await
        .unwrap_err();
    assert!(matches!(e, HaproxyError::Refused { .. }), "{e}");
    c.del_server("app", "dyn1").await.unwrap();
    assert!(
        !c.servers("app")
            .await
            .unwrap()
            .iter()
            .any(|x| x.name == "dyn1")
    );
    LoadBalancer::add_server(&c, "app", "dyn2", "127.0.0.1:10")
        .await
        .unwrap();
    let s = c.servers("app").await.unwrap();
    assert!(
        s.iter()
            .find(|x| x.name == "dyn2")
            .unwrap()
            .status
            .contains("MAINT")
    );
    LoadBalancer::remove_server(&c, "app", "dyn2")
        .await
        .unwrap();

    // A reload loses runtime changes, and show info notices.
    let before = c.info().await.unwrap();
    hp.restart().unwrap();
    let after = c.info().await.unwrap();
    assert!(before.reloaded_since(&after));
    assert_eq!(c.servers("app").await.unwrap()[1].weight, 10);

    // Socket gone: a retryable typed error.
    drop(hp);
    let e = c.servers("app").await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // polls a real HAProxy in wall time
async fn a_server_starting_down_gets_traffic_only_once_its_checks_pass() {
    let Some((_dir, hp)) = start(0) else {
        return;
    };
    let c = hp.client();
    let status = |name: &'static str| {
        let c = c.clone();
        async move {
            c.servers("app")
                .await
                .unwrap()
                .into_iter()
                .find(|x| x.name == name)
                .map(|x| (x.status, x.weight))
                .unwrap()
        }
    };
    // Nothing listens on port 1: plain registration leaves maintenance UP
    // (and would take requests until three checks failed)...
    c.add_server(
        "app",
        "plain",
        &AddServer::new("127.0.0.1:1").with_check(2000),
    )
    .await
    .unwrap();
    assert!(
        status("plain").await.0.starts_with("UP"),
        "{:?}",
        status("plain").await
    );
    // ...starting down it is DOWN from the first moment, at its weight.
    c.add_server(
        "app",
        "down",
        &AddServer::new("127.0.0.1:1")
            .with_weight(40)
            .with_check(2000)
            .starting_down(100),
    )
    .await
    .unwrap();
    assert_eq!(status("down").await, ("DOWN".to_string(), 40));
    // A server that answers comes UP after `rise` (2) checks, `downinter` apart.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s); // a TCP check only needs the connection
        }
    });
    c.add_server(
        "app",
        "live",
        &AddServer::new(addr).with_check(2000).starting_down(100),
    )
    .await
    .unwrap();
    assert!(status("live").await.0.starts_with("DOWN"));
    let mut st = String::new();
    for _ in 0..40 {
        st = status("live").await.0;
        if st == "UP" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(st, "UP");
}
