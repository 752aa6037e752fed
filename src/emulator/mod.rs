//! Payment-processor emulator (filled in by the emulator work).
