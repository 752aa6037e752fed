//! `GET /payments-summary` query strings: never a panic, only bounds or a 400.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|query: &[u8]| {
    rinha::fuzzing::summary_query(query);
});
