//! Shared secrets: the first value asked for is the one every store handle reads, ever after.

use crate::helpers::manual_clock;

store_test! {
    async fn ten_replicas_asking_at_once_agree_on_the_first_value_and_keep_it(db) {
        let clock = manual_clock();
        let (a, b) = (db.store(&clock).await, db.store(&clock).await);
        let mut tasks = Vec::new();
        for i in 0..10 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                store
                    .shared_secret("log_hash_key", &format!("candidate-{i}"))
                    .await
                    .expect("the store answers")
            }));
        }
        let mut values = Vec::new();
        for task in tasks {
            values.push(task.await.expect("task"));
        }
        assert!(values.iter().all(|v| *v == values[0]), "{values:?}");
        assert!(values[0].starts_with("candidate-"), "{values:?}");
        let later = db.store(&clock).await;
        assert_eq!(
            later.shared_secret("log_hash_key", "another").await.unwrap(),
            values[0],
            "a later handle (a restart) reads the same"
        );
        assert_eq!(
            later.shared_secret("other", "its own").await.unwrap(),
            "its own",
            "each name is its own secret"
        );
    }
}
