//! Property tests of lifecycle invariants against a small reference model:
//! a destroyed key never decrypts, a non-active key never encrypts, the
//! state machine agrees with the model, and a ciphertext never opens under
//! another key or context.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a panic is a failure

mod common;

use common::{DAY, Fixture};
use keylife::purpose::Aead;
use keylife::{AnyKey, ErrorKind, KeySpec, StateName};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Activate,
    Suspend,
    Resume,
    Deactivate,
    Compromise,
    ScheduleDestruction(u8),
    Cancel,
    Advance(u8),
    Encrypt,
    DecryptAll,
    Rotate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Activate),
        Just(Op::Suspend),
        Just(Op::Resume),
        Just(Op::Deactivate),
        Just(Op::Compromise),
        (7u8..20).prop_map(Op::ScheduleDestruction),
        Just(Op::Cancel),
        (0u8..15).prop_map(Op::Advance),
        Just(Op::Encrypt),
        Just(Op::Encrypt),
        Just(Op::DecryptAll),
        Just(Op::Rotate),
    ]
}

/// The model: the NIST state table, written independently of the library.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Model {
    state: StateName,
    before_pending: Option<StateName>,
    destroy_at_day: Option<u64>,
    day: u64,
}

impl Model {
    fn step(&mut self, op: &Op) -> bool {
        use StateName::*;
        let s = self.state;
        let next = match (op, s) {
            (Op::Activate, PreActive) => Active,
            (Op::Suspend, Active) => Suspended,
            (Op::Resume, Suspended) => Active,
            (Op::Deactivate, Active | Suspended) => Deactivated,
            (Op::Compromise, PreActive | Active | Suspended | Deactivated) => Compromised,
            (Op::ScheduleDestruction(d), Deactivated | Compromised) => {
                self.before_pending = Some(s);
                self.destroy_at_day = Some(self.day + u64::from(*d));
                PendingDestruction
            }
            (Op::Cancel, PendingDestruction) => {
                self.destroy_at_day = None;
                self.before_pending
                    .take()
                    .expect("pending has a previous state")
            }
            _ => return false,
        };
        self.state = next;
        true
    }

    fn advance(&mut self, days: u64) {
        self.day += days;
        if self.state == StateName::PendingDestruction
            && self.destroy_at_day.is_some_and(|d| d <= self.day)
        {
            self.state = if self.before_pending == Some(StateName::Compromised) {
                StateName::DestroyedCompromised
            } else {
                StateName::Destroyed
            };
        }
    }

    fn can_encrypt(&self) -> bool {
        self.state == StateName::Active
    }

    fn can_decrypt(&self) -> bool {
        matches!(
            self.state,
            StateName::Active | StateName::Suspended | StateName::Deactivated
        )
    }
}

/// Applies a transition through the typed API, whatever the live state.
fn transition(k: AnyKey<Aead>, op: &Op) -> (AnyKey<Aead>, bool) {
    use AnyKey as A;
    let reason = "prop";
    match (op, k) {
        (Op::Activate, A::PreActive(k)) => match k.activate() {
            Ok(k) => (k.into_any(), true),
            Err(e) => panic!("activate: {e}"),
        },
        (Op::Suspend, A::Active(k)) => (k.suspend(reason).expect("suspend").into_any(), true),
        (Op::Resume, A::Suspended(k)) => (k.resume().expect("resume").into_any(), true),
        (Op::Deactivate, A::Active(k)) => {
            (k.deactivate(reason).expect("deactivate").into_any(), true)
        }
        (Op::Deactivate, A::Suspended(k)) => {
            (k.deactivate(reason).expect("deactivate").into_any(), true)
        }
        (Op::Compromise, A::PreActive(k)) => (k.compromise(reason).expect("c").into_any(), true),
        (Op::Compromise, A::Active(k)) => (k.compromise(reason).expect("c").into_any(), true),
        (Op::Compromise, A::Suspended(k)) => (k.compromise(reason).expect("c").into_any(), true),
        (Op::Compromise, A::Deactivated(k)) => (k.compromise(reason).expect("c").into_any(), true),
        (Op::ScheduleDestruction(d), A::Deactivated(k)) => (
            k.schedule_destruction(DAY * u32::from(*d), reason)
                .expect("s")
                .into_any(),
            true,
        ),
        (Op::ScheduleDestruction(d), A::Compromised(k)) => (
            k.schedule_destruction(DAY * u32::from(*d), reason)
                .expect("s")
                .into_any(),
            true,
        ),
        (Op::Cancel, A::PendingDestruction(k)) => match k.cancel_destruction() {
            Ok(k) => (k, true),
            Err(e) => panic!("cancel: {e}"),
        },
        // Not offered by the type of the live state: the model must agree
        // that the transition is not allowed.
        (_, k) => (k, false),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(proptest::test_runner::FileFailurePersistence::Direct(
            "tests/props.proptest-regressions",
        ))),
        .. ProptestConfig::default()
    })]

    #[test]
    fn lifecycle_agrees_with_model(ops in proptest::collection::vec(op(), 1..40)) {
        let f = Fixture::new();
        let other = f.store.create_active(KeySpec::<Aead>::new("other")).unwrap();
        let mut key = f.store.create(KeySpec::<Aead>::new("k")).unwrap().into_any();
        let id = key.id();
        let mut model = Model { state: StateName::PreActive, before_pending: None, destroy_at_day: None, day: 0 };
        let mut cts: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::Advance(d) => {
                    f.clock.advance(DAY * u32::from(*d));
                    model.advance(u64::from(*d));
                    key = f.store.load::<Aead>(&id).unwrap();
                }
                Op::Encrypt => {
                    let msg = format!("message {i}").into_bytes();
                    let res = match &key { AnyKey::Active(k) => k.encrypt(&msg, b"ctx"), _ => Err(keylife::Error::bare(ErrorKind::WrongState)) };
                    prop_assert_eq!(res.is_ok(), model.can_encrypt(), "encrypt in {:?}", model.state);
                    if let Ok(ct) = res { cts.push((ct, msg)); }
                }
                Op::DecryptAll => {
                    for (ct, msg) in &cts {
                        let res = f.store.decrypt(ct, b"ctx");
                        prop_assert_eq!(res.is_ok(), model.can_decrypt(), "decrypt in {:?}", model.state);
                        if let Ok(pt) = &res { prop_assert_eq!(pt, msg); }
                        if !model.state.has_material() {
                            prop_assert_eq!(res.unwrap_err().kind(), ErrorKind::WrongState);
                        }
                        // Never under another context or another key.
                        prop_assert!(f.store.decrypt(ct, b"ctx2").is_err());
                        let mut moved = ct.clone();
                        moved[2..18].copy_from_slice(other.id().as_bytes());
                        let kind = f.store.decrypt(&moved, b"ctx").unwrap_err().kind();
                        // NotFound when `other` has no such version.
                        prop_assert!(matches!(kind, ErrorKind::AuthenticationFailed | ErrorKind::NotFound), "{:?}", kind);
                    }
                }
                Op::Rotate => {
                    let res = match &key { AnyKey::Active(k) => k.rotate().map(|_| ()), _ => Err(keylife::Error::bare(ErrorKind::WrongState)) };
                    prop_assert_eq!(res.is_ok(), model.state == StateName::Active);
                }
                _ => {
                    let expected = model.step(op);
                    let (k, ok) = transition(key, op);
                    key = k;
                    prop_assert_eq!(ok, expected, "{:?} from {:?}", op, model.state);
                }
            }
            prop_assert_eq!(key.state(), model.state);
            prop_assert_eq!(f.store.info(&id).unwrap().state, model.state);
        }
    }
}
