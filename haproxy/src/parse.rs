//! Parsers for the runtime API's answers, driven by header lines.
//!
//! HAProxy adds columns between versions, so fields are looked up by the
//! names of the header line (`# pxname,svname,...`), never by position alone.
//! Every malformed answer becomes [`HaproxyError::Parse`] naming the line.

use std::collections::BTreeMap;

use crest_core::seams::ServerStats;
use serde::{Deserialize, Serialize};

use crate::HaproxyError;

/// One row of `show stat`: every column by name, with typed accessors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatRow {
    /// Proxy (frontend/backend) name.
    pub pxname: String,
    /// Service name: a server name, or `FRONTEND` / `BACKEND`.
    pub svname: String,
    /// Every column of the row by header name (empty fields kept as "").
    pub fields: BTreeMap<String, String>,
}

impl StatRow {
    /// A raw field, if the column exists.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    /// A counter field: empty means 0 (HAProxy leaves non-applicable fields empty).
    ///
    /// # Errors
    /// [`HaproxyError::Parse`] when the column is missing or not an integer.
    pub fn counter(&self, name: &str) -> Result<u64, HaproxyError> {
        match self.get(name) {
            None => Err(parse_err(
                "show stat",
                0,
                format!(
                    "missing column {name:?} for {}/{}",
                    self.pxname, self.svname
                ),
            )),
            Some("") => Ok(0),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                parse_err(
                    "show stat",
                    0,
                    format!(
                        "column {name:?} of {}/{}: expected an integer, found {v:?}",
                        self.pxname, self.svname
                    ),
                )
            }),
        }
    }

    /// Whether the row is a real server (not the FRONTEND/BACKEND aggregate).
    pub fn is_server(&self) -> bool {
        self.svname != "FRONTEND" && self.svname != "BACKEND"
    }

    /// The seam's view of a server row.
    ///
    /// # Errors
    /// [`HaproxyError::Parse`] when a needed column is missing or malformed,
    /// or the weight is above 256.
    pub fn to_server_stats(&self) -> Result<ServerStats, HaproxyError> {
        let weight = self.counter("weight")?;
        let weight = u16::try_from(weight)
            .ok()
            .filter(|w| *w <= 256)
            .ok_or_else(|| {
                parse_err(
                    "show stat",
                    0,
                    format!(
                        "weight of {}/{} is {weight}, expected 0..=256",
                        self.pxname, self.svname
                    ),
                )
            })?;
        Ok(ServerStats {
            name: self.svname.clone(),
            weight,
            status: self.get("status").unwrap_or_default().to_string(),
            scur: self.counter("scur")?,
            qcur: self.counter("qcur")?,
            rate: self.counter("rate")?,
            req_tot: self.counter("req_tot")?,
            rtime_ms: self.counter("rtime")?,
            ttime_ms: self.counter("ttime")?,
            hrsp_5xx: self.counter("hrsp_5xx")?,
            econ: self.counter("econ")?,
            eresp: self.counter("eresp")?,
        })
    }
}

/// The columns [`StatRow::to_server_stats`] needs; checked once per answer.
pub const REQUIRED_STAT_COLUMNS: &[&str] = &[
    "pxname", "svname", "qcur", "scur", "status", "weight", "rate", "req_tot", "rtime", "ttime",
    "hrsp_5xx", "econ", "eresp",
];

pub(crate) fn parse_err(command: &str, line: usize, message: String) -> HaproxyError {
    HaproxyError::Parse {
        command: command.to_string(),
        line,
        message,
    }
}

/// Parse the CSV answer of `show stat`.
///
/// # Errors
/// [`HaproxyError::Parse`] when the header is missing, lacks a required
/// column, or a row's field count differs from the header's.
pub fn parse_show_stat(text: &str) -> Result<Vec<StatRow>, HaproxyError> {
    const CMD: &str = "show stat";
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((hline, header)) = lines.next() else {
        return Err(parse_err(
            CMD,
            1,
            "empty answer, expected a '# pxname,...' header".into(),
        ));
    };
    let Some(header) = header.strip_prefix("# ") else {
        return Err(parse_err(
            CMD,
            hline + 1,
            format!(
                "expected a '# pxname,...' header, found {:?}",
                truncate(header)
            ),
        ));
    };
    // show stat ends every line with a trailing comma: an empty last column.
    let cols: Vec<&str> = header.split(',').collect();
    for req in REQUIRED_STAT_COLUMNS {
        if !cols.contains(req) {
            return Err(parse_err(
                CMD,
                hline + 1,
                format!("header lacks column {req:?}"),
            ));
        }
    }
    let mut rows = Vec::new();
    for (i, line) in lines {
        let vals: Vec<&str> = line.split(',').collect();
        if vals.len() != cols.len() {
            return Err(parse_err(
                CMD,
                i + 1,
                format!(
                    "expected {} fields as in the header, found {}",
                    cols.len(),
                    vals.len()
                ),
            ));
        }
        let fields: BTreeMap<String, String> = cols
            .iter()
            .zip(&vals)
            .filter(|(c, _)| !c.is_empty())
            .map(|(c, v)| ((*c).to_string(), (*v).to_string()))
            .collect();
        rows.push(StatRow {
            pxname: fields.get("pxname").cloned().unwrap_or_default(),
            svname: fields.get("svname").cloned().unwrap_or_default(),
            fields,
        });
    }
    Ok(rows)
}

/// One server line of `show servers state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStateRow {
    /// Backend name.
    pub backend: String,
    /// Server name.
    pub server: String,
    /// Address (IP).
    pub addr: String,
    /// Port, when given.
    pub port: Option<u16>,
    /// Operational state (0 stopped, 1 starting, 2 running, 3 stopping).
    pub op_state: u8,
    /// Administrative state bit field (0 = ready; bit 0 forced maint, bit 3 drain...).
    pub admin_state: u32,
    /// User-visible (current) weight.
    pub uweight: u16,
    /// Initial weight from the configuration.
    pub iweight: u16,
}

/// Parse the answer of `show servers state [backend]`.
///
/// # Errors
/// [`HaproxyError::Parse`] on a missing version/header line or a malformed row.
pub fn parse_servers_state(text: &str) -> Result<Vec<ServerStateRow>, HaproxyError> {
    const CMD: &str = "show servers state";
    let mut header: Option<Vec<&str>> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(h) = line.strip_prefix("# ") {
            header = Some(h.split_whitespace().collect());
            continue;
        }
        let Some(cols) = header.as_ref() else {
            // The first line is the format version ("1"); anything else before the header is bad.
            if line.chars().all(|c| c.is_ascii_digit()) {
                continue;
            }
            return Err(parse_err(
                CMD,
                i + 1,
                format!("expected a header, found {:?}", truncate(line)),
            ));
        };
        let vals: Vec<&str> = line.split_whitespace().collect();
        if vals.len() < cols.len().min(8) {
            return Err(parse_err(
                CMD,
                i + 1,
                format!("expected {} fields, found {}", cols.len(), vals.len()),
            ));
        }
        let get = |name: &str| -> Result<&str, HaproxyError> {
            cols.iter()
                .position(|c| *c == name)
                .and_then(|p| vals.get(p).copied())
                .ok_or_else(|| parse_err(CMD, i + 1, format!("missing field {name:?}")))
        };
        let num = |name: &str| -> Result<u64, HaproxyError> {
            let v = get(name)?;
            v.parse::<u64>().map_err(|_| {
                parse_err(
                    CMD,
                    i + 1,
                    format!("field {name:?}: expected an integer, found {v:?}"),
                )
            })
        };
        let small = |name: &str| -> Result<u16, HaproxyError> {
            u16::try_from(num(name)?)
                .map_err(|_| parse_err(CMD, i + 1, format!("field {name:?} out of range")))
        };
        out.push(ServerStateRow {
            backend: get("be_name")?.to_string(),
            server: get("srv_name")?.to_string(),
            addr: get("srv_addr")?.to_string(),
            port: get("srv_port").ok().and_then(|p| p.parse().ok()),
            op_state: u8::try_from(num("srv_op_state")?)
                .map_err(|_| parse_err(CMD, i + 1, "field \"srv_op_state\" out of range".into()))?,
            admin_state: u32::try_from(num("srv_admin_state")?).map_err(|_| {
                parse_err(CMD, i + 1, "field \"srv_admin_state\" out of range".into())
            })?,
            uweight: small("srv_uweight")?,
            iweight: small("srv_iweight")?,
        });
    }
    Ok(out)
}

/// What `show info` says about the running process; a change of `pid` or a
/// drop in `uptime_s` means HAProxy was reloaded and runtime changes are gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// HAProxy version string.
    pub version: String,
    /// Process id of the worker answering.
    pub pid: u32,
    /// Seconds since this process started.
    pub uptime_s: u64,
    /// Every `Key: value` line.
    pub fields: BTreeMap<String, String>,
}

impl ProcessInfo {
    /// Whether `later` is a different process than `self` (a reload or restart happened).
    pub fn reloaded_since(&self, later: &ProcessInfo) -> bool {
        later.pid != self.pid || later.uptime_s < self.uptime_s
    }
}

/// Parse the answer of `show info`.
///
/// # Errors
/// [`HaproxyError::Parse`] when `Pid` or `Uptime_sec` is missing or not numeric.
pub fn parse_show_info(text: &str) -> Result<ProcessInfo, HaproxyError> {
    const CMD: &str = "show info";
    let fields: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let num = |k: &str| -> Result<u64, HaproxyError> {
        let v = fields
            .get(k)
            .ok_or_else(|| parse_err(CMD, 0, format!("missing {k:?}")))?;
        v.parse()
            .map_err(|_| parse_err(CMD, 0, format!("{k:?}: expected an integer, found {v:?}")))
    };
    Ok(ProcessInfo {
        version: fields.get("Version").cloned().unwrap_or_default(),
        pid: u32::try_from(num("Pid")?)
            .map_err(|_| parse_err(CMD, 0, "Pid out of range".into()))?,
        uptime_s: num("Uptime_sec")?,
        fields,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,\n\
fe,FRONTEND,,,0,1,262120,5,300,400,0,0,0,,,,,OPEN,,,,,,,,,1,2,0,,,,0,0,0,1,,,,0,5,0,0,0,0,,0,1,5,,,0,0,0,0,,,,,,,,\n\
be,s1,0,0,2,3,,10,100,200,,0,,1,2,0,0,UP,10,1,0,0,0,5,0,,1,3,1,,10,,2,7,,9,L4OK,,0,0,10,0,0,3,0,,,,12,0,0,,,,,1,,,0,0,20,21,\n\
be,BACKEND,0,0,2,3,26212,10,100,200,0,0,,1,2,0,0,UP,10,1,0,,0,5,0,,1,3,0,,10,,1,7,,9,,,,0,10,0,0,3,0,,,,12,0,0,0,0,0,0,1,,,0,0,20,21,\n";

    #[test]
    fn show_stat_by_column_name() {
        let rows = parse_show_stat(STAT).unwrap();
        assert_eq!(rows.len(), 3);
        let s = rows.iter().find(|r| r.svname == "s1").unwrap();
        assert!(s.is_server());
        let st = s.to_server_stats().unwrap();
        assert_eq!(st.weight, 10);
        assert_eq!(st.scur, 2);
        assert_eq!(st.rate, 7);
        assert_eq!(st.req_tot, 12);
        assert_eq!(st.rtime_ms, 20);
        assert_eq!(st.ttime_ms, 21);
        assert_eq!(st.hrsp_5xx, 3);
        assert_eq!(st.econ, 1);
        assert_eq!(st.eresp, 2);
        assert_eq!(st.status, "UP");
        assert_eq!(s.counter("hrsp_2xx").unwrap(), 10);
    }

    #[test]
    fn show_stat_errors_are_typed() {
        assert!(matches!(
            parse_show_stat(""),
            Err(HaproxyError::Parse { .. })
        ));
        assert!(matches!(
            parse_show_stat("Unknown command\n"),
            Err(HaproxyError::Parse { .. })
        ));
        let no_weight = "# pxname,svname,qcur\nbe,s1,0\n";
        let e = parse_show_stat(no_weight).unwrap_err();
        assert!(e.to_string().contains("lacks column"), "{e}");
        let short = STAT.replace("be,s1,0,0,2,", "be,s1,0,0,");
        let e = parse_show_stat(&short).unwrap_err();
        assert!(e.to_string().contains("line 3"), "{e}");
        let bad = STAT.replace(",UP,10,", ",UP,x10,");
        let rows = parse_show_stat(&bad).unwrap();
        assert!(rows[1].to_server_stats().is_err());
        let heavy = STAT.replace(",UP,10,", ",UP,300,");
        let rows = parse_show_stat(&heavy).unwrap();
        assert!(rows[1].to_server_stats().is_err());
    }

    #[test]
    fn servers_state_and_info() {
        let txt = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord\n3 be 1 s1 127.0.0.1 2 0 40 10 12 6 3 4 6 0 0 0 - 8080 -\n";
        let r = parse_servers_state(txt).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].server, "s1");
        assert_eq!(r[0].uweight, 40);
        assert_eq!(r[0].iweight, 10);
        assert_eq!(r[0].port, Some(8080));
        assert!(parse_servers_state("garbage here\n").is_err());
        let info =
            parse_show_info("Name: HAProxy\nVersion: 2.6.12\nPid: 42\nUptime_sec: 7\n").unwrap();
        assert_eq!(info.pid, 42);
        let later = parse_show_info("Pid: 43\nUptime_sec: 0\n").unwrap();
        assert!(info.reloaded_since(&later));
        assert!(parse_show_info("Pid: x\n").is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC{0,400}") {
            let _ = parse_show_stat(&s);
            let _ = parse_servers_state(&s);
            let _ = parse_show_info(&s);
        }

        #[test]
        fn stat_rows_with_noise_never_panic(noise in "[a-z0-9,#\n ]{0,200}") {
            let s = format!("{STAT}{noise}");
            if let Ok(rows) = parse_show_stat(&s) {
                for r in rows { let _ = r.to_server_stats(); }
            }
        }
    }
}
