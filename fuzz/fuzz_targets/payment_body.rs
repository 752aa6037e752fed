//! `POST /payments` bodies: the parser never panics, and what it accepts round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    rinha::fuzzing::payment_body(body);
});
