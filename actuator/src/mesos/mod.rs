//! Mesos v1 scheduler HTTP API framework (being built).
