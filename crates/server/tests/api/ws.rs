//! The session WebSocket: Ops in, Events out, problems for bad Ops.

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::support::{DEADLINE, Script, TOKEN, TestServer, Turn, assert_problem, problem};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON; fails the test when none comes within the deadline.
async fn next_json(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(DEADLINE, socket.next())
            .await
            .expect("no frame within the deadline")
            .expect("the socket closed")
            .expect("reading the socket failed");
        match frame {
            WsMessage::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

async fn send(socket: &mut Socket, text: &str) {
    socket.send(WsMessage::text(text)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_takes_ops_and_carries_events() {
    let server =
        TestServer::start(Script::new().with_turn(Turn::reply("Hi over the socket."))).await;
    let id = server.create_session().await;
    let url = server.ws_url(&format!("/api/sessions/{id}/ws?token={TOKEN}"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();

    send(
        &mut socket,
        &json!({"type": "user_turn", "text": "hi"}).to_string(),
    )
    .await;
    let mut events = Vec::new();
    loop {
        let event = next_json(&mut socket).await;
        assert!(event.get("code").is_none(), "a problem: {event}");
        assert_eq!(event["session_id"], id.as_str());
        let done = event["type"] == "turn_finished";
        events.push(event);
        if done {
            break;
        }
    }
    let seqs = crate::support::seqs(&events);
    assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{seqs:?}");
    assert_eq!(
        crate::support::streamed_text(&events),
        "Hi over the socket."
    );
    assert_eq!(events.last().unwrap()["reason"], "completed");

    send(&mut socket, "this is not json").await;
    assert_problem(&next_json(&mut socket).await, 400, "invalid_json");
    send(&mut socket, r#"{"type":"launch_rockets"}"#).await;
    assert_problem(&next_json(&mut socket).await, 400, "invalid_json");
    send(&mut socket, r#"{"type":"shutdown"}"#).await;
    assert_problem(&next_json(&mut socket).await, 400, "bad_request");
    send(&mut socket, r#"{"type":"user_turn","text":"   "}"#).await;
    assert_problem(&next_json(&mut socket).await, 400, "bad_request");
    send(
        &mut socket,
        r#"{"type":"permission_reply","request_id":"req_none","decision":"deny"}"#,
    )
    .await;
    assert_problem(
        &next_json(&mut socket).await,
        404,
        "permission_request_not_found",
    );
    socket.send(WsMessage::binary(vec![1, 2, 3])).await.unwrap();
    assert_problem(&next_json(&mut socket).await, 400, "bad_request");

    // The session is still usable: the turn went into the store.
    let messages = server
        .get_json(&format!("/api/sessions/{id}/messages"))
        .await;
    assert_eq!(messages.as_array().unwrap().len(), 2);
    socket.close(None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_needs_the_token_and_an_upgrade() {
    let server = TestServer::start(Script::new()).await;
    let id = server.create_session().await;

    for url in [
        server.ws_url(&format!("/api/sessions/{id}/ws")),
        server.ws_url(&format!("/api/sessions/{id}/ws?token=wrong")),
    ] {
        match tokio_tungstenite::connect_async(url).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status().as_u16(), 401);
            }
            other => panic!("the handshake was not refused: {other:?}"),
        }
    }

    let plain = server.get(&format!("/api/sessions/{id}/ws")).await;
    let body = problem(plain, 400, "bad_request").await;
    assert!(
        body["hint"].as_str().unwrap().contains("WebSocket"),
        "{body}"
    );

    let unknown = server.ws_url(&format!("/api/sessions/ses_none/ws?token={TOKEN}"));
    match tokio_tungstenite::connect_async(unknown).await {
        Err(WsError::Http(response)) => assert_eq!(response.status().as_u16(), 404),
        other => panic!("the handshake was not refused: {other:?}"),
    }
}
