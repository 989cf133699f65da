//! Tests of the wire format: both encodings, both protocol versions, the limits of a
//! request read before anything is kept.
use super::*;

#[test]
fn binary_bodies_round_trip_and_malformed_ones_are_refused() {
    let req = SyncRequest {
        epoch: None,
        protocol: 1,
        cursor: 42,
        push: vec![
            CaseChanges {
                case_id: "0a1b".into(),
                form_id: "icrown-core".into(),
                changes: vec![0x85, 0x6f, 0x4a, 0x83],
                heads: vec!["ab".repeat(32), "0c".repeat(32)],
            },
            CaseChanges {
                case_id: "症例".into(),
                form_id: "sari".into(),
                changes: Vec::new(),
                heads: Vec::new(),
            },
        ],
    };
    let bin = req.to_binary().unwrap();
    // The layout is a contract like the JSON: magic, protocol, cursor, count, ...
    assert_eq!(&bin[..4], b"WSQ1");
    assert_eq!(&bin[4..8], &1u32.to_le_bytes());
    assert_eq!(&bin[8..16], &42u64.to_le_bytes());
    assert_eq!(&bin[16..20], &2u32.to_le_bytes());
    assert_eq!(&bin[20..22], &4u16.to_le_bytes());
    assert_eq!(&bin[22..26], b"0a1b");
    assert_eq!(SyncRequest::from_binary(&bin).unwrap(), req);
    let resp = SyncResponse {
        epoch: None,
        protocol: 1,
        cursor: 7,
        more: true,
        cases: req.push.clone(),
        repush: Vec::new(),
    };
    assert_eq!(
        SyncResponse::from_binary(&resp.to_binary().unwrap()).unwrap(),
        resp
    );
    // Cases to push again: a trailing section, only when there are some.
    let asking = SyncResponse {
        epoch: None,
        repush: vec!["0a1b".into(), "症例".into()],
        ..resp.clone()
    };
    let plain = resp.to_binary().unwrap();
    let asked = asking.to_binary().unwrap();
    assert_eq!(asked.len(), plain.len() + 4 + 2 + 4 + 2 + 6);
    assert_eq!(SyncResponse::from_binary(&asked).unwrap(), asking);
    for cut in plain.len() + 1..asked.len() {
        assert!(
            SyncResponse::from_binary(&asked[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut empty = plain;
    empty.extend_from_slice(&0u32.to_le_bytes());
    assert!(SyncResponse::from_binary(&empty).is_err());
    // Every truncation is refused, never read past its end or half-applied.
    for cut in 0..bin.len() {
        assert!(
            SyncRequest::from_binary(&bin[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = bin.clone();
    longer.push(0);
    assert!(SyncRequest::from_binary(&longer).is_err());
    assert!(
        SyncResponse::from_binary(&bin).is_err(),
        "a request is not an answer"
    );
    // More cases than a push may hold: refused before reading any.
    let mut many = bin[..16].to_vec();
    many.extend_from_slice(&(super::MAX_PUSH_CASES as u32 + 1).to_le_bytes());
    many.extend(std::iter::repeat_n(0u8, 10 * 1000));
    let err = SyncRequest::from_binary(&many).unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
    // A count far beyond the body is refused without allocating for it.
    let mut huge = bin[..16].to_vec();
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(SyncRequest::from_binary(&huge).is_err());
}

#[test]
fn what_does_not_fit_the_binary_layout_is_refused_not_truncated() {
    let case = |case_id: String, heads: Vec<String>| CaseChanges {
        case_id,
        form_id: "sari".into(),
        changes: Vec::new(),
        heads,
    };
    // 65,535 bytes fit; one more does not (a cut would split a character or an id).
    let fits = SyncResponse {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 1,
        more: false,
        cases: vec![case("a".repeat(65_535), Vec::new())],
        repush: Vec::new(),
    };
    let bin = fits.to_binary().unwrap();
    assert_eq!(SyncResponse::from_binary(&bin).unwrap(), fits);
    for bad in [
        case("a".repeat(65_536), Vec::new()),
        case("é".repeat(40_000), Vec::new()),
        case("0a".into(), vec!["not a head".into()]),
        case("0a".into(), vec!["ab".repeat(32); 70_000]),
    ] {
        let resp = SyncResponse {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 1,
            more: false,
            cases: vec![bad.clone()],
            repush: Vec::new(),
        };
        assert!(resp.to_binary().is_err(), "{}", bad.case_id.len());
        let req = SyncRequest {
            epoch: None,
            protocol: PROTOCOL,
            cursor: 1,
            push: vec![bad],
        };
        assert!(req.to_binary().is_err());
    }
}

#[test]
fn gzip_round_trips_and_refuses_bombs_and_garbage() {
    let body = br#"{"protocol":1,"cursor":0,"push":[]}"#.repeat(200);
    let packed = gzip(&body);
    assert!(packed.len() < body.len() / 10);
    assert_eq!(gunzip(&packed, body.len()).unwrap(), body);
    // Expanding beyond the limit is refused, however small the compressed body.
    let bomb = gzip(&vec![0u8; 10_000_000]);
    assert!(bomb.len() < 100_000);
    assert_eq!(
        gunzip(&bomb, 1_000_000),
        Err(GunzipError::TooLarge(1_000_000))
    );
    assert_eq!(gunzip(b"not gzip at all", 1000), Err(GunzipError::Invalid));
    assert_eq!(
        gunzip(&packed[..packed.len() / 2], body.len()),
        Err(GunzipError::Invalid),
        "a truncated body"
    );
}

/// The serialized form is a contract with deployed devices and servers: a change here
/// must be a new protocol version.
#[test]
fn wire_format_snapshot() {
    let req = SyncRequest {
        epoch: None,
        protocol: 1,
        cursor: 42,
        push: vec![CaseChanges {
            case_id: "0a1b".into(),
            form_id: "icrown-core".into(),
            changes: vec![0x85, 0x6f, 0x4a, 0x83],
            heads: vec!["ab".repeat(32)],
        }],
    };
    let json = serde_json::to_string(&req).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"protocol":1,"cursor":42,"push":[{{"case_id":"0a1b","form_id":"icrown-core","changes":"hW9Kgw==","heads":["{}"]}}]}}"#,
            "ab".repeat(32)
        )
    );
    assert_eq!(serde_json::from_str::<SyncRequest>(&json).unwrap(), req);
    let resp = SyncResponse {
        epoch: None,
        protocol: 1,
        cursor: 7,
        more: false,
        cases: vec![],
        repush: vec![],
    };
    assert_eq!(
        serde_json::to_string(&resp).unwrap(),
        r#"{"protocol":1,"cursor":7,"more":false,"cases":[]}"#
    );
    let asking = SyncResponse {
        epoch: None,
        repush: vec!["0a1b".into()],
        ..resp
    };
    let json = serde_json::to_string(&asking).unwrap();
    assert_eq!(
        json,
        r#"{"protocol":1,"cursor":7,"more":false,"cases":[],"repush":["0a1b"]}"#
    );
    assert_eq!(serde_json::from_str::<SyncResponse>(&json).unwrap(), asking);
}

/// Protocol 2: the epoch follows the cursor (request) or the more flag (answer), as a
/// string (empty: none); protocol 1 bodies are unchanged, and have no place for one.
#[test]
fn protocol_2_bodies_carry_the_epoch_and_protocol_1_bodies_are_unchanged() {
    let epoch = "0123456789abcdef0123456789abcdef".to_string();
    let req = SyncRequest {
        protocol: 2,
        cursor: 42,
        push: vec![],
        epoch: Some(epoch.clone()),
    };
    let bin = req.to_binary().unwrap();
    assert_eq!(&bin[..4], b"WSQ1");
    assert_eq!(&bin[4..8], &2u32.to_le_bytes());
    assert_eq!(&bin[8..16], &42u64.to_le_bytes());
    assert_eq!(&bin[16..18], &32u16.to_le_bytes());
    assert_eq!(&bin[18..50], epoch.as_bytes());
    assert_eq!(&bin[50..], &0u32.to_le_bytes());
    assert_eq!(SyncRequest::from_binary(&bin).unwrap(), req);
    // No epoch yet (a device's first sync): an empty string.
    let first = SyncRequest {
        epoch: None,
        ..req.clone()
    };
    let bin = first.to_binary().unwrap();
    assert_eq!(&bin[16..18], &0u16.to_le_bytes());
    assert_eq!(SyncRequest::from_binary(&bin).unwrap(), first);
    let answer = SyncResponse {
        protocol: 2,
        cursor: 7,
        more: true,
        cases: vec![],
        repush: vec!["0a1b".into()],
        epoch: Some(epoch.clone()),
    };
    let bin = answer.to_binary().unwrap();
    assert_eq!(&bin[16..17], &[1]);
    assert_eq!(&bin[17..19], &32u16.to_le_bytes());
    assert_eq!(&bin[19..51], epoch.as_bytes());
    assert_eq!(SyncResponse::from_binary(&bin).unwrap(), answer);
    // Every cut is refused but the one after the cases (55 bytes: a whole answer that
    // asks for nothing again).
    for cut in (0..bin.len()).filter(|c| *c != 55) {
        assert!(
            SyncResponse::from_binary(&bin[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    assert_eq!(
        serde_json::to_string(&answer).unwrap(),
        format!(
            r#"{{"protocol":2,"cursor":7,"more":true,"cases":[],"repush":["0a1b"],"epoch":"{epoch}"}}"#
        )
    );
    assert_eq!(
        serde_json::to_string(&req).unwrap(),
        format!(r#"{{"protocol":2,"cursor":42,"push":[],"epoch":"{epoch}"}}"#)
    );
    // A protocol 1 body has no place for an epoch: refused, never dropped silently.
    let old = SyncResponse {
        protocol: 1,
        ..answer.clone()
    };
    assert!(old.to_binary().is_err());
    let old = SyncRequest {
        protocol: 1,
        ..req.clone()
    };
    assert!(old.to_binary().is_err());
    // A protocol 1 answer (an older repository) reads as before, without an epoch.
    let v1 = SyncResponse {
        protocol: 1,
        epoch: None,
        ..answer
    };
    let bin = v1.to_binary().unwrap();
    assert_eq!(
        &bin[17..21],
        &0u32.to_le_bytes(),
        "the cases follow the more flag"
    );
    assert_eq!(SyncResponse::from_binary(&bin).unwrap(), v1);
}

fn json_push(entries: usize, heads: usize) -> Vec<u8> {
    let head = format!("\"{}\"", "ab".repeat(32));
    let entry = format!(
        r#"{{"case_id":"","form_id":"","changes":"","heads":[{}]}}"#,
        vec![head.as_str(); heads].join(",")
    );
    format!(
        r#"{{"protocol":1,"cursor":0,"push":[{}]}}"#,
        vec![entry.as_str(); entries].join(",")
    )
    .into_bytes()
}

#[test]
fn a_json_push_is_read_only_up_to_its_limits() {
    let max = super::MAX_PUSH_CASES;
    let at_limit = SyncRequest::from_json(&json_push(max, 2)).unwrap();
    assert_eq!(at_limit.push.len(), max);
    assert_eq!(at_limit.push[0].heads.len(), 2);
    // 100,000 small entries: refused at entry 401, not parsed whole first.
    let many = json_push(100_000, 0);
    let refused = SyncRequest::from_json(&many).map(|r| r.push.len());
    assert_eq!(refused, Err(JsonRequestError::TooManyCases(max)));
    let Err(err) = serde_json::from_slice::<SyncRequest>(&many) else {
        panic!("100,000 entries were read");
    };
    assert!(err.to_string().contains("more than 400 cases"), "{err}");
    assert!(
        err.column() < 100 * (max + 2),
        "refused where the limit is passed, at column {}",
        err.column()
    );
    // Heads: up to MAX_HEADS per entry.
    let heads = super::MAX_HEADS;
    assert_eq!(
        SyncRequest::from_json(&json_push(1, heads)).unwrap().push[0]
            .heads
            .len(),
        heads
    );
    let err = SyncRequest::from_json(&json_push(1, heads + 1)).unwrap_err();
    assert!(
        matches!(&err, JsonRequestError::Invalid(m) if m.contains("more than 256 heads")),
        "{err}"
    );
    // The flag of one refusal does not leak into the next answer.
    assert!(matches!(
        SyncRequest::from_json(b"{}"),
        Err(JsonRequestError::Invalid(_))
    ));
    // Answers are not bounded by the push limits.
    let answer = SyncResponse {
        epoch: None,
        protocol: PROTOCOL,
        cursor: 1,
        more: false,
        cases: vec![
            CaseChanges {
                case_id: "0a".into(),
                form_id: "sari".into(),
                changes: Vec::new(),
                heads: vec!["ab".repeat(32); heads + 1],
            };
            max + 1
        ],
        repush: Vec::new(),
    };
    let json = serde_json::to_vec(&answer).unwrap();
    assert_eq!(
        serde_json::from_slice::<SyncResponse>(&json).unwrap(),
        answer
    );
}

#[test]
fn refuses_bad_base64_and_unknown_keys() {
    let bad = r#"{"protocol":1,"cursor":0,"push":[{"case_id":"a","form_id":"f","changes":"***","heads":[]}]}"#;
    assert!(
        serde_json::from_str::<SyncRequest>(bad)
            .unwrap_err()
            .to_string()
            .contains("not base64")
    );
    let extra = r#"{"protocol":1,"cursor":0,"push":[],"admin":true}"#;
    assert!(serde_json::from_str::<SyncRequest>(extra).is_err());
}
