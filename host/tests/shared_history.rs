//! The cluster's order history against the real Redis on 127.0.0.1:6379
//! (under a key prefix of this test's own, removed at the end): appending
//! is idempotent, so the relay may retry after an error or a lost answer.

use std::time::Duration;

use gateway::cluster::Cluster;
use gateway::cluster::history::SharedHistory;
use serde_json::json;

const REDIS: &str = "redis://127.0.0.1:6379";

async fn clean(cluster: &Cluster) {
    let mut conn = cluster.conn();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(cluster.key("*"))
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

#[tokio::test]
async fn a_repeated_append_keeps_its_first_seq_and_adds_nothing() {
    let prefix = format!("gwtest-history-{}", std::process::id());
    let cluster = Cluster::connect(REDIS, &prefix, "node".into(), Duration::from_secs(3))
        .await
        .expect("Redis on 127.0.0.1:6379");
    clean(&cluster).await;
    let history = SharedHistory::new(cluster.clone(), 100, Duration::from_secs(60));
    let first =
        json!({ "orderId": "o1", "type": "ORDER_CREATED", "userId": "ann", "timestamp": 1 });
    let second =
        json!({ "orderId": "o2", "type": "ORDER_CREATED", "userId": "ann", "timestamp": 2 });

    let a = history
        .append("ann", "order:notification", &first)
        .await
        .unwrap();
    let again = history
        .append("ann", "order:notification", &first)
        .await
        .unwrap();
    let b = history
        .append("ann", "order:notification", &second)
        .await
        .unwrap();
    let as_position = history
        .append("ann", "position:update", &first)
        .await
        .unwrap();
    assert_eq!((a, again, b, as_position), (1, 1, 2, 3));

    let kept = history.read("ann").await.unwrap();
    assert_eq!(kept.last_seq, 3);
    let seqs: Vec<u64> = kept.entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [1, 2, 3], "the repeat was not appended");
    assert_eq!(
        kept.entries[0].payload.get(),
        r#"{"seq":1,"orderId":"o1","timestamp":1,"type":"ORDER_CREATED","userId":"ann"}"#
    );
    clean(&cluster).await;
}
