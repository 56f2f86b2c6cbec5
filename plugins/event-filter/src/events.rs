//! The event service's events, validated and mapped from the contract's
//! JSON (`{ id, type, title, message, severity, timestamp, targetUserIds?, ... }`)
//! to the WIT record.

use gateway_sdk::contract::is_event_type;
use gateway_sdk::contract::records::EVENT_FIELDS;
use gateway_sdk::fields;
use gateway_sdk::{Event, Severity};
use serde_json::Value;

/// One event: every contract field but `targetUserIds` is required; other
/// fields go to `extra_json`.
pub(crate) fn event(item: &Value) -> Result<Event, String> {
    let obj = fields::object(item)?;
    let kind = fields::string(obj, "type")?;
    if !is_event_type(&kind) {
        return Err(format!(
            "type {kind:?} does not match ^[A-Z][A-Z0-9_]{{0,63}}$"
        ));
    }
    let severity = fields::string(obj, "severity")?;
    let severity = Severity::parse(&severity).ok_or_else(|| {
        format!("severity {severity:?} is not one of low, medium, high, critical")
    })?;
    Ok(Event {
        id: fields::id(obj, "id")?,
        kind,
        title: fields::string(obj, "title")?,
        message: fields::text(obj, "message")?,
        severity,
        timestamp: fields::timestamp(obj, "timestamp")?,
        target_user_ids: fields::opt_string_list(obj, "targetUserIds")?,
        extra_json: fields::extra_json(obj, EVENT_FIELDS),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Value {
        json!({"id": "e-1", "type": "MARKET_HALT", "title": "Halt", "message": "Trading halted",
               "severity": "high", "timestamp": 5})
    }

    fn typed(kind: &str) -> Result<Event, String> {
        let mut item = base();
        item["type"] = json!(kind);
        event(&item)
    }

    #[test]
    fn an_event_type_must_match_the_contract_pattern() {
        for ok in ["A", "MARKET_HALT", "X1_2", &format!("A{}", "B".repeat(63))] {
            assert!(typed(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1A",
            "_A",
            "market_halt",
            "MARKET-HALT",
            &format!("A{}", "B".repeat(64)),
        ] {
            assert!(typed(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn maps_an_event_with_targets_and_extra_fields() {
        let mut item = base();
        item["targetUserIds"] = json!(["alice"]);
        item["venue"] = json!("XLON");
        let e = event(&item).unwrap();
        assert_eq!(
            e,
            Event {
                id: "e-1".into(),
                kind: "MARKET_HALT".into(),
                title: "Halt".into(),
                message: "Trading halted".into(),
                severity: Severity::High,
                timestamp: 5,
                target_user_ids: Some(vec!["alice".into()]),
                extra_json: Some(r#"{"venue":"XLON"}"#.into()),
            }
        );
        let plain = event(&base()).unwrap();
        assert_eq!((plain.target_user_ids, plain.extra_json), (None, None));
    }

    #[test]
    fn refuses_bad_events() {
        let cases = [
            ("type", json!("market-halt"), "does not match"),
            ("severity", json!("urgent"), "\"urgent\" is not one of"),
            ("severity", Value::Null, "missing `severity`"),
            ("id", json!(""), "`id`"),
            ("title", json!(3), "`title` is not a string"),
            ("message", Value::Null, "missing `message`"),
            ("timestamp", json!(0), "`timestamp`"),
            ("targetUserIds", json!("alice"), "not an array"),
        ];
        for (key, value, reason) in cases {
            let mut item = base();
            item[key] = value;
            let err = event(&item).unwrap_err();
            assert!(err.contains(reason), "{key}: {err}");
        }
    }
}
