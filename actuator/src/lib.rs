//! crest-actuator (being built).

pub mod mesos;
