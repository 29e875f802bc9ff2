//! Policy files: any text must load or be refused with located errors,
//! never panic.
#![no_main]

use airlock_policy::authz::{Authorizer, PolicySource};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data).into_owned();
    if let Err(errors) = Authorizer::new(&[PolicySource { name: "fuzz.cedar".into(), text }]) {
        assert!(!errors.0.is_empty());
        assert!(errors.0.iter().all(|d| d.line >= 1 && d.column >= 1));
    }
});
