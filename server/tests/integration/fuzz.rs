//! No input crashes the server: arbitrary bytes, arbitrary JSON, and real
//! payloads with a random part replaced, against every write endpoint. Each
//! answer must be a 2xx or a 4xx with a JSON error, and the server must keep
//! answering afterwards.

use crest_server::client::HttpClient;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::Value;

use crate::common::*;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,20}".prop_map(Value::String),
        Just(Value::String("firing".into())),
        Just(Value::String("resolved".into())),
        Just(Value::String("4".into())),
        Just(Value::String("2026-11-28T21:48:49Z".into())),
        Just(Value::String("0001-01-01T00:00:00Z".into())),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("alerts".to_string()),
                    Just("status".to_string()),
                    Just("labels".to_string()),
                    Just("startsAt".to_string()),
                    Just("fingerprint".to_string()),
                    Just("version".to_string()),
                    Just("app".to_string()),
                    "[a-zA-Z]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replace the value at a random path of a real payload.
fn mutate(mut v: Value, path: &[usize], with: Value) -> Value {
    fn go(v: &mut Value, path: &[usize], with: Value) {
        let Some((&i, rest)) = path.split_first() else {
            *v = with;
            return;
        };
        match v {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(i % m.len()).cloned().unwrap();
                go(m.get_mut(&k).unwrap(), rest, with);
            }
            Value::Array(a) if !a.is_empty() => {
                let n = a.len();
                go(&mut a[i % n], rest, with);
            }
            _ => *v = with,
        }
    }
    go(&mut v, path, with);
    v
}

/// A server on 127.0.0.1:0 with its own runtime and database, stopped and
/// removed when dropped.
struct Harness {
    rt: tokio::runtime::Runtime,
    server: Option<TestServer>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let server = rt.block_on(TestServer::start_with(
            dir.path(),
            "[defaults]\nmin_replicas = 0\nmax_replicas = 100\n",
        ));
        Harness {
            rt,
            server: Some(server),
            _dir: dir,
        }
    }

    /// Post `body` to every write endpoint: each answer must be a 2xx or a
    /// 4xx with a JSON error, and the server must still be healthy after.
    fn check(&self, body: &[u8]) -> Result<(), TestCaseError> {
        let addr = self.server.as_ref().unwrap().addr;
        self.rt.block_on(async {
            let mut c = HttpClient::connect(addr).await.unwrap();
            for path in ["/v1/alerts/alertmanager", "/v1/alerts/grafana", "/v1/plans"] {
                let (status, b) = c.post(path, Some(TOKEN), body.to_vec()).await.unwrap();
                let code = status.as_u16();
                prop_assert!(
                    code == 200 || code == 201 || code == 400 || code == 413,
                    "{path}: {code} for {:?}",
                    String::from_utf8_lossy(body)
                );
                let v: Value = serde_json::from_slice(&b).unwrap();
                if code >= 400 {
                    prop_assert!(v["error"].is_string());
                }
            }
            let (status, _) = c.get("/healthz").await.unwrap();
            prop_assert_eq!(status.as_u16(), 200);
            Ok(())
        })
    }

    fn run<S: Strategy>(&self, strategy: S, body: impl Fn(S::Value) -> Vec<u8>) {
        let mut runner = TestRunner::new(ProptestConfig {
            cases: 96,
            ..ProptestConfig::default()
        });
        if let Err(e) = runner.run(&strategy, |v| self.check(&body(v))) {
            panic!("{e}");
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
    }
}

#[test]
fn arbitrary_bytes() {
    Harness::new().run(prop::collection::vec(any::<u8>(), 0..512), |b| b);
}

#[test]
fn arbitrary_json() {
    Harness::new().run(arb_json(), |v| serde_json::to_vec(&v).unwrap());
}

#[test]
fn mutated_real_payloads() {
    let strategy = (
        0usize..4,
        prop::collection::vec(any::<usize>(), 0..6),
        arb_json(),
    );
    Harness::new().run(strategy, |(which, path, with)| {
        let base = [AM_FIRING, AM_RESOLVED, AM_FROM_PROM, GRAFANA][which];
        let v = mutate(serde_json::from_str(base).unwrap(), &path, with);
        serde_json::to_vec(&v).unwrap()
    });
}
