//! Whether a test that needs a real service (a binary such as `haproxy`,
//! `containerd` or `promtool`, or root) may skip when it is missing.
//!
//! On a developer machine a missing service skips the test with a `SKIP`
//! line. Under `CI=true` or `CREST_REQUIRE_SERVICES=1` (CI runs as root after
//! `scripts/install-deps.sh` installed every service) a skip is a failure:
//! a test that silently passes there would hide a broken environment.
//!
//! Every real-service test decides through [`skip_or_fail`], so the rule
//! lives in one place.

/// Environment variable that forbids skipping outside CI too.
pub const REQUIRE_VAR: &str = "CREST_REQUIRE_SERVICES";

/// Whether skipping is forbidden, given the values of `CI` and
/// [`REQUIRE_VAR`]: either set to anything but empty, `0` or `false`.
pub fn required_by(ci: Option<&str>, require: Option<&str>) -> bool {
    let on = |v: Option<&str>| {
        v.map(str::trim)
            .is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    };
    on(ci) || on(require)
}

/// Whether this process may not skip a real-service test (reads `CI` and
/// [`REQUIRE_VAR`]).
pub fn services_required() -> bool {
    let ci = std::env::var("CI").ok();
    let req = std::env::var(REQUIRE_VAR).ok();
    required_by(ci.as_deref(), req.as_deref())
}

/// The decision for one missing service: `Ok` with the skip message when
/// skipping is allowed, `Err` with the failure message when it is not.
pub fn decide(required: bool, test: &str, why: &str) -> Result<String, String> {
    if required {
        Err(format!(
            "{test}: cannot run: {why}; skipping is forbidden under CI=true or \
             {REQUIRE_VAR}=1 (install the services with scripts/install-deps.sh, as root)"
        ))
    } else {
        Ok(format!(
            "SKIP {test}: {why} (set {REQUIRE_VAR}=1 to make this a failure)"
        ))
    }
}

/// A real-service test cannot run because of `why`. Prints a `SKIP` line
/// (the caller then returns) or, under `CI=true` / `CREST_REQUIRE_SERVICES=1`,
/// panics so the test fails.
#[track_caller]
pub fn skip_or_fail(test: &str, why: &str) {
    match decide(services_required(), test, why) {
        Ok(skip) => eprintln!("{skip}"),
        Err(fail) => panic!("{fail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_or_the_switch_forbid_skipping() {
        assert!(!required_by(None, None));
        assert!(!required_by(Some(""), Some("0")));
        assert!(!required_by(Some("false"), Some("FALSE")));
        assert!(required_by(Some("true"), None));
        assert!(required_by(Some("1"), None));
        assert!(required_by(None, Some("1")));
        assert!(required_by(Some("0"), Some("yes")));
    }

    #[test]
    fn a_required_service_fails_and_names_what_is_missing() {
        let e = decide(true, "probe_e2e", "haproxy binary not found").unwrap_err();
        assert!(
            e.contains("probe_e2e") && e.contains("haproxy binary not found"),
            "{e}"
        );
        assert!(e.contains(REQUIRE_VAR), "{e}");
        let s = decide(false, "probe_e2e", "haproxy binary not found").unwrap();
        assert!(
            s.starts_with("SKIP probe_e2e: haproxy binary not found"),
            "{s}"
        );
    }
}
