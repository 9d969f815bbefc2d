use futures::StreamExt;
use std::time::Duration;
use warren::client::{ConsumeOptions, PublishOptions, QueueDeclareOptions};
use warren::{BasicProperties, Connection, FieldTable};

fn url() -> String {
    std::env::var("WARREN_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5673/%2f".into())
}

#[tokio::test]
async fn publish_consume_ack() {
    tokio::time::timeout(Duration::from_secs(20), async {
        let conn = Connection::connect(&url()).await.unwrap();
        let ch = conn.channel(None).await.unwrap();
        let q = ch
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    ..Default::default()
                },
                FieldTable::new(),
            )
            .await
            .unwrap();
        assert!(q.name.starts_with("amq.gen-"));
        let props = BasicProperties::default().with_content_type("text/plain");
        ch.basic_publish("", &q.name, b"hello", &props, PublishOptions::default())
            .await
            .unwrap();
        let mut consumer = ch
            .basic_consume(&q.name, ConsumeOptions::default(), FieldTable::new())
            .await
            .unwrap();
        let msg = consumer.next().await.unwrap().unwrap();
        assert_eq!(&msg.body[..], b"hello");
        assert_eq!(msg.properties.content_type.as_deref(), Some("text/plain"));
        msg.ack().unwrap();
        conn.close().await.unwrap();
    })
    .await
    .unwrap();
}
