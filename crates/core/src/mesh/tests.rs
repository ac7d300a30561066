#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use code_mesh_protocol::{AgentId, EventKind};
use futures::FutureExt;
use futures::future::BoxFuture;
use pretty_assertions::assert_eq;
use tokio::sync::Notify;

use super::*;

/// A timer that fires only when the test says so, so no test depends on wall-clock time.
#[derive(Default)]
struct ManualTimer {
    fire: Arc<Notify>,
}

impl Timer for ManualTimer {
    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        let fire = self.fire.clone();
        async move { fire.notified().await }.boxed()
    }
}

/// A timer that never fires.
struct NeverTimer;

impl Timer for NeverTimer {
    fn sleep(&self, _duration: Duration) -> BoxFuture<'static, ()> {
        futures::future::pending().boxed()
    }
}

fn id(name: &str) -> AgentId {
    AgentId(name.into())
}

/// A bus with agent_1 (coordinator), agent_2 (tester), agent_3 (coder), recording events.
fn bus_of_three(capacity: usize) -> (MeshBus, Arc<Mutex<Vec<EventKind>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let bus = MeshBus::builder(Arc::new(NeverTimer))
        .inbox_capacity(capacity)
        .observer(move |event| seen.lock().unwrap().push(event))
        .build();
    bus.register(id("agent_1"), "coordinator").unwrap();
    bus.register(id("agent_2"), "tester").unwrap();
    bus.register(id("agent_3"), "coder").unwrap();
    (bus, events)
}

fn texts(bus: &MeshBus, agent: &str) -> Vec<String> {
    bus.take_inbox(&id(agent))
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn message(from: &str, to: Option<&str>, topic: Option<&str>, text: &str) -> EventKind {
    EventKind::AgentMessage {
        from: id(from),
        to: to.map(id),
        topic: topic.map(str::to_owned),
        text: text.into(),
    }
}

#[test]
fn a_direct_message_reaches_only_its_recipient_and_is_reported() {
    let (bus, events) = bus_of_three(8);
    let to = bus
        .send(&id("agent_1"), "agent_2", "start on the parser")
        .unwrap();
    assert_eq!(to, id("agent_2"));
    assert_eq!(
        texts(&bus, "agent_2"),
        vec!["[from agent_1 (coordinator)] start on the parser"]
    );
    assert!(texts(&bus, "agent_3").is_empty());
    assert!(texts(&bus, "agent_1").is_empty());
    assert_eq!(
        *events.lock().unwrap(),
        vec![message(
            "agent_1",
            Some("agent_2"),
            None,
            "start on the parser"
        )]
    );
    // Taking the inbox cleared it.
    assert!(texts(&bus, "agent_2").is_empty());
}

#[test]
fn agents_are_addressed_by_id_or_by_a_unique_profile_name() {
    let (bus, _) = bus_of_three(8);
    bus.send(&id("agent_1"), "tester", "hello").unwrap();
    assert_eq!(bus.unread(&id("agent_2")), 1);

    bus.register(id("agent_4"), "tester").unwrap();
    let err = bus.send(&id("agent_1"), "tester", "hello").unwrap_err();
    assert_eq!(
        err,
        MeshError::AmbiguousAgent {
            address: "tester".into(),
            candidates: "agent_2, agent_4".into(),
        }
    );
    assert!(err.to_string().contains("address one of them by id"));

    let err = bus.send(&id("agent_1"), "designer", "hello").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no agent `designer` is on the mesh; address one of: agent_1 (coordinator), \
         agent_2 (tester), agent_3 (coder), agent_4 (tester)"
    );
    assert_eq!(
        bus.send(&id("agent_1"), "coordinator", "me").unwrap_err(),
        MeshError::ToSelf {
            action: "send a message to"
        }
    );
    assert_eq!(
        bus.send(&id("ghost"), "agent_2", "boo").unwrap_err(),
        MeshError::NotRegistered(id("ghost"))
    );
    assert_eq!(
        bus.register(id("agent_2"), "coder").unwrap_err(),
        MeshError::DuplicateAgent(id("agent_2"))
    );
}

#[test]
fn a_broadcast_reaches_everyone_but_the_sender() {
    let (bus, events) = bus_of_three(8);
    let reached = bus.broadcast(&id("agent_2"), "tests are red").unwrap();
    assert_eq!(reached, vec![id("agent_1"), id("agent_3")]);
    assert_eq!(
        texts(&bus, "agent_1"),
        vec!["[broadcast from agent_2 (tester)] tests are red"]
    );
    assert_eq!(texts(&bus, "agent_3").len(), 1);
    assert!(texts(&bus, "agent_2").is_empty());
    assert_eq!(
        *events.lock().unwrap(),
        vec![message("agent_2", None, None, "tests are red")]
    );
}

#[test]
fn a_topic_message_reaches_only_its_subscribers() {
    let (bus, events) = bus_of_three(8);
    assert!(bus.subscribe(&id("agent_2"), "api").unwrap());
    assert!(!bus.subscribe(&id("agent_2"), "api").unwrap());
    bus.subscribe(&id("agent_1"), "api").unwrap();
    bus.subscribe(&id("agent_3"), "docs").unwrap();

    let reached = bus
        .publish(&id("agent_1"), "api", "GET /users is done")
        .unwrap();
    assert_eq!(reached, vec![id("agent_2")], "the publisher is left out");
    assert_eq!(
        texts(&bus, "agent_2"),
        vec!["[topic api from agent_1 (coordinator)] GET /users is done"]
    );
    assert!(texts(&bus, "agent_3").is_empty());
    assert!(texts(&bus, "agent_1").is_empty());

    assert!(bus.unsubscribe(&id("agent_2"), "api").unwrap());
    assert!(
        bus.publish(&id("agent_1"), "api", "again")
            .unwrap()
            .is_empty()
    );
    assert!(texts(&bus, "agent_2").is_empty());
    assert_eq!(bus.subscriptions(&id("agent_3")), vec!["docs".to_string()]);
    assert_eq!(
        bus.subscribe(&id("agent_3"), "two words").unwrap_err(),
        MeshError::InvalidTopic
    );
    // Only the delivered publish is reported.
    assert_eq!(
        *events.lock().unwrap(),
        vec![message("agent_1", None, Some("api"), "GET /users is done")]
    );
}

#[test]
fn a_full_inbox_refuses_the_sender_instead_of_dropping() {
    let (bus, events) = bus_of_three(2);
    bus.send(&id("agent_1"), "agent_2", "one").unwrap();
    bus.send(&id("agent_1"), "agent_2", "two").unwrap();
    let err = bus.send(&id("agent_1"), "agent_2", "three").unwrap_err();
    assert_eq!(
        err,
        MeshError::InboxFull {
            agent: "agent_2 (tester)".into(),
            capacity: 2,
        }
    );
    assert!(err.to_string().contains("was not delivered"));

    // A broadcast still reaches those with room and names who missed it.
    let err = bus.broadcast(&id("agent_1"), "all hands").unwrap_err();
    assert_eq!(
        err,
        MeshError::PartlyDelivered {
            delivered: 1,
            missed: "agent_2 (tester)".into(),
            capacity: 2,
        }
    );
    assert_eq!(
        texts(&bus, "agent_2"),
        vec![
            "[from agent_1 (coordinator)] one",
            "[from agent_1 (coordinator)] two"
        ]
    );
    assert_eq!(texts(&bus, "agent_3").len(), 1);
    assert_eq!(
        events.lock().unwrap().len(),
        3,
        "two sends and one broadcast"
    );
}

#[tokio::test]
async fn an_ask_is_answered_by_the_reply_of_the_asked_agent() {
    let (bus, events) = bus_of_three(8);
    let asker = bus.clone();
    let ask = tokio::spawn(async move {
        asker
            .ask(
                &id("agent_1"),
                "tester",
                "do the tests pass?",
                Duration::from_secs(30),
            )
            .await
    });
    bus.wait_for_message(&id("agent_2")).await.unwrap();
    let inbox = texts(&bus, "agent_2");
    assert_eq!(
        inbox,
        vec![
            "[question q_1 from agent_1 (coordinator)] do the tests pass? — answer with reply \
             {\"request_id\": \"q_1\", \"text\": …}"
        ]
    );
    assert_eq!(bus.questions_for(&id("agent_2")), vec!["q_1".to_string()]);
    // Only the asked agent may answer.
    assert_eq!(
        bus.reply(&id("agent_3"), "q_1", "sure").unwrap_err(),
        MeshError::NotYourQuestion {
            request_id: "q_1".into(),
            asked: "agent_2 (tester)".into(),
        }
    );
    assert_eq!(
        bus.reply(&id("agent_2"), "q_1", "yes, 42 passed").unwrap(),
        id("agent_1")
    );
    let answer = ask.await.unwrap().unwrap();
    assert_eq!(
        answer,
        Answer {
            request_id: "q_1".into(),
            from: id("agent_2"),
            text: "yes, 42 passed".into(),
        }
    );
    // Answered questions are gone.
    assert_eq!(
        bus.reply(&id("agent_2"), "q_1", "again").unwrap_err(),
        MeshError::UnknownQuestion("q_1".into())
    );
    assert_eq!(
        *events.lock().unwrap(),
        vec![
            message(
                "agent_1",
                Some("agent_2"),
                None,
                "question q_1: do the tests pass?"
            ),
            message(
                "agent_2",
                Some("agent_1"),
                None,
                "answer to q_1: yes, 42 passed"
            ),
        ]
    );
}

#[tokio::test]
async fn an_unanswered_ask_times_out_naming_who_did_not_answer() {
    let timer = Arc::new(ManualTimer::default());
    let fire = timer.fire.clone();
    let bus = MeshBus::new(timer);
    bus.register(id("agent_1"), "coordinator").unwrap();
    bus.register(id("agent_2"), "tester").unwrap();
    let asker = bus.clone();
    let ask = tokio::spawn(async move {
        asker
            .ask(&id("agent_1"), "agent_2", "status?", Duration::from_secs(5))
            .await
    });
    bus.wait_for_message(&id("agent_2")).await.unwrap();
    // The asker is waiting on the timer now (the question was delivered inside `ask`, whose
    // sleep starts right after); `notify_one` keeps its permit should the sleep start later.
    fire.notify_one();
    let err = ask.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        MeshError::AskTimedOut {
            agent: "agent_2 (tester)".into(),
            request_id: "q_1".into(),
            waited: "5 s".into(),
        }
    );
    assert_eq!(
        err.to_string(),
        "agent_2 (tester) did not answer question q_1 within 5 s; carry on without the answer \
         or ask again"
    );
    // A late answer finds nobody waiting.
    assert_eq!(
        bus.reply(&id("agent_2"), "q_1", "late").unwrap_err(),
        MeshError::UnknownQuestion("q_1".into())
    );
    assert!(bus.questions_for(&id("agent_2")).is_empty());
}

#[tokio::test]
async fn an_agent_leaving_fails_the_questions_asked_of_it_at_once() {
    let (bus, _) = bus_of_three(8);
    bus.subscribe(&id("agent_2"), "api").unwrap();
    let asker = bus.clone();
    let ask = tokio::spawn(async move {
        asker
            .ask(
                &id("agent_1"),
                "agent_2",
                "still there?",
                Duration::from_secs(600),
            )
            .await
    });
    bus.wait_for_message(&id("agent_2")).await.unwrap();
    assert!(bus.unregister(&id("agent_2")));
    assert!(!bus.unregister(&id("agent_2")));
    // The timer never fires: only the departure can end this ask.
    let err = ask.await.unwrap().unwrap_err();
    assert_eq!(
        err,
        MeshError::AgentLeft {
            agent: "agent_2 (tester)".into(),
            request_id: "q_1".into(),
        }
    );
    assert!(
        bus.publish(&id("agent_1"), "api", "anyone?")
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        bus.wait_for_message(&id("agent_2")).await.unwrap_err(),
        MeshError::NotRegistered(id("agent_2"))
    );
    assert_eq!(
        bus.members()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["agent_1 (coordinator)", "agent_3 (coder)"]
    );
}

#[tokio::test]
async fn asking_yourself_an_unknown_agent_or_into_a_full_inbox_fails_without_waiting() {
    let (bus, _) = bus_of_three(1);
    let timeout = Duration::from_secs(600);
    assert_eq!(
        bus.ask(&id("agent_1"), "coordinator", "?", timeout)
            .await
            .unwrap_err(),
        MeshError::ToSelf { action: "ask" }
    );
    assert!(matches!(
        bus.ask(&id("agent_1"), "agent_9", "?", timeout)
            .await
            .unwrap_err(),
        MeshError::UnknownAgent { .. }
    ));
    bus.send(&id("agent_3"), "agent_2", "fills it").unwrap();
    assert!(matches!(
        bus.ask(&id("agent_1"), "agent_2", "?", timeout)
            .await
            .unwrap_err(),
        MeshError::InboxFull { .. }
    ));
    assert!(bus.questions_for(&id("agent_2")).is_empty());
}

#[tokio::test]
async fn a_dropped_ask_withdraws_its_question() {
    let (bus, _) = bus_of_three(8);
    let asker = id("agent_1");
    {
        let ask = bus.ask(&asker, "agent_2", "quick?", Duration::from_secs(600));
        futures::pin_mut!(ask);
        // Polled once: the question is out and waiting.
        assert!(futures::poll!(ask.as_mut()).is_pending());
        assert_eq!(bus.questions_for(&id("agent_2")), vec!["q_1".to_string()]);
    }
    assert!(bus.questions_for(&id("agent_2")).is_empty());
    assert_eq!(
        bus.reply(&id("agent_2"), "q_1", "yes").unwrap_err(),
        MeshError::UnknownQuestion("q_1".into())
    );
}

#[test]
fn the_inbox_notice_lists_messages_oldest_first() {
    let (bus, _) = bus_of_three(8);
    assert_eq!(take_inbox_notice(&bus, &id("agent_2")), None);
    bus.send(&id("agent_1"), "agent_2", "first").unwrap();
    bus.broadcast(&id("agent_3"), "second").unwrap();
    assert_eq!(
        take_inbox_notice(&bus, &id("agent_2")).unwrap(),
        "[Messages from other agents]\n[from agent_1 (coordinator)] first\n\
         [broadcast from agent_3 (coder)] second"
    );
    assert_eq!(take_inbox_notice(&bus, &id("agent_2")), None);
}

#[test]
fn durations_are_described_for_people() {
    assert_eq!(bus::describe(Duration::from_secs(30)), "30 s");
    assert_eq!(bus::describe(Duration::from_millis(1500)), "1.5 s");
    assert_eq!(bus::describe(Duration::from_millis(250)), "250 ms");
}
