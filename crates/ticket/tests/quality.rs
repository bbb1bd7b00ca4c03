//! Each leg's RTCP figures (`CallRecord.quality`, migration 0014) stored with the record and read back, on
//! SQLite and PostgreSQL; a record without figures (an old spool's) stores none.

mod common;

use common::{rec, TestDb};
use ticket::record::LegQuality;
use ticket::Store;

fn caller_leg() -> LegQuality {
    LegQuality {
        leg: 0,
        packets_received: 2_700,
        lost: 300,
        jitter_us: 4_250,
        peer_reported_lost: Some(81),
        peer_reported_fraction_256: Some(64),
        peer_jitter_us: Some(1_000),
        rtt_ms: Some(42),
        mos_x100: Some(233),
    }
}

async fn leg_quality_is_stored_with_the_record(db: TestDb) {
    let s = Store::connect(&db.url, 4).await.unwrap();
    let mut r = rec("q-1");
    let seat = LegQuality {
        leg: 1,
        peer_reported_lost: None,
        peer_reported_fraction_256: None,
        peer_jitter_us: None,
        rtt_ms: None,
        mos_x100: None,
        ..caller_leg()
    };
    r.quality = vec![caller_leg(), seat];
    let plain = rec("q-2");
    assert!(plain.quality.is_empty());
    s.insert_call_records(&[r.clone(), plain.clone()], 5, "callback")
        .await
        .unwrap();
    // Stored once: the same record again adds no second set of rows.
    s.insert_call_records(&[r.clone()], 6, "callback")
        .await
        .unwrap();
    assert_eq!(s.call_record("q-1").await.unwrap(), Some(r.clone()));
    assert_eq!(s.call_record("q-2").await.unwrap(), Some(plain));
    let legs = s.leg_quality("q-1").await.unwrap();
    assert_eq!(legs.len(), 2);
    assert_eq!(legs[0].mos(), Some(2.33));
    assert!((legs[0].loss_fraction() - 0.1).abs() < 1e-9);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM leg_quality")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(n, 2);
}
both_backends!(leg_quality, leg_quality_is_stored_with_the_record);
