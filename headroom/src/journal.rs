//! The probe's journal: original weights written *before* the first weight
//! change, removed only after they are restored and verified.
//!
//! If the probe dies (kill -9, OOM, power), the next probe start finds the
//! journal and puts the weights back before doing anything else, so a crash
//! can leave a server overweighted only until the next start.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use crest_core::seams::LoadBalancer;
use serde::{Deserialize, Serialize};

use crate::HeadroomError;

/// What the journal records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Format version (1).
    pub version: u32,
    /// Backend probed.
    pub backend: String,
    /// Server probed.
    pub server: String,
    /// Weight of every server of the backend before the probe.
    pub original: BTreeMap<String, u16>,
    /// When the probe started (epoch ms).
    pub started_ms: i64,
}

/// A journal file.
#[derive(Debug, Clone)]
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    /// A journal at `path` (nothing is touched yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Journal { path: path.into() }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, what: &'static str, source: std::io::Error) -> HeadroomError {
        HeadroomError::Journal {
            what,
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Write atomically (temp file, fsync, rename).
    ///
    /// # Errors
    /// [`HeadroomError::Journal`] on IO failure.
    pub fn write(&self, e: &JournalEntry) -> Result<(), HeadroomError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|x| self.err("create the directory of", x))?;
        }
        let tmp = self.path.with_extension("tmp");
        let text = serde_json::to_string_pretty(e)
            .map_err(|x| self.err("serialise", std::io::Error::other(x)))?;
        let mut f = std::fs::File::create(&tmp).map_err(|x| self.err("create", x))?;
        f.write_all(text.as_bytes())
            .map_err(|x| self.err("write", x))?;
        f.sync_all().map_err(|x| self.err("sync", x))?;
        std::fs::rename(&tmp, &self.path).map_err(|x| self.err("rename", x))
    }

    /// The pending entry, if a previous probe did not finish restoring.
    ///
    /// # Errors
    /// [`HeadroomError::Journal`] / [`HeadroomError::JournalParse`].
    pub fn read(&self) -> Result<Option<JournalEntry>, HeadroomError> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| HeadroomError::JournalParse {
                    path: self.path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("read", e)),
        }
    }

    /// Remove the journal (after a verified restore).
    ///
    /// # Errors
    /// [`HeadroomError::Journal`] on IO failure other than "not found".
    pub fn clear(&self) -> Result<(), HeadroomError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err("remove", e)),
        }
    }
}

/// Set every server of the entry back to its original weight, then read the
/// weights back and check them. Servers that no longer exist are skipped
/// (nothing to restore).
///
/// # Errors
/// The first load-balancer error, or [`HeadroomError::WeightsChanged`] when a
/// read-back weight differs.
pub async fn restore_weights<L: LoadBalancer>(
    lb: &L,
    e: &JournalEntry,
) -> Result<(), HeadroomError> {
    let now = lb
        .servers(&e.backend)
        .await
        .map_err(|s| HeadroomError::lb(format!("read backend {}", e.backend), s))?;
    for s in &now {
        if let Some(&w) = e.original.get(&s.name)
            && s.weight != w
        {
            lb.set_weight(&e.backend, &s.name, w).await.map_err(|x| {
                HeadroomError::lb(
                    format!("restore weight of {}/{} to {w}", e.backend, s.name),
                    x,
                )
            })?;
        }
    }
    let after = lb
        .servers(&e.backend)
        .await
        .map_err(|s| HeadroomError::lb(format!("read back backend {}", e.backend), s))?;
    for s in &after {
        if let Some(&w) = e.original.get(&s.name)
            && s.weight != w
        {
            return Err(HeadroomError::WeightsChanged {
                server: s.name.clone(),
                expected: w,
                found: s.weight,
            });
        }
    }
    Ok(())
}
