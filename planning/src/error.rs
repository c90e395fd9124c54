//! Errors of the planning pipeline.

/// What can go wrong between a history and a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanningError {
    #[cfg(feature = "history")]
    /// The history could not be loaded.
    #[error("failed to load history {name:?}")]
    History {
        /// The name or path given.
        name: String,
        /// The cause.
        #[source]
        source: Box<crest_datasets::DatasetError>,
    },
    #[cfg(feature = "history")]
    /// The calendar could not be loaded.
    #[error("failed to load calendar {name:?}")]
    Calendar {
        /// The name or path given.
        name: String,
        /// The cause.
        #[source]
        source: Box<crest_datasets::DatasetError>,
    },
    /// The forecaster failed.
    #[error("failed to forecast {what}")]
    Forecast {
        /// Which forecast.
        what: String,
        /// The cause.
        #[source]
        source: Box<crest_forecast::ForecastError>,
    },
    /// The planner or a policy refused its settings or inputs.
    #[error("failed to {what}")]
    Autoscaler {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: Box<crest_autoscaler::AutoscalerError>,
    },
    /// The simulator failed.
    #[error("failed to simulate {what}")]
    Sim {
        /// Which replay.
        what: String,
        /// The cause.
        #[source]
        source: Box<crest_sim::SimError>,
    },
    /// A core type refused a value.
    #[error("invalid {what}")]
    Core {
        /// What was built.
        what: String,
        /// The cause.
        #[source]
        source: Box<crest_core::CoreError>,
    },
    /// A setting or input is unusable.
    #[error("{0}")]
    Invalid(String),
    #[cfg(feature = "history")]
    /// Pulling history from Prometheus failed.
    #[error("failed to pull {query:?} from Prometheus")]
    Prometheus {
        /// The PromQL.
        query: String,
        /// The cause.
        #[source]
        source: Box<crest_prometheus::PromError>,
    },
    #[cfg(feature = "history")]
    /// The history cache could not be read or written.
    #[error("failed to use the history cache {file}")]
    Cache {
        /// The cache file.
        file: String,
        /// The cause.
        #[source]
        source: Box<crest_datasets::DatasetError>,
    },
}
