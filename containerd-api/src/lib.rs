//! # crest-containerd-api
//!
//! containerd's gRPC API, as much of it as crest's actuator calls: the
//! containers, content, images, snapshots and tasks services (clients only)
//! and the types they use. The bindings are generated at build time from the
//! `.proto` files under `vendor/` (copied from containerd, Apache-2.0: see
//! `vendor/README.md`) by a `protoc` shipped in the `protoc-bin-vendored`
//! crate, so a build needs the Rust toolchain alone.
//!
//! Modules mirror the protobuf packages (`containerd.services.tasks.v1` is
//! [`containerd::services::tasks::v1`]). [`connect`] opens a channel over
//! containerd's Unix socket.
//!
//! Where this sits in crest: `docs/ARCHITECTURE.md`.

pub use tonic;

/// Generated code for the `containerd.*` protobuf packages.
#[allow(
    missing_docs,
    clippy::derive_partial_eq_without_eq,
    clippy::doc_lazy_continuation
)]
#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::bare_urls,
    rustdoc::broken_intra_doc_links
)]
pub mod containerd {
    /// `containerd.types`: mounts, descriptors, metrics.
    pub mod types {
        tonic::include_proto!("containerd.types");
    }
    /// `containerd.v1.types`: task process status.
    pub mod v1 {
        /// `containerd.v1.types`.
        pub mod types {
            tonic::include_proto!("containerd.v1.types");
        }
    }
    /// `containerd.services.*`: the gRPC services.
    pub mod services {
        /// `pub mod NAME { pub mod v1 { <package NAME.v1> } }`.
        macro_rules! service {
            ($(#[$doc:meta])* $name:ident => $package:literal) => {
                $(#[$doc])*
                pub mod $name {
                    /// v1.
                    pub mod v1 {
                        tonic::include_proto!($package);
                    }
                }
            };
        }
        service!(/// Containers service.
            containers => "containerd.services.containers.v1");
        service!(/// Content store service.
            content => "containerd.services.content.v1");
        service!(/// Images service.
            images => "containerd.services.images.v1");
        service!(/// Snapshots service.
            snapshots => "containerd.services.snapshots.v1");
        service!(/// Tasks service.
            tasks => "containerd.services.tasks.v1");
    }
}

/// Opens a gRPC channel to containerd over its Unix socket at `path`.
///
/// Connects now, so an absent or refusing socket is an error here; the
/// channel reconnects by itself later if the daemon restarts.
pub async fn connect(
    path: impl AsRef<std::path::Path>,
) -> Result<tonic::transport::Channel, tonic::transport::Error> {
    let path = path.as_ref().to_path_buf();
    // The URI is required by the API but unused: every connection is made by
    // the connector below, to the socket.
    tonic::transport::Endpoint::from_static("http://[::]:50051")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
}
