//! `connect` speaks gRPC (HTTP/2) to the Unix socket it is given, and an
//! absent socket is an error at once.

#![allow(clippy::unwrap_used)]

use crest_containerd_api::connect;
use crest_containerd_api::containerd::services::tasks::v1::GetRequest;
use crest_containerd_api::containerd::services::tasks::v1::tasks_client::TasksClient;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn a_missing_socket_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = connect(dir.path().join("absent.sock")).await;
    assert!(err.is_err(), "connected to a socket that does not exist");
}

#[tokio::test]
async fn calls_go_over_the_socket_as_http2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("containerd.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut preface = [0u8; 24];
        stream.read_exact(&mut preface).await.unwrap();
        preface
    });
    let channel = connect(&path).await.unwrap();
    // Nobody answers: the call fails, but its bytes reached the socket.
    let call = tokio::spawn(async move {
        TasksClient::new(channel)
            .get(GetRequest {
                container_id: "c1".into(),
                exec_id: String::new(),
            })
            .await
    });
    let preface = server.await.unwrap();
    assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    call.abort();
}
