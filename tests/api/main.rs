//! Black-box tests of invitation-gateway: one binary, one module per area.

mod emulator;
