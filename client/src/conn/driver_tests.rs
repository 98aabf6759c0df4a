//! The driver against a scripted peer on an in-memory duplex.

use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

fn config(limit: usize) -> DriverConfig {
    DriverConfig {
        broker: Arc::from("id 1 at test:9092"),
        max_frame_size: 1024,
        pipeline_limit: limit,
        idle_timeout: None,
    }
}

/// A request frame: size, api key 18, version 0, correlation placeholder, body.
fn frame(body: &[u8]) -> BytesMut {
    let mut f = BytesMut::new();
    f.extend_from_slice(&((8 + body.len()) as i32).to_be_bytes());
    f.extend_from_slice(&[0, 18, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    f.extend_from_slice(body);
    f
}

/// Reads one request frame: (correlation id, body).
async fn read_request(peer: &mut DuplexStream) -> (i32, Vec<u8>) {
    let len = peer.read_i32().await.unwrap() as usize;
    let mut buf = vec![0; len];
    peer.read_exact(&mut buf).await.unwrap();
    let id = i32::from_be_bytes(buf[4..8].try_into().unwrap());
    (id, buf[8..].to_vec())
}

fn response(id: i32, body: &[u8]) -> Vec<u8> {
    let mut v = ((4 + body.len()) as i32).to_be_bytes().to_vec();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(body);
    v
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn pipelined_requests_match_out_of_order_responses() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(8));
    let calls: Vec<_> = (0u8..3)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.round_trip(frame(&[i]), "ApiVersions", T, false).await })
        })
        .collect();
    // All three arrive before any response is sent: they are pipelined.
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(read_request(&mut peer).await);
    }
    for (id, body) in got.iter().rev() {
        let mut answer = b"re:".to_vec();
        answer.extend_from_slice(body);
        peer.write_all(&response(*id, &answer)).await.unwrap();
    }
    for (i, call) in calls.into_iter().enumerate() {
        let frame = call.await.unwrap().unwrap();
        assert_eq!(&frame[4..], &[b'r', b'e', b':', i as u8][..]);
    }
}

#[tokio::test]
async fn pipeline_limit_holds_back_requests() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(1));
    let h2 = h.clone();
    let first = tokio::spawn(async move { h2.round_trip(frame(b"a"), "Metadata", T, false).await });
    let h3 = h.clone();
    let second =
        tokio::spawn(async move { h3.round_trip(frame(b"b"), "Metadata", T, false).await });
    let (id, body) = read_request(&mut peer).await;
    // The second frame must not be on the wire while the first is unanswered.
    let mut probe = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(100), peer.read(&mut probe)).await;
    assert!(early.is_err(), "second request was sent past the limit");
    peer.write_all(&response(id, &body)).await.unwrap();
    let (id2, body2) = read_request(&mut peer).await;
    peer.write_all(&response(id2, &body2)).await.unwrap();
    let mut bodies = [
        first.await.unwrap().unwrap(),
        second.await.unwrap().unwrap(),
    ];
    bodies.sort();
    assert_eq!(&bodies[0][4..], b"a");
    assert_eq!(&bodies[1][4..], b"b");
}

#[tokio::test]
async fn frame_split_across_reads_with_a_pause() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    let call = tokio::spawn(async move { h.round_trip(frame(b"x"), "Fetch", T, false).await });
    let (id, _) = read_request(&mut peer).await;
    let wire = response(id, b"split payload");
    peer.write_all(&wire[..3]).await.unwrap(); // inside the size prefix
    tokio::time::sleep(Duration::from_millis(30)).await;
    peer.write_all(&wire[3..9]).await.unwrap(); // inside the body
    tokio::time::sleep(Duration::from_millis(30)).await;
    peer.write_all(&wire[9..]).await.unwrap();
    assert_eq!(&call.await.unwrap().unwrap()[4..], b"split payload");
}

#[tokio::test]
async fn peer_closing_mid_response_fails_everything_and_closes() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    let hs = h.clone();
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let h = hs.clone();
            tokio::spawn(async move { h.round_trip(frame(b"q"), "Produce", T, false).await })
        })
        .collect();
    let (id, _) = read_request(&mut peer).await;
    read_request(&mut peer).await;
    let wire = response(id, b"never finished");
    peer.write_all(&wire[..7]).await.unwrap();
    drop(peer);
    for call in calls {
        match call.await.unwrap() {
            Err(Error::ConnectionLost { reason, .. }) => {
                assert!(reason.contains("closed"), "{reason}")
            }
            other => panic!("expected ConnectionLost, got {other:?}"),
        }
    }
    // The next request fails fast instead of hanging.
    tokio::time::timeout(Duration::from_secs(1), async {
        while !h.is_closed() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap();
    let err = h
        .round_trip(frame(b"z"), "Produce", T, false)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ConnectionLost { .. }), "{err:?}");
}

#[tokio::test]
async fn wrong_correlation_id_poisons() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    let call = tokio::spawn(async move { h.round_trip(frame(b"q"), "Metadata", T, false).await });
    let (id, _) = read_request(&mut peer).await;
    peer.write_all(&response(id.wrapping_add(1000), b"??"))
        .await
        .unwrap();
    match call.await.unwrap() {
        Err(Error::ConnectionLost { reason, .. }) => {
            assert!(reason.contains("correlation id"), "{reason}")
        }
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
}

#[tokio::test]
async fn negative_oversized_and_garbage_frames_poison() {
    for wire in [
        (-5i32).to_be_bytes().to_vec(),
        5000i32.to_be_bytes().to_vec(),
        vec![0, 0, 0, 2, 0xde, 0xad],
    ] {
        let (client, mut peer) = tokio::io::duplex(4096);
        let h = spawn(client, config(4));
        let call =
            tokio::spawn(async move { h.round_trip(frame(b"q"), "Metadata", T, false).await });
        read_request(&mut peer).await;
        peer.write_all(&wire).await.unwrap();
        let err = tokio::time::timeout(Duration::from_secs(2), call)
            .await
            .expect("must not hang")
            .unwrap()
            .unwrap_err();
        match err {
            Error::ConnectionLost { reason, .. } => {
                assert!(reason.contains("bad frame"), "{reason}")
            }
            other => panic!("expected ConnectionLost, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn cancelled_caller_leaves_no_partial_frame() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    // Paused: the frame waits in the queue; the caller gives up before it is written.
    h.pause();
    let hc = h.clone();
    let cancelled =
        tokio::spawn(async move { hc.round_trip(frame(b"gone"), "Produce", T, false).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    cancelled.abort();
    let _ = cancelled.await;
    h.resume();
    // A caller cancelled after its frame was written: the response is discarded.
    let hc = h.clone();
    let written =
        tokio::spawn(async move { hc.round_trip(frame(b"late"), "Produce", T, false).await });
    let (late_id, late_body) = read_request(&mut peer).await;
    assert_eq!(
        late_body, b"late",
        "the cancelled frame must never reach the wire"
    );
    written.abort();
    let _ = written.await;
    peer.write_all(&response(late_id, b"ignored"))
        .await
        .unwrap();
    // The connection still works, frame boundaries intact.
    let hc = h.clone();
    let next =
        tokio::spawn(async move { hc.round_trip(frame(b"next"), "Produce", T, false).await });
    let (id, body) = read_request(&mut peer).await;
    assert_eq!(body, b"next");
    peer.write_all(&response(id, b"ok")).await.unwrap();
    assert_eq!(&next.await.unwrap().unwrap()[4..], b"ok");
}

#[tokio::test]
async fn timeout_poisons_the_connection() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    let hc = h.clone();
    let slow = tokio::spawn(async move {
        hc.round_trip(frame(b"slow"), "Metadata", Duration::from_millis(50), false)
            .await
    });
    let hc = h.clone();
    let other =
        tokio::spawn(async move { hc.round_trip(frame(b"other"), "Metadata", T, false).await });
    read_request(&mut peer).await;
    read_request(&mut peer).await;
    let err = slow.await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::RequestTimeout {
                api: "Metadata",
                ..
            }
        ),
        "{err:?}"
    );
    let err = other.await.unwrap().unwrap_err();
    match err {
        Error::ConnectionLost { reason, .. } => assert!(reason.contains("timed out"), "{reason}"),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
    assert!(h.is_closed());
}

#[tokio::test]
async fn auth_requests_pass_a_paused_driver() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    h.pause();
    let hc = h.clone();
    let normal =
        tokio::spawn(async move { hc.round_trip(frame(b"normal"), "Produce", T, false).await });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let hc = h.clone();
    let auth = tokio::spawn(async move {
        hc.round_trip(frame(b"auth"), "SaslAuthenticate", T, true)
            .await
    });
    let (id, body) = read_request(&mut peer).await;
    assert_eq!(body, b"auth");
    peer.write_all(&response(id, b"")).await.unwrap();
    auth.await.unwrap().unwrap();
    h.resume();
    let (id, body) = read_request(&mut peer).await;
    assert_eq!(body, b"normal");
    peer.write_all(&response(id, b"")).await.unwrap();
    normal.await.unwrap().unwrap();
}

#[tokio::test]
async fn idle_connections_close() {
    let (client, _peer) = tokio::io::duplex(4096);
    let mut cfg = config(4);
    cfg.idle_timeout = Some(Duration::from_millis(30));
    let h = spawn(client, cfg);
    tokio::time::timeout(Duration::from_secs(2), async {
        while !h.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("idle connection was not closed");
}

#[tokio::test]
async fn poison_from_a_caller_fails_in_flight() {
    let (client, mut peer) = tokio::io::duplex(4096);
    let h = spawn(client, config(4));
    let hc = h.clone();
    let call = tokio::spawn(async move { hc.round_trip(frame(b"q"), "Metadata", T, false).await });
    read_request(&mut peer).await;
    h.poison("response did not decode".into());
    match call.await.unwrap() {
        Err(Error::ConnectionLost { reason, .. }) => assert!(reason.contains("decode")),
        other => panic!("expected ConnectionLost, got {other:?}"),
    }
}
