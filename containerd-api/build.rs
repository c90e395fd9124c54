//! Generates the Rust bindings of containerd's gRPC API from the `.proto`
//! files under `vendor/` with the `protoc` that `protoc-bin-vendored` ships,
//! so that building crest needs no system `protoc`.

use std::io;

/// The services crest calls, and (through their imports) the types they use.
const PROTOS: &[&str] = &[
    "vendor/github.com/containerd/containerd/api/services/containers/v1/containers.proto",
    "vendor/github.com/containerd/containerd/api/services/content/v1/content.proto",
    "vendor/github.com/containerd/containerd/api/services/images/v1/images.proto",
    "vendor/github.com/containerd/containerd/api/services/snapshots/v1/snapshots.proto",
    "vendor/github.com/containerd/containerd/api/services/tasks/v1/tasks.proto",
];

fn main() -> io::Result<()> {
    let protoc = protoc_bin_vendored::protoc_bin_path()
        .map_err(|e| io::Error::other(format!("no vendored protoc for this platform: {e}")))?;
    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);
    // containerd's protos use proto3 `optional`.
    config.protoc_arg("--experimental_allow_proto3_optional");
    tonic_prost_build::configure()
        .build_server(false)
        .compile_with_config(config, PROTOS, &["vendor"])?;
    println!("cargo::rerun-if-changed=vendor");
    Ok(())
}
