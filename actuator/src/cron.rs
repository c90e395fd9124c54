//! Cron jobs vs long-running services: warm containers that run many job runs
//! each (task:container N:1) instead of a container per run.
//!
//! A frequent job (every minute, say) started as a fresh container each time
//! pays the whole lifecycle per run — snapshot, container record, shim and
//! runc spawn, CNI ADD/DEL if networked, teardown — and churns containerd's
//! metadata and the IP pool. A warm pool keeps `warm` containers idling and
//! runs each job as an extra process inside one of them (containerd's task
//! `Exec`), so a run costs one process spawn. [`run_cold`] and [`run_warm`]
//! run the same job both ways against a real containerd and count what was
//! created; the e2e test `cron_warm_pool_avoids_churn` prints the figures.

use std::time::Duration;

use crest_core::seams::SeamError;
use crest_core::{AppId, Clock};
use serde::{Deserialize, Serialize};

use crate::backend::{InstanceSpec, Runtime};
use crate::containerd::ContainerdRuntime;

/// What running a job `runs` times cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChurnReport {
    /// "cold" (a container per run) or "warm" (exec in warm containers).
    pub mode: String,
    /// Job runs completed.
    pub runs: u32,
    /// Runs whose exit status was not 0.
    pub failed_runs: u32,
    /// Containers (and shims, snapshots) created and deleted.
    pub containers_created: u32,
    /// Wall time in all, including warming up and removing the pool, ms.
    pub wall_ms: u64,
    /// Wall time of the runs alone (what a job waits per run, summed), ms.
    pub runs_ms: u64,
}

/// Run the job `runs` times, one fresh container per run. `rt`'s command is
/// the job.
///
/// # Errors
/// The first containerd failure.
pub async fn run_cold<C: Clock + Clone + 'static>(
    rt: &ContainerdRuntime<C>,
    clock: &C,
    app: &AppId,
    runs: u32,
) -> Result<ChurnReport, SeamError> {
    let t0 = clock.now();
    let mut failed = 0;
    for k in 0..runs {
        let id = format!("{app}-cold{k:05}");
        let spec = InstanceSpec {
            id: id.clone(),
            app: app.clone(),
            plan_id: None,
        };
        rt.create(&spec).await?;
        let wait = rt.wait_task(&id);
        let start = rt.start(&id);
        let (status, started) = tokio::join!(wait, start);
        started?;
        if status? != 0 {
            failed += 1;
        }
        rt.remove(&id).await?;
    }
    Ok(ChurnReport {
        mode: "cold".into(),
        runs,
        failed_runs: failed,
        containers_created: runs,
        wall_ms: elapsed(clock, t0),
        runs_ms: elapsed(clock, t0),
    })
}

/// Run `job` `runs` times as processes inside `warm` idle containers
/// (round-robin), then remove the warm containers. `rt`'s command must idle.
///
/// # Errors
/// The first containerd failure.
pub async fn run_warm<C: Clock + Clone + 'static>(
    rt: &ContainerdRuntime<C>,
    clock: &C,
    app: &AppId,
    warm: u32,
    runs: u32,
    job: &[String],
) -> Result<ChurnReport, SeamError> {
    let t0 = clock.now();
    let warm = warm.max(1);
    let ids: Vec<String> = (0..warm).map(|k| format!("{app}-warm{k:05}")).collect();
    for id in &ids {
        rt.create(&InstanceSpec {
            id: id.clone(),
            app: app.clone(),
            plan_id: None,
        })
        .await?;
        rt.start(id).await?;
    }
    let t_runs = clock.now();
    let mut failed = 0;
    let mut first_err = None;
    for k in 0..runs {
        let id = &ids[(k % warm) as usize];
        match rt.exec(id, &format!("run{k}"), job).await {
            Ok(0) => {}
            Ok(_) => failed += 1,
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    let runs_ms = elapsed(clock, t_runs);
    for id in &ids {
        rt.stop(id).await?;
        rt.remove(id).await?;
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok(ChurnReport {
        mode: "warm".into(),
        runs,
        failed_runs: failed,
        containers_created: warm,
        wall_ms: elapsed(clock, t0),
        runs_ms,
    })
}

fn elapsed<C: Clock>(clock: &C, t0: crest_core::Timestamp) -> u64 {
    let d = Duration::from_millis(u64::try_from(clock.now().millis() - t0.millis()).unwrap_or(0));
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
