//! crest-actuator (being built).
