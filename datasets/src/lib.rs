//! crest-datasets (being built).
