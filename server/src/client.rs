//! A minimal HTTP/1.1 client (hyper) for the load generator, the tests and
//! the CLI: one keep-alive connection per [`HttpClient`], loopback only in
//! practice. Not a general client: no TLS, no redirects, no pooling.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::ServerError;

/// One HTTP/1.1 keep-alive connection.
pub struct HttpClient {
    host: String,
    sender: SendRequest<Full<Bytes>>,
}

fn http_err(what: &str, e: impl std::fmt::Display) -> ServerError {
    ServerError::Http {
        what: what.to_string(),
        message: e.to_string(),
    }
}

impl HttpClient {
    /// Connect to `addr`.
    ///
    /// # Errors
    /// [`ServerError::Http`] when the connection or handshake fails.
    pub async fn connect(addr: SocketAddr) -> Result<Self, ServerError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| http_err(&format!("connect to {addr}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| http_err("set TCP_NODELAY", e))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| http_err(&format!("handshake with {addr}"), e))?;
        // The connection task ends when the sender is dropped or the peer closes.
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(HttpClient {
            host: addr.to_string(),
            sender,
        })
    }

    /// Whether the connection can take another request.
    pub fn is_open(&self) -> bool {
        !self.sender.is_closed()
    }

    /// Send one request and read the whole response.
    ///
    /// # Errors
    /// [`ServerError::Http`] when the connection fails mid-request.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ServerError> {
        self.sender
            .ready()
            .await
            .map_err(|e| http_err("wait for the connection", e))?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, &self.host);
        if let Some(t) = token {
            req = req.header(AUTHORIZATION, format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header(CONTENT_TYPE, "application/json");
        }
        let req = req
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| http_err("build the request", e))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| http_err(&format!("send {path}"), e))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| http_err(&format!("read the response of {path}"), e))?
            .to_bytes();
        Ok((status, body))
    }

    /// `GET path`.
    ///
    /// # Errors
    /// As [`HttpClient::request`].
    pub async fn get(&mut self, path: &str) -> Result<(StatusCode, Bytes), ServerError> {
        self.request(Method::GET, path, None, None).await
    }

    /// `GET path` with a bearer token.
    ///
    /// # Errors
    /// As [`HttpClient::request`].
    pub async fn get_with_token(
        &mut self,
        path: &str,
        token: &str,
    ) -> Result<(StatusCode, Bytes), ServerError> {
        self.request(Method::GET, path, Some(token), None).await
    }

    /// `POST path` with a JSON body and an optional bearer token.
    ///
    /// # Errors
    /// As [`HttpClient::request`].
    pub async fn post(
        &mut self,
        path: &str,
        token: Option<&str>,
        body: impl Into<Bytes>,
    ) -> Result<(StatusCode, Bytes), ServerError> {
        self.request(Method::POST, path, token, Some(body.into()))
            .await
    }
}
