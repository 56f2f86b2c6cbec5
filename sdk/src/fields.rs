//! Reading the JSON items of an upstream answer: typed required and optional
//! fields with a reason when one is wrong, the answer's items array and
//! `cursor`, the fields left over for a record's `extra-json`, and [`Drops`]
//! to skip a bad item with one warning instead of failing the whole answer.
//!
//! A missing field and a `null` one are the same: absent.
//!
//! ```
//! use gateway_sdk::fields::{self, Drops};
//! use serde_json::json;
//! # let _host = gateway_sdk::testing::FakeHost::new().install();
//!
//! let answer = json!({"cursor": 7, "items": [{"id": 1, "name": "a"}, {"name": "b"}]});
//! let answer = fields::object(&answer)?;
//! let items = fields::array(answer, "items")?;
//! let mut drops = Drops::default();
//! let ids: Vec<String> = items
//!     .iter()
//!     .enumerate()
//!     .filter_map(|(i, item)| {
//!         let id = fields::object(item).and_then(|o| fields::id(o, "id"));
//!         drops.keep(|| format!("items[{i}]"), id)
//!     })
//!     .collect();
//! drops.warn(items.len(), "the service"); // "dropped 1 of 2 items … first: items[1]: missing `id`"
//! assert_eq!(ids, ["1"]);
//! assert_eq!(fields::cursor(answer)?.as_deref(), Some("7"));
//! # Ok::<(), String>(())
//! ```

use serde_json::{Map, Value};

use crate::log;

/// A JSON object, as an answer and its items are.
pub type Object = Map<String, Value>;

/// `value` as an object.
///
/// ```
/// use gateway_sdk::fields;
/// assert!(fields::object(&serde_json::json!({"a": 1})).is_ok());
/// assert_eq!(fields::object(&serde_json::json!([1])).unwrap_err(), "not a JSON object");
/// ```
pub fn object(value: &Value) -> Result<&Object, String> {
    value
        .as_object()
        .ok_or_else(|| "not a JSON object".to_owned())
}

/// `obj[key]` unless missing or `null`.
fn present<'a>(obj: &'a Object, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An identifier: a non-empty string, or an integer taken as its digits.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"orderId": 42, "userId": "alice", "blank": ""});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::id(obj, "orderId").unwrap(), "42");
/// assert_eq!(fields::id(obj, "userId").unwrap(), "alice");
/// assert!(fields::id(obj, "blank").is_err());
/// ```
pub fn id(obj: &Object, key: &str) -> Result<String, String> {
    match present(obj, key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(n.to_string()),
        Some(_) => Err(format!(
            "`{key}` is neither a non-empty string nor an integer"
        )),
        None => Err(format!("missing `{key}`")),
    }
}

/// A required non-empty string.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"symbol": "EURUSD", "side": ""});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::string(obj, "symbol").unwrap(), "EURUSD");
/// assert_eq!(fields::string(obj, "side").unwrap_err(), "missing `side`");
/// ```
pub fn string(obj: &Object, key: &str) -> Result<String, String> {
    opt_string(obj, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| format!("missing `{key}`"))
}

/// A required string, possibly empty.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"message": ""});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::text(obj, "message").unwrap(), "");
/// assert!(fields::text(obj, "title").is_err());
/// ```
pub fn text(obj: &Object, key: &str) -> Result<String, String> {
    opt_string(obj, key)?.ok_or_else(|| format!("missing `{key}`"))
}

/// An optional string.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"status": "FILLED", "side": null});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::opt_string(obj, "status").unwrap().as_deref(), Some("FILLED"));
/// assert_eq!(fields::opt_string(obj, "side").unwrap(), None);
/// ```
pub fn opt_string(obj: &Object, key: &str) -> Result<Option<String>, String> {
    match present(obj, key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{key}` is not a string")),
        None => Ok(None),
    }
}

/// An optional list of non-empty strings.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"targetUserIds": ["alice", "bob"]});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::opt_string_list(obj, "targetUserIds").unwrap().unwrap(), ["alice", "bob"]);
/// assert_eq!(fields::opt_string_list(obj, "missing").unwrap(), None);
/// ```
pub fn opt_string_list(obj: &Object, key: &str) -> Result<Option<Vec<String>>, String> {
    match present(obj, key) {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) if !s.is_empty() => Ok(s.clone()),
                _ => Err(format!(
                    "`{key}` holds something other than a non-empty string"
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("`{key}` is not an array")),
        None => Ok(None),
    }
}

/// A required finite number.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"unrealizedPnL": -12.5});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::number(obj, "unrealizedPnL").unwrap(), -12.5);
/// assert!(fields::number(obj, "price").is_err());
/// ```
pub fn number(obj: &Object, key: &str) -> Result<f64, String> {
    opt_number(obj, key)?.ok_or_else(|| format!("missing `{key}`"))
}

/// An optional finite number.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"price": 1.0851, "quantity": "many"});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::opt_number(obj, "price").unwrap(), Some(1.0851));
/// assert!(fields::opt_number(obj, "quantity").is_err());
/// ```
pub fn opt_number(obj: &Object, key: &str) -> Result<Option<f64>, String> {
    match present(obj, key) {
        Some(v) => v
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Some)
            .ok_or_else(|| format!("`{key}` is not a number")),
        None => Ok(None),
    }
}

/// A required timestamp: milliseconds since the epoch, above zero.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"timestamp": 1_700_000_000_000u64, "zero": 0});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::timestamp(obj, "timestamp").unwrap(), 1_700_000_000_000);
/// assert!(fields::timestamp(obj, "zero").is_err());
/// ```
pub fn timestamp(obj: &Object, key: &str) -> Result<u64, String> {
    match present(obj, key) {
        Some(v) => v
            .as_u64()
            .filter(|t| *t > 0)
            .ok_or_else(|| format!("`{key}` is not a positive integer (ms since epoch)")),
        None => Err(format!("missing `{key}`")),
    }
}

/// The fields of `obj` not named in `known`, as a JSON object string; none
/// when there are no such fields.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"orderId": "o-1", "fee": 0.5});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::extra_json(obj, &["orderId"]).as_deref(), Some(r#"{"fee":0.5}"#));
/// assert_eq!(fields::extra_json(obj, &["orderId", "fee"]), None);
/// ```
pub fn extra_json(obj: &Object, known: &[&str]) -> Option<String> {
    let extra: Object = obj
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    (!extra.is_empty()).then(|| Value::Object(extra).to_string())
}

/// The array `answer[key]`; a missing or `null` one is empty.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"orders": [1, 2], "positions": null});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::array(obj, "orders").unwrap().len(), 2);
/// assert!(fields::array(obj, "positions").unwrap().is_empty());
/// ```
pub fn array<'a>(answer: &'a Object, key: &str) -> Result<&'a [Value], String> {
    match present(answer, key) {
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("`{key}` is not an array")),
        None => Ok(&[]),
    }
}

/// The answer's `cursor`: a string or a number (kept as its JSON text); none
/// when missing, `null` or empty.
///
/// ```
/// use gateway_sdk::fields;
/// let item = serde_json::json!({"cursor": 17});
/// let obj = fields::object(&item).unwrap();
/// assert_eq!(fields::cursor(obj).unwrap().as_deref(), Some("17"));
/// ```
pub fn cursor(answer: &Object) -> Result<Option<String>, String> {
    match present(answer, "cursor") {
        Some(Value::String(s)) => Ok((!s.is_empty()).then(|| s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err("`cursor` is neither a string nor a number".to_owned()),
        None => Ok(None),
    }
}

/// Counts refused items and keeps the reason of the first one.
#[derive(Debug, Default)]
pub struct Drops {
    count: usize,
    first: Option<String>,
}

impl Drops {
    /// The item of `result`, or none after counting its refusal; `what`
    /// names the item in the warning, e.g. `orders[3]`.
    pub fn keep<T>(
        &mut self,
        what: impl FnOnce() -> String,
        result: Result<T, String>,
    ) -> Option<T> {
        match result {
            Ok(item) => Some(item),
            Err(why) => {
                self.count += 1;
                self.first
                    .get_or_insert_with(|| format!("{}: {why}", what()));
                None
            }
        }
    }

    /// Logs one warning when any of the `total` items from `source` was
    /// refused: `dropped N of TOTAL items from SOURCE; first: WHAT: WHY`.
    pub fn warn(&self, total: usize, source: &str) {
        if let Some(first) = &self.first {
            log::warn(&format!(
                "dropped {} of {total} items from {source}; first: {first}",
                self.count
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeHost;
    use serde_json::json;

    fn obj(v: Value) -> Object {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn typed_fields() {
        let o = obj(json!({
            "s": "x", "e": "", "n": 1.5, "i": 42, "neg": -1, "nul": null, "b": true,
            "l": ["a", "b"], "bad": ["a", 1], "empty": [""]
        }));
        assert_eq!(id(&o, "s").unwrap(), "x");
        assert_eq!(id(&o, "i").unwrap(), "42");
        assert!(id(&o, "e").unwrap_err().contains("non-empty"));
        assert!(id(&o, "n").is_err());
        assert!(id(&o, "nul").unwrap_err().contains("missing"));
        assert!(string(&o, "e").unwrap_err().contains("missing `e`"));
        assert!(string(&o, "b").unwrap_err().contains("not a string"));
        assert_eq!(text(&o, "e").unwrap(), "");
        assert!(text(&o, "absent").unwrap_err().contains("missing"));
        assert_eq!(opt_string(&o, "nul").unwrap(), None);
        assert_eq!(
            opt_string_list(&o, "l").unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(opt_string_list(&o, "nul").unwrap(), None);
        assert!(opt_string_list(&o, "bad").is_err());
        assert!(opt_string_list(&o, "empty").is_err());
        assert!(
            opt_string_list(&o, "s")
                .unwrap_err()
                .contains("not an array")
        );
        assert_eq!(opt_number(&o, "n").unwrap(), Some(1.5));
        assert_eq!(opt_number(&o, "absent").unwrap(), None);
        assert!(opt_number(&o, "s").is_err());
        assert_eq!(number(&o, "neg").unwrap(), -1.0);
        assert_eq!(timestamp(&o, "i").unwrap(), 42);
        assert!(timestamp(&o, "neg").is_err());
        assert!(timestamp(&o, "n").is_err());
        assert!(timestamp(&o, "absent").unwrap_err().contains("missing"));
        assert!(
            object(&json!([1]))
                .unwrap_err()
                .contains("not a JSON object")
        );
    }

    #[test]
    fn extra_fields_and_cursor() {
        let o = obj(json!({"a": 1, "b": {"c": [1, 2]}, "cursor": 17}));
        assert_eq!(
            extra_json(&o, &["a", "cursor"]).unwrap(),
            r#"{"b":{"c":[1,2]}}"#
        );
        assert_eq!(extra_json(&o, &["a", "b", "cursor"]), None);
        assert_eq!(cursor(&o).unwrap().as_deref(), Some("17"));
        assert_eq!(
            cursor(&obj(json!({"cursor": "c-9"}))).unwrap().as_deref(),
            Some("c-9")
        );
        assert_eq!(cursor(&obj(json!({"cursor": ""}))).unwrap(), None);
        assert_eq!(cursor(&obj(json!({}))).unwrap(), None);
        assert!(cursor(&obj(json!({"cursor": [1]}))).is_err());
        assert!(array(&o, "a").is_err());
        assert!(array(&o, "missing").unwrap().is_empty());
    }

    #[test]
    fn drops_warn_once_with_the_first_reason() {
        let host = FakeHost::new().install();
        let mut drops = Drops::default();
        assert_eq!(drops.keep(|| "x[0]".into(), Ok(1)), Some(1));
        drops.warn(1, "the service");
        assert!(host.logs().is_empty(), "nothing dropped, nothing said");
        assert_eq!(
            drops.keep(|| "x[1]".into(), Err::<u8, _>("bad".into())),
            None
        );
        assert_eq!(
            drops.keep(|| "x[2]".into(), Err::<u8, _>("worse".into())),
            None
        );
        drops.warn(3, "the service");
        assert_eq!(
            host.take_logs(),
            [(
                log::Level::Warn,
                "dropped 2 of 3 items from the service; first: x[1]: bad".to_owned()
            )]
        );
    }
}
