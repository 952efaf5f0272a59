//! The scripted intake agent: the receptionist every business has with no LLM configured.
//! It greets, asks for the caller's name, the reason for the call and a good time to call
//! back (the questions are editable per business), confirms, thanks and ends the call with
//! the details saved. On a call the business placed it opens with who is calling and why,
//! and asks who answered, what to pass on and when to call again.
//!
//! It keeps no state of its own: where the conversation stands is read from
//! `AgentContext::history` (which holds what the caller actually heard), so one instance
//! serves every call and a barge-in that cut a question off simply gets it asked again.
//! With no speech-to-text the caller's text is empty: each answer is taken as given (the
//! server keeps its audio for the offline transcription) and the script moves on.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::{self, BoxStream};

use super::intent::{Intent, classify};
use crate::provider::{
    Agent, AgentAction, AgentContext, AgentEvent, ProviderError, Role, default_greeting,
    outbound_opening,
};

/// Name, reason for the call, a good time to call back.
pub const DEFAULT_QUESTIONS: [&str; 3] = [
    "מה השם שלך?",
    "במה אפשר לעזור? מה סיבת הפנייה?",
    "מתי נוח שנחזור אליך?",
];
/// On a call the business placed: who answered, what they want the business to know, and
/// when the business may call again (the same three slots as an incoming call's intake).
pub const OUTBOUND_QUESTIONS: [&str; 3] = [
    "עם מי אני מדבר/ת?",
    "יש משהו שתרצה/י שנעביר לעסק?",
    "מתי נוח שיחזרו אליך?",
];
const ACK: &str = "תודה.";
const REPEAT_ACK: &str = "בטח.";
const CONFIRM_PREFIX: &str = "רק לוודא שרשמתי נכון:";
const CONFIRM_QUESTION: &str = "נכון?";
const THANKS: &str = "תודה רבה! רשמתי את הפרטים ונחזור אליך בהקדם.";
const RESTART: &str = "סליחה על הטעות, נתחיל שוב.";
const URGENT_WORDS: &[&str] = &["דחוף", "דחופה", "בהקדם האפשרי", "מיד"];

/// Where the script stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Question(usize),
    Confirm,
    Done,
}

/// The default agent: a fixed Hebrew intake script.
#[derive(Debug, Clone, Default)]
pub struct ScriptedAgent;

impl ScriptedAgent {
    pub fn new() -> Self {
        Self
    }
}

fn questions(ctx: &AgentContext) -> Vec<String> {
    if ctx.outbound.is_some() {
        // The business's intake questions are for people who called it.
        return OUTBOUND_QUESTIONS.iter().map(|q| q.to_string()).collect();
    }
    let custom: Vec<String> = ctx
        .questions
        .iter()
        .map(|q| q.trim().to_string())
        .filter(|q| !q.is_empty())
        .collect();
    if custom.is_empty() {
        DEFAULT_QUESTIONS.iter().map(|q| q.to_string()).collect()
    } else {
        custom
    }
}

/// Which prompt an agent line carries, if any.
fn identify(line: &str, qs: &[String]) -> Option<Step> {
    if line.contains(CONFIRM_PREFIX) {
        return Some(Step::Confirm);
    }
    if line.contains(THANKS) {
        return Some(Step::Done);
    }
    // The last question mentioned wins ("תודה. <next question>").
    qs.iter()
        .enumerate()
        .filter(|(_, q)| line.contains(q.as_str()))
        .max_by_key(|(_, q)| line.rfind(q.as_str()))
        .map(|(i, _)| Step::Question(i))
}

fn next_after(step: Step, n: usize) -> Step {
    match step {
        Step::Question(i) if i + 1 < n => Step::Question(i + 1),
        Step::Question(_) => Step::Confirm,
        Step::Confirm | Step::Done => Step::Done,
    }
}

/// The step the caller is answering, and whether they heard its prompt in full.
fn asked(history: &[(Role, String)], qs: &[String]) -> (Step, bool) {
    let mut agent_lines = history.iter().rev().filter(|(r, _)| *r == Role::Agent);
    let Some((_, last)) = agent_lines.next() else {
        return (Step::Question(0), false);
    };
    if let Some(step) = identify(last, qs) {
        return (step, true);
    }
    // The last prompt was cut off (barge-in): it was the one after the previous prompt.
    let previous = agent_lines.find_map(|(_, l)| identify(l, qs));
    let step = previous.map_or(Step::Question(0), |s| next_after(s, qs.len()));
    (step, false)
}

fn clean_answer(text: &str) -> String {
    text.trim()
        .trim_end_matches(['.', '!', '?', ',', ' '])
        .to_string()
}

/// The latest answer to each question, including the one being given now.
fn answers(history: &[(Role, String)], qs: &[String], now: Option<(usize, &str)>) -> Vec<String> {
    let mut out = vec![String::new(); qs.len()];
    let mut open: Option<usize> = None;
    for (role, line) in history {
        match role {
            Role::Agent => {
                open = match identify(line, qs) {
                    Some(Step::Question(i)) => Some(i),
                    _ => None,
                }
            }
            Role::Caller => {
                if let Some(i) = open.take()
                    && classify(line) != Intent::Repeat
                    && !line.trim().is_empty()
                {
                    out[i] = clean_answer(line);
                }
            }
        }
    }
    if let Some((i, text)) = now
        && !text.trim().is_empty()
    {
        out[i] = clean_answer(text);
    }
    out
}

fn some(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn save_details(qs: &[String], a: &[String]) -> AgentAction {
    let mut reason = a.get(1).cloned().unwrap_or_default();
    for (q, ans) in qs.iter().zip(a).skip(3) {
        if !ans.is_empty() {
            if !reason.is_empty() {
                reason.push_str("; ");
            }
            reason.push_str(&format!("{q} {ans}"));
        }
    }
    let urgent = a.iter().any(|x| URGENT_WORDS.iter().any(|w| x.contains(w)));
    AgentAction::SaveDetails {
        name: a.first().and_then(|s| some(s)),
        reason: some(&reason),
        callback_time: a.get(2).and_then(|s| some(s)),
        urgency: urgent.then(|| "urgent".to_string()),
    }
}

fn confirm_text(a: &[String]) -> String {
    let said: Vec<&str> = a
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    format!("{CONFIRM_PREFIX} {}. {CONFIRM_QUESTION}", said.join(", "))
}

/// What to say and do next.
fn decide(ctx: &AgentContext, caller_said: &str) -> (String, Vec<AgentAction>) {
    let qs = questions(ctx);
    let (step, heard) = asked(&ctx.history, &qs);
    let intent = classify(caller_said);
    let finish = |a: &[String]| {
        (
            THANKS.to_string(),
            vec![save_details(&qs, a), AgentAction::EndCall],
        )
    };
    match step {
        Step::Question(i) if !heard => (qs[i].clone(), vec![]),
        Step::Question(i) if intent == Intent::Repeat => {
            (format!("{REPEAT_ACK} {}", qs[i]), vec![])
        }
        Step::Question(i) => {
            let a = answers(&ctx.history, &qs, Some((i, caller_said)));
            match next_after(step, qs.len()) {
                Step::Question(j) => (format!("{ACK} {}", qs[j]), vec![]),
                _ if a.iter().all(String::is_empty) => finish(&a),
                _ => (confirm_text(&a), vec![]),
            }
        }
        Step::Confirm => {
            let a = answers(&ctx.history, &qs, None);
            match intent {
                _ if !heard => (confirm_text(&a), vec![]),
                Intent::Repeat => (confirm_text(&a), vec![]),
                Intent::No => (format!("{RESTART} {}", qs[0]), vec![]),
                Intent::Yes | Intent::Other => finish(&a),
            }
        }
        Step::Done => (THANKS.to_string(), vec![AgentAction::EndCall]),
    }
}

/// Splits text after sentence punctuation, keeping it, so the reply streams by sentence.
fn sentence_deltas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        cur.push(c);
        if matches!(c, '.' | '!' | '?') {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur);
    }
    out
}

#[async_trait]
impl Agent for ScriptedAgent {
    async fn reply(
        &self,
        ctx: &AgentContext,
        caller_said: &str,
    ) -> Result<BoxStream<'static, Result<AgentEvent, ProviderError>>, ProviderError> {
        let (text, actions) = decide(ctx, caller_said);
        let events: Vec<_> = sentence_deltas(&text)
            .into_iter()
            .map(AgentEvent::Text)
            .chain(actions.into_iter().map(AgentEvent::Action))
            .map(Ok)
            .collect();
        Ok(stream::iter(events).boxed())
    }

    fn greeting(&self, ctx: &AgentContext) -> String {
        let greeting = match (&ctx.outbound, ctx.greeting.trim()) {
            (Some(o), _) => outbound_opening(&ctx.business_name, o.purpose.as_deref()),
            (None, "") => default_greeting(&ctx.business_name),
            (None, g) => g.to_string(),
        };
        format!("{greeting} {}", questions(ctx)[0])
    }

    fn name(&self) -> &'static str {
        "scripted"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::TryStreamExt;

    async fn turn(ctx: &mut AgentContext, said: &str) -> (String, Vec<AgentAction>) {
        let events: Vec<AgentEvent> = ScriptedAgent
            .reply(ctx, said)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let mut text = String::new();
        let mut actions = vec![];
        for e in events {
            match e {
                AgentEvent::Text(t) => text.push_str(&t),
                AgentEvent::Action(a) => actions.push(a),
                AgentEvent::Tool(_) => {}
            }
        }
        ctx.history.push((Role::Caller, said.to_string()));
        ctx.history.push((Role::Agent, text.clone()));
        (text, actions)
    }

    fn ctx() -> AgentContext {
        let mut c = AgentContext {
            business_name: "מספרת רותי".into(),
            ..Default::default()
        };
        let g = ScriptedAgent.greeting(&c);
        c.history.push((Role::Agent, g));
        c
    }

    #[test]
    fn an_outbound_call_opens_with_who_calls_and_why() {
        let mut c = AgentContext {
            business_name: "מספרת רותי".into(),
            greeting: "שלום, הגעתם למספרת רותי!".into(),
            outbound: Some(crate::provider::Outbound {
                purpose: Some("תזכורת לתור מחר בעשר".into()),
            }),
            ..Default::default()
        };
        let g = ScriptedAgent.greeting(&c);
        assert_eq!(
            g,
            format!(
                "שלום, מדברים ממספרת רותי. אנחנו מתקשרים בעניין: תזכורת לתור מחר בעשר. {}",
                OUTBOUND_QUESTIONS[0]
            )
        );
        assert!(!g.contains("הגעתם"), "not the inbound greeting");
        assert!(!g.contains(DEFAULT_QUESTIONS[0]), "not the intake");
        c.outbound = Some(crate::provider::Outbound { purpose: None });
        assert_eq!(
            ScriptedAgent.greeting(&c),
            format!("שלום, מדברים ממספרת רותי. {}", OUTBOUND_QUESTIONS[0])
        );
    }

    #[test]
    fn greeting_uses_the_business_greeting_then_asks_the_name() {
        let mut c = AgentContext {
            business_name: "מספרת רותי".into(),
            ..Default::default()
        };
        assert_eq!(
            ScriptedAgent.greeting(&c),
            "שלום, הגעתם למספרת רותי. מה השם שלך?"
        );
        c.greeting = "ברוכים הבאים!".into();
        c.questions = vec!["מה מספר ההזמנה?".into()];
        assert_eq!(ScriptedAgent.greeting(&c), "ברוכים הבאים! מה מספר ההזמנה?");
    }

    #[tokio::test]
    async fn full_intake_with_speech_to_text_confirms_and_saves() {
        let mut c = ctx();
        let (t, a) = turn(&mut c, "דנה כהן").await;
        assert_eq!(t, format!("{ACK} {}", DEFAULT_QUESTIONS[1]));
        assert!(a.is_empty());
        let (t, _) = turn(&mut c, "יש לי נזילה דחופה במטבח.").await;
        assert!(t.ends_with(DEFAULT_QUESTIONS[2]));
        let (t, _) = turn(&mut c, "סליחה?").await;
        assert_eq!(t, format!("{REPEAT_ACK} {}", DEFAULT_QUESTIONS[2]));
        let (t, _) = turn(&mut c, "מחר בבוקר").await;
        assert_eq!(
            t,
            "רק לוודא שרשמתי נכון: דנה כהן, יש לי נזילה דחופה במטבח, מחר בבוקר. נכון?"
        );
        let (t, a) = turn(&mut c, "כן").await;
        assert_eq!(t, THANKS);
        assert_eq!(
            a,
            vec![
                AgentAction::SaveDetails {
                    name: Some("דנה כהן".into()),
                    reason: Some("יש לי נזילה דחופה במטבח".into()),
                    callback_time: Some("מחר בבוקר".into()),
                    urgency: Some("urgent".into()),
                },
                AgentAction::EndCall
            ]
        );
    }

    #[tokio::test]
    async fn no_at_confirmation_starts_over_and_later_answers_win() {
        let mut c = ctx();
        turn(&mut c, "דנה").await;
        turn(&mut c, "תור").await;
        turn(&mut c, "מחר").await;
        let (t, _) = turn(&mut c, "לא").await;
        assert_eq!(t, format!("{RESTART} {}", DEFAULT_QUESTIONS[0]));
        turn(&mut c, "דנה לוי").await;
        turn(&mut c, "תור").await;
        let (t, _) = turn(&mut c, "מחר").await;
        assert!(t.contains("דנה לוי"), "{t}");
        let (_, a) = turn(&mut c, "נכון").await;
        assert!(matches!(&a[0], AgentAction::SaveDetails { name: Some(n), .. } if n == "דנה לוי"));
    }

    #[tokio::test]
    async fn without_speech_to_text_it_moves_on_and_ends_without_confirming() {
        let mut c = ctx();
        let (t, _) = turn(&mut c, "").await;
        assert!(t.ends_with(DEFAULT_QUESTIONS[1]));
        let (t, _) = turn(&mut c, "").await;
        assert!(t.ends_with(DEFAULT_QUESTIONS[2]));
        let (t, a) = turn(&mut c, "").await;
        assert_eq!(t, THANKS);
        assert_eq!(
            a,
            vec![
                AgentAction::SaveDetails {
                    name: None,
                    reason: None,
                    callback_time: None,
                    urgency: None
                },
                AgentAction::EndCall
            ]
        );
    }

    #[tokio::test]
    async fn a_question_cut_off_by_barge_in_is_asked_again() {
        let mut c = ctx();
        // The caller heard only the acknowledgement before interrupting.
        c.history.push((Role::Caller, "דנה".into()));
        c.history.push((Role::Agent, ACK.into()));
        let (t, _) = turn(&mut c, "רגע, מה?").await;
        assert_eq!(t, DEFAULT_QUESTIONS[1]);
        let (t, _) = turn(&mut c, "תור לתספורת").await;
        assert!(t.ends_with(DEFAULT_QUESTIONS[2]));
    }

    #[tokio::test]
    async fn custom_questions_are_asked_in_order() {
        let mut c = AgentContext {
            questions: vec!["מה מספר ההזמנה?".into(), "מה הכתובת?".into()],
            ..Default::default()
        };
        let g = ScriptedAgent.greeting(&c);
        c.history.push((Role::Agent, g));
        let (t, _) = turn(&mut c, "1234").await;
        assert_eq!(t, "תודה. מה הכתובת?");
        let (t, _) = turn(&mut c, "הרצל 5").await;
        assert!(t.starts_with(CONFIRM_PREFIX));
    }

    #[test]
    fn reply_text_streams_by_sentence() {
        assert_eq!(
            sentence_deltas("תודה. מה השם שלך?"),
            vec!["תודה.", " מה השם שלך?"]
        );
    }
}
