//! The after-call survey's answer through the store, on SQLite and PostgreSQL: kept with the call record, stored
//! as the after-call evaluation of the call's ticket whether the ticket was opened during the call or after it,
//! once only.

mod common;

use common::{rec, TestDb};
use ticket::{Category, Evaluation, EvaluationSource, Store, TicketInput};

async fn store(db: &TestDb) -> Store {
    Store::connect(&db.url, 4).await.unwrap()
}

fn input(call_id: &str) -> TicketInput {
    TicketInput {
        category: Category::Complaint,
        department: "water".into(),
        text: "停水".into(),
        caller: Some("13800001234".into()),
        call_id: Some(call_id.into()),
        accepted_at_ms: 1_000,
        source: "api".into(),
    }
}

fn surveyed(call_id: &str, key: Option<char>, at_ms: i64) -> ticket::CallRecord {
    ticket::CallRecord {
        survey: Some(ticket::record::Survey { key, at_ms }),
        ..rec(call_id)
    }
}

async fn answers(s: &Store, ticket_id: &str) -> Vec<(EvaluationSource, Evaluation, i64)> {
    s.evaluations(ticket_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            assert_eq!(e.ticket_id, ticket_id);
            (e.source, e.evaluation, e.at_ms)
        })
        .collect()
}

async fn the_survey_answer_reaches_the_calls_ticket_before_or_after_it_is_opened(db: TestDb) {
    let s = store(&db).await;
    // Opened during the call, the record (key 2) comes after: basically satisfied, after the call.
    let during = s
        .create_ticket(&input("c-during"), "op", 2_000)
        .await
        .unwrap();
    s.insert_call_records(&[surveyed("c-during", Some('2'), 5_000)], 6_000, "callback")
        .await
        .unwrap();
    assert_eq!(
        answers(&s, &during.id).await,
        vec![(EvaluationSource::AfterCall, Evaluation::Basic, 5_000)]
    );
    // The same record again (a spool replay) adds nothing.
    s.insert_call_records(&[surveyed("c-during", Some('2'), 5_000)], 7_000, "callback")
        .await
        .unwrap();
    assert_eq!(answers(&s, &during.id).await.len(), 1);

    // The record (key 1) first, the ticket opened in wrap-up: it gets the answer kept with the call.
    s.insert_call_records(&[surveyed("c-after", Some('1'), 8_000)], 9_000, "callback")
        .await
        .unwrap();
    let stored = s.call_record("c-after").await.unwrap().unwrap();
    assert_eq!(
        stored.survey,
        Some(ticket::record::Survey {
            key: Some('1'),
            at_ms: 8_000
        })
    );
    let after = s
        .create_ticket(&input("c-after"), "op", 10_000)
        .await
        .unwrap();
    assert_eq!(
        answers(&s, &after.id).await,
        vec![(EvaluationSource::AfterCall, Evaluation::Satisfied, 8_000)]
    );

    // No key before the time-out: not evaluated, and the record keeps "a survey ran, no key".
    s.insert_call_records(&[surveyed("c-none", None, 11_000)], 12_000, "callback")
        .await
        .unwrap();
    let stored = s.call_record("c-none").await.unwrap().unwrap();
    assert_eq!(
        stored.survey,
        Some(ticket::record::Survey {
            key: None,
            at_ms: 11_000
        })
    );
    let none = s
        .create_ticket(&input("c-none"), "op", 13_000)
        .await
        .unwrap();
    assert_eq!(
        answers(&s, &none.id).await,
        vec![(
            EvaluationSource::AfterCall,
            Evaluation::NotEvaluated,
            11_000
        )]
    );

    // A call without a survey leaves its ticket unevaluated.
    s.insert_call_records(&[rec("c-plain")], 14_000, "callback")
        .await
        .unwrap();
    assert_eq!(
        s.call_record("c-plain").await.unwrap().unwrap().survey,
        None
    );
    let plain = s
        .create_ticket(&input("c-plain"), "op", 15_000)
        .await
        .unwrap();
    assert!(answers(&s, &plain.id).await.is_empty());
}

both_backends!(
    survey_answer_reaches_the_ticket,
    the_survey_answer_reaches_the_calls_ticket_before_or_after_it_is_opened
);
