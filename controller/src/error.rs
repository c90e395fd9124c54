//! The crate's one error enum.

use thiserror::Error;

/// What can stop the controller from starting or from running a tick.
#[derive(Debug, Error)]
pub enum ControllerError {
    /// The config file's controller sections are invalid.
    #[error("{file}: {message}")]
    Config {
        /// The file.
        file: String,
        /// Every problem, with its line and field.
        message: String,
    },
    /// The state database failed.
    #[error("state database {what}: {source}")]
    Db {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The server failed (database, address).
    #[error("server: {0}")]
    Server(String),
    /// The actuator could not observe the fleet.
    #[error("observe {app}: {message}")]
    Observe {
        /// The app.
        app: String,
        /// What went wrong.
        message: String,
    },
}

impl ControllerError {
    pub(crate) fn db(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Self {
        let what = what.into();
        move |source| ControllerError::Db { what, source }
    }
}
