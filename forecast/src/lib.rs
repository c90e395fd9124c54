//! crest-forecast (being built).
