//! The connection limit's refusal.

#[test]
fn over_limit_response_declares_its_body_length() {
    let text = std::str::from_utf8(super::OVER_LIMIT_RESPONSE).expect("ASCII");
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    assert!(head.contains(&format!("content-length: {}\r\n", body.len())), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(body["code"], 100);
}
