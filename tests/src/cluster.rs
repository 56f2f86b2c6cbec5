//! Gateway processes in cluster mode: nodes sharing the Redis at
//! 127.0.0.1:6379 under a key prefix of the test's own, which it removes.

/// The Redis every cluster test uses.
pub const REDIS: &str = "redis://127.0.0.1:6379";

/// A key prefix no other test (or test run) uses.
pub fn prefix(test: &str) -> String {
    format!("gwtest-{test}-{}", std::process::id())
}

/// The settings of node `node` of the cluster under `prefix`, plus `extra`
/// (leases of 1.5 s, so a takeover is quick).
pub fn settings(
    prefix: &str,
    node: &str,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("REDIS_URL", REDIS.to_owned()),
        ("REDIS_PREFIX", prefix.to_owned()),
        ("NODE_ID", node.to_owned()),
        ("LEASE_TTL_MS", "1500".to_owned()),
    ];
    env.extend_from_slice(extra);
    env
}

/// Deletes every key under `prefix`.
pub async fn clean(prefix: &str) {
    let client = redis::Client::open(REDIS).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    if !keys.is_empty() {
        let _: () = redis::cmd("DEL")
            .arg(keys)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
}
