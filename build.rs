//! Rebuilds when a migration changes: `sqlx::migrate!` embeds migrations/ at compile time, and
//! without this a changed SQL file alone would leave the old schema in the binary.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
