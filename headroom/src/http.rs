//! A minimal HTTP GET (plain http, no TLS stack) for latency sources.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// GET `url` and return the body if the status is 2xx.
pub(crate) async fn get(url: &str, timeout: Duration) -> Result<String, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad url {url:?}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("expected an http:// url, found {url:?}"));
    }
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let fut = async {
        let resp = client
            .get(uri)
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("GET {url}: reading body: {e}"))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if !status.is_success() {
            return Err(format!(
                "GET {url}: status {status}: {}",
                text.chars().take(200).collect::<String>()
            ));
        }
        Ok(text)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("GET {url}: no answer within {timeout:?}"))?
}
