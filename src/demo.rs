//! Demo traffic: a small, deterministic stream of login events.

use authpulse_schemas::{to_json, Body, Event, Login, Org};
use chrono::Utc;
use uuid::Uuid;

use crate::loadgen_cmd::Sender;

/// Produces `count` login events spread over the last `hours` hours.
pub async fn produce(
    brokers: &str,
    topic: &str,
    count: u64,
    hours: u32,
    seed: u64,
) -> anyhow::Result<u64> {
    // Enqueue everything, await the deliveries at the end (fast path).
    let mut sender = Sender::new(brokers)?;
    let org = Org {
        id: Uuid::from_u128(0xA0 + u128::from(seed)),
        slug: "demo".into(),
    };
    let apps = [Uuid::from_u128(0x1001), Uuid::from_u128(0x1002)];
    let providers = ["password", "google", "github", "microsoft"];
    let now = Utc::now();
    let span_ms = i64::from(hours.max(1)) * 3600 * 1000;
    for i in 0..count {
        let mix = i.wrapping_mul(2654435761).wrapping_add(seed);
        let success = mix % 10 != 0;
        let event = Event {
            id: Uuid::from_u128((u128::from(seed) << 64) | u128::from(i)),
            occurred_at: now - chrono::Duration::milliseconds((mix as i64).rem_euclid(span_ms)),
            org: org.clone(),
            body: Body::Login(Login {
                success,
                failure_reason: (!success).then(|| "invalid_password".to_string()),
                user_id: Some(Uuid::from_u128(0x5000 + u128::from(mix % 50))),
                login_id: format!("user{}@demo.example", mix % 50),
                application_id: apps[(i % 2) as usize],
                application_name: Some(format!("demo-app-{}", i % 2 + 1)),
                provider: providers[(mix % 4) as usize].to_string(),
                ip: Some("127.0.0.1".into()),
                user_agent: Some("authpulse-demo".into()),
                session_id: None,
            }),
        };
        let payload = to_json(&event);
        let key = event.id.to_string();
        sender.send(topic, key.as_bytes(), &payload).await?;
    }
    let sent = sender.flush().await?;
    Ok(sent)
}
