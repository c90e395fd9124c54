//! Messages against the JSON examples of the Mesos docs, and RecordIO properties.

use crest_actuator::mesos::proto::{
    AgentId, Call, CallType, Event, FrameworkId, ReconcileTask, SchedulerEvent, TaskId, TaskState,
};
use crest_actuator::mesos::recordio::{RecordIoDecoder, RecordIoError, encode};
use proptest::prelude::*;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/mesos/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// Numbers compared as f64 (Mesos writes `2` and `2.0` for the same double).
fn norm(v: &Value) -> Value {
    match v {
        Value::Number(n) => serde_json::json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(norm).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), norm(v))).collect()),
        other => other.clone(),
    }
}

#[test]
fn calls_from_the_docs_round_trip_exactly() {
    for name in [
        "subscribe_call.json",
        "teardown_call.json",
        "accept_launch_call.json",
        "accept_launch_group_call.json",
        "decline_call.json",
        "kill_call.json",
        "acknowledge_call.json",
        "reconcile_call.json",
    ] {
        let doc = fixture(name);
        let call: Call =
            serde_json::from_value(doc.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back = serde_json::to_value(&call).unwrap();
        assert_eq!(norm(&back), norm(&doc), "{name}");
    }
}

#[test]
fn calls_we_build_match_the_docs() {
    let fw = FrameworkId::new("12220-3440-12532-2345");
    let kill = Call::kill(
        &fw,
        TaskId::new("12220-3440-12532-my-task"),
        Some(AgentId::new("12220-3440-12532-S1233")),
    );
    assert_eq!(
        serde_json::to_value(&kill).unwrap(),
        fixture("kill_call.json")
    );
    let ack = Call::acknowledge(
        &fw,
        AgentId::new("12220-3440-12532-S1233"),
        TaskId::new("12220-3440-12532-my-task"),
        "jhadf73jhakdlfha723adf".into(),
    );
    assert_eq!(
        serde_json::to_value(&ack).unwrap(),
        fixture("acknowledge_call.json")
    );
    let decline = Call::decline(
        &fw,
        vec![
            crest_actuator::mesos::proto::OfferId::new("12220-3440-12532-O12"),
            crest_actuator::mesos::proto::OfferId::new("12220-3440-12532-O13"),
        ],
        5.0,
    );
    assert_eq!(
        serde_json::to_value(&decline).unwrap(),
        fixture("decline_call.json")
    );
    let rec = Call::reconcile(
        &fw,
        vec![ReconcileTask {
            task_id: TaskId::new("312325"),
            agent_id: Some(AgentId::new("123535")),
        }],
    );
    assert_eq!(
        serde_json::to_value(&rec).unwrap(),
        fixture("reconcile_call.json")
    );
    assert_eq!(
        serde_json::to_value(Call::teardown(&fw)).unwrap(),
        fixture("teardown_call.json")
    );
    // implicit reconciliation: an empty task list
    let implicit = serde_json::to_value(Call::reconcile(&fw, vec![])).unwrap();
    assert_eq!(implicit["reconcile"]["tasks"], serde_json::json!([]));
}

fn event(name: &str) -> SchedulerEvent {
    let e: Event = serde_json::from_value(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    e.into_checked().unwrap()
}

#[test]
fn events_from_the_docs_parse() {
    match event("subscribed_event.json") {
        SchedulerEvent::Subscribed(s) => {
            assert_eq!(s.framework_id.value, "12220-3440-12532-2345");
            assert_eq!(s.heartbeat_interval_seconds, Some(15.0));
        }
        other => panic!("{other:?}"),
    }
    match event("offers_event.json") {
        SchedulerEvent::Offers(o) => {
            assert_eq!(o.len(), 1);
            assert_eq!(o[0].resources[0].scalar_value(), Some(2.0));
            assert_eq!(o[0].executor_ids[0].value, "12214-23523-my-executor");
            assert_eq!(
                o[0].allocation_info.as_ref().unwrap().role.as_deref(),
                Some("engineering")
            );
            assert_eq!(
                o[0].attributes[0].text.as_ref().unwrap().value,
                "ubuntu16.04"
            );
        }
        other => panic!("{other:?}"),
    }
    match event("update_event.json") {
        SchedulerEvent::Update(s) => {
            assert_eq!(s.state, TaskState::Running);
            assert_eq!(s.uuid.as_deref(), Some("adfadfadbhgvjayd23r2uahj"));
            assert_eq!(s.source.as_deref(), Some("SOURCE_EXECUTOR"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(event("rescind_event.json"), SchedulerEvent::Rescind(o) if o.value == "12214-23523-O235235")
    );
    assert!(
        matches!(event("message_event.json"), SchedulerEvent::Message(m) if m.data == "adfadf3t2wa3353dfadf")
    );
    assert!(
        matches!(event("failure_event.json"), SchedulerEvent::Failure(f) if f.status == Some(1))
    );
    assert!(
        matches!(event("error_event.json"), SchedulerEvent::Error(m) if m == "Framework is not authorized")
    );
    assert!(matches!(
        event("heartbeat_event.json"),
        SchedulerEvent::Heartbeat
    ));
    // the proto's shape of ERROR too
    let e: Event = serde_json::from_str(r#"{"type":"ERROR","error":{"message":"x"}}"#).unwrap();
    assert_eq!(e.into_checked().unwrap(), SchedulerEvent::Error("x".into()));
    // a type whose field is missing is an error, not a panic
    let e: Event = serde_json::from_str(r#"{"type":"OFFERS"}"#).unwrap();
    assert_eq!(e.into_checked(), Err("offers"));
    let e: Event =
        serde_json::from_str(r#"{"type":"INVERSE_OFFERS","inverse_offers":{}}"#).unwrap();
    assert!(matches!(e.into_checked(), Ok(SchedulerEvent::Other(_))));
    assert_eq!(
        CallType::Accept,
        serde_json::from_str("\"ACCEPT\"").unwrap()
    );
}

fn decode_chunked(stream: &[u8], cuts: &[usize]) -> Result<Vec<Vec<u8>>, RecordIoError> {
    let mut d = RecordIoDecoder::default();
    let mut out = Vec::new();
    let mut at = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(stream.len());
    for c in cuts {
        d.push(&stream[at..c]);
        at = c;
        while let Some(r) = d.next_record()? {
            out.push(r);
        }
    }
    d.finish()?;
    Ok(out)
}

proptest! {
    // The tests live in a subfolder without a lib.rs above them, where the
    // default failure file cannot be placed; failures print their seed instead.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_chunking_gives_the_same_records(
        records in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 0..20),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let stream: Vec<u8> = records.iter().flat_map(|r| encode(r)).collect();
        prop_assert_eq!(decode_chunked(&stream, &cuts).unwrap(), records.clone());
        prop_assert_eq!(decode_chunked(&stream, &[]).unwrap(), records);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400), cuts in prop::collection::vec(any::<usize>(), 0..10)) {
        // Ok or a typed error; the result is the same however the bytes are cut.
        let whole = decode_chunked(&bytes, &[]);
        let cut = decode_chunked(&bytes, &cuts);
        prop_assert_eq!(whole.is_ok(), cut.is_ok());
        if let (Ok(a), Ok(b)) = (whole, cut) {
            prop_assert_eq!(a, b);
        }
    }
}
