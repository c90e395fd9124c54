//! Newtypes for identifiers and units.
//!
//! A bare `f64` or `String` invites mixing requests per second with instances,
//! or an app name with a series name. These wrappers are validated once, when
//! built, so they can be trusted everywhere after.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::CoreError;

/// The application (service) that crest plans and scales, e.g. `flight-search`.
///
/// Restricted to `[a-z0-9._-]{1,63}` so it can be used verbatim as a container
/// label, a load-balancer server-name prefix and a Prometheus label value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AppId(String);

impl AppId {
    /// Validate an app id.
    ///
    /// # Errors
    /// [`CoreError::InvalidAppId`] when empty, too long or with other characters.
    pub fn try_new(id: impl Into<String>) -> Result<Self, CoreError> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 63
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
        if ok {
            Ok(AppId(id))
        } else {
            Err(CoreError::InvalidAppId { id })
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AppId {
    type Error = CoreError;
    fn try_from(s: String) -> Result<Self, CoreError> {
        AppId::try_new(s)
    }
}

impl From<AppId> for String {
    fn from(a: AppId) -> String {
        a.0
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A number of running instances (containers, VMs) of one app.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Replicas(pub u32);

impl fmt::Display for Replicas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A request rate in requests per second: finite and >= 0.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Rps(f64);

impl Rps {
    /// Validate a rate.
    ///
    /// # Errors
    /// [`CoreError::InvalidQuantity`] for NaN, infinite or negative rates.
    pub fn try_new(v: f64) -> Result<Self, CoreError> {
        if v.is_finite() && v >= 0.0 {
            Ok(Rps(v))
        } else {
            Err(CoreError::InvalidQuantity {
                what: "requests per second",
                value: v,
            })
        }
    }

    /// The rate as a float.
    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Rps {
    type Error = CoreError;
    fn try_from(v: f64) -> Result<Self, CoreError> {
        Rps::try_new(v)
    }
}

impl From<Rps> for f64 {
    fn from(r: Rps) -> f64 {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_id_validation() {
        assert!(AppId::try_new("flight-search").is_ok());
        assert!(AppId::try_new("a.b_c-1").is_ok());
        assert!(AppId::try_new("").is_err());
        assert!(AppId::try_new("Flight").is_err());
        assert!(AppId::try_new("a b").is_err());
        assert!(AppId::try_new("x".repeat(64)).is_err());
    }

    #[test]
    fn rps_rejects_nan_and_negative() {
        assert!(Rps::try_new(f64::NAN).is_err());
        assert!(Rps::try_new(-1.0).is_err());
        assert!(Rps::try_new(f64::INFINITY).is_err());
        assert_eq!(Rps::try_new(2.5).unwrap().get(), 2.5);
    }

    #[test]
    fn app_id_deserialization_validates() {
        assert!(serde_json::from_str::<AppId>("\"ok-app\"").is_ok());
        assert!(serde_json::from_str::<AppId>("\"NOT OK\"").is_err());
    }
}
