//! Mesos RecordIO framing: `<decimal length>\n<length bytes>` repeated.
//!
//! The SUBSCRIBE response is one endless HTTP body carrying events in this
//! framing (`docs/recordio.md` in the Mesos repository). HTTP chunk boundaries
//! have nothing to do with record boundaries — proxies may re-chunk at will — so
//! the decoder is incremental: bytes go in with [`RecordIoDecoder::push`] in
//! whatever pieces the network delivers, whole records come out of
//! [`RecordIoDecoder::next_record`]. A malformed stream gives a typed
//! [`RecordIoError`] (never a panic), and a length prefix larger than the
//! configured bound is refused before any allocation, so a corrupt or hostile
//! stream cannot make us reserve gigabytes.

use thiserror::Error;

/// Longest length prefix accepted: `u64::MAX` has 20 decimal digits.
const MAX_HEADER_DIGITS: usize = 20;

/// Default bound on one record (an OFFERS event for a large cluster is a few MB).
pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 * 1024 * 1024;

/// Why a RecordIO stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RecordIoError {
    /// The length prefix held something other than ASCII digits.
    #[error(
        "failed to read record length at stream offset {offset}: expected decimal digits, found {found:?}"
    )]
    BadLength {
        /// Offset of the header in the stream.
        offset: u64,
        /// The header bytes (lossy UTF-8, at most 32 characters).
        found: String,
    },
    /// The length prefix ran past 20 digits without a newline.
    #[error(
        "failed to read record length at stream offset {offset}: no newline within {MAX_HEADER_DIGITS} digits"
    )]
    HeaderTooLong {
        /// Offset of the header in the stream.
        offset: u64,
    },
    /// A record of length 0 (Mesos never sends one).
    #[error("failed to read record at stream offset {offset}: length 0 is not allowed")]
    ZeroLength {
        /// Offset of the header in the stream.
        offset: u64,
    },
    /// A record longer than the configured bound.
    #[error(
        "failed to read record at stream offset {offset}: length {length} exceeds the bound of {max} bytes"
    )]
    TooLarge {
        /// Offset of the header in the stream.
        offset: u64,
        /// Announced length.
        length: u64,
        /// Configured bound.
        max: u64,
    },
    /// The stream ended inside a record.
    #[error("failed to read record: stream ended with {buffered} bytes of an unfinished record")]
    Truncated {
        /// Bytes left over.
        buffered: usize,
    },
}

/// Encode one record (used by the tests' protocol double and by fixtures).
pub fn encode(record: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(record.len() + MAX_HEADER_DIGITS + 1);
    out.extend_from_slice(record.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(record);
    out
}

/// Incremental RecordIO decoder.
#[derive(Debug, Clone)]
pub struct RecordIoDecoder {
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    pos: usize,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// Length of the record whose header was read, body pending.
    pending: Option<usize>,
    max_record: u64,
    failed: Option<RecordIoError>,
}

impl Default for RecordIoDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RECORD_BYTES)
    }
}

impl RecordIoDecoder {
    /// A decoder refusing records longer than `max_record` bytes.
    pub fn new(max_record: u64) -> Self {
        RecordIoDecoder {
            buf: Vec::new(),
            pos: 0,
            base: 0,
            pending: None,
            max_record,
            failed: None,
        }
    }

    /// Append bytes as they arrived from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        // Compact once the consumed prefix dominates, so memory stays bounded
        // by the largest record plus one chunk.
        if self.pos > 0 && self.pos * 2 >= self.buf.len() {
            self.buf.drain(..self.pos);
            self.base += self.pos as u64;
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete record, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// A [`RecordIoError`] for a malformed header; the decoder then stays
    /// failed (a framing error leaves no way to resynchronise).
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.step() {
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
            ok => ok,
        }
    }

    fn step(&mut self) -> Result<Option<Vec<u8>>, RecordIoError> {
        loop {
            if let Some(len) = self.pending {
                if self.buf.len() - self.pos < len {
                    return Ok(None);
                }
                let rec = self.buf[self.pos..self.pos + len].to_vec();
                self.pos += len;
                self.pending = None;
                return Ok(Some(rec));
            }
            let rest = &self.buf[self.pos..];
            let offset = self.base + self.pos as u64;
            let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                if rest.len() > MAX_HEADER_DIGITS {
                    return Err(RecordIoError::HeaderTooLong { offset });
                }
                if let Some(bad) = rest.iter().find(|b| !b.is_ascii_digit()) {
                    let _ = bad;
                    return Err(bad_length(offset, rest));
                }
                return Ok(None);
            };
            let header = &rest[..nl];
            // docs/recordio.md's reader skips empty lines before a length.
            if header.is_empty() {
                self.pos += 1;
                continue;
            }
            if header.len() > MAX_HEADER_DIGITS {
                return Err(RecordIoError::HeaderTooLong { offset });
            }
            if !header.iter().all(u8::is_ascii_digit) {
                return Err(bad_length(offset, header));
            }
            let text = std::str::from_utf8(header).map_err(|_| bad_length(offset, header))?;
            let length: u64 = text.parse().map_err(|_| bad_length(offset, header))?;
            if length == 0 {
                return Err(RecordIoError::ZeroLength { offset });
            }
            if length > self.max_record {
                return Err(RecordIoError::TooLarge {
                    offset,
                    length,
                    max: self.max_record,
                });
            }
            let len = usize::try_from(length).map_err(|_| RecordIoError::TooLarge {
                offset,
                length,
                max: self.max_record,
            })?;
            self.pos += nl + 1;
            self.pending = Some(len);
        }
    }

    /// Check that the stream ended on a record boundary.
    ///
    /// # Errors
    /// [`RecordIoError::Truncated`] when bytes of an unfinished record remain.
    pub fn finish(&self) -> Result<(), RecordIoError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let buffered = self.buf.len() - self.pos;
        if buffered == 0 && self.pending.is_none() {
            Ok(())
        } else {
            Err(RecordIoError::Truncated { buffered })
        }
    }
}

fn bad_length(offset: u64, bytes: &[u8]) -> RecordIoError {
    let found: String = String::from_utf8_lossy(bytes).chars().take(32).collect();
    RecordIoError::BadLength { offset, found }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(d: &mut RecordIoDecoder) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(r) = d.next_record().unwrap() {
            out.push(r);
        }
        out
    }

    #[test]
    fn decodes_the_docs_example_split_anywhere() {
        let a = br#"{"type": "SUBSCRIBED","subscribed": {"framework_id": {"value":"12220-3440-12532-2345"},"heartbeat_interval_seconds":15.0}"#;
        let b = br#"{"type":"HEARTBEAT"}"#;
        let mut stream = encode(a);
        stream.extend(encode(b));
        for cut in 0..stream.len() {
            let mut d = RecordIoDecoder::default();
            d.push(&stream[..cut]);
            let mut got = all(&mut d);
            d.push(&stream[cut..]);
            got.extend(all(&mut d));
            assert_eq!(got, vec![a.to_vec(), b.to_vec()], "cut at {cut}");
            d.finish().unwrap();
        }
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let mut d = RecordIoDecoder::default();
        d.push(b"12x\n");
        assert!(matches!(
            d.next_record(),
            Err(RecordIoError::BadLength { offset: 0, .. })
        ));
        // stays failed
        assert!(d.next_record().is_err());

        let mut d = RecordIoDecoder::default();
        d.push(b"0\n");
        assert_eq!(
            d.next_record(),
            Err(RecordIoError::ZeroLength { offset: 0 })
        );

        let mut d = RecordIoDecoder::new(10);
        d.push(b"3\nabc11\n");
        assert_eq!(d.next_record().unwrap(), Some(b"abc".to_vec()));
        assert!(matches!(
            d.next_record(),
            Err(RecordIoError::TooLarge {
                offset: 5,
                length: 11,
                max: 10
            })
        ));

        let mut d = RecordIoDecoder::default();
        d.push(b"123456789012345678901234");
        assert!(matches!(
            d.next_record(),
            Err(RecordIoError::HeaderTooLong { .. })
        ));

        let mut d = RecordIoDecoder::default();
        d.push(b"99999999999999999999\n");
        assert!(matches!(
            d.next_record(),
            Err(RecordIoError::TooLarge { .. } | RecordIoError::BadLength { .. })
        ));

        let mut d = RecordIoDecoder::default();
        d.push(b"5\nab");
        assert_eq!(d.next_record(), Ok(None));
        assert_eq!(d.finish(), Err(RecordIoError::Truncated { buffered: 2 }));
    }

    #[test]
    fn error_message_names_offset_and_content() {
        let mut d = RecordIoDecoder::default();
        d.push(b"2\nok{\"type\"");
        assert_eq!(d.next_record().unwrap(), Some(b"ok".to_vec()));
        let e = d.next_record().unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to read record length at stream offset 4: expected decimal digits, found \"{\\\"type\\\"\""
        );
    }
}
