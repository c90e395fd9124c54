//! Actions: the only things crest ever asks of the outside world.
//!
//! Policies decide, actuators act; an [`Action`] is the message between them.
//! Each is written to the actuator's journal before it is carried out, so it
//! must be plain serialisable data. Actions are idempotent by construction
//! (`SetReplicas` to 10 twice is one change), which is what lets a crashed run
//! be replayed without doing anything twice.

use std::fmt;

pub use compact_str::{CompactString, format_compact};
use serde::{Deserialize, Serialize};

use crate::{AppId, Replicas};

/// One instance (container, VM, task) of an app, as the actuator names it.
///
/// A [`CompactString`]: names up to 24 bytes are stored inline, so copying a
/// fleet's instance list (every observation of it) allocates nothing per
/// instance.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub CompactString);

impl InstanceId {
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for InstanceId {
    fn from(name: String) -> Self {
        InstanceId(name.into())
    }
}

impl From<&str> for InstanceId {
    fn from(name: &str) -> Self {
        InstanceId(name.into())
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Something to be done to a fleet or to the load balancer in front of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// Make the app have exactly this many instances (desired state).
    SetReplicas {
        /// The app.
        app: AppId,
        /// Desired instance count.
        replicas: Replicas,
        /// The plan this comes from, if any (labels new instances).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        plan_id: Option<String>,
    },
    /// Register an instance with the load balancer at an address.
    Register {
        /// The app (load-balancer backend).
        app: AppId,
        /// The instance.
        instance: InstanceId,
        /// `ip:port` the balancer should send traffic to.
        addr: String,
    },
    /// Remove an instance from the load balancer (after draining).
    Deregister {
        /// The app (load-balancer backend).
        app: AppId,
        /// The instance.
        instance: InstanceId,
    },
    /// Set an instance's load-balancer weight (HAProxy: 0-256).
    SetWeight {
        /// The app (load-balancer backend).
        app: AppId,
        /// The instance.
        instance: InstanceId,
        /// New weight.
        weight: u16,
    },
    /// Stop sending new requests to an instance; let in-flight ones finish.
    Drain {
        /// The app (load-balancer backend).
        app: AppId,
        /// The instance.
        instance: InstanceId,
    },
}

impl Action {
    /// The app an action concerns.
    pub fn app(&self) -> &AppId {
        match self {
            Action::SetReplicas { app, .. }
            | Action::Register { app, .. }
            | Action::Deregister { app, .. }
            | Action::SetWeight { app, .. }
            | Action::Drain { app, .. } => app,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetReplicas {
                app,
                replicas,
                plan_id,
            } => match plan_id {
                Some(p) => write!(f, "set {app} to {replicas} replicas (plan {p})"),
                None => write!(f, "set {app} to {replicas} replicas"),
            },
            Action::Register {
                app,
                instance,
                addr,
            } => {
                write!(f, "register {app}/{instance} at {addr}")
            }
            Action::Deregister { app, instance } => write!(f, "deregister {app}/{instance}"),
            Action::SetWeight {
                app,
                instance,
                weight,
            } => {
                write!(f, "set weight of {app}/{instance} to {weight}")
            }
            Action::Drain { app, instance } => write!(f, "drain {app}/{instance}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_with_a_tag() {
        let a = Action::SetReplicas {
            app: AppId::try_new("web").unwrap(),
            replicas: Replicas(3),
            plan_id: None,
        };
        let s = serde_json::to_string(&a).unwrap();
        assert_eq!(s, r#"{"action":"set_replicas","app":"web","replicas":3}"#);
        assert_eq!(a.to_string(), "set web to 3 replicas");
        let back: Action = serde_json::from_str(&s).unwrap();
        assert_eq!(back, a);
    }
}
