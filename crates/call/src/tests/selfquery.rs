//! The progress self-query: keys until `#` (or silence), the lookup, the answer read back piece by piece,
//! the neutral «没有查到», and a menu key that leads there.

use super::*;
use crate::selfquery::{GOODBYE, NOT_FOUND};

fn policy() -> CallPolicy {
    CallPolicy {
        self_query: Some(Arc::new(SelfQueryPolicy {
            prompts_dir: "sq".into(),
            first_key_timeout_ms: 10_000,
            inter_digit_timeout_ms: 5_000,
            attempts: 2,
        })),
        ..early_media()
    }
}

fn play(word: &str) -> Output {
    Output::Play {
        leg: CALLER,
        prompt: format!("sq/{word}.wav").into(),
        looped: false,
    }
}

fn key(call: &mut Call, digit: char, at: i64) -> Vec<Output> {
    call.handle(Input::Dtmf { leg: CALLER, digit }, at)
}

fn lookup(number: &str, code: Option<&str>) -> Output {
    Output::LookupTicket {
        number: number.into(),
        code: code.map(str::to_string),
        caller: "13800001234".into(),
    }
}

/// Answered (even in early-media mode: it is the system's own service) and asking for the number.
fn started() -> Call {
    let (call, out) = start(Plan::SelfQuery, policy());
    assert_eq!(out, vec![Output::Answer, play("enter_number")]);
    call
}

/// Plays `words` to the end: each piece on the previous one's end, then BYE and the record.
fn hear_to_the_end(call: &mut Call, words: &[&str], mut at: i64) -> Vec<Output> {
    for w in &words[1..] {
        at += 1000;
        assert_eq!(
            call.handle(Input::PromptFinished { leg: CALLER }, at),
            vec![play(w)]
        );
    }
    call.handle(Input::PromptFinished { leg: CALLER }, at + 1000)
}

#[test]
fn number_and_hash_ask_the_store_and_the_answer_is_read_back_then_the_call_ends() {
    let mut call = started();
    // A key cuts the prompt short; every key restarts the inter-digit timer.
    assert_eq!(
        key(&mut call, '4', 1_000),
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::StartTimer {
                kind: TimerKind::SelfQuery { round: 1 },
                after_ms: 5_000
            }
        ]
    );
    assert_eq!(key(&mut call, '2', 1_500).len(), 1);
    assert_eq!(key(&mut call, '#', 2_000), vec![lookup("42", None)]);
    // Keys while the store answers change nothing; the old timer is stale.
    assert!(key(&mut call, '9', 2_100).is_empty());
    assert!(call
        .handle(Input::Timer(TimerKind::SelfQuery { round: 2 }), 6_500)
        .is_empty());
    let words = ["your_request", "state_handling", "due", "2", "0"];
    let out = call.handle(
        Input::TicketLookedUp {
            answer: LookupAnswer::Progress {
                words: words.iter().map(|w| w.to_string()).collect(),
            },
        },
        2_200,
    );
    assert_eq!(out, vec![play("your_request")]);
    let mut all: Vec<&str> = words.to_vec();
    all.push(GOODBYE);
    let out = hear_to_the_end(&mut call, &all, 2_200);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    let r = record(&out);
    assert_eq!(r.end_reason, EndReason::PromptThenHangup);
    assert_eq!(
        r.digits, "",
        "ticket numbers and codes stay out of the record"
    );
    assert!(call.is_finished());
}

#[test]
fn star_then_the_query_code_goes_with_the_lookup_and_silence_ends_the_entry() {
    let mut call = started();
    call.handle(Input::PromptFinished { leg: CALLER }, 3_000);
    for (i, d) in "7*123456".chars().enumerate() {
        key(&mut call, d, 4_000 + i as i64 * 100);
    }
    // No `#`: the inter-digit timeout completes the entry.
    let last_round = 1 + 8;
    assert_eq!(
        call.handle(
            Input::Timer(TimerKind::SelfQuery { round: last_round }),
            9_700
        ),
        vec![lookup("7", Some("123456"))]
    );
}

#[test]
fn nothing_to_say_sounds_like_an_unknown_ticket() {
    let mut call = started();
    key(&mut call, '5', 1_000);
    assert_eq!(key(&mut call, '#', 1_200), vec![lookup("5", None)]);
    let out = call.handle(
        Input::TicketLookedUp {
            answer: LookupAnswer::NothingToSay,
        },
        1_300,
    );
    assert_eq!(out, vec![play(NOT_FOUND)]);
    let out = hear_to_the_end(&mut call, &[NOT_FOUND, GOODBYE], 1_300);
    assert_eq!(record(&out).end_reason, EndReason::PromptThenHangup);
}

#[test]
fn hash_alone_is_no_query_and_asks_nothing() {
    let mut call = started();
    assert_eq!(
        key(&mut call, '#', 1_000),
        vec![Output::StopPlaying { leg: CALLER }, play(NOT_FOUND)]
    );
}

#[test]
fn a_silent_caller_hears_the_prompt_again_then_goodbye() {
    let mut call = started();
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 3_000);
    assert_eq!(
        out,
        vec![Output::StartTimer {
            kind: TimerKind::SelfQuery { round: 1 },
            after_ms: 10_000
        }]
    );
    assert_eq!(
        call.handle(Input::Timer(TimerKind::SelfQuery { round: 1 }), 13_000),
        vec![play("enter_number")]
    );
    call.handle(Input::PromptFinished { leg: CALLER }, 16_000);
    assert_eq!(
        call.handle(Input::Timer(TimerKind::SelfQuery { round: 2 }), 26_000),
        vec![play(GOODBYE)]
    );
    let out = call.handle(Input::PromptFinished { leg: CALLER }, 27_000);
    assert_eq!(out[0], Output::Hangup { leg: CALLER });
    record(&out);
}

#[test]
fn the_caller_hanging_up_while_the_store_answers_ends_the_call_once() {
    let mut call = started();
    key(&mut call, '1', 1_000);
    key(&mut call, '#', 1_100);
    let out = call.handle(Input::LegHangup { leg: CALLER }, 1_200);
    record(&out);
    assert!(call
        .handle(
            Input::TicketLookedUp {
                answer: LookupAnswer::NothingToSay
            },
            1_300
        )
        .is_empty());
}

#[test]
fn without_a_policy_the_self_query_is_refused_honestly() {
    let (call, out) = start(Plan::SelfQuery, early_media());
    assert_eq!(out[..2], [Output::Answer, Output::Hangup { leg: CALLER }]);
    assert!(call.is_finished());
}

#[test]
fn a_menu_key_with_self_query_leads_to_it() {
    let router = FakeRouter::new(vec![("8", decision(Action::SelfQuery, None, None, None))]);
    let menu = decision(Action::Menu, Some("menu.wav"), Some("line1"), None);
    let (mut call, _) = Call::new(setup_with(menu, router, 0), policy(), 0);
    let out = key(&mut call, '8', 1_000);
    assert_eq!(
        out,
        vec![
            Output::StopPlaying { leg: CALLER },
            Output::Answer,
            play("enter_number")
        ]
    );
    assert_eq!(call.plan(), &Plan::SelfQuery);
    // The menu key is the record's; the ticket number is not.
    key(&mut call, '3', 2_000);
    key(&mut call, '#', 2_100);
    let out = call.handle(Input::LegHangup { leg: CALLER }, 2_200);
    assert_eq!(record(&out).digits, "8");
}
